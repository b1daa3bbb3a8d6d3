// `v2l export-reference` round trip: a v2l checkpoint (discriminator included) and its codebook package are
// written in the reference's layout, read back with the project's own .pth/.npy readers (every tensor
// byte-equal), imported again with `importOfficial` (same weights, configuration, image size, global tokens;
// the same ids and decoded pixels as the original), and, where Python's torch is installed, loaded with the
// reference's own calls (`torch.load(...)["state_dict"]`, `torch.load(codebook)`, `np.load(..., allow_pickle=True)`).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostTensor } from '../io/dtypes.js';
import { readNpyStrings, readPth, readPthTensor, readSafetensors, writeSafetensors } from '../io/files.js';
import { loadCodebook, GLOBAL_KEY, LOCAL_KEY } from '../codebook/package.js';
import { paperConfig, type V2LConfig } from '../network/config.js';
import { NetworkParams } from '../network/network-params.js';
import { sha256 } from '../util/hash.js';
import { skipUnless } from '../util/test-utils/shared.js';
import { writeViewerFixture, FIXTURE_NEEDS, STORIES, PHOTOS, type ViewerFixture } from '../serve/test-utils/fixture.js';
import { EXPORT_MANIFEST, exportReference, readExportManifest, referenceMismatches, REFERENCE_FILES } from './export-reference.js';
import { importOfficial, officialLayout } from './official.js';
import { readTokenizerWeights, TOKENIZER_FORMAT, weightsMetadata } from './weights.js';
import { V2LTokenizer, isFailure, type EncodedImage } from './tokenizer.js';

const skip = skipUnless(FIXTURE_NEEDS, 'stories260K, the CLIP merges and the photos');

let dir = '';
let fixture: ViewerFixture;
let checkpoint = '';
let config: V2LConfig;
let original: Map<string, HostTensor>;

const bytesOf = (t: HostTensor) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
const sameTensor = (a: HostTensor, b: HostTensor, what: string) => {
  assert.equal(a.dtype, b.dtype, `${what}: dtype`);
  assert.deepEqual([...a.shape], [...b.shape], `${what}: shape`);
  assert.ok(Buffer.from(bytesOf(a)).equals(Buffer.from(bytesOf(b))), `${what}: values differ`);
};
/** A configuration as the network reads it (an explicit crossAttention: true is the default). */
const normalised = (c: V2LConfig) => JSON.parse(JSON.stringify({ ...c, crossAttention: c.crossAttention === false ? false : undefined })) as unknown;

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'v2l-export-ref-'));
  fixture = await writeViewerFixture(join(dir, 'fixture'));
  // The fixture's network with its discriminator (BatchNorm statistics and an int64 counter included), as a
  // training checkpoint holds it; 3 global tokens, so that a default of 5 would show.
  config = readTokenizerWeights(fixture.checkpoint).config;
  const net = new NetworkParams(config, { seed: 9 });
  original = net.stateDict();
  original.delete(LOCAL_KEY);
  original.delete(GLOBAL_KEY);
  checkpoint = join(dir, 'trained.safetensors');
  writeSafetensors(checkpoint, original, weightsMetadata({ format: TOKENIZER_FORMAT, config, imageSize: 64, globalTokens: 3, source: 'train' }));
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the reference\'s hard-coded modules: the paper network fits, a different one is refused with each difference named', { skip }, () => {
  assert.deepEqual(referenceMismatches(paperConfig()), []);
  const m = referenceMismatches(config);
  assert.ok(m.some((x) => /64-d/.test(x)) && m.some((x) => /8 heads/.test(x)) && m.some((x) => /n_layers=2/.test(x)), m.join('\n'));
  assert.throws(() => exportReference({ checkpoint, codebook: fixture.codebook, out: join(dir, 'refused') }), /cannot hold this network: .*--allow-mismatch/);
  assert.throws(() => readFileSync(join(dir, 'refused', EXPORT_MANIFEST)), /ENOENT/, 'a refused export writes nothing');
});

