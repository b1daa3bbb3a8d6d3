// `v2l reproduce table1|table2|table3|table4`: the exact `v2l` commands for the paper's setting (official
// weights imported with `v2l import-official`, LLaMA-2, CLIP ViT-L/14), printed, and run with `--run`.
// Portable (strings only); the CLI runs them.

export type PaperTable = 'table1' | 'table2' | 'table3' | 'table4';
export const PAPER_TABLES: readonly PaperTable[] = ['table1', 'table2', 'table3', 'table4'];

export interface ReproduceInputs {
  /** Output of `v2l import-official` (tokenizer.safetensors + codebook/). */
  official: string;
  /** CLIP ViT-L/14 ONNX folder (`v2l models pull clip-vit-large-patch14`). */
  clip: string;
  /** LLaMA-2 GGUF or an OpenAI-compatible server URL (vLLM for 13B/70B). */
  llm?: string;
  /** ImageNet-1K val: <wnid>/ folders (Tables 2, 3) or the reference's class_labels.txt list (Table 4). */
  imagenetVal?: string;
  /** wnid -> name lines (ImageNet's LOC_synset_mapping.txt) for Table 2. */
  classNames?: string;
  /** Mini-ImageNet: the folder of {N}_way_{K}_shot.csv split files and the image root (Table 1). */
  splits?: string;
  miniImagenet?: string;
  inception?: string;
  alexnet?: string;
  lpipsHeads?: string;
  out: string;
}

export interface ReproducePlan {
  table: PaperTable;
  what: string;
  commands: string[][];
  /** Inputs still missing (flag: what). */
  missing: string[];
  downloads: string[];
  /** Rough cost on one GPU, not measured here (this project was built on CPU-only machines). */
  estimate: string;
}

const q = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
export const shellLine = (argv: readonly string[]): string => ['v2l', ...argv].map(q).join(' ');

