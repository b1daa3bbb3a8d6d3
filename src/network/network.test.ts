// Unit tests of the network on a tiny configuration: state dict round trip and validation, codebook width,
// straight-through estimator and VQ-loss gradient split, quantizer search, BatchNorm train mode.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../engine/backend.js';
import type { HostTensor } from '../io/dtypes.js';
import { paperConfig, validateConfig, type V2LConfig } from './config.js';
import { V2LNetwork } from './v2l-model.js';
import { CODEBOOK_TERM_WEIGHT, nearestRows, quantizeGlobal, quantizeLocal } from './quantize.js';
import { batchNorm, BN_EPS } from './discriminator.js';
import { ParamStore } from './params.js';

const tiny: V2LConfig = {
  ch: 32, chMult: [1, 2], numResBlocks: 1, resolution: 8, attnResolutions: [8], inChannels: 3, outCh: 3,
  zChannels: 8, embedDim: 16, nLocal: 40, nGlobal: 12, crossAttnHeads: 2, crossAttnDimHead: 8, discLayers: 2, discNdf: 8,
};

before(async () => {
  await initBackend();
});

function images(b: number, seed: number): tf.Tensor4D {
  return tf.randomUniform([b, 3, 8, 8], -1, 1, 'float32', seed) as tf.Tensor4D;
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

test('state dict: export names and PyTorch layouts, and a round trip reproduces the network', () => {
  const a = new V2LNetwork(tiny, { seed: 1 });
  const b = new V2LNetwork(tiny, { seed: 2 });
  try {
    const sd = a.stateDict();
    assert.deepEqual(sd.get('encoder.conv_in.weight')?.shape, [32, 3, 3, 3]);
    assert.deepEqual(sd.get('decoder.mid.cross_attn_1.to_q.weight')?.shape, [16, 64]);
    assert.deepEqual(sd.get('decoder.mid.cross_attn_1.to_out.0.weight')?.shape, [64, 16]);
    assert.deepEqual(sd.get('quant_conv.weight')?.shape, [16, 8, 1, 1]);
    assert.ok(sd.has('encoder.down.0.attn.0.q.weight'), 'self-attention at resolution 8');
    assert.equal(sd.get('discriminator.main.3.num_batches_tracked')?.dtype, 'I64');
    assert.ok(!sd.has('discriminator.main.2.bias'), 'convs before BatchNorm have no bias');
    const x = images(2, 3);
    const clip = tf.randomNormal([2, 16], 0, 1, 'float32', 4) as tf.Tensor2D;
    const before = tf.tidy(() => tf.keep(b.forward(x, clip, 3).reconstruction));
    b.loadStateDict(sd);
    const sd2 = b.stateDict();
    assert.deepEqual([...sd2.keys()], [...sd.keys()]);
    for (const [k, t] of sd) assert.deepEqual(Array.from(sd2.get(k)!.data as Float32Array), Array.from(t.data as Float32Array), k);
    tf.tidy(() => {
      const ra = a.forward(x, clip, 3);
      const rb = b.forward(x, clip, 3);
      assert.equal(maxAbsDiff(ra.reconstruction, rb.reconstruction), 0);
      assert.deepEqual(Array.from(ra.localIndices.dataSync()), Array.from(rb.localIndices.dataSync()));
      assert.ok(maxAbsDiff(before, rb.reconstruction) > 0, 'loading changed the network');
    });
    before.dispose();
  } finally {
    a.dispose();
    b.dispose();
  }
});

test('state dict: every missing, unexpected and misshapen key is named, and nothing is loaded', () => {
  const a = new V2LNetwork(tiny, { seed: 1 });
  const b = new V2LNetwork(tiny, { seed: 2 });
  try {
    const sd = a.stateDict();
    sd.delete('encoder.conv_in.bias');
    sd.delete('decoder.mid.cross_attn_1.to_k.weight');
    const w = sd.get('post_quant_conv.weight') as HostTensor;
    sd.set('post_quant_conv.weight', { ...w, shape: [8, 16, 1, 1].reverse() });
    sd.set('perceptual_loss.net.slice1.0.weight', { dtype: 'F32', shape: [1], data: new Float32Array(1) });
    const snapshot = b.stateDict().get('encoder.conv_out.weight')!.data as Float32Array;
    assert.throws(() => b.loadStateDict(sd), (e: Error) => {
      for (const k of ['encoder.conv_in.bias', 'decoder.mid.cross_attn_1.to_k.weight', 'post_quant_conv.weight', 'perceptual_loss.net.slice1.0.weight']) {
        assert.ok(e.message.includes(k), `error names ${k}: ${e.message}`);
      }
      assert.match(e.message, /missing 2/);
      assert.match(e.message, /unexpected 1/);
      assert.match(e.message, /misshapen 1: post_quant_conv\.weight \(file \[1,1,16,8\], network \[8,16,1,1\]\)/);
      return true;
    });
    assert.deepEqual(Array.from(b.stateDict().get('encoder.conv_out.weight')!.data as Float32Array), Array.from(snapshot), 'a failed load changes nothing');
    // Ignored and optional prefixes.
    const partial = a.stateDict();
    for (const k of [...partial.keys()]) if (k.startsWith('discriminator.')) partial.delete(k);
    partial.set('perceptual_loss.x', { dtype: 'F32', shape: [1], data: new Float32Array(1) });
    b.loadStateDict(partial, { optionalPrefixes: ['discriminator.'], ignorePrefixes: ['perceptual_loss.'] });
  } finally {
    a.dispose();
    b.dispose();
  }
});

test('a codebook whose width differs from the network is refused before any work', () => {
  const net = new V2LNetwork(tiny, { seed: 1 });
  try {
    const sd = net.stateDict();
    sd.set('tok_embeddings.weight', { dtype: 'F32', shape: [40, 17], data: new Float32Array(40 * 17) });
    sd.delete('encoder.conv_in.weight'); // would also be reported, but the width error comes first
    assert.throws(() => net.loadStateDict(sd), /codebook tok_embeddings\.weight has shape \[40,17\].*embedding width is 16/);
    assert.throws(() => net.setCodebooks({ global: { dtype: 'F32', shape: [5, 8], data: new Float32Array(40) } }), /codebook tok_embeddings_global\.weight .* width is 16/);
    // Another row count is accepted (another LLM vocabulary).
    const rows = new Float32Array(7 * 16).map((_, i) => Math.sin(i));
    net.setCodebooks({ local: { dtype: 'F32', shape: [7, 16], data: rows } });
    assert.equal(net.config.nLocal, 7);
    tf.tidy(() => {
      const e = net.encode(images(1, 5));
      const ids = Array.from(e.localIndices.dataSync());
      assert.ok(ids.every((i) => i >= 0 && i < 7));
    });
  } finally {
    net.dispose();
  }
});

test('straight-through estimator: the decoder input has the codebook value and the identity gradient to z', () => {
  tf.tidy(() => {
    const z = tf.randomNormal([6, 4], 0, 1, 'float32', 7) as tf.Tensor2D;
    const book = tf.randomNormal([9, 4], 0, 1, 'float32', 8) as tf.Tensor2D;
    const w = tf.variable(tf.randomNormal([4, 4], 0, 0.5, 'float32', 9), true);
    const project = (rows: tf.Tensor2D): tf.Tensor2D => tf.matMul(rows, w as tf.Tensor2D);
    const projectedT = () => tf.transpose(tf.matMul(book, w)) as tf.Tensor2D;
    const c = tf.randomNormal([6, 4], 0, 1, 'float32', 10);
    // d/dz sum(zq * c) = c exactly; no gradient reaches the projector through zq.
    const gz = tf.grad((zz: tf.Tensor) => tf.sum(tf.mul(quantizeLocal(zz as tf.Tensor2D, book, projectedT, project).zq, c)))(z);
    assert.equal(maxAbsDiff(gz, c), 0);
    const q = quantizeLocal(z, book, projectedT, project);
    const idx = q.indices;
    const expected = tf.gather(tf.matMul(book, w), idx);
    assert.ok(maxAbsDiff(q.zq, expected) < 1e-6, 'value of zq is the chosen projected row');
    // VQ loss split: d/dz = 2 (z - zq) / n (commitment, weight 1); d/dzq = 0.33 * 2 (zq - z) / n reaches W.
    const n = 6 * 4;
    const gz2 = tf.grad((zz: tf.Tensor) => quantizeLocal(zz as tf.Tensor2D, book, projectedT, project).vqLoss)(z);
    assert.ok(maxAbsDiff(gz2, tf.mul(2 / n, tf.sub(z, expected))) < 1e-6);
    const { grads } = tf.variableGrads(() => quantizeLocal(z, book, projectedT, project).vqLoss, [w]);
    const rows = tf.gather(book, idx);
    const gwExpected = tf.matMul(rows, tf.mul((CODEBOOK_TERM_WEIGHT * 2) / n, tf.sub(expected, z)), true, false);
    assert.ok(maxAbsDiff(grads[w.name], gwExpected) < 1e-6);
    const loss = q.vqLoss.dataSync()[0];
    const mse = tf.mean(tf.square(tf.sub(expected, z))).dataSync()[0];
    assert.ok(Math.abs(loss - (1 + CODEBOOK_TERM_WEIGHT) * mse) < 1e-6);
    // Another codebook-term weight (training's --vq-beta) scales only the projector's gradient.
    const beta = 0.7;
    const g2 = tf.variableGrads(() => quantizeLocal(z, book, projectedT, project, beta).vqLoss, [w]);
    assert.ok(maxAbsDiff(g2.grads[w.name], tf.mul(beta / CODEBOOK_TERM_WEIGHT, gwExpected)) < 1e-6);
    assert.ok(Math.abs(g2.value.dataSync()[0] - (1 + beta) * mse) < 1e-6);
    w.dispose();
  });
});

test('nearest-row search matches brute force over several chunks; global top-k is nearest first', () => {
  tf.tidy(() => {
    const z = tf.randomNormal([600, 8], 0, 1, 'float32', 11) as tf.Tensor2D;
    const book = tf.randomNormal([50, 8], 0, 1, 'float32', 12) as tf.Tensor2D;
    const got = Array.from(nearestRows(z, tf.transpose(book) as tf.Tensor2D).dataSync());
    const zs = z.arraySync();
    const bs = book.arraySync();
    const want = zs.map((r) => {
      let best = 0;
      let bd = Infinity;
      bs.forEach((e, j) => {
        const d = e.reduce((s, v, i) => s + (v - r[i]) ** 2, 0);
        if (d < bd) { bd = d; best = j; }
      });
      return best;
    });
    assert.deepEqual(got, want);
    const g = tf.tensor2d([[3, 0], [0, -2]]);
    const gb = tf.tensor2d([[0, 1], [1, 0.1], [0.5, 0.5], [0, -1], [-1, 0]]);
    const { indices, embeddings } = quantizeGlobal(g, gb, tf.transpose(gb) as tf.Tensor2D, 3);
    assert.deepEqual(indices.arraySync(), [[1, 2, 0], [3, 4, 1]]);
    assert.deepEqual(embeddings.shape, [2, 3, 2]);
    assert.throws(() => quantizeGlobal(g, gb, tf.transpose(gb) as tf.Tensor2D, 6), /k must be an integer in \[1, 5\]/);
  });
});

test('decode from token ids equals decode of the quantized features', () => {
  const net = new V2LNetwork(tiny, { seed: 3 });
  try {
    tf.tidy(() => {
      const clip = tf.randomNormal([2, 16], 0, 1, 'float32', 4) as tf.Tensor2D;
      const out = net.forward(images(2, 6), clip, 2);
      const fromIds = net.decode(out.localIndices, out.globalEmbeddings);
      assert.ok(maxAbsDiff(fromIds, out.reconstruction) < 1e-4);
      assert.throws(() => net.decode(tf.fill([1, 4, 4], 99, 'int32') as tf.Tensor3D, out.globalEmbeddings), /local token id 99 is outside the codebook \[0, 40\)/);
      assert.throws(() => net.encode(tf.zeros([1, 3, 7, 8]) as tf.Tensor4D), /multiples of 2/);
    });
  } finally {
    net.dispose();
  }
});

test('training: gradients reach every generator parameter; the frozen codebooks are not trainable', () => {
  const net = new V2LNetwork(tiny, { seed: 4 });
  try {
    assert.equal(net.params.get('tok_embeddings.weight')!.trainable, false);
    assert.equal(net.params.get('tok_embeddings_global.weight')!.trainable, false);
    const gen = net.generatorVariables();
    assert.ok(!gen.includes(net.params.get('tok_embeddings.weight')!));
    assert.ok(!gen.some((v) => net.discriminatorVariables().includes(v)));
    tf.tidy(() => {
      const x = images(2, 8);
      const clip = tf.randomNormal([2, 16], 0, 1, 'float32', 9) as tf.Tensor2D;
      const { grads } = tf.variableGrads(() => {
        const o = net.forward(x, clip, 2);
        return tf.add(tf.mean(tf.abs(tf.sub(x, o.reconstruction))), o.vqLoss) as tf.Scalar;
      }, gen);
      const names = new Map([...net.params].map(([k, v]) => [v.name, k]));
      const zero = gen.filter((v) => !grads[v.name] || tf.max(tf.abs(grads[v.name])).dataSync()[0] === 0).map((v) => names.get(v.name));
      assert.deepEqual(zero, [], 'parameters without gradient');
    });
  } finally {
    net.dispose();
  }
});

test('discriminator: train mode uses batch statistics and updates the running ones as PyTorch', () => {
  tf.tidy(() => {
    const p = new ParamStore();
    p.norm('bn', 4);
    p.materialise(0);
    const buf = { runningMean: tf.variable(tf.zeros([4]), false), runningVar: tf.variable(tf.ones([4]), false), numBatchesTracked: 0 };
    const x = tf.randomNormal([2, 3, 3, 4], 1, 2, 'float32', 13) as tf.Tensor4D;
    const y = batchNorm(p, buf, 'bn', x, true);
    const flat = tf.reshape(x, [-1, 4]);
    const mean = tf.mean(flat, 0);
    const varBiased = tf.mean(tf.square(tf.sub(flat, mean)), 0);
    const n = 18;
    assert.ok(maxAbsDiff(buf.runningMean, tf.mul(0.1, mean)) < 1e-6);
    assert.ok(maxAbsDiff(buf.runningVar, tf.add(0.9, tf.mul(0.1 * n / (n - 1), varBiased))) < 1e-5);
    assert.equal(buf.numBatchesTracked, 1);
    assert.ok(maxAbsDiff(y, tf.reshape(tf.div(tf.sub(flat, mean), tf.sqrt(tf.add(varBiased, BN_EPS))), [2, 3, 3, 4])) < 1e-5);
    const yEval = batchNorm(p, buf, 'bn', x, false);
    assert.ok(maxAbsDiff(yEval, tf.div(tf.sub(x, buf.runningMean), tf.sqrt(tf.add(buf.runningVar, BN_EPS)))) < 1e-5);
    assert.equal(buf.numBatchesTracked, 1, 'eval leaves the statistics alone');
    p.dispose();
    buf.runningMean.dispose();
    buf.runningVar.dispose();
  });
  const net = new V2LNetwork(tiny, { seed: 5 });
  try {
    tf.tidy(() => {
      const x = tf.randomUniform([2, 3, 16, 16], -1, 1, 'float32', 14) as tf.Tensor4D;
      const evalOut = net.discriminator(x, { training: false });
      assert.deepEqual(evalOut.shape, [2, 1, 2, 2]);
      const trainOut = net.discriminator(x, { training: true });
      assert.ok(maxAbsDiff(evalOut, trainOut) > 0);
      const sd = net.stateDict();
      assert.equal(sd.get('discriminator.main.3.num_batches_tracked')!.data[0], 1n);
      assert.ok(Array.from(sd.get('discriminator.main.6.running_mean')!.data as Float32Array).some((v) => v !== 0));
      // Gradients reach every discriminator parameter through the train-mode BatchNorm. (Not the hinge loss:
      // with every logit in its linear range, its gradient to the last bias is exactly 0.)
      const fake = tf.randomUniform([2, 3, 16, 16], -1, 1, 'float32', 15) as tf.Tensor4D;
      const dvars = net.discriminatorVariables();
      const { grads } = tf.variableGrads(() => tf.sub(
        tf.mean(tf.square(net.discriminator(x, { training: true }))),
        tf.mean(net.discriminator(fake, { training: true }))) as tf.Scalar, dvars);
      assert.equal(Object.keys(grads).length, dvars.length);
      const names = new Map([...net.params].map(([k, v]) => [v.name, k]));
      assert.deepEqual(dvars.filter((v) => !(tf.max(tf.abs(grads[v.name])).dataSync()[0] > 0)).map((v) => names.get(v.name)), [], 'every discriminator parameter gets a gradient');
      assert.equal(net.batchNorms.get('discriminator.main.3')!.numBatchesTracked, 3);
    });
  } finally {
    net.dispose();
  }
});

test('configuration: paper default and clear errors', () => {
  const c = paperConfig();
  assert.deepEqual([c.ch, c.chMult, c.numResBlocks, c.zChannels, c.embedDim], [128, [1, 2, 2, 4], 2, 256, 768]);
  assert.throws(() => validateConfig({ ...tiny, ch: 48 }), /ch \* 1 = 48 is not a multiple of 32/);
  assert.throws(() => validateConfig({ ...tiny, zChannels: 0 }), /zChannels must be a positive integer/);
});
