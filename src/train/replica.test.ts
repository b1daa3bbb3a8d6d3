// A training step with gradient checkpointing equals one without: GAN on (the adaptive weight's nested
// gradients at decoder.conv_out.weight run while the checkpointed blocks sit on the outer tape),
// micro-batches, every generator and discriminator gradient, and no leaked tensors.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../engine/backend.js';
import { V2LNetwork } from '../network/v2l-model.js';
import { Replica, type LossConfig, type OptimConfig } from './replica.js';
import { tinyConfig } from './test-utils/fixtures.js';

before(async () => {
  await initBackend('wasm');
});

test('gradient checkpointing leaves a GAN step\'s terms and gradients unchanged', () => {
  const loss: LossConfig = { recLoss: 'l1', codebookWeight: 1, perceptualWeight: 0, discWeight: 0.75, discStart: 0, discFactor: 1, kGlobal: 3 };
  const optim: OptimConfig = { lr: 1e-3, discLr: 1e-3, beta1: 0.5, beta2: 0.9, eps: 1e-7, warmupSteps: 0, totalSteps: 10, minLr: 0, clipGrad: 0 };
  const x = tf.randomUniform([3, 3, 16, 16], -1, 1, 'float32', 31) as tf.Tensor4D;
  const c = tf.randomNormal([3, 64], 0, 1, 'float32', 32) as tf.Tensor2D;
  const before = tf.memory().numTensors;
  const run = (ckpt: boolean) => {
    const net = new V2LNetwork(tinyConfig(), { seed: 5, gradientCheckpointing: ckpt });
    const r = new Replica(net, null, loss, optim, 2);
    const g = r.shardGradients(x, c, 0);
    const out = { terms: g.terms, gen: g.gen.map((t) => t.dataSync() as Float32Array), disc: g.disc!.map((t) => t.dataSync() as Float32Array) };
    tf.dispose([...g.gen, ...g.disc!]);
    r.dispose();
    net.dispose();
    return out;
  };
  const plain = run(false);
  const ckpt = run(true);
  assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
  for (const k of ['loss', 'rec_loss', 'vq_loss', 'g_loss', 'd_weight', 'd_loss']) {
    assert.ok(Math.abs(plain.terms[k] - ckpt.terms[k]) <= 1e-5 * Math.abs(plain.terms[k]) + 1e-9, `${k}: ${ckpt.terms[k]} vs ${plain.terms[k]}`);
  }
  for (const part of ['gen', 'disc'] as const) {
    plain[part].forEach((a, i) => {
      const b = ckpt[part][i];
      let err = 0;
      let mag = 0;
      for (let j = 0; j < a.length; j++) {
        err = Math.max(err, Math.abs(a[j] - b[j]));
        mag = Math.max(mag, Math.abs(a[j]));
      }
      assert.ok(err <= 1e-5 * mag + 1e-12, `${part} gradient ${i}: max error ${err} vs max ${mag}`);
    });
  }
  tf.dispose([x, c]);
});
