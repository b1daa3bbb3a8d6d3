// Node edge: THE cache of CLIP embeddings, used by codebook building (texts and filter images) and by
// training (the images' global embeddings) alike, so that a killed or repeated job never embeds the same
// text or image twice, and a codebook build and a training run pointed at one cache folder share it.
// What CLIP sees of an image is the file itself at full resolution, preprocessed by CLIP's own rule
// (tasks-spec §0), so an entry keyed by the file's bytes serves every caller. A cache is a folder of safetensors shards, one per finished batch, each written
// atomically: tensor "embeddings" [n, dim] F32 and metadata "keys" (a JSON array of n content keys).
// The folder name carries the namespace (CLIP fingerprint, and for texts the template set), so a cache
// can be shared between builds without ever mixing models.
import { closeSync, mkdirSync, openSync, readdirSync, readSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSafetensors, readSafetensors } from '../../io/files.js';
import type { ClipModel } from './types.js';
import { embedWithTemplates } from './templates.js';
import type { OnProgress } from '../../util/progress.js';
import { sha256 } from '../../util/hash.js';

/** Reads only the JSON header of a safetensors file (keys are in its metadata). */
function readHeader(path: string): Record<string, unknown> {
  const fd = openSync(path, 'r');
  try {
    const lenBuf = Buffer.alloc(8);
    if (readSync(fd, lenBuf, 0, 8, 0) !== 8) throw new Error(`${path}: too short to be safetensors`);
    const len = Number(lenBuf.readBigUInt64LE(0));
    const buf = Buffer.alloc(len);
    if (readSync(fd, buf, 0, len, 8) !== len) throw new Error(`${path}: truncated safetensors header`);
    return JSON.parse(buf.toString('utf8')) as Record<string, unknown>;
  } finally {
    closeSync(fd);
  }
}

interface Location { shard: string; row: number }

export class EmbeddingCache {
  readonly dir: string;
  private readonly index = new Map<string, Location>();
  private shardCount = 0;
  private loaded = new Map<string, Float32Array>();

  /** `root`/`namespace`: e.g. `<out>/cache` and `text-<fingerprint>-<templates hash>`. */
  constructor(root: string, namespace: string, readonly dim: number, private readonly keepShards = 4) {
    this.dir = join(root, namespace);
    mkdirSync(this.dir, { recursive: true });
    const shards = readdirSync(this.dir).filter((f) => /^shard-\d+(-[0-9a-z]+)?\.safetensors$/.test(f)).sort();
    for (const name of shards) {
      const path = join(this.dir, name);
      const header = readHeader(path);
      const meta = (header.__metadata__ ?? {}) as Record<string, string>;
      const emb = header.embeddings as { shape?: number[] } | undefined;
      if (!meta.keys || !emb?.shape) throw new Error(`${path}: not an embedding cache shard (no "keys" metadata or "embeddings" tensor)`);
      if (emb.shape[1] !== dim) throw new Error(`${path}: embeddings have width ${emb.shape[1]}, this CLIP has ${dim}`);
      const keys = JSON.parse(meta.keys) as string[];
      keys.forEach((k, row) => this.index.set(k, { shard: path, row }));
      this.shardCount = Math.max(this.shardCount, parseInt(name.slice(6), 10) + 1);
    }
  }

  get size(): number {
    return this.index.size;
  }

  has(key: string): boolean {
    return this.index.has(key);
  }

  /** The cached row for `key`, or undefined. */
  get(key: string): Float32Array | undefined {
    const loc = this.index.get(key);
    if (!loc) return undefined;
    let data = this.loaded.get(loc.shard);
    if (!data) {
      const t = readSafetensors(loc.shard).tensors.get('embeddings')!;
      data = new Float32Array(t.data as Float32Array); // own copy: the file buffer is not kept
      this.loaded.set(loc.shard, data);
      if (this.loaded.size > this.keepShards) this.loaded.delete(this.loaded.keys().next().value as string);
    }
    return data.subarray(loc.row * this.dim, (loc.row + 1) * this.dim);
  }

