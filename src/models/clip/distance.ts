// Distances between embedding rows, as the quantizers and the codebook filter use them: squared Euclidean
// distance written as |a|^2 + |b|^2 - 2 a.b (the reference's formula, so ties and rounding match its
// order of operations), cosine similarity, and top-k nearest (nearest first). Rows are row-major
// Float32Array [n, dim]. The heavy part is a blocked dot-product kernel: four query rows share each
// candidate row while it is in cache, so a 96k x 768 codebook streams from memory once per four queries.
// Portable: plain TypeScript.

/** Sum of squares of each row: [n]. */
export function squaredNorms(rows: Float32Array, dim: number): Float32Array {
  const n = rowCount(rows, dim, 'rows');
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    const o = i * dim;
    for (let d = 0; d < dim; d++) s += rows[o + d] * rows[o + d];
    out[i] = s;
  }
  return out;
}

/** A copy with every row scaled to unit L2 norm (zero rows stay zero). */
export function l2Normalize(rows: Float32Array, dim: number): Float32Array {
  const out = new Float32Array(rows.length);
  const norms = squaredNorms(rows, dim);
  for (let i = 0; i < norms.length; i++) {
    const s = norms[i] > 0 ? 1 / Math.sqrt(norms[i]) : 0;
    const o = i * dim;
    for (let d = 0; d < dim; d++) out[o + d] = rows[o + d] * s;
  }
  return out;
}

function rowCount(rows: Float32Array, dim: number, what: string): number {
  if (!Number.isInteger(dim) || dim <= 0) throw new Error(`distance: dim must be a positive integer, got ${dim}`);
  if (rows.length % dim !== 0) throw new Error(`distance: ${what} has ${rows.length} values, not a multiple of dim ${dim}`);
  return rows.length / dim;
}

/**
 * Dot products of query rows [q0, q1) against all candidates, passed to `sink(i, dots)` per query.
 * Micro-kernel: 4 queries x 2 candidates, 8 accumulators, so each loaded value is used 2-4 times
 * (about 3x faster than one dot product at a time in V8).
 */
function dotBlock(
  a: Float32Array, q0: number, q1: number, b: Float32Array, m: number, dim: number,
  sink: (qi: number, dots: Float32Array) => void,
  scratch: Float32Array,
): void {
  // scratch holds [4, m] dot products for the current group of queries.
  for (let i = q0; i < q1; i += 4) {
    const g = Math.min(4, q1 - i);
    const o0 = i * dim;
    const o1 = g > 1 ? o0 + dim : o0;
    const o2 = g > 2 ? o0 + 2 * dim : o0;
    const o3 = g > 3 ? o0 + 3 * dim : o0;
    let j = 0;
    for (; j + 1 < m; j += 2) {
      const ob = j * dim;
      const oc = ob + dim;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0, t0 = 0, t1 = 0, t2 = 0, t3 = 0;
      for (let d = 0; d < dim; d++) {
        const v = b[ob + d];
        const w = b[oc + d];
        const a0 = a[o0 + d], a1 = a[o1 + d], a2 = a[o2 + d], a3 = a[o3 + d];
        s0 += a0 * v; s1 += a1 * v; s2 += a2 * v; s3 += a3 * v;
        t0 += a0 * w; t1 += a1 * w; t2 += a2 * w; t3 += a3 * w;
      }
      scratch[j] = s0; scratch[m + j] = s1; scratch[2 * m + j] = s2; scratch[3 * m + j] = s3;
      scratch[j + 1] = t0; scratch[m + j + 1] = t1; scratch[2 * m + j + 1] = t2; scratch[3 * m + j + 1] = t3;
    }
    if (j < m) {
      const ob = j * dim;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let d = 0; d < dim; d++) {
        const v = b[ob + d];
        s0 += a[o0 + d] * v; s1 += a[o1 + d] * v; s2 += a[o2 + d] * v; s3 += a[o3 + d] * v;
      }
      scratch[j] = s0; scratch[m + j] = s1; scratch[2 * m + j] = s2; scratch[3 * m + j] = s3;
    }
    for (let r = 0; r < g; r++) sink(i + r, scratch.subarray(r * m, (r + 1) * m));
  }
}

/** a.b for every pair: [n, m]. */
export function dotMatrix(a: Float32Array, b: Float32Array, dim: number): Float32Array {
  const n = rowCount(a, dim, 'a');
  const m = rowCount(b, dim, 'b');
  const out = new Float32Array(n * m);
  dotBlock(a, 0, n, b, m, dim, (qi, dots) => out.set(dots, qi * m), new Float32Array(4 * m));
  return out;
}

