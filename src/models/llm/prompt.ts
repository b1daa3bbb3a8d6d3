// Turning a Prompt (text pieces and raw token ids, mixed) into the exact ids the model sees. Portable:
// the tokenizer is passed in, so the same rules hold for the local and the remote backend.
//
// Rules:
// - Adjacent text pieces are joined into one text run; id pieces are copied exactly, never re-tokenized.
// - A text run at the very start of the model's input is tokenized as the model tokenizes a plain string
//   (a SentencePiece model adds its dummy-prefix "▁", so "Once" -> "▁Once", as llama.cpp does).
// - A text run anywhere else (after ids, or in a prompt that continues a prefix) is tokenized as a
//   continuation: no dummy-prefix space is added, so " a" -> "▁a" and "a" -> "a".
// - Text is never parsed for special tokens: "<s>" in text is three characters. Put specials in as ids.
// - BOS, once, at the start of the model's input (never inside it) unless `addBos` is false.
import type { Prompt, PromptPiece } from './types.js';

export interface PromptTokenizer {
  /** The model's plain tokenization of text: no BOS, no special-token parsing, dummy prefix as the model does. */
  tokenize(text: string): Promise<number[]> | number[];
  readonly bos?: number;
}

/**
 * Tokenize text as a continuation of earlier tokens, without the dummy-prefix space. Done by tokenizing
 * "\n" + text and dropping the tokens of "\n" (a newline never merges with what follows in SentencePiece
 * vocabularies, and is split before pre-tokenization in BPE ones). Where that cannot be verified the
 * plain tokenization is used.
 */
export async function tokenizeContinuation(tok: PromptTokenizer, text: string): Promise<number[]> {
  if (text === '') return [];
  const nl = await tok.tokenize('\n');
  const joined = await tok.tokenize('\n' + text);
  if (nl.length > 0 && joined.length >= nl.length && nl.every((t, i) => joined[i] === t)) return joined.slice(nl.length);
  return [...(await tok.tokenize(text))];
}

function pieces(prompt: Prompt): readonly PromptPiece[] {
  return typeof prompt === 'string' ? [prompt] : prompt;
}

/**
 * Flatten a prompt into ids. `continuation`: the prompt follows earlier tokens (a prefix), so it gets no
 * BOS and its leading text is tokenized as a continuation.
 */
export async function flattenPrompt(
  prompt: Prompt,
  tok: PromptTokenizer,
  opts: { addBos?: boolean; continuation?: boolean } = {},
): Promise<number[]> {
  const out: number[] = [];
  const atStart = !opts.continuation;
  if (atStart && (opts.addBos ?? true) && tok.bos !== undefined && tok.bos >= 0) out.push(tok.bos);
  let run = '';
  let runAtStart = atStart;
  const flush = async () => {
    if (run !== '') out.push(...(runAtStart ? await tok.tokenize(run) : await tokenizeContinuation(tok, run)));
    run = '';
  };
  for (const piece of pieces(prompt)) {
    if (typeof piece === 'string') {
      run += piece;
    } else {
      if (!piece || !Array.isArray(piece.ids)) throw new Error('prompt piece must be a string or { ids: number[] }');
      await flush();
      for (const id of piece.ids) {
        if (!Number.isInteger(id) || id < 0) throw new Error(`prompt piece has an invalid token id: ${String(id)}`);
        out.push(id);
      }
      runAtStart = false;
    }
  }
  await flush();
  return out;
}

/** The model input for a query: the prefix (from the start) followed by the prompt (as a continuation). */
export async function queryIds(
  prompt: Prompt,
  tok: PromptTokenizer,
  opts: { prefix?: Prompt; addBos?: boolean } = {},
): Promise<{ ids: number[]; prefixLength: number }> {
  if (opts.prefix === undefined) {
    const ids = await flattenPrompt(prompt, tok, { addBos: opts.addBos });
    return { ids, prefixLength: 0 };
  }
  const pre = await flattenPrompt(opts.prefix, tok, { addBos: opts.addBos });
  const rest = await flattenPrompt(prompt, tok, { continuation: true });
  return { ids: [...pre, ...rest], prefixLength: pre.length };
}

/** Length of the common leading part of two token sequences. */
export function commonPrefixLength(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/** Indices of token sequences in lexicographic order, so that neighbours share the longest prefixes. */
export function lexicographicOrder(seqs: readonly (readonly number[])[]): number[] {
  return seqs
    .map((_, i) => i)
    .sort((x, y) => {
      const a = seqs[x]!;
      const b = seqs[y]!;
      const c = commonPrefixLength(a, b);
      if (c < a.length && c < b.length) return a[c]! - b[c]!;
      return a.length - b.length || x - y;
    });
}