  /** Rows for many keys [keys.length, dim], reading each shard once; throws on a missing key. */
  getMany(keys: readonly string[]): Float32Array {
    const out = new Float32Array(keys.length * this.dim);
    const byShard = new Map<string, number[]>();
    keys.forEach((k, i) => {
      const loc = this.index.get(k);
      if (!loc) throw new Error(`embedding cache ${this.dir}: no entry for key ${k}`);
      let list = byShard.get(loc.shard);
      if (!list) byShard.set(loc.shard, (list = []));
      list.push(i);
    });
    for (const [shard, rows] of byShard) {
      const data = this.loaded.get(shard) ?? (readSafetensors(shard).tensors.get('embeddings')!.data as Float32Array);
      for (const i of rows) {
        const r = this.index.get(keys[i])!.row;
        out.set(data.subarray(r * this.dim, (r + 1) * this.dim), i * this.dim);
      }
    }
    return out;
  }

  /** Stores one finished batch as a new shard (atomically). */
  put(keys: readonly string[], embeddings: Float32Array): void {
    if (embeddings.length !== keys.length * this.dim) throw new Error(`embedding cache: ${keys.length} keys but ${embeddings.length / this.dim} rows`);
    if (keys.length === 0) return;
    // The process id and a random tag keep two writers of one cache from ever replacing each other's shards.
    const path = join(this.dir, `shard-${String(this.shardCount++).padStart(6, '0')}-${process.pid.toString(36)}${Math.random().toString(36).slice(2, 8)}.safetensors`);
    writeSafetensors(path, [['embeddings', { dtype: 'F32', shape: [keys.length, this.dim], data: embeddings }]], { keys: JSON.stringify(keys) });
    keys.forEach((k, row) => this.index.set(k, { shard: path, row }));
    this.loaded.set(path, embeddings);
    if (this.loaded.size > this.keepShards) this.loaded.delete(this.loaded.keys().next().value as string);
  }
}

/** Content key of an image file: sha256 of its bytes (renaming or moving the file keeps the cache). */
export function imageFileKey(path: string): string {
  try {
    return sha256(readFileSync(path));
  } catch (e) {
    throw new Error(`cannot read image ${path}: ${(e as Error).message}`);
  }
}

export interface TextEmbedOptions {
  /** Texts per stage batch: each batch is embedded, then stored as one shard (default 256). */
  batchSize?: number;
  /** Prompts per CLIP call inside embedWithTemplates (default 256). */
  clipBatchSize?: number;
  onProgress?: OnProgress;
  stage?: string;
}

/** Namespace of a text cache: CLIP fingerprint and template set. */
export function textCacheNamespace(clip: ClipModel, templates: readonly string[]): string {
  return `text-${clip.fingerprint.slice(0, 16)}-${sha256(templates.join('\n')).slice(0, 16)}`;
}

/**
 * Template-ensembled CLIP text embeddings ([texts.length, dim], ./templates.ts rule), embedding only
 * the texts the cache lacks, a batch at a time; each finished batch is stored before the next starts.
 */
export async function embedTextsCached(
  clip: ClipModel, texts: readonly string[], templates: readonly string[], cache: EmbeddingCache, opts: TextEmbedOptions = {},
): Promise<{ embeddings: Float32Array; computed: number; cached: number; seconds: number }> {
  const keys = texts.map((t) => sha256(t));
  const missing: number[] = [];
  const seen = new Set<string>();
  keys.forEach((k, i) => {
    if (!cache.has(k) && !seen.has(k)) {
      missing.push(i);
      seen.add(k);
    }
  });
  const batchSize = Math.max(1, opts.batchSize ?? 256);
  const stage = opts.stage ?? 'embed texts';
  let seconds = 0;
  opts.onProgress?.({ stage, done: texts.length - missing.length, total: texts.length });
  for (let s = 0; s < missing.length; s += batchSize) {
    const idx = missing.slice(s, s + batchSize);
    const t0 = performance.now();
    const emb = await embedWithTemplates(clip, idx.map((i) => texts[i]), templates, { batchSize: opts.clipBatchSize });
    seconds += (performance.now() - t0) / 1000;
    cache.put(idx.map((i) => keys[i]), emb);
    const done = texts.length - missing.length + s + idx.length;
    opts.onProgress?.({ stage, done, total: texts.length, info: { 'emb/s': (s + idx.length) / Math.max(seconds, 1e-9) } });
  }
  const embeddings = cache.getMany(keys);
  return { embeddings, computed: missing.length, cached: texts.length - missing.length, seconds };
}

