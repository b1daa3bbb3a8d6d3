// The tokenizer network on an ONNX runtime (portable): encode (image -> z -> local ids) and decode (local
// ids + global embeddings -> image) with the ONNX models that src/network emits from its own module
// definitions and the checkpoint's state dict (../network/v2l-model.onnx.ts). The runtime is injected
// (`OrtRuntime`: a session factory and a tensor constructor in onnxruntime-common's shape), so the same
// search, re-ranking, encode and decode run on onnxruntime-node (./onnx-node.ts: sessions, export and the
// per-fingerprint cache) and on onnxruntime-web in a browser (../browser/ort-web.ts).
//
// Nearest-row search: one Gemm (the distance fused into the product) + TopK per chunk of rows returns the
// few nearest candidates in float32, the codebook fed at every call (the engine's one copy of it). Two
// float32 implementations (onnxruntime's MLAS here, XNNPACK in tfjs-wasm) round |z|^2 + |e|^2 - 2 z.e
// differently in the last bits, which decides between rows nearer than float32 resolves; so the
// candidates are re-ranked in JS with tfjs-wasm's own roundings (see distTfjs; ties to the lower index as
// tfjs' argMin), and a row whose float32 ranking leaves a candidate outside the returned set within the
// rounding margin is scanned in full. Large codebooks (LLaMA-3's 128,256 rows) take a cheaper first pass
// in 8-bit integers whose error on every distance is bounded; the candidates it cannot rule out under that
// bound are re-ranked the same way, and rows the bound does not separate take the float32 search: the
// ids are the same either way.
import type { HostTensor } from '../io/dtypes.js';
import { downFactor, hasCrossAttention, type V2LConfig } from '../network/config.js';
import { quantizeRowInt8 } from '../network/quantize.onnx.js';

/** onnxruntime-common's Tensor, as far as the engine uses it (onnxruntime-node's and -web's both fit). */
export interface OrtTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
  dispose(): void;
}

/** onnxruntime-common's InferenceSession, as far as the engine uses it. */
export interface OrtSession {
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}

/** What the engine needs of an ONNX runtime: sessions from model bytes (or a file, where it reads files) and tensors. */
export interface OrtRuntime {
  /** `externalData`: files a model reads its initializers from (ONNX external data), by the name the model gives. */
  createSession(model: Uint8Array | string, opts?: { externalData?: { path: string; data: Uint8Array }[] }): Promise<OrtSession>;
  tensor(type: 'float32', data: Float32Array, dims: readonly number[]): OrtTensor;
  tensor(type: 'int64', data: BigInt64Array, dims: readonly number[]): OrtTensor;
  /** Where it runs, for reports: 'cpu', 'cuda', 'wasm', 'webgpu'. */
  readonly device: string;
  /** Intra-op threads. */
  readonly threads: number;
}

/** The model files of one export, as bytes (or paths, for a runtime that reads files). */
export interface OnnxModels {
  encoder: Uint8Array | string;
  decoder: Uint8Array | string;
  localSearch: Uint8Array | string;
  globalSearch: Uint8Array | string;
  /** The int8 first pass over the local codebook (absent: the local search is float32 only). */
  localSearchInt8?: Int8SearchModel;
}

/** The int8 first pass's model over one codebook (`coarseSearchModel` of ../network/v2l-model.onnx.ts) and how to run it. */
export interface Int8SearchModel {
  model: Uint8Array | string;
  /** Its integer range (quantizeRowInt8). */
  levels: number;
  /**
   * The model reads the float32 rows as external data from this file name (`coarseSearchModel`'s
   * `rowsFile`): the engine gives it the codebook's rows when it opens the model, and feeds none per call.
   */
  rowsFile?: string;
  /** Candidates returned per row beyond k (default INT8_CANDIDATES). */
  candidates?: number;
  /**
   * Of those, how many beyond k get their float32 distances in the same call (default: all). A row whose
   * candidates within the error bound reach past them takes the float32 search.
   */
  exactCandidates?: number;
}

/** Distances computed per call: bounds the [rows, N] matrix (64 MB: 512 rows of 32,000, 130 of 128,256). */
const SEARCH_ELEMENTS = 2 ** 24;
/** Rows of z searched per call at most. */
const SEARCH_CHUNK = 512;
/** Candidates returned per row beyond the k asked for, to re-rank (float32 search). */
const EXTRA_CANDIDATES = 7;
/**
 * Candidates the int8 first pass returns per row beyond k. Its error bound (below) leaves ~50 (median) to
 * ~300 rows of LLaMA-3-sized random codebooks within reach of the nearest: 511 separates nearly every
 * row (the rest take the float32 search, which reads the whole codebook again); their float32 distances
 * are computed in the same call.
 */