test('export, read back with the project\'s .pth/.npy readers: every tensor and text equal', { skip }, () => {
  const out = join(dir, 'reference');
  const r = exportReference({ checkpoint, codebook: fixture.codebook, out, allowMismatch: true });
  const cb = loadCodebook(fixture.codebook);
  const f = readPth(join(out, REFERENCE_FILES.checkpoint));
  assert.equal(f.unwrapped, 'state_dict');
  assert.deepEqual([...f.tensors.keys()].sort(), [...original.keys(), LOCAL_KEY, GLOBAL_KEY].sort());
  for (const [k, t] of original) sameTensor(f.tensors.get(k)!, t, k);
  assert.ok(original.has('discriminator.main.2.num_batches_tracked') || [...original.values()].some((t) => t.dtype === 'I64'), 'the checkpoint has an int64 tensor');
  const local = { dtype: 'F32' as const, shape: [cb.local.length / cb.dim, cb.dim], data: cb.local };
  const global = { dtype: 'F32' as const, shape: [cb.global.length / cb.dim, cb.dim], data: cb.global };
  sameTensor(f.tensors.get(LOCAL_KEY)!, local, LOCAL_KEY);
  sameTensor(f.tensors.get(GLOBAL_KEY)!, global, GLOBAL_KEY);
  sameTensor(readPthTensor(join(out, REFERENCE_FILES.local)), local, REFERENCE_FILES.local);
  sameTensor(readPthTensor(join(out, REFERENCE_FILES.global)), global, REFERENCE_FILES.global);
  assert.deepEqual(readNpyStrings(join(out, REFERENCE_FILES.vocabulary)), cb.globalEntries.map((e) => e.text));
  const yaml = readFileSync(join(out, REFERENCE_FILES.vqConfig), 'utf8');
  assert.match(yaml, new RegExp(`ch_mult: \\[${config.chMult.join(', ')}\\]`));
  assert.match(yaml, new RegExp(`z_channels: ${config.zChannels}\\n`));
  const m = readExportManifest(r.manifest)!;
  assert.equal(m.imageSize, 64);
  assert.equal(m.globalTokens, 3);
  assert.deepEqual(m.mismatches, r.mismatches);
  for (const [k, e] of Object.entries(m.files)) assert.equal(e.sha256, sha256(readFileSync(join(out, e.path))), k);
  assert.ok(m.referenceFlags.train.includes('--image_size 64') && m.referenceFlags.eval.includes(`--stage_1_ckpt ${REFERENCE_FILES.checkpoint}`));
  assert.ok(!m.referenceFlags.train.some((x) => x.startsWith('--stage_1_ckpt')), 'the training script has no --stage_1_ckpt');
});

test('import-official of the export equals the original: weights, configuration, codebooks, ids and decoded pixels', { skip }, async () => {
  const out = join(dir, 'reference');
  const back = await importOfficial({ files: officialLayout(out), llm: STORIES, out: join(dir, 'back') });
  assert.ok(back.notes.some((n) => n.includes(EXPORT_MANIFEST)), back.notes.join('\n'));
  const w = readTokenizerWeights(back.tokenizer!);
  assert.deepEqual(normalised(w.config), normalised(config));
  assert.equal(w.imageSize, 64);
  assert.equal(w.globalTokens, 3);
  assert.deepEqual([...w.stateDict.keys()].sort(), [...original.keys()].sort());
  for (const [k, t] of original) sameTensor(w.stateDict.get(k)!, t, k);
  const a = loadCodebook(fixture.codebook);
  const b = loadCodebook(back.codebook);
  assert.ok(Buffer.from(a.local.buffer).equals(Buffer.from(b.local.buffer)) && Buffer.from(a.global.buffer).equals(Buffer.from(b.global.buffer)));
  assert.deepEqual(b.localTexts, a.localTexts);
  assert.deepEqual(b.globalEntries.map((e) => e.text), a.globalEntries.map((e) => e.text));
  assert.deepEqual(b.manifest.clip, a.manifest.clip, 'the CLIP the codebook was built with comes back from the export manifest');

  const images = [join(PHOTOS, 'dog.jpg'), join(PHOTOS, 'coffee.png')];
  const load = (ck: string, codebook: string) => V2LTokenizer.load({ checkpoint: ck, codebook, clip: fixture.clip, onnxCache: null });
  const [t0, t1] = [await load(checkpoint, fixture.codebook), await load(back.tokenizer!, back.codebook)];
  try {
    assert.equal(t1.imageSize, t0.imageSize);
    const [e0, e1] = [await t0.encode(images), await t1.encode(images)];
    for (let i = 0; i < images.length; i++) {
      assert.ok(!isFailure(e0[i]) && !isFailure(e1[i]));
      const [x, y] = [e0[i] as EncodedImage, e1[i] as EncodedImage];
      assert.equal(x.global.ids.length, 3);
      assert.deepEqual(y.global.ids, x.global.ids);
      assert.deepEqual(y.local.ids, x.local.ids);
    }
    const local = (e0 as EncodedImage[]).map((e) => e.local.ids);
    const global = (e0 as EncodedImage[]).map((e) => e.global.ids);
    const [d0, d1] = [await t0.decode(local, global), await t1.decode(local, global)];
    for (let i = 0; i < d0.length; i++) assert.deepEqual(d1[i].data, d0[i].data, `decoded pixels of image ${i}`);
  } finally {
    await t0.dispose();
    await t1.dispose();
  }
});

