// The PatchGAN NLayerDiscriminator of pix2pix / taming-transformers with BatchNorm (use_actnorm=False):
// conv 4x4 s2 + LeakyReLU(0.2); (n_layers-1) x [conv 4x4 s2 (no bias), BatchNorm, LeakyReLU]; conv 4x4 s1
// (no bias), BatchNorm, LeakyReLU; conv 4x4 s1 -> 1 channel of patch logits. Padding 1 everywhere.
// Init as the reference's `weights_init`: conv weights N(0, 0.02), BatchNorm weights N(1, 0.02), bias 0.
import * as tf from '@tensorflow/tfjs-core';
import type { ParamStore } from './params.js';
import { conv2d } from './layers.js';

/** BatchNorm2d defaults of PyTorch. */
export const BN_EPS = 1e-5;
export const BN_MOMENTUM = 0.1;

/** A BatchNorm layer's buffers: running statistics and the batch counter, as in the PyTorch state dict. */
export interface BatchNormBuffers {
  runningMean: tf.Variable;
  runningVar: tf.Variable;
  numBatchesTracked: number;
}

export type Discriminator = (x: tf.Tensor4D, training: boolean) => tf.Tensor4D;

/** Declares the discriminator's parameters under `prefix` and returns its forward function (NHWC). */
export function nLayerDiscriminator(p: ParamStore, bns: Map<string, BatchNormBuffers>, prefix: string, inputNc: number, ndf: number, nLayers: number): Discriminator {
  const convInit = { kind: 'normal', mean: 0, std: 0.02 } as const;
  type Step = (x: tf.Tensor4D, training: boolean) => tf.Tensor4D;
  const steps: Step[] = [];
  let idx = 0;
  const conv = (cin: number, cout: number, stride: number, bias: boolean) => {
    const name = `${prefix}.main.${idx++}`;
    p.conv(name, cin, cout, 4, { bias, weightInit: convInit });
    steps.push((x) => conv2d(p, name, x, { stride, pad: 1 }));
  };
  const lrelu = () => {
    idx++;
    steps.push((x) => tf.leakyRelu(x, 0.2));
  };
  const bn = (c: number) => {
    const name = `${prefix}.main.${idx++}`;
    p.norm(name, c, { kind: 'normal', mean: 1, std: 0.02 });
    bns.set(name, tf.tidy(() => ({ runningMean: tf.variable(tf.zeros([c]), false), runningVar: tf.variable(tf.ones([c]), false), numBatchesTracked: 0 })));
    steps.push((x, training) => batchNorm(p, bns.get(name) as BatchNormBuffers, name, x, training));
  };
  conv(inputNc, ndf, 2, true);
  lrelu();
  let mult = 1;
  for (let n = 1; n < nLayers; n++) {
    const prev = mult;
    mult = Math.min(2 ** n, 8);
    conv(ndf * prev, ndf * mult, 2, false);
    bn(ndf * mult);
    lrelu();
  }
  const prev = mult;
  mult = Math.min(2 ** nLayers, 8);
  conv(ndf * prev, ndf * mult, 1, false);
  bn(ndf * mult);
  lrelu();
  conv(ndf * mult, 1, 1, true);
  return (x, training) => {
    let h = x;
    for (const s of steps) h = s(h, training);
    return h;
  };
}

/**
 * BatchNorm2d over NHWC. Training: normalise with the batch statistics (biased variance) and update the
 * running estimates with momentum 0.1, the variance unbiased (n/(n-1)), as PyTorch. Eval: running statistics.
 */
export function batchNorm(p: ParamStore, buf: BatchNormBuffers, prefix: string, x: tf.Tensor4D, training: boolean): tf.Tensor4D {
  const w = p.get(`${prefix}.weight`);
  const b = p.get(`${prefix}.bias`);
  if (!training) {
    return tf.add<tf.Tensor4D>(tf.mul(tf.div(tf.sub(x, buf.runningMean), tf.sqrt(tf.add(buf.runningVar, BN_EPS))), w), b);
  }
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  const y = tf.add<tf.Tensor4D>(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, BN_EPS))), w), b);
  updateRunningStats(buf, mean, variance, x.shape[0] * x.shape[1] * x.shape[2]);
  return y;
}

/**
 * PyTorch's running-statistics update from one training-mode batch of `n` values per channel (batch mean
 * and biased variance, [C]): momentum 0.1, the variance made unbiased. Also used by the ONNX trainer.
 */
export function updateRunningStats(buf: BatchNormBuffers, mean: tf.Tensor, variance: tf.Tensor, n: number): void {
  const newMean = tf.tidy(() => tf.add(tf.mul(1 - BN_MOMENTUM, buf.runningMean), tf.mul(BN_MOMENTUM, mean)));
  const newVar = tf.tidy(() => tf.add(tf.mul(1 - BN_MOMENTUM, buf.runningVar), tf.mul(BN_MOMENTUM * (n / Math.max(n - 1, 1)), variance)));
  buf.runningMean.assign(newMean);
  buf.runningVar.assign(newVar);
  newMean.dispose();
  newVar.dispose();
  buf.numBatchesTracked += 1;
}