const INT8_CANDIDATES = 511;
/** Codebooks from this many rows take the int8 first pass (where its model is there): at 32,000 rows it measured slower than float32. */
const INT8_MIN_ROWS = 65536;
/**
 * Bound on the float32 rounding of one distance, relative to |z|^2 + max |e|^2 (dot products of 768 terms
 * round by a few 1e-7 in practice: a wide safety factor). A row outside the returned candidates can only
 * rank before the k-th when the float32 gap between them is under twice this.
 */
const ROUNDING = 1e-5;
/** Squared norm fed for an excluded row: no distance reaches it, so TopK ranks the row last. */
const EXCLUDED_SQ = 3e38;

/** The files of one export, in the cache folder and from `v2l export-onnx`. */
export const ONNX_FILES = {
  encoder: 'encoder.onnx',
  decoder: 'decoder.onnx',
  localSearch: 'local_search.onnx',
  globalSearch: 'global_search.onnx',
  projectedCodebook: 'projected_local_codebook.f32',
  manifest: 'manifest.json',
} as const;

/**
 * The int8 first pass over the local codebook on onnxruntime-node's kernels (Node takes it from 65,536 rows;
 * not among ONNX_FILES, the files every package must carry).
 */
export const LOCAL_SEARCH_INT8_FILE = 'local_search_int8.onnx';

/**
 * The int8 first pass for onnxruntime-web's wasm kernels (`wasmCoarseSearchModel`: the page's local search),
 * its float32 rows read from ONNX_FILES.projectedCodebook; written by `v2l export-onnx`.
 */
export const LOCAL_SEARCH_INT8_WASM_FILE = 'local_search_int8_wasm.onnx';

export interface Codebook {
  rows: Float32Array;
  n: number;
  dim: number;
  /** Squared row norms as tfjs computes them (float32 squares summed in float32, in order). */
  sq32: Float32Array;
  /** The largest squared norm of a searched row. */
  maxSq: number;
  /** Rows left out of the search (special tokens without text), ascending; they keep their place (row = id). */
  excluded: readonly number[];
  /** 1 at excluded rows. */
  excludedMask: Uint8Array;
  /** Rows searched: n - excluded. */
  searched: number;
  /** The squared norms fed to the search models: sq32, EXCLUDED_SQ at excluded rows. */
  sqFed: Float32Array;
}

/** sum of x[off..off+dim)^2 the way tfjs-wasm's square + sum kernels round it (float32, sequential). */
function sumSq32(x: Float32Array, off: number, dim: number): number {
  const f = Math.fround;
  let s = 0;
  for (let j = 0; j < dim; j++) s = f(s + f(x[off + j] * x[off + j]));
  return s;
}

export function codebookOf(rows: Float32Array, n: number, dim: number, excluded: readonly number[] = []): Codebook {
  if (excluded.some((r, i) => !Number.isInteger(r) || r < 0 || r >= n || (i > 0 && r <= excluded[i - 1]))) {
    throw new Error(`search: excluded rows must be ascending row ids in [0, ${n})`);
  }
  if (excluded.length >= n) throw new Error(`search: all ${n} rows are excluded`);
  const sq32 = new Float32Array(n);
  for (let r = 0; r < n; r++) sq32[r] = sumSq32(rows, r * dim, dim);
  const sqFed = Float32Array.from(sq32);
  const excludedMask = new Uint8Array(n);
  for (const r of excluded) {
    sqFed[r] = EXCLUDED_SQ;
    excludedMask[r] = 1;
  }
  let maxSq = 0;
  for (let r = 0; r < n; r++) if (!excludedMask[r]) maxSq = Math.max(maxSq, sq32[r]);
  return { rows, n, dim, sq32, maxSq, excluded: [...excluded], excludedMask, searched: n - excluded.length, sqFed };
}

/**
 * d = (|z|^2 + |e|^2) - 2 z.e with tfjs' float32 roundings (./network/quantize.ts on the wasm backend:
 * XNNPACK's matMul accumulates each dot product in order, one rounded product and one rounded sum per
 * term). Where two rows are nearer than float32 resolves, this reproduces tfjs' choice; an implementation
 * that rounds otherwise (onnxruntime's blocked FMA kernels, or tfjs' own cpu backend) may pick the other.
 */
function distTfjs(z: Float32Array, zOff: number, zsq32: number, cb: Codebook, row: number): number {
  const f = Math.fround;
  const e = cb.rows;
  const off = row * cb.dim;
  let dot = 0;
  for (let j = 0; j < cb.dim; j++) dot = f(dot + f(z[zOff + j] * e[off + j]));
  return f(f(zsq32 + cb.sq32[row]) - f(2 * dot));
}

