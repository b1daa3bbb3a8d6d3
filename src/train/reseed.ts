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

/** Encoder outputs the `far` and `split` targets consider at most (their cost is rows x live codes x width). */
const MAX_TARGET_ROWS = 4096;
/** Fewest outputs on either side of a split. */
const MIN_HALF = 4;

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
   * quantisation error is, not onto outputs a live code already covers; `split`, half-cluster means (see
   * splitTargets: a live code's cluster is split in two along its principal direction).
   */
  targets?: 'uniform' | 'far' | 'split';
}

/**
 * Updates `w` (internal layout [in=dim, out=dim], row-major: code = e w + b) in place. `e`: frozen codebook
 * [n, dim]; `usage`: counts per code over the window; `z`: encoder outputs [m, dim] to draw targets from;
 * `rand`: uniform [0, 1) source (seeded by the caller, so runs stay reproducible).
 */
export function reseedDeadCodes(w: Float32Array, b: Float32Array, e: Float32Array, usage: ArrayLike<number>, z: Float32Array, dim: number, rand: () => number,
  opts: ReseedOptions = {}): ReseedResult {
  const steps = reseedSteps(w, b, e, usage, z, dim, rand, opts);
  let r = steps.next();
  while (!r.done) r = steps.next(nearestCentres(r.value.centres, r.value.z, dim));
  return r.value;
}

/** Which live centre is nearest to each encoder output, as the `far` and `split` targets ask it. */
export interface CentreQuery {
  /** The live codes as centres [nc, dim]. */
  centres: Float32Array;
  /** Encoder outputs [m, dim]. */
  z: Float32Array;
}

/**
 * The nearest centre of every output (lowest index on ties) and its squared distance |z|^2 - 2 z.c + |c|^2 in
 * nearestCentres' own float64 roundings (distance 1 and centre -1 without centres).
 */
export interface NearestCentres {
  index: Int32Array;
  dist: Float64Array;
}

/**
 * reseedDeadCodes with the nearest-centre search answered by `nearest` (e.g. candidates from onnxruntime
 * re-ranked by rerankNearestCentres; absent: the JavaScript scan): the same result whenever `nearest`
 * answers as that scan does.
 */
export async function reseedDeadCodesWith(nearest: ((q: CentreQuery) => Promise<NearestCentres>) | undefined, w: Float32Array, b: Float32Array, e: Float32Array,
  usage: ArrayLike<number>, z: Float32Array, dim: number, rand: () => number, opts: ReseedOptions = {}): Promise<ReseedResult> {
  const steps = reseedSteps(w, b, e, usage, z, dim, rand, opts);
  let r = steps.next();
  while (!r.done) r = steps.next(nearest ? await nearest(r.value) : nearestCentres(r.value.centres, r.value.z, dim));
  return r.value;
}

