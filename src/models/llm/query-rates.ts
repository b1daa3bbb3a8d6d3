// Queries/s of top-k and score beside llama.cpp's own evaluation of the same tokens (greedy next token,
// no distribution), measured interleaved in one run: what a distribution costs on top of the model.
// Shared by `npm run bench -- llm` and `npm run bench -- codebook` (Node edge).
import type { LlamaCppLLM } from './llama-cpp.js';
import type { Prompt } from './types.js';

export interface QueryRates {
  /** Queries/s: top-k of one subword's next token after the prefix (the codebook expansion's query). */
  topK: number;
  /** Queries/s of llama.cpp's greedy evaluation of the same tokens. */
  topKBaseline: number;
  /** Queries/s: score of a two-token continuation after the prefix. */
  score: number;
  scoreBaseline: number;
  /** The process's CPU milliseconds per query of each (user + system, all threads): load-independent. */
  cpuMs: { topK: number; topKBaseline: number; score: number; scoreBaseline: number };
}

/**
 * `queries` subwords spread over the vocabulary (special tokens left out), after the prefix "a photo of",
 * in `chunks` chunks; per chunk the four runs follow each other (baseline and top-k, baseline and score,
 * each pair's order alternating from chunk to chunk), so that load from other jobs hits all alike (short
 * chunks: a burst of load lands on all four about equally). Rates: queries over the summed seconds of each; CPU time is summed alike.
 */
export async function measureQueryRates(llm: LlamaCppLLM, usable: readonly number[], queries: number, chunks = 32): Promise<QueryRates> {
  const prefix = 'a photo of';
  const ids = Array.from({ length: queries }, (_, i) => usable[Math.floor(((i + 0.5) * usable.length) / queries)]!);
  const next = ids.map((_, i) => ids[(i * 7 + 3) % ids.length]!);
  const seconds = { topK: 0, topKBaseline: 0, score: 0, scoreBaseline: 0 };
  const cpu = { ...seconds };
  const time = async (key: keyof typeof seconds, fn: () => Promise<unknown>) => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    seconds[key] += (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    cpu[key] += (c.user + c.system) / 1000;
  };
  await llm.topK(ids.slice(0, 8).map((t): Prompt => [{ ids: [t] }]), 5, { prefix }); // warm-up
  for (let c = 0; c < chunks; c++) {
    const lo = Math.floor((c * queries) / chunks);
    const hi = Math.floor(((c + 1) * queries) / chunks);
    const one: Prompt[] = ids.slice(lo, hi).map((t) => [{ ids: [t] }]);
    const two: Prompt[] = ids.slice(lo, hi).map((t) => [prefix, { ids: [t] }]);
    const conts: Prompt[] = ids.slice(lo, hi).map((t, i) => [{ ids: [t, next[lo + i]!] }]);
    // Each pair in alternating order (ABBA), so that neither side always runs first.
    const pair = async (a: () => Promise<void>, b: () => Promise<void>) => {
      if (c % 2 === 0) await a().then(b);
      else await b().then(a);
    };
    await pair(() => time('topKBaseline', () => llm.greedyNext(one, { prefix })), () => time('topK', () => llm.topK(one, 5, { prefix })));
    // score evaluates the prefix's last token and the continuation's first (outputs at both).
    await pair(() => time('scoreBaseline', () => llm.greedyNext(two, { outputs: 2 })), () => time('score', () => llm.score(prefix, conts)));
  }
  return {
    topK: queries / seconds.topK, topKBaseline: queries / seconds.topKBaseline,
    score: queries / seconds.score, scoreBaseline: queries / seconds.scoreBaseline,
    cpuMs: { topK: cpu.topK / queries, topKBaseline: cpu.topKBaseline / queries, score: cpu.score / queries, scoreBaseline: cpu.scoreBaseline / queries },
  };
}

/** The report lines, ending with the two ratios. */
export function formatQueryRates(r: QueryRates, distribution: string): string[] {
  return [
    `llama.cpp greedy, same tokens as top-k: ${r.topKBaseline.toFixed(0)} queries/s`,
    `top-k (k = 5, ${distribution}): ${r.topK.toFixed(0)} queries/s`,
    `llama.cpp greedy, same tokens as score: ${r.scoreBaseline.toFixed(0)} queries/s`,
    `score (2-token continuations, ${distribution}): ${r.score.toFixed(0)} queries/s`,
    `CPU per query: top-k ${r.cpuMs.topK.toFixed(2)} ms vs greedy ${r.cpuMs.topKBaseline.toFixed(2)} ms, score ${r.cpuMs.score.toFixed(2)} ms vs greedy ${r.cpuMs.scoreBaseline.toFixed(2)} ms`,
    `ratio topk/llama.cpp ${(r.topK / r.topKBaseline).toFixed(2)}`,
    `ratio score/llama.cpp ${(r.score / r.scoreBaseline).toFixed(2)}`,
  ];
}
