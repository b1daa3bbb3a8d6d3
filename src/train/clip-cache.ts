// The frozen CLIP image embeddings of the training images (from which the global tokens follow), computed
// once and kept on disk: CLIP never changes during training, so every epoch and every resumed run reuses
// them. This is the project's one CLIP embedding cache (../models/clip/embedding-cache.ts), the same one
// `v2l codebook build` fills: point `--clip-cache` at a codebook build's cache folder and the filter
// images already embedded there are not embedded again.
import type { ClipModel } from '../models/clip/types.js';
import { EmbeddingCache, embedImageFiles, imageCacheNamespace } from '../models/clip/embedding-cache.js';
import type { OnProgress } from '../util/progress.js';

export interface EmbedFilesOptions {
  /** Images per CLIP call and per shard (default 32). */
  batchSize?: number;
  onProgress?: OnProgress;
}

export class ClipEmbeddingCache {
  private readonly cache: EmbeddingCache;

  /** `root`: the cache folder; entries of this CLIP go in `<root>/image-<fingerprint prefix>/`. */
  constructor(root: string, readonly clip: ClipModel) {
    this.cache = new EmbeddingCache(root, imageCacheNamespace(clip), clip.dim);
  }

  get dir(): string {
    return this.cache.dir;
  }

  /** Number of cached embeddings. */
  get size(): number {
    return this.cache.size;
  }

  /**
   * Embeddings of `files`, [n, dim] row-major in the given order, computing (and caching) the missing ones.
   * Identical file contents share one entry.
   */
  embedFiles(files: readonly string[], opts: EmbedFilesOptions = {}): Promise<Float32Array> {
    return embedImageFiles(this.clip, files, this.cache, opts);
  }
}
