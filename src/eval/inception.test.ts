// The FID feature network's contract: pytorch-fid's preprocessing (bilinear to 299, 2v - 1), the stand-in
// marked as such, and per-image features that do not depend on the rest of the batch (what makes shards
// merge to the unsplit statistics).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rand } from '../util/test-utils/rand.js';
import { inceptionInput, loadInception, INCEPTION_SIZE } from './inception.js';
import { writeStandInInception } from './stand-in-inception.js';

test('Inception input: [0, 1] -> 299x299 in [-1, 1] (a constant image stays constant)', () => {
  const img = new Float32Array(3 * 20 * 30).fill(0.75);
  const x = inceptionInput(img, 20, 30);
  assert.equal(x.length, 3 * INCEPTION_SIZE * INCEPTION_SIZE);
  assert.ok(x.every((v) => Math.abs(v - 0.5) < 1e-6));
});

test('stand-in Inception: marked, D-dim non-negative features, each image independent of its batch', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'v2l-inception-'));
  try {
    const net = await loadInception(writeStandInInception(dir, { dim: 24, seed: 3 }));
    assert.equal(net.isStandIn, true);
    assert.equal(net.dim, 24);
    const a = Float32Array.from(rand(3 * 32 * 32, 1), (v) => v + 0.5);
    const b = Float32Array.from(rand(3 * 32 * 32, 2), (v) => v + 0.5);
    const both = await net.features([a, b], 32, 32);
    const alone = await net.features([b], 32, 32);
    assert.equal(both.length, 48);
    assert.ok(both.every((v) => v >= 0));
    assert.deepEqual(Array.from(both.subarray(24)), Array.from(alone));
    await net.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
