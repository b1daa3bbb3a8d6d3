// The kernels registered for wasm, checked value by value (outputs and gradients) against the pure-JS
// cpu backend, the reference. Each case would fail if the kernel were wrong or missing on wasm.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from './backend.js';
import { maxRelativeDifference, randn, runOn } from './compare.js';
import { conv2dBackpropFilterIm2col } from './kernels/conv2d_backprop_filter.js';
import { registeredKernels } from './kernels/index.js';
import { tileGradient } from './kernels/tile_grad.js';

const TOL = 1e-4;

/** Asserts that `f` gives the same outputs on wasm and cpu, to TOL relative to the cpu values. */
async function sameOnWasmAndCpu(label: string, f: () => tf.Tensor | tf.Tensor[]): Promise<void> {
  const wasm = await runOn('wasm', f);
  const cpu = await runOn('cpu', f);
  const d = maxRelativeDifference(wasm, cpu);
  assert.ok(d <= TOL, `${label}: wasm differs from cpu by ${d.toExponential(2)} (relative)`);
}

const t = (shape: number[], seed: number): tf.Tensor => tf.tensor(randn(shape, seed), shape);

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
const CONVS: { x: number[]; w: number[]; s: number | [number, number]; pad: Pad }[] = [
  { x: [2, 8, 6, 3], w: [3, 3, 3, 4], s: 1, pad: 'same' },
  { x: [2, 9, 7, 3], w: [3, 3, 3, 5], s: 2, pad: 'same' },
  { x: [2, 8, 8, 4], w: [3, 3, 4, 6], s: 2, pad: 'same' },
  { x: [1, 9, 8, 2], w: [4, 2, 2, 3], s: 2, pad: 'valid' },
  { x: [3, 7, 10, 2], w: [3, 3, 2, 2], s: [2, 1], pad: [[0, 0], [2, 1], [0, 3], [0, 0]] },
  { x: [2, 6, 5, 8], w: [1, 1, 8, 4], s: 1, pad: 'valid' },
  { x: [2, 5, 5, 3], w: [3, 3, 3, 2], s: 1, pad: [[0, 0], [4, 0], [0, 1], [0, 0]] },
];

