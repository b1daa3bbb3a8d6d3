// `v2l restore --task masked`: masked image restoration with a (LoRA-tuned) LLM, paper §4.4. The restore
// command (./restore.ts) imports this file and hands over when `--task masked` is chosen: it declares the
// shared flags (images, --output, --seed, --limit, --fresh, --cache-dir, the tokenizer and LLM flags); the
// flags of this task are added here.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { openTokens, printSummary, type LLMFlags, type TokenizerFlags } from '../task-flags.js';
import { loadLLM, isRemoteSpec } from '../../models/llm/load.js';
import { collect, num } from '../options.js';
import { createProgress } from '../progress.js';
import { runMasked } from '../../tasks/masked/run.js';

export interface MaskedFlags extends TokenizerFlags, LLMFlags {
  output: string;
  seed?: number;
  limit?: number;
  fresh?: boolean;
  cacheDir?: string;
  ratio: number;
  lora?: string[];
  loraScale?: number[];
}

export function addMaskedOptions(cmd: Command): Command {
  return cmd
    .option('--ratio <r>', 'masked: fraction of local tokens masked at random (seeded by --seed and the image index)', num('ratio'), 0.3)
    .option('--lora <adapter.gguf>', 'masked: a LoRA adapter in llama.cpp\'s GGUF format applied to the local LLM (repeatable; see docs/tasks.md to train one)', collect)
    .option('--lora-scale <s>', 'masked: scale of each --lora adapter, in order (default 1; llama.cpp multiplies it by alpha / rank)', (v: string, prev: number[] = []) => [...prev, num('lora-scale')(v)]);
}

const IMAGE_EXT = /\.(jpe?g|png|bmp|webp|gif|tiff?|avif)$/i;

function imagesOf(args: readonly string[]): string[] {
  const out: string[] = [];
  for (const a of args) {
    if (!existsSync(a)) throw new Error(`image ${a}: no such file or folder`);
    if (statSync(a).isDirectory()) {
      const files = readdirSync(a).filter((f) => IMAGE_EXT.test(f)).sort();
      if (!files.length) throw new Error(`image folder ${a} holds no image files`);
      out.push(...files.map((f) => join(a, f)));
    } else out.push(a);
  }
  return out;
}

export async function runMaskedRestore(args: string[], flags: Record<string, unknown>): Promise<void> {
  const f = flags as unknown as MaskedFlags;
  if (!(f.ratio >= 0 && f.ratio <= 1)) throw new Error(`--ratio must be in [0, 1] (got ${f.ratio})`);
  const lora = (f.lora ?? []).map((p, i) => ({ path: resolve(p), scale: f.loraScale?.[i] ?? 1 }));
  if ((f.loraScale?.length ?? 0) > lora.length) throw new Error(`${f.loraScale!.length} --lora-scale values for ${lora.length} --lora adapters`);
  if (lora.length && isRemoteSpec(f.llm)) throw new Error('--lora needs a local GGUF model (--llm <file.gguf>); a server applies its own adapters');
  for (const a of lora) if (!existsSync(a.path)) throw new Error(`--lora ${a.path}: no such file`);
  let images = imagesOf(args);
  if (f.limit) images = images.slice(0, f.limit);
  const k = f.globalTokens ? Number(f.globalTokens) : 21;
  if (f.gpu && f.cpu) throw new Error('give --gpu or --cpu, not both');
  const llm = await loadLLM(f.llm, {
    local: { threads: f.threads, gpu: f.gpu ? 'auto' : f.cpu ? false : undefined, contextSize: f.contextSize, lora },
    remote: { model: f.serverModel, apiKey: f.apiKey ?? process.env.OPENAI_API_KEY, timeoutMs: f.timeout, retries: f.retries, maxConcurrency: f.concurrency },
  });
  const progress = createProgress({ quiet: f.quiet });
  try {
    const { tokens, tokenizer } = await openTokens({ ...f, globalTokens: String(k) }, llm, { needTokenizer: true });
    try {
      const summary = await runMasked({
        llm, tokenizer: tokenizer!, tokens, images, ratio: f.ratio, seed: f.seed ?? 0, k, outDir: f.output, fresh: f.fresh,
        config: { llm: llm.id, lora, tokenizer: tokenizer!.weights.path, clip: tokenizer!.clip?.fingerprint ?? null, imageSize: tokenizer!.imageSize },
        notes: lora.length ? [] : ['no --lora adapter: the base LLM fills the tokens (the paper tunes it with LoRA first)'],
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
}
