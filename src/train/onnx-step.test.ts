// The ONNX generator step's losses and gradients equal today's tfjs training step (Replica.gradients) for
// every parameter, on small configurations with random weights: with self- and cross-attention, with the
// robust recipe's network (no cross-attention, cosine codes), L1 and L2, quantised and the AE warm-up.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as ort from 'onnxruntime-node';
import { initBackend } from '../engine/backend.js';
import { V2LNetwork } from '../network/v2l-model.js';
import type { V2LConfig } from '../network/config.js';
import { toFloat32 } from '../io/dtypes.js';
import { Replica, type LossConfig, type OptimConfig } from './replica.js';
import { generatorStepGraph } from './onnx-step.js';
import { tinyConfig } from './test-utils/fixtures.js';

before(async () => {
  await initBackend('wasm');
});

const OPTIM: OptimConfig = { lr: 1e-3, discLr: 1e-3, beta1: 0.5, beta2: 0.9, eps: 1e-7, warmupSteps: 0, totalSteps: 10, minLr: 0, clipGrad: 0 };

async function compare(config: V2LConfig, loss: LossConfig, step: number): Promise<void> {
  const b = 2;
  const size = 16;
  const net = new V2LNetwork(config, { seed: 3 });
  const replica = new Replica(net, null, loss, OPTIM);
  const x = tf.randomUniform([b, 3, size, size], -1, 1, 'float32', 7) as tf.Tensor4D;
  const clip = tf.randomNormal([b, config.embedDim], 0, 1, 'float32', 8) as tf.Tensor2D;
  const ref = replica.gradients(x, clip, step);
  const sd = net.stateDict();
  const graph = generatorStepGraph(net.config, sd, replica.genNames, { batch: b, imageSize: size, kGlobal: loss.kGlobal, recLoss: loss.recLoss, vqBeta: loss.vqBeta });
  const session = await ort.InferenceSession.create(graph.model);
  const feeds: Record<string, ort.Tensor> = {};
  for (const name of graph.params) feeds[name] = new ort.Tensor('float32', toFloat32(sd.get(name)!), sd.get(name)!.shape);
  const t32 = (t: tf.Tensor) => new ort.Tensor('float32', t.dataSync() as Float32Array, t.shape);
  feeds.image = t32(x);
  feeds.codebook = new ort.Tensor('float32', toFloat32(sd.get('tok_embeddings.weight')!), sd.get('tok_embeddings.weight')!.shape);
  if (session.inputNames.includes('clip')) {
    feeds.clip = t32(clip);
    feeds.global_codebook = new ort.Tensor('float32', toFloat32(sd.get('tok_embeddings_global.weight')!), sd.get('tok_embeddings_global.weight')!.shape);
  }
  feeds.vq_weight = new ort.Tensor('float32', Float32Array.of(step < (loss.vqStartStep ?? 0) ? 0 : loss.codebookWeight), []);
  feeds.quantized = new ort.Tensor('float32', Float32Array.of(step < (loss.aeWarmupSteps ?? 0) ? 0 : 1), []);
  const out = await session.run(feeds);
  await session.release();
  for (const k of ['loss', 'rec_loss', 'vq_loss']) {
    const v = (out[k].data as Float32Array)[0];
    assert.ok(Math.abs(v - ref.terms[k]) <= 1e-4 * Math.abs(ref.terms[k]) + 1e-7, `${k}: onnx ${v} vs tfjs ${ref.terms[k]}`);
  }
  assert.equal(new Set(out.indices.data as BigInt64Array).size, ref.terms.codes_used, 'codes used');
  // A conv bias in front of a GroupNorm has a zero gradient in exact arithmetic: both sides give rounding
  // noise there, so errors are also measured against the largest gradient of the whole network.
  const wants = replica.genNames.map((name, i) => net.toReferenceLayout(name, ref.gen[i]).dataSync() as Float32Array);
  const largest = Math.max(...wants.map((w) => w.reduce((m, v) => Math.max(m, Math.abs(v)), 0)));
  replica.genNames.forEach((name, i) => {
    const want = wants[i];
    const got = out[`grad.${name}`].data as Float32Array;
    assert.equal(got.length, want.length, name);
    let scale = 1e-12;
    let err = 0;
    for (let j = 0; j < want.length; j++) {
      scale = Math.max(scale, Math.abs(want[j]));
      err = Math.max(err, Math.abs(got[j] - want[j]));
    }
    assert.ok(err <= 2e-4 * scale + 1e-6 * largest, `${name}: max |onnx - tfjs| ${err.toExponential(2)} (largest gradient ${scale.toExponential(2)})`);
  });
  tf.dispose([x, clip, ...ref.gen]);
  replica.dispose();
  net.dispose();
}

const base: LossConfig = { recLoss: 'l1', codebookWeight: 1, perceptualWeight: 0, discWeight: 0.75, discStart: Number.MAX_SAFE_INTEGER, discFactor: 1, kGlobal: 3 };

test('ONNX generator step = tfjs: self-attention and cross-attention decoder, L1, VQ loss from step 0', async () => {
  await compare({ ...tinyConfig(), attnResolutions: [8] }, base, 0);
});

test('ONNX generator step = tfjs: the robust recipe\'s network (no cross-attention, cosine codes), L2, beta 0', async () => {
  await compare({ ...tinyConfig(), crossAttention: false, cosineCodes: true }, { ...base, recLoss: 'l2', vqBeta: 0 }, 5);
});

test('ONNX generator step = tfjs: AE warm-up (decoder fed z) before the VQ loss starts', async () => {
  await compare({ ...tinyConfig(), crossAttention: false, cosineCodes: true }, { ...base, aeWarmupSteps: 10, vqStartStep: 10, vqBeta: 0 }, 2);
});
