// Node edge: the run loop shared by captioning and VQA. Queries in file order, one JSON-lines record each
// (resumable, src/tasks/records.ts); in-context shots drawn seeded from a pool, one fixed block per run
// (its KV cache evaluated once and reused by every query) or one per query (`resample`); global tokens
// from an ImageTokenProvider (cached on disk by image hash); a clear error before any work when an image
// is missing or the prompt cannot fit the model's context.
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { LLM, Prompt } from '../models/llm/types.js';
import { queryIds } from '../models/llm/prompt.js';
import { RunRecords, type RunConfig } from './records.js';
import { isTokensFailure, type ImageTokenProvider } from './image-tokens.js';
import { drawIndices, querySeed } from './shots.js';
import { llmDelta, type RunSummary } from './summary.js';
import type { OnProgress } from '../util/progress.js';
import type { PromptProtocol } from './prompt-protocol.js';

export interface InContextItem {
  /** Image path as the run opens it. */
  image: string;
  /** Where the item is defined ("file:line"), for errors. */
  where: string;
}

export interface BaseRecord {
  index: number;
  image: string;
  /** Pool indices of the shots, when drawn per query. */
  shots?: number[];
  error?: string;
}

export interface InContextOptions<P extends InContextItem, Q extends InContextItem, R extends BaseRecord> {
  task: string;
  llm: LLM;
  tokens: ImageTokenProvider;
  pool: readonly P[];
  /** The queries; null = hold-out: the pool items not drawn as shots (fixed block) or every pool item (resample). */
  queries: readonly Q[] | null;
  shots: number;
  seed: number;
  k: number;
  resample: boolean;
  /** Generated tokens at most, for the context check. */
  maxNewTokens: number;
  out: string;
  fresh?: boolean;
  config: RunConfig;
  /** The prompt of one query; `shotSeeds[j]` picks among a shot's captions / answers. */
  prompt(shots: { item: P; texts: string[]; seed: number }[], query: { item: Q; texts: string[] }): Promise<{ prefix: Prompt; prompt: Prompt }>;
  /** Runs the LLM on one query; returns the record's task fields and the number of LLM calls. */
  answer(p: { prefix: Prompt; prompt: Prompt }, query: Q): Promise<{ fields: Omit<R, keyof BaseRecord>; calls: number }>;
  /** Figures of the finished records. */
  figures(records: readonly R[]): RunSummary['figures'];
  notes: string[];
  onProgress?: OnProgress;
}

/** What a task command gives its run (caption, VQA); the task adds its prompts, answers and figures. */
export interface TaskRunOptions<P extends InContextItem, Q extends InContextItem = P> {
  llm: LLM;
  tokens: ImageTokenProvider;
  /** In-context samples. */
  pool: P[];
  /** Query images (empty list: none); null = hold-out queries from the pool. */
  queries: Q[] | null;
  shots: number;
  seed: number;
  k: number;
  resample: boolean;
  maxTokens: number;
  protocol: PromptProtocol;
  out: string;
  fresh?: boolean;
  /** Identifies the inputs in the run configuration (file names and hashes). */
  inputs: Record<string, unknown>;
  notes?: string[];
  onProgress?: OnProgress;
}

/**
 * The task-independent part of `runInContext`'s options from a command's options: the run configuration
 * (what a resume must match) and the notes, with `standInNote` first when the global tokens come from
 * the stand-in CLIP.
 */
export function taskRunBase<P extends InContextItem, Q extends InContextItem>(task: string, o: TaskRunOptions<P, Q>, standInNote: string) {
  return {
    task, llm: o.llm, tokens: o.tokens, pool: o.pool, queries: o.queries, shots: o.shots, seed: o.seed, k: o.k,
    resample: o.resample, maxNewTokens: o.maxTokens, out: o.out, fresh: o.fresh, onProgress: o.onProgress,
    config: {
      task, protocol: o.protocol, ...o.inputs, shots: o.shots, seed: o.seed, globalTokens: o.k, resampleShots: o.resample,
      maxTokens: o.maxTokens, llm: o.llm.id, tokens: o.tokens.id,
    } as RunConfig,
    notes: [...(o.tokens.isStandIn ? [standInNote] : []), ...(o.notes ?? [])],
  };
}

/** Refuses, before any work, items whose image file does not exist (naming the item's line). */
export function checkImages(items: readonly InContextItem[], what: string): void {
  const missing = items.filter((it) => !existsSync(it.image));
  if (missing.length) {
    const shown = missing.slice(0, 5).map((m) => `${m.where}: ${m.image}`).join('; ');
    throw new Error(`${missing.length} ${what} name${missing.length === 1 ? 's' : ''} a missing image: ${shown}${missing.length > 5 ? '; ...' : ''}`);
  }
}

function contextSizeOf(llm: LLM): number | null {
  const c = (llm as { contextSize?: unknown }).contextSize;
  return typeof c === 'number' && c > 0 ? c : null;
}

