// LPIPS for the evaluations reads AlexNet from an ONNX export as well as from a torchvision state dict:
// the same weights give the same distances; on onnxruntime, they equal the tfjs LPIPS of training.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../engine/backend.js';
import { Lpips, standInBackbone } from '../train/lpips.js';
import { readLpipsHeads } from '../train/lpips-files.js';
import { skipUnless, sharedPath } from '../util/test-utils/shared.js';
import { rand } from '../util/test-utils/rand.js';
import { loadEvalLpips } from './lpips-alexnet.js';
import { readOnnxWeights, writeAlexnetOnnx } from './alexnet-onnx.js';

const HEADS = sharedPath('models/lpips/v0.1_json/alex.json');
const skip = skipUnless(HEADS, 'the LPIPS heads');

test('AlexNet from ONNX: initializers read by torchvision name; same distances as the state dict and as the tfjs LPIPS', { skip }, async () => {
  await initBackend(); // for the tfjs LPIPS compared with
  const dir = mkdtempSync(join(tmpdir(), 'v2l-alexnet-'));
  try {
    const weights = standInBackbone('alex', 0);
    writeAlexnetOnnx(join(dir, 'alexnet.onnx'), weights);
    const read = readOnnxWeights(readFileSync(join(dir, 'alexnet.onnx')));
    for (const [k, t] of weights) assert.deepEqual(Array.from(read.get(k)!.data as Float32Array), Array.from(t.data as Float32Array), k);
    const fromOnnx = await loadEvalLpips(join(dir, 'alexnet.onnx'), HEADS);
    const standIn = await loadEvalLpips('stand-in', HEADS);
    assert.equal(standIn.standIn, true);
    assert.equal(fromOnnx.standIn, false);
    const [x, y] = [rand(2 * 3 * 64 * 64, 1), rand(2 * 3 * 64 * 64, 2)];
    const d = await fromOnnx.distance(x, y, 2, 64, 64);
    assert.deepEqual(Array.from(d), Array.from(await standIn.distance(x, y, 2, 64, 64)));
    // The tfjs LPIPS (training's) on the same weights: the same distances up to float32 rounding.
    const ref = new Lpips({ backbone: 'alex', backboneWeights: weights, heads: await readLpipsHeads(HEADS), standIn: true });
    const a = tf.tensor4d(x, [2, 3, 64, 64]);
    const b = tf.tensor4d(y, [2, 3, 64, 64]);
    const r = ref.distance(a, b).dataSync();
    assert.ok(r[0] > 0 && r[1] > 0);
    for (let i = 0; i < 2; i++) assert.ok(Math.abs(d[i] - r[i]) <= 1e-5 * Math.max(1, r[i]), `image ${i}: onnx ${d[i]} vs tfjs ${r[i]}`);
    ref.dispose();
    tf.dispose([a, b]);
    await fromOnnx.dispose();
    await standIn.dispose();
    assert.throws(() => readOnnxWeights(new Uint8Array([1, 2, 3, 250]), 'x.onnx'), /not an ONNX model/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
