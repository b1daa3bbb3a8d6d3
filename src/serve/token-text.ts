// LLM vocabulary pieces as the viewer shows them: the raw piece, readable. A word-boundary space is the
// visible mark "▁" (SentencePiece's own; byte-level BPE's "Ġ" is shown the same way), a byte with no
// printable text of its own is `<0xNN>` (newline, tab, UTF-8 fragments), special tokens as stored ("<s>").
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
