// ONNX form of ./quantize.ts' search and of the projected local codebook (v2l-model.ts' projectRows).
import type { V2LConfig } from './config.js';
import type { OnnxEmitter } from './onnx.js';
import { linearOnnx } from './layers.onnx.js';
import { l2NormalizeOnnx } from './ops.onnx.js';

/** codebook_projection(rows) (rows L2-normalised with the `cosineCodes` option), [n, embedDim]. */
export function projectRowsOnnx(e: OnnxEmitter, c: V2LConfig, rows: string): string {
  const p = linearOnnx(e, 'codebook_projection', rows);
  return c.cosineCodes ? l2NormalizeOnnx(e, p, -1) : p;
}

/**
 * The `k` (an int64 [1] tensor) smallest d = |z|^2 + |e|^2 - 2 z.e per row of z [M, dim] (./quantize.ts'
 * distance), nearest first, ties to the lower index (TopK's rule, as tfjs' argMin): distances [M, k] and
 * int64 indices [M, k]. `codebookT` is the codebook transposed [dim, N] and `codebookSq` its row norms
 * squared [N]: precomputed, resident initializers. The distance is fused into one Gemm,
 * |e|^2 - 2 z.e (|z|^2 is the same for every row of a query, so it is added to the k kept values only):
 * no element-wise pass over the [M, N] matrix. Float32 rounding differs from tfjs' in the last bits;
 * see src/tokenizer/onnx-engine.ts for how the ids are made tfjs' exactly.
 */
export function nearestRowsOnnx(e: OnnxEmitter, z: string, codebookT: string, codebookSq: string, k: string): [string, string] {
  const partial = e.op('Gemm', [z, codebookT, codebookSq], { alpha: { float: -2 }, beta: { float: 1 } });
  const [values, indices] = e.g.opN('TopK', [partial, k], 2, { axis: 1, largest: 0, sorted: 1 });
  const zsq = e.op('ReduceSum', [e.op('Mul', [z, z]), e.ints([1])], { keepdims: 1 });
  return [e.op('Add', [values, zsq]), indices];
}
