import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Adam, clipGradNorm } from './adam.js';
import { permuteLayout } from '../network/param-specs.js';

const OPTS = { beta1: 0.5, beta2: 0.9, eps: 1e-7 };

/** torch.optim.Adam's update, written out in float64 for comparison. */
function torchAdam(p: number[], grads: number[][], lr: number, b1: number, b2: number, eps: number): number[] {
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  const out = [...p];
  grads.forEach((g, t) => {
    const step = t + 1;
    for (let i = 0; i < p.length; i++) {
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      const denom = Math.sqrt(v[i]) / Math.sqrt(1 - b2 ** step) + eps;
      out[i] -= (lr / (1 - b1 ** step)) * (m[i] / denom);
    }
  });
  return out;
}

test('Adam matches torch.optim.Adam (betas 0.5, 0.9; eps 1e-7) over several steps', () => {
  const p0 = [0.3, -1.2, 2.0, 0.0];
  const grads = [[0.1, -0.2, 0.03, 1.0], [-0.4, 0.1, 0.2, 0.5], [0.05, 0.05, -0.1, -2.0]];
  const w = Float32Array.from(p0);
  const adam = new Adam(new Map([['w', w]]), new Map([['w', [4]]]), OPTS);
  for (const g of grads) adam.apply(new Map([['w', Float32Array.from(g)]]), 1e-2);
  const want = torchAdam(p0, grads, 1e-2, 0.5, 0.9, 1e-7);
  Array.from(w).forEach((x, i) => assert.ok(Math.abs(x - want[i]) < 1e-6, `param ${i}: ${x} vs ${want[i]}`));
  assert.equal(adam.step, 3);
});

test('Adam state round-trips exactly: a restored optimiser continues identically', () => {
  const shapes = new Map([['w', [2, 2]]]);
  const a = Float32Array.from([1, 2, 3, 4]);
  const adamA = new Adam(new Map([['w', a]]), shapes, OPTS);
  adamA.apply(new Map([['w', Float32Array.from([0.1, 0.2, 0.3, -0.4])]]), 1e-2);
  const saved = adamA.state('optimizer.gen.');
  assert.deepEqual(saved.tensors.get('optimizer.gen.m/w')!.shape, [2, 2]);
  const b = a.slice();
  const adamB = new Adam(new Map([['w', b]]), shapes, OPTS);
  adamB.load(saved.tensors, 'optimizer.gen.', saved.step);
  const g2 = Float32Array.from([-0.2, 0.1, 0.05, 0.3]);
  adamA.apply(new Map([['w', g2.slice()]]), 1e-2);
  adamB.apply(new Map([['w', g2.slice()]]), 1e-2);
  assert.deepEqual(Array.from(a), Array.from(b));
  assert.throws(() => adamB.load(new Map(), 'optimizer.gen.', 1), /optimiser state "optimizer\.gen\.m\/w" is missing/);
});

test('Adam loads moments in the tfjs trainer\'s layout (checkpoint format 1): a conv [out, in, kh, kw] saved as [kh, kw, in, out]', () => {
  const ref = [3, 2, 2, 1]; // out, in, kh, kw
  const n = 12;
  const w = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
  const shapes = new Map([['c', ref]]);
  const adamA = new Adam(new Map([['c', w.slice()]]), shapes, OPTS);
  adamA.apply(new Map([['c', Float32Array.from({ length: n }, (_, i) => Math.cos(3 * i))]]), 1e-2);
  const saved = adamA.state('p.');
  const legacy = new Map([...saved.tensors].map(([k, t]) => [k, { ...t, shape: [2, 1, 2, 3], data: permuteLayout(t.data as Float32Array, ref, 'conv', 'toInternal') }]));
  const adamB = new Adam(new Map([['c', w.slice()]]), shapes, OPTS);
  assert.throws(() => adamB.load(legacy, 'p.', saved.step), /expected F32 \[3,2,2,1\]/);
  adamB.load(legacy, 'p.', saved.step, 'legacy', () => 'conv');
  assert.deepEqual(adamB.state('p.').tensors, saved.tensors);
});

test('clipGradNorm scales to the max norm only when the norm exceeds it', () => {
  const g = new Map([['a', Float32Array.from([3, 0])], ['b', Float32Array.from([0, 4])]]);
  const norm = clipGradNorm(g, 1);
  assert.ok(Math.abs(norm - 5) < 1e-6);
  assert.ok(Math.abs(g.get('a')![0] - 0.6) < 1e-6);
  assert.ok(Math.abs(g.get('b')![1] - 0.8) < 1e-6);
  const kept = new Map([['a', Float32Array.from([0.3, 0.4])]]);
  clipGradNorm(kept, 1);
  assert.ok(Math.abs(kept.get('a')![0] - 0.3) < 1e-7);
});
