// The LLM's vocabulary as plain data: raw token texts in id order, their hash, and how a token's raw
// text becomes the bytes it stands for. Portable: Web Crypto for the hash, no Node API. Reading a GGUF
// is in ./gguf-vocabulary.ts (Node edge).
import type { Vocabulary } from './types.js';

/** GGUF token types (llama.cpp `llama_token_type`). */
export const TokenType = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

/** sha256 (hex) of the token texts joined by "\n": the identity of a vocabulary in manifests. */
export async function vocabularyHash(tokens: readonly string[]): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(tokens.join('\n')));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export async function makeVocabulary(
  tokens: readonly string[],
  extra: { bos?: number; eos?: number; model?: string; types?: readonly number[] } = {},
): Promise<Vocabulary> {
  if (extra.types && extra.types.length !== tokens.length) {
    throw new Error(`vocabulary: ${extra.types.length} token types for ${tokens.length} tokens`);
  }
  return { size: tokens.length, tokens, hash: await vocabularyHash(tokens), ...extra };
}

// GPT-2 byte-level BPE writes each byte as a printable code point; this is its inverse table.
let gpt2Inverse: Map<number, number> | undefined;
function gpt2ByteOf(cp: number): number | undefined {
  if (!gpt2Inverse) {
    gpt2Inverse = new Map();
    const printable: number[] = [];
    for (let b = 33; b <= 126; b++) printable.push(b);
    for (let b = 161; b <= 172; b++) printable.push(b);
    for (let b = 174; b <= 255; b++) printable.push(b);
    const set = new Set(printable);
    let n = 0;
    for (let b = 0; b < 256; b++) {
      if (set.has(b)) gpt2Inverse.set(b, b);
      else gpt2Inverse.set(256 + n++, b);
    }
  }
  return gpt2Inverse.get(cp);
}

const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;
const enc = new TextEncoder();

/**
 * The bytes a token stands for in generated text. SentencePiece ("llama"): "▁" is a space, "<0xNN>" is
 * byte NN. Byte-level BPE ("gpt2"): each code point maps back to one byte. Control and unused tokens
 * (e.g. "<s>") render as nothing, as llama.cpp's detokenizer does without `special`.
 */
export function tokenBytes(vocab: Vocabulary, id: number): Uint8Array {
  const text = vocab.tokens[id];
  if (text === undefined) throw new Error(`token id ${id} is outside the vocabulary (size ${vocab.size})`);
  const type = vocab.types?.[id];
  if (type === TokenType.control || type === TokenType.unused) return new Uint8Array(0);
  if (vocab.model === 'gpt2') {
    if (type === TokenType.userDefined) return enc.encode(text);
    const out: number[] = [];
    for (const ch of text) {
      const b = gpt2ByteOf(ch.codePointAt(0)!);
      if (b === undefined) return enc.encode(text);
      out.push(b);
    }
    return Uint8Array.from(out);
  }
  const m = BYTE_TOKEN.exec(text);
  if (m && (type === undefined || type === TokenType.byte)) return Uint8Array.of(parseInt(m[1]!, 16));
  return enc.encode(text.replaceAll('\u2581', ' '));
}

/** Text of a token sequence as generated output (bytes joined, then decoded as UTF-8). */
export function renderTokens(vocab: Vocabulary, ids: readonly number[]): string {
  const parts = ids.map((id) => tokenBytes(vocab, id));
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    all.set(p, off);
    off += p.length;
  }
  return new TextDecoder().decode(all);
}

/** A short printable sample of a vocabulary: [id, raw text] pairs spread evenly over the ids. */
export function vocabularySample(vocab: Vocabulary, count: number): { id: number; token: string }[] {
  const n = Math.min(count, vocab.size);
  const out: { id: number; token: string }[] = [];
  for (let i = 0; i < n; i++) {
    const id = Math.floor((i * vocab.size) / n);
    out.push({ id, token: vocab.tokens[id]! });
  }
  return out;
}
