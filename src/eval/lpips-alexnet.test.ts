// LPIPS for the evaluations reads AlexNet from an ONNX export as well as from a torchvision state dict:
// the same weights give the same distances, those of LPIPS written out in float64 (train/test-utils).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { standInBackbone } from '../train/lpips.js';
import { lpipsReference } from '../train/test-utils/lpips-reference.js';
import { readLpipsHeads } from '../train/lpips-files.js';
import { skipUnless, sharedPath } from '../util/test-utils/shared.js';
import { rand } from '../util/test-utils/rand.js';
import { loadEvalLpips } from './lpips-alexnet.js';
import { readOnnxWeights, writeAlexnetOnnx } from './alexnet-onnx.js';

const HEADS = sharedPath('models/lpips/v0.1_json/alex.json');
const skip = skipUnless(HEADS, 'the LPIPS heads');

test('AlexNet from ONNX: initializers read by torchvision name; same distances as the state dict and as LPIPS in float64', { skip }, async () => {
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
    // LPIPS from its definition in float64 on the same weights: the same distances up to float32 rounding.
    const r = lpipsReference(x, y, 2, [64, 64], 'alex', weights, await readLpipsHeads(HEADS));
    assert.ok(r[0] > 0 && r[1] > 0);
    for (let i = 0; i < 2; i++) assert.ok(Math.abs(d[i] - r[i]) <= 1e-5 * Math.max(1, r[i]), `image ${i}: onnx ${d[i]} vs float64 ${r[i]}`);
    await fromOnnx.dispose();
    await standIn.dispose();
    assert.throws(() => readOnnxWeights(new Uint8Array([1, 2, 3, 250]), 'x.onnx'), /not an ONNX model/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
