// Fréchet distance between two sets of feature rows, exactly as pytorch-fid's calculate_frechet_distance:
// means, covariances with ddof 1, trace of sqrtm(Σ1·Σ2) (retried with 1e-6·I added to both covariances
// when not finite), real part. Portable: plain TypeScript, float64 throughout.
//
// Σ1·Σ2 is not symmetric, but its eigenvalues are those of Lᵀ Σ2 L (Σ1 = L Lᵀ, pivoted Cholesky), a
// symmetric positive semi-definite matrix: the trace of the square root is the sum of their square
// roots. So a Cholesky factorisation and one symmetric eigenvalue problem replace scipy's Schur-based
// sqrtm, and rank-deficient covariances (fewer images than feature dimensions) give the exact answer
// rather than an ill-conditioned one; tiny negative eigenvalues from rounding are clamped to zero, which
// is what the real part of scipy's result does.
//
// Statistics accumulate as float64 running moments (count, mean, centred second moment; Chan et al.'s
// pairwise update per batch), so 50,000 images need only d + d² numbers, and the statistics of separate
// runs (shards) merge into those of the whole set.
import type { HostTensor } from '../io/dtypes.js';
import { toFloat32 } from '../io/dtypes.js';
import { symmetricEigen, pivotedCholesky, matmul, transpose } from './linalg.js';

/** pytorch-fid's offset added to both covariances when sqrtm is not finite. */
export const FID_EPS = 1e-6;

export class FeatureStats {
  readonly dim: number;
  n = 0;
  /** Running mean, [dim]. */
  readonly mean: Float64Array;
  /** Sum of centred outer products Σ (x-μ)(x-μ)ᵀ, [dim, dim] row-major. */
  readonly m2: Float64Array;

  constructor(dim: number) {
    if (!Number.isInteger(dim) || dim < 1) throw new Error(`FeatureStats: feature width must be a positive integer (got ${dim})`);
    this.dim = dim;
    this.mean = new Float64Array(dim);
    this.m2 = new Float64Array(dim * dim);
  }

  /** Adds `count` rows of `dim` features (row-major). */
  add(rows: ArrayLike<number>, count = rows.length / this.dim): this {
    const d = this.dim;
    if (!Number.isInteger(count) || rows.length < count * d) throw new Error(`FeatureStats.add: ${rows.length} values is not ${count} rows of ${d}`);
    if (count === 0) return this;
    const batch = new FeatureStats(d);
    batch.n = count;
    for (let r = 0; r < count; r++) for (let j = 0; j < d; j++) batch.mean[j] += rows[r * d + j];
    for (let j = 0; j < d; j++) batch.mean[j] /= count;
    const c = new Float64Array(d);
    const m2 = batch.m2;
    for (let r = 0; r < count; r++) {
      for (let j = 0; j < d; j++) c[j] = rows[r * d + j] - batch.mean[j];
      // Upper triangle only; mirrored below.
      for (let i = 0; i < d; i++) {
        const ci = c[i];
        if (ci === 0) continue;
        const row = i * d;
        for (let j = i; j < d; j++) m2[row + j] += ci * c[j];
      }
    }
    for (let i = 0; i < d; i++) for (let j = i + 1; j < d; j++) m2[j * d + i] = m2[i * d + j];
    return this.merge(batch);
  }

  /** Merges another set's statistics into this one (the union of both sets). */
  merge(o: FeatureStats): this {
    if (o.dim !== this.dim) throw new Error(`cannot merge feature statistics of width ${o.dim} into width ${this.dim}`);
    if (o.n === 0) return this;
    if (this.n === 0) {
      this.n = o.n;
      this.mean.set(o.mean);
      this.m2.set(o.m2);
      return this;
    }
    const d = this.dim;
    const n = this.n + o.n;
    const delta = new Float64Array(d);
    for (let j = 0; j < d; j++) delta[j] = o.mean[j] - this.mean[j];
    const w = (this.n * o.n) / n;
    for (let i = 0; i < d; i++) {
      const di = delta[i] * w;
      const row = i * d;
      for (let j = 0; j < d; j++) this.m2[row + j] += o.m2[row + j] + di * delta[j];
    }
    for (let j = 0; j < d; j++) this.mean[j] += (delta[j] * o.n) / n;
    this.n = n;
    return this;
  }

  /** Covariance with ddof 1 (np.cov), [dim, dim]. */
  covariance(): Float64Array {
    if (this.n < 2) throw new Error(`a covariance needs at least 2 feature rows (got ${this.n})`);
    const out = new Float64Array(this.m2.length);
    for (let i = 0; i < out.length; i++) out[i] = this.m2[i] / (this.n - 1);
    return out;
  }

  /** The statistics as float64 tensors (`<prefix>n`, `<prefix>mean`, `<prefix>m2`), e.g. for a resumable state file. */
  toTensors(prefix = ''): Map<string, HostTensor> {
    return new Map<string, HostTensor>([
      [`${prefix}n`, { dtype: 'F64', shape: [1], data: Float64Array.of(this.n) }],
      [`${prefix}mean`, { dtype: 'F64', shape: [this.dim], data: Float64Array.from(this.mean) }],
      [`${prefix}m2`, { dtype: 'F64', shape: [this.dim, this.dim], data: Float64Array.from(this.m2) }],
    ]);
  }

