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
