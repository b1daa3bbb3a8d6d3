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

/**
 * Builds a conv2d filter [lh, lw, O, groups*C] from a filter [fh, fw, C, O] by picking a tap for each
 * (uh, uw, group) - or zeros where `tapOf` returns null - with in/out channels swapped:
 *   out[uh, uw, o, g*C + c] = filter[kh, kw, c, o]   where [kh, kw] = tapOf(uh, uw, g).
 * Done in JS on the filter's values: a filter is small, and wasm's Reverse/Gather kernels run at
 * ~100 ns per element, where this is a few. Only for backends whose data reads are synchronous
 * (cpu, wasm), which are the ones these kernels are registered for.
 */
export function filterFromTaps(
  filter: tf.Tensor4D,
  lh: number,
  lw: number,
  groups: number,
  tapOf: (uh: number, uw: number, g: number) => [number, number] | null,
): tf.Tensor4D {
  const [, fw, c, o] = filter.shape;
  const src = filter.dataSync() as Float32Array;
  const out = new Float32Array(lh * lw * o * groups * c);
  const gc = groups * c;
  for (let uh = 0; uh < lh; uh++) {
    for (let uw = 0; uw < lw; uw++) {
      const base = (uh * lw + uw) * o * gc;
      for (let g = 0; g < groups; g++) {
        const tap = tapOf(uh, uw, g);
        if (tap === null) continue;
        const s0 = (tap[0] * fw + tap[1]) * c * o;
        for (let ci = 0; ci < c; ci++) {
          const srow = s0 + ci * o;
          let d = base + g * c + ci;
          for (let oi = 0; oi < o; oi++, d += gc) out[d] = src[srow + oi];
        }
      }
    }
  }
  return tf.tensor4d(out, [lh, lw, o, gc]);
}
