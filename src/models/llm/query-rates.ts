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
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * `queries` subwords spread over the vocabulary (special tokens left out), after the prefix "a photo of";
 * `rounds` interleaved rounds (baseline, top-k, baseline, score), median rates.
 */
export async function measureQueryRates(llm: LlamaCppLLM, usable: readonly number[], queries: number, rounds = 3): Promise<QueryRates> {
  const prefix = 'a photo of';
  const ids = Array.from({ length: queries }, (_, i) => usable[Math.floor(((i + 0.5) * usable.length) / queries)]!);
  const next = ids.map((_, i) => ids[(i * 7 + 3) % ids.length]!);
  const one: Prompt[] = ids.map((t) => [{ ids: [t] }]);
  const two: Prompt[] = ids.map((t) => [prefix, { ids: [t] }]);
  const conts: Prompt[] = ids.map((t, i) => [{ ids: [t, next[i]!] }]);
  const rate = async (fn: () => Promise<unknown>) => {
    const t0 = performance.now();
    await fn();
    return queries / ((performance.now() - t0) / 1000);
  };
  await llm.topK(one.slice(0, 8), 5, { prefix }); // warm-up
  const r: Record<keyof QueryRates, number[]> = { topK: [], topKBaseline: [], score: [], scoreBaseline: [] };
  for (let round = 0; round < rounds; round++) {
    r.topKBaseline.push(await rate(() => llm.greedyNext(one, { prefix })));
    r.topK.push(await rate(() => llm.topK(one, 5, { prefix })));
    // score evaluates the prefix's last token and the continuation's first (outputs at both).
    r.scoreBaseline.push(await rate(() => llm.greedyNext(two, { outputs: 2 })));
    r.score.push(await rate(() => llm.score(prefix, conts)));
  }
  return { topK: median(r.topK), topKBaseline: median(r.topKBaseline), score: median(r.score), scoreBaseline: median(r.scoreBaseline) };
}

/** The report lines, ending with the two ratios. */
export function formatQueryRates(r: QueryRates, distribution: string): string[] {
  return [
    `llama.cpp greedy, same tokens as top-k: ${r.topKBaseline.toFixed(0)} queries/s`,
    `top-k (k = 5, ${distribution}): ${r.topK.toFixed(0)} queries/s`,
    `llama.cpp greedy, same tokens as score: ${r.scoreBaseline.toFixed(0)} queries/s`,
    `score (2-token continuations, ${distribution}): ${r.score.toFixed(0)} queries/s`,
    `ratio topk/llama.cpp ${(r.topK / r.topKBaseline).toFixed(2)}`,
    `ratio score/llama.cpp ${(r.score / r.scoreBaseline).toFixed(2)}`,
  ];
}