export function reproducePlan(table: PaperTable, i: ReproduceInputs): ReproducePlan {
  const ckpt = `${i.official}/tokenizer.safetensors`;
  const codebook = `${i.official}/codebook`;
  const need = (v: string | undefined, flag: string, what: string, missing: string[]): string => {
    if (!v) missing.push(`${flag}: ${what}`);
    return v ?? `<${flag.replace(/^--/, '')}>`;
  };
  const missing: string[] = [];
  const base = ['--checkpoint', ckpt, '--codebook', codebook, '--clip', i.clip];
  const common = [
    'official artefacts (reference README, Google Drive): checkpoints/v2l-decode.pth, codebooks/{local,global}_codebook_embedding.pth, codebooks/global_vocabulary.npy; then `v2l import-official --from <download> --llm <llama-2 gguf> --out <official>`',
    'CLIP ViT-L/14 ONNX: `v2l models pull clip-vit-large-patch14` (~1.7 GB)',
  ];
  switch (table) {
    case 'table1': {
      const llm = need(i.llm, '--llm', 'LLaMA-2 GGUF (7B: `v2l models pull llama-2-7b-gguf`) or a vLLM server URL for 13B/70B', missing);
      return {
        table, what: 'Table 1: N-way K-shot Mini-ImageNet accuracy, 5 and 21 global tokens, the seven settings, 2- and 5-way',
        commands: [['eval', 'fewshot', ...base, '--llm', llm, '--split', need(i.splits, '--splits', 'the reference\'s Mini-ImageNet split files ({N}_way_{K}_shot.csv)', missing),
          '--images', need(i.miniImagenet, '--mini-imagenet', 'Mini-ImageNet image root', missing), '--global-tokens', '5,21', '--protocol', 'reference',
          '--decoding', 'reference', '--max-seq-len', '1024', '--out', `${i.out}/table1`]],
        missing, downloads: [...common, 'LLaMA-2 7B/13B/70B base (Meta licence): GGUF for llama.cpp, or HF weights served by vLLM (`vllm serve meta-llama/Llama-2-70b-hf --tensor-parallel-size 4`)'],
        estimate: 'tokenizer: minutes; LLM: 2 x 7 settings x the split\'s episodes, ~300-500-token prompts (5-way 5-shot with repeats: ~4k): about 1-3 h for 7B on one GPU with llama.cpp, longer for 70B (vLLM, several GPUs)',
      };
    }
    case 'table2':
      return {
        table, what: 'Table 2: CLIP score and CLIP-R of 5 and 21 global tokens on ImageNet-1K val (definition inferred, see docs/evaluation.md)',
        commands: [['eval', 'semantic', ...base, '--images', need(i.imagenetVal, '--imagenet-val', 'ImageNet-1K val in <wnid>/ folders', missing),
          '--class-names', need(i.classNames, '--class-names', 'LOC_synset_mapping.txt (wnid names)', missing), '--tokens', '5,21', '--out', `${i.out}/table2`]],
        missing, downloads: [...common, 'ImageNet-1K val (50,000 images) in <wnid>/ folders, and LOC_synset_mapping.txt'],
        estimate: 'one CLIP image pass and three text passes per image: about 10-20 min on one GPU for 50,000 images (CPU: hours)',
      };
    case 'table3':
      return {
        table, what: 'Table 3: reconstruction FID / LPIPS / PSNR on ImageNet-1K val, the reference\'s protocol (256 px, k = 21, LPIPS input-range bug reproduced)',
        commands: [['eval', 'reconstruction', ...base, '--images', need(i.imagenetVal, '--imagenet-val', 'ImageNet-1K val (folder or list)', missing),
          '--inception', need(i.inception, '--inception', 'pytorch-fid Inception ONNX (docs/evaluation.md)', missing),
          '--lpips-backbone', need(i.alexnet, '--alexnet', 'torchvision alexnet-owt-7be5be79.pth', missing),
          '--lpips-heads', need(i.lpipsHeads, '--lpips-heads', 'LPIPS v0.1 alex.pth', missing),
          '--lpips-protocol', 'reference', '--image-size', '256', '--global-tokens', '21', '--out', `${i.out}/table3`]],
        missing, downloads: [...common, 'ImageNet-1K val', 'Inception: export from pytorch-fid (docs/evaluation.md)', 'https://download.pytorch.org/models/alexnet-owt-7be5be79.pth', 'lpips/weights/v0.1/alex.pth of github.com/richzhang/PerceptualSimilarity'],
        estimate: 'encoder + decoder at 256 px (tfjs: wasm on CPU, or tfjs-node where installed), CLIP and Inception (onnxruntime), AlexNet per image, 50,000 images: CPU-bound here, so split with --shard i/n over processes or machines and `v2l eval merge`; not measured at this scale',
      };
    case 'table4': {
      const llm = need(i.llm, '--llm', 'LLaMA-2 GGUF or vLLM URL', missing);
      return {
        table, what: 'Table 4: in-context restoration FID / LPIPS of inpainting, outpainting, deblurring, rotation, shift (reference protocol, leak included, 5,001 images)',
        commands: [['eval', 'restoration', ...base, '--llm', llm, '--images', need(i.imagenetVal, '--imagenet-val', 'the reference\'s imagenet_split/val/class_labels.txt (first 5,001 lines)', missing),
          '--limit', '5001', '--protocol', 'reference', '--global-tokens', '21',
          '--inception', need(i.inception, '--inception', 'pytorch-fid Inception ONNX', missing),
          '--lpips-backbone', need(i.alexnet, '--alexnet', 'torchvision AlexNet weights', missing),
          '--lpips-heads', need(i.lpipsHeads, '--lpips-heads', 'LPIPS v0.1 alex.pth', missing), '--out', `${i.out}/table4`]],
        missing, downloads: [...common, 'LLaMA-2 7B/13B/70B', 'ImageNet-1K val', 'Inception ONNX, AlexNet, LPIPS heads (as Table 3)'],
        estimate: 'per image 32-128 LLM calls of ~190-344 tokens per task: 5 tasks x 5,001 images is about 2.5M calls, roughly 1-2 days for 7B on one GPU with llama.cpp (much less with a batching vLLM server)',
      };
    }
  }
}
