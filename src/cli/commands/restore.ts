// `v2l restore`: in-context image restoration (paper §4.3, Table 4) with a frozen LLM over the local
// tokens: inpainting, outpainting, deblurring, rotation, shift; `--task masked` hands over to the LoRA
// masked restoration (./restore-masked.ts, when built).
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { listImages } from '../../image/list.js';
import { int } from '../options.js';
import { llmFlags, openLLM, openTokens, printSummary, tokenizerFlags, type LLMFlags, type TokenizerFlags } from '../task-flags.js';
import { createProgress } from '../progress.js';
import { restoreToDir, type RestoreProtocol, type RestoreTask } from '../../tasks/restore/run.js';
import { RESTORE_TASKS } from '../../tasks/restore/masks.js';
import { restoreNotes, restoreSummary } from '../../tasks/restore/summary.js';

interface MaskedModule {
  addMaskedOptions(cmd: Command): Command | void;
  runMaskedRestore(images: string[], flags: Record<string, unknown>): Promise<void>;
}

// The masked (LoRA) restoration lives in its own file, written separately; this build may lack it.
const MASKED_SPEC = './restore-masked.js';
let masked: MaskedModule | null = null;
try {
  masked = (await import(MASKED_SPEC)) as MaskedModule;
} catch (e) {
  const err = e as NodeJS.ErrnoException;
  // Only the file itself being absent means "not built"; an error inside it must surface.
  if (err.code !== 'ERR_MODULE_NOT_FOUND' || !/Cannot find module '[^']*restore-masked(\.[jt]s)?'/.test(String(err.message))) throw e;
}

interface RestoreFlags extends TokenizerFlags, LLMFlags {
  task: string;
  protocol: string;
  m: number;
  n: number;
  copies: number;
  seed: number;
  batch: number;
  contextImages?: string;
  contextLimit?: number;
  output: string;
  limit?: number;
  fresh?: boolean;
  cacheDir?: string;
}

