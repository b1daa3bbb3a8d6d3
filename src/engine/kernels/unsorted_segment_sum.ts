// UnsortedSegmentSum, which the wasm backend lacks; tfjs uses it for the gradient of `gather`.
//   out[s, ...] = sum over i with segmentIds[i] == s of x[i, ...]
// Written as a scatter-add (ScatterNd sums duplicate indices on every tfjs backend), which is linear
// in the size of x, instead of a one-hot matMul, which would cost numSegments times more. As in
// TensorFlow, negative ids drop their row; an id >= numSegments is an error.
import * as tf from '@tensorflow/tfjs-core';
import { UnsortedSegmentSum } from '@tensorflow/tfjs-core';
import type { KernelConfig, UnsortedSegmentSumAttrs } from '@tensorflow/tfjs-core';
import { compositeKernel } from './composite.js';

export function unsortedSegmentSumScatter(x: tf.Tensor, segmentIds: tf.Tensor, numSegments: number): tf.Tensor {
  return tf.tidy(() => {
    const idRank = segmentIds.rank;
    const lead = x.shape.slice(0, idRank);
    if (lead.length !== idRank || lead.some((d, i) => d !== segmentIds.shape[i])) {
      throw new Error(`segmentIds shape [${segmentIds.shape}] must be a prefix of x shape [${x.shape}]`);
    }
    const rest = x.shape.slice(idRank);
    const n = segmentIds.size;
    const d = rest.reduce((a, b) => a * b, 1);
    const outShape = [numSegments, ...rest];
    if (n === 0 || numSegments === 0) return tf.zeros(outShape, x.dtype);
    const ids = segmentIds.dtype === 'int32' ? segmentIds : tf.cast(segmentIds, 'int32');
    const idValues = ids.dataSync() as Int32Array;
    let negatives = 0;
    for (let i = 0; i < idValues.length; i++) {
      const v = idValues[i];
      if (v >= numSegments) throw new Error(`segment id ${v} at position ${i} is not below numSegments ${numSegments}`);
      if (v < 0) negatives++;
    }
    let xs = tf.reshape(x, [n, d]);
    let idx = tf.reshape(ids, [n, 1]);
    if (negatives > 0) {
      // Keep only the rows whose id is valid (gather by the kept positions).
      const keep = new Int32Array(n - negatives);
      for (let i = 0, j = 0; i < n; i++) if (idValues[i] >= 0) keep[j++] = i;
      if (keep.length === 0) return tf.zeros(outShape, x.dtype);
      const keepT = tf.tensor1d(keep, 'int32');
      xs = tf.gather(xs, keepT);
      idx = tf.gather(idx, keepT);
    }
    return tf.reshape(tf.scatterND(idx, xs, [numSegments, d]), outShape);
  });
}

export const unsortedSegmentSumConfig = (backendName: string): KernelConfig => ({
  kernelName: UnsortedSegmentSum,
  backendName,
  kernelFunc: compositeKernel<UnsortedSegmentSumAttrs>(UnsortedSegmentSum, ({ x, segmentIds }, { numSegments }) =>
    unsortedSegmentSumScatter(x, segmentIds, numSegments),
  ),
});
