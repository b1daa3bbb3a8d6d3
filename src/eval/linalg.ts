// Dense float64 linear algebra for the metrics (FID's matrix square root): symmetric eigendecomposition
// (Householder tridiagonalisation + implicit QL, the EISPACK tred2/tql2 pair as JAMA writes it) and a
// cache-friendly matrix product. Portable: plain TypeScript.

/**
 * C = A·B for row-major A [n, k], B [k, m]: dot products against Bᵀ in 2x2 tiles (each loaded value is
 * used twice and four sums run independently, which is what makes plain JS fast here).
 */
export function matmul(a: Float64Array, b: Float64Array, n: number, k: number, m: number): Float64Array {
  const bt = transpose(b, k, m);
  const c = new Float64Array(n * m);
  for (let i = 0; i < n; i += 2) {
    const a0 = i * k;
    const two = i + 1 < n;
    const a1 = two ? a0 + k : a0;
    for (let j = 0; j < m; j += 2) {
      const b0 = j * k;
      const twoJ = j + 1 < m;
      const b1 = twoJ ? b0 + k : b0;
      let s00 = 0, s01 = 0, s10 = 0, s11 = 0;
      for (let p = 0; p < k; p++) {
        const x0 = a[a0 + p];
        const x1 = a[a1 + p];
        const y0 = bt[b0 + p];
        const y1 = bt[b1 + p];
        s00 += x0 * y0;
        s01 += x0 * y1;
        s10 += x1 * y0;
        s11 += x1 * y1;
      }
      c[i * m + j] = s00;
      if (twoJ) c[i * m + j + 1] = s01;
      if (two) {
        c[(i + 1) * m + j] = s10;
        if (twoJ) c[(i + 1) * m + j + 1] = s11;
      }
    }
  }
  return c;
}

export function transpose(a: Float64Array, n: number, m: number): Float64Array {
  const t = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) t[j * n + i] = a[i * m + j];
  return t;
}

export interface SymmetricEigen {
  /** Eigenvalues, ascending. */
  values: Float64Array;
  /** Eigenvectors as rows (row i belongs to values[i]), when asked for. */
  vectors?: Float64Array;
}

/**
 * Eigen-decomposition of a symmetric n x n matrix (row-major; only its values are read, it is not
 * modified). `vectors: false` skips the rotations' accumulation (about 3x faster for large n).
 */
export function symmetricEigen(a: Float64Array, n: number, opts: { vectors?: boolean } = {}): SymmetricEigen {
  const wantVectors = opts.vectors ?? true;
  if (a.length !== n * n) throw new Error(`symmetricEigen: ${a.length} values for a ${n}x${n} matrix`);
  const V = Float64Array.from(a);
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  if (n === 0) return { values: d, vectors: wantVectors ? V : undefined };
  // The input is symmetric, so V = Vᵀ at the start; tred2 works on the transpose and tql2 rotates rows
  // of W = Vᵀ (two contiguous rows per rotation).
  tred2(V, d, e, n, wantVectors);
  const W = wantVectors ? V : null;
  tql2(W, d, e, n);
  const order = Array.from(d.keys()).sort((i, j) => d[i] - d[j]);
  const values = Float64Array.from(order, (i) => d[i]);
  if (!W) return { values };
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => vectors.set(W.subarray(src * n, src * n + n), dst * n));
  return { values, vectors };
}

/**
 * Householder reduction to tridiagonal form (JAMA's tred2), V row-major n x n. Without `accumulate` the
 * transformations are not formed (eigenvalues only): the diagonal is then read off directly, since the
 * accumulation pass never changes V[i][i] before reading it.
 */
