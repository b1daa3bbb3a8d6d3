// Vocabulary expansion (paper §3.2, "global codebook"): every subword t is appended to a fixed prefix
// ("a photo of") and the frozen LLM's top-M next tokens make bigrams [t, t1]; each bigram is fed again
// and its top-M next tokens make trigrams [t, t1, t2]. The prefix is evaluated once and its KV cache
// reused for every prompt (QueryOptions.prefix); subwords enter as exact token ids, never re-tokenized
// (the reference formats "a photo of %s" with the decoded subword and re-tokenizes it, so a piece such
// as "ing" becomes the word "▁ing"; with ids the bigram is a sequence the LLM itself would produce).
// Work is journaled batch by batch (./journal.ts), so a killed run resumes where it stopped.
// Portable: the journal is an interface.
import type { LLM, Prompt, TopKEntry } from '../models/llm/types.js';
import type { OnProgress } from '../util/progress.js';

export interface ExpansionConfig {
  /** Text before every subword (default "a photo of", as the reference). */
  prefix: string;
  /** Next tokens kept per prompt (M; default 1 = greedy, as the reference). */
  m: number;
  /**
   * 'ids' (default): the subword (and its continuation) enter as exact token ids after the prefix.
   * 'text': as the reference, " " + the decoded texts of the tokens, joined, tokenized by the LLM.
   */
  promptStyle?: 'ids' | 'text';
}

export interface ExpansionBatch {
  /** 1: subword -> bigram continuations; 2: bigram -> trigram continuations. */
  phase: 1 | 2;
  /** First prompt index of the batch within its phase. */
  start: number;
  /** M continuation ids per prompt, prompt-major. */
  next: number[];
}

/** Where finished batches are kept; `done` lists what a previous run already finished. */
export interface ExpansionJournal {
  done(): readonly ExpansionBatch[];
  append(batch: ExpansionBatch): void;
}

export interface Expansion {
  vocabSize: number;
  m: number;
  /** next1[i*m + j]: j-th continuation of subword i (bigram [i, next1[i*m+j]]); -1 for a skipped subword. */
  next1: Int32Array;
  /** next2[p*m + k]: k-th continuation of bigram p = i*m + j (trigram [i, next1[p], next2[p*m+k]]). */
  next2: Int32Array;
}

export interface ExpandStats {
  /** Prompts answered by the LLM in this run. */
  computedPrompts: number;
  /** Prompts taken from the journal of an earlier run. */
  resumedPrompts: number;
  /** Seconds spent in LLM calls in this run. */
  seconds: number;
}

export interface ExpandOptions extends ExpansionConfig {
  /** Prompts per LLM call (default 64). */
  batchSize?: number;
  /** For promptStyle 'text': the text of one token id (the reference's decode([id])). */
  tokenText?: (id: number) => string;
  /** Token ids never used as continuations (default: the special tokens; see build.ts). */
  exclude?: ReadonlySet<number>;
  /**
   * Subwords not expanded (tokens that carry no text, e.g. LLaMA-3's 256 special and reserved tokens):
   * their prompts are never asked, their continuations are -1 and they give no candidate.
   */
  skip?: ReadonlySet<number>;
  /**
   * Expand only the first `limit` subwords that are not skipped (quick builds and tests): later ones are
   * not asked (continuations -1) but stay subword candidates.
   */
  limit?: number;
  journal?: ExpansionJournal;
  onProgress?: OnProgress;
}

