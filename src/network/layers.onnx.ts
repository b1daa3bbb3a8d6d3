// conv2d, linear, GroupNorm(32, 1e-6) (./layers.ts: the constants) on NCHW tensors; see ./onnx.ts.
import { GN_EPS, GROUPS } from './layers.js';
import { channelParam, transposedParam, type OnnxEmitter } from './onnx.js';
import { winogradConv3x3Onnx } from './winograd.onnx.js';

/** Below this many input or output channels the GEMM is too small for Winograd's extra passes to pay. */
const WINOGRAD_MIN_CHANNELS = 32;

/**
 * PyTorch Conv2d `prefix`. `pad` is symmetric zero padding (the reference's `padding`); `pads` gives
 * [top, left, bottom, right] explicitly (Downsample's asymmetric (0,1,0,1)).
 */
export function conv2dOnnx(e: OnnxEmitter, prefix: string, x: string, opts: { stride?: number; pad?: number; pads?: [number, number, number, number] } = {}): string {
  const w = e.tensor(`${prefix}.weight`); // [out, in, kh, kw]: ONNX's own layout
  const stride = opts.stride ?? 1;
  const pad = opts.pad ?? 0;
  if (w.shape[2] === 3 && w.shape[3] === 3 && stride === 1 && pad === 1 && !opts.pads) {
    const wide = (n: number) => Math.min(w.shape[0], w.shape[1]) >= n;
    // The page's inference graphs: Winograd wherever it saves multiplications (constant weights, wide layers).
    if (e.winograd && !e.fed && wide(WINOGRAD_MIN_CHANNELS)) return winogradConv3x3Onnx(e, prefix, x);
    // Training graphs (fed weights, static shapes): only where it measured faster, wide layers on large
    // planes (./winograd.onnx.ts); the batch folded into the MatMul's columns (no sum over it in the weight gradient).
    const t = e.trainWinograd;
    if (t && e.fed && e.g.shapeOf && wide(t.minChannels) && Math.min(...e.g.shapeOf(x).slice(2)) >= t.minSide) return winogradConv3x3Onnx(e, prefix, x, { foldBatch: true, recompute: t.recompute });
  }
  const inputs = [x, e.param(`${prefix}.weight`)];
  if (e.has(`${prefix}.bias`)) inputs.push(e.param(`${prefix}.bias`));
  return e.op('Conv', inputs, { kernel_shape: [w.shape[2], w.shape[3]], strides: [stride, stride], pads: opts.pads ?? [pad, pad, pad, pad] });
}

/** PyTorch Linear `prefix` on [..., in]: MatMul by the transposed weight [in, out], plus the bias. */
export function linearOnnx(e: OnnxEmitter, prefix: string, x: string): string {
  const [out, inp] = e.tensor(`${prefix}.weight`).shape;
  const wT = e.param(`${prefix}.weight`, transposedParam(out, inp));
  const y = e.op('MatMul', [x, wT]);
  return e.has(`${prefix}.bias`) ? e.op('Add', [y, e.param(`${prefix}.bias`)]) : y;
}

/** How GroupNorm is emitted (measured by whole training steps, scripts/ab-train-step.ts `layer.<key>`). */
export const layerOptions = {
  /** Where each group is one channel (C == 32): one InstanceNormalization with the affine as its scale and bias. */
  channelInstanceNorm: true,
  /** Elsewhere the per-channel affine as one BatchNormalization (mean 0, variance 1) instead of a Mul and an Add. */
  affineBatchNorm: true,
};

/** BatchNormalization's epsilon and variance for a plain affine: 1 - 2^-24 + 2^-24 is exactly 1 in float32. */
const UNIT_EPS = 2 ** -24;

/**
 * GroupNorm(32, eps 1e-6, affine). Where every group is one channel (C == 32), it is InstanceNormalization
 * itself, with the layer's weight and bias as its scale and bias. Otherwise as PyTorch exports it: the
 * groups become InstanceNormalization's channels ([B, 32, C/32 * H * W], unit scale, zero shift), then
 * the per-channel affine (one BatchNormalization with mean 0 and variance 1, or a Mul and an Add).
 */
export function groupNormOnnx(e: OnnxEmitter, prefix: string, x: string): string {
  const c = e.tensor(`${prefix}.weight`).shape[0];
  const epsilon = { float: GN_EPS };
  if (c === GROUPS && layerOptions.channelInstanceNorm) {
    return e.op('InstanceNormalization', [x, e.param(`${prefix}.weight`), e.param(`${prefix}.bias`)], { epsilon });
  }
  const grouped = e.op('Reshape', [x, e.ints([0, GROUPS, -1])]);
  const normed = e.op('InstanceNormalization', [grouped, e.floats('gn.ones', [GROUPS], new Float32Array(GROUPS).fill(1)), e.floats('gn.zeros', [GROUPS], new Float32Array(GROUPS))], { epsilon });
  const back = e.op('Reshape', [normed, e.op('Shape', [x])]);
  if (layerOptions.affineBatchNorm) {
    // y = back * w + b in one pass: inference-mode BatchNormalization with mean 0 and variance 1 (exactly).
    const zeros = e.floats(`gn.bn.mean.${c}`, [c], new Float32Array(c));
    const ones = e.floats(`gn.bn.var.${c}`, [c], new Float32Array(c).fill(1 - UNIT_EPS));
    return e.op('BatchNormalization', [back, e.param(`${prefix}.weight`), e.param(`${prefix}.bias`), zeros, ones], { epsilon: { float: UNIT_EPS } });
  }
  const asCHW = channelParam(c);
  return e.op('Add', [e.op('Mul', [back, e.param(`${prefix}.weight`, asCHW)]), e.param(`${prefix}.bias`, asCHW)]);
}
