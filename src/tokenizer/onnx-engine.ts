// The tokenizer network on an ONNX runtime (portable): encode (image -> z -> local ids) and decode (local
// ids + global embeddings -> image) with the ONNX models that src/network emits from its own module
// definitions and the checkpoint's state dict (../network/v2l-model.onnx.ts). The runtime is injected
// (`OrtRuntime`: a session factory and a tensor constructor in onnxruntime-common's shape), so the same
// search, re-ranking, encode and decode run on onnxruntime-node (./onnx-node.ts: sessions, export and the
// per-fingerprint cache) and on onnxruntime-web in a browser (../browser/ort-web.ts).
//
// Nearest-row search: the projected local codebook lives inside the search model, transposed [dim, N]
// with its squared row norms; one Gemm (the distance fused into the product) + TopK per chunk of rows
// returns the few nearest candidates in float32. Two float32 implementations (onnxruntime's MLAS here, XNNPACK in tfjs-wasm) round
// |z|^2 + |e|^2 - 2 z.e differently in the last bits, which decides between rows nearer than float32
// resolves; so the candidates are re-ranked in JS with tfjs-wasm's own roundings (see distTfjs; ties to
// the lower index as tfjs' argMin), and a row whose float32 ranking leaves a candidate outside the
// returned set within the rounding margin is scanned in full.
import type { HostTensor } from '../io/dtypes.js';
import { downFactor, hasCrossAttention, type V2LConfig } from '../network/config.js';

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
  createSession(model: Uint8Array | string): Promise<OrtSession>;
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
}

/** Rows of z searched per call: bounds the [rows, N] distance matrix (512 x 32,000 floats = 64 MB). */
const SEARCH_CHUNK = 512;
/** Candidates returned per row beyond the k asked for, to re-rank. */
const EXTRA_CANDIDATES = 7;
/**
 * Bound on the float32 rounding of one distance, relative to |z|^2 + max |e|^2 (dot products of 768 terms
 * round by a few 1e-7 in practice: a wide safety factor). A row outside the returned candidates can only
 * rank before the k-th when the float32 gap between them is under twice this.
 */
const ROUNDING = 1e-5;

/** The files of one export, in the cache folder and from `v2l export-onnx`. */
export const ONNX_FILES = {
  encoder: 'encoder.onnx',
  decoder: 'decoder.onnx',
  localSearch: 'local_search.onnx',
  globalSearch: 'global_search.onnx',
  projectedCodebook: 'projected_local_codebook.f32',
  manifest: 'manifest.json',
} as const;

export interface Codebook {
  rows: Float32Array;
  n: number;
  dim: number;
  /** Squared row norms as tfjs computes them (float32 squares summed in float32, in order). */
  sq32: Float32Array;
  maxSq: number;
}

/** sum of x[off..off+dim)^2 the way tfjs-wasm's square + sum kernels round it (float32, sequential). */
function sumSq32(x: Float32Array, off: number, dim: number): number {
  const f = Math.fround;
  let s = 0;
  for (let j = 0; j < dim; j++) s = f(s + f(x[off + j] * x[off + j]));
  return s;
}

