// Flags and loading shared by the commands that run the tokenizer and the in-context tasks: the tokenizer
// (`--checkpoint/--codebook/--clip`, or `--tokens` from `v2l tokenize`), the LLM (`--llm <gguf|url>`),
// the run's output (`--out`, `--fresh`) and the summary every run ends with.
import type { Command } from 'commander';
import { V2LTokenizer, type LoadTokenizerOptions } from '../tokenizer/tokenizer.js';
import { openModel, withBackendOptions } from './commands/llm.js';
import type { LLM } from '../models/llm/types.js';
import { tokenizerTokens, tokensFile, type ImageTokenProvider } from '../tasks/image-tokens.js';
import { runFailure, summaryText, type RunSummary } from '../tasks/summary.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V2LConfig } from '../network/config.js';
import { parseConfigHint } from '../tokenizer/weights.js';
import { DEMO_NOTE, demoModels } from '../demo/demo.js';

export interface TokenizerFlags {
  /** Absent (with --codebook and --clip) on the commands that default to the built-in demo tokenizer. */
  checkpoint: string;
  codebook?: string;
  clip?: string;
  globalTokens?: string;
  imageSize?: string;
  preprocess?: string;
  batchSize?: string;
  maxPixels?: string;
  config?: string;
  quiet?: boolean;
  engine?: string;
  device?: string;
  engineThreads?: string;
}

/** `--config`: JSON, or a JSON file, of the configuration fields a .pth's shapes leave open. */
export function configHint(v: string): Partial<V2LConfig> {
  const text = v.trim().startsWith('{') ? v : existsSync(v) ? readFileSync(v, 'utf8') : null;
  if (text === null) throw new Error(`--config must be JSON or a JSON file (no file ${v})`);
  try {
    return parseConfigHint(text);
  } catch (e) {
    throw new Error(`--config: not JSON (${(e as Error).message})`);
  }
}