describe('engine kernels on wasm vs cpu', () => {
  before(async () => {
    await initBackend('wasm');
    await tf.setBackend('cpu'); // create the cpu backend once
    await initBackend('wasm');
  });

  it('registers the kernels wasm lacks', () => {
    const { added } = registeredKernels('wasm');
    for (const k of ['Conv2DBackpropFilter', 'UnsortedSegmentSum', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput']) {
      assert.ok(added.includes(k), `${k} not registered for wasm (added: ${added.join(', ')})`);
      assert.ok(tf.getKernel(k, 'wasm'), `${k} missing from the registry`);
    }
  });

  for (const c of CONVS) {
    it(`conv2d gradients x[${c.x}] w[${c.w}] stride ${JSON.stringify(c.s)} pad ${JSON.stringify(c.pad)}`, async () => {
      await sameOnWasmAndCpu('conv2d', () => {
        const x = t(c.x, 1);
        const w = t(c.w, 2);
        const y = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.s, c.pad);
        const r = t(y.shape, 3); // a random upstream gradient, so every dy entry matters
        const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.pad), r)))([x, w]);
        return [y, ...g];
      });
    });
  }

  it('conv2d filter gradient is the same when the im2col matrix is split into batch chunks', async () => {
    await sameOnWasmAndCpu('chunked im2col', () => {
      const x = t([5, 7, 6, 3], 4) as tf.Tensor4D;
      const dy = t([5, 4, 3, 4], 5) as tf.Tensor4D;
      // 4*3*27 = 324 elements per batch entry: 400 forces chunks of one entry.
      return [conv2dBackpropFilterIm2col(x, dy, [3, 3, 3, 4], 2, 'same', undefined, 400)];
    });
  });

  it('fused conv2d (bias + relu) gradients', async () => {
    await sameOnWasmAndCpu('fused conv2d', () => {
      const x = t([2, 8, 8, 3], 6);
      const w = t([3, 3, 3, 4], 7);
      const b = t([4], 8);
      const r = t([2, 4, 4, 4], 9);
      return tf.grads((a: tf.Tensor, f: tf.Tensor, bias: tf.Tensor) =>
        tf.sum(tf.mul(tf.fused.conv2d({ x: a as tf.Tensor4D, filter: f as tf.Tensor4D, strides: 2, pad: 'same', bias, activation: 'relu' }), r)),
      )([x, w, b]);
    });
  });

  it('UnsortedSegmentSum: repeated and negative ids', async () => {
    await sameOnWasmAndCpu('unsortedSegmentSum', () => [
      tf.unsortedSegmentSum(t([7, 3], 10), tf.tensor1d([0, 2, -1, 2, 4, 0, 4], 'int32'), 6),
      tf.unsortedSegmentSum(t([3, 2], 12), tf.tensor1d([-1, -1, -1], 'int32'), 2),
    ]);
  });

  it('UnsortedSegmentSum with rank-2 ids on wasm equals the flattened rank-1 form on cpu', async () => {
    const ids = [[1, 1, 0], [2, -3, 1]];
    const wasm = await runOn('wasm', () => tf.unsortedSegmentSum(t([2, 3, 4], 11), tf.tensor2d(ids, [2, 3], 'int32') as unknown as tf.Tensor1D, 3));
    const cpu = await runOn('cpu', () => tf.unsortedSegmentSum(tf.reshape(t([2, 3, 4], 11), [6, 4]), tf.tensor1d(ids.flat(), 'int32'), 3));
    assert.ok(maxRelativeDifference(wasm, cpu) <= TOL);
  });

  it('UnsortedSegmentSum rejects an id beyond numSegments', async () => {
    await initBackend('wasm');
    assert.throws(() => tf.tidy(() => tf.unsortedSegmentSum(t([3, 2], 1), tf.tensor1d([0, 5, 1], 'int32'), 3)), /segment id 5 .*numSegments 3/);
  });

  it('gather gradients (axis 0 and 1, repeated indices)', async () => {
    await sameOnWasmAndCpu('gather', () => {
      const x = t([10, 4], 13);
      const i0 = tf.tensor1d([0, 3, 3, 9, 1, 0], 'int32');
      const i1 = tf.tensor1d([2, 2, 0], 'int32');
      const r0 = t([6, 4], 14);
      const r1 = t([10, 3], 15);
      return tf.grads((a: tf.Tensor) => tf.add(tf.sum(tf.mul(tf.gather(a, i0), r0)), tf.sum(tf.mul(tf.gather(a, i1, 1), r1))))([x]);
    });
  });

  for (const c of [
    { x: [2, 8, 6, 3], f: [3, 3, 3, 2], s: 1, pad: 'same' as const },
    { x: [2, 9, 7, 3], f: [3, 3, 3, 1], s: 2, pad: 'same' as const },
    { x: [1, 9, 8, 2], f: [2, 2, 2, 3], s: 2, pad: 'valid' as const },
  ]) {
    it(`depthwise conv2d gradients x[${c.x}] f[${c.f}] stride ${c.s} ${c.pad}`, async () => {
      await sameOnWasmAndCpu('depthwiseConv2d', () => {
        const x = t(c.x, 16);
        const w = t(c.f, 17);
        const y = tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.s, c.pad);
        const r = t(y.shape, 18);
        return tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.pad), r)))([x, w]);
      });
    });
  }

  it('a decoder-like block trains on wasm as on cpu (groupNorm from primitives, softmax attention, upsampling, pad, activations)', async () => {
    await sameOnWasmAndCpu('block', () => {
      const x = t([2, 6, 4, 8], 20);
      const w1 = t([3, 3, 8, 8], 21);
      const wq = t([8, 8], 22);
      const w2 = t([3, 3, 8, 4], 23);
      const f = (inp: tf.Tensor, a: tf.Tensor, q: tf.Tensor, b: tf.Tensor): tf.Scalar => {
        // group norm, 2 groups, from reshape/mean/sub/rsqrt
        const g = tf.reshape(inp, [2, 6, 4, 2, 4]);
        const mu = tf.mean(g, [1, 2, 4], true);
        const v = tf.mean(tf.square(tf.sub(g, mu)), [1, 2, 4], true);
        let h = tf.reshape(tf.mul(tf.sub(g, mu), tf.rsqrt(tf.add(v, 1e-6))), [2, 6, 4, 8]);
        h = tf.mul(h, tf.sigmoid(h)); // swish
        h = tf.conv2d(h as tf.Tensor4D, a as tf.Tensor4D, 1, 'same');
        // single-head attention over the 24 positions
        const seq = tf.reshape(h, [2, 24, 8]);
        const qk = tf.matMul(tf.matMul(seq, tf.broadcastTo(q, [2, 8, 8])), seq, false, true);
        const att = tf.matMul(tf.softmax(tf.div(qk, Math.sqrt(8))), seq);
        h = tf.add(h, tf.reshape(att, [2, 6, 4, 8]));
        // nearest upsampling x2 from reshape + broadcast
        h = tf.reshape(tf.broadcastTo(tf.reshape(h, [2, 6, 1, 4, 1, 8]), [2, 6, 2, 4, 2, 8]), [2, 12, 8, 8]);
        h = tf.pad(tf.relu(h), [[0, 0], [1, 1], [1, 1], [0, 0]]);
        h = tf.conv2d(h as tf.Tensor4D, b as tf.Tensor4D, 2, 'valid');
        return tf.add(tf.mean(tf.abs(h)), tf.mean(tf.transpose(h, [0, 3, 1, 2]))) as tf.Scalar;
      };
      const { value, grads } = tf.valueAndGrads(f)([x, w1, wq, w2]);
      return [value, ...grads];
    });
  });

  it('Tile gradient works at rank 6 and matches a direct sum (all backends use it)', async () => {
    await initBackend('wasm');
    const xShape = [2, 3, 1, 2, 1, 2];
    const reps = [1, 1, 2, 1, 3, 1];
    const dyShape = xShape.map((d, i) => d * reps[i]);
    const dyv = randn(dyShape, 30);
    // Reference: every output position adds its dy into the input position it copies.
    const ref = new Float32Array(xShape.reduce((a, b) => a * b, 1));
    const stride = (s: number[]): number[] => s.map((_, i) => s.slice(i + 1).reduce((a, b) => a * b, 1));
    const ds = stride(dyShape);
    const xs = stride(xShape);
    for (let i = 0; i < dyv.length; i++) {
      let xi = 0;
      for (let a = 0; a < dyShape.length; a++) xi += (Math.floor(i / ds[a]) % dyShape[a] % xShape[a]) * xs[a];
      ref[xi] += dyv[i];
    }
    for (const backend of ['wasm', 'cpu']) {
      const [viaGrad, direct] = await runOn(backend, () => {
        const dy = tf.tensor(dyv, dyShape);
        const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.tile(x, reps), dy)))(tf.zeros(xShape));
        return [g, tileGradient(dy, xShape, reps)];
      });
      for (const out of [viaGrad, direct]) {
        assert.deepEqual(out.shape, xShape);
        const d = maxRelativeDifference([out], [{ shape: xShape, values: ref }]);
        assert.ok(d <= 1e-6, `${backend}: tile gradient off by ${d}`);
      }
    }
  });

  it('leaves no tensor behind', async () => {
    await initBackend('wasm');
    const step = (): void => {
      tf.tidy(() => {
        const x = t([2, 9, 7, 3], 40);
        const w = t([3, 3, 3, 5], 41);
        const d = t([3, 3, 3, 1], 42);
        const e = t([12, 5], 43);
        const idx = tf.tensor1d([1, 1, 4, 11], 'int32');
        const p = t([2, 128, 64], 44); // large enough for the loop-of-2-D-products path
        const q = t([2, 128, 64], 45);
        tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, m: tf.Tensor, u: tf.Tensor) =>
          tf.add(
            tf.add(tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')), tf.sum(tf.depthwiseConv2d(a as tf.Tensor4D, c as tf.Tensor4D, 2, 'same'))),
            tf.add(tf.add(tf.sum(tf.gather(m, idx)), tf.sum(tf.matMul(m, m, true, false))), tf.sum(tf.matMul(u, q, false, true))),
          ),
        )([x, w, d, e, p]);
      });
    };
    step(); // warm-up (lazy one-off allocations)
    const before = tf.memory();
    for (let i = 0; i < 3; i++) step();
    const after = tf.memory();
    assert.equal(after.numTensors, before.numTensors, 'tensor count grew');
    assert.equal(after.numDataBuffers, before.numDataBuffers, 'data buffers grew');
    assert.equal(after.numBytes, before.numBytes, 'bytes grew');
  });
});