/**
 * The k nearest rows of `cb` to each row of z, nearest first, from onnxruntime's candidates (`values`,
 * `indices`: kk per row, ascending) re-ranked with tfjs' arithmetic (ties to the lower index, as tfjs'
 * argMin and topk). Each value is within `err` of tfjs' distance: the float32 rounding margin (ROUNDING),
 * plus `bound[r]` where the values are an approximate first pass's (the int8 search, which also gives the
 * float32 distances of the first `exact.width` candidates per row, `exact.values`). So tfjs' k nearest are
 * among the candidates within 2 err of the k-th, unless a row outside the candidates could be that near
 * (the kk-th is within 2 err of the k-th), or a candidate that near has no float32 distance: such a row is searched in full (`unresolved: 'scan'`, the float32 search) or left for the caller
 * with ids -1 (`'return'`: the int8 pass's caller takes the float32 search for it). Returns int32 [m, k],
 * the full scans and the rows left.
 */
export function rerank(z: Float32Array, m: number, cb: Codebook, values: Float32Array, indices: BigInt64Array | Int32Array, kk: number, k: number,
  opts: { bound?: Float64Array; exact?: { values: Float32Array; width: number }; unresolved?: 'scan' | 'return' } = {}): { ids: Int32Array; fullScans: number; unresolved: number[] } {
  const ids = new Int32Array(m * k);
  let fullScans = 0;
  const unresolved: number[] = [];
  const exact = opts.exact ?? { values, width: kk };
  const cand: number[] = [];
  const candExact: number[] = [];
  for (let r = 0; r < m; r++) {
    const zOff = r * cb.dim;
    const zsq = sumSq32(z, zOff, cb.dim);
    const rounding = ROUNDING * (zsq + cb.maxSq);
    const window = 2 * (rounding + (opts.bound?.[r] ?? 0));
    const kth = values[r * kk + k - 1];
    cand.length = 0;
    candExact.length = 0;
    // the last candidate within the window: past the candidates given (or past those with float32 distances), the row is not resolved here
    let last = k - 1;
    while (last + 1 < kk && values[r * kk + last + 1] - kth <= window) last++;
    if ((last === kk - 1 && kk < cb.searched) || last >= exact.width) {
      if (opts.unresolved === 'return') {
        unresolved.push(r);
        ids.fill(-1, r * k, (r + 1) * k);
        continue;
      }
      fullScans++;
      for (let i = 0; i < cb.n; i++) {
        if (cb.excludedMask[i]) continue;
        cand.push(i);
        candExact.push(dist64(z, zOff, cb, i));
      }
    } else {
      for (let j = 0; j <= last; j++) {
        cand.push(Number(indices[r * kk + j]));
        candExact.push(exact.values[r * exact.width + j]);
      }
    }
    ids.set(nearestTfjs(z, zOff, zsq, cb, cand, candExact, k, rounding), r * k);
  }
  return { ids, fullScans, unresolved };
}

/** |z - e|^2 in float64. */
function dist64(z: Float32Array, zOff: number, cb: Codebook, row: number): number {
  const off = row * cb.dim;
  let s = 0;
  for (let j = 0; j < cb.dim; j++) {
    const d = z[zOff + j] - cb.rows[off + j];
    s += d * d;
  }
  return s;
}

/**
 * The k rows of `cand` nearest to z's row by tfjs' float32 arithmetic (distTfjs; ties to the lower index),
 * given each candidate's distance within `rounding` of tfjs' (`candExact`: onnxruntime's float32 or a
 * float64 one): only the candidates within 2 x rounding of the k-th can be among tfjs' k nearest, so only
 * those are ranked with tfjs' per-term roundings.
 */
function nearestTfjs(z: Float32Array, zOff: number, zsq: number, cb: Codebook, cand: readonly number[], candExact: readonly number[], k: number, rounding: number): number[] {
  const kth = k === 1 ? candExact.reduce((a, b) => Math.min(a, b), Infinity) : Float64Array.from(candExact).sort()[k - 1];
  const near: { i: number; d: number }[] = [];
  for (let c = 0; c < cand.length; c++) if (candExact[c] <= kth + 2 * rounding) near.push({ i: cand[c], d: distTfjs(z, zOff, zsq, cb, cand[c]) });
  near.sort((a, b) => a.d - b.d || a.i - b.i);
  return near.slice(0, k).map((x) => x.i);
}

/**
 * What bounds the int8 first pass's error over a codebook (its integers live in the search model,
 * quantizeRowInt8 of ../network/quantize.onnx.ts): the largest searched row norm and the largest norm of
 * a row's rounding residual e - eq.
 */
export interface Int8Codebook {
  maxNorm: number;
  maxResidual: number;
}

