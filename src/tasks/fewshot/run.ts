// Node edge: the few-shot episode loop. Images -> global tokens (once per image, cached), then per query:
// the prompt (./prompt.ts), the answer (./decode.ts), one JSON-lines record, appended in query order, so
// that a run killed at any moment resumes with at most the query in flight done again and ends with the
// same file as an uninterrupted run.
import { createHash } from 'node:crypto';
import type { LLM } from '../../models/llm/types.js';
import { isTokensFailure, type ImageTokenProvider } from '../image-tokens.js';
import { RunRecords } from '../records.js';
import { llmDelta, type RunSummary } from '../summary.js';
import type { OnProgress } from '../../util/progress.js';
import { formatSplit, type Episode } from './episodes.js';
import { answerIds, buildFewshotPrompt, encodePrompt, uniqueSorted, type FewshotProtocol, type FewshotTokenizer } from './prompt.js';
import { prefixCorrect } from './decode.js';
import { answerQuery, type FewshotDecoding } from './answer.js';
import { wilson95 } from './stats.js';

export type { FewshotDecoding };

export interface FewshotImageRecord {
  /** The episode's field, `wnid/filename`. */
  source: string;
  /** The image file it was read from (as resolved from the images root; a viewer can show it). */
  file: string;
  global_ids: number[];
  global_texts: string[];
}

export interface FewshotRecord {
  /** Query index over the run (= the split file's line index): the unit of work. */
  unit: number;
  /** Episode index (queries of one episode share its support block). */
  episode: number;
  /** Split-file line (1-based), when the episodes came from a file. */
  line?: number;
  support: (FewshotImageRecord & { label: string })[];
  query: FewshotImageRecord;
  prompt_ids: number[];
  generated_ids: number[];
  generated_text: string;
  /** A class name as in the mapping, or null when the answer names none (reference decoding only). */
  prediction: string | null;
  truth: string;
  correct: boolean;
  /** Set when the unit failed (unreadable image): the reason; the figures leave it out. */
  error?: string;
}

export interface FewshotRunOptions {
  episodes: readonly Episode[];
  /** The image file of a `wnid/filename` field. */
  resolve: (field: string) => string;
  className: (wnid: string) => string;
  tokens: ImageTokenProvider;
  llm: LLM;
  globalTokens: number;
  induction: boolean;
  repeats: number;
  protocol: FewshotProtocol;
  decoding: FewshotDecoding;
  /** Reference decoding only: the reference's max_seq_len cap (see referenceDecode). */
  maxSeqLen?: number;
  /** JSON-lines output (resumed when it exists); none keeps the records in memory. */
  out?: string;
  fresh?: boolean;
  /** Extra configuration fields for the resume check (e.g. where the episodes came from). */
  config?: Record<string, unknown>;
  onProgress?: OnProgress;
}

export interface FewshotRunResult {
  /** The run's records (with `out`: read from the file when asked). */
  readonly records: FewshotRecord[];
  summary: RunSummary;
}

/** The context window of a local model (node-llama-cpp), where the backend tells it. */
function contextOf(llm: LLM): number | undefined {
  const c = (llm as { contextSize?: unknown }).contextSize;
  return typeof c === 'number' && c > 0 ? c : undefined;
}

