// The network as ONNX models, emitted from the module functions beside the tfjs forwards (`*.onnx.ts`) and
// the state dict (`V2LNetwork.stateDict()` or a checkpoint's tensors):
//   encoder:    image [B, inChannels, H, W] in [-1, 1] -> z [B, h, w, embedDim] (quant_conv output divided
//               by its L2 norm; NHWC rows, the search's input)
//   projection: local codebook rows [N, embedDim] -> codebook_projection(rows) (run once per checkpoint)
//   search:     z rows [M, embedDim], a fed codebook, k -> its k nearest rows (distances, int64 ids); and
//               its int8 first pass (approximate distances of the k best, re-ranked exactly by the engine)
//   decoder:    zq [B, embedDim, h, w] (projected codebook rows), global embeddings [B, K, embedDim]
//               -> image [B, outCh, H, W]
// Portable: bytes out, no runtime.
import type { HostTensor } from '../io/dtypes.js';
import { GraphBuilder } from '../onnx/graph.js';
import type { V2LConfig } from './config.js';
import { OnnxEmitter } from './onnx.js';
import { conv2dOnnx } from './layers.onnx.js';
import { l2NormalizeOnnx } from './ops.onnx.js';
import { encoderOnnx } from './encoder.onnx.js';
import { decoderHasCrossAttention, decoderOnnx } from './decoder.onnx.js';
import { coarseNearestRowsOnnx, nearestRowsOnnx, projectRowsOnnx, quantizeRowInt8, WASM_INT8_LEVELS } from './quantize.onnx.js';

/** Bumped whenever the emitted graphs change, so cached exports are rebuilt. */
export const ONNX_EXPORT_VERSION = 4;

const DOC = 'v2l tokenizer network (V2L Tokenizer, CVPR 2024), emitted by v2l from its network definition';

/** `winograd`: the 3x3 stride-1 convolutions by Winograd F(4x4, 3x3) (fewer multiplications; for onnxruntime-web). */
export function encoderModel(c: V2LConfig, sd: ReadonlyMap<string, HostTensor>, opts: { winograd?: boolean } = {}): Uint8Array {
  const g = new GraphBuilder();
  const e = new OnnxEmitter(g, sd);
  e.winograd = opts.winograd ?? false;
  const z = l2NormalizeOnnx(e, conv2dOnnx(e, 'quant_conv', encoderOnnx(e, c, 'image')), 1);
  g.op('Transpose', [z], { perm: [0, 2, 3, 1] }, 'z');
  return g.build('v2l_encoder', [{ name: 'image', type: 'float32', shape: ['batch', c.inChannels, 'height', 'width'] }],
    [{ name: 'z', type: 'float32', shape: ['batch', 'h', 'w', c.embedDim] }], `${DOC}: encoder + quant_conv + L2 normalisation`);
}

export function projectionModel(c: V2LConfig, sd: ReadonlyMap<string, HostTensor>): Uint8Array {
  const g = new GraphBuilder();
  const e = new OnnxEmitter(g, sd);
  g.op('Identity', [projectRowsOnnx(e, c, 'rows')], {}, 'projected');
  return g.build('v2l_codebook_projection', [{ name: 'rows', type: 'float32', shape: ['n', c.embedDim] }],
    [{ name: 'projected', type: 'float32', shape: ['n', c.embedDim] }], `${DOC}: codebook_projection of local codebook rows`);
}

/**
 * The exact float32 search over a codebook of rows of width `dim`, fed at every call with its squared row
 * norms (`codebook` [n, dim], `codebook_sq` [n]): one model for any codebook, no copy of it in the file or
 * the session. The input `k` says how many nearest rows per query.
 */
export function searchModel(dim: number): Uint8Array {
  const g = new GraphBuilder();
  const e = new OnnxEmitter(g, new Map());
  const [values, indices] = nearestRowsOnnx(e, 'z', 'codebook', 'codebook_sq', 'k', 'rows');
  g.op('Identity', [values], {}, 'distances');
  g.op('Identity', [indices], {}, 'indices');
  return g.build('v2l_nearest_rows', [{ name: 'z', type: 'float32', shape: ['m', dim] }, { name: 'codebook', type: 'float32', shape: ['n', dim] },
    { name: 'codebook_sq', type: 'float32', shape: ['n'] }, { name: 'k', type: 'int64', shape: [1] }],
  [{ name: 'distances', type: 'float32', shape: ['m', 'k'] }, { name: 'indices', type: 'int64', shape: ['m', 'k'] }],
  `${DOC}: the k nearest rows of a fed codebook by |z|^2 + |e|^2 - 2 z.e, nearest first`);
}

