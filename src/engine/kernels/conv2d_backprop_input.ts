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
import { dilate, filterFromTaps, padOrCrop } from './spatial.js';

/**
 * dx for NHWC dy and filter [fh, fw, inC, outC]; attributes as for tf.conv2d. Equal strides above 1
 * take the sub-pixel form (see conv2dBackpropInputSubPixel), other strides the dilated one.
 */
export function conv2dBackpropInputAsConv(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  inputShape: [number, number, number, number],
  strides: number | [number, number],
  pad: Conv2DBackpropInputAttrs['pad'],
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D {
  const [sh, sw] = pair(strides);
  return sh === sw && sh > 1
    ? conv2dBackpropInputSubPixel(dy, filter, inputShape, sh, pad, dimRoundingMode)
    : conv2dBackpropInputDilated(dy, filter, inputShape, [sh, sw], pad, dimRoundingMode);
}

function convInfoFor(dy: tf.Tensor4D, filter: tf.Tensor4D, inputShape: [number, number, number, number], strides: number | [number, number], pad: Conv2DBackpropInputAttrs['pad'], dimRoundingMode?: 'floor' | 'round' | 'ceil') {
  const info = backend_util.computeConv2DInfo(inputShape, filter.shape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  if (dy.shape[1] !== info.outHeight || dy.shape[2] !== info.outWidth || dy.shape[3] !== info.outChannels || dy.shape[0] !== info.batchSize) {
    throw new Error(`dy has shape [${dy.shape}], expected [${[info.batchSize, info.outHeight, info.outWidth, info.outChannels]}]`);
  }
  return info;
}

/** The dilated form: a stride-1 conv2d of dy dilated by the stride, with the flipped filter. */
export function conv2dBackpropInputDilated(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  inputShape: [number, number, number, number],
  strides: number | [number, number],
  pad: Conv2DBackpropInputAttrs['pad'],
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = convInfoFor(dy, filter, inputShape, strides, pad, dimRoundingMode);
    const { filterHeight: fh, filterWidth: fw, inHeight, inWidth, outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw } = info;
    const dd = dilate(dy, sh, sw); // [n, oh*sh, ow*sw, o]
    const top = fh - 1 - info.padInfo.top;
    const left = fw - 1 - info.padInfo.left;
    const bottom = inHeight + fh - 1 - top - oh * sh;
    const right = inWidth + fw - 1 - left - ow * sw;
    const ddp = padOrCrop(dd, top, bottom, left, right);
    const flipped = filterFromTaps(filter, fh, fw, 1, (uh, uw) => [fh - 1 - uh, fw - 1 - uw]); // [fh, fw, o, c]
    return tf.conv2d(ddp, flipped, 1, 'valid');
  });
}

/**
 * Which filter taps feed each output phase along one axis. With stride s, output rows i = q*s + r
 * of phase r read dy rows q + base + u through taps; all phases share one dy window of length `len`
 * starting at row q + start. taps[r][u] is the filter row for window position u, or -1.
 */
function phaseTaps(f: number, s: number, padBefore: number): { start: number; len: number; taps: number[][] } {
  const t = f - 1 - padBefore; // leading zeros of the dilated form
  const phases = [];
  for (let r = 0; r < s; r++) {
    const k0 = (((t - r) % s) + s) % s; // first flipped tap that lands on a dy row
    const base = (r + k0 - t) / s;
    const count = k0 < f ? Math.ceil((f - k0) / s) : 0;
    phases.push({ k0, base, count });
  }
  const start = Math.min(...phases.map((p) => p.base));
  const len = Math.max(1, ...phases.map((p) => p.base - start + p.count));
  const taps = phases.map(({ k0, base, count }) => {
    const row = new Array<number>(len).fill(-1);
    for (let m = 0; m < count; m++) row[base - start + m] = f - 1 - (k0 + m * s); // flipped tap -> filter row
    return row;
  });
  return { start, len, taps };
}

/**
 * The sub-pixel form for equal strides s > 1: the dilated form multiplies mostly zeros (all but 1/s^2
 * of dy's dilated grid). Instead, every output phase (i mod s, j mod s) is a stride-1 conv of dy itself
 * with the filter taps that reach it. One conv2d per row phase carries the s column phases as output
 * channels, which a reshape interleaves; one concat interleaves the rows. (tf.depthToSpace would do
 * the interleave in one op but is ~100 ns/element on wasm, which ate the gain.)
 */
export function conv2dBackpropInputSubPixel(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  inputShape: [number, number, number, number],
  s: number,
  pad: Conv2DBackpropInputAttrs['pad'],
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = convInfoFor(dy, filter, inputShape, s, pad, dimRoundingMode);
    const { batchSize: n, filterHeight: fh, filterWidth: fw, inChannels: c, inHeight, inWidth, outHeight: oh, outWidth: ow } = info;
    const hp = phaseTaps(fh, s, info.padInfo.top);
    const wp = phaseTaps(fw, s, info.padInfo.left);
    const qh = Math.ceil(inHeight / s);
    const qw = Math.ceil(inWidth / s);
    const window = padOrCrop(dy, -hp.start, qh + hp.start + hp.len - 1 - oh, -wp.start, qw + wp.start + wp.len - 1 - ow);
    const rows: tf.Tensor[] = [];
    for (let rh = 0; rh < s; rh++) {
      // Filter [lh, lw, o, (rw, c)] for the output rows of phase rh: the taps that reach them, or zero.
      const phaseFilter = filterFromTaps(filter, hp.len, wp.len, s, (uh, uw, rw) => {
        const kh = hp.taps[rh][uh];
        const kw = wp.taps[rw][uw];
        return kh < 0 || kw < 0 ? null : [kh, kw];
      });
      // [n, qh, qw, (rw, c)] is already [n, qh, qw*s, c]: the column phases interleave by reshape.
      rows.push(tf.reshape(tf.conv2d(window, phaseFilter, 1, 'valid'), [n * qh, 1, qw * s * c]));
    }
    // Row phases interleave by one concat: [n*qh, s, qw*s*c] is [n, qh*s, qw*s, c].
    const dx = tf.reshape(tf.concat(rows, 1), [n, qh * s, qw * s, c]) as tf.Tensor4D;
    return qh * s === inHeight && qw * s === inWidth ? dx : (tf.slice(dx, [0, 0, 0, 0], [n, inHeight, inWidth, c]) as tf.Tensor4D);
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
