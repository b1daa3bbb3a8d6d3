// Spatial reshaping helpers shared by the convolution gradient kernels (NHWC tensors).
import * as tf from '@tensorflow/tfjs-core';

/** Inserts (s - 1) zeros after every row/column of an NHWC tensor (trailing ones included). */
export function dilate(dy: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  let t = dy;
  const [n, h, w, c] = dy.shape;
  if (sh > 1) {
    t = tf.reshape(tf.pad(tf.reshape(t, [n * h, 1, w, c]), [[0, 0], [0, sh - 1], [0, 0], [0, 0]]), [n, h * sh, w, c]);
  }
  if (sw > 1) {
    const hh = t.shape[1];
    t = tf.reshape(tf.pad(tf.reshape(t, [n * hh * w, 1, 1, c]), [[0, 0], [0, 0], [0, sw - 1], [0, 0]]), [n, hh, w * sw, c]);
  }
  return t;
}

/** Pads (positive amounts) or crops (negative amounts) the two spatial axes of an NHWC tensor. */
export function padOrCrop(t: tf.Tensor4D, top: number, bottom: number, left: number, right: number): tf.Tensor4D {
  const [n, h, w, c] = t.shape;
  const ct = Math.max(0, -top), cb = Math.max(0, -bottom), cl = Math.max(0, -left), cr = Math.max(0, -right);
  let r = t;
  if (ct || cb || cl || cr) r = tf.slice(r, [0, ct, cl, 0], [n, h - ct - cb, w - cl - cr, c]);
  const pt = Math.max(0, top), pb = Math.max(0, bottom), pl = Math.max(0, left), pr = Math.max(0, right);
  if (pt || pb || pl || pr) r = tf.pad(r, [[0, 0], [pt, pb], [pl, pr], [0, 0]]);
  return r;
}
