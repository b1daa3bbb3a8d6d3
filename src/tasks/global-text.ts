// How the global tokens of an image become prompt text. Portable.
//
// The reference concatenates the k entry strings with no separator ("goldfish" + "fish" ->
// "goldfishfish", tasks-spec.md §0, eval_understanding.py:143-145) and encodes that as one text piece.
// The paper writes the tokens as words; v2l's default separates them with a space so the LLM reads
// words, not glued subwords. `reference` reproduces the reference id for id.

export type GlobalTextStyle = 'words' | 'reference';

export function globalText(texts: readonly (string | null)[], style: GlobalTextStyle = 'words'): string {
  const parts = texts.map((t, i) => {
    if (t === null) throw new Error(`global token ${i} has no text: the codebook package holds no global vocabulary texts`);
    return style === 'words' ? t.trim() : t;
  });
  return style === 'words' ? parts.filter((p) => p !== '').join(' ') : parts.join('');
}
