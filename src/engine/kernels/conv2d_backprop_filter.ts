// Conv2DBackpropFilter, which the wasm backend lacks: the gradient of conv2d with respect to its
// filter. Written as im2col + one plain 2-D matMul, the form wasm runs fastest:
//   patches[p, (kh, kw, c)] = xPadded[n, oh*sh + kh, ow*sw + kw, c]     p = (n, oh, ow)
//   dW[(kh, kw, c), o]      = sum_p patches[p, (kh, kw, c)] * dy[p, o]
// The product is taken as (dy^T patches)^T with both transposes materialised, because wasm's matMul
// with transposeA/transposeB runs about ten times slower than the plain one. The batch is split into
// chunks so the patch matrix stays bounded in memory.
import * as tf from '@tensorflow/tfjs-core';
import { backend_util, Conv2DBackpropFilter } from '@tensorflow/tfjs-core';
import type { Conv2DBackpropFilterAttrs, KernelConfig } from '@tensorflow/tfjs-core';
import { compositeKernel, pair } from './composite.js';

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
      return conv2dBackpropFilterIm2col(xs, dys, filterShape, pair(strides), padNhwc, dimRoundingMode);
    }
    return conv2dBackpropFilterIm2col(x as tf.Tensor4D, dy as tf.Tensor4D, filterShape, pair(strides), pad, dimRoundingMode);
  }),
});
