// Gradient of Tile for every rank. tfjs-core's own gradient handles ranks 1–4 only, and tile (through
// broadcastTo) is how nearest-neighbour upsampling is built from reshape + broadcast, on rank-6 views
// such as [n, h, 1, w, 1, c] -> [n, h, 2, w, 2, c]. The output along an axis is `reps` copies of the
// input, so the gradient sums dy viewed as [before, reps, size, after] over the copies, axis by axis,
// keeping every intermediate at rank 4.
import * as tf from '@tensorflow/tfjs-core';
import { Tile } from '@tensorflow/tfjs-core';
import type { GradConfig, TileAttrs } from '@tensorflow/tfjs-core';

export function tileGradient(dy: tf.Tensor, xShape: number[], reps: number[]): tf.Tensor {
  return tf.tidy(() => {
    const cur = dy.shape.slice();
    let g = dy;
    for (let i = 0; i < xShape.length; i++) {
      if (reps[i] === 1) continue;
      const before = cur.slice(0, i).reduce((a, b) => a * b, 1);
      const after = cur.slice(i + 1).reduce((a, b) => a * b, 1);
      g = tf.sum(tf.reshape(g, [before, reps[i], xShape[i], after]), 1);
      cur[i] = xShape[i];
    }
    return tf.reshape(g, xShape);
  });
}

export const tileGradConfig: GradConfig = {
  kernelName: Tile,
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved;
    const { reps } = attrs as unknown as TileAttrs;
    return { x: () => tileGradient(dy as tf.Tensor, x.shape, reps) };
  },
};
