// Gradient checkpointing must change memory, never values: every generator gradient with it on equals the
// gradient with it off, the taped forward holds fewer bytes, and nothing leaks.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../engine/backend.js';
import type { V2LConfig } from './config.js';
import { V2LNetwork } from './v2l-model.js';

// Two levels (nin_shortcut, down/upsampling), self-attention at 8 px, two res blocks per level.
const small: V2LConfig = {
  ch: 32, chMult: [1, 2], numResBlocks: 2, resolution: 16, attnResolutions: [8], inChannels: 3, outCh: 3,
  zChannels: 8, embedDim: 16, nLocal: 40, nGlobal: 12, crossAttnHeads: 2, crossAttnDimHead: 8, discLayers: 2, discNdf: 8,
};

before(async () => {
  await initBackend();
});

/** Generator gradients of l1 + vq on a fixed batch, and the bytes alive at the end of the taped forward. */
function gradients(checkpointing: boolean): { grads: Map<string, Float32Array>; taped: number; loss: number } {
  const net = new V2LNetwork(small, { seed: 3, gradientCheckpointing: checkpointing });
  try {
    const names = [...net.params].filter(([k, v]) => v.trainable && !k.startsWith('discriminator.')).map(([k]) => k);
    const vars = names.map((n) => net.params.get(n)!);
    const x = tf.randomUniform([2, 3, 16, 16], -1, 1, 'float32', 7) as tf.Tensor4D;
    const clip = tf.randomNormal([2, 16], 0, 1, 'float32', 8) as tf.Tensor2D;
    let taped = 0;
    const { value, grads } = tf.variableGrads(() => {
      const o = net.forward(x, clip, 3);
      const loss = tf.add(tf.mean(tf.abs(tf.sub(x, o.reconstruction))), o.vqLoss) as tf.Scalar;
      taped = tf.memory().numBytes;
      return loss;
    }, vars);
    const out = new Map(names.map((n, i) => [n, grads[vars[i].name].dataSync() as Float32Array]));
    const loss = value.dataSync()[0];
    tf.dispose([value, x, clip, ...Object.values(grads)]);
    return { grads: out, taped, loss };
  } finally {
    net.dispose();
  }
}

test('gradient checkpointing: every generator gradient equals the plain one (1e-5 relative), with less taped memory', () => {
  const before = tf.memory().numTensors;
  const plain = gradients(false);
  const ckpt = gradients(true);
  assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
  assert.ok(Math.abs(plain.loss - ckpt.loss) <= 1e-6 * Math.abs(plain.loss), `loss ${ckpt.loss} vs ${plain.loss}`);
  assert.ok(plain.grads.size > 50);
  const bad: string[] = [];
  for (const [name, a] of plain.grads) {
    const b = ckpt.grads.get(name)!;
    let err = 0;
    let mag = 0;
    for (let i = 0; i < a.length; i++) {
      err = Math.max(err, Math.abs(a[i] - b[i]));
      mag = Math.max(mag, Math.abs(a[i]));
    }
    if (!(mag > 0)) bad.push(`${name}: zero gradient`);
    else if (!(err <= 1e-5 * mag)) bad.push(`${name}: max error ${err} vs max ${mag}`);
  }
  assert.deepEqual(bad, []);
  assert.ok(ckpt.taped < 0.8 * plain.taped, `taped forward holds ${ckpt.taped} bytes with checkpointing, ${plain.taped} without`);
});

test('gradient checkpointing: inference (no tape) gives the same reconstruction', () => {
  const a = new V2LNetwork(small, { seed: 3 });
  const b = new V2LNetwork(small, { seed: 3 });
  b.setGradientCheckpointing(true);
  try {
    tf.tidy(() => {
      const x = tf.randomUniform([1, 3, 16, 16], -1, 1, 'float32', 9) as tf.Tensor4D;
      const clip = tf.randomNormal([1, 16], 0, 1, 'float32', 10) as tf.Tensor2D;
      const d = tf.max(tf.abs(tf.sub(a.forward(x, clip, 3).reconstruction, b.forward(x, clip, 3).reconstruction))).dataSync()[0];
      assert.equal(d, 0);
    });
  } finally {
    a.dispose();
    b.dispose();
  }
});
