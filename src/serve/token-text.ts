// LLM vocabulary pieces as the viewer shows them: the raw piece, readable. A word-boundary space is the
// visible mark "▁" (SentencePiece's own; byte-level BPE's "Ġ" is shown the same way), a byte with no
// printable text of its own is `<0xNN>` (newline, tab, UTF-8 fragments), special tokens as stored ("<s>").
// Portable: the browser runtime shows and searches tokens the same way.
import { isSpecialToken, tokenBytes, type TokenStyle } from '../codebook/render.js';

const hex2 = (b: number) => b.toString(16).toUpperCase().padStart(2, '0');

export function displayPiece(raw: string, style: TokenStyle = 'sentencepiece', type?: number): string {
  if (isSpecialToken(raw, type)) return raw;
  const bytes = tokenBytes(raw, style, type);
  if (!bytes.length) return raw || '∅';
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return [...bytes].map((b) => `<0x${hex2(b)}>`).join('');
  }
  let out = '';
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (ch === ' ') out += '▁';
    else if (c < 0x20 || c === 0x7f || (c >= 0x80 && c < 0xa0)) out += [...new TextEncoder().encode(ch)].map((b) => `<0x${hex2(b)}>`).join('');
    else out += ch;
  }
  return out;
}

/**
 * Ids of the texts matching `q` (case-insensitive): exact first, then exact without the word-boundary mark
 * (`pieces`), then prefix, then substring; shorter texts first within each, at most `limit`.
 */
export function rankTexts(texts: readonly string[], q: string, limit: number, pieces: boolean): number[] {
  const needle = q.trim().toLowerCase();
  if (!needle) return [];
  const buckets: number[][] = [[], [], [], []];
  texts.forEach((t, id) => {
    const s = t.toLowerCase();
    const bare = pieces ? s.replace(/^▁/, '') : s;
    if (s === needle) buckets[0].push(id);
    else if (bare === needle) buckets[1].push(id);
    else if (bare.startsWith(needle)) buckets[2].push(id);
    else if (s.includes(needle)) buckets[3].push(id);
  });
  for (const b of buckets) b.sort((x, y) => texts[x].length - texts[y].length || x - y);
  return buckets.flat().slice(0, limit);
}
