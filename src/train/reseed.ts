// Re-seeding dead local codes from encoder outputs, through the projector.
//
// V2L's local codes are not free vectors: code j is P(e_j) = e_j W + b, the frozen LLM row e_j through the
// one trainable projector. The VQ literature's remedy for dead codes, moving them onto recent encoder
// outputs (Dhariwal et al. 2020, Jukebox, "random restarts"; Łańcucki et al. 2020, "Robust training of
// vector quantized bottleneck models", re-initialisation from encoder outputs; Zeghidour et al. 2021,
// SoundStream), therefore has to be done on W: the smallest change ΔW (Frobenius norm) such that every
// chosen dead row lands on a sampled encoder output z and every kept live row stays where it is:
//
//   E_S (W + ΔW) + b = T   for the rows S (dead targets z, live targets their current codes)
//   ΔW = E_S^T (E_S E_S^T + λI)^{-1} (T - E_S W - b)
//
// With `means` (the sum of the encoder outputs each code was chosen for over the window), the live rows'
// targets are those means instead of their current values: one k-means step on the codebook, the batch
// form of the EMA codebook updates of van den Oord et al. 2017 (appendix) and Razavi et al. 2019
// (VQ-VAE-2), again done through W, which decouples the codes: one code's update no longer drags all the
// others with it through the shared projector (the collapse the reference shows at small scale).
//
// With at most dim rows in S the system is exact (up to the small ridge λ); with a codebook of no more rows
// than the embedding width (e.g. stories260K's 512 tokens at 768-d) every row is in S, so live codes do not
// move at all. Larger codebooks constrain the most used live rows and a share of the dead ones per call.
// Portable: typed arrays only (the solve is |S|^3/3 float64 operations, under a second for |S| = 768).

export interface ReseedResult {
  /** Dead codes moved onto encoder outputs. */
  reseeded: number;
  /** Codes with no use in the window. */
  dead: number;
  /** Live codes held in place by the solve. */
  kept: number;
}

export interface ReseedOptions {
  /** Sums of the encoder outputs each code was chosen for over the window: live codes move to their means (k-means step). */
  means?: Float32Array;
  /** Codes and encoder outputs are unit vectors (cosine codes): the means are normalised, distances are 2 - 2 cos. */
  unit?: boolean;
  /** A code chosen fewer times than this over the window counts as dead (default 1: only unused codes). */
  minUsage?: number;
  /**
   * Where dead codes go: `uniform`, distinct encoder outputs drawn at random (default); `far`, k-means++
   * seeding (Arthur & Vassilvitskii 2007): each output drawn with probability proportional to its squared
   * distance to the nearest live code (at its k-means target) or already drawn output, so dead codes go where the
   * quantisation error is, not onto outputs a live code already covers.
   */
  targets?: 'uniform' | 'far';
}

/**
 * Updates `w` (internal layout [in=dim, out=dim], row-major: code = e w + b) in place. `e`: frozen codebook
 * [n, dim]; `usage`: counts per code over the window; `z`: encoder outputs [m, dim] to draw targets from;
 * `rand`: uniform [0, 1) source (seeded by the caller, so runs stay reproducible).
 */
