// The decoder without cross-attention (`crossAttention: false`, what the reference's use_crossatt_dec=0
// intends) and cosine codes (`cosineCodes: true`): state-dict keys, round trip, old metadata, behaviour.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../engine/backend.js';
import { configFromReference, hasCrossAttention, type V2LConfig } from './config.js';
import { V2LNetwork } from './v2l-model.js';

const tiny: V2LConfig = {
  ch: 32, chMult: [1, 2], numResBlocks: 1, resolution: 8, attnResolutions: [], inChannels: 3, outCh: 3,
  zChannels: 8, embedDim: 16, nLocal: 40, nGlobal: 12, crossAttnHeads: 2, crossAttnDimHead: 8, discLayers: 1, discNdf: 8,
};

before(async () => {
  await initBackend();
});

const maxAbs = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

test('no cross-attention: no cross_attn keys, the output ignores the global tokens, the state dict round-trips', () => {
  const a = new V2LNetwork({ ...tiny, crossAttention: false }, { seed: 1 });
  const b = new V2LNetwork({ ...tiny, crossAttention: false }, { seed: 2 });
  const withCa = new V2LNetwork(tiny, { seed: 1 });
  try {
    const sd = a.stateDict();
    assert.ok(![...sd.keys()].some((k) => k.includes('cross_attn')));
    assert.ok([...withCa.stateDict().keys()].some((k) => k.startsWith('decoder.mid.cross_attn_1.')));
    const x = tf.randomUniform([2, 3, 8, 8], -1, 1, 'float32', 3) as tf.Tensor4D;
    const c1 = tf.randomNormal([2, 16], 0, 1, 'float32', 4) as tf.Tensor2D;
    const c2 = tf.randomNormal([2, 16], 0, 1, 'float32', 5) as tf.Tensor2D;
    tf.tidy(() => {
      const r1 = a.forward(x, c1, 3).reconstruction;
      assert.equal(maxAbs(r1, a.forward(x, c2, 3).reconstruction), 0, 'global tokens must not matter');
      assert.ok(maxAbs(withCa.forward(x, c1, 3).reconstruction, withCa.forward(x, c2, 3).reconstruction) > 0, 'they do with cross-attention');
      b.loadStateDict(sd);
      assert.equal(maxAbs(r1, b.forward(x, c1, 3).reconstruction), 0);
    });
    // A state dict with cross-attention does not load into a network without it, and the error names the keys.
    assert.throws(() => b.loadStateDict(withCa.stateDict()), /unexpected \d+: decoder\.mid\.cross_attn_1/);
  } finally {
    a.dispose();
    b.dispose();
    withCa.dispose();
  }
});

test('configuration: absent crossAttention means the reference decoder; the reference switch is read', () => {
  assert.equal(hasCrossAttention(tiny), true);
  assert.equal(hasCrossAttention(JSON.parse(JSON.stringify({ ...tiny, crossAttention: false })) as V2LConfig), false);
  const ref = { ch: 32, ch_mult: [1, 2], num_res_blocks: 1, resolution: 8, z_channels: 8, embed_dim: 16 };
  assert.equal(hasCrossAttention(configFromReference(ref)), true);
  assert.equal(configFromReference({ ...ref, use_crossatt_dec: 0 }).crossAttention, false);
  assert.throws(() => new V2LNetwork({ ...tiny, crossAttention: 'no' as unknown as boolean }), /crossAttention must be true or false/);
});

test('cosine codes: the codes are unit rows, the nearest code is the most similar, decode by ids matches zq', () => {
  const net = new V2LNetwork({ ...tiny, cosineCodes: true }, { seed: 7 });
  try {
    tf.tidy(() => {
      const p = net.projectedCodebook();
      const norms = tf.sqrt(tf.sum(tf.square(p), 1)).dataSync();
      for (const v of norms) assert.ok(Math.abs(v - 1) < 1e-5);
      const x = tf.randomUniform([2, 3, 8, 8], -1, 1, 'float32', 3) as tf.Tensor4D;
      const e = net.encode(x);
      const z = tf.reshape(tf.transpose(e.z, [0, 2, 3, 1]), [-1, 16]);
      const best = tf.argMax(tf.matMul(z, p, false, true), 1).dataSync();
      assert.deepEqual(Array.from(e.localIndices.dataSync()), Array.from(best));
      const g = net.globalTokens(tf.randomNormal([2, 16], 0, 1, 'float32', 4) as tf.Tensor2D, 3).embeddings;
      assert.ok(maxAbs(net.decode(e.zq, g), net.decode(e.localIndices, g)) < 1e-5);
    });
  } finally {
    net.dispose();
  }
});
