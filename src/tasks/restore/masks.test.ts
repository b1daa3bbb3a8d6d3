import { test } from 'node:test';
import assert from 'node:assert/strict';
import { predictionMask, predictionSteps } from './masks.js';

const cells = (mask: boolean[], g: number) => mask.flatMap((v, i) => (v ? [[Math.floor(i / g), i % g]] : []));

test('inpainting hides rows 4-11 x cols 4-11 of 16x16: 64 ids in 32 steps of 2', () => {
  const m = predictionMask('inpaint', 16);
  const c = cells(m, 16);
  assert.equal(c.length, 64);
  assert.ok(c.every(([r, col]) => r >= 4 && r <= 11 && col >= 4 && col <= 11));
  const steps = predictionSteps(m, 2);
  assert.equal(steps.length, 32);
  assert.deepEqual(steps.slice(0, 5), [4 * 16 + 4, 4 * 16 + 6, 4 * 16 + 8, 4 * 16 + 10, 5 * 16 + 4]);
});

test('outpainting hides rows 8-15 (128 ids, 64 steps); the pixel tasks predict all 256 (128 steps)', () => {
  const m = predictionMask('outpaint', 16);
  assert.equal(m.filter(Boolean).length, 128);
  assert.equal(m.indexOf(true), 128);
  assert.equal(predictionSteps(m, 2).length, 64);
  for (const t of ['deblur', 'rotate', 'shift'] as const) {
    assert.equal(predictionSteps(predictionMask(t, 16), 2).length, 128);
  }
});

test('other grid sides scale the regions; steps of m cut at the end', () => {
  const c = cells(predictionMask('inpaint', 8), 8);
  assert.equal(c.length, 16);
  assert.ok(c.every(([r, col]) => r >= 2 && r <= 5 && col >= 2 && col <= 5));
  assert.deepEqual(predictionSteps(predictionMask('deblur', 3), 4), [0, 4, 8]);
  assert.throws(() => predictionMask('inpaint', 6), /multiple of 4/);
});