export function reseedDeadCodes(w: Float32Array, b: Float32Array, e: Float32Array, usage: ArrayLike<number>, z: Float32Array, dim: number, rand: () => number,
  opts: ReseedOptions = {}): ReseedResult {
  const n = e.length / dim;
  const m = z.length / dim;
  const dead: number[] = [];
  const live: number[] = [];
  const minUse = Math.max(1, opts.minUsage ?? 1);
  for (let j = 0; j < n; j++) (usage[j] >= minUse ? live : dead).push(j);
  if ((!dead.length && !opts.means) || !m) return { reseeded: 0, dead: dead.length, kept: live.length };
  // Rows the solve can pin exactly: fewer than dim (a margin keeps E_S E_S^T well conditioned).
  const cap = Math.min(n, dim - 8);
  if (cap <= 0) return { reseeded: 0, dead: dead.length, kept: 0 };
  let nDead = Math.min(dead.length, m, cap - Math.min(live.length, Math.floor(cap / 2)));
  live.sort((a, c) => usage[c] - usage[a]);
  shuffle(dead, rand);
  // Targets for the dead rows: distinct encoder outputs, drawn uniformly or (`far`) by k-means++ seeding
  // (which stops early when every output already sits on a centre).
  let picks: number[];
  if (opts.targets === 'far') {
    picks = farthestPicks(w, b, e, usage, z, dim, live, nDead, rand, opts);
    nDead = picks.length;
  } else {
    picks = Array.from({ length: m }, (_, i) => i);
  }
  const nLive = Math.min(live.length, cap - nDead);
  const rowsS = [...dead.slice(0, nDead), ...live.slice(0, nLive)];
  const s = rowsS.length;
  if (opts.targets !== 'far') shuffle(picks, rand);
  // R = T - (E_S W + b), [s, dim]; for the live rows zero, or (k-means step) their mean minus their value.
  const r = new Float64Array(s * dim);
  const cur = new Float64Array(dim);
  for (let k = 0; k < s; k++) {
    const j = rowsS[k];
    const isDead = k < nDead;
    if (!isDead && !opts.means) continue;
    codeOf(w, b, e, j, dim, cur);
    let norm = 1;
    if (!isDead && opts.unit) {
      let sq = 0;
      for (let o = 0; o < dim; o++) sq += opts.means![j * dim + o] ** 2;
      norm = Math.sqrt(sq) || 1;
    }
    for (let o = 0; o < dim; o++) {
      const t = isDead ? z[picks[k] * dim + o] : opts.means![j * dim + o] / (opts.unit ? norm : usage[j]);
      r[k * dim + o] = t - cur[o];
    }
  }
  // G = E_S E_S^T + λ I.
  const g = new Float64Array(s * s);
  let trace = 0;
  for (let a = 0; a < s; a++) {
    for (let c = 0; c <= a; c++) {
      let acc = 0;
      const ja = rowsS[a] * dim;
      const jc = rowsS[c] * dim;
      for (let i = 0; i < dim; i++) acc += e[ja + i] * e[jc + i];
      g[a * s + c] = acc;
      g[c * s + a] = acc;
    }
    trace += g[a * s + a];
  }
  const lambda = 1e-6 * (trace / s);
  for (let a = 0; a < s; a++) g[a * s + a] += lambda;
  choleskySolveInPlace(g, r, s, dim);
  // ΔW = E_S^T A, added to w.
  for (let k = 0; k < s; k++) {
    const j = rowsS[k] * dim;
    for (let i = 0; i < dim; i++) {
      const ei = e[j + i];
      if (ei === 0) continue;
      const row = i * dim;
      for (let o = 0; o < dim; o++) w[row + o] += ei * r[k * dim + o];
    }
  }
  return { reseeded: nDead, dead: dead.length, kept: nLive };
}

/** Solves G X = R for X (G symmetric positive definite [s, s], R [s, cols]); X replaces R. G is overwritten by its factor. */
export function choleskySolveInPlace(g: Float64Array, r: Float64Array, s: number, cols: number): void {
  for (let j = 0; j < s; j++) {
    let d = g[j * s + j];
    for (let k = 0; k < j; k++) d -= g[j * s + k] * g[j * s + k];
    if (!(d > 0)) throw new Error('re-seeding: the codebook rows are linearly dependent (Cholesky pivot not positive)');
    const l = Math.sqrt(d);
    g[j * s + j] = l;
    for (let i = j + 1; i < s; i++) {
      let v = g[i * s + j];
      for (let k = 0; k < j; k++) v -= g[i * s + k] * g[j * s + k];
      g[i * s + j] = v / l;
    }
  }
  // L Y = R, then L^T X = Y.
  for (let i = 0; i < s; i++) {
    for (let k = 0; k < i; k++) {
      const lik = g[i * s + k];
      for (let c = 0; c < cols; c++) r[i * cols + c] -= lik * r[k * cols + c];
    }
    const lii = g[i * s + i];
    for (let c = 0; c < cols; c++) r[i * cols + c] /= lii;
  }
  for (let i = s - 1; i >= 0; i--) {
    for (let k = i + 1; k < s; k++) {
      const lki = g[k * s + i];
      for (let c = 0; c < cols; c++) r[i * cols + c] -= lki * r[k * cols + c];
    }
    const lii = g[i * s + i];
    for (let c = 0; c < cols; c++) r[i * cols + c] /= lii;
  }
}