/** A Python with torch and numpy: $V2L_PYTHON, python3, or Debian's /usr/bin/python3 (python3-torch). */
function pythonWithTorch(): string | null {
  for (const py of [process.env.V2L_PYTHON, 'python3', '/usr/bin/python3']) {
    if (py && spawnSync(py, ['-c', 'import torch, numpy'], { stdio: 'ignore' }).status === 0) return py;
  }
  return null;
}
const python = skip ? null : pythonWithTorch();

// The reference's own loading calls (eval_*.py, models/models_v2l.py), then a checkpoint as its training
// script saves one (`{'state_dict', 'epoch', 'args'}`, vqgan_checkpoint-<epoch>.pth) for the way back.
const REFERENCE_LOAD = `
import argparse, hashlib, json, sys
import numpy as np
import torch
root, trained = sys.argv[1], sys.argv[2]
sd = torch.load(root + "/${REFERENCE_FILES.checkpoint}", map_location="cpu")["state_dict"]
safe = torch.load(root + "/${REFERENCE_FILES.checkpoint}", map_location="cpu", weights_only=True)["state_dict"]
assert list(safe.keys()) == list(sd.keys())
local = torch.load(root + "/${REFERENCE_FILES.local}", map_location="cpu")
glob = torch.load(root + "/${REFERENCE_FILES.global}", map_location="cpu")
texts = np.load(root + "/${REFERENCE_FILES.vocabulary}", allow_pickle=True)
def digest(t):
    return {"dtype": str(t.dtype), "shape": list(t.shape), "sha256": hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()}
torch.save({"state_dict": sd, "epoch": 3, "args": argparse.Namespace(image_size=64, use_cblinear=1)}, trained)
print(json.dumps({"keys": list(sd.keys()), "tensors": {k: digest(v) for k, v in sd.items()},
  "local": digest(local), "global": digest(glob), "texts": [str(t) for t in texts],
  "same_codebooks": bool(torch.equal(local, sd["${LOCAL_KEY}"]) and torch.equal(glob, sd["${GLOBAL_KEY}"]))}))
`;

const TORCH_DTYPE: Record<string, string> = { F32: 'torch.float32', I64: 'torch.int64', F16: 'torch.float16', F64: 'torch.float64', I32: 'torch.int32' };

test('the reference\'s own loading calls read the export; its training checkpoint comes back through import-official', {
  skip: skip || (python ? false : 'needs Python with torch and numpy (python3 -c "import torch" fails here; Debian: apt-get install python3-torch)'),
}, async () => {
  const out = join(dir, 'reference');
  const trained = join(dir, 'vqgan_checkpoint-3.pth');
  const run = spawnSync(python!, ['-c', REFERENCE_LOAD, out, trained], { encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(run.status, 0, run.stderr);
  const r = JSON.parse(run.stdout) as { keys: string[]; tensors: Record<string, { dtype: string; shape: number[]; sha256: string }>; local: { sha256: string }; texts: string[]; same_codebooks: boolean };
  assert.deepEqual(r.keys.sort(), [...original.keys(), LOCAL_KEY, GLOBAL_KEY].sort());
  for (const [k, t] of original) {
    assert.deepEqual(r.tensors[k], { dtype: TORCH_DTYPE[t.dtype], shape: [...t.shape], sha256: sha256(bytesOf(t)) }, k);
  }
  const cb = loadCodebook(fixture.codebook);
  assert.equal(r.local.sha256, sha256(new Uint8Array(cb.local.buffer, cb.local.byteOffset, cb.local.byteLength)));
  assert.ok(r.same_codebooks);
  assert.deepEqual(r.texts, cb.globalEntries.map((e) => e.text));
  // torch's own file (with its pickled argparse.Namespace) read back by the project's reader and importer.
  const f = readPth(trained);
  assert.deepEqual(f.extras.get('args'), { image_size: 64, use_cblinear: 1 });
  const back = await importOfficial({ files: { ...officialLayout(out), checkpoint: trained }, llm: STORIES, out: join(dir, 'back-from-torch') });
  const w = readTokenizerWeights(back.tokenizer!);
  for (const [k, t] of original) sameTensor(w.stateDict.get(k)!, t, k);
  const cached = readSafetensors(back.tokenizer!);
  assert.equal(cached.metadata.global_tokens, '3');
});