/** reseedDeadCodes' work, yielding where it needs the nearest centres (so the search can be asynchronous). */
function* reseedSteps(w: Float32Array, b: Float32Array, e: Float32Array, usage: ArrayLike<number>, z: Float32Array, dim: number, rand: () => number,
  opts: ReseedOptions): Generator<CentreQuery, ReseedResult, NearestCentres> {
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
  let deadTargets: Float32Array;
  if (opts.targets === 'far' || opts.targets === 'split') {
    const centres = liveCentres(w, b, e, usage, dim, live, opts);
    const zs = sampleRows(z, dim, MAX_TARGET_ROWS, rand);
    const near = yield { centres, z: zs };
    deadTargets = opts.targets === 'far' ? farthestTargets(near, zs, dim, nDead, rand) : splitTargets(near, centres, zs, dim, nDead, rand, opts.unit === true);
    nDead = deadTargets.length / dim;
  } else {
    const picks = Array.from({ length: m }, (_, i) => i);
    shuffle(picks, rand);
    deadTargets = new Float32Array(nDead * dim);
    for (let k = 0; k < nDead; k++) deadTargets.set(z.subarray(picks[k] * dim, (picks[k] + 1) * dim), k * dim);
  }
  const nLive = Math.min(live.length, cap - nDead);
  const rowsS = [...dead.slice(0, nDead), ...live.slice(0, nLive)];
  const s = rowsS.length;
  // R = T - (E_S W + b), [s, dim]; for the live rows zero, or (k-means step) their mean minus their value.
  const r = new Float64Array(s * dim);
  // The current codes of the rows that move (all of S with the k-means step, else the dead ones).
  const codes = codesOf(w, b, e, opts.means ? rowsS : rowsS.slice(0, nDead), dim);
  for (let k = 0; k < s; k++) {
    const j = rowsS[k];
    const isDead = k < nDead;
    if (!isDead && !opts.means) continue;
    const cur = codes.subarray(k * dim, (k + 1) * dim);
    let norm = 1;
    if (!isDead && opts.unit) {
      let sq = 0;
      for (let o = 0; o < dim; o++) sq += opts.means![j * dim + o] ** 2;
      norm = Math.sqrt(sq) || 1;
    }
    for (let o = 0; o < dim; o++) {
      const t = isDead ? deadTargets[k * dim + o] : opts.means![j * dim + o] / (opts.unit ? norm : usage[j]);
      r[k * dim + o] = t - cur[o];
    }
  }
  // G = E_S E_S^T + λ I.
  const g = gramOfRowsCached(e, rowsS, dim);
  let trace = 0;
  for (let a = 0; a < s; a++) trace += g[a * s + a];
  const lambda = 1e-6 * (trace / s);
  for (let a = 0; a < s; a++) g[a * s + a] += lambda;
  choleskySolveInPlace(g, r, s, dim);
  addProjectorUpdate(w, e, rowsS, r, dim);
  return { reseeded: nDead, dead: dead.length, kept: nLive };
}

/** dots4's output, reused (the callers are synchronous). */
const DOTS = new Float64Array(4);

/**
 * out[j] = x[xo .. xo+n) . y[oj .. oj+n) for the four offsets, each a float64 sum in index order (the same
 * sums, term for term, as four separate dot products), reading x once.
 */
function dots4(x: Float32Array, xo: number, y: Float32Array, o0: number, o1: number, o2: number, o3: number, n: number, out: Float64Array): void {
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  for (let i = 0; i < n; i++) {
    const v = x[xo + i];
    a0 += v * y[o0 + i];
    a1 += v * y[o1 + i];
    a2 += v * y[o2 + i];
    a3 += v * y[o3 + i];
  }
  out[0] = a0;
  out[1] = a1;
  out[2] = a2;
  out[3] = a3;
}

/**
 * G[a][c] = e_{rows[a]} . e_{rows[c]} (float64 sums in index order), four columns at a time so each row of
 * `a` is read once per four: the same sums, term for term, as one dot product at a time.
 */
function gramOfRows(e: Float32Array, rows: readonly number[], dim: number): Float64Array {
  const s = rows.length;
  const g = new Float64Array(s * s);
  const acc = DOTS;
  for (let a = 0; a < s; a++) {
    const ja = rows[a] * dim;
    let c = 0;
    for (; c + 4 <= a + 1; c += 4) {
      dots4(e, ja, e, rows[c] * dim, rows[c + 1] * dim, rows[c + 2] * dim, rows[c + 3] * dim, dim, acc);
      for (let j = 0; j < 4; j++) g[a * s + c + j] = g[(c + j) * s + a] = acc[j];
    }
    for (; c <= a; c++) {
      const jc = rows[c] * dim;
      let acc = 0;
      for (let i = 0; i < dim; i++) acc += e[ja + i] * e[jc + i];
      g[a * s + c] = g[c * s + a] = acc;
    }
  }
  return g;
}

/** Codebooks up to this many rows keep their whole Gram matrix between calls (8 x rows^2 bytes: 2 MB at 512). */
const GRAM_CACHE_ROWS = 4096;
let gramCache: { e: Float32Array; dim: number; full: Float64Array } | null = null;