function positiveInt(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer (got "${v}")`);
  return n;
}

export function tokenizerOptions(f: TokenizerFlags): LoadTokenizerOptions {
  if (f.preprocess && f.preprocess !== 'simple' && f.preprocess !== 'reference') throw new Error(`--preprocess must be simple or reference (got "${f.preprocess}")`);
  return {
    checkpoint: f.checkpoint,
    codebook: f.codebook,
    clip: f.clip,
    globalTokens: positiveInt('--global-tokens', f.globalTokens),
    imageSize: positiveInt('--image-size', f.imageSize),
    preprocess: f.preprocess as 'simple' | 'reference' | undefined,
    batchSize: positiveInt('--batch-size', f.batchSize),
    maxPixels: f.maxPixels === undefined ? undefined : f.maxPixels === '0' ? false : positiveInt('--max-pixels', f.maxPixels),
    config: f.config === undefined ? undefined : configHint(f.config),
    ...engineOptions(f),
  };
}

/** --engine onnx (the only inference engine), --device cpu|cuda, --engine-threads n (see LoadTokenizerOptions). */
function engineOptions(f: TokenizerFlags): Pick<LoadTokenizerOptions, 'engine' | 'device' | 'threads'> {
  if (f.engine === 'tfjs') throw new Error('--engine tfjs was removed: the tokenizer runs on onnxruntime only (--engine onnx, the default; the same ids as tfjs gave)');
  if (f.engine !== undefined && f.engine !== 'onnx') throw new Error(`--engine must be onnx (got "${f.engine}")`);
  if (f.device !== undefined && f.device !== 'cpu' && f.device !== 'cuda') throw new Error(`--device must be cpu or cuda (got "${f.device}")`);
  return { engine: f.engine as 'onnx' | undefined, device: f.device as 'cpu' | 'cuda' | undefined, threads: positiveInt('--engine-threads', f.engineThreads) };
}

/**
 * No --checkpoint, --codebook or --clip (and no --tokens): the built-in DEMO tokenizer (src/demo/), said
 * on stderr. Any model flag given turns the demo off, so a half-given model is still refused by name.
 */
export async function withDemoDefault<F extends { checkpoint?: string; codebook?: string; clip?: string; tokens?: string; cacheDir?: string }>(f: F, who = 'v2l'): Promise<F & { demo: boolean }> {
  if (f.checkpoint || f.codebook || f.clip || f.tokens) return { ...f, demo: false };
  const d = await demoModels({ cacheDir: f.cacheDir });
  console.error(`${who}: note: using ${DEMO_NOTE}`);
  return { ...f, checkpoint: d.checkpoint, codebook: d.codebook, clip: d.clip, demo: true };
}

/** The tokenizer's flags; `required: false` for commands that can take `--tokens` instead. */
export function tokenizerFlags(cmd: Command, opts: { required?: boolean; globalTokensHelp?: string } = {}): Command {
  const checkpointHelp = 'weights: a v2l safetensors file (v2l train / import-official) or the official .pth';
  return (opts.required === false ? cmd.option('--checkpoint <file>', checkpointHelp) : cmd.requiredOption('--checkpoint <file>', checkpointHelp))
    .option('--codebook <dir>', 'codebook package (v2l codebook build / import-official); gives the token strings')
    .option('--clip <dir>', 'CLIP folder in the Hugging Face layout (ONNX), for the global tokens')
    .option('--global-tokens <k>', opts.globalTokensHelp ?? 'global tokens per image (default: the checkpoint\'s, else 5)')
    .option('--image-size <px>', 'encoder input side (default: the checkpoint\'s, else 128)')
    .option('--preprocess <mode>', 'simple (short side, centre crop) or reference (CLIP 224 crop, then bilinear)', 'simple')
    .option('--batch-size <n>', 'images per network call', '8')
    .option('--config <json>', 'for a .pth checkpoint: configuration fields its tensor shapes leave open, as JSON or a JSON file (e.g. {"crossAttnHeads": 8})')
    .option('--max-pixels <n>', 'refuse images with more pixels than this before decoding (default 100000000; 0: no limit)')
    .option('--engine <name>', 'onnx (onnxruntime; the only inference engine, accepted for scripts that name it)')
    .option('--device <name>', 'onnx engine: cpu (default) or cuda (where onnxruntime\'s CUDA provider is installed)')
    .option('--engine-threads <n>', 'onnx engine: intra-op threads (default: the cores)')
    .option('-q, --quiet', 'no progress output');
}

export interface LLMFlags {
  llm: string;
  vocab?: string;
  threads?: number;
  gpu?: boolean;
  cpu?: boolean;
  contextSize?: number;
  timeout?: number;
  retries?: number;
  concurrency?: number;
  apiKey?: string;
  serverModel?: string;
}

/** `--llm <gguf|url>` and the backend options of `v2l llm`. */
export function llmFlags(cmd: Command): Command {
  return withBackendOptions(cmd.requiredOption('--llm <gguf|url>', 'the frozen LLM: a GGUF file (local, node-llama-cpp) or an http(s) URL of an OpenAI-compatible completions server (vLLM, llama.cpp server); v2l ships none. With the built-in demo tokenizer: a model with stories260K\'s 512-token vocabulary (stories260K.gguf)'));
}

export function openLLM(f: LLMFlags): Promise<LLM> {
  return openModel({ ...f, model: f.llm });
}

export interface RunFlags {
  tokens?: string;
  out?: string;
  fresh?: boolean;
  cacheDir?: string;
}

/** `--tokens`, `--out`, `--fresh`, `--cache-dir`. */
export function runFlags(cmd: Command, outHelp = 'JSON-lines output, one record per unit of work; an existing file is resumed'): Command {
  return cmd
    .option('--tokens <jsonl>', 'image tokens already computed by `v2l tokenize` (matched by source) instead of running the tokenizer')
    .option('--out <file>', outHelp)
    .option('--fresh', 'start over: discard the records of an earlier run in --out')
    .option('--cache-dir <dir>', 'cache folder (default: V2L_CACHE, else ~/.cache/v2l): global tokens are cached there');
}

/**
 * Where the images' tokens come from: `--tokens`, or the tokenizer (loaded once; its codebook is checked
 * against the LLM's vocabulary before any work). The tokenizer is returned too (null with --tokens) for
 * tasks that decode images.
 */
export async function openTokens(given: TokenizerFlags & RunFlags, llm: LLM | null, opts: { needTokenizer?: boolean } = {}): Promise<{ tokens: ImageTokenProvider; tokenizer: V2LTokenizer | null }> {
  if (given.tokens && !opts.needTokenizer) return { tokens: tokensFileNoted(given.tokens), tokenizer: null };
  const f = await withDemoDefault(given);
  if (!f.checkpoint) throw new Error(`give the tokenizer (--checkpoint <file> --codebook <dir> --clip <dir>)${opts.needTokenizer ? '' : ' or --tokens <file.jsonl> from `v2l tokenize`'}`);
  if (!f.clip && !f.tokens) throw new Error('the tokenizer needs --clip <dir> (global tokens come from the CLIP image embedding)');
  const vocabulary = llm ? await llm.vocabulary() : undefined;
  if (f.demo && vocabulary && vocabulary.hash !== demoVocabularyHash(f.codebook!)) {
    throw new Error(`the built-in demo tokenizer's tokens are stories260K's 512-token vocabulary; ${llm!.id} has another (${vocabulary.size} tokens): ` +
      'give --llm stories260K.gguf (MIT, karpathy\'s tinyllamas in GGUF), or a tokenizer built for this LLM (--checkpoint, --codebook, --clip; README: quick start)');
  }
  const tokenizer = await V2LTokenizer.load({ ...tokenizerOptions(f), vocabulary: vocabulary && { hash: vocabulary.hash, size: vocabulary.size } });
  if (tokenizer.clip?.isStandIn) console.error(`v2l: note: ${tokenizer.clip.id} is the random-weight STAND-IN CLIP: global tokens are not meaningful`);
  const tokens = f.tokens ? tokensFileNoted(f.tokens) : tokenizerTokens(tokenizer, { cacheDir: f.cacheDir });
  // The demo's id names it in every run configuration and record file.
  return { tokens: f.demo ? demoProvider(tokens) : tokens, tokenizer };
}

function demoVocabularyHash(codebook: string): string {
  return (JSON.parse(readFileSync(join(codebook, 'manifest.json'), 'utf8')) as { llm: { vocabHash: string } }).llm.vocabHash;
}

function demoProvider(p: ImageTokenProvider): ImageTokenProvider {
  if (p.demo) return p; // a tokens file the demo wrote names itself
  return { id: `demo-${p.id}`, isStandIn: p.isStandIn, demo: true, global: (s, k, on) => p.global(s, k, on), all: (s, k, on) => p.all(s, k, on) };
}

/** `--tokens`: a file the demo tokenizer wrote is said on stderr, as a run on the demo itself is. */
function tokensFileNoted(path: string): ImageTokenProvider {
  const tokens = tokensFile(path);
  if (tokens.demo) console.error(`v2l: note: ${path} holds tokens of the built-in DEMO tokenizer (its lines say "demo": true; STAND-IN CLIP): global tokens are meaningless`);
  return tokens;
}

/**
 * JSON on stdout, the human summary on stderr. A run whose units all failed (or that had units to do and
 * did none) exits with status 1: it has no figures to report, whatever it wrote.
 */
export function printSummary(s: RunSummary): void {
  process.stdout.write(JSON.stringify(s, null, 2) + '\n');
  console.error(summaryText(s));
  const failedRun = runFailure(s);
  if (failedRun) {
    console.error(`v2l: ${failedRun}`);
    process.exitCode = 1;
  }
}
