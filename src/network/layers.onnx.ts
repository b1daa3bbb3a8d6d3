// conv2d, linear, GroupNorm(32, 1e-6) (./layers.ts: the constants) on NCHW tensors; see ./onnx.ts.
import { GN_EPS, GROUPS } from './layers.js';
import { channelParam, transposedParam, type OnnxEmitter } from './onnx.js';

/**
 * PyTorch Conv2d `prefix`. `pad` is symmetric zero padding (the reference's `padding`); `pads` gives
 * [top, left, bottom, right] explicitly (Downsample's asymmetric (0,1,0,1)).
 */
export function conv2dOnnx(e: OnnxEmitter, prefix: string, x: string, opts: { stride?: number; pad?: number; pads?: [number, number, number, number] } = {}): string {
  const w = e.tensor(`${prefix}.weight`); // [out, in, kh, kw]: ONNX's own layout
  const stride = opts.stride ?? 1;
  const pad = opts.pad ?? 0;
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

/**
 * GroupNorm(32, eps 1e-6, affine) as PyTorch exports it: the groups become InstanceNormalization's
 * channels ([B, 32, C/32 * H * W], unit scale, zero shift), then the per-channel affine.
 */
export function groupNormOnnx(e: OnnxEmitter, prefix: string, x: string): string {
  const grouped = e.op('Reshape', [x, e.ints([0, GROUPS, -1])]);
  const normed = e.op('InstanceNormalization', [grouped, e.floats('gn.ones', [GROUPS], new Float32Array(GROUPS).fill(1)), e.floats('gn.zeros', [GROUPS], new Float32Array(GROUPS))], { epsilon: { float: GN_EPS } });
  const c = e.tensor(`${prefix}.weight`).shape[0];
  const asCHW = channelParam(c);
  const back = e.op('Reshape', [normed, e.op('Shape', [x])]);
  return e.op('Add', [e.op('Mul', [back, e.param(`${prefix}.weight`, asCHW)]), e.param(`${prefix}.bias`, asCHW)]);
}
