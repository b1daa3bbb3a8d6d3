// The reference's CrossAttention (from latent diffusion): queries from the local features, keys and values
// from the Kg global embeddings; q/k/v without bias, `heads` heads of width `dimHead`, scale dimHead^-1/2,
// `to_out.0` Linear(inner, query) with bias. In the V2L decoder its output REPLACES the hidden state.
import * as tf from '@tensorflow/tfjs-core';
import type { ParamStore } from './params.js';
import { linear } from './layers.js';

/** Returns f(x [B,N,queryDim], context [B,K,contextDim]) -> [B,N,queryDim]. */
export function crossAttention(p: ParamStore, prefix: string, queryDim: number, contextDim: number, heads: number, dimHead: number):
  (x: tf.Tensor3D, context: tf.Tensor3D) => tf.Tensor3D {
  const inner = heads * dimHead;
  p.linear(`${prefix}.to_q`, queryDim, inner, { bias: false });
  p.linear(`${prefix}.to_k`, contextDim, inner, { bias: false });
  p.linear(`${prefix}.to_v`, contextDim, inner, { bias: false });
  p.linear(`${prefix}.to_out.0`, inner, queryDim);
  const scale = dimHead ** -0.5;
  // "b n (h d) -> (b h) n d"
  const split = (t: tf.Tensor, b: number, n: number) =>
    tf.reshape(tf.transpose(tf.reshape(t, [b, n, heads, dimHead]), [0, 2, 1, 3]), [b * heads, n, dimHead]) as tf.Tensor3D;
  return (x, context) => {
    const [b, n] = x.shape;
    const kLen = context.shape[1];
    if (context.shape[0] !== b) throw new Error(`cross-attention: ${context.shape[0]} global-token sets for ${b} images`);
    const q = split(linear(p, `${prefix}.to_q`, x), b, n);
    const k = split(linear(p, `${prefix}.to_k`, context), b, kLen);
    const v = split(linear(p, `${prefix}.to_v`, context), b, kLen);
    // The key axis is tiny (Kg = 5 or 21), so these batched matMuls cost little next to the convolutions.
    const att = tf.softmax(tf.mul(tf.matMul(q, k, false, true), scale));
    const o = tf.matMul(att, v); // [(b h), n, d]
    const merged = tf.reshape(tf.transpose(tf.reshape(o, [b, heads, n, dimHead]), [0, 2, 1, 3]), [b, n, inner]);
    return linear(p, `${prefix}.to_out.0`, merged) as tf.Tensor3D;
  };
}
