// Downsample (pad right/bottom by one, then 3x3 stride-2 conv: the reference's asymmetric (0,1,0,1) pad)
// and Upsample (nearest x2, then 3x3 conv). Nearest upsampling is a reshape + broadcast: tfjs' depthToSpace
// has no gradient and the cpu backend's ResizeNearestNeighborGrad is wrong for batch > 1.
import * as tf from '@tensorflow/tfjs-core';
import type { ParamStore } from './params.js';
import { conv2d } from './layers.js';
import type { Block } from './resnet-block.js';

export function downsample(p: ParamStore, prefix: string, c: number): Block {
  p.conv(`${prefix}.conv`, c, c, 3);
  return (x) => conv2d(p, `${prefix}.conv`, tf.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]]), { stride: 2 });
}

/** Nearest-neighbour x2 of NHWC input (PyTorch `interpolate(scale_factor=2, mode='nearest')`). */
export function upsampleNearest2x(x: tf.Tensor4D): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const b = tf.broadcastTo(tf.reshape(x, [n, h, 1, w, 1, c]), [n, h, 2, w, 2, c]);
  return tf.reshape(b, [n, 2 * h, 2 * w, c]);
}

export function upsample(p: ParamStore, prefix: string, c: number): Block {
  p.conv(`${prefix}.conv`, c, c, 3);
  return (x) => conv2d(p, `${prefix}.conv`, upsampleNearest2x(x), { pad: 1 });
}
