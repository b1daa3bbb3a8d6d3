import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../engine/backend.js';
import { readSafetensors } from '../io/files.js';
import { toFloat32, type HostTensor } from '../io/dtypes.js';
import { adaptiveWeight, discFactorAt, generatorLoss, hingeDLoss, reconstructionLoss } from './losses.js';
import { skipUnless } from '../util/test-utils/shared.js';

const PARITY = fileURLToPath(new URL('../../../shared/parity/v2l_reference_parity.safetensors', import.meta.url));

before(async () => {
  await initBackend('cpu');
});

const t = (h: HostTensor) => tf.tensor(toFloat32(h), h.shape);

test('L1, hinge and generator losses reproduce the PyTorch reference values', { skip: skipUnless(PARITY, 'the reference parity vectors') }, () => {
  const { tensors } = readSafetensors(PARITY);
  const get = (k: string) => tensors.get(k)!;
  const x = t(get('inputs/image'));
  const rec = t(get('outputs/reconstruction'));
  const real = t(get('outputs/disc_logits_real'));
  const fake = t(get('outputs/disc_logits_fake'));
  const close = (a: tf.Scalar, k: string) => assert.ok(Math.abs(a.dataSync()[0] - toFloat32(get(k))[0]) < 1e-6, `${k}: ${a.dataSync()[0]} vs ${toFloat32(get(k))[0]}`);
  close(reconstructionLoss(x, rec, 'l1'), 'outputs/l1_loss');
  close(hingeDLoss(real, fake), 'outputs/hinge_d_loss');
  close(generatorLoss(fake), 'outputs/g_loss');
});

test('L2 reconstruction is the mean squared error', () => {
  const v = reconstructionLoss(tf.tensor1d([1, 2, 3]), tf.tensor1d([1, 0, 4]), 'l2').dataSync()[0];
  assert.ok(Math.abs(v - 5 / 3) < 1e-6);
  assert.throws(() => reconstructionLoss(tf.tensor1d([1]), tf.tensor1d([1]), 'l3' as 'l1'), /unknown reconstruction loss/);
});

test('the GAN factor is zero before discStart', () => {
  assert.equal(discFactorAt(9999, 10000), 0);
  assert.equal(discFactorAt(10000, 10000), 1);
  assert.equal(discFactorAt(10000, 10000, 0.5), 0.5);
});

test('adaptive weight = |d nll/dW| / (|d g/dW| + 1e-4) * discWeight, clamped, and the total gradient uses it as a constant', () => {
  const W = tf.variable(tf.tensor1d([0.5, -1, 2]));
  const x = tf.tensor1d([1, 2, 3]);
  let w = 0;
  const { grads } = tf.variableGrads(() => {
    const y = tf.mul(x, W);
    const nll = tf.sum(tf.abs(y)) as tf.Scalar; // d/dW = x * sign(y) = [1, -2, 3]
    const g = tf.mul(-1, tf.sum(tf.square(y))) as tf.Scalar; // d/dW = -2 x^2 W = [-1, 8, -36]
    w = adaptiveWeight(nll, g, W, 0.75);
    return tf.add(nll, tf.mul(g, w)) as tf.Scalar;
  }, [W]);
  const expected = (Math.hypot(1, 2, 3) / (Math.hypot(1, 8, 36) + 1e-4)) * 0.75;
  assert.ok(Math.abs(w - expected) < 1e-6, `${w} vs ${expected}`);
  const g = Object.values(grads)[0].dataSync();
  [1 - expected, -2 + 8 * expected, 3 - 36 * expected].forEach((e, i) => assert.ok(Math.abs(g[i] - e) < 1e-5, `grad ${i}: ${g[i]} vs ${e}`));
});

test('adaptive weight is clamped to 1e4 when the GAN gradient vanishes', () => {
  const W = tf.variable(tf.tensor1d([1, 1]));
  tf.variableGrads(() => {
    const nll = tf.sum(tf.mul(W, 3)) as tf.Scalar;
    const g = tf.mul(tf.sum(W), 0) as tf.Scalar;
    assert.equal(adaptiveWeight(nll, g, W, 1), 1e4);
    return nll;
  }, [W]);
});