function tred2(U: Float64Array, d: Float64Array, e: Float64Array, n: number, accumulate: boolean): void {
  for (let j = 0; j < n; j++) d[j] = U[j * n + (n - 1)];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = U[j * n + (i - 1)];
        U[j * n + i] = 0;
        U[i * n + j] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j];
        U[i * n + j] = f;
        g = e[j] + U[j * n + j] * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += U[j * n + k] * d[k];
          e[k] += U[j * n + k] * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        for (let k = j; k <= i - 1; k++) U[j * n + k] -= f * e[k] + g * d[k];
        d[j] = U[j * n + (i - 1)];
        U[j * n + i] = 0;
      }
    }
    d[i] = h;
  }
  if (!accumulate) {
    for (let j = 0; j < n; j++) d[j] = U[j * n + j];
    e[0] = 0;
    return;
  }
  for (let i = 0; i < n - 1; i++) {
    U[i * n + (n - 1)] = U[i * n + i];
    U[i * n + i] = 1;
    const h = d[i + 1];
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = U[(i + 1) * n + k] / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += U[(i + 1) * n + k] * U[j * n + k];
        for (let k = 0; k <= i; k++) U[j * n + k] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) U[(i + 1) * n + k] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = U[j * n + (n - 1)];
    U[j * n + (n - 1)] = 0;
  }
  U[(n - 1) * n + (n - 1)] = 1;
  e[0] = 0;
}

/** Implicit QL on the tridiagonal (d, e) (JAMA's tql2); W = V^T is rotated when given. */
function tql2(W: Float64Array | null, d: Float64Array, e: Float64Array, n: number): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n) {
      if (Math.abs(e[m]) <= eps * tst1) break;
      m++;
    }
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > 200) throw new Error('symmetricEigen: QL iteration did not converge (non-finite input?)');
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          if (W) {
            const ri = i * n;
            const rj = (i + 1) * n;
            for (let k = 0; k < n; k++) {
              const hk = W[rj + k];
              W[rj + k] = s * W[ri + k] + c * hk;
              W[ri + k] = c * W[ri + k] - s * hk;
            }
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }
}

/**
 * Pivoted Cholesky of a symmetric positive semi-definite n x n matrix (LAPACK pstrf's algorithm, right-
 * looking, symmetric row/column swaps on the lower triangle): L [n, r] row-major, rows in the original
 * order, with A ≈ L Lᵀ. It stops when the largest remaining diagonal is at most `tol` (default
 * n · 2⁻⁵² · max diagonal, pstrf's), so a rank-r matrix gives r columns.
 */
export function pivotedCholesky(a: Float64Array, n: number, tol?: number): { L: Float64Array; rank: number } {
  const A = Float64Array.from(a); // only the lower triangle (row >= column) is used
  const perm = Int32Array.from({ length: n }, (_, i) => i);
  let maxDiag = 0;
  for (let i = 0; i < n; i++) maxDiag = Math.max(maxDiag, A[i * n + i]);
  const stop = tol ?? n * 2 ** -52 * maxDiag;
  let r = 0;
  for (let k = 0; k < n; k++) {
    let p = k;
    for (let i = k + 1; i < n; i++) if (A[i * n + i] > A[p * n + p]) p = i;
    if (!(A[p * n + p] > stop)) break;
    if (p !== k) {
      // Swap k and p (k < p) in the lower triangle.
      for (let j = 0; j < k; j++) [A[k * n + j], A[p * n + j]] = [A[p * n + j], A[k * n + j]];
      [A[k * n + k], A[p * n + p]] = [A[p * n + p], A[k * n + k]];
      for (let j = k + 1; j < p; j++) [A[j * n + k], A[p * n + j]] = [A[p * n + j], A[j * n + k]];
      for (let i = p + 1; i < n; i++) [A[i * n + k], A[i * n + p]] = [A[i * n + p], A[i * n + k]];
      [perm[k], perm[p]] = [perm[p], perm[k]];
    }
    const lkk = Math.sqrt(A[k * n + k]);
    A[k * n + k] = lkk;
    for (let i = k + 1; i < n; i++) A[i * n + k] /= lkk;
    for (let i = k + 1; i < n; i++) {
      const li = A[i * n + k];
      if (li === 0) continue;
      const row = i * n;
      for (let j = k + 1; j <= i; j++) A[row + j] -= li * A[j * n + k];
    }
    r = k + 1;
  }
  const L = new Float64Array(n * r);
  for (let i = 0; i < n; i++) for (let k = 0; k < Math.min(i + 1, r); k++) L[perm[i] * r + k] = A[i * n + k];
  return { L, rank: r };
}
