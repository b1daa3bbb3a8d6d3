// Greedy decoding that stops at the end of the first word (the VQA answer). Portable: only the LLM
// interface. One greedy `generate` step of one token per call (stop strings cannot say "a space after a
// word"; a full distribution per step through `topK` costs far more on a 32,000-token vocabulary); the
// prompt grows by the ids taken, so a backend that reuses its KV cache evaluates only the new tokens (the
// prefix once).
//
// The word is the first run of letters, digits, "'" and "-" after leading whitespace. Decoding stops as
// soon as the decoded text holds something after that run (a space that starts the next word, a ".",
// a line break), at the end of the sequence, or after `maxTokens` ids.
import type { LLM, Prompt, QueryOptions } from '../../models/llm/types.js';

export interface FirstWordResult {
  /** The answer: the first word ('' when the model produced none). */
  word: string;
  /** Ids generated, the token that ended the word included. */
  ids: number[];
  text: string;
  stopReason: 'boundary' | 'eos' | 'maxTokens';
}

const WORD = /^[\p{L}\p{N}'-]+/u;

/** The first word of a decoded text and whether the text already goes past it. */
export function firstWordOf(text: string): { word: string; complete: boolean } {
  const t = text.replace(/^\s+/, '');
  if (!t) return { word: '', complete: false };
  const m = WORD.exec(t);
  if (!m) return { word: '', complete: true };
  return { word: m[0], complete: m[0].length < t.length };
}

export async function generateFirstWord(llm: LLM, prompt: Prompt, opts: QueryOptions & { maxTokens: number; eos?: readonly number[] }): Promise<FirstWordResult> {
  const base: Prompt = typeof prompt === 'string' ? [prompt] : prompt;
  const ids: number[] = [];
  const eos = new Set(opts.eos ?? []);
  const q: QueryOptions = { prefix: opts.prefix, addBos: opts.addBos };
  while (ids.length < opts.maxTokens) {
    const g = await llm.generate([...base, { ids: [...ids] }], { ...q, maxTokens: 1, temperature: 0 });
    const next = g.ids[0];
    if (next === undefined || g.stopReason === 'eos' || eos.has(next)) {
      const text = await llm.detokenize(ids);
      return { word: firstWordOf(text).word, ids, text, stopReason: 'eos' };
    }
    ids.push(next);
    const text = await llm.detokenize(ids);
    const fw = firstWordOf(text);
    if (fw.complete) return { word: fw.word, ids, text, stopReason: 'boundary' };
  }
  const text = await llm.detokenize(ids);
  return { word: firstWordOf(text).word, ids, text, stopReason: 'maxTokens' };
}
