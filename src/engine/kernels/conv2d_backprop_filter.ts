// Conv2DBackpropFilter, which the wasm backend lacks: the gradient of conv2d with respect to its
// filter,
//   dW[kh, kw, c, o] = sum_{n, i, j} xPadded[n, i*sh + kh, j*sw + kw, c] * dy[n, i, j, o].
// Two formulations, both checked against the cpu backend:
// - as a conv2d (the default): read the sum as a convolution over (i, j) of x with channels and batch
//   swapped ([C, H, W, N]) by dy used as a filter ([oh, ow, N, O]) dilated by the stride. wasm runs it
//   through XNNPACK and needs no patch matrix; on stride 2 it was ~14x faster than im2col, because
//   wasm's strided slicing is slow, and on stride 1 about as fast.
// - im2col + one plain 2-D matMul, (dy^T patches)^T with both transposes materialised (wasm's matMul
//   with transposeA/B is ~10x slower than the plain one), the batch split into chunks so the patch
//   matrix stays bounded. Kept as the benchmark's yardstick.
import * as tf from '@tensorflow/tfjs-core';
import { backend_util, Conv2DBackpropFilter } from '@tensorflow/tfjs-core';
import type { Conv2DBackpropFilterAttrs, KernelConfig } from '@tensorflow/tfjs-core';
import { compositeKernel, pair } from './composite.js';
import { padOrCrop } from './spatial.js';

/** dW as a dilated conv2d of the channel/batch-swapped input by dy (see above). NHWC. */
export function conv2dBackpropFilterAsConv(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  strides: number | [number, number],
  pad: Conv2DBackpropFilterAttrs['pad'],
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = backend_util.computeConv2DInfo(x.shape, filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
    const { batchSize, filterHeight: fh, filterWidth: fw, inHeight, inWidth, outChannels: o, outHeight: oh, outWidth: ow } = info;
    const [sh, sw] = [info.strideHeight, info.strideWidth];
    if (dy.shape[0] !== batchSize || dy.shape[1] !== oh || dy.shape[2] !== ow || dy.shape[3] !== o) {
      throw new Error(`dy has shape [${dy.shape}], expected [${[batchSize, oh, ow, o]}] for x [${x.shape}] and filter [${filterShape}]`);
    }
    // Exactly the rows/columns the windows read: (oh - 1) * sh + fh.
    const { top, left } = info.padInfo;
    const xp = padOrCrop(x, top, (oh - 1) * sh + fh - inHeight - top, left, (ow - 1) * sw + fw - inWidth - left);
    const xt = tf.transpose(xp, [3, 1, 2, 0]) as tf.Tensor4D; // [C, Hp, Wp, N]
    const dyt = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D; // [oh, ow, N, O]
    const r = tf.conv2d(xt, dyt, 1, 'valid', 'NHWC', [sh, sw]); // [C, fh, fw, O]
    return tf.transpose(r, [1, 2, 0, 3]) as tf.Tensor4D;
  });
}

/** Largest patch matrix built at once, in elements (32 MiB of float32). */
export const IM2COL_MAX_ELEMENTS = 8 * 1024 * 1024;

/** dW for NHWC `x` and `dy`; `pad` and `dimRoundingMode` as for tf.conv2d; `maxElements` bounds the patch matrix. */
export function conv2dBackpropFilterIm2col(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  strides: number | [number, number],
  pad: Conv2DBackpropFilterAttrs['pad'],
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
  maxElements = IM2COL_MAX_ELEMENTS,
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = backend_util.computeConv2DInfo(x.shape, filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
    const { batchSize, filterHeight: fh, filterWidth: fw, inChannels: c, outChannels: o, outHeight: oh, outWidth: ow } = info;
    const [sh, sw] = [info.strideHeight, info.strideWidth];
    if (dy.shape[0] !== batchSize || dy.shape[1] !== oh || dy.shape[2] !== ow || dy.shape[3] !== o) {
      throw new Error(`dy has shape [${dy.shape}], expected [${[batchSize, oh, ow, o]}] for x [${x.shape}] and filter [${filterShape}]`);
    }
    const { top, bottom, left, right } = info.padInfo;
    const k = fh * fw * c;
    const xp = top || bottom || left || right ? tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]]) : x;
    const perChunk = Math.max(1, Math.floor(maxElements / Math.max(1, oh * ow * k)));
    let acc: tf.Tensor2D | null = null; // [o, k]
    for (let n0 = 0; n0 < batchSize; n0 += perChunk) {
      const nb = Math.min(perChunk, batchSize - n0);
      const part = tf.tidy(() => {
        const cols: tf.Tensor4D[] = [];
        for (let kh = 0; kh < fh; kh++) {
          for (let kw = 0; kw < fw; kw++) {
            const h1 = kh + (oh - 1) * sh + 1;
            const w1 = kw + (ow - 1) * sw + 1;
            cols.push(
              sh === 1 && sw === 1
                ? tf.slice(xp, [n0, kh, kw, 0], [nb, oh, ow, c])
                : (tf.stridedSlice(xp, [n0, kh, kw, 0], [n0 + nb, h1, w1, c], [1, sh, sw, 1]) as tf.Tensor4D),
            );
          }
        }
        const patches = tf.reshape(cols.length === 1 ? cols[0] : tf.concat(cols, 3), [nb * oh * ow, k]);
        const dyChunk = nb === batchSize ? dy : tf.slice(dy, [n0, 0, 0, 0], [nb, oh, ow, o]);
        const dyT = tf.transpose(tf.reshape(dyChunk, [nb * oh * ow, o])); // [o, p]
        return tf.matMul(dyT, patches) as tf.Tensor2D; // [o, k]
      });
      if (acc === null) acc = part;
      else {
        const sum: tf.Tensor2D = tf.add(acc, part);
        acc.dispose();
        part.dispose();
        acc = sum;
      }
    }
    if (acc === null) return tf.zeros(filterShape);
    return tf.reshape(tf.transpose(acc), filterShape);
  });
}

export const conv2dBackpropFilterConfig = (backendName: string): KernelConfig => ({
  kernelName: Conv2DBackpropFilter,
  backendName,
  kernelFunc: compositeKernel<Conv2DBackpropFilterAttrs>(Conv2DBackpropFilter, ({ x, dy }, attrs) => {
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
    if (dataFormat === 'NCHW') {
      const xs = tf.transpose(x, [0, 2, 3, 1]) as tf.Tensor4D;
      const dys = tf.transpose(dy, [0, 2, 3, 1]) as tf.Tensor4D;
      const padNhwc = Array.isArray(pad) ? [pad[0], pad[2], pad[3], pad[1]] as typeof pad : pad;
      return conv2dBackpropFilterAsConv(xs, dys, filterShape, pair(strides), padNhwc, dimRoundingMode);
    }
    return conv2dBackpropFilterAsConv(x as tf.Tensor4D, dy as tf.Tensor4D, filterShape, pair(strides), pad, dimRoundingMode);
  }),
});
