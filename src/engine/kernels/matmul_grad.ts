// Gradient of BatchMatMul that also handles broadcast batch dimensions. tfjs-core's own gradient
// returns, for a [3, m, k] x [k, n] product, a gradient of b shaped [3, k, n] and the tape rejects it
// ("gradient of input 'b' has shape 3,k,n, which does not match"), on every backend. This wraps
// the core gradient and sums each result over the batch axes its input was broadcast along.
import * as tf from '@tensorflow/tfjs-core';
import { BatchMatMul, broadcast_util } from '@tensorflow/tfjs-core';
import type { GradConfig } from '@tensorflow/tfjs-core';

/** Sums `g` over the leading axes that `shape` was broadcast along, and gives it `shape`. */
export function reduceToShape(g: tf.Tensor, shape: number[]): tf.Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const axes = broadcast_util.getReductionAxes(shape, g.shape);
  return tf.reshape(axes.length ? tf.sum(g, axes) : g, shape);
}

export function batchMatMulGradConfig(core: GradConfig): GradConfig {
  return {
    ...core,
    kernelName: BatchMatMul,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved, attrs) => {
      const [a, b] = saved;
      const grads = core.gradFunc(dy, saved, attrs);
      return {
        a: () => reduceToShape(grads.a(), a.shape),
        b: () => reduceToShape(grads.b(), b.shape),
      };
    },
  };
}