/**
 * `levels`: 127 where the int8 GEMM accumulates exactly (VNNI, ARM dot products); 64 elsewhere, since
 * x86's pairwise u8 x s8 -> int16 step (pmaddubsw) saturates above 32,767 = 2 x 255 x 64 + 127.
 */
export function int8CodebookOf(cb: Codebook, levels: number): Int8Codebook {
  let maxNormSq = 0;
  let maxResidualSq = 0;
  for (let r = 0; r < cb.n; r++) {
    if (cb.excludedMask[r]) continue; // never a candidate
    const q = quantizeRowInt8(cb.rows, r * cb.dim, cb.dim, levels);
    maxNormSq = Math.max(maxNormSq, q.normSq);
    maxResidualSq = Math.max(maxResidualSq, q.residualSq);
  }
  // float64 sums of float32 values: a relative slack for their rounding
  return { maxNorm: Math.sqrt(maxNormSq) * (1 + 1e-9), maxResidual: Math.sqrt(maxResidualSq) * (1 + 1e-6) };
}

/**
 * DynamicQuantizeLinear's scale and zero point for a block of z, as onnxruntime computes them (the range
 * widened to include 0, over 255 levels, in float32; the zero point rounded half to even).
 */
function uint8Params(z: Float32Array): { scale: number; zero: number } {
  const f = Math.fround;
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < z.length; i++) {
    lo = Math.min(lo, z[i]);
    hi = Math.max(hi, z[i]);
  }
  const scale = f(f(hi - lo) / 255);
  if (scale === 0) return { scale: 1, zero: 0 };
  const zp = f(-f(lo / scale));
  const r = Math.round(zp);
  const even = r - zp === 0.5 && r % 2 !== 0 ? r - 1 : r; // Math.round rounds halves up
  return { scale, zero: Math.max(0, Math.min(255, even)) };
}

/**
 * Per row of z [m, dim], a bound on |approximate - exact| distance of the int8 pass against any row:
 * 2 (|zq| max|e - eq| + |z - zq| max|e|) (Cauchy-Schwarz on zq.eq - z.e = zq.(eq - e) + (zq - z).e).
 * z - zq is recomputed from the block's scale and zero point (round to nearest); an element at or next to
 * the ends of the uint8 range is counted at a full step, and every element gets a slack for float32
 * arithmetic (onnxruntime's rounding of x / scale may differ at a half).
 */
function int8Bounds(z: Float32Array, m: number, dim: number, q: Int8Codebook): Float64Array {
  const { scale, zero } = uint8Params(z);
  const out = new Float64Array(m);
  const slack = scale / 256;
  for (let r = 0; r < m; r++) {
    let dz2 = 0;
    let z2 = 0;
    for (let j = 0; j < dim; j++) {
      const x = z[r * dim + j];
      const qv = Math.max(0, Math.min(255, Math.round(x / scale) + zero));
      let err = Math.abs(x - (qv - zero) * scale);
      if (qv <= 1 || qv >= 254) err = Math.max(err, scale);
      dz2 += (err + slack) ** 2;
      z2 += x * x;
    }
    const dz = Math.sqrt(dz2);
    out[r] = 2 * ((Math.sqrt(z2) + dz) * q.maxResidual + dz * q.maxNorm);
  }
  return out;
}

export interface SearchOptions {
  /**
   * The int8 first pass's model over this codebook (`coarseSearchModel(rows, n, dim, levels)`) and its
   * integer range; used for codebooks of INT8_MIN_ROWS rows and more, or as `int8` says.
   */
  int8Model?: Int8SearchModel;
  /** Force the int8 first pass on (where its model is given) or off; default: by the codebook's size. */
  int8?: boolean;
  /** Rows left out of the search (ascending): special tokens without text. */
  excluded?: readonly number[];
}

/**
 * Nearest rows of one codebook on onnxruntime (search models) with the re-ranking above. The codebook is
 * held once, here, and fed to the session at every call (with its int8 form for large codebooks).
 */
export class CodebookSearch {
  /** Rows searched in full (float32 ranking too close to call) since creation: a diagnostic. */
  fullScans = 0;
  /** Rows the int8 pass's bound did not separate (searched in float32 instead) since creation: a diagnostic. */
  int8Fallbacks = 0;
  /** Rows searched by the int8 first pass since creation. */
  int8Rows = 0;

  private constructor(private readonly runtime: OrtRuntime, private readonly session: OrtSession, readonly codebook: Codebook,
    private readonly int8: { session: OrtSession; codebook: Int8Codebook; rowsFed: boolean; candidates: number; exactCandidates: number } | null) {}

