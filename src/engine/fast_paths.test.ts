// The wasm fast paths (matMul rewritten into plain 2-D products, conv input gradient as a conv2d)
// against the cpu reference, with the fast paths on and off, values and gradients.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from './backend.js';
import { maxRelativeDifference, randn, runOn } from './compare.js';
import { fastMatMul } from './kernels/batch_matmul.js';
import { conv2dBackpropInputDilated, conv2dBackpropInputSubPixel } from './kernels/conv2d_backprop_input.js';
import { originalKernel, setFastPaths } from './kernels/index.js';

const TOL = 1e-4;
/** The broadcast batch shape of a matMul of operands with these shapes. */
const y0Batch = (as: number[], bs: number[]): number[] => tf.broadcast_util.assertAndGetBroadcastShape(as.slice(0, -2), bs.slice(0, -2));
const t = (shape: number[], seed: number): tf.Tensor => tf.tensor(randn(shape, seed), shape);

async function check(label: string, f: () => tf.Tensor | tf.Tensor[]): Promise<void> {
  const cpu = await runOn('cpu', f);
  for (const fast of [true, false]) {
    setFastPaths(fast);
    try {
      const wasm = await runOn('wasm', f);
      const d = maxRelativeDifference(wasm, cpu);
      assert.ok(d <= TOL, `${label} (fast paths ${fast ? 'on' : 'off'}): wasm differs from cpu by ${d.toExponential(2)}`);
    } finally {
      setFastPaths(true);
    }
  }
}

// [a shape, b shape, transposeA, transposeB, whether the fast path applies]
const MATMULS: [number[], number[], boolean, boolean, boolean][] = [
  [[64, 70], [90, 70], false, true, true], // b transposed in memory
  [[8, 300], [200, 300], false, true, true], // few rows: taken as (b a^T)^T
  [[70, 64], [70, 90], true, false, true],
  [[70, 64], [90, 70], true, true, true], // taken as (b a)^T
  [[5, 7], [9, 7], false, true, false], // too small: original kernel
  [[3, 40, 50], [50, 60], false, false, true], // batch against one matrix: flattened
  [[3, 50, 40], [60, 50], true, true, true],
  [[2, 1, 128, 96], [96, 128], false, false, true],
  [[4, 128, 96], [4, 96, 128], false, false, true], // large batch entries: loop of 2-D products
  [[4, 96, 128], [4, 128, 96], true, true, true],
  [[128, 96], [2, 3, 96, 128], false, false, true], // one matrix against a batch
  [[6, 16, 16], [6, 16, 16], false, true, false], // small batch entries: original kernel
];

