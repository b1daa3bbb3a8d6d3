// The tokenizer network on onnxruntime-node (Node edge): encode (image -> z -> local ids) and decode
// (local ids + global embeddings -> image) with the ONNX models that src/network emits from its own module
// definitions and the checkpoint's state dict (../network/v2l-model.onnx.ts). Exports are cached per
// checkpoint fingerprint.
//
// Nearest-row search: the projected local codebook lives inside the search model, transposed [dim, N]
// with its squared row norms; one Gemm (the distance fused into the product) + TopK per chunk of rows
// returns the few nearest candidates in float32. Two float32 implementations (onnxruntime's MLAS here, XNNPACK in tfjs-wasm) round
// |z|^2 + |e|^2 - 2 z.e differently in the last bits, which decides between rows nearer than float32
// resolves; so the candidates are re-ranked in JS with tfjs-wasm's own roundings (see distTfjs; ties to
// the lower index as tfjs' argMin), and a row whose float32 ranking leaves a candidate outside the
// returned set within the rounding margin is scanned in full.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { toFloat32, type HostTensor } from '../io/dtypes.js';
import { downFactor, type V2LConfig } from '../network/config.js';
import { decoderHasCrossAttention } from '../network/decoder.onnx.js';
import { ONNX_EXPORT_VERSION, decoderModel, encoderModel, projectionModel, searchModel } from '../network/v2l-model.onnx.js';

export type OnnxDevice = 'cpu' | 'cuda';

export interface OnnxEngineOptions {
  /** Intra-op threads (default: the machine's cores). */
  threads?: number;
  /** Execution provider (default cpu; cuda where onnxruntime-node's CUDA provider is installed). */
  device?: OnnxDevice;
  /** Folder of cached exports (one subfolder per fingerprint); null: export in memory every time. */
  cacheDir?: string | null;
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

/** Identifies a network for caching: configuration, export version and every tensor the export reads. */
export function stateDictFingerprint(config: V2LConfig, sd: ReadonlyMap<string, HostTensor>): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ config, version: ONNX_EXPORT_VERSION }));
  for (const name of [...sd.keys()].filter((k) => !k.startsWith('discriminator.')).sort()) {
    const t = sd.get(name)!;
    h.update(`\n${name}:${t.dtype}:${t.shape.join(',')}\n`);
    h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return h.digest('hex');
}

/** A session, with an error that says what to do when the CUDA provider is missing. */
async function openSession(model: Uint8Array | string, opts: OnnxEngineOptions): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(model as Uint8Array, sessionOptions(opts));
  } catch (e) {
    if (opts.device === 'cuda') {
      throw new Error(`onnxruntime's CUDA execution provider is not available here (${(e as Error).message}); onnxruntime-node installs it ` +
        'when installed without ONNXRUNTIME_NODE_INSTALL=skip on a machine with CUDA 12; use --device cpu otherwise');
    }
    throw e;
  }
}

function sessionOptions(opts: OnnxEngineOptions): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [opts.device ?? 'cpu'],
    intraOpNumThreads: opts.threads ?? availableParallelism(),
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  };
}

export interface OnnxExport {
  encoder: Uint8Array;
  decoder: Uint8Array;
  localSearch: Uint8Array;
  globalSearch: Uint8Array;
  /** codebook_projection(tok_embeddings), [nLocal, embedDim]. */
  projected: Float32Array;
}

/** Emits every model of the network from its state dict (the projection runs once on onnxruntime). */
export async function exportOnnx(config: V2LConfig, sd: ReadonlyMap<string, HostTensor>, opts: OnnxEngineOptions = {}): Promise<OnnxExport> {
  const need = (k: string) => {
    const t = sd.get(k);
    if (!t) throw new Error(`ONNX export: the state dict has no ${k}`);
    return t;
  };
  const local = need('tok_embeddings.weight');
  const global = need('tok_embeddings_global.weight');
  const [nLocal, dim] = local.shape;
  const proj = await openSession(projectionModel(config, sd), opts);
  let projected: Float32Array;
  try {
    const out = await proj.run({ rows: new ort.Tensor('float32', toFloat32(local), [nLocal, dim]) });
    projected = new Float32Array(out.projected.data as Float32Array);
    out.projected.dispose();
  } finally {
    await proj.release();
  }
  return {
    encoder: encoderModel(config, sd),
    decoder: decoderModel(config, sd),
    localSearch: searchModel(projected, nLocal, dim),
    globalSearch: searchModel(toFloat32(global), global.shape[0], dim),
    projected,
  };
}

