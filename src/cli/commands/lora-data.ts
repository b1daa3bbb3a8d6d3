// `v2l lora-data`: training sequences for the masked-restoration LoRA (global-token text + local ids, loss on
// the local ids), as JSON lines that Hugging Face's Trainer with PEFT reads. docs/tasks.md tells how to train
// with the paper's settings and convert the adapter to GGUF for `v2l restore --task masked --lora`.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { tokenizerFlags, openTokens, printSummary, openLLM, type TokenizerFlags, type LLMFlags } from '../task-flags.js';
import { collect, int } from '../options.js';
import { createProgress } from '../progress.js';
import { isRemoteSpec } from '../../models/llm/load.js';
import { LlamaCppLLM } from '../../models/llm/llama-cpp.js';
import { writeLoraData } from '../../tasks/lora-data.js';

interface LoraDataFlags extends TokenizerFlags {
  images: string[];
  llm: string;
  out: string;
  fresh?: boolean;
  cacheDir?: string;
  limit?: number;
}

const IMAGE_EXT = /\.(jpe?g|png|bmp|webp|gif|tiff?|avif)$/i;

function imagesOf(args: readonly string[]): string[] {
  const out: string[] = [];
  for (const a of args) {
    if (!existsSync(a)) throw new Error(`--images ${a}: no such file or folder`);
    if (statSync(a).isDirectory()) {
      const files = readdirSync(a).filter((f) => IMAGE_EXT.test(f)).sort();
      if (!files.length) throw new Error(`--images ${a}: the folder holds no image files`);
      out.push(...files.map((f) => resolve(a, f)));
    } else out.push(resolve(a));
  }
  return out;
}

export function register(program: Command): void {
  tokenizerFlags(
    program.command('lora-data')
      .description('write LoRA training sequences for masked restoration (paper §4.4): per image, its global tokens as text then its local ids, labels -100 except on the local ids; JSON lines for Hugging Face Trainer + PEFT (resumable)')
      .requiredOption('--images <dir|file>', 'training images: files or folders (their image files in name order); repeatable', collect)
      .requiredOption('--llm <gguf|url>', 'the LLM whose tokenizer writes the text ids (a local GGUF is opened vocabulary-only; a vocab-only GGUF suffices)')
      .requiredOption('--out <file.jsonl>', 'output JSON lines (an existing file is resumed)')
      .option('--fresh', 'start over: discard an earlier run in --out')
      .option('--limit <n>', 'only the first n images', int('limit', 1))
      .option('--cache-dir <dir>', 'cache folder for global tokens (default: V2L_CACHE, else ~/.cache/v2l)'),
    { globalTokensHelp: 'global tokens per image (default 21)' },
  ).action(async (f: LoraDataFlags) => {
    let images = imagesOf(f.images);
    if (f.limit) images = images.slice(0, f.limit);
    const k = f.globalTokens ? Number(f.globalTokens) : 21;
    if (!Number.isInteger(k) || k < 1) throw new Error(`--global-tokens must be a positive integer (got "${f.globalTokens}")`);
    const llm = isRemoteSpec(f.llm) ? await openLLM({ llm: f.llm } as LLMFlags) : await LlamaCppLLM.load(f.llm, { vocabOnly: true });
    const progress = createProgress({ quiet: f.quiet });
    try {
      const { tokens, tokenizer } = await openTokens({ ...f, globalTokens: String(k) }, llm, { needTokenizer: true });
      try {
        const summary = await writeLoraData({
          llm, tokens, images, k, out: f.out, fresh: f.fresh, batch: tokenizer!.batchSize,
          config: { llm: (await llm.vocabulary()).hash, tokenizer: tokenizer!.weights.path, clip: tokenizer!.clip?.fingerprint ?? null, imageSize: tokenizer!.imageSize },
          onProgress: (e) => progress.update(e),
        });
        progress.stop();
        printSummary(summary);
      } finally {
        await tokenizer?.dispose();
      }
    } finally {
      progress.stop();
      await llm.dispose();
    }
  });
}