/** Namespace of an image cache: the CLIP fingerprint (its preprocessing is part of the model). */
export function imageCacheNamespace(clip: ClipModel): string {
  return `image-${clip.fingerprint.slice(0, 16)}`;
}

/**
 * Streams CLIP image embeddings of `paths` in batches to `onBatch(embeddings [b, dim], start)`,
 * embedding only images the cache lacks (keyed by file content) and storing each batch as it finishes.
 */
export async function streamImageEmbeddings(
  clip: ClipModel, paths: readonly string[], cache: EmbeddingCache,
  onBatch: (embeddings: Float32Array, start: number) => void,
  opts: { batchSize?: number; onProgress?: OnProgress; stage?: string } = {},
): Promise<{ computed: number; cached: number; seconds: number }> {
  const dim = clip.dim;
  const batchSize = Math.max(1, opts.batchSize ?? 32);
  const stage = opts.stage ?? 'embed images';
  let computed = 0;
  let seconds = 0;
  for (let start = 0; start < paths.length; start += batchSize) {
    const batch = paths.slice(start, start + batchSize);
    const keys = batch.map(imageFileKey);
    const out = new Float32Array(batch.length * dim);
    // Images the cache lacks, each distinct content once; copies inside the batch are filled after.
    const missing: number[] = [];
    const copies: [number, number][] = [];
    const firstOf = new Map<string, number>();
    keys.forEach((k, i) => {
      const row = cache.get(k);
      if (row) out.set(row, i * dim);
      else if (firstOf.has(k)) copies.push([i, firstOf.get(k) as number]);
      else {
        firstOf.set(k, i);
        missing.push(i);
      }
    });
    if (missing.length) {
      const t0 = performance.now();
      let emb: Float32Array;
      try {
        emb = await clip.embedImages(missing.map((i) => batch[i]));
      } catch (e) {
        // Name the file: retry the batch's images one by one to find the one that fails.
        for (const i of missing) {
          try {
            await clip.embedImages([batch[i]]);
          } catch (e1) {
            throw new Error(`cannot embed image ${batch[i]}: ${(e1 as Error).message}`);
          }
        }
        throw new Error(`CLIP could not embed the images ${batch[missing[0]]} ... ${batch[missing[missing.length - 1]]}: ${(e as Error).message}`);
      }
      seconds += (performance.now() - t0) / 1000;
      if (emb.length !== missing.length * dim) throw new Error(`CLIP ${clip.id} returned ${emb.length / dim} embeddings for ${missing.length} images`);
      missing.forEach((i, j) => out.set(emb.subarray(j * dim, (j + 1) * dim), i * dim));
      for (const [i, j] of copies) out.copyWithin(i * dim, j * dim, (j + 1) * dim);
      cache.put(missing.map((i) => keys[i]), emb);
      computed += missing.length;
    }
    onBatch(out, start);
    opts.onProgress?.({ stage, done: start + batch.length, total: paths.length, info: computed ? { 'img/s': computed / Math.max(seconds, 1e-9) } : undefined });
  }
  return { computed, cached: paths.length - computed, seconds };
}

/**
 * CLIP image embeddings of `files` as [n, dim] in the given order, through the cache (identical contents
 * share one entry; only what the cache lacks is embedded, a batch at a time, each batch stored as it
 * finishes). Training's view of the cache.
 */
export async function embedImageFiles(
  clip: ClipModel, files: readonly string[], cache: EmbeddingCache,
  opts: { batchSize?: number; onProgress?: OnProgress; stage?: string } = {},
): Promise<Float32Array> {
  const out = new Float32Array(files.length * clip.dim);
  await streamImageEmbeddings(clip, files, cache, (emb, start) => out.set(emb, start * clip.dim), { stage: 'CLIP embeddings', ...opts });
  return out;
}
