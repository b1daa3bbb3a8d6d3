// The local codebook (paper §3.2): the LLM's whole vocabulary, in id order, each entry's rendered text
// (./render.ts) embedded by CLIP's text encoder with the template ensemble. The trainable projector
// (the network's job, not this folder's) maps these rows into visual space.
import type { ClipModel } from '../models/clip/types.js';
import type { Vocabulary } from '../models/llm/types.js';
import { renderVocabulary, tokenStyleOf, type TokenStyle } from './render.js';
import { embedTextsCached, type EmbeddingCache, type TextEmbedOptions } from '../models/clip/embedding-cache.js';

export interface LocalCodebook {
  /** [vocabulary size, dim], row i = token id i. */
  embeddings: Float32Array;
  texts: string[];
  tokenStyle: TokenStyle;
  /** Texts embedded now (the rest came from the cache) and the seconds it took. */
  computed: number;
  seconds: number;
}

export async function buildLocalCodebook(
  clip: ClipModel, vocabulary: Vocabulary, templates: readonly string[], cache: EmbeddingCache,
  opts: TextEmbedOptions & { tokenStyle?: TokenStyle } = {},
): Promise<LocalCodebook> {
  const tokenStyle = opts.tokenStyle ?? tokenStyleOf(vocabulary);
  const texts = renderVocabulary(vocabulary, tokenStyle);
  const r = await embedTextsCached(clip, texts, templates, cache, { stage: 'embed local codebook', ...opts });
  return { embeddings: r.embeddings, texts, tokenStyle, computed: r.computed, seconds: r.seconds };
}