  /** `model`: the search model's bytes or file (`searchModel(dim)` of ../network/v2l-model.onnx.ts). */
  static async create(runtime: OrtRuntime, rows: Float32Array, n: number, dim: number, model: Uint8Array | string, opts: SearchOptions = {}): Promise<CodebookSearch> {
    if (rows.length !== n * dim) throw new Error(`search: ${rows.length} values for a ${n} x ${dim} codebook`);
    const cb = codebookOf(rows, n, dim, opts.excluded);
    const useInt8 = opts.int8Model !== undefined && (opts.int8 ?? n >= INT8_MIN_ROWS);
    const session = await runtime.createSession(model);
    if (!useInt8) return new CodebookSearch(runtime, session, cb, null);
    try {
      const { model, levels, rowsFile, candidates = INT8_CANDIDATES, exactCandidates = candidates } = opts.int8Model!;
      const int8Session = await runtime.createSession(model, rowsFile ? { externalData: [{ path: rowsFile, data: new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength) }] } : undefined);
      return new CodebookSearch(runtime, session, cb, { session: int8Session, codebook: int8CodebookOf(cb, levels), rowsFed: !rowsFile, candidates, exactCandidates: Math.min(candidates, exactCandidates) });
    } catch (e) {
      await session.release();
      throw e;
    }
  }

  /** Whether the int8 first pass runs. */
  get usesInt8(): boolean {
    return this.int8 !== null;
  }

  /** The k nearest rows (nearest first, ties to the lower index) of each of the m rows of z [m, dim]: int32 [m, k]. */
  async nearest(z: Float32Array, m: number, k: number): Promise<Int32Array> {
    const cb = this.codebook;
    const dim = cb.dim;
    if (z.length !== m * dim) throw new Error(`search: ${z.length} values for ${m} rows of width ${dim}`);
    if (!Number.isInteger(k) || k < 1 || k > cb.searched) throw new Error(`search: k must be an integer in [1, ${cb.searched}] (got ${k})`);
    if (!this.int8) return this.chunked(z, m, k, cb.n, (zc, rows) => this.nearestF32(zc, rows, k));
    // The int8 pass also gathers the rows of the candidates it gives float32 distances [rows, ke, dim]: the same budget.
    const unresolved: number[] = [];
    const ids = await this.chunked(z, m, k, Math.max(cb.n, (k + this.int8.exactCandidates) * dim), async (zc, rows, start) => {
      const r = await this.nearestInt8(zc, rows, k);
      for (const row of r.unresolved) unresolved.push(start + row);
      return r.ids;
    });
    if (unresolved.length) {
      // Rows the bound did not separate: the float32 search, all at once (each call reads the whole codebook).
      this.int8Fallbacks += unresolved.length;
      const zu = new Float32Array(unresolved.length * dim);
      unresolved.forEach((row, i) => zu.set(z.subarray(row * dim, (row + 1) * dim), i * dim));
      const exact = await this.chunked(zu, unresolved.length, k, cb.n, (zc, rows) => this.nearestF32(zc, rows, k));
      unresolved.forEach((row, i) => ids.set(exact.subarray(i * k, (i + 1) * k), row * k));
    }
    return ids;
  }

  /** `search` over chunks of z's rows, each with at most SEARCH_ELEMENTS / width rows (SEARCH_CHUNK at most). */
  private async chunked(z: Float32Array, m: number, k: number, width: number, search: (z: Float32Array, rows: number, start: number) => Promise<Int32Array>): Promise<Int32Array> {
    const dim = this.codebook.dim;
    const ids = new Int32Array(m * k);
    const chunk = Math.max(1, Math.min(SEARCH_CHUNK, Math.floor(SEARCH_ELEMENTS / width)));
    for (let start = 0; start < m; start += chunk) {
      const rows = Math.min(chunk, m - start);
      ids.set(await search(z.subarray(start * dim, (start + rows) * dim), rows, start), start * k);
    }
    return ids;
  }

  /** The float32 search of one chunk. */
  private async nearestF32(z: Float32Array, m: number, k: number): Promise<Int32Array> {
    const cb = this.codebook;
    const kk = Math.min(cb.searched, k + EXTRA_CANDIDATES);
    const out = await this.session.run({
      z: this.runtime.tensor('float32', z, [m, cb.dim]), codebook: this.runtime.tensor('float32', cb.rows, [cb.n, cb.dim]),
      codebook_sq: this.runtime.tensor('float32', cb.sqFed, [cb.n]), k: this.kTensor(kk),
    });
    const r = rerank(z, m, cb, out.distances.data as Float32Array, out.indices.data as BigInt64Array, kk, k, { unresolved: 'scan' });
    for (const t of Object.values(out)) t.dispose();
    this.fullScans += r.fullScans;
    return r.ids;
  }

  /** The int8 first pass of one chunk, its bound and the exact re-ranking; the rows it leaves (ids -1) are returned. */
  private async nearestInt8(z: Float32Array, m: number, k: number): Promise<{ ids: Int32Array; unresolved: number[] }> {
    const cb = this.codebook;
    const { session, codebook: q, rowsFed, candidates, exactCandidates } = this.int8!;
    const kk = Math.min(cb.searched, k + candidates);
    const ke = Math.min(kk, k + exactCandidates);
    const feeds: Record<string, OrtTensor> = {
      z: this.runtime.tensor('float32', z, [m, cb.dim]), codebook_sq: this.runtime.tensor('float32', cb.sqFed, [cb.n]), k: this.kTensor(kk), k_exact: this.kTensor(ke),
    };
    if (rowsFed) feeds.codebook = this.runtime.tensor('float32', cb.rows, [cb.n, cb.dim]);
    const out = await session.run(feeds);
    const bound = int8Bounds(z, m, cb.dim, q);
    const r = rerank(z, m, cb, out.distances.data as Float32Array, out.indices.data as BigInt64Array, kk, k,
      { bound, exact: { values: out.exact_distances.data as Float32Array, width: ke }, unresolved: 'return' });
    for (const t of Object.values(out)) t.dispose();
    this.int8Rows += m;
    return r;
  }

  private kTensor(kk: number): OrtTensor {
    return this.runtime.tensor('int64', BigInt64Array.of(BigInt(kk)), [1]);
  }

  async dispose(): Promise<void> {
    await Promise.all([this.session.release(), this.int8?.session.release()]);
  }
}

