// taming-transformers' AttnBlock: single-head self-attention over the H*W positions with 1x1-conv q, k, v
// and proj_out, scale C^-1/2, residual. Each sample's attention is two plain 2-D matMuls: on wasm a batched
// or transposed matMul is about ten times slower.
import * as tf from '@tensorflow/tfjs-core';
import type { ParamStore } from './params.js';
import { conv2d, groupNorm } from './layers.js';
import type { Block } from './resnet-block.js';

export function attnBlock(p: ParamStore, prefix: string, c: number): Block {
  p.norm(`${prefix}.norm`, c);
  for (const k of ['q', 'k', 'v', 'proj_out']) p.conv(`${prefix}.${k}`, c, c, 1);
  return (x) => {
    const [n, h, w] = x.shape;
    const hn = groupNorm(p, `${prefix}.norm`, x);
    const q = tf.reshape(conv2d(p, `${prefix}.q`, hn), [n, h * w, c]);
    const k = tf.reshape(conv2d(p, `${prefix}.k`, hn), [n, h * w, c]);
    const v = tf.reshape(conv2d(p, `${prefix}.v`, hn), [n, h * w, c]);
    const scale = c ** -0.5;
    const outs: tf.Tensor2D[] = [];
    for (let b = 0; b < n; b++) {
      const qb = tf.reshape(tf.slice(q, [b, 0, 0], [1, h * w, c]), [h * w, c]) as tf.Tensor2D;
      const kbT = tf.transpose(tf.reshape(tf.slice(k, [b, 0, 0], [1, h * w, c]), [h * w, c])) as tf.Tensor2D;
      const vb = tf.reshape(tf.slice(v, [b, 0, 0], [1, h * w, c]), [h * w, c]) as tf.Tensor2D;
      const att = tf.softmax(tf.mul(tf.matMul(qb, kbT), scale)); // [query, key]
      outs.push(tf.matMul(att, vb));
    }
    const o = tf.reshape(n === 1 ? outs[0] : tf.concat(outs, 0), [n, h, w, c]) as tf.Tensor4D;
    return tf.add(x, conv2d(p, `${prefix}.proj_out`, o));
  };
}