/** Squared Euclidean distances |a|^2 + |b|^2 - 2 a.b for every pair: [n, m]. */
export function squaredEuclidean(a: Float32Array, b: Float32Array, dim: number, bNorms?: Float32Array): Float32Array {
  const an = squaredNorms(a, dim);
  const bn = bNorms ?? squaredNorms(b, dim);
  const m = bn.length;
  const out = dotMatrix(a, b, dim);
  for (let i = 0; i < an.length; i++) {
    const o = i * m;
    for (let j = 0; j < m; j++) out[o + j] = an[i] + bn[j] - 2 * out[o + j];
  }
  return out;
}

/** Cosine similarity a.b / (|a| |b|) for every pair: [n, m] (0 where a row is zero). */
export function cosineSimilarity(a: Float32Array, b: Float32Array, dim: number): Float32Array {
  return dotMatrix(l2Normalize(a, dim), l2Normalize(b, dim), dim);
}

export type Metric = 'sqeuclidean' | 'cosine';

export interface TopK {
  /** [n, k] candidate indices, nearest first (ties: lower index first). */
  indices: Int32Array;
  /** [n, k] squared distances (ascending) or cosine similarities (descending). */
  values: Float32Array;
  k: number;
}

export interface TopKOptions {
  metric?: Metric;
  /** Precomputed squaredNorms(candidates) for sqeuclidean, to reuse across calls. */
  candidateNorms?: Float32Array;
  /** Queries per block (default 64). */
  blockRows?: number;
  onProgress?: (done: number, total: number) => void;
}

/**
 * The k nearest candidates of every query: smallest |q|^2 + |c|^2 - 2 q.c, or largest cosine.
 * Linear in n x m x dim, with O(k) work per candidate only when it beats the current k-th.
 */
export function topK(queries: Float32Array, candidates: Float32Array, dim: number, k: number, opts: TopKOptions = {}): TopK {
  const metric = opts.metric ?? 'sqeuclidean';
  const n = rowCount(queries, dim, 'queries');
  const m = rowCount(candidates, dim, 'candidates');
  if (!Number.isInteger(k) || k < 1) throw new Error(`topK: k must be a positive integer, got ${k}`);
  if (k > m) throw new Error(`topK: k=${k} exceeds the ${m} candidates`);
  let q = queries;
  let c = candidates;
  let qn: Float32Array | null = null;
  let cn: Float32Array | null = null;
  if (metric === 'cosine') {
    q = l2Normalize(queries, dim);
    c = l2Normalize(candidates, dim);
  } else {
    qn = squaredNorms(queries, dim);
    cn = opts.candidateNorms ?? squaredNorms(candidates, dim);
    if (cn.length !== m) throw new Error(`topK: candidateNorms has ${cn.length} entries for ${m} candidates`);
  }
  const indices = new Int32Array(n * k);
  const values = new Float32Array(n * k);
  // Keys where smaller is better: the distance, or minus the cosine.
  const keys = new Float64Array(k);
  const idx = new Int32Array(k);
  const select = (qi: number, dots: Float32Array): void => {
    let filled = 0;
    const qq = qn ? qn[qi] : 0;
    for (let j = 0; j < m; j++) {
      // Float32 rounding of each step, as the reference's float32 tensors do.
      const key = cn ? Math.fround(Math.fround(qq + cn[j]) - Math.fround(2 * dots[j])) : -dots[j];
      if (filled < k) {
        let p = filled++;
        while (p > 0 && keys[p - 1] > key) { keys[p] = keys[p - 1]; idx[p] = idx[p - 1]; p--; }
        keys[p] = key; idx[p] = j;
      } else if (key < keys[k - 1]) {
        let p = k - 1;
        while (p > 0 && keys[p - 1] > key) { keys[p] = keys[p - 1]; idx[p] = idx[p - 1]; p--; }
        keys[p] = key; idx[p] = j;
      }
    }
    for (let r = 0; r < k; r++) {
      indices[qi * k + r] = idx[r];
      values[qi * k + r] = cn ? keys[r] : -keys[r];
    }
  };
  const blockRows = Math.max(4, opts.blockRows ?? 64);
  const scratch = new Float32Array(4 * m);
  for (let b0 = 0; b0 < n; b0 += blockRows) {
    const b1 = Math.min(n, b0 + blockRows);
    dotBlock(q, b0, b1, c, m, dim, select, scratch);
    opts.onProgress?.(b1, n);
  }
  return { indices, values, k };
}
