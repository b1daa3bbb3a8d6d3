# The PyTorch reference's training step, timed for `npm run bench -- train` (src/train/bench.ts), which
# starts this script and interleaves its rounds with its own. It imports the reference's OWN modules
# (Encoder, Decoder and VQModel_LLaMA.quantize from github.com/zh460045050/V2L-Tokenizer, a checkout
# whose path is the first argument; nothing of it is copied here) and trains the same loss as the v2l
# step being compared: L1 + the reference's VQ loss through the trainable projector, straight-through
# estimator, Adam (0.5, 0.9). Modules the step does not use (Lightning, CLIP, LPIPS) are stubbed so
# that `models.models_v2l` imports without them.
#
#   python3 train_reference_bench.py <reference checkout> '<json config>'
# then, per line on stdin, "<steps>" -> one JSON line {"steps": n, "seconds": s} on stdout; "quit" ends.
import json
import sys
import time
import types

import torch

ref, cfg = sys.argv[1], json.loads(sys.argv[2])
sys.path.insert(0, ref)
sys.modules['pytorch_lightning'] = types.SimpleNamespace(LightningModule=torch.nn.Module)
sys.modules['models.global_encoder'] = types.ModuleType('models.global_encoder')
lpips_stub = types.ModuleType('models.lpips')
lpips_stub.LPIPS = object
sys.modules['models.lpips'] = lpips_stub
from models.encoder_decoder import Encoder, Decoder  # noqa: E402  (the reference's modules)
from models.models_v2l import VQModel_LLaMA  # noqa: E402

torch.set_num_threads(cfg['threads'])
torch.manual_seed(0)
dd = dict(ch=cfg['ch'], out_ch=3, ch_mult=cfg['ch_mult'], num_res_blocks=cfg['num_res_blocks'], attn_resolutions=cfg['attn_resolutions'],
          dropout=0.0, in_channels=3, resolution=cfg['resolution'], z_channels=cfg['z_channels'], double_z=False)
dim = cfg['embed_dim']

# A VQModel_LLaMA without its __init__ (which loads CLIP ViT-L/14 and LPIPS): the same attributes that
# its quantize/encode/decode read.
m = VQModel_LLaMA.__new__(VQModel_LLaMA)
torch.nn.Module.__init__(m)
m.args = types.SimpleNamespace(use_cblinear=1, use_crossatt_dec=1, tuning_codebook=0)
m.e_dim = dim
m.remap = None
m.sane_index_shape = False
m.encoder = Encoder(**dd)
m.decoder = Decoder(**dd)
m.quant_conv = torch.nn.Conv2d(cfg['z_channels'], dim, 1)
m.post_quant_conv = torch.nn.Conv2d(dim, cfg['z_channels'], 1)
m.codebook_projection = torch.nn.Linear(dim, dim)
torch.nn.init.normal_(m.codebook_projection.weight, std=dim ** -0.5)
m.tok_embeddings = torch.nn.Embedding(cfg['n_local'], dim)
m.tok_embeddings.weight.data = torch.nn.functional.normalize(torch.randn(cfg['n_local'], dim), dim=1)
m.tok_embeddings.weight.requires_grad = False

b, size, k = cfg['batch'], cfg['image_size'], cfg['k_global']
images = torch.rand(b, 3, size, size) * 2 - 1
global_feature = torch.randn(b, k, dim)
params = [p for p in m.parameters() if p.requires_grad]
opt = torch.optim.Adam(params, lr=1e-4, betas=(0.5, 0.9), eps=1e-7)


def step():
    h = m.quant_conv(m.encoder(images))
    h = h / h.norm(dim=1, keepdim=True)
    quant, qloss, _ = m.encode(h)
    dec = m.decode(quant, global_feature)
    loss = torch.mean(torch.abs(images - dec)) + qloss
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


step()  # allocations, kernel selection
print(json.dumps({'ready': True, 'parameters': sum(p.numel() for p in params), 'threads': torch.get_num_threads()}), flush=True)
for line in sys.stdin:
    line = line.strip()
    if line == 'quit':
        break
    n = int(line)
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    print(json.dumps({'steps': n, 'seconds': time.perf_counter() - t0}), flush=True)
