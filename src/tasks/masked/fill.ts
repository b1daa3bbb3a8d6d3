// Filling masked local tokens with a causal LLM (paper §4.4; the paper leaves the procedure open, tasks-spec.md
// §4): in raster order, every unmasked id is forced (copied into the sequence), every masked one is the
// model's most probable next token given the prefix and everything before it (predictions included).
// Portable: the LLM interface only. One greedy `generate` step per masked position (a full next-token
// distribution per call, as `topK` returns, costs far more on a 32,000-token vocabulary); `topK` only when
// the greedy token is not a local codebook id or ends the sequence. A backend that reuses its KV cache
// evaluates each token of the sequence about once.
import type { LLM, Prompt } from '../../models/llm/types.js';

export interface FillOptions {
  /** The text prefix (the global tokens), evaluated from the start of the input. */
  prefix: Prompt;
  /** The h*w local ids in raster order (the masked ones are not looked at). */
  local: readonly number[];
  /** Masked positions (any order). */
  masked: readonly number[];
  /** Ids the decoder can take (the local codebook); the most probable allowed id is chosen. */
  allowed: (id: number) => boolean;
  /** Candidates looked at when the greedy token is not allowed (default 32). */
  candidates?: number;
  onStep?: (done: number, total: number) => void;
}

export interface FillResult {
  /** The local ids with the masked positions predicted. */
  ids: number[];
  calls: number;
}

export async function fillMasked(llm: LLM, o: FillOptions): Promise<FillResult> {
  const isMasked = new Uint8Array(o.local.length);
  for (const p of o.masked) {
    if (!Number.isInteger(p) || p < 0 || p >= o.local.length) throw new Error(`masked position ${p} is outside [0, ${o.local.length})`);
    isMasked[p] = 1;
  }
  const total = o.masked.length;
  const ids: number[] = [];
  let calls = 0;
  let done = 0;
  for (let p = 0; p < o.local.length; p++) {
    if (!isMasked[p]) {
      ids.push(o.local[p]!);
      continue;
    }
    calls++;
    const g = await llm.generate([{ ids: [...ids] }], { prefix: o.prefix, maxTokens: 1, temperature: 0 });
    const greedy = g.ids[0];
    if (greedy !== undefined && g.stopReason !== 'eos' && o.allowed(greedy)) {
      ids.push(greedy);
      o.onStep?.(++done, total);
      continue;
    }
    const [top] = await llm.topK([[{ ids: [...ids] }]], o.candidates ?? 32, { prefix: o.prefix });
    calls++;
    const best = top!.find((e) => o.allowed(e.id));
    if (!best) throw new Error(`position ${p}: none of the ${top!.length} most probable tokens is a local codebook id`);
    ids.push(best.id);
    o.onStep?.(++done, total);
  }
  return { ids, calls };
}
