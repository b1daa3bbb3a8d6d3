// The frozen CLIP image embeddings of the training images (from which the global tokens follow), computed
// once and kept on disk: CLIP never changes during training, so every epoch and every resumed run reuses
// them. Entries are keyed by the sha256 of the image file's bytes and live in a folder per CLIP
// fingerprint, as safetensors shards written atomically (a killed job keeps every finished shard).
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClipModel } from '../models/clip/types.js';
import { readSafetensors, writeSafetensors } from '../io/files.js';
import type { OnProgress } from '../util/progress.js';

export function sha256File(path: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read image ${path}: ${(e as Error).message}`);
  }
  return createHash('sha256').update(bytes).digest('hex');
}

export interface EmbedFilesOptions {
  /** Images per CLIP call (default 32). */
  batchSize?: number;
  /** Embeddings per shard file (default 1024). */
  shardSize?: number;
  onProgress?: OnProgress;
}

export class ClipEmbeddingCache {
  readonly dir: string;
  private readonly entries = new Map<string, Float32Array>();
  private loaded = false;

  /** `root`: the cache folder; entries of this CLIP go in `<root>/<fingerprint prefix>/`. */
  constructor(root: string, readonly clip: ClipModel) {
    this.dir = join(root, `clip-${clip.fingerprint.slice(0, 16)}`);
  }

  /** Number of cached embeddings (after the first lookup). */
  get size(): number {
    return this.entries.size;
  }

  private load(): void {
    if (this.loaded) return;
    this.loaded = true;
    if (!existsSync(this.dir)) return;
    for (const f of readdirSync(this.dir).filter((n) => /^shard-.*\.safetensors$/.test(n)).sort()) {
      const path = join(this.dir, f);
      const { tensors, metadata } = readSafetensors(path);
      if (metadata.clip !== this.clip.fingerprint) throw new Error(`${path}: CLIP embedding shard of another model (fingerprint ${metadata.clip}, expected ${this.clip.fingerprint}); remove it`);
      const e = tensors.get('embeddings');
      let keys: unknown;
      try {
        keys = JSON.parse(metadata.keys ?? 'null');
      } catch {
        keys = null;
      }
      if (!e || e.dtype !== 'F32' || e.shape.length !== 2 || e.shape[1] !== this.clip.dim || !Array.isArray(keys) || keys.length !== e.shape[0]) {
        throw new Error(`${path}: not a CLIP embedding shard (needs F32 "embeddings" [n, ${this.clip.dim}] and n keys); remove it`);
      }
      const data = e.data as Float32Array;
      keys.forEach((k, i) => this.entries.set(String(k), data.subarray(i * this.clip.dim, (i + 1) * this.clip.dim)));
    }
  }

  /**
   * Embeddings of `files`, [n, dim] row-major in the given order, computing (and caching) the missing ones.
   * Identical file contents share one entry.
   */
  async embedFiles(files: readonly string[], opts: EmbedFilesOptions = {}): Promise<Float32Array> {
    this.load();
    const dim = this.clip.dim;
    const hashes = files.map(sha256File);
    const todo: { hash: string; path: string }[] = [];
    const seen = new Set<string>();
    hashes.forEach((h, i) => {
      if (!this.entries.has(h) && !seen.has(h)) {
        seen.add(h);
        todo.push({ hash: h, path: files[i] });
      }
    });
    const bs = opts.batchSize ?? 32;
    const shardSize = opts.shardSize ?? 1024;
    let pendingKeys: string[] = [];
    let pending: Float32Array[] = [];
    const flush = () => {
      if (!pendingKeys.length) return;
      const data = new Float32Array(pendingKeys.length * dim);
      pending.forEach((e, i) => data.set(e, i * dim));
      const name = `shard-${Date.now().toString(36)}-${process.pid}-${pendingKeys[0].slice(0, 8)}.safetensors`;
      writeSafetensors(join(this.dir, name), [['embeddings', { dtype: 'F32', shape: [pendingKeys.length, dim], data }]], {
        clip: this.clip.fingerprint,
        clip_id: this.clip.id,
        stand_in: String(this.clip.isStandIn),
        keys: JSON.stringify(pendingKeys),
      });
      pendingKeys = [];
      pending = [];
    };
    for (let i = 0; i < todo.length; i += bs) {
      const chunk = todo.slice(i, i + bs);
      const emb = await this.clip.embedImages(chunk.map((t) => t.path));
      if (emb.length !== chunk.length * dim) throw new Error(`CLIP ${this.clip.id} returned ${emb.length / dim} embeddings for ${chunk.length} images`);
      chunk.forEach((t, k) => {
        const row = emb.slice(k * dim, (k + 1) * dim);
        this.entries.set(t.hash, row);
        pendingKeys.push(t.hash);
        pending.push(row);
      });
      if (pendingKeys.length >= shardSize) flush();
      opts.onProgress?.({ stage: 'CLIP embeddings', done: Math.min(i + bs, todo.length), total: todo.length });
    }
    flush();
    const out = new Float32Array(files.length * dim);
    hashes.forEach((h, i) => out.set(this.entries.get(h)!, i * dim));
    return out;
  }
}
