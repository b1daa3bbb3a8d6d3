// ONNX form of ./quantize.ts' search and of the projected local codebook (v2l-model.ts' projectRows).
import type { Attr } from '../onnx/graph.js';
import type { V2LConfig } from './config.js';
import type { OnnxEmitter } from './onnx.js';
import { linearOnnx } from './layers.onnx.js';
import { l2NormalizeOnnx } from './ops.onnx.js';

/** codebook_projection(rows) (rows L2-normalised with the `cosineCodes` option), [n, embedDim]. */
export function projectRowsOnnx(e: OnnxEmitter, c: V2LConfig, rows: string): string {
  const p = linearOnnx(e, 'codebook_projection', rows);
  return c.cosineCodes ? l2NormalizeOnnx(e, p, -1) : p;
}

/** TopK of the partial distances |e|^2 - 2 z.e [M, N], then |z|^2 added to the kept values only. */
function keepNearest(e: OnnxEmitter, z: string, partial: string, k: string): [string, string] {
  const [values, indices] = e.g.opN('TopK', [partial, k], 2, { axis: 1, largest: 0, sorted: 1 });
  const zsq = e.op('ReduceSum', [e.op('Mul', [z, z]), e.ints([1])], { keepdims: 1 });
  return [e.op('Add', [values, zsq]), indices];
}

/**
 * The `k` (an int64 [1] tensor) smallest d = |z|^2 + |e|^2 - 2 z.e per row of z [M, dim] (./quantize.ts'
 * distance), nearest first, ties to the lower index (TopK's rule, as tfjs' argMin): distances [M, k] and
 * int64 indices [M, k]. `codebook` is [N, dim] with `layout: 'rows'` (the inference search feeds the
 * caller's one copy at every call: no resident or transposed copy in the session) or [dim, N] with
 * `'transposed'` (the training graphs), `codebookSq` its squared row norms [N]. The distance is fused into
 * one Gemm, |e|^2 - 2 z.e (|z|^2 is the same for every row of a query, so it is added to the k kept values
 * only): no element-wise pass over the [M, N] matrix. Float32 rounding differs from tfjs' in the last
 * bits; see src/tokenizer/onnx-engine.ts for how the ids are made tfjs' exactly.
 */
export function nearestRowsOnnx(e: OnnxEmitter, z: string, codebook: string, codebookSq: string, k: string, layout: 'rows' | 'transposed' = 'transposed'): [string, string] {
  const attrs: Record<string, Attr> = { alpha: { float: -2 }, beta: { float: 1 } };
  if (layout === 'rows') attrs.transB = 1;
  return keepNearest(e, z, e.op('Gemm', [z, codebook, codebookSq], attrs), k);
}

/**
 * The integer range of the int8 codebook for onnxruntime-web's wasm kernels (the page's): its int8 GEMM widens
 * u8 and s8 to int16 and sums the products in int32, so the whole int8 range sums exactly (no pairwise int16
 * saturation as x86's pmaddubsw; src/browser/page-search.test.ts checks it on the wasm build).
 */
export const WASM_INT8_LEVELS = 127;

/**
 * One codebook row in 8 bits for the int8 first pass: scaled symmetrically to integers in [-levels,
 * levels] (round to nearest), the integers written by `put(j, q)`. Returns the float32 scale onnxruntime
 * multiplies by, and what bounds the error: the row's squared norm and its rounding residual's, |e - eq|^2.
 * The one definition for the search model's initializer and the engine's error bound.
 */
export function quantizeRowInt8(rows: Float32Array, off: number, dim: number, levels: number, put?: (j: number, q: number) => void): { scale: number; normSq: number; residualSq: number } {
  let amax = 0;
  let normSq = 0;
  for (let j = 0; j < dim; j++) {
    amax = Math.max(amax, Math.abs(rows[off + j]));
    normSq += rows[off + j] * rows[off + j];
  }
  const scale = Math.fround(amax / levels);
  let residualSq = 0;
  for (let j = 0; j < dim; j++) {
    const q = scale > 0 ? Math.max(-levels, Math.min(levels, Math.round(rows[off + j] / scale))) : 0;
    put?.(j, q);
    residualSq += (rows[off + j] - q * scale) ** 2;
  }
  return { scale, normSq, residualSq };
}

/**
 * The cheaper first pass of the same search, in 8-bit integers: z quantised per call (DynamicQuantizeLinear:
 * uint8, one scale and zero point for the [M, dim] block), the codebook quantised per row ahead
 * (`codebookQT` int8 [dim, N], quantizeRowInt8; `rowScale` [N] is -2 x each row's scale), one
 * MatMulInteger, then the distances approximated as |e|^2 - 2 zq.eq (+ |z|^2 on the kept values). Nothing
 * else reads the quantised z, so onnxruntime fuses the chain into one int8 GEMM with the scales and |e|^2
 * applied on its output (with the integers an initializer, packed once). For the first `kExact` (an int64
 * [1] tensor, at most k) of the k kept candidates the float32 distances are computed too, from the float32
 * `codebook` [N, dim] rows gathered ([M, kExact, dim]: a few MB per call), their dot products with z by a
 * batched matrix-vector MatMul (`dot: 'matmul'`, the faster natively) or by a product and a sum over dim
 * (`'mulSum'`: onnxruntime-web's wasm runs the MatMul form ~2x slower, native onnxruntime the other ~1.5x). Returns the
 * approximate distances [M, k] (ascending), their int64 indices [M, k] and the float32 distances of the
 * first kExact of them [M, kExact]; the caller bounds the approximation's error and re-ranks
 * (src/tokenizer/onnx-engine.ts).
 */
export function coarseNearestRowsOnnx(e: OnnxEmitter, z: string, codebookQT: string, rowScale: string, codebook: string, codebookSq: string, k: string, kExact: string,
  dot: 'matmul' | 'mulSum' = 'matmul'): [string, string, string] {
  const [zq, zScale, zZero] = e.g.opN('DynamicQuantizeLinear', [z], 3);
  const approxDots = e.op('Cast', [e.op('MatMulInteger', [zq, codebookQT, zZero])], { to: 1 });
  const partial = e.op('Add', [e.op('Mul', [approxDots, e.op('Mul', [zScale, rowScale])]), codebookSq]);
  const [values, indices] = keepNearest(e, z, partial, k);
  // float32 distances of the first kExact candidates: |z|^2 + |e|^2 - 2 z.e, with e gathered [M, kExact, dim]
  const first = e.op('Slice', [indices, e.ints([0]), kExact, e.ints([1])]);
  const rows = e.op('Gather', [codebook, first], { axis: 0 });
  const dots = dot === 'matmul'
    ? e.op('Squeeze', [e.op('MatMul', [rows, e.op('Unsqueeze', [z, e.ints([2])])]), e.ints([2])]) // [M, kExact, dim] x [M, dim, 1]
    : e.op('ReduceSum', [e.op('Mul', [rows, e.op('Unsqueeze', [z, e.ints([1])])]), e.ints([2])], { keepdims: 0 });
  const zsq = e.op('ReduceSum', [e.op('Mul', [z, z]), e.ints([1])], { keepdims: 1 });
  const exact = e.op('Add', [e.op('Add', [zsq, e.op('Gather', [codebookSq, first], { axis: 0 })]), e.op('Mul', [dots, e.scalar(-2)])]);
  return [values, indices, exact];
}
