// LPIPS for the evaluations reads AlexNet from an ONNX export as well as from a torchvision state dict:
// the same weights give the same distances.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../engine/backend.js';
import { standInBackbone } from '../train/lpips.js';
import { skipUnless, sharedPath } from '../util/test-utils/shared.js';
import { rand } from '../util/test-utils/rand.js';
import { loadEvalLpips } from './lpips-alexnet.js';
import { readOnnxWeights, writeAlexnetOnnx } from './alexnet-onnx.js';

const HEADS = sharedPath('models/lpips/v0.1_json/alex.json');
const skip = skipUnless(HEADS, 'the LPIPS heads');

test('AlexNet from ONNX: initializers read by torchvision name; same distances as the state dict', { skip }, async () => {
  await initBackend();
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
    const a = tf.tensor4d(rand(2 * 3 * 64 * 64, 1), [2, 3, 64, 64]);
    const b = tf.tensor4d(rand(2 * 3 * 64 * 64, 2), [2, 3, 64, 64]);
    assert.deepEqual(Array.from(fromOnnx.distance(a, b).dataSync()), Array.from(standIn.distance(a, b).dataSync()));
    fromOnnx.dispose();
    standIn.dispose();
    tf.dispose([a, b]);
    assert.throws(() => readOnnxWeights(new Uint8Array([1, 2, 3, 250]), 'x.onnx'), /not an ONNX model/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