  static fromTensors(t: Map<string, HostTensor>, prefix = ''): FeatureStats {
    const n = t.get(`${prefix}n`);
    const mean = t.get(`${prefix}mean`);
    const m2 = t.get(`${prefix}m2`);
    if (!n || !mean || !m2) throw new Error(`feature statistics "${prefix}" incomplete (need ${prefix}n, ${prefix}mean, ${prefix}m2)`);
    if (mean.dtype !== 'F64' || m2.dtype !== 'F64') throw new Error(`feature statistics "${prefix}" must be float64`);
    const s = new FeatureStats(mean.shape[0]);
    if (m2.data.length !== s.dim * s.dim) throw new Error(`feature statistics "${prefix}": m2 is [${m2.shape}], expected [${s.dim},${s.dim}]`);
    s.n = Number(n.data[0]);
    s.mean.set(mean.data as Float64Array);
    s.m2.set(m2.data as Float64Array);
    return s;
  }

  static fromRows(t: HostTensor): FeatureStats {
    if (t.shape.length !== 2) throw new Error(`feature rows must be [n, d] (got [${t.shape}])`);
    const data = t.dtype === 'F64' ? (t.data as Float64Array) : toFloat32(t);
    return new FeatureStats(t.shape[1]).add(data, t.shape[0]);
  }
}

/**
 * tr sqrtm(Σ1·Σ2) = Σ sqrt(eigenvalues of Σ1·Σ2), negative rounding residue clamped to 0. With the
 * pivoted Cholesky factor Σ1 = L Lᵀ (L: d x r, r = rank), the non-zero eigenvalues of Σ1·Σ2 = L (Lᵀ Σ2)
 * are those of the symmetric r x r matrix Lᵀ Σ2 L, so one eigenvalue-only decomposition suffices.
 */
export function traceSqrtProduct(s1: Float64Array, s2: Float64Array, d: number): number {
  const { L, rank: r } = pivotedCholesky(s1, d);
  const C = matmul(transpose(L, d, r), matmul(s2, L, d, d, r), r, d, r);
  for (let i = 0; i < r; i++) {
    for (let j = i + 1; j < r; j++) {
      const v = 0.5 * (C[i * r + j] + C[j * r + i]);
      C[i * r + j] = v;
      C[j * r + i] = v;
    }
  }
  const { values } = symmetricEigen(C, r, { vectors: false });
  let tr = 0;
  for (const v of values) tr += Math.sqrt(Math.max(v, 0));
  return tr;
}

export interface FrechetOptions {
  /** Add this multiple of I to both covariances from the start (pytorch-fid's retry, forced). */
  offset?: number;
}

export interface FrechetDetail {
  fid: number;
  /** |μ1 - μ2|² */
  meanTerm: number;
  traceCov1: number;
  traceCov2: number;
  traceSqrt: number;
  /** True when the 1e-6·I retry was taken. */
  retried: boolean;
}

/** The Fréchet distance between two sets' statistics, with its terms. */
export function frechetDetail(a: FeatureStats, b: FeatureStats, opts: FrechetOptions = {}): FrechetDetail {
  if (a.dim !== b.dim) throw new Error(`feature widths differ: ${a.dim} vs ${b.dim}`);
  for (const [s, what] of [[a, 'first'], [b, 'second']] as const) {
    if (s.n < 2) throw new Error(`FID needs at least 2 images in each set; the ${what} set has ${s.n}`);
  }
  const d = a.dim;
  const s1 = a.covariance();
  const s2 = b.covariance();
  let meanTerm = 0;
  for (let j = 0; j < d; j++) meanTerm += (a.mean[j] - b.mean[j]) ** 2;
  let traceCov1 = 0;
  let traceCov2 = 0;
  for (let j = 0; j < d; j++) {
    traceCov1 += s1[j * d + j];
    traceCov2 += s2[j * d + j];
  }
  const withOffset = (eps: number): number => {
    const o1 = Float64Array.from(s1);
    const o2 = Float64Array.from(s2);
    for (let j = 0; j < d; j++) {
      o1[j * d + j] += eps;
      o2[j * d + j] += eps;
    }
    return traceSqrtProduct(o1, o2, d);
  };
  let retried = false;
  let traceSqrt: number;
  if (opts.offset) {
    traceSqrt = withOffset(opts.offset);
  } else {
    try {
      traceSqrt = traceSqrtProduct(s1, s2, d);
    } catch {
      traceSqrt = NaN;
    }
    if (!Number.isFinite(traceSqrt)) {
      // pytorch-fid: "fid calculation produces singular product; adding 1e-6 to diagonal of cov estimates".
      retried = true;
      traceSqrt = withOffset(FID_EPS);
    }
  }
  // pytorch-fid uses the traces of the covariances without the offset.
  return { fid: meanTerm + traceCov1 + traceCov2 - 2 * traceSqrt, meanTerm, traceCov1, traceCov2, traceSqrt, retried };
}

/** FID from accumulated statistics. */
export function frechetDistanceFromStats(a: FeatureStats, b: FeatureStats, opts: FrechetOptions = {}): number {
  return frechetDetail(a, b, opts).fid;
}

/** FID between two sets of feature rows [n, d] (host tensors as readSafetensors returns them). */
export function frechetDistance(a: HostTensor, b: HostTensor, opts: FrechetOptions = {}): number {
  return frechetDistanceFromStats(FeatureStats.fromRows(a), FeatureStats.fromRows(b), opts);
}