/**
 * gramOfRows, read from the Gram matrix of the whole (frozen) codebook, computed once and kept while `e`
 * holds the same values: every entry is the same index-ordered float64 sum whichever rows come first
 * (products commute), so the rows in S's order give exactly gramOfRows' matrix.
 */
function gramOfRowsCached(e: Float32Array, rows: readonly number[], dim: number): Float64Array {
  const n = e.length / dim;
  if (n > GRAM_CACHE_ROWS) return gramOfRows(e, rows, dim);
  const c = gramCache;
  let same = c !== null && c.dim === dim && c.e.length === e.length;
  for (let i = 0; same && i < e.length; i++) if (c!.e[i] !== e[i] && !(Number.isNaN(c!.e[i]) && Number.isNaN(e[i]))) same = false;
  if (!same) gramCache = { e: e.slice(), dim, full: gramOfRows(e, Array.from({ length: n }, (_, j) => j), dim) };
  const full = gramCache!.full;
  const s = rows.length;
  const g = new Float64Array(s * s);
  for (let a = 0; a < s; a++) {
    const ra = rows[a] * n;
    for (let b = 0; b < s; b++) g[a * s + b] = full[ra + rows[b]];
  }
  return g;
}

/** Rows of W per tile of the update: 32 x dim float32 stay in cache while every row of A passes over them. */
const W_TILE = 32;

/**
 * W += E_S^T A (A = `a` [rows, dim]): w[i][o] += e_{rows[k]}[i] a[k][o] for k in order, each addition rounded to
 * float32 as W is, and terms with e = 0 skipped, exactly as a loop over k outside; tiled over W's rows so A is
 * streamed dim / W_TILE times instead of W once per row of A.
 */
