// How LLM vocabulary entries become text for CLIP's text encoder. Portable: no Node API.
//
// A raw vocabulary token is what the model stores: SentencePiece pieces such as "▁dog", "s", "<0x0A>",
// "<s>" (LLaMA, LLaMA-2, Mistral) or byte-level BPE pieces such as "Ġdog", "Ċ" (GPT-2, LLaMA-3, Qwen).
// CLIP needs readable text, so every token is rendered by these documented rules:
//
//   word pieces        "▁dog" -> "dog", "ing" -> "ing": the word-boundary marker becomes a space, then trimmed.
//   byte tokens        "<0x41>" -> "A" (printable ASCII as itself); whitespace bytes by name
//                      ("<0x0A>" -> "newline", "<0x09>" -> "tab", "<0x20>" -> "space", "<0x0D>" -> "carriage return");
//                      any other byte (controls, UTF-8 fragments) -> "byte 0xNN".
//   whitespace tokens  "▁" -> "space", "▁▁▁▁" -> "4 spaces", "Ċ" -> "newline".
//   special tokens     "<s>" -> "start", "</s>" -> "end", "<unk>" -> "unknown", "<pad>" -> "padding",
//                      "<|im_start|>" -> "im start" (the name between the bars, "_" read as a space).
//
// An expansion candidate (a subword followed by the LLM's next tokens) is rendered, by default, as the
// detokenized text of its ids ("▁big" "▁dog" -> "big dog", "▁dog" "s" -> "dogs"), with special tokens,
// control characters and split UTF-8 characters dropped and whitespace runs collapsed. The reference joins each token's own decoded text with no separator ("big" + "dog" ->
// "bigdog"); `candidateStyle: 'reference'` reproduces that.

export type TokenStyle = 'sentencepiece' | 'bytelevel';
export type CandidateStyle = 'detokenized' | 'reference';

const SP_SPACE = '▁';
const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;
const NAMED_SPECIALS: ReadonlyMap<string, string> = new Map(Object.entries({
  '<s>': 'start', '</s>': 'end', '<unk>': 'unknown', '<pad>': 'padding', '<mask>': 'mask',
  '<bos>': 'start', '<eos>': 'end', '[CLS]': 'start', '[SEP]': 'end', '[PAD]': 'padding', '[UNK]': 'unknown', '[MASK]': 'mask',
}));
const BAR_SPECIAL = /^<\|([^<>|]+)\|>$/;
const WS_NAMES: ReadonlyMap<string, string> = new Map([[' ', 'space'], ['\n', 'newline'], ['\t', 'tab'], ['\r', 'carriage return']]);

/** Guesses the vocabulary's piece convention from its tokens (SentencePiece "▁" versus byte-level "Ġ"). */
export function detectTokenStyle(tokens: readonly string[]): TokenStyle {
  let sp = 0;
  let bl = 0;
  for (const t of tokens) {
    if (t.includes(SP_SPACE)) sp++;
    else if (t.startsWith('Ġ')) bl++;
  }
  return bl > sp ? 'bytelevel' : 'sentencepiece';
}

// GGUF token types (llama.cpp): 2 unknown, 3 control, 5 unused carry no text; 6 is a byte token.
const SPECIAL_TYPES = new Set([2, 3, 5]);

/** The piece convention of a vocabulary: from its GGUF tokenizer model when known, else guessed. */
export function tokenStyleOf(vocab: { tokens: readonly string[]; model?: string }): TokenStyle {
  if (vocab.model === 'gpt2') return 'bytelevel';
  if (vocab.model === 'llama') return 'sentencepiece';
  return detectTokenStyle(vocab.tokens);
}

/**
 * True for control tokens (BOS/EOS/UNK/PAD, "<|...|>" markers, or GGUF types unknown/control/unused),
 * which carry no text.
 */
export function isSpecialToken(raw: string, type?: number): boolean {
  if (type !== undefined && SPECIAL_TYPES.has(type)) return true;
  return NAMED_SPECIALS.has(raw) || BAR_SPECIAL.test(raw);
}

function specialName(raw: string): string {
  const named = NAMED_SPECIALS.get(raw);
  if (named) return named;
  const bar = BAR_SPECIAL.exec(raw);
  const inner = bar ? bar[1] : raw.replace(/^[<[]+|[>\]]+$/g, '');
  return inner.replace(/_/g, ' ').trim() || 'special';
}

