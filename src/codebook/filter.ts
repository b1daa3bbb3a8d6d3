// Global codebook filtering (paper §3.2): for every image, the k = 5 candidates most similar to its
// CLIP image embedding get one hit each; candidates hit more than a threshold over the image set are
// kept (the reference: > 100 over ImageNet-1K train). Portable: plain typed arrays.
//
// Similarity: 'cosine' (default, as the paper describes) or 'dot' (the reference's `image @ E.T` on the
// template-averaged embeddings, whose norms are below 1 and differ per entry).
import * as tf from '@tensorflow/tfjs-core';
import { dotMatrix, l2Normalize, topK } from '../models/clip/distance.js';

export type Similarity = 'cosine' | 'dot';

/**
 * Adds one hit per (image, top-k candidate) to `counts` (one entry per candidate row of `table`).
 * `image` rows are CLIP image embeddings (L2-normalised); `table` rows are candidate embeddings.
 */
export function countHits(images: Float32Array, table: Float32Array, dim: number, k: number, counts: Uint32Array, similarity: Similarity = 'cosine'): void {
  const rows = table.length / dim;
  if (counts.length !== rows) throw new Error(`countHits: ${counts.length} counters for ${rows} candidates`);
  if (similarity === 'cosine') {
    for (const id of topK(images, table, dim, Math.min(k, rows), { metric: 'cosine' }).indices) counts[id]++;
    return;
  }
  // 'dot': the reference's raw product, a block of images at a time; ties go to the lower row.
  const n = images.length / dim;
  const kk = Math.min(k, rows);
  const block = Math.max(1, Math.floor(4_000_000 / Math.max(rows, 1)));
  const best = new Int32Array(kk);
  const bestS = new Float64Array(kk);
  for (let b0 = 0; b0 < n; b0 += block) {
    const b1 = Math.min(n, b0 + block);
    const dots = dotMatrix(images.subarray(b0 * dim, b1 * dim), table, dim);
    for (let i = 0; i < b1 - b0; i++) {
      bestS.fill(-Infinity);
      best.fill(-1);
      for (let j = 0; j < rows; j++) {
        const s = dots[i * rows + j];
        if (!(s > bestS[kk - 1])) continue;
        let p = kk - 1;
        while (p > 0 && s > bestS[p - 1]) { bestS[p] = bestS[p - 1]; best[p] = best[p - 1]; p--; }
        bestS[p] = s;
        best[p] = j;
      }
      for (const id of best) if (id >= 0) counts[id]++;
    }
  }
}

/**
 * Accumulates hit counts over a stream of image batches against one candidate table.
 * engine 'tfjs': one matMul per block of images against the transposed table, kept on the active tfjs
 * backend (wasm: ~5x the plain-JS loop here; a non-transposed right operand is the fast matMul path),
 * then tf.topk. engine 'js': the portable blocked loop of countHits.
 */
export class HitCounter {
  readonly counts: Uint32Array;
  private readonly rows: number;
  private tableT: tf.Tensor2D | null = null;

  constructor(
    private readonly table: Float32Array, private readonly dim: number, private readonly k: number,
    private readonly similarity: Similarity = 'cosine', readonly engine: 'tfjs' | 'js' = 'js',
  ) {
    this.rows = table.length / dim;
    if (!Number.isInteger(this.rows)) throw new Error(`HitCounter: table length ${table.length} is not a multiple of dim ${dim}`);
    this.counts = new Uint32Array(this.rows);
    if (engine === 'tfjs' && this.rows > 0) {
      const t = similarity === 'cosine' ? l2Normalize(table, dim) : table;
      this.tableT = tf.tidy(() => tf.transpose(tf.tensor2d(t, [this.rows, dim])) as tf.Tensor2D);
    }
  }

  /** Counts the top-k candidates of each image embedding row [n, dim]. */
  add(images: Float32Array): void {
    if (!this.tableT) {
      countHits(images, this.table, this.dim, this.k, this.counts, this.similarity);
      return;
    }
    const n = images.length / this.dim;
    const q = this.similarity === 'cosine' ? l2Normalize(images, this.dim) : images;
    const kk = Math.min(this.k, this.rows);
    // At most ~8M scores at a time.
    const block = Math.max(1, Math.floor(8_000_000 / this.rows));
    for (let b0 = 0; b0 < n; b0 += block) {
      const b1 = Math.min(n, b0 + block);
      const idx = tf.tidy(() => tf.topk(tf.matMul(tf.tensor2d(q.subarray(b0 * this.dim, b1 * this.dim), [b1 - b0, this.dim]), this.tableT!), kk).indices);
      const ids = idx.dataSync();
      idx.dispose();
      for (const id of ids) this.counts[id]++;
    }
  }

  dispose(): void {
    this.tableT?.dispose();
    this.tableT = null;
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
