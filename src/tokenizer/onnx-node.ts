// The ONNX engine on onnxruntime-node (Node edge): sessions on the CPU (or CUDA) provider, the export of
// a state dict into ONNX models, and the per-fingerprint cache of exports. The engine itself (search,
// re-ranking, encode, decode) is portable: ./onnx-engine.ts.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { arch, availableParallelism } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { toFloat32, type HostTensor } from '../io/dtypes.js';
import type { V2LConfig } from '../network/config.js';
import { decoderHasCrossAttention } from '../network/decoder.onnx.js';
import { ONNX_EXPORT_VERSION, coarseSearchModel, decoderModel, encoderModel, projectionModel, searchModel, wasmCoarseSearchModel } from '../network/v2l-model.onnx.js';
import { CodebookSearch, LOCAL_SEARCH_INT8_FILE, LOCAL_SEARCH_INT8_WASM_FILE, ONNX_FILES, OnnxEngine, type EngineSearchOptions, type OnnxModels, type OrtRuntime, type OrtSession, type SearchOptions } from './onnx-engine.js';

export type OnnxDevice = 'cpu' | 'cuda';

export interface OnnxEngineOptions {
  /** Intra-op threads (default: the machine's cores). */
  threads?: number;
  /** Execution provider (default cpu; cuda where onnxruntime-node's CUDA provider is installed). */
  device?: OnnxDevice;
  /** Folder of cached exports (one subfolder per fingerprint); null: export in memory every time. */
  cacheDir?: string | null;
  /** Local rows left out of the search (a codebook package's `localSearch.excludedRows`). */
  excludedLocal?: readonly number[];
  /** The local search's int8 first pass on or off (default: for large codebooks; the ids are the same). */
  int8?: boolean;
  /**
   * Whether idle intra-op threads spin for the next node's work (onnxruntime's default) or sleep (false:
   * the trainer's choice, as its step sessions, src/train/onnx-session.ts; results are the same either way).
   */
  spinning?: boolean;
}

/**
 * The int8 codebook's range for this CPU: 127 where onnxruntime's int8 GEMM sums u8 x s8 products exactly
 * (x86 VNNI, ARM), else 64 (x86's pmaddubsw saturates pairs above 32,767).
 */
export function int8Levels(): number {
  if (arch() === 'arm64') return 127;
  try {
    return /\b(avx512_vnni|avx_vnni)\b/.test(readFileSync('/proc/cpuinfo', 'utf8')) ? 127 : 64;
  } catch {
    return 64;
  }
}

/** onnxruntime-node as the engine's runtime, with an error that says what to do when the CUDA provider is missing. */
export function nodeRuntime(opts: OnnxEngineOptions = {}): OrtRuntime {
  const device = opts.device ?? 'cpu';
  const threads = opts.threads ?? availableParallelism();
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: [device],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    ...(opts.spinning === false ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
  };
  return {
    device,
    threads,
    async createSession(model: Uint8Array | string): Promise<OrtSession> {
      try {
        return await ort.InferenceSession.create(model as Uint8Array, options);
      } catch (e) {
        if (device === 'cuda') {
          throw new Error(`onnxruntime's CUDA execution provider is not available here (${(e as Error).message}); onnxruntime-node installs it ` +
            'when installed without ONNXRUNTIME_NODE_INSTALL=skip on a machine with CUDA 12; use --device cpu otherwise');
        }
        throw e;
      }
    },
    tensor: ((type: 'float32' | 'int64', data: Float32Array | BigInt64Array, dims: readonly number[]) => new ort.Tensor(type, data, dims)) as OrtRuntime['tensor'],
  };
}

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

