// Small differentiable helpers tfjs-core lacks.
import * as tf from '@tensorflow/tfjs-core';

/**
 * sg(x): the value of x with zero gradient (PyTorch's `.detach()`). tfjs has no stopGradient, so it is a
 * customGrad identity whose gradient is zero.
 */
const sg = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => ({
  value: tf.clone(args[0] as tf.Tensor),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
}));
export function stopGradient<T extends tf.Tensor>(x: T): T {
  return sg(x) as T;
}

/** swish(x) = x * sigmoid(x) (the reference's `nonlinearity`). */
export function swish<T extends tf.Tensor>(x: T): T {
  return tf.mul(x, tf.sigmoid(x));
}

/** L2 norm over the last axis, kept: x / ||x|| (no epsilon, as the reference's `x / x.norm(dim)`). */
export function l2NormalizeLast<T extends tf.Tensor>(x: T): T {
  return tf.div(x, tf.sqrt(tf.sum(tf.square(x), -1, true)));
}

/** NCHW -> NHWC. */
export function toNHWC(x: tf.Tensor4D): tf.Tensor4D {
  return tf.transpose(x, [0, 2, 3, 1]);
}

/** NHWC -> NCHW. */
export function toNCHW(x: tf.Tensor4D): tf.Tensor4D {
  return tf.transpose(x, [0, 3, 1, 2]);
}

/**
 * Runs blocks one after another, freeing each block's intermediates (and the previous activation) as
 * soon as the next one exists. A deep network at 128 px and batch 8 otherwise holds every intermediate
 * until the caller's tidy ends, several GiB, past the wasm backend's 4 GiB heap. Safe under a gradient
 * tape (the tape keeps its own clones of what a backward pass needs), but it saves nothing there: training
 * memory is bounded by gradient checkpointing (./checkpoint.ts).
 */
export function sequential(x: tf.Tensor4D, steps: readonly ((h: tf.Tensor4D) => tf.Tensor4D)[]): tf.Tensor4D {
  let h = x;
  for (const step of steps) {
    const prev = h;
    h = tf.tidy(() => step(prev));
    if (prev !== x) prev.dispose();
  }
  return h;
}