describe('wasm fast paths vs cpu', () => {
  before(async () => {
    await initBackend('wasm');
  });
  after(() => setFastPaths(true));

  it('replaces BatchMatMul, Conv2DBackpropInput and Tile on wasm and keeps the originals', () => {
    for (const k of ['BatchMatMul', 'Conv2DBackpropInput', 'Tile']) {
      const original = originalKernel(k, 'wasm');
      assert.ok(original, `${k}: original not kept`);
      assert.notEqual(tf.getKernel(k, 'wasm').kernelFunc, original.kernelFunc, `${k}: not overridden`);
    }
  });

  for (const [as, bs, ta, tb, applies] of MATMULS) {
    it(`matMul [${as}] x [${bs}] transposeA=${ta} transposeB=${tb}`, async () => {
      const applied = await runOn('wasm', () => {
        const r = fastMatMul(t(as, 1), t(bs, 2), ta, tb, (a, b) => tf.matMul(a, b));
        return r ? [r] : [];
      });
      assert.equal(applied.length === 1, applies, `fast path ${applies ? 'not ' : ''}taken`);
      await check('matMul', () => {
        const a = t(as, 1);
        const b = t(bs, 2);
        const y = tf.matMul(a, b, ta, tb);
        const r = t(y.shape, 3);
        return [y, ...tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(tf.matMul(p, q, ta, tb), r)))([a, b])];
      });
      if (as.length !== bs.length || as.slice(0, -2).join() !== bs.slice(0, -2).join()) {
        // Broadcast batch: the gradient must equal that of the product with both operands broadcast
        // explicitly first (by adding zeros, whose gradient tfjs-core reduces itself), on cpu.
        const batch = y0Batch(as, bs);
        const ref = await runOn('cpu', () => {
          const a = t(as, 1);
          const b = t(bs, 2);
          const r = t([...batch, ...tf.matMul(a, b, ta, tb).shape.slice(-2)], 3);
          const full = (x: tf.Tensor) => tf.add(x, tf.zeros([...batch, ...x.shape.slice(-2)]));
          return tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(tf.matMul(full(p), full(q), ta, tb), r)))([a, b]);
        });
        const got = await runOn('wasm', () => {
          const a = t(as, 1);
          const b = t(bs, 2);
          const r = t([...batch, ...tf.matMul(a, b, ta, tb).shape.slice(-2)], 3);
          return tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(tf.matMul(p, q, ta, tb), r)))([a, b]);
        });
        assert.ok(maxRelativeDifference(got, ref) <= TOL, `broadcast matMul gradient off by ${maxRelativeDifference(got, ref)}`);
      }
    });
  }

  for (const c of [
    { dy: [2, 8, 6, 4], w: [3, 3, 3, 4], x: [2, 8, 6, 3], s: 1, pad: 'same' as const },
    { dy: [2, 5, 4, 5], w: [3, 3, 3, 5], x: [2, 9, 7, 3], s: 2, pad: 'same' as const },
    { dy: [2, 4, 4, 6], w: [3, 3, 4, 6], x: [2, 8, 8, 4], s: 2, pad: 'same' as const },
    { dy: [1, 3, 4, 3], w: [4, 2, 2, 3], x: [1, 9, 8, 2], s: 2, pad: 'valid' as const },
  ]) {
    it(`conv input gradient dy[${c.dy}] w[${c.w}] -> x[${c.x}] stride ${c.s} ${c.pad}`, async () => {
      await check('conv2dTranspose', () => [
        tf.conv2dTranspose(t(c.dy, 4) as tf.Tensor4D, t(c.w, 5) as tf.Tensor4D, c.x as [number, number, number, number], c.s, c.pad),
      ]);
    });
  }

  type Pad4 = [[number, number], [number, number], [number, number], [number, number]];
  const forms: { x: number[]; w: number[]; s: number; pad: 'same' | 'valid' | Pad4 }[] = [
    { x: [2, 9, 7, 3], w: [3, 3, 3, 5], s: 2, pad: 'same' as const },
    { x: [1, 8, 8, 2], w: [4, 4, 2, 3], s: 2, pad: 'same' as const },
    { x: [2, 10, 11, 2], w: [5, 3, 2, 2], s: 3, pad: 'valid' as const },
    { x: [1, 7, 6, 3], w: [1, 1, 3, 4], s: 2, pad: 'valid' as const },
    { x: [2, 8, 8, 2], w: [3, 3, 2, 3], s: 2, pad: [[0, 0], [0, 1], [0, 1], [0, 0]] }, // the VQGAN downsampling pad
    { x: [1, 5, 6, 2], w: [3, 2, 2, 2], s: 2, pad: [[0, 0], [4, 0], [1, 3], [0, 0]] },
  ];
  for (const c of forms) {
    it(`sub-pixel and dilated forms of the input gradient: x[${c.x}] w[${c.w}] stride ${c.s} pad ${JSON.stringify(c.pad)}`, async () => {
      const x = c.x as [number, number, number, number];
      const dyShape = (await runOn('cpu', () => tf.conv2d(tf.zeros(x) as tf.Tensor4D, tf.zeros(c.w as [number, number, number, number]), c.s, c.pad)))[0].shape as [number, number, number, number];
      const ref = await runOn('cpu', () => tf.conv2dTranspose(t(dyShape, 4) as tf.Tensor4D, t(c.w, 5) as tf.Tensor4D, x, c.s, c.pad));
      for (const b of ['wasm', 'cpu']) {
        const [sub, dil] = await runOn(b, () => [
          conv2dBackpropInputSubPixel(t(dyShape, 4) as tf.Tensor4D, t(c.w, 5) as tf.Tensor4D, x, c.s, c.pad),
          conv2dBackpropInputDilated(t(dyShape, 4) as tf.Tensor4D, t(c.w, 5) as tf.Tensor4D, x, c.s, c.pad),
        ]);
        assert.ok(maxRelativeDifference([sub], ref) <= TOL, `sub-pixel form on ${b}: ${maxRelativeDifference([sub], ref)}`);
        assert.ok(maxRelativeDifference([dil], ref) <= TOL, `dilated form on ${b}: ${maxRelativeDifference([dil], ref)}`);
      }
    });
  }

  for (const [shape, reps] of [
    [[5], [3]],
    [[2, 3], [2, 1]],
    [[2, 3, 4], [1, 3, 2]],
    [[2, 4, 1, 3, 1, 5], [1, 1, 2, 1, 2, 1]], // nearest upsampling x2 by broadcastTo
    [[1, 2, 1, 2, 3, 1], [2, 1, 3, 1, 1, 4]],
  ] as [number[], number[]][]) {
    it(`tile [${shape}] by [${reps}] (values, int32 values, gradient)`, async () => {
      await check('tile', () => {
        const x = t(shape, 50);
        const y = tf.tile(x, reps);
        const r = t(y.shape, 51);
        const xi = tf.cast(tf.mul(x, 10), 'int32');
        return [y, tf.cast(tf.tile(xi, reps), 'float32'), tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.tile(a, reps), r)))(x)];
      });
    });
  }

  it('upsampling by broadcastTo (a rank-6 tile) matches resizeNearestNeighbor on cpu, batch 2', async () => {
    const ref = await runOn('cpu', () => tf.image.resizeNearestNeighbor(t([2, 3, 4, 5], 52) as tf.Tensor4D, [6, 8]));
    const up = await runOn('wasm', () => tf.reshape(tf.broadcastTo(tf.reshape(t([2, 3, 4, 5], 52), [2, 3, 1, 4, 1, 5]), [2, 3, 2, 4, 2, 5]), [2, 6, 8, 5]));
    assert.equal(maxRelativeDifference(up, ref), 0);
  });

  it('conv input gradient with explicit, uneven padding larger than the filter reach', async () => {
    const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [4, 0], [0, 1], [0, 0]];
    await check('explicit pad', () => {
      const x = t([2, 5, 5, 3], 6);
      const w = t([3, 3, 3, 2], 7);
      const y = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, [2, 1], pad);
      return [tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, w as tf.Tensor4D, [2, 1], pad), t(y.shape, 8))))(x)];
    });
  });
});
