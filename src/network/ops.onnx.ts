// Swish and the L2 normalisation (over channels, NCHW); see ./onnx.ts.
import type { OnnxEmitter } from './onnx.js';

/** swish(x) = x * sigmoid(x). */
export function swishOnnx(e: OnnxEmitter, x: string): string {
  return e.op('Mul', [x, e.op('Sigmoid', [x])]);
}

/** x / ||x|| over `axis` (no epsilon, as the reference's `x / x.norm(dim)`). */
export function l2NormalizeOnnx(e: OnnxEmitter, x: string, axis: number): string {
  const sq = e.op('ReduceSum', [e.op('Mul', [x, x]), e.ints([axis])], { keepdims: 1 });
  return e.op('Div', [x, e.op('Sqrt', [sq])]);
}