/** How the engine searches its local codebook (the ids do not depend on it, except for `excludedLocal`). */
export interface EngineSearchOptions {
  /** Local rows left out of the search (the codebook package's `localSearch.excludedRows`: special tokens without text). */
  excludedLocal?: readonly number[];
  /** The int8 first pass on or off (default: from INT8_MIN_ROWS rows, where the export has its model). */
  int8?: boolean;
}

export class OnnxEngine {
  private constructor(
    readonly config: V2LConfig,
    readonly fingerprint: string,
    private readonly runtime: OrtRuntime,
    private readonly encoder: OrtSession,
    private readonly decoder: OrtSession,
    readonly localSearch: CodebookSearch,
    readonly globalSearch: CodebookSearch,
  ) {}

  /** Where the sessions run ('cpu', 'cuda', 'wasm', 'webgpu') and on how many threads. */
  get device(): string {
    return this.runtime.device;
  }

  get threads(): number {
    return this.runtime.threads;
  }

  /**
   * Opens the engine on an export's models: `projected` is the projected local codebook
   * (projected_local_codebook.f32), `globalRows` the raw global codebook, both row-major [n, embedDim].
   * Node builds exports and caches them (./onnx-node.ts: createOnnxEngine); a browser reads the files
   * of `v2l export-onnx`.
   */
  static async open(runtime: OrtRuntime, config: V2LConfig, fingerprint: string, models: OnnxModels, projected: Float32Array, globalRows: Float32Array,
    opts: EngineSearchOptions = {}): Promise<OnnxEngine> {
    const dim = config.embedDim;
    if (projected.length % dim || globalRows.length % dim) throw new Error(`ONNX engine: codebooks of ${projected.length} and ${globalRows.length} values are not rows of ${dim}`);
    const opened = await Promise.allSettled([
      runtime.createSession(models.encoder), runtime.createSession(models.decoder),
      CodebookSearch.create(runtime, projected, projected.length / dim, dim, models.localSearch,
        { int8Model: models.localSearchInt8, int8: opts.int8, excluded: opts.excludedLocal }),
      CodebookSearch.create(runtime, globalRows, globalRows.length / dim, dim, models.globalSearch),
    ] as const);
    const failed = opened.find((r) => r.status === 'rejected');
    if (failed) {
      await Promise.allSettled(opened.map((r) => (r.status === 'fulfilled' ? ('dispose' in r.value ? r.value.dispose() : r.value.release()) : undefined)));
      throw (failed as PromiseRejectedResult).reason;
    }
    const [encoder, decoder, localSearch, globalSearch] = opened.map((r) => (r as PromiseFulfilledResult<unknown>).value) as [OrtSession, OrtSession, CodebookSearch, CodebookSearch];
    return new OnnxEngine(config, fingerprint, runtime, encoder, decoder, localSearch, globalSearch);
  }