export async function runFewshot(o: FewshotRunOptions): Promise<FewshotRunResult> {
  const t0 = Date.now();
  const vocab = await o.llm.vocabulary();
  const tok: FewshotTokenizer = { tokenize: (t) => o.llm.tokenize(t), bos: vocab.bos };
  const eos = vocab.eos ?? 2;
  const answerMax = o.decoding === 'reference' ? 16 : 0;

  const config = {
    task: 'fewshot', protocol: o.protocol, decoding: o.decoding, induction: o.induction, repeats: o.repeats,
    global_tokens: o.globalTokens, max_seq_len: o.maxSeqLen ?? null, llm: o.llm.id, vocabulary: vocab.hash,
    tokens: o.tokens.id, episodes: createHash('sha256').update(formatSplit(o.episodes)).digest('hex').slice(0, 16),
    ...o.config,
  };
  const memory: FewshotRecord[] = [];
  const log = o.out ? RunRecords.open<FewshotRecord>(o.out, config, (r) => String(r.unit), { fresh: o.fresh }) : null;
  const has = (unit: number) => (log ? log.has(String(unit)) : false);
  const resumed = log ? log.size : 0;
  const calls = { n: 0 };
  const before = o.llm.stats();
  try {
    // 1. Global tokens of every image still needed, once per image (the provider caches them on disk).
    const todo = o.episodes.filter((e) => e.queries.some((q) => !has(q.unit)));
    const files = [...new Set(todo.flatMap((e) => [...e.support, ...e.queries].map((x) => o.resolve(x.field))))];
    const got = await o.tokens.global(files, o.globalTokens, o.onProgress && ((e) => o.onProgress!({ ...e, stage: 'global tokens' })));
    const byFile = new Map(files.map((f, i) => [f, got[i]!]));

    // A query's record fields and prompt ids (or the reason it cannot run).
    const total = o.episodes.reduce((s, e) => s + e.queries.length, 0);
    const ctx = contextOf(o.llm);
    const prepare = async (e: Episode, q: Episode['queries'][number], names: string[], longest: number): Promise<Pending> => {
      const imgs = [...e.support, q].map((x) => ({ field: x.field, r: byFile.get(o.resolve(x.field))! }));
      const img = (i: number): FewshotImageRecord => {
        const r = imgs[i]!.r;
        return { source: imgs[i]!.field, file: o.resolve(imgs[i]!.field), global_ids: isTokensFailure(r) ? [] : r.global.ids, global_texts: isTokensFailure(r) ? [] : r.global.texts };
      };
      const base = {
        unit: q.unit, episode: e.index, ...(q.line !== undefined ? { line: q.line } : {}),
        support: e.support.map((s, i) => ({ ...img(i), label: o.className(s.wnid) })),
        query: img(e.support.length),
        truth: o.className(q.wnid),
      };
      const failed = imgs.find((x) => isTokensFailure(x.r));
      if (failed) return { base, names, error: `${failed.field}: ${(failed.r as { error: string }).error}` };
      const segments = buildFewshotPrompt({
        protocol: o.protocol, induction: o.induction, repeats: o.repeats,
        support: base.support.map((s) => ({ globalTexts: s.global_texts, label: s.label })),
        query: { globalTexts: base.query.global_texts },
        classNames: names,
      });
      const { ids } = await encodePrompt(segments, o.protocol, tok);
      if (ctx !== undefined && ids.length + longest > ctx) {
        throw new Error(`episode ${e.index}${q.line ? ` (line ${q.line})` : ''}: the prompt has ${ids.length} tokens and the answer up to ${longest}, more than the ${ctx}-token context of ${o.llm.id}; use fewer shots/repeats/global tokens, a larger --context-size, or a model with a longer context`);
      }
      return { base, names, ids };
    };
    const queriesOf = async function* (): AsyncGenerator<[Episode, Episode['queries'][number], string[], number]> {
      for (const e of o.episodes) {
        if (e.queries.every((q) => has(q.unit))) continue;
        const names = uniqueSorted(e.support.map((s) => o.className(s.wnid)));
        const longest = o.decoding === 'trie' ? Math.max(...(await Promise.all(names.map((n) => answerIds(o.protocol, n, tok)))).map((a) => a.length)) : answerMax;
        for (const q of e.queries) if (!has(q.unit)) yield [e, q, names, longest];
      }
    };

    // 2. Every pending query's prompt, built before any LLM work, so that one that cannot fit the
    //    context is refused up front (tokenization only). The first ones are kept; the rest are built
    //    again when their turn comes, so that memory does not grow with the number of queries.
    const KEEP = 1024;
    const kept: Pending[] = [];
    for await (const [e, q, names, longest] of queriesOf()) {
      const p = await prepare(e, q, names, longest);
      if (kept.length < KEEP) kept.push(p);
    }

    // 3. Each query: answer, record, in order.
    let done = resumed;
    let i = 0;
    for await (const [e, q, names, longest] of queriesOf()) {
      const p = i < kept.length ? kept[i]! : await prepare(e, q, names, longest);
      if (i < kept.length) kept[i] = undefined as unknown as Pending; // let it go
      i++;
      let rec: FewshotRecord;
      if (p.error !== undefined) {
        rec = { ...p.base, prompt_ids: [], generated_ids: [], generated_text: '', prediction: null, correct: false, error: p.error };
      } else {
        const ans = await answerQuery(o, vocab, tok, p.ids!, p.names, eos);
        calls.n += ans.calls;
        const truth = p.base.truth;
        const correct = o.decoding === 'trie' || o.protocol === 'paper' ? ans.prediction === truth : prefixCorrect(ans.text, truth);
        rec = { ...p.base, prompt_ids: p.ids!, generated_ids: ans.ids, generated_text: ans.text, prediction: ans.prediction, correct };
      }
      if (log) log.append(rec);
      else memory.push(rec);
      done++;
      o.onProgress?.({ stage: 'episodes', done, total });
    }
  } finally {
    log?.close();
  }
  // The figures are read back from the records (streamed from disk), so that they are what the file holds.
  const summary = summarize(o, log ? log.each() : memory, queryCount(o.episodes), resumed, calls.n, before, t0);
  if (log?.duplicateNote()) summary.notes.push(log.duplicateNote()!);
  return {
    get records() {
      return log ? log.records : memory;
    },
    summary,
  };
}