export function codebookOf(rows: Float32Array, n: number, dim: number): Codebook {
  const sq32 = new Float32Array(n);
  let maxSq = 0;
  for (let r = 0; r < n; r++) {
    sq32[r] = sumSq32(rows, r * dim, dim);
    maxSq = Math.max(maxSq, sq32[r]);
  }
  return { rows, n, dim, sq32, maxSq };
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
 * The k nearest rows of `cb` to each row of z, nearest first, from onnxruntime's float32 candidates
 * (`values`, `indices`: kk per row, nearest first) re-ranked with tfjs' arithmetic (ties to the lower
 * index, as tfjs' argMin and topk); rows where a row outside the candidates could be nearer than the k-th
 * (float32 gap under the rounding margin) are searched in full. Returns int32 [m, k] and the full scans.
 */
export function rerank(z: Float32Array, m: number, cb: Codebook, values: Float32Array, indices: BigInt64Array | Int32Array, kk: number, k: number): { ids: Int32Array; fullScans: number } {
  const ids = new Int32Array(m * k);
  let fullScans = 0;
  const cand: { i: number; d: number }[] = [];
  for (let r = 0; r < m; r++) {
    const zOff = r * cb.dim;
    const zsq = sumSq32(z, zOff, cb.dim);
    const margin = 2 * ROUNDING * (zsq + cb.maxSq);
    cand.length = 0;
    if (kk < cb.n && values[r * kk + kk - 1] - values[r * kk + k - 1] <= margin) {
      fullScans++;
      for (let i = 0; i < cb.n; i++) cand.push({ i, d: distTfjs(z, zOff, zsq, cb, i) });
    } else {
      for (let j = 0; j < kk; j++) {
        const i = Number(indices[r * kk + j]);
        cand.push({ i, d: distTfjs(z, zOff, zsq, cb, i) });
      }
    }
    cand.sort((a, b) => a.d - b.d || a.i - b.i);
    for (let j = 0; j < k; j++) ids[r * k + j] = cand[j].i;
  }
  return { ids, fullScans };
}

/**
 * Nearest rows of one codebook on onnxruntime (search model) with the float64 re-ranking above. The
 * codebook stays resident in the session (transposed, with its squared norms) and, for re-ranking, here.
 */
export class CodebookSearch {
  /** Rows searched in full (float32 ranking too close to call) since creation: a diagnostic. */
  fullScans = 0;

  private constructor(private readonly runtime: OrtRuntime, private readonly session: OrtSession, readonly codebook: Codebook) {}

  /** `model`: the search model's bytes or file (`searchModel(rows, n, dim)` of ../network/v2l-model.onnx.ts). */
  static async create(runtime: OrtRuntime, rows: Float32Array, n: number, dim: number, model: Uint8Array | string): Promise<CodebookSearch> {
    const session = await runtime.createSession(model);
    return new CodebookSearch(runtime, session, codebookOf(rows, n, dim));
  }

  /** The k nearest rows (nearest first, ties to the lower index) of each of the m rows of z [m, dim]: int32 [m, k]. */
  async nearest(z: Float32Array, m: number, k: number): Promise<Int32Array> {
    const cb = this.codebook;
    const dim = cb.dim;
    if (z.length !== m * dim) throw new Error(`search: ${z.length} values for ${m} rows of width ${dim}`);
    if (!Number.isInteger(k) || k < 1 || k > cb.n) throw new Error(`search: k must be an integer in [1, ${cb.n}] (got ${k})`);
    const kk = Math.min(cb.n, k + EXTRA_CANDIDATES);
    const ids = new Int32Array(m * k);
    for (let start = 0; start < m; start += SEARCH_CHUNK) {
      const rows = Math.min(SEARCH_CHUNK, m - start);
      const zc = z.subarray(start * dim, (start + rows) * dim);
      const out = await this.session.run({ z: this.runtime.tensor('float32', zc, [rows, dim]), k: this.runtime.tensor('int64', BigInt64Array.of(BigInt(kk)), [1]) });
      const r = rerank(zc, rows, cb, out.distances.data as Float32Array, out.indices.data as BigInt64Array, kk, k);
      out.distances.dispose();
      out.indices.dispose();
      ids.set(r.ids, start * k);
      this.fullScans += r.fullScans;
    }
    return ids;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
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
  static async open(runtime: OrtRuntime, config: V2LConfig, fingerprint: string, models: OnnxModels, projected: Float32Array, globalRows: Float32Array): Promise<OnnxEngine> {
    const dim = config.embedDim;
    if (projected.length % dim || globalRows.length % dim) throw new Error(`ONNX engine: codebooks of ${projected.length} and ${globalRows.length} values are not rows of ${dim}`);
    const opened = await Promise.allSettled([
      runtime.createSession(models.encoder), runtime.createSession(models.decoder),
      CodebookSearch.create(runtime, projected, projected.length / dim, dim, models.localSearch),
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
