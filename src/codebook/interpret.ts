// Semantic interpretation (paper §4, Fig. 5): an image's global tokens, read as words. The CLIP image
// embedding's nearest global-codebook entries by the global quantizer's own distance
// |z|^2 + |e|^2 - 2 z.e (nearest first), so these are exactly the words the tokenizer would emit.
// Portable: embeddings in, entries out.
import { topK } from '../models/clip/distance.js';
import type { Codebook, GlobalEntry } from './package.js';

export interface Interpretation {
  /** Global codebook row. */
  row: number;
  entry: GlobalEntry;
  /** Squared Euclidean distance (the ranking). */
  distance: number;
  /** Cosine similarity, for reading. */
  cosine: number;
}

/** The k nearest global entries of one L2-normalised CLIP image embedding [dim]. */
export function interpretEmbedding(imageEmbedding: Float32Array, codebook: Pick<Codebook, 'global' | 'globalEntries' | 'dim'>, k = 5): Interpretation[] {
  const { global, globalEntries, dim } = codebook;
  if (imageEmbedding.length !== dim) throw new Error(`interpret: the image embedding has ${imageEmbedding.length} values, the codebook is ${dim}-d`);
  const rows = global.length / dim;
  if (rows === 0) throw new Error('interpret: the global codebook is empty');
  const kk = Math.min(k, rows);
  const near = topK(imageEmbedding, global, dim, kk, { metric: 'sqeuclidean' });
  let zz = 0;
  for (let j = 0; j < dim; j++) zz += imageEmbedding[j] * imageEmbedding[j];
  const out: Interpretation[] = [];
  for (let i = 0; i < kk; i++) {
    const row = near.indices[i];
    let dot = 0;
    let ee = 0;
    for (let j = 0; j < dim; j++) {
      const e = global[row * dim + j];
      dot += imageEmbedding[j] * e;
      ee += e * e;
    }
    out.push({ row, entry: globalEntries[row], distance: near.values[i], cosine: zz > 0 && ee > 0 ? dot / Math.sqrt(zz * ee) : 0 });
  }
  return out;
}
