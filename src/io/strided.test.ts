import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cStrides, isContiguous, stridedToContiguous } from './strided.js';

/** Element-by-element reference: out[i] = src[offset + sum(idx_d * stride_d)] in C order. */
function naive(src: Uint8Array, size: number, shape: number[], strides: number[], offset: number): Uint8Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Uint8Array(n * size);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let at = offset;
    for (let d = shape.length - 1; d >= 0; d--) {
      at += (rem % shape[d]) * strides[d];
      rem = Math.floor(rem / shape[d]);
    }
    out.set(src.subarray(at * size, at * size + size), i * size);
  }
  return out;
}

test('strided views (permutations, slices, offsets; 1/2/4/8-byte elements) materialise in C order', () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let trial = 0; trial < 60; trial++) {
    const rank = 1 + Math.floor(rnd() * 4);
    const base = Array.from({ length: rank }, () => 1 + Math.floor(rnd() * 40));
    const size = [1, 2, 4, 8][trial % 4];
    const total = base.reduce((a, b) => a * b, 1) + 5;
    const src = Uint8Array.from({ length: total * size }, () => Math.floor(rnd() * 256));
    // A random permutation of a C-order block, optionally sliced and offset.
    const perm = base.map((_, i) => i).sort(() => rnd() - 0.5);
    const cs = cStrides(base);
    const shape = perm.map((p) => Math.max(1, base[p] - (rnd() < 0.3 ? 1 : 0)));
    const strides = perm.map((p) => cs[p]);
    const offset = Math.floor(rnd() * 5);
    const got = stridedToContiguous(src, size, shape, strides, offset);
    assert.deepEqual(got, naive(src, size, shape, strides, offset), `shape [${shape}] strides [${strides}] size ${size}`);
  }
  assert.ok(isContiguous([3, 1, 4], [4, 99, 1]));
  assert.ok(!isContiguous([4, 3], [1, 4]));
});