/** Exports kept in the cache folder (each up to ~0.5 GB for the paper network); the least recently used go. */
const CACHE_KEEP = 4;

/** Removes all but the CACHE_KEEP most recently used exports (by manifest time), never `current`. */
function pruneCache(cacheDir: string, current: string): void {
  const entries: { name: string; used: number }[] = [];
  for (const name of readdirSync(cacheDir)) {
    if (!/^[0-9a-f]{64}$/.test(name) || name === current) continue;
    try {
      entries.push({ name, used: statSync(join(cacheDir, name, ONNX_FILES.manifest)).mtimeMs });
    } catch {
      entries.push({ name, used: 0 }); // incomplete (no manifest): a crashed or ongoing export; old ones go
    }
  }
  entries.sort((a, b) => b.used - a.used);
  for (const e of entries.slice(CACHE_KEEP - 1)) {
    try {
      // An export still being written by another process has no manifest yet and a fresh folder: spare it.
      if (e.used === 0 && Date.now() - statSync(join(cacheDir, e.name)).mtimeMs < 3600_000) continue;
      rmSync(join(cacheDir, e.name), { recursive: true, force: true });
    } catch {
      // removed by another process meanwhile
    }
  }
}

/** Writes an export into `dir` (each file atomically, the manifest last). */
export function writeOnnxExport(dir: string, x: OnnxExport, manifest: Record<string, unknown>): void {
  mkdirSync(dir, { recursive: true });
  const put = (name: string, data: Uint8Array) => {
    const tmp = join(dir, `.${name}.${process.pid}.tmp`);
    writeFileSync(tmp, data);
    renameSync(tmp, join(dir, name));
  };
  put(ONNX_FILES.encoder, x.encoder);
  put(ONNX_FILES.decoder, x.decoder);
  put(ONNX_FILES.localSearch, x.localSearch);
  put(ONNX_FILES.globalSearch, x.globalSearch);
  put(ONNX_FILES.projectedCodebook, new Uint8Array(x.projected.buffer, x.projected.byteOffset, x.projected.byteLength));
  put(ONNX_FILES.manifest, new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`));
}

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

  private constructor(private readonly session: ort.InferenceSession, readonly codebook: Codebook) {}

  /** `model`: the search model's bytes or file (default: emitted here from `rows`). */
  static async create(rows: Float32Array, n: number, dim: number, opts: OnnxEngineOptions = {}, model?: Uint8Array | string): Promise<CodebookSearch> {
    const session = await openSession(model ?? searchModel(rows, n, dim), opts);
    return new CodebookSearch(session, codebookOf(rows, n, dim));
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
      const out = await this.session.run({ z: new ort.Tensor('float32', zc, [rows, dim]), k: new ort.Tensor('int64', BigInt64Array.of(BigInt(kk)), [1]) });
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
    private readonly encoder: ort.InferenceSession,
    private readonly decoder: ort.InferenceSession,
    readonly localSearch: CodebookSearch,
    readonly globalSearch: CodebookSearch,
    readonly device: OnnxDevice,
    readonly threads: number,
  ) {}

  /**
   * Builds the engine for a state dict (reference names and layouts, codebooks included). With `cacheDir`,
   * the export is read from `<cacheDir>/<fingerprint>/` when there and written there otherwise.
   */
  static async create(config: V2LConfig, sd: ReadonlyMap<string, HostTensor>, opts: OnnxEngineOptions = {}): Promise<OnnxEngine> {
    const fingerprint = stateDictFingerprint(config, sd);
    const dir = opts.cacheDir ? join(opts.cacheDir, fingerprint) : null;
    const dim = config.embedDim;
    const g = sd.get('tok_embeddings_global.weight');
    if (!g) throw new Error('ONNX export: the state dict has no tok_embeddings_global.weight');
    const open = async (files: { encoder: string | Uint8Array; decoder: string | Uint8Array; localSearch: string | Uint8Array; globalSearch: string | Uint8Array }, projected: Float32Array) =>
      Promise.all([
        openSession(files.encoder, opts), openSession(files.decoder, opts),
        CodebookSearch.create(projected, projected.length / dim, dim, opts, files.localSearch),
        CodebookSearch.create(toFloat32(g), g.shape[0], dim, opts, files.globalSearch),
      ]);
    let sessions: Awaited<ReturnType<typeof open>> | null = null;
    if (dir && existsSync(join(dir, ONNX_FILES.manifest))) {
      try {
        const b = readFileSync(join(dir, ONNX_FILES.projectedCodebook));
        const projected = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
        sessions = await open({ encoder: join(dir, ONNX_FILES.encoder), decoder: join(dir, ONNX_FILES.decoder), localSearch: join(dir, ONNX_FILES.localSearch), globalSearch: join(dir, ONNX_FILES.globalSearch) }, projected);
        const now = new Date();
        utimesSync(join(dir, ONNX_FILES.manifest), now, now); // recently used: kept by pruneCache
      } catch {
        sessions = null; // evicted or damaged meanwhile: export again
      }
    }
    if (!sessions) {
      const x = await exportOnnx(config, sd, opts);
      if (dir) writeOnnxExport(dir, x, onnxManifest(config, fingerprint));
      sessions = await open(x, x.projected);
    }
    if (opts.cacheDir) pruneCache(opts.cacheDir, fingerprint);
    const [encoder, decoder, localSearch, globalSearch] = sessions;
    return new OnnxEngine(config, fingerprint, encoder, decoder, localSearch, globalSearch, opts.device ?? 'cpu', opts.threads ?? availableParallelism());
  }

  /** z (L2-normalised quant_conv output) of NCHW images [n, inChannels, H, W], as NHWC rows [n, h, w, dim]. */
  async encodeZ(images: Float32Array, n: number, height: number, width: number): Promise<{ z: Float32Array; h: number; w: number }> {
    const f = downFactor(this.config);
    if (height % f || width % f || images.length !== n * this.config.inChannels * height * width) {
      throw new Error(`encode: expected ${n} NCHW images [${this.config.inChannels}, H, W] with H and W multiples of ${f}, got ${images.length} values for ${height}x${width}`);
    }
    const out = await this.encoder.run({ image: new ort.Tensor('float32', images, [n, this.config.inChannels, height, width]) });
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
    const dim = this.config.embedDim;
    if (clipEmbeds.length !== n * dim) throw new Error(`global tokens: ${clipEmbeds.length} values for ${n} embeddings of width ${dim}`);
    // x / sqrt(sum(x^2)) rounded as tfjs' l2NormalizeLast, so both paths search the same queries.
    const g = new Float32Array(clipEmbeds.length);
    for (let r = 0; r < n; r++) {
      const norm = Math.fround(Math.sqrt(sumSq32(clipEmbeds, r * dim, dim)));
      for (let j = 0; j < dim; j++) g[r * dim + j] = clipEmbeds[r * dim + j] / norm;
    }
    return this.globalSearch.nearest(g, n, k);
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
    const feeds: Record<string, ort.Tensor> = { zq: new ort.Tensor('float32', zq, [n, dim, h, w]) };
    if (decoderHasCrossAttention(this.config)) {
      if (!globalEmbeddings || globalEmbeddings.length !== n * k * dim) throw new Error(`decode: expected global embeddings [${n}, ${k}, ${dim}]`);
      feeds.global_embeddings = new ort.Tensor('float32', globalEmbeddings, [n, k, dim]);
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

/** What an export folder's manifest.json says. */
export function onnxManifest(config: V2LConfig, fingerprint: string): Record<string, unknown> {
  return {
    format: 'v2l-onnx/1',
    exportVersion: ONNX_EXPORT_VERSION,
    fingerprint,
    config,
    files: {
      [ONNX_FILES.encoder]: 'image [B, C, H, W] in [-1, 1] -> z [B, h, w, embedDim] (L2-normalised quant_conv output)',
      [ONNX_FILES.localSearch]: 'z [M, embedDim], k int64 [1] -> distances [M, k], indices int64 [M, k] into the projected local codebook (nearest first; float32, see the README on re-ranking)',
      [ONNX_FILES.globalSearch]: 'normalised CLIP image embeddings [B, embedDim], k int64 [1] -> the k nearest global codebook rows',
      [ONNX_FILES.decoder]: `zq [B, embedDim, h, w] (rows of ${ONNX_FILES.projectedCodebook} at the local ids)${decoderHasCrossAttention(config) ? ', global_embeddings [B, K, embedDim]' : ''} -> image [B, outCh, H, W]`,
      [ONNX_FILES.projectedCodebook]: `float32 little-endian [${config.nLocal}, ${config.embedDim}]: codebook_projection(tok_embeddings)`,
    },
  };
}
