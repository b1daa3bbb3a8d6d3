// `v2l caption` (and the flags `v2l vqa` shares): the paper's in-context captioning with global tokens.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { tokenizerFlags, llmFlags, runFlags, openLLM, openTokens, printSummary, type TokenizerFlags, type LLMFlags, type RunFlags } from '../task-flags.js';
import { int, oneOf } from '../options.js';
import { createProgress } from '../progress.js';
import { PROMPT_PROTOCOLS, type PromptProtocol } from '../../tasks/prompt-protocol.js';
import { readCaptionItems, runCaption } from '../../tasks/caption/run.js';
import type { ImageTokenProvider } from '../../tasks/image-tokens.js';
import type { LLM } from '../../models/llm/types.js';
import type { RunSummary } from '../../tasks/summary.js';

export interface InContextFlags extends TokenizerFlags, LLMFlags, RunFlags {
  examples: string;
  queries?: string;
  imageDir?: string;
  queryImageDir?: string;
  shots: number;
  seed: number;
  resampleShots?: boolean;
  maxTokens: number;
  protocol: PromptProtocol;
  limit?: number;
}

const PROTOCOL_HELP = 'v2l (default: the prompt as one text, global tokens as space-separated words) or reference '
  + '(the reference\'s conventions of tasks-spec.md §0 applied to the paper\'s prompt: every text piece tokenized on its own with SentencePiece\'s "▁", '
  + 'global token strings glued with no separator, e.g. "goldfish"+"fish" -> "goldfishfish")';

/** The flags of the in-context understanding tasks (caption, vqa). */
export function inContextFlags(cmd: Command, o: { examplesHelp: string; queriesHelp: string; maxTokens: number; maxTokensHelp: string }): Command {
  tokenizerFlags(cmd, { required: false, globalTokensHelp: 'global tokens per image (default 21, as the paper for these tasks)' });
  llmFlags(cmd);
  runFlags(cmd, 'JSON-lines output, one record per query (required); an existing file is resumed');
  return cmd
    .requiredOption('--examples <file>', o.examplesHelp)
    .option('--queries <file>', o.queriesHelp)
    .option('--image-dir <dir>', 'folder the examples\' image names are relative to (default: images/ beside the file if it exists, else the file\'s folder)')
    .option('--query-image-dir <dir>', 'the same for --queries')
    .option('--shots <n>', 'in-context samples per prompt', int('shots', 0), 10)
    .option('--seed <n>', 'seed of the in-context draw', int('seed', 0), 0)
    .option('--resample-shots', 'draw new in-context samples for every query (default: one fixed block per run, evaluated once and reused from the KV cache)')
    .option('--max-tokens <n>', o.maxTokensHelp, int('max-tokens', 1), o.maxTokens)
    .option('--protocol <p>', PROTOCOL_HELP, oneOf('protocol', PROMPT_PROTOCOLS), 'v2l')
    .option('--limit <n>', 'only the first n queries', int('limit', 1));
}

export function fileId(path: string): { path: string; sha256: string } {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return { path: resolve(path), sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** Opens the LLM and the token source, runs, prints the summary, closes everything. */
export async function runInContextCommand(f: InContextFlags, run: (llm: LLM, tokens: ImageTokenProvider, k: number, onProgress: ReturnType<typeof createProgress>['update']) => Promise<RunSummary>): Promise<void> {
  if (!f.out) throw new Error('give --out <file.jsonl> (one record per query; an existing file is resumed)');
  const k = f.globalTokens === undefined ? 21 : Number(f.globalTokens);
  if (!Number.isInteger(k) || k < 1) throw new Error(`--global-tokens must be a positive integer (got "${f.globalTokens}")`);
  const llm = await openLLM(f);
  const progress = createProgress({ quiet: f.quiet });
  let tokenizer: Awaited<ReturnType<typeof openTokens>>['tokenizer'] = null;
  try {
    const opened = await openTokens({ ...f, globalTokens: String(k) }, llm);
    tokenizer = opened.tokenizer;
    const summary = await run(llm, opened.tokens, k, (e) => progress.update(e));
    progress.stop();
    printSummary(summary);
  } finally {
    progress.stop();
    await tokenizer?.dispose();
    await llm.dispose();
  }
}

export function register(program: Command): void {
  inContextFlags(
    program.command('caption')
      .description('in-context image captioning (paper §4.2): a frozen LLM writes a caption from an image\'s global tokens after shots of (global tokens, caption) pairs; BLEU-4 / CIDEr-D when the queries have references')
      .argument('[images...]', 'query images without references (instead of --queries)'),
    {
      examplesHelp: 'in-context captions: COCO captions JSON (images + annotations), a list of { image, captions }, or JSON lines of { image, caption(s) }',
      queriesHelp: 'query images with reference captions (same forms); without --queries and images, the examples not drawn as shots are the queries',
      maxTokens: 30,
      maxTokensHelp: 'generated tokens at most per caption (generation stops at "." before that)',
    },
  ).action(async (images: string[], f: InContextFlags) => {
    const pool = readCaptionItems(f.examples, f.imageDir);
    let queries = f.queries ? readCaptionItems(f.queries, f.queryImageDir) : images.length ? images.map((p, i) => ({ image: resolve(p), captions: [], where: `argument ${i + 1}` })) : null;
    if (queries && f.limit) queries = queries.slice(0, f.limit);
    if (!queries && f.limit) throw new Error('--limit needs --queries or query images');
    await runInContextCommand(f, (llm, tokens, k, onProgress) => runCaption({
      llm, tokens, pool, queries, shots: f.shots, seed: f.seed, k, resample: !!f.resampleShots, maxTokens: f.maxTokens,
      protocol: f.protocol, out: f.out!, fresh: f.fresh, onProgress,
      inputs: { examples: fileId(f.examples), queries: f.queries ? fileId(f.queries) : queries?.map((q) => q.image) ?? null, imageDir: f.imageDir ?? null, queryImageDir: f.queryImageDir ?? null },
    }));
  });
}