// GPT-2's reversible byte <-> printable character table, used by byte-level BPE vocabularies.
let unicodeToByte: Map<string, number> | null = null;
function byteLevelTable(): Map<string, number> {
  if (unicodeToByte) return unicodeToByte;
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  unicodeToByte = new Map(bs.map((b, i) => [String.fromCodePoint(cs[i]), b]));
  return unicodeToByte;
}

/** The bytes a token stands for (specials give none). */
export function tokenBytes(raw: string, style: TokenStyle, type?: number): Uint8Array {
  if (isSpecialToken(raw, type)) return new Uint8Array(0);
  const m = BYTE_TOKEN.exec(raw);
  if (m) return Uint8Array.of(parseInt(m[1], 16));
  if (style === 'sentencepiece') return new TextEncoder().encode(raw.replaceAll(SP_SPACE, ' '));
  const table = byteLevelTable();
  const out: number[] = [];
  for (const ch of raw) {
    const b = table.get(ch);
    if (b === undefined) out.push(...new TextEncoder().encode(ch));
    else out.push(b);
  }
  return Uint8Array.from(out);
}

function nameWhitespace(s: string): string {
  const chars = [...s];
  if (chars.every((c) => c === ' ')) return chars.length === 1 ? 'space' : `${chars.length} spaces`;
  if (chars.length === 1 && WS_NAMES.has(chars[0])) return WS_NAMES.get(chars[0])!;
  return chars.map((c) => WS_NAMES.get(c) ?? `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`).join(' ');
}

/** One vocabulary entry as the text CLIP embeds for the local codebook (rules in the file comment). */
export function renderToken(raw: string, style: TokenStyle = 'sentencepiece', type?: number): string {
  if (isSpecialToken(raw, type)) return specialName(raw);
  const bytes = tokenBytes(raw, style, type);
  if (bytes.length === 1 && bytes[0] < 0x80) {
    const c = String.fromCharCode(bytes[0]);
    if (WS_NAMES.has(c)) return WS_NAMES.get(c)!;
    if (bytes[0] > 0x20 && bytes[0] < 0x7f) return c;
    return `byte 0x${hex2(bytes[0])}`;
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    // A fragment of a multi-byte UTF-8 character: no text of its own.
    return `byte${bytes.length > 1 ? 's' : ''} ${[...bytes].map((b) => '0x' + hex2(b)).join(' ')}`;
  }
  const trimmed = text.trim();
  if (trimmed) return trimmed;
  return text ? nameWhitespace(text) : 'empty';
}

function hex2(b: number): string {
  return b.toString(16).toUpperCase().padStart(2, '0');
}

/** The parts of an LLM vocabulary rendering needs. */
export interface RenderVocab {
  tokens: readonly string[];
  /** GGUF token types per id, when known. */
  types?: readonly number[];
  model?: string;
}

/** Renders every vocabulary entry, in id order. */
export function renderVocabulary(vocab: RenderVocab, style: TokenStyle = tokenStyleOf(vocab)): string[] {
  return vocab.tokens.map((t, i) => renderToken(t, style, vocab.types?.[i]));
}

/**
 * The text of an expansion candidate (token ids of a subword and its continuations). A single id renders
 * like the local codebook entry, so a subword candidate and its local row share one text.
 */
export function candidateText(ids: readonly number[], vocab: RenderVocab, style: TokenStyle, how: CandidateStyle = 'detokenized'): string {
  const { tokens, types } = vocab;
  if (ids.length === 1) return renderToken(tokens[ids[0]], style, types?.[ids[0]]);
  if (how === 'reference') return ids.map((id) => referencePieceText(tokens[id], style, types?.[id])).join('');
  const parts: Uint8Array[] = ids.map((id) => tokenBytes(tokens[id], style, types?.[id]));
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    all.set(p, off);
    off += p.length;
  }
  // Whitespace runs collapse to one space; control characters and split UTF-8 characters (U+FFFD)
  // have no text for CLIP and are dropped.
  return new TextDecoder('utf-8').decode(all).replace(/\s+/g, ' ').replace(/[\p{Cc}\uFFFD]/gu, '').trim();
}

/** The reference's text of one token id: SentencePiece `decode([id])` (leading space dropped, specials empty). */
export function referenceTokenText(id: number, vocab: RenderVocab, style: TokenStyle): string {
  return referencePieceText(vocab.tokens[id], style, vocab.types?.[id]);
}

function referencePieceText(raw: string, style: TokenStyle, type?: number): string {
  if (isSpecialToken(raw, type)) return '';
  const text = new TextDecoder('utf-8').decode(tokenBytes(raw, style, type));
  return text.replace(/^ /, '');
}
