// DepthwiseConv2dNativeBackpropFilter / -Input, which the wasm backend lacks (gradients of
// tf.depthwiseConv2d). Filter [fh, fw, C, M] maps channel c to outputs c*M + m.
// - Filter gradient: per filter tap, the (strided) input window times dy, summed over positions:
//   dW[kh, kw, c, m] = sum_p xWindow_{kh,kw}[p, c] * dy[p, c*M + m].
// - Input gradient: as for conv2d, a stride-1 'valid' depthwise conv of the dilated, padded dy with the
//   spatially flipped filter (one channel per c*M + m), then a sum over m.
// Dilation rates above 1 are rejected, as tfjs-core's own depthwise gradient does.
import * as tf from '@tensorflow/tfjs-core';
import { backend_util, DepthwiseConv2dNativeBackpropFilter, DepthwiseConv2dNativeBackpropInput } from '@tensorflow/tfjs-core';
import type {
  DepthwiseConv2dNativeBackpropFilterAttrs,
  DepthwiseConv2dNativeBackpropInputAttrs,
  KernelConfig,
} from '@tensorflow/tfjs-core';
import { compositeKernel, pair } from './composite.js';
import { dilate, filterFromTaps, padOrCrop } from './spatial.js';

function assertNoDilation(kernel: string, dilations: number | [number, number]): void {
  const [dh, dw] = pair(dilations ?? 1);
  if (dh !== 1 || dw !== 1) throw new Error(`${kernel} supports dilation 1 only, got [${dh}, ${dw}]`);
}

export function depthwiseBackpropFilter(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  strides: number | [number, number],
  pad: DepthwiseConv2dNativeBackpropFilterAttrs['pad'],
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = backend_util.computeConv2DInfo(x.shape, filterShape, strides, 1, pad, dimRoundingMode, true);
    const { batchSize: n, filterHeight: fh, filterWidth: fw, inChannels: c, outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw } = info;
    const m = filterShape[3];
    const { top, bottom, left, right } = info.padInfo;
    const xp = top || bottom || left || right ? tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]]) : x;
    const dyr = tf.reshape(dy, [n * oh * ow, c, m]);
    const taps: tf.Tensor[] = [];
    for (let kh = 0; kh < fh; kh++) {
      for (let kw = 0; kw < fw; kw++) {
        const win = tf.stridedSlice(xp, [0, kh, kw, 0], [n, kh + (oh - 1) * sh + 1, kw + (ow - 1) * sw + 1, c], [1, sh, sw, 1]);
        taps.push(tf.sum(tf.mul(tf.reshape(win, [n * oh * ow, c, 1]), dyr), 0)); // [c, m]
      }
    }
    return tf.reshape(tf.stack(taps), filterShape);
  });
}

export function depthwiseBackpropInput(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  inputShape: [number, number, number, number],
  strides: number | [number, number],
  pad: DepthwiseConv2dNativeBackpropInputAttrs['pad'],
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = backend_util.computeConv2DInfo(inputShape, filter.shape, strides, 1, pad, dimRoundingMode, true);
    const { batchSize: n, filterHeight: fh, filterWidth: fw, inChannels: c, inHeight, inWidth, outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw } = info;
    const m = filter.shape[3];
    const dd = dilate(dy, sh, sw);
    const top = fh - 1 - info.padInfo.top;
    const left = fw - 1 - info.padInfo.left;
    const ddp = padOrCrop(dd, top, inHeight + fh - 1 - top - oh * sh, left, inWidth + fw - 1 - left - ow * sw);
    const flat = tf.reshape(filter, [fh, fw, c * m, 1]) as tf.Tensor4D;
    const flipped = tf.reshape(filterFromTaps(flat, fh, fw, 1, (uh, uw) => [fh - 1 - uh, fw - 1 - uw]), [fh, fw, c * m, 1]) as tf.Tensor4D;
    const dxm = tf.depthwiseConv2d(ddp, flipped, 1, 'valid'); // [n, H, W, c*m]
    return m === 1 ? dxm : tf.sum(tf.reshape(dxm, [n, inHeight, inWidth, c, m]), 4);
  });
}

export const depthwiseBackpropFilterConfig = (backendName: string): KernelConfig => ({
  kernelName: DepthwiseConv2dNativeBackpropFilter,
  backendName,
  kernelFunc: compositeKernel<DepthwiseConv2dNativeBackpropFilterAttrs>(DepthwiseConv2dNativeBackpropFilter, ({ x, dy }, a) => {
    assertNoDilation(DepthwiseConv2dNativeBackpropFilter, a.dilations);
    return depthwiseBackpropFilter(x as tf.Tensor4D, dy as tf.Tensor4D, a.filterShape, pair(a.strides), a.pad, a.dimRoundingMode);
  }),
});

export const depthwiseBackpropInputConfig = (backendName: string): KernelConfig => ({
  kernelName: DepthwiseConv2dNativeBackpropInput,
  backendName,
  kernelFunc: compositeKernel<DepthwiseConv2dNativeBackpropInputAttrs>(DepthwiseConv2dNativeBackpropInput, ({ dy, filter }, a) => {
    assertNoDilation(DepthwiseConv2dNativeBackpropInput, a.dilations);
    return depthwiseBackpropInput(dy as tf.Tensor4D, filter as tf.Tensor4D, a.inputShape, pair(a.strides), a.pad, a.dimRoundingMode);
  }),
});