  /** z (L2-normalised quant_conv output) of NCHW images [n, inChannels, H, W], as NHWC rows [n, h, w, dim]. */
  async encodeZ(images: Float32Array, n: number, height: number, width: number): Promise<{ z: Float32Array; h: number; w: number }> {
    const f = downFactor(this.config);
    if (height % f || width % f || images.length !== n * this.config.inChannels * height * width) {
      throw new Error(`encode: expected ${n} NCHW images [${this.config.inChannels}, H, W] with H and W multiples of ${f}, got ${images.length} values for ${height}x${width}`);
    }
    const out = await this.encoder.run({ image: this.runtime.tensor('float32', images, [n, this.config.inChannels, height, width]) });
    const z = out.z.data as Float32Array;
    return { z, h: height / f, w: width / f };
  }

  /** Index of the nearest projected local codebook row for each of the m rows of z [m, dim]. */
  async nearestLocal(z: Float32Array, m: number): Promise<Int32Array> {
    return this.localSearch.nearest(z, m, 1);
  }

  /** Local token ids [n, h, w] (row-major) and z of NCHW images. */
  async encode(images: Float32Array, n: number, height: number, width: number): Promise<{ localIds: Int32Array; z: Float32Array; h: number; w: number }> {
    const { z, h, w } = await this.encodeZ(images, n, height, width);
    return { localIds: await this.nearestLocal(z, n * h * w), z, h, w };
  }

  /** The k nearest global codebook rows of each CLIP image embedding [n, dim] (normalised here), nearest first: [n, k]. */
  async globalTokens(clipEmbeds: Float32Array, n: number, k: number): Promise<Int32Array> {
    return this.globalSearch.nearest(this.globalQueries(clipEmbeds, n), n, k);
  }

  /**
   * The m nearest projected local rows of each of the `rows` rows of z [rows, dim], nearest first (the
   * first is encode()'s token), with their squared distances: what a viewer shows as alternatives.
   */
  async localNearest(z: Float32Array, rows: number, m: number): Promise<{ ids: Int32Array; distances: Float64Array }> {
    const ids = await this.localSearch.nearest(z, rows, m);
    return { ids, distances: distancesOf(this.localSearch.codebook, z, ids, m) };
  }

  /** globalTokens() with the squared distances of each entry to the normalised embedding. */
  async globalNearest(clipEmbeds: Float32Array, n: number, k: number): Promise<{ ids: Int32Array; distances: Float64Array }> {
    const g = this.globalQueries(clipEmbeds, n);
    const ids = await this.globalSearch.nearest(g, n, k);
    return { ids, distances: distancesOf(this.globalSearch.codebook, g, ids, k) };
  }

  /** CLIP image embeddings [n, dim] divided by their norms, rounded as tfjs' l2NormalizeLast (both paths search the same queries). */
  private globalQueries(clipEmbeds: Float32Array, n: number): Float32Array {
    const dim = this.config.embedDim;
    if (clipEmbeds.length !== n * dim) throw new Error(`global tokens: ${clipEmbeds.length} values for ${n} embeddings of width ${dim}`);
    const g = new Float32Array(clipEmbeds.length);
    for (let r = 0; r < n; r++) {
      const norm = Math.fround(Math.sqrt(sumSq32(clipEmbeds, r * dim, dim)));
      for (let j = 0; j < dim; j++) g[r * dim + j] = clipEmbeds[r * dim + j] / norm;
    }
    return g;
  }

  /** Rows [n, k, dim] of the global codebook for ids [n, k]. */
  globalEmbeddings(ids: ArrayLike<number>): Float32Array {
    return gatherRows(this.globalSearch.codebook, ids, 'global');
  }

  /**
   * Images NCHW [n, outCh, H, W] from local ids [n, h, w] (row-major) and the global embeddings
   * [n, k, dim] (ignored by a decoder without cross-attention).
   */
  async decode(localIds: ArrayLike<number>, n: number, h: number, w: number, globalEmbeddings: Float32Array | null, k: number): Promise<Float32Array> {
    const dim = this.config.embedDim;
    if (localIds.length !== n * h * w) throw new Error(`decode: ${localIds.length} local ids for ${n} grids of ${h}x${w}`);
    const rows = gatherRows(this.localSearch.codebook, localIds, 'local');
    // NHWC rows -> NCHW
    const zq = new Float32Array(rows.length);
    const hw = h * w;
    for (let b = 0; b < n; b++) {
      for (let p = 0; p < hw; p++) {
        const src = (b * hw + p) * dim;
        const dst = b * dim * hw + p;
        for (let c = 0; c < dim; c++) zq[dst + c * hw] = rows[src + c];
      }
    }
    const feeds: Record<string, OrtTensor> = { zq: this.runtime.tensor('float32', zq, [n, dim, h, w]) };
    if (hasCrossAttention(this.config)) {
      if (!globalEmbeddings || globalEmbeddings.length !== n * k * dim) throw new Error(`decode: expected global embeddings [${n}, ${k}, ${dim}]`);
      feeds.global_embeddings = this.runtime.tensor('float32', globalEmbeddings, [n, k, dim]);
    }
    const out = await this.decoder.run(feeds);
    return out.image.data as Float32Array;
  }