/**
 * The int8 first pass of the search over `codebook` [n, dim] (quantize.onnx.ts' coarseNearestRowsOnnx):
 * the rows' integers in [-levels, levels] (quantizeRowInt8) and their scales are initializers (packed once
 * by onnxruntime); `codebook_sq` [n] is fed, with `k` and `k_exact`, and so is the float32 `codebook` [n, dim]
 * (whose candidate rows give the float32 distances), unless `rowsFile`: then the float32 rows are an
 * initializer read from that file beside the model (ONNX external data; the export's projected codebook).
 * Outputs the approximate distances and indices of the k best and the float32 distances of the first k_exact.
 */
export function coarseSearchModel(codebook: Float32Array, n: number, dim: number, levels: number, opts: { rowsFile?: string; dot?: 'matmul' | 'mulSum' } = {}): Uint8Array {
  if (codebook.length !== n * dim) throw new Error(`search model: ${codebook.length} values for a ${n} x ${dim} codebook`);
  const qt = new Int8Array(n * dim);
  const rowScale = new Float32Array(n);
  for (let r = 0; r < n; r++) rowScale[r] = -2 * quantizeRowInt8(codebook, r * dim, dim, levels, (j, q) => { qt[j * n + r] = q; }).scale;
  const g = new GraphBuilder();
  const e = new OnnxEmitter(g, new Map());
  const rows = opts.rowsFile ? g.externalWeight('codebook', [n, dim], opts.rowsFile) : 'codebook';
  const outs = coarseNearestRowsOnnx(e, 'z', g.int8Weight('codebook_qt', [dim, n], qt), e.floats('row_scale', [n], rowScale), rows, 'codebook_sq', 'k', 'k_exact', opts.dot);
  ['distances', 'indices', 'exact_distances'].forEach((name, i) => g.op('Identity', [outs[i]], {}, name));
  return g.build('v2l_nearest_rows_int8', [{ name: 'z', type: 'float32', shape: ['m', dim] },
    ...(opts.rowsFile ? [] : [{ name: 'codebook', type: 'float32' as const, shape: [n, dim] }]),
    { name: 'codebook_sq', type: 'float32', shape: [n] }, { name: 'k', type: 'int64', shape: [1] }, { name: 'k_exact', type: 'int64', shape: [1] }],
  [{ name: 'distances', type: 'float32', shape: ['m', 'k'] }, { name: 'indices', type: 'int64', shape: ['m', 'k'] }, { name: 'exact_distances', type: 'float32', shape: ['m', 'k_exact'] }],
  `${DOC}: the k nearest of ${n} codebook rows held in 8 bits (levels ${levels}) by |z|^2 + |e|^2 - 2 zq.eq (approximate; re-ranked exactly by the engine)`);
}

/**
 * The int8 first pass for onnxruntime-web's wasm kernels (the page's local search, src/browser/page-search.ts):
 * levels WASM_INT8_LEVELS whatever CPU exports it; the float32 rows read from `rowsFile` beside the model
 * (the export's projected codebook: onnxruntime-web copies every fed tensor into its wasm memory at every
 * call, 98 MB per call at 32,000 rows, so they are not fed); the candidates' dot products as a product and a
 * sum (its batched matrix-vector MatMul is ~2x slower).
 */
export function wasmCoarseSearchModel(codebook: Float32Array, n: number, dim: number, rowsFile: string): Uint8Array {
  return coarseSearchModel(codebook, n, dim, WASM_INT8_LEVELS, { rowsFile, dot: 'mulSum' });
}

/** `winograd`: the 3x3 convolutions by Winograd F(4x4, 3x3) (fewer multiplications; for onnxruntime-web). */
export function decoderModel(c: V2LConfig, sd: ReadonlyMap<string, HostTensor>, opts: { winograd?: boolean } = {}): Uint8Array {
  const g = new GraphBuilder();
  const e = new OnnxEmitter(g, sd);
  e.winograd = opts.winograd ?? false;
  const cross = decoderHasCrossAttention(c);
  const h = conv2dOnnx(e, 'post_quant_conv', 'zq');
  g.op('Identity', [decoderOnnx(e, c, h, cross ? 'global_embeddings' : null)], {}, 'image');
  const inputs = [{ name: 'zq', type: 'float32' as const, shape: ['batch', c.embedDim, 'h', 'w'] }];
  if (cross) inputs.push({ name: 'global_embeddings', type: 'float32', shape: ['batch', 'k', c.embedDim] });
  return g.build('v2l_decoder', inputs, [{ name: 'image', type: 'float32', shape: ['batch', c.outCh, 'height', 'width'] }],
    `${DOC}: post_quant_conv + decoder${cross ? ' with cross-attention to the global embeddings' : ' (no cross-attention)'}`);
}