function addProjectorUpdate(w: Float32Array, e: Float32Array, rows: readonly number[], a: Float64Array, dim: number): void {
  for (let i0 = 0; i0 < dim; i0 += W_TILE) {
    const i1 = Math.min(dim, i0 + W_TILE);
    for (let k = 0; k < rows.length; k++) {
      const j = rows[k] * dim;
      const ak = k * dim;
      let i = i0;
      // Two rows of W per pass over a row of A.
      for (; i + 2 <= i1; i += 2) {
        const e0 = e[j + i];
        const e1 = e[j + i + 1];
        const r0 = i * dim;
        const r1 = r0 + dim;
        if (e0 !== 0 && e1 !== 0) {
          for (let o = 0; o < dim; o++) {
            const x = a[ak + o];
            w[r0 + o] += e0 * x;
            w[r1 + o] += e1 * x;
          }
        } else {
          if (e0 !== 0) for (let o = 0; o < dim; o++) w[r0 + o] += e0 * a[ak + o];
          if (e1 !== 0) for (let o = 0; o < dim; o++) w[r1 + o] += e1 * a[ak + o];
        }
      }
      for (; i < i1; i++) {
        const ei = e[j + i];
        if (ei === 0) continue;
        const row = i * dim;
        for (let o = 0; o < dim; o++) w[row + o] += ei * a[ak + o];
      }
    }
  }
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
  // Four (then two) earlier rows per pass over row i, subtracted in the same order as one at a time.
  for (let i = 0; i < s; i++) {
    const ri = i * cols;
    let k = 0;
    for (; k + 4 <= i; k += 4) {
      const l0 = g[i * s + k];
      const l1 = g[i * s + k + 1];
      const l2 = g[i * s + k + 2];
      const l3 = g[i * s + k + 3];
      const r0 = k * cols;
      const r1 = r0 + cols;
      const r2 = r1 + cols;
      const r3 = r2 + cols;
      for (let c = 0; c < cols; c++) r[ri + c] = r[ri + c] - l0 * r[r0 + c] - l1 * r[r1 + c] - l2 * r[r2 + c] - l3 * r[r3 + c];
    }
    for (; k + 2 <= i; k += 2) {
      const l0 = g[i * s + k];
      const l1 = g[i * s + k + 1];
      const r0 = k * cols;
      const r1 = r0 + cols;
      for (let c = 0; c < cols; c++) r[ri + c] = r[ri + c] - l0 * r[r0 + c] - l1 * r[r1 + c];
    }
    for (; k < i; k++) {
      const lik = g[i * s + k];
      for (let c = 0; c < cols; c++) r[i * cols + c] -= lik * r[k * cols + c];
    }
    const lii = g[i * s + i];
    for (let c = 0; c < cols; c++) r[i * cols + c] /= lii;
  }
  for (let i = s - 1; i >= 0; i--) {
    const ri = i * cols;
    let k = i + 1;
    for (; k + 4 <= s; k += 4) {
      const l0 = g[k * s + i];
      const l1 = g[(k + 1) * s + i];
      const l2 = g[(k + 2) * s + i];
      const l3 = g[(k + 3) * s + i];
      const r0 = k * cols;
      const r1 = r0 + cols;
      const r2 = r1 + cols;
      const r3 = r2 + cols;
      for (let c = 0; c < cols; c++) r[ri + c] = r[ri + c] - l0 * r[r0 + c] - l1 * r[r1 + c] - l2 * r[r2 + c] - l3 * r[r3 + c];
    }
    for (; k + 2 <= s; k += 2) {
      const l0 = g[k * s + i];
      const l1 = g[(k + 1) * s + i];
      const r0 = k * cols;
      const r1 = r0 + cols;
      for (let c = 0; c < cols; c++) r[ri + c] = r[ri + c] - l0 * r[r0 + c] - l1 * r[r1 + c];
    }
    for (; k < s; k++) {
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
 * code_j = e_j W + b (float64) of every row in `rows`, [rows, dim]: codeOf's sums term for term (i in order,
 * terms with e = 0 skipped), four rows per pass over W so W is streamed a quarter as often.
 */
function codesOf(w: Float32Array, b: Float32Array, e: Float32Array, rows: readonly number[], dim: number): Float64Array {
  const out = new Float64Array(rows.length * dim);
  let k = 0;
  for (; k + 4 <= rows.length; k += 4) {
    const o0 = k * dim;
    const o1 = o0 + dim;
    const o2 = o1 + dim;
    const o3 = o2 + dim;
    for (let o = 0; o < dim; o++) out[o0 + o] = out[o1 + o] = out[o2 + o] = out[o3 + o] = b[o];
    const j0 = rows[k] * dim;
    const j1 = rows[k + 1] * dim;
    const j2 = rows[k + 2] * dim;
    const j3 = rows[k + 3] * dim;
    for (let i = 0; i < dim; i++) {
      const e0 = e[j0 + i];
      const e1 = e[j1 + i];
      const e2 = e[j2 + i];
      const e3 = e[j3 + i];
      const row = i * dim;
      if (e0 !== 0 && e1 !== 0 && e2 !== 0 && e3 !== 0) {
        for (let o = 0; o < dim; o++) {
          const x = w[row + o];
          out[o0 + o] += e0 * x;
          out[o1 + o] += e1 * x;
          out[o2 + o] += e2 * x;
          out[o3 + o] += e3 * x;
        }
      } else {
        if (e0 !== 0) for (let o = 0; o < dim; o++) out[o0 + o] += e0 * w[row + o];
        if (e1 !== 0) for (let o = 0; o < dim; o++) out[o1 + o] += e1 * w[row + o];
        if (e2 !== 0) for (let o = 0; o < dim; o++) out[o2 + o] += e2 * w[row + o];
        if (e3 !== 0) for (let o = 0; o < dim; o++) out[o3 + o] += e3 * w[row + o];
      }
    }
  }
  for (; k < rows.length; k++) codeOf(w, b, e, rows[k], dim, out.subarray(k * dim, (k + 1) * dim));
  return out;
}

/** The live codes as centres [live, dim]: at their k-means targets when `means` is given, else where they are. */
function liveCentres(w: Float32Array, b: Float32Array, e: Float32Array, usage: ArrayLike<number>, dim: number, live: readonly number[], opts: ReseedOptions): Float32Array {
  const centres = new Float32Array(live.length * dim);
  const c = new Float64Array(dim);
  live.forEach((j, k) => {
    if (opts.means) for (let o = 0; o < dim; o++) c[o] = opts.means[j * dim + o] / usage[j];
    else codeOf(w, b, e, j, dim, c);
    if (opts.unit) normalise(c);
    for (let o = 0; o < dim; o++) centres[k * dim + o] = c[o];
  });
  return centres;
}

function normalise(v: Float64Array | Float32Array): void {
  let sq = 0;
  for (let o = 0; o < v.length; o++) sq += v[o] * v[o];
  const inv = 1 / (Math.sqrt(sq) || 1);
  for (let o = 0; o < v.length; o++) v[o] *= inv;
}

/** Nearest centre of every output and the squared distance to it (|z|^2 - 2 z.c + |c|^2); distance 1 and centre -1 without centres. */
export function nearestCentres(centres: Float32Array, z: Float32Array, dim: number): NearestCentres {
  const m = z.length / dim;
  const cn = centreNormsSq(centres, dim);
  const index = new Int32Array(m).fill(-1);
  const dist = new Float64Array(m).fill(1);
  for (let i = 0; i < m; i++) scanRow(centres, cn, z, dim, i, index, dist);
  return { index, dist };
}

/** |c|^2 of every centre (float64, summed in index order). */
function centreNormsSq(centres: Float32Array, dim: number): Float64Array {
  const nc = centres.length / dim;
  const cn = new Float64Array(nc);
  for (let k = 0; k < nc; k++) for (let o = 0; o < dim; o++) cn[k] += centres[k * dim + o] ** 2;
  return cn;
}

/** Output i against every centre: index[i] and dist[i] as nearestCentres defines them. */
function scanRow(centres: Float32Array, cn: Float64Array, z: Float32Array, dim: number, i: number, index: Int32Array, dist: Float64Array): void {
  const nc = cn.length;
  const zi = i * dim;
  let sq = 0;
  for (let o = 0; o < dim; o++) sq += z[zi + o] * z[zi + o];
  let best = Infinity;
  let at = -1;
  const acc = DOTS;
  // Four centres per pass over the row (each dot product still summed in index order), compared in order.
  let k = 0;
  for (; k + 4 <= nc; k += 4) {
    const c0 = k * dim;
    dots4(z, zi, centres, c0, c0 + dim, c0 + 2 * dim, c0 + 3 * dim, dim, acc);
    for (let j = 0; j < 4; j++) {
      const d = cn[k + j] - 2 * acc[j];
      if (d < best) { best = d; at = k + j; }
    }
  }
  for (; k < nc; k++) {
    const ck = k * dim;
    let dot = 0;
    for (let o = 0; o < dim; o++) dot += z[zi + o] * centres[ck + o];
    const d = cn[k] - 2 * dot;
    if (d < best) { best = d; at = k; }
  }
  index[i] = at;
  if (nc) dist[i] = Math.max(0, sq + best);
}

/**
 * nearestCentres' exact answer from approximate candidates: `candidates` [m, k] are the k centres of least
 * approximate |c|^2 - 2 z.c per output (`approx` [m, k], ascending; e.g. a float32 GEMM and TopK on
 * onnxruntime). Each output's candidates are scored with nearestCentres' own float64 roundings and the
 * least taken (lowest index on ties). That is nearestCentres' answer whenever the approximation is within
 * eps of the exact value for every centre and the k-th candidate is more than 2 eps beyond the first (no
 * centre outside can then be as near); eps is bounded for any float32 summation order by
 * 2 dim u |z| max|c| plus the roundings of |c|^2 and the sum (u = 2^-24), here doubled. Outputs without
 * that margin, and every output when k covers all centres, are scanned in full.
 */
export function rerankNearestCentres(centres: Float32Array, z: Float32Array, dim: number, candidates: ArrayLike<number | bigint>, approx: Float32Array, k: number): NearestCentres {
  const m = z.length / dim;
  const cn = centreNormsSq(centres, dim);
  const nc = cn.length;
  const index = new Int32Array(m).fill(-1);
  const dist = new Float64Array(m).fill(1);
  let cmax = 0;
  for (let c = 0; c < nc; c++) cmax = Math.max(cmax, cn[c]);
  const u = 2 ** -24;
  const gamma = (dim * u) / (1 - dim * u);
  const cNorm = Math.sqrt(cmax);
  for (let i = 0; i < m; i++) {
    const zi = i * dim;
    let sq = 0;
    for (let o = 0; o < dim; o++) sq += z[zi + o] * z[zi + o];
    const zn = Math.sqrt(sq);
    const eps = 2 * (2 * gamma * zn * cNorm + 2 * u * (cmax + 2 * zn * cNorm) + 1e-12);
    if (k >= nc || !(approx[i * k + k - 1] - approx[i * k] > 2 * eps)) {
      scanRow(centres, cn, z, dim, i, index, dist);
      continue;
    }
    let best = Infinity;
    let at = -1;
    for (let j = 0; j < k; j++) {
      const c = Number(candidates[i * k + j]);
      const ck = c * dim;
      let dot = 0;
      for (let o = 0; o < dim; o++) dot += z[zi + o] * centres[ck + o];
      const d = cn[c] - 2 * dot;
      if (d < best || (d === best && c < at)) { best = d; at = c; }
    }
    index[i] = at;
    dist[i] = Math.max(0, sq + best);
  }
  return { index, dist };
}

/** Draws an index with probability proportional to its non-negative weight; -1 when every weight is 0. */
function drawWeighted(weights: Float64Array, rand: () => number): number {
  let total = 0;
  for (const x of weights) total += x;
  if (!(total > 0)) return -1;
  let u = rand() * total;
  for (let i = 0; i < weights.length; i++) if (weights[i] > 0 && (u -= weights[i]) <= 0) return i;
  for (let i = weights.length - 1; i >= 0; i--) if (weights[i] > 0) return i;
  return -1;
}

/**
 * k-means++ seeding of up to `count` dead codes among the encoder outputs z, the live codes being the
 * centres already chosen: each next target is an output drawn with probability proportional to its
 * squared distance to the nearest centre, then a centre itself. Stops early when every output sits on a centre.
 */
function farthestTargets(near: NearestCentres, z: Float32Array, dim: number, count: number, rand: () => number): Float32Array {
  const m = z.length / dim;
  const d = near.dist.slice();
  const zn = new Float64Array(m);
  for (let i = 0; i < m; i++) for (let o = 0; o < dim; o++) zn[i] += z[i * dim + o] ** 2;
  const picks: number[] = [];
  while (picks.length < Math.min(count, m)) {
    const p = drawWeighted(d, rand);
    if (p < 0) break;
    picks.push(p);
    const zp = p * dim;
    for (let i = 0; i < m; i++) {
      if (d[i] === 0) continue;
      let dot = 0;
      const zi = i * dim;
      for (let o = 0; o < dim; o++) dot += z[zi + o] * z[zp + o];
      d[i] = Math.min(d[i], Math.max(0, zn[i] - 2 * dot + zn[p]));
    }
    d[p] = 0;
  }
  const out = new Float32Array(picks.length * dim);
  picks.forEach((p, k) => out.set(z.subarray(p * dim, (p + 1) * dim), k * dim));
  return out;
}

/**
 * Cluster splitting (the splitting step of Linde, Buzo & Gray 1980; bisecting k-means): a dead code goes to
 * the mean of one half of a cluster of the outputs z, the half on one side of the cluster's principal
 * direction (two power iterations from a random member). A single output is a poor target in a
 * high-dimensional space: a centroid is nearer to most outputs than any one output is, so a code placed on
 * one output wins almost nothing and is dead again at the next re-seed; a half-cluster mean takes over about
 * a third of its cluster at once, and the next k-means steps balance the pair. The clusters start as the live
 * codes' and the one split is drawn with probability proportional to its distortion (the sum of its outputs'
 * squared distances to their mean); its two halves then are clusters of their own, so a cluster split again
 * is split along another direction. Fewer targets than `count` when no cluster has two distinct outputs left.
 */
function splitTargets(near: NearestCentres, centres: Float32Array, z: Float32Array, dim: number, count: number, rand: () => number, unit: boolean): Float32Array {
  const m = z.length / dim;
  const nc = Math.max(1, centres.length / dim);
  const { index } = near;
  const clusters: number[][] = Array.from({ length: nc }, () => []);
  for (let i = 0; i < m; i++) clusters[Math.max(0, index[i])].push(i);
  const weight: number[] = clusters.map((mem) => distortion(z, dim, mem, meanOf(z, dim, mem)));
  const out = new Float32Array(count * dim);
  let made = 0;
  const u = new Float64Array(dim);
  const next = new Float64Array(dim);
  while (made < count) {
    const c = drawWeighted(Float64Array.from(weight), rand);
    if (c < 0) break;
    const mem = clusters[c];
    const mu = meanOf(z, dim, mem);
    const r = mem[Math.floor(rand() * mem.length)];
    for (let o = 0; o < dim; o++) u[o] = z[r * dim + o] - mu[o];
    for (let it = 0; it < 2; it++) {
      next.fill(0);
      for (const i of mem) {
        let a = 0;
        for (let o = 0; o < dim; o++) a += (z[i * dim + o] - mu[o]) * u[o];
        for (let o = 0; o < dim; o++) next[o] += a * (z[i * dim + o] - mu[o]);
      }
      u.set(next);
    }
    // Each member's side of the principal direction, computed once.
    const half: number[] = [];
    const rest: number[] = [];
    for (const i of mem) {
      let a = 0;
      for (let o = 0; o < dim; o++) a += (z[i * dim + o] - mu[o]) * u[o];
      (a > 0 ? half : rest).push(i);
    }
    // Halves of fewer than MIN_HALF outputs would be codes for one image's patch: that cluster stays whole.
    if (half.length < MIN_HALF || rest.length < MIN_HALF) { weight[c] = 0; continue; }
    const t = meanOf(z, dim, half);
    clusters[c] = rest;
    weight[c] = distortion(z, dim, rest, meanOf(z, dim, rest));
    clusters.push(half);
    weight.push(distortion(z, dim, half, t));
    if (unit) normalise(t);
    out.set(t, made * dim);
    made++;
  }
  return out.slice(0, made * dim);
}

/** At most `max` rows of z, drawn without replacement (all of them when there are no more). */
function sampleRows(z: Float32Array, dim: number, max: number, rand: () => number): Float32Array {
  const m = z.length / dim;
  if (m <= max) return z;
  const idx = Array.from({ length: m }, (_, i) => i);
  shuffle(idx, rand);
  const out = new Float32Array(max * dim);
  for (let k = 0; k < max; k++) out.set(z.subarray(idx[k] * dim, (idx[k] + 1) * dim), k * dim);
  return out;
}

function meanOf(z: Float32Array, dim: number, rows: readonly number[]): Float64Array {
  const mu = new Float64Array(dim);
  for (const i of rows) for (let o = 0; o < dim; o++) mu[o] += z[i * dim + o] / rows.length;
  return mu;
}

/** Sum of the squared distances of the rows to `mu` (0 for fewer than two rows: nothing to split). */
function distortion(z: Float32Array, dim: number, rows: readonly number[], mu: Float64Array): number {
  if (rows.length < 2) return 0;
  let s = 0;
  for (const i of rows) for (let o = 0; o < dim; o++) s += (z[i * dim + o] - mu[o]) ** 2;
  return s;
}

function shuffle<T>(a: T[], rand: () => number): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
}