interface Pending {
  base: Omit<FewshotRecord, 'prompt_ids' | 'generated_ids' | 'generated_text' | 'prediction' | 'correct'>;
  names: string[];
  ids?: number[];
  error?: string;
}

function queryCount(episodes: readonly Episode[]): number {
  return episodes.reduce((s, e) => s + e.queries.length, 0);
}

function summarize(o: FewshotRunOptions, records: Iterable<FewshotRecord>, total: number, resumed: number, calls: number, before: ReturnType<LLM['stats']>, t0: number): RunSummary {
  let n = 0;
  let failed = 0;
  let correct = 0;
  for (const r of records) {
    n++;
    if (r.error) failed++;
    else if (r.correct) correct++;
  }
  const ok = { length: n - failed };
  const ci = wilson95(correct, ok.length);
  const delta = llmDelta(o.llm.id, calls, before, o.llm.stats());
  const notes: string[] = [];
  if (o.tokens.isStandIn || /random|stories260K/i.test(o.llm.id)) {
    notes.push('MEANINGLESS figures: the global tokens come from a stand-in CLIP and/or the LLM has random or toy weights; they only show that the pipeline runs');
  }
  if (o.protocol === 'reference') notes.push('protocol reference: the reference\'s prompt, bugs included (unbalanced "[" in the instruction, global-token strings glued with no separator); see docs/tasks.md');
  if (o.decoding === 'reference') notes.push('decoding reference: per-position union mask (may emit a hybrid of two names), scored by prefix match');
  notes.push(`KV reuse: ${delta.evaluatedTokens} tokens evaluated, ${delta.evaluatedTokens + delta.reusedTokens} without reuse`);
  return {
    task: 'fewshot',
    protocol: o.protocol,
    figures: {
      accuracy: ok.length ? correct / ok.length : null,
      ci95_low: ci ? ci[0] : null,
      ci95_high: ci ? ci[1] : null,
      correct,
      episodes: ok.length,
    },
    units: { total, done: n, failed, resumed },
    llm: delta,
    wallSeconds: (Date.now() - t0) / 1000,
    ...(o.out ? { out: o.out } : {}),
    notes,
  };
}
