// Global codebook filtering (paper §3.2): for every image, the k = 5 candidates most similar to its
// CLIP image embedding get one hit each; candidates hit more than a threshold over the image set are
// kept (the reference: > 100 over ImageNet-1K train). Portable: plain typed arrays.
//
// Similarity: 'cosine' (default, as the paper describes) or 'dot' (the reference's `image @ E.T` on the
// template-averaged embeddings, whose norms are below 1 and differ per entry).
import { dotMatrix, l2Normalize, topK } from '../models/clip/distance.js';

export type Similarity = 'cosine' | 'dot';

/**
 * The k rows of largest dot product with each of n query rows [n, dim], best first ([n, k]): a faster
 * kernel than the JS loop, bound to one table (./score-onnx.ts: onnxruntime). Ties: the lower row first.
 */
export type TopKScorer = (queries: Float32Array, n: number, k: number) => Promise<Int32Array>;

/**
 * Adds one hit per (image, top-k candidate) to `counts` (one entry per candidate row of `table`).
 * `images` rows are CLIP image embeddings (L2-normalised); `table` rows are candidate embeddings.
 Plain JS loops.
 */
export function countHits(
  images: Float32Array, table: Float32Array, dim: number, k: number, counts: Uint32Array, similarity: Similarity = 'cosine',
): void {
  new HitCounter(table, dim, k, similarity, 'js', counts).add(images);
}

/**
 * Accumulates hit counts over a stream of image batches against one candidate table. With engine 'js':
 * cosine through models/clip/distance.ts topK, 'dot' by dotMatrix blocks, in plain JS. With a
 * `TopKScorer` (bound by the caller to the table: unit rows for cosine, see `scorerTable`), each batch is
 * scored asynchronously; `done()` waits for the batches in flight. Ties: lower row first.
 */
export class HitCounter {
  readonly counts: Uint32Array;
  private readonly rows: number;
  private pending: Promise<void> = Promise.resolve();

  constructor(
    private readonly table: Float32Array, private readonly dim: number, private readonly k: number,
    private readonly similarity: Similarity = 'cosine', readonly engine: 'js' | TopKScorer = 'js', counts?: Uint32Array,
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
    const scorer = this.engine;
    if (scorer !== 'js') {
      const q = this.similarity === 'cosine' ? l2Normalize(images, this.dim) : images.slice();
      const next = this.pending.then(async () => {
        for (const id of await scorer(q, q.length / this.dim, kk)) this.counts[id]++;
      });
      next.catch(() => {}); // a failure is reported by done(), not as an unhandled rejection meanwhile
      this.pending = next;
      return;
    }
    if (this.similarity === 'cosine') {
      for (const id of topK(images, this.table, this.dim, kk, { metric: 'cosine' }).indices) this.counts[id]++;
      return;
    }
    const n = images.length / this.dim;
    // At most ~8M scores at a time.
    const block = Math.max(1, Math.floor(8_000_000 / this.rows));
    for (let b0 = 0; b0 < n; b0 += block) {
      const b1 = Math.min(n, b0 + block);
      const q = images.subarray(b0 * this.dim, b1 * this.dim);
      this.countDotJs(dotMatrix(q, this.table, this.dim), b1 - b0, kk);
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

  /** Resolves when every batch given to `add` is counted (a scorer's batches run asynchronously). */
  done(): Promise<void> {
    return this.pending;
  }
}

/** The table a `TopKScorer` is bound to for a similarity: unit rows for cosine, the raw rows for dot. */
export function scorerTable(table: Float32Array, dim: number, similarity: Similarity): Float32Array {
  return similarity === 'cosine' ? l2Normalize(table, dim) : table;
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
