// CLIP's text cleaning (portable): shared by the Node CLIP (./transformers-clip.ts) and the browser's.

/**
 * CLIP's text cleaning before tokenisation: HTML entities unescaped twice (as `html.unescape` twice in
 * simple_tokenizer's basic_clean), then stripped. Whitespace collapse and lower case are in tokenizer.json.
 * (ftfy's mojibake repair is not reproduced.)
 */
export function cleanText(text: string): string {
  return unescapeHtml(unescapeHtml(text)).trim();
}

const NAMED_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };
function unescapeHtml(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z]+);/g, (m, body: string) => {
    if (body[0] === '#') {
      const code = body[1] === 'x' || body[1] === 'X' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : m;
    }
    return NAMED_ENTITIES[body] ?? m;
  });
}

/** What CLIP's text tower needs to know of its tokenizer to batch texts. */
export interface ClipTextTokenizer {
  encode(text: string): number[];
  maxLength: number;
  eosId: number;
  padId: number;
}

/**
 * A batch of texts as CLIP's text tower takes it: `<sot> tokens <eot>` cut to the context with `<eot>` kept
 * last, padded after `<eot>` to the longest (causal attention pooled at `<eot>`: padding never changes an
 * embedding). Returns row-major `[texts, length]` ids and attention mask.
 */
export function clipTextBatch(t: ClipTextTokenizer, texts: readonly string[]): { ids: BigInt64Array; mask: BigInt64Array; length: number } {
  const seqs = texts.map((s) => {
    const ids = t.encode(cleanText(s));
    if (ids.length > t.maxLength) {
      ids.length = t.maxLength;
      ids[t.maxLength - 1] = t.eosId;
    }
    return ids;
  });
  const L = Math.max(...seqs.map((s) => s.length));
  const ids = new BigInt64Array(texts.length * L).fill(BigInt(t.padId));
  const mask = new BigInt64Array(texts.length * L);
  seqs.forEach((s, i) => s.forEach((v, j) => { ids[i * L + j] = BigInt(v); mask[i * L + j] = 1n; }));
  return { ids, mask, length: L };
}
