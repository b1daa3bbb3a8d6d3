// taming's AttnBlock: single-head self-attention over the H*W positions, 1x1-conv q, k, v and
// proj_out, scale C^-1/2, residual. Batched MatMuls here (onnxruntime has no wasm-style penalty for them).
import type { OnnxEmitter } from './onnx.js';
import { conv2dOnnx, groupNormOnnx } from './layers.onnx.js';

export function attnBlockOnnx(e: OnnxEmitter, prefix: string, x: string, c: number): string {
  const hn = groupNormOnnx(e, `${prefix}.norm`, x);
  const flat = e.ints([0, c, -1]); // [B, C, H*W]
  const q = e.op('Reshape', [conv2dOnnx(e, `${prefix}.q`, hn), flat]);
  const k = e.op('Reshape', [conv2dOnnx(e, `${prefix}.k`, hn), flat]);
  const v = e.op('Reshape', [conv2dOnnx(e, `${prefix}.v`, hn), flat]);
  const scores = e.op('Mul', [e.op('MatMul', [e.op('Transpose', [q], { perm: [0, 2, 1] }), k]), e.scalar(c ** -0.5)]); // [B, query, key]
  const att = e.op('Softmax', [scores], { axis: -1 });
  const o = e.op('MatMul', [v, e.op('Transpose', [att], { perm: [0, 2, 1] })]); // [B, C, query]
  return e.op('Add', [x, conv2dOnnx(e, `${prefix}.proj_out`, e.op('Reshape', [o, e.op('Shape', [x])]))]);
}
