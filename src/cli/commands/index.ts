// Every command group of the CLI, loaded on first use: one entry per file in this folder, with the
// top-level commands it registers and the line `v2l --help` shows for each. `v2l <command>` loads only that
// command's file (a broken or heavy module of one command, e.g. training's, neither breaks nor slows the
// others); `v2l --help` loads none. The lines here must equal what the files register:
// src/cli/main.test.ts compares them with the files' own definitions and names any that differ.
import type { Command } from 'commander';

export type RegisterCommand = (program: Command) => void;

/** What `v2l --help` lists for a top-level command: `term` (name, [options], arguments) and description. */
export interface CommandLine {
  term: string;
  description: string;
}

export interface CommandFile {
  load: () => Promise<{ register: RegisterCommand }>;
  /** The top-level commands the file registers, in its order. */
  commands: Record<string, CommandLine>;
}

export const COMMAND_FILES: readonly CommandFile[] = [
  {
    load: () => import('./tokenize.js'),
    commands: {
      tokenize: { term: 'tokenize [options] <images...>', description: 'encode images into global and local LLM tokens; prints JSON, one object per image: global.ids are ROWS OF THE GLOBAL CODEBOOK (texts in global.tokens, their LLM token ids in global.llmIds), local.ids are LLM VOCABULARY TOKEN IDS (h rows of w); an unreadable image gives {source, error} and exit code 1' },
      reconstruct: { term: 'reconstruct [options] <image>', description: 'encode an image and decode its tokens; writes original | reconstruction side by side' },
      'import-official': { term: 'import-official [options]', description: 'convert the reference\'s official checkpoint and codebooks (.pth/.npy) into the project\'s layout, with a manifest' },
    },
  },
  {
    load: () => import('./codebook.js'),
    commands: {
      codebook: { term: 'codebook', description: 'build and inspect the local and global codebooks (LLM vocabulary embedded by CLIP)' },
      interpret: { term: 'interpret [options] <image>', description: 'print an image\'s nearest global tokens (the paper\'s semantic interpretation)' },
    },
  },
  {
    load: () => import('./llm.js'),
    commands: {
      llm: { term: 'llm', description: 'the frozen LLM: vocabulary, next-token top-k, generation, constrained choice, a completions server' },
    },
  },
  {
    load: () => import('./models.js'),
    commands: {
      models: { term: 'models', description: 'model presets in the local cache (V2L_CACHE or ~/.cache/v2l), and the stand-in CLIP' },
    },
  },
  {
    load: () => import('./clip.js'),
    commands: {
      clip: { term: 'clip', description: 'the frozen CLIP (ONNX, through @huggingface/transformers)' },
    },
  },
  {
    load: () => import('./train.js'),
    commands: {
      train: { term: 'train [options]', description: 'train the V2L tokenizer network (encoder, projector, decoder; codebooks and CLIP frozen) on images' },
      plot: { term: 'plot [options] <out>', description: 'draw the loss curves of a training run (<out>/metrics.jsonl) as <out>/loss-curves.png' },
    },
  },
  {
    load: () => import('./serve.js'),
    commands: {
      serve: { term: 'serve [options]', description: 'local web viewer: an image\'s global and local tokens over it, the reconstruction, token edits, the codebook' },
    },
  },
  {
    load: () => import('./caption.js'),
    commands: {
      caption: { term: 'caption [options] [images...]', description: 'in-context image captioning (paper §4.2): a frozen LLM writes a caption from an image\'s global tokens after shots of (global tokens, caption) pairs; BLEU-4 / CIDEr-D when the queries have references' },
    },
  },
  {
    load: () => import('./vqa.js'),
    commands: {
      vqa: { term: 'vqa [options]', description: 'in-context visual question answering (paper §4.2): a frozen LLM answers a question in one word from an image\'s global tokens after shots of (global tokens, question, answer); VQA accuracy when answers are known' },
    },
  },
  {
    load: () => import('./restore.js'),
    commands: {
      restore: { term: 'restore [options] <images...>', description: 'in-context image restoration with a frozen LLM over the local tokens (paper §4.3): writes original | corrupted | restored | reconstruction-of-corrupted PNGs, a JSON record per image and records.jsonl (resumable)' },
    },
  },
  {
    load: () => import('./fewshot.js'),
    commands: {
      fewshot: { term: 'fewshot [options]', description: 'N-way K-shot image classification by in-context learning with a frozen LLM (paper Table 1); one JSON record per query in --out, a summary on stdout' },
    },
  },
  {
    load: () => import('./eval.js'),
    commands: {
      eval: { term: 'eval', description: 'the paper\'s evaluations (Tables 1-4), each printing its table beside the paper\'s numbers' },
      reproduce: { term: 'reproduce [options] <table>', description: 'the exact commands for one of the paper\'s tables in the paper\'s setting (official weights, LLaMA-2, CLIP ViT-L/14): printed, run with --run' },
    },
  },
  {
    load: () => import('./lora-data.js'),
    commands: {
      'lora-data': { term: 'lora-data [options]', description: 'write LoRA training sequences for masked restoration (paper §4.4): per image, its global tokens as text then its local ids, labels -100 except on the local ids; JSON lines for Hugging Face Trainer + PEFT (resumable)' },
    },
  },
  {
    load: () => import('./export-onnx.js'),
    commands: {
      'export-onnx': { term: 'export-onnx [options]', description: 'write the tokenizer network as ONNX models (encoder, decoder, codebook searches) for any ONNX runtime' },
    },
  },
  {
    load: () => import('./export-reference.js'),
    commands: {
      'export-reference': { term: 'export-reference [options]', description: 'write a checkpoint and its codebooks in the PyTorch reference\'s layout (.pth state dict + codebook .pth/.npy + vqgan yaml) for its torchrun/DDP training; `v2l import-official --from <dir>` reads it back' },
    },
  },
];

/** The file that registers the top-level command `name`, if any. */
export function commandFile(name: string): CommandFile | undefined {
  return COMMAND_FILES.find((f) => Object.hasOwn(f.commands, name));
}
