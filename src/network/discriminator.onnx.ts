// taming's NLayerDiscriminator (PatchGAN; the reference's names, declared in ./declare.ts; NCHW): conv 4x4 s2 + LeakyReLU(0.2);
// (n_layers-1) x [conv 4x4 s2 (no bias), BatchNorm, LeakyReLU]; conv 4x4 s1 (no bias), BatchNorm,
// LeakyReLU; conv 4x4 s1 -> 1 channel. BatchNorm in eval mode uses the running statistics (state-dict
// `running_mean` / `running_var`); in training mode it is decomposed (batch mean and biased variance over
// N, H, W) so that it differentiates like any other op, and its batch statistics are returned so that
// the caller updates the running estimates as PyTorch does.
import { BN_EPS } from './network-params.js';
import { channelParam, type OnnxEmitter } from './onnx.js';
import { conv2dOnnx } from './layers.onnx.js';

/** One BatchNorm's batch statistics (training mode): mean and biased variance over N, H, W, [C] each. */
export interface BatchStats { name: string; mean: string; variance: string; count: number }

function batchNormOnnx(e: OnnxEmitter, name: string, x: string, c: number, training: boolean, stats: BatchStats[], shape: number[]): string {
  const w = e.param(`${name}.weight`, channelParam(c));
  const b = e.param(`${name}.bias`, channelParam(c));
  let mean: string;
  let variance: string;
  if (training) {
    mean = e.op('ReduceMean', [x], { axes: [0, 2, 3], keepdims: 1 });
    const xc = e.op('Sub', [x, mean]);
    variance = e.op('ReduceMean', [e.op('Mul', [xc, xc])], { axes: [0, 2, 3], keepdims: 1 });
    const flat = e.ints([c]);
    stats.push({ name, mean: e.op('Reshape', [mean, flat]), variance: e.op('Reshape', [variance, flat]), count: shape[0] * shape[2] * shape[3] });
  } else {
    mean = e.param(`${name}.running_mean`, channelParam(c));
    variance = e.param(`${name}.running_var`, channelParam(c));
  }
  const rstd = e.op('Reciprocal', [e.op('Sqrt', [e.op('Add', [variance, e.scalar(BN_EPS)])])]);
  return e.op('Add', [e.op('Mul', [e.op('Mul', [e.op('Sub', [x, mean]), rstd]), w]), b]);
}

/**
 * The discriminator's patch logits [B, 1, h', w'] of NCHW images `x` ([B, inputNc, H, W], `shape`).
 * `stats` collects the training-mode batch statistics.
 */
export function discriminatorOnnx(e: OnnxEmitter, x: string, shape: number[], nLayers: number, training: boolean, stats: BatchStats[] = [], prefix = 'discriminator'): string {
  let idx = 0;
  let h = x;
  let s = shape;
  const conv = (stride: number) => {
    h = conv2dOnnx(e, `${prefix}.main.${idx++}`, h, { stride, pad: 1 });
    const cout = e.tensor(`${prefix}.main.${idx - 1}.weight`).shape[0];
    s = [s[0], cout, Math.floor((s[2] + 2 - 4) / stride) + 1, Math.floor((s[3] + 2 - 4) / stride) + 1];
  };
  const lrelu = () => {
    idx++;
    h = e.op('LeakyRelu', [h], { alpha: { float: 0.2 } });
  };
  const bn = () => {
    h = batchNormOnnx(e, `${prefix}.main.${idx++}`, h, s[1], training, stats, s);
  };
  conv(2);
  lrelu();
  for (let n = 1; n < nLayers; n++) {
    conv(2);
    bn();
    lrelu();
  }
  conv(1);
  bn();
  lrelu();
  conv(1);
  return h;
}