  /**
   * One batch as V2LTokenizer runs it: NCHW images [n, C, size, size] and their CLIP image embeddings
   * [n, dim] -> local ids [n][h][w], global ids [n][k] and, with `withDecode`, the decoded images (NCHW).
   */
  async tokenizeBatch(images: Float32Array, n: number, size: number, clipEmbeds: Float32Array, k: number, withDecode: boolean):
    Promise<{ local: number[][][]; global: number[][]; reconstruction: Float32Array | null }> {
    const { localIds, h, w } = await this.encode(images, n, size, size);
    const gids = await this.globalTokens(clipEmbeds, n, k);
    const reconstruction = withDecode ? await this.decode(localIds, n, h, w, this.globalEmbeddings(gids), k) : null;
    return { local: grids(localIds, n, h, w), global: grids(gids, 1, n, k)[0], reconstruction };
  }

  /** Decoded images (NCHW) of local id grids [n][h][w] (all the same size) and global ids [n][k]. */
  async decodeIds(local: readonly (readonly (readonly number[])[])[], global: readonly (readonly number[])[]): Promise<Float32Array> {
    const n = local.length;
    if (n === 0 || global.length !== n) throw new Error(`decode: ${n} local grids but ${global.length} global id lists`);
    const h = local[0].length;
    const w = local[0][0]?.length ?? 0;
    const k = global[0].length;
    local.forEach((g, i) => {
      if (g.length !== h || g.some((row) => row.length !== w)) throw new Error(`decode: local grid ${i} is not ${h}x${w} like the first`);
    });
    global.forEach((g, i) => {
      if (g.length !== k) throw new Error(`decode: global ids ${i} has ${g.length} entries, the first has ${k}`);
    });
    const ids = local.flatMap((g) => g.flatMap((row) => [...row]));
    return this.decode(ids, n, h, w, this.globalEmbeddings(global.flat()), k);
  }

  async dispose(): Promise<void> {
    await Promise.all([this.encoder.release(), this.decoder.release(), this.localSearch.dispose(), this.globalSearch.dispose()]);
  }

}

/** Flat row-major ids [n, h, w] -> nested arrays. */
function grids(ids: Int32Array, n: number, h: number, w: number): number[][][] {
  return Array.from({ length: n }, (_, b) => Array.from({ length: h }, (_, y) => Array.from(ids.subarray((b * h + y) * w, (b * h + y + 1) * w))));
}

/** Squared distances (float64 sums) of each query row to its k chosen codebook rows (`ids` [rows, k]). */
function distancesOf(cb: Codebook, q: Float32Array, ids: Int32Array, k: number): Float64Array {
  const out = new Float64Array(ids.length);
  const dim = cb.dim;
  for (let i = 0; i < ids.length; i++) {
    const qo = Math.floor(i / k) * dim;
    const eo = ids[i] * dim;
    let s = 0;
    for (let j = 0; j < dim; j++) {
      const d = q[qo + j] - cb.rows[eo + j];
      s += d * d;
    }
    out[i] = s;
  }
  return out;
}

function gatherRows(cb: Codebook, ids: ArrayLike<number>, what: string): Float32Array {
  const out = new Float32Array(ids.length * cb.dim);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= cb.n) throw new Error(`decode: ${what} token id ${id} is outside the codebook [0, ${cb.n})`);
    out.set(cb.rows.subarray(id * cb.dim, (id + 1) * cb.dim), i * cb.dim);
  }
  return out;
}

/** The modules the export reads (not the discriminator): the fingerprint covers exactly these. */
const EXPORTED_PREFIXES = ['encoder.', 'decoder.', 'quant_conv.', 'post_quant_conv.', 'codebook_projection.', 'tok_embeddings.', 'tok_embeddings_global.'];

/**
 * The tensors the export reads, from a checkpoint's state dict: the network's own keys (`keep`) of the
 * exported modules, with the codebooks replaced by a codebook package's rows when given.
 */
export function inferenceStateDict(sd: ReadonlyMap<string, HostTensor>, keep: (name: string) => boolean,
  codebooks?: { local: Float32Array; global: Float32Array; dim: number }): Map<string, HostTensor> {
  const out = new Map([...sd].filter(([k]) => keep(k) && EXPORTED_PREFIXES.some((p) => k.startsWith(p))));
  if (codebooks) {
    const { local, global, dim } = codebooks;
    out.set('tok_embeddings.weight', { dtype: 'F32', shape: [local.length / dim, dim], data: local });
    out.set('tok_embeddings_global.weight', { dtype: 'F32', shape: [global.length / dim, dim], data: global });
  }
  return out;
}