/** code_j = e_j W + b into `out` (float64). */
function codeOf(w: Float32Array, b: Float32Array, e: Float32Array, j: number, dim: number, out: Float64Array): void {
  for (let o = 0; o < dim; o++) out[o] = b[o];
  for (let i = 0; i < dim; i++) {
    const eji = e[j * dim + i];
    if (eji === 0) continue;
    const row = i * dim;
    for (let o = 0; o < dim; o++) out[o] += eji * w[row + o];
  }
}

/**
 * k-means++ seeding of `count` dead codes among the encoder outputs z: the live codes (at their k-means
 * targets when `means` is given) are the centres already chosen; each next target is an output drawn with
 * probability proportional to its squared distance to the nearest centre, then a centre itself.
 */
function farthestPicks(w: Float32Array, b: Float32Array, e: Float32Array, usage: ArrayLike<number>, z: Float32Array, dim: number,
  live: readonly number[], count: number, rand: () => number, opts: ReseedOptions): number[] {
  const m = z.length / dim;
  const centres = new Float32Array(live.length * dim);
  const c = new Float64Array(dim);
  live.forEach((j, k) => {
    if (opts.means) {
      let sq = 0;
      for (let o = 0; o < dim; o++) sq += opts.means[j * dim + o] ** 2;
      const scale = opts.unit ? 1 / (Math.sqrt(sq) || 1) : 1 / usage[j];
      for (let o = 0; o < dim; o++) c[o] = opts.means[j * dim + o] * scale;
    } else {
      codeOf(w, b, e, j, dim, c);
      if (opts.unit) {
        let sq = 0;
        for (let o = 0; o < dim; o++) sq += c[o] * c[o];
        const inv = 1 / (Math.sqrt(sq) || 1);
        for (let o = 0; o < dim; o++) c[o] *= inv;
      }
    }
    for (let o = 0; o < dim; o++) centres[k * dim + o] = c[o];
  });
  // Squared distance of every output to its nearest centre: |z|^2 - 2 z.c + |c|^2.
  const cn = new Float64Array(live.length);
  for (let k = 0; k < live.length; k++) {
    let sq = 0;
    for (let o = 0; o < dim; o++) sq += centres[k * dim + o] ** 2;
    cn[k] = sq;
  }
  const d = new Float64Array(m);
  const zn = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    const zi = i * dim;
    let sq = 0;
    for (let o = 0; o < dim; o++) sq += z[zi + o] * z[zi + o];
    zn[i] = sq;
    let best = Infinity;
    for (let k = 0; k < live.length; k++) {
      const ck = k * dim;
      let dot = 0;
      for (let o = 0; o < dim; o++) dot += z[zi + o] * centres[ck + o];
      const dist = cn[k] - 2 * dot;
      if (dist < best) best = dist;
    }
    d[i] = live.length ? Math.max(0, sq + best) : 1;
  }
  const picks: number[] = [];
  for (let t = 0; t < Math.min(count, m); t++) {
    let total = 0;
    for (let i = 0; i < m; i++) total += d[i];
    let p = -1;
    if (total > 0) {
      let u = rand() * total;
      for (let i = 0; i < m && p < 0; i++) if (d[i] > 0 && (u -= d[i]) <= 0) p = i;
      if (p < 0) for (let i = m - 1; i >= 0 && p < 0; i--) if (d[i] > 0) p = i;
    }
    if (p < 0) break; // every output already sits on a centre
    picks.push(p);
    const zp = p * dim;
    for (let i = 0; i < m; i++) {
      if (d[i] === 0) continue;
      let dot = 0;
      const zi = i * dim;
      for (let o = 0; o < dim; o++) dot += z[zi + o] * z[zp + o];
      const dist = Math.max(0, zn[i] - 2 * dot + zn[p]);
      if (dist < d[i]) d[i] = dist;
    }
    d[p] = 0;
  }
  return picks;
}

function shuffle<T>(a: T[], rand: () => number): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
}