export async function runInContext<P extends InContextItem, Q extends InContextItem, R extends BaseRecord>(o: InContextOptions<P, Q, R>): Promise<RunSummary> {
  const t0 = Date.now();
  if (!Number.isInteger(o.shots) || o.shots < 0) throw new Error(`--shots must be a non-negative integer (got ${o.shots})`);
  checkImages(o.pool, 'in-context example(s)');
  if (o.queries) checkImages(o.queries, 'query(ies)');

  // The fixed block, and the queries of a hold-out run.
  let block: number[] | null = null;
  let queries: readonly (P | Q)[];
  if (!o.resample) {
    const queryImages = new Set((o.queries ?? []).map((q) => q.image));
    try {
      block = drawIndices(o.pool.length, o.shots, o.seed, (i) => !queryImages.has(o.pool[i]!.image));
    } catch (e) {
      throw new Error(`${(e as Error).message} (the pool holds ${o.pool.length} examples${o.queries ? `, of which those showing a query image are left out` : ''}): lower --shots or give more examples`);
    }
    const blockImages = new Set(block.map((i) => o.pool[i]!.image));
    queries = o.queries ?? o.pool.filter((p) => !blockImages.has(p.image));
    if (!queries.length) throw new Error(`no queries left: every example's image is among the ${o.shots} shots; give --queries or lower --shots`);
  } else {
    queries = o.queries ?? o.pool;
  }

  const shotTexts = new Map<number, string[]>();
  const loadShots = async (idx: readonly number[]) => {
    const need = idx.filter((i) => !shotTexts.has(i));
    if (!need.length) return;
    const res = await o.tokens.global(need.map((i) => o.pool[i]!.image), o.k);
    res.forEach((r, j) => {
      if (isTokensFailure(r)) throw new Error(`${o.pool[need[j]!]!.where}: in-context image ${r.source}: ${r.error}`);
      shotTexts.set(need[j]!, r.global.texts);
    });
  };
  if (block) await loadShots(block);

  const vocab = await o.llm.vocabulary();
  const records = RunRecords.open<R>(o.out, { ...o.config, shotBlock: block }, (r) => String(r.index), { fresh: o.fresh });
  const resumed = records.size;
  const ctx = contextSizeOf(o.llm);
  const before = o.llm.stats();
  let calls = 0;
  const total = queries.length;
  const progress = () => o.onProgress?.({ stage: o.task, done: records.size, total });
  progress();
  const CHUNK = 16;
  try {
    for (let s = 0; s < total; s += CHUNK) {
      const todo = [];
      for (let i = s; i < Math.min(total, s + CHUNK); i++) if (!records.has(String(i))) todo.push(i);
      if (!todo.length) continue;
      const globals = await o.tokens.global(todo.map((i) => queries[i]!.image), o.k);
      for (let j = 0; j < todo.length; j++) {
        const i = todo[j]!;
        const q = queries[i]! as Q;
        const g = globals[j]!;
        const base: BaseRecord = { index: i, image: q.image };
        let shotIdx = block!;
        if (o.resample) {
          shotIdx = drawIndices(o.pool.length, o.shots, querySeed(o.seed, i), (p) => o.pool[p]!.image !== q.image);
          base.shots = shotIdx;
        }
        if (isTokensFailure(g)) {
          records.append({ ...base, error: g.error } as R);
          progress();
          continue;
        }
        try {
          await loadShots(shotIdx);
        } catch (e) {
          records.append({ ...base, error: (e as Error).message } as R);
          progress();
          continue;
        }
        const shots = shotIdx.map((p) => ({ item: o.pool[p]!, texts: shotTexts.get(p)!, seed: querySeed(o.seed ^ 0x5bd1e995, p) }));
        const p = await o.prompt(shots, { item: q, texts: g.global.texts });
        if (ctx !== null) {
          const { ids, prefixLength } = await queryIds(p.prompt, { tokenize: (t) => o.llm.tokenize(t), bos: vocab.bos }, { prefix: p.prefix });
          if (ids.length + o.maxNewTokens > ctx) {
            throw new Error(`the prompt of query ${i} (${q.where}) is ${ids.length} tokens (${prefixLength} of them the ${o.shots} shots, ${o.k} global tokens per image) plus up to ${o.maxNewTokens} generated: more than the ${ctx}-token context of ${o.llm.id}; lower --shots, --global-tokens or --max-tokens`);
          }
        }
        const a = await o.answer(p, q);
        calls += a.calls;
        records.append({ ...base, ...a.fields } as R);
        progress();
      }
    }
  } finally {
    records.close();
  }
  const all = records.records;
  const failed = all.filter((r) => r.error).length;
  return {
    task: o.task,
    protocol: typeof o.config.protocol === 'string' ? o.config.protocol : undefined,
    figures: o.figures(all.filter((r) => !r.error)),
    units: { total, done: all.length, failed, resumed },
    llm: llmDelta(o.llm.id, calls, before, o.llm.stats()),
    wallSeconds: (Date.now() - t0) / 1000,
    out: o.out,
    notes: [...o.notes, ...(records.duplicateNote() ? [records.duplicateNote()!] : [])],
  };
}

/**
 * The folder an examples file's image names are relative to: `imageDir` when given, else `images/` beside
 * the file when it exists (COCO and easy-VQA layouts), else the file's own folder.
 */
export function imageFolder(file: string, imageDir?: string): string {
  if (imageDir) return resolve(imageDir);
  const beside = join(dirname(resolve(file)), 'images');
  return existsSync(beside) ? beside : dirname(resolve(file));
}

export function resolveImage(folder: string, image: string): string {
  return isAbsolute(image) ? image : join(folder, image);
}