export interface OnnxExport {
  encoder: Uint8Array;
  decoder: Uint8Array;
  localSearch: Uint8Array;
  /** The int8 first pass over the projected local codebook, its integers in [-int8Levels, int8Levels]. */
  localSearchInt8Model: Uint8Array;
  int8Levels: number;
  /** The int8 first pass for onnxruntime-web's wasm kernels (the page's; `graph.wasmSearch`), its float32 rows read from the projected codebook's file. */
  localSearchInt8Wasm?: Uint8Array;
  globalSearch: Uint8Array;
  /** codebook_projection(tok_embeddings), [nLocal, embedDim]. */
  projected: Float32Array;
}

/** Emits every model of the network from its state dict (the projection runs once on onnxruntime); `graph.winograd`: the encoder's and decoder's 3x3 stride-1 convolutions by Winograd F(4x4, 3x3) (the browser's export). */
export async function exportOnnx(config: V2LConfig, sd: ReadonlyMap<string, HostTensor>, opts: OnnxEngineOptions = {}, graph: { winograd?: boolean; wasmSearch?: boolean } = {}): Promise<OnnxExport> {
  const need = (k: string) => {
    const t = sd.get(k);
    if (!t) throw new Error(`ONNX export: the state dict has no ${k}`);
    return t;
  };
  const local = need('tok_embeddings.weight');
  need('tok_embeddings_global.weight'); // fed to the global search at open, checked here
  const [nLocal, dim] = local.shape;
  const proj = await nodeRuntime(opts).createSession(projectionModel(config, sd)) as unknown as ort.InferenceSession;
  let projected: Float32Array;
  try {
    const out = await proj.run({ rows: new ort.Tensor('float32', toFloat32(local), [nLocal, dim]) });
    projected = new Float32Array(out.projected.data as Float32Array);
    out.projected.dispose();
  } finally {
    await proj.release();
  }
  return {
    encoder: encoderModel(config, sd, graph),
    decoder: decoderModel(config, sd, graph),
    localSearch: searchModel(dim),
    localSearchInt8Model: coarseSearchModel(projected, nLocal, dim, int8Levels()),
    int8Levels: int8Levels(),
    ...(graph.wasmSearch ? { localSearchInt8Wasm: wasmCoarseSearchModel(projected, nLocal, dim, ONNX_FILES.projectedCodebook) } : {}),
    globalSearch: searchModel(dim),
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
  put(LOCAL_SEARCH_INT8_FILE, x.localSearchInt8Model);
  if (x.localSearchInt8Wasm) put(LOCAL_SEARCH_INT8_WASM_FILE, x.localSearchInt8Wasm);
  put(ONNX_FILES.globalSearch, x.globalSearch);
  put(ONNX_FILES.projectedCodebook, new Uint8Array(x.projected.buffer, x.projected.byteOffset, x.projected.byteLength));
  put(ONNX_FILES.manifest, new TextEncoder().encode(`${JSON.stringify({ ...manifest, int8Levels: x.int8Levels }, null, 2)}\n`));
}

/**
 * Builds the engine for a state dict (reference names and layouts, codebooks included). With `cacheDir`,
 * the export is read from `<cacheDir>/<fingerprint>/` when there and written there otherwise.
 */
export async function createOnnxEngine(config: V2LConfig, sd: ReadonlyMap<string, HostTensor>, opts: OnnxEngineOptions = {}): Promise<OnnxEngine> {
  const runtime = nodeRuntime(opts);
  const searchOptions: EngineSearchOptions = { excludedLocal: opts.excludedLocal, int8: opts.int8 };
  const fingerprint = stateDictFingerprint(config, sd);
  const dir = opts.cacheDir ? join(opts.cacheDir, fingerprint) : null;
  const g = sd.get('tok_embeddings_global.weight');
  if (!g) throw new Error('ONNX export: the state dict has no tok_embeddings_global.weight');
  const globalRows = toFloat32(g);
  let engine: OnnxEngine | null = null;
  if (dir && existsSync(join(dir, ONNX_FILES.manifest))) {
    try {
      const b = readFileSync(join(dir, ONNX_FILES.projectedCodebook));
      const projected = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
      // The int8 model's integer range suits the CPU that exported it: another CPU (a moved cache) searches in float32.
      const levels = (JSON.parse(readFileSync(join(dir, ONNX_FILES.manifest), 'utf8')) as { int8Levels?: number }).int8Levels;
      const files: OnnxModels = { encoder: join(dir, ONNX_FILES.encoder), decoder: join(dir, ONNX_FILES.decoder), localSearch: join(dir, ONNX_FILES.localSearch),
        globalSearch: join(dir, ONNX_FILES.globalSearch), ...(levels === int8Levels() ? { localSearchInt8: { model: join(dir, LOCAL_SEARCH_INT8_FILE), levels } } : {}) };
      engine = await OnnxEngine.open(runtime, config, fingerprint, files, projected, globalRows, searchOptions);
      const now = new Date();
      utimesSync(join(dir, ONNX_FILES.manifest), now, now); // recently used: kept by pruneCache
    } catch {
      engine = null; // evicted or damaged meanwhile: export again
    }
  }
  if (!engine) {
    const x = await exportOnnx(config, sd, opts);
    if (dir) writeOnnxExport(dir, x, onnxManifest(config, fingerprint));
    engine = await OnnxEngine.open(runtime, config, fingerprint, { ...x, localSearchInt8: { model: x.localSearchInt8Model, levels: x.int8Levels } }, x.projected, globalRows, searchOptions);
  }
  if (opts.cacheDir) pruneCache(opts.cacheDir, fingerprint);
  return engine;
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
      [ONNX_FILES.localSearch]: `z [M, embedDim], codebook [N, embedDim] (the rows of ${ONNX_FILES.projectedCodebook}), codebook_sq [N] (their squared norms), k int64 [1] -> distances [M, k], indices int64 [M, k] (nearest first; float32, see the README on re-ranking)`,
      [LOCAL_SEARCH_INT8_FILE]: "the same search's int8 first pass, the projected local codebook inside in 8 bits (each row symmetric in [-int8Levels, int8Levels]): z [M, embedDim], codebook [N, embedDim] (float32, for the candidates' distances), codebook_sq [N], k, k_exact int64 [1] -> approximate distances [M, k] (ascending), indices, and the float32 distances of the first k_exact [M, k_exact]",
      [LOCAL_SEARCH_INT8_WASM_FILE]: `(v2l export-onnx) the same int8 first pass for onnxruntime-web's wasm kernels (integers in [-127, 127]), its float32 rows read from ${ONNX_FILES.projectedCodebook} as ONNX external data (give that file as the session's externalData): z, codebook_sq, k, k_exact int64 [1] -> approximate distances [M, k], indices, and the float32 distances of the first k_exact [M, k_exact]`,
      [ONNX_FILES.globalSearch]: `the model of ${ONNX_FILES.localSearch}, fed the global codebook: normalised CLIP image embeddings [B, embedDim] -> the k nearest global codebook rows`,
      [ONNX_FILES.decoder]: `zq [B, embedDim, h, w] (rows of ${ONNX_FILES.projectedCodebook} at the local ids)${decoderHasCrossAttention(config) ? ', global_embeddings [B, K, embedDim]' : ''} -> image [B, outCh, H, W]`,
      [ONNX_FILES.projectedCodebook]: `float32 little-endian [${config.nLocal}, ${config.embedDim}]: codebook_projection(tok_embeddings)`,
    },
  };
}

/** A codebook search on onnxruntime-node (with the int8 first pass for large codebooks, or as `search.int8` says). */
export function createCodebookSearch(rows: Float32Array, n: number, dim: number, opts: OnnxEngineOptions = {}, search: SearchOptions = {}): Promise<CodebookSearch> {
  const levels = int8Levels();
  const int8Model = search.int8 === false ? undefined : { model: coarseSearchModel(rows, n, dim, levels), levels };
  return CodebookSearch.create(nodeRuntime(opts), rows, n, dim, searchModel(dim), { int8Model, ...search });
}
