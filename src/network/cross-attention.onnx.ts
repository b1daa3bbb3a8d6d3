// The reference's CrossAttention (latent diffusion's): queries from the local features [B, N, queryDim], keys and values from
// the global embeddings [B, K, contextDim]; `heads` heads of `dimHead`, scale dimHead^-1/2, to_out.0.
import type { OnnxEmitter } from './onnx.js';
import { linearOnnx } from './layers.onnx.js';

export function crossAttentionOnnx(e: OnnxEmitter, prefix: string, x: string, context: string, heads: number, dimHead: number): string {
  // "b n (h d) -> b h n d"
  const split = (t: string) => e.op('Transpose', [e.op('Reshape', [t, e.ints([0, 0, heads, dimHead])])], { perm: [0, 2, 1, 3] });
  const q = split(linearOnnx(e, `${prefix}.to_q`, x));
  const kT = e.op('Transpose', [e.op('Reshape', [linearOnnx(e, `${prefix}.to_k`, context), e.ints([0, 0, heads, dimHead])])], { perm: [0, 2, 3, 1] });
  const v = split(linearOnnx(e, `${prefix}.to_v`, context));
  const att = e.op('Softmax', [e.op('Mul', [e.op('MatMul', [q, kT]), e.scalar(dimHead ** -0.5)])], { axis: -1 });
  const o = e.op('MatMul', [att, v]); // [B, heads, N, dimHead]
  const merged = e.op('Reshape', [e.op('Transpose', [o], { perm: [0, 2, 1, 3] }), e.ints([0, 0, heads * dimHead])]);
  return linearOnnx(e, `${prefix}.to_out.0`, merged);
}