export function register(program: Command): void {
  const cmd = program.command('restore')
    .description('in-context image restoration with a frozen LLM over the local tokens (paper §4.3): writes original | corrupted | restored | reconstruction-of-corrupted PNGs, a JSON record per image and records.jsonl (resumable)')
    .argument('<images...>', 'image files, folders (every image below, sorted by path) or list files (one path per line)')
    .requiredOption('--task <task>', `${RESTORE_TASKS.join(' | ')}${masked ? ' | masked' : ''}`)
    .option('--protocol <p>', 'clean (default): nothing of the clean query reaches the LLM or the decoder; global tokens of the corrupted image; examples: in/outpainting windows of the query\'s own visible tokens (and --context-images), the other tasks (corrupted, clean) token pairs of --context-images. reference: the reference code id for id, which LEAKS the answer: 10 noisy copies of the query\'s own clean tokens (rates 0.50..0.23 of k+g*g, shuffles seeded here) and the clean image\'s global tokens; its bugs are kept: int(rate x (k + g*g)) positions replaced (277, not the 256 local ones), random ids over the whole vocabulary (specials and bytes included), a step at the grid\'s end predicting past it (docs/tasks.md)', 'clean')
    .option('--m <n>', 'tokens predicted per step', int('m', 1), 2)
    .option('--n <n>', 'in/outpainting: tokens before the step shown as the input', int('n', 1), 16)
    .option('--copies <n>', 'in-context examples per step (the reference: 10)', int('copies', 1), 10)
    .option('--seed <n>', 'seeds the blur kernel draw and the reference protocol\'s copies', int('seed', 0), 0)
    .option('--batch <n>', 'deblur/rotate/shift: independent steps per LLM call (local GGUF: 1 is cheapest, each step reuses its own prompt; a remote server runs a batch concurrently)', int('batch', 1), 1)
    .option('--context-images <dir>', 'other images for the clean protocol\'s in-context examples (required for deblur/rotate/shift); the first --copies readable ones are used')
    .option('--context-limit <n>', 'use at most this many --context-images', int('context-limit', 1))
    .requiredOption('-o, --output <dir>', 'output folder (an earlier run there is resumed)')
    .option('--limit <n>', 'restore only the first n images', int('limit', 1))
    .option('--fresh', 'start over: discard the records of an earlier run in --output')
    .option('--cache-dir <dir>', 'cache folder (default: V2L_CACHE, else ~/.cache/v2l): global tokens of the original files are cached there');
  tokenizerFlags(cmd, { globalTokensHelp: 'global tokens per image (default 21, the reference\'s)' });
  llmFlags(cmd);
  if (masked) masked.addMaskedOptions(cmd);
  cmd.action(async (args: string[], f: RestoreFlags) => {
    if (f.task === 'masked') {
      if (!masked) throw new Error('masked restoration is not available in this build');
      await masked.runMaskedRestore(args, f as unknown as Record<string, unknown>);
      return;
    }
    if (!RESTORE_TASKS.includes(f.task as RestoreTask)) throw new Error(`--task must be one of ${RESTORE_TASKS.join(', ')}${masked ? ', masked' : ''} (got "${f.task}")`);
    if (f.protocol !== 'clean' && f.protocol !== 'reference') throw new Error(`--protocol must be clean or reference (got "${f.protocol}")`);
    const task = f.task as RestoreTask;
    const protocol = f.protocol as RestoreProtocol;
    let images = listImages(args, { what: 'images' });
    if (f.limit) images = images.slice(0, f.limit);
    let contextImages = f.contextImages ? listImages([f.contextImages], { what: '--context-images' }) : [];
    const queries = new Set(images.map((i) => resolve(i)));
    contextImages = contextImages.filter((c) => !queries.has(resolve(c))); // never the query itself
    if (f.contextLimit) contextImages = contextImages.slice(0, f.contextLimit);
    if (protocol === 'reference' && contextImages.length) console.error('v2l restore: note: the reference protocol ignores --context-images');
    const globalTokens = f.globalTokens ? Number(f.globalTokens) : 21;
    const t0 = performance.now();
    const llm = await openLLM(f);
    try {
      const { tokens, tokenizer } = await openTokens({ ...f, globalTokens: String(globalTokens) }, llm, { needTokenizer: true });
      const tok = tokenizer!;
      const progress = createProgress({ quiet: f.quiet });
      try {
        const totals = await restoreToDir({
          task, protocol, tokenizer: tok, llm, images, contextImages: protocol === 'clean' ? contextImages : [],
          m: f.m, n: f.n, copies: f.copies, seed: f.seed, batch: f.batch, globalTokens,
          globalTokensOf: tokens, outDir: f.output, fresh: f.fresh,
          configExtra: { llm: llm.id, tokenizer: tok.weights.path, codebook: tok.codebook?.dir ?? null, clip: tok.clip?.fingerprint ?? null, imageSize: tok.imageSize },
          onStep: (e) => progress.update({ stage: `${task} image ${e.index + 1}/${images.length}`, done: e.step, total: e.steps }),
          onImage: (r, done, total) => {
            const c = r.cost;
            const what = r.record.status === 'ok'
              ? `token accuracy ${(r.record.accuracy!.restored * 100).toFixed(1)}% (corrupted ${(r.record.accuracy!.corrupted * 100).toFixed(1)}%)`
              : `FAILED: ${r.record.error}`;
            console.error(`v2l restore: [${done}/${total}] ${r.source}: ${what}; ${c.calls} LLM calls, ${c.evaluatedTokens} tokens evaluated, ${c.reusedTokens} reused, ${c.seconds.toFixed(1)} s`);
          },
        });
        progress.stop();
        const summary = restoreSummary({
          task, protocol, records: totals.records, resumed: totals.resumed, total: images.length,
          llm: { id: llm.id, calls: totals.calls, evaluatedTokens: totals.evaluatedTokens, reusedTokens: totals.reusedTokens },
          wallSeconds: (performance.now() - t0) / 1000, out: resolve(f.output),
          notes: [...restoreNotes({ protocol, standInClip: tok.clip?.isStandIn ?? false, llmId: llm.id, copies: f.copies }), ...(totals.duplicates ? [totals.duplicates] : [])],
        });
        printSummary(summary);
        if (summary.units.failed) process.exitCode = 1;
      } finally {
        progress.stop();
        await tok.dispose();
      }
    } finally {
      await llm.dispose();
    }
  });
}
