// Global codebook filtering (paper §3.2): for every image, the k = 5 candidates most similar to its
// CLIP image embedding get one hit each; candidates hit more than a threshold over the image set are
// kept (the reference: > 100 over ImageNet-1K train). Portable: plain typed arrays.
//
// Similarity: 'cosine' (default, as the paper describes) or 'dot' (the reference's `image @ E.T` on the
// template-averaged embeddings, whose norms are below 1 and differ per entry).
import * as tf from '@tensorflow/tfjs-core';
import { dotMatrix, releaseDistanceCache, topK } from '../models/clip/distance.js';

export type Similarity = 'cosine' | 'dot';

/**
 * Adds one hit per (image, top-k candidate) to `counts` (one entry per candidate row of `table`).
 * `images` rows are CLIP image embeddings (L2-normalised); `table` rows are candidate embeddings.
 * engine 'js': plain loops (no tensor backend needed); 'tfjs': matMul on the active tfjs backend.
 */
export function countHits(
  images: Float32Array, table: Float32Array, dim: number, k: number, counts: Uint32Array,
  similarity: Similarity = 'cosine', engine: 'js' | 'tfjs' = 'js',
): void {
  const c = new HitCounter(table, dim, k, similarity, engine, counts);
  c.add(images);
  c.dispose();
}

/**
 * Accumulates hit counts over a stream of image batches against one candidate table. Cosine goes
 * through models/clip/distance.ts topK (its 'tfjs' engine keeps the normalised table transposed on the
 * backend between batches); 'dot' multiplies by the raw table: a tfjs matMul against the table kept
 * transposed (the fast right operand) + tf.topk, or dotMatrix blocks in plain JS. Ties: lower row first
 * in JS; tf.topk's order on the tfjs engine.
 */
export class HitCounter {
  readonly counts: Uint32Array;
  private readonly rows: number;
  private tableT: tf.Tensor2D | null = null;

  constructor(
    private readonly table: Float32Array, private readonly dim: number, private readonly k: number,
    private readonly similarity: Similarity = 'cosine', readonly engine: 'tfjs' | 'js' = 'js', counts?: Uint32Array,
  ) {
    this.rows = table.length / dim;
    if (!Number.isInteger(this.rows)) throw new Error(`HitCounter: table length ${table.length} is not a multiple of dim ${dim}`);
    if (counts && counts.length !== this.rows) throw new Error(`countHits: ${counts.length} counters for ${this.rows} candidates`);
    this.counts = counts ?? new Uint32Array(this.rows);
  }

  /** Counts the top-k candidates of each image embedding row [n, dim]. */
  add(images: Float32Array): void {
    if (this.rows === 0 || images.length === 0) return;
    const kk = Math.min(this.k, this.rows);
    if (this.similarity === 'cosine') {
      for (const id of topK(images, this.table, this.dim, kk, { metric: 'cosine', engine: this.engine }).indices) this.counts[id]++;
      return;
    }
    const n = images.length / this.dim;
    // At most ~8M scores at a time.
    const block = Math.max(1, Math.floor(8_000_000 / this.rows));
    for (let b0 = 0; b0 < n; b0 += block) {
      const b1 = Math.min(n, b0 + block);
      const q = images.subarray(b0 * this.dim, b1 * this.dim);
      if (this.engine === 'tfjs') {
        this.tableT ??= tf.tidy(() => tf.transpose(tf.tensor2d(this.table, [this.rows, this.dim])) as tf.Tensor2D);
        const idx = tf.tidy(() => tf.topk(tf.matMul(tf.tensor2d(q, [b1 - b0, this.dim]), this.tableT!), kk).indices);
        const ids = idx.dataSync();
        idx.dispose();
        for (const id of ids) this.counts[id]++;
      } else {
        this.countDotJs(dotMatrix(q, this.table, this.dim), b1 - b0, kk);
      }
    }
  }

  private countDotJs(dots: Float32Array, n: number, kk: number): void {
    const best = new Int32Array(kk);
    const bestS = new Float64Array(kk);
    for (let i = 0; i < n; i++) {
      bestS.fill(-Infinity);
      best.fill(-1);
      for (let j = 0; j < this.rows; j++) {
        const s = dots[i * this.rows + j];
        if (!(s > bestS[kk - 1])) continue;
        let p = kk - 1;
        while (p > 0 && s > bestS[p - 1]) { bestS[p] = bestS[p - 1]; best[p] = best[p - 1]; p--; }
        bestS[p] = s;
        best[p] = j;
      }
      for (const id of best) if (id >= 0) this.counts[id]++;
    }
  }

  /** Frees tensors kept on the backend (the transposed table). */
  dispose(): void {
    this.tableT?.dispose();
    this.tableT = null;
    if (this.engine === 'tfjs' && this.similarity === 'cosine') releaseDistanceCache();
  }
}

export type KeepRule = { threshold: number } | { topN: number };

/**
 * Indices of the candidates to keep, in candidate order: hit count strictly above the threshold
 * (as the reference), or the topN most hit (ties: earlier candidate first).
 */
export function selectByCount(counts: Uint32Array, rule: KeepRule): number[] {
  if ('threshold' in rule) {
    const keep: number[] = [];
    for (let i = 0; i < counts.length; i++) if (counts[i] > rule.threshold) keep.push(i);
    return keep;
  }
  const order = Array.from(counts.keys()).sort((a, b) => counts[b] - counts[a] || a - b);
  return order.slice(0, Math.max(0, rule.topN)).sort((a, b) => a - b);
}
