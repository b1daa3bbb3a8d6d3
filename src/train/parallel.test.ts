// Data-parallel training: two workers on one batch equal one worker on the whole batch (GAN off, so no
// per-shard BatchNorm statistics or adaptive weights are involved).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../engine/backend.js';
import { V2LNetwork } from '../network/v2l-model.js';
import { averageArrays, LocalRunner, ParallelRunner, shardSizes } from './parallel.js';
import { Replica, type LossConfig, type OptimConfig } from './replica.js';
import { tinyConfig } from './test-utils/fixtures.js';

before(async () => {
  await initBackend('wasm');
});

test('shards and weighted averages', () => {
  assert.deepEqual(shardSizes(7, 2), [4, 3]);
  assert.throws(() => shardSizes(1, 2), /cannot be split/);
  const avg = averageArrays([[Float32Array.from([1, 2])], [Float32Array.from([3, 6])]], [0.75, 0.25]);
  assert.deepEqual(Array.from(avg[0]), [1.5, 3]);
});

test('two workers take the same steps as one worker on the same batches', async () => {
  const loss: LossConfig = { recLoss: 'l1', codebookWeight: 1, perceptualWeight: 0, discWeight: 0.75, discStart: 1e9, discFactor: 1, kGlobal: 3 };
  // beta1 = beta2 = 0 and a huge eps (with lr = eps) make the Adam update equal to the gradient itself, so
  // the weight change compares the averaged gradients directly (with the reference's betas and eps the
  // update is ~lr*sign(g), where rounding of near-zero gradients could flip signs).
  const optim: OptimConfig = { lr: 1e6, discLr: 1e6, beta1: 0, beta2: 0, eps: 1e6, warmupSteps: 0, totalSteps: 10, minLr: 1e6, clipGrad: 0 };
  const n = 4;
  const size = 16;
  const batches = [1, 2].map((s) => ({
    images: tf.randomUniform([n, 3, size, size], -1, 1, 'float32', s).dataSync() as Float32Array,
    clip: tf.randomNormal([n, 64], 0, 1, 'float32', 10 + s).dataSync() as Float32Array,
  }));
  const one = new Replica(new V2LNetwork(tinyConfig(), { seed: 9 }), null, loss, optim);
  const twoNet = new V2LNetwork(tinyConfig(), { seed: 9 });
  const two = new Replica(twoNet, null, loss, optim);
  const before = new Map([...one.net.params].map(([k, v]) => [k, v.dataSync().slice() as Float32Array]));
  const local = new LocalRunner(one, size);
  const par = await ParallelRunner.create(two, {
    backend: 'wasm', network: tinyConfig(), seed: 9, loss, optim, lpips: null, imageSize: size, microBatch: 0,
    model: [...twoNet.stateDict()], optimizer: [...two.optimizerState().tensors], optimizerSteps: two.optimizerState().steps,
  }, 2);
  try {
    assert.equal(par.workers, 2);
    for (let s = 0; s < 2; s++) {
      const r1 = await local.step(batches[s].images.slice(), batches[s].clip.slice(), n, s);
      const r2 = await par.step(batches[s].images.slice(), batches[s].clip.slice(), n, s);
      assert.ok(Math.abs(r1.terms.rec_loss - r2.terms.rec_loss) < 1e-5, `step ${s}: rec_loss ${r1.terms.rec_loss} vs ${r2.terms.rec_loss}`);
    }
  } finally {
    await par.close();
  }
  // Weight changes (= minus the summed gradients of both steps) agree within float tolerance, relative to
  // each parameter's change (floored: attention key biases get no gradient at all, by softmax invariance).
  const stats = one.genNames.map((name) => {
    const b = before.get(name)!;
    const d1 = one.net.params.get(name)!.dataSync();
    const d2 = two.net.params.get(name)!.dataSync();
    let mag = 0;
    let err = 0;
    for (let i = 0; i < b.length; i++) {
      mag = Math.max(mag, Math.abs(d1[i] - b[i]));
      err = Math.max(err, Math.abs(d1[i] - d2[i]));
    }
    return { name, mag, err };
  });
  const top = Math.max(...stats.map((s) => s.mag));
  assert.ok(stats.filter((s) => s.mag > 0).length > stats.length * 0.9, 'most parameters should have moved');
  const worst = stats.reduce((w, s) => Math.max(w, s.err / Math.max(s.mag, 1e-3 * top)), 0);
  assert.ok(worst < 1e-3, `largest relative difference of a weight change: ${worst}`);
  // The frozen codebooks did not move on either side.
  for (const k of ['tok_embeddings.weight', 'tok_embeddings_global.weight']) {
    assert.deepEqual(Array.from(two.net.params.get(k)!.dataSync()), Array.from(before.get(k)!));
  }
});

test('micro-batches accumulate to the whole shard\'s gradients', () => {
  const loss: LossConfig = { recLoss: 'l1', codebookWeight: 1, perceptualWeight: 0, discWeight: 0.75, discStart: 1e9, discFactor: 1, kGlobal: 3 };
  const optim: OptimConfig = { lr: 1e-3, discLr: 1e-3, beta1: 0.5, beta2: 0.9, eps: 1e-7, warmupSteps: 0, totalSteps: 10, minLr: 0, clipGrad: 0 };
  const whole = new Replica(new V2LNetwork(tinyConfig(), { seed: 4 }), null, loss, optim, 0);
  const micro = new Replica(new V2LNetwork(tinyConfig(), { seed: 4 }), null, loss, optim, 3);
  const x = tf.randomUniform([5, 3, 16, 16], -1, 1, 'float32', 21) as tf.Tensor4D;
  const c = tf.randomNormal([5, 64], 0, 1, 'float32', 22) as tf.Tensor2D;
  const a = whole.shardGradients(x, c, 0);
  const b = micro.shardGradients(x, c, 0);
  assert.ok(Math.abs(a.terms.rec_loss - b.terms.rec_loss) < 1e-6);
  let top = 0;
  let err = 0;
  a.gen.forEach((t, i) => {
    const u = t.dataSync();
    const v = b.gen[i].dataSync();
    for (let j = 0; j < u.length; j++) {
      top = Math.max(top, Math.abs(u[j]));
      err = Math.max(err, Math.abs(u[j] - v[j]));
    }
  });
  assert.ok(top > 0);
  assert.ok(err <= 1e-4 * top, `max difference ${err} (largest gradient ${top})`);
});
