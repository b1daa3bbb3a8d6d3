import { test } from 'node:test';
import assert from 'node:assert/strict';
import { learningRate } from './schedule.js';

test('warm-up is linear from 0, then a half-cycle cosine reaches minLr at the last step', () => {
  const o = { baseLr: 4.5e-4, warmupSteps: 10, totalSteps: 110, minLr: 1e-5 };
  assert.equal(learningRate(0, o), 0);
  assert.ok(Math.abs(learningRate(5, o) - 2.25e-4) < 1e-12);
  assert.ok(Math.abs(learningRate(10, o) - 4.5e-4) < 1e-12);
  // half-way through the cosine: the mean of base and floor
  assert.ok(Math.abs(learningRate(60, o) - (4.5e-4 + 1e-5) / 2) < 1e-12);
  assert.ok(Math.abs(learningRate(110, o) - 1e-5) < 1e-12);
  // monotone decay after warm-up
  for (let s = 11; s <= 110; s++) assert.ok(learningRate(s, o) <= learningRate(s - 1, o));
});

test('no warm-up starts at the base rate', () => {
  assert.equal(learningRate(0, { baseLr: 1e-3, warmupSteps: 0, totalSteps: 10 }), 1e-3);
});
