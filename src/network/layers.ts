// The primitive layers, in NHWC, reading their parameters from the store by reference name:
// conv2d (any kernel; 1x1 as a plain 2-D matMul), linear, GroupNorm(32, eps 1e-6).
import * as tf from '@tensorflow/tfjs-core';
import type { ParamStore } from './params.js';

export const GROUPS = 32;
export const GN_EPS = 1e-6;

/**
 * PyTorch Conv2d `prefix` on NHWC input. `pad` is symmetric zero padding (the reference's `padding`);
 * 1x1 convolutions become one [N*H*W, in] x [in, out] matMul, the fastest path on wasm.
 */
export function conv2d(p: ParamStore, prefix: string, x: tf.Tensor4D, opts: { stride?: number; pad?: number } = {}): tf.Tensor4D {
  const w = p.get(`${prefix}.weight`) as tf.Tensor4D; // [kh, kw, in, out]
  const b = p.vars.get(`${prefix}.bias`) as tf.Tensor1D | undefined;
  const [kh, kw, cin, cout] = w.shape;
  const stride = opts.stride ?? 1;
  const pad = opts.pad ?? 0;
  if (kh === 1 && kw === 1 && stride === 1 && pad === 0) {
    const [n, h, wd] = x.shape;
    const y = tf.fused.matMul({ a: tf.reshape(x, [n * h * wd, cin]), b: tf.reshape(w, [cin, cout]), bias: b });
    return tf.reshape(y, [n, h, wd, cout]);
  }
  // 'same' equals symmetric padding (k-1)/2 for odd kernels at stride 1; otherwise pad explicitly.
  const same = stride === 1 && kh === kw && kh % 2 === 1 && pad === (kh - 1) / 2;
  const input = same || pad === 0 ? x : tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]]);
  return tf.fused.conv2d({ x: input, filter: w, strides: stride, pad: same ? 'same' : 'valid', bias: b });
}

/** PyTorch Linear `prefix` on [..., in] input (weight held as [in, out]). */
export function linear(p: ParamStore, prefix: string, x: tf.Tensor): tf.Tensor {
  const w = p.get(`${prefix}.weight`) as tf.Tensor2D;
  const b = p.vars.get(`${prefix}.bias`) as tf.Tensor1D | undefined;
  const lead = x.shape.slice(0, -1);
  const y = tf.fused.matMul({ a: tf.reshape(x, [-1, w.shape[0]]), b: w, bias: b });
  return tf.reshape(y, [...lead, w.shape[1]]);
}

/** GroupNorm(32 groups, eps 1e-6, affine) over NHWC: statistics per sample and group, biased variance. */
export function groupNorm(p: ParamStore, prefix: string, x: tf.Tensor4D): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const g = tf.reshape(x, [n, h * w, GROUPS, c / GROUPS]);
  const { mean, variance } = tf.moments(g, [1, 3], true);
  const normed = tf.reshape(tf.mul(tf.sub(g, mean), tf.rsqrt(tf.add(variance, GN_EPS))), [n, h, w, c]);
  return tf.add(tf.mul(normed, p.get(`${prefix}.weight`)), p.get(`${prefix}.bias`));
}