/** Runs (or resumes) the expansion of every subword of the LLM's vocabulary. */
export async function expandVocabulary(llm: LLM, vocabSize: number, opts: ExpandOptions): Promise<{ expansion: Expansion; stats: ExpandStats }> {
  const m = opts.m;
  if (!Number.isInteger(m) || m < 1) throw new Error(`expansion: M must be a positive integer (got ${m})`);
  const batchSize = opts.batchSize ?? 64;
  const exclude = opts.exclude ?? new Set<number>();
  const skip = opts.skip ?? new Set<number>();
  // The subword past which nothing is asked (vocabSize: none).
  let end1 = vocabSize;
  if (opts.limit !== undefined) {
    let n = 0;
    for (end1 = 0; end1 < vocabSize && n < opts.limit; end1++) if (!skip.has(end1)) n++;
  }
  const next1 = new Int32Array(vocabSize * m).fill(-1);
  const next2 = new Int32Array(vocabSize * m * m).fill(-1);
  const done1 = new Uint8Array(vocabSize);
  const done2 = new Uint8Array(vocabSize * m);
  let resumedPrompts = 0;
  for (const b of opts.journal?.done() ?? []) {
    const [target, done, size] = b.phase === 1 ? [next1, done1, vocabSize] : [next2, done2, vocabSize * m];
    const count = b.next.length / m;
    if (!Number.isInteger(count) || b.start < 0 || b.start + count > size) {
      throw new Error(`expansion journal: batch (phase ${b.phase}, start ${b.start}) does not fit a vocabulary of ${vocabSize} with M=${m}`);
    }
    target.set(b.next, b.start * m);
    for (let i = b.start; i < b.start + count; i++) {
      if (!done[i]) resumedPrompts++;
      done[i] = 1;
    }
  }

  const total = vocabSize + vocabSize * m;
  let finished = resumedPrompts;
  let computedPrompts = 0;
  let seconds = 0;
  // The top M among the tokens not excluded. Asking for M + |exclude| entries always holds them, but
  // LLaMA-3 excludes 256 (its special tokens) and a top-257 costs far more than the model per prompt (and
  // is over a remote server's limit of 20): ask for M + 8 at most first, then again with every excluded
  // token's room only for a prompt whose first entries hold fewer than M usable ones. The order (p desc,
  // id asc) is total, so the M kept are the same either way.
  const kFull = Math.min(vocabSize, m + exclude.size);
  const kFirst = Math.min(kFull, m + 8);
  const prefix = opts.prefix;
  const usable = (entries: readonly TopKEntry[]) => entries.filter((e) => !exclude.has(e.id)).slice(0, m);
  const topM = async (prompts: Prompt[]): Promise<TopKEntry[][]> => {
    const ask = (ps: Prompt[], k: number) => llm.topK(ps, k, prefix ? { prefix } : {});
    const results = await ask(prompts, kFirst);
    const short = results.flatMap((entries, i) => (usable(entries).length < m ? [i] : []));
    if (short.length && kFirst < kFull) {
      const again = await ask(short.map((i) => prompts[i]!), kFull);
      short.forEach((i, j) => (results[i] = again[j]!));
    }
    return results.map(usable);
  };

  const style = opts.promptStyle ?? 'ids';
  const tokenText = opts.tokenText;
  if (style === 'text' && !tokenText) throw new Error('expansion: promptStyle "text" needs tokenText');
  const toPrompt = (ids: number[]): Prompt => (style === 'ids' ? [{ ids }] : [' ' + ids.map((id) => tokenText!(id)).join('')]);

  const runPhase = async (phase: 1 | 2, size: number, done: Uint8Array, prompt: (p: number) => number[], target: Int32Array): Promise<void> => {
    const stage = phase === 1 ? 'expand bigrams' : 'expand trigrams';
    opts.onProgress?.({ stage, done: finished, total });
    for (let start = 0; start < size; start += batchSize) {
      const end = Math.min(size, start + batchSize);
      // A batch is all-or-nothing in the journal; resume at batch granularity.
      let allDone = true;
      for (let p = start; p < end && allDone; p++) allDone = done[p] === 1;
      if (allDone) continue;
      const prompts: Prompt[] = [];
      const asked: number[] = [];
      for (let p = start; p < end; p++) {
        const ids = prompt(p);
        if (skip.has(ids[0]!) || ids[0]! >= end1) continue;
        asked.push(p);
        prompts.push(toPrompt(ids));
      }
      const t0 = performance.now();
      const results = prompts.length ? await topM(prompts) : [];
      seconds += (performance.now() - t0) / 1000;
      const next: number[] = new Array<number>((end - start) * m).fill(-1);
      results.forEach((kept, i) => {
        if (kept.length < m) throw new Error(`expansion: the LLM returned ${kept.length} usable next tokens for prompt ${asked[i]} of phase ${phase}, need M=${m}`);
        kept.forEach((e, j) => (next[(asked[i]! - start) * m + j] = e.id));
      });
      target.set(next, start * m);
      for (let p = start; p < end; p++) {
        if (!done[p]) finished++;
        done[p] = 1;
      }
      computedPrompts += prompts.length;
      opts.journal?.append({ phase, start, next });
      opts.onProgress?.({ stage, done: finished, total, info: { 'cand/s': computedPrompts / Math.max(seconds, 1e-9) } });
    }
  };

  await runPhase(1, vocabSize, done1, (p) => [p], next1);
  await runPhase(2, vocabSize * m, done2, (p) => [Math.floor(p / m), next1[p]], next2);
  return { expansion: { vocabSize, m, next1, next2 }, stats: { computedPrompts, resumedPrompts, seconds } };
}

export interface Candidate {
  /** Token ids: [t], [t, t1] or [t, t1, t2]. */
  ids: number[];
  text: string;
}

/**
 * All candidates in the paper's order (subwords, then bigrams, then trigrams), deduplicated by text
 * (first occurrence kept) and without empty texts; `skip`ped subwords (no text) and continuations not
 * asked (-1) give none. Returns the size of each stage too.
 */
export function expansionCandidates(e: Expansion, textOf: (ids: readonly number[]) => string, skip?: ReadonlySet<number>): {
  candidates: Candidate[];
  counts: { subwords: number; bigrams: number; trigrams: number; beforeDedupe: number; afterDedupe: number };
} {
  const { vocabSize: n, m, next1, next2 } = e;
  const seen = new Set<string>();
  const candidates: Candidate[] = [];
  const add = (ids: number[]): void => {
    if (ids.some((id) => id < 0)) return;
    const text = textOf(ids);
    if (!text || seen.has(text)) return;
    seen.add(text);
    candidates.push({ ids, text });
  };
  for (let i = 0; i < n; i++) if (!skip?.has(i)) add([i]);
  for (let p = 0; p < n * m; p++) add([Math.floor(p / m), next1[p]]);
  for (let q = 0; q < n * m * m; q++) {
    const p = Math.floor(q / m);
    add([Math.floor(p / m), next1[p], next2[q]]);
  }
  return { candidates, counts: { subwords: n, bigrams: n * m, trigrams: n * m * m, beforeDedupe: n + n * m + n * m * m, afterDedupe: candidates.length } };
}
