// Fast path for Conv2DBackpropInput on wasm: the gradient of conv2d with respect to its input.
// wasm's own kernel is a naive loop (2–3 GFLOP/s); the same result is a stride-1 'valid' conv2d, which
// wasm runs through XNNPACK (~20 GFLOP/s), of dy dilated by the stride and padded by (filter - 1 - pad),
// with the filter flipped in space and its in/out channels swapped:
//   dx[n, i, j, c] = sum_{kh, kw, o} dyDilatedPadded[n, i + kh, j + kw, o] * W[fh-1-kh, fw-1-kw, c, o]
import * as tf from '@tensorflow/tfjs-core';
import { backend_util, Conv2DBackpropInput } from '@tensorflow/tfjs-core';
import type { Conv2DBackpropInputAttrs, KernelConfig, NamedAttrMap } from '@tensorflow/tfjs-core';
import { compositeKernel, pair, runKernelConfig } from './composite.js';
import { fastPathsEnabled } from './fast_paths.js';
import { dilate, padOrCrop } from './spatial.js';

/** dx for NHWC dy and filter [fh, fw, inC, outC]; attributes as for tf.conv2d. */
export function conv2dBackpropInputAsConv(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  inputShape: [number, number, number, number],
  strides: number | [number, number],
  pad: Conv2DBackpropInputAttrs['pad'],
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = backend_util.computeConv2DInfo(inputShape, filter.shape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
    const { filterHeight: fh, filterWidth: fw, inHeight, inWidth, outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw } = info;
    if (dy.shape[1] !== oh || dy.shape[2] !== ow || dy.shape[3] !== info.outChannels || dy.shape[0] !== info.batchSize) {
      throw new Error(`dy has shape [${dy.shape}], expected [${[info.batchSize, oh, ow, info.outChannels]}]`);
    }
    const dd = dilate(dy, sh, sw); // [n, oh*sh, ow*sw, o]
    const top = fh - 1 - info.padInfo.top;
    const left = fw - 1 - info.padInfo.left;
    const bottom = inHeight + fh - 1 - top - oh * sh;
    const right = inWidth + fw - 1 - left - ow * sw;
    const ddp = padOrCrop(dd, top, bottom, left, right);
    const flipped = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D; // [fh, fw, o, c]
    return tf.conv2d(ddp, flipped, 1, 'valid');
  });
}

/** Conv2DBackpropInput override that keeps `original` for NCHW and while fast paths are off. */
export function conv2dBackpropInputOverride(original: KernelConfig): KernelConfig {
  return {
    ...original,
    kernelFunc: compositeKernel<Conv2DBackpropInputAttrs>(Conv2DBackpropInput, ({ dy, filter }, attrs) => {
      if (!fastPathsEnabled() || attrs.dataFormat === 'NCHW' || dy.dtype !== 'float32') {
        return runKernelConfig(original, { dy, filter }, attrs as unknown as NamedAttrMap);
      }
      const { inputShape, strides, pad, dimRoundingMode } = attrs;
      return conv2dBackpropInputAsConv(dy as tf.Tensor4D, filter as tf.Tensor4D, inputShape, pair(strides), pad, dimRoundingMode);
    }),
  };
}
