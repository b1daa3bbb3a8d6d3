import { test } from 'node:test';
import assert from 'node:assert/strict';
import { squaredNorms, l2Normalize, dotMatrix, squaredEuclidean, cosineSimilarity, topK } from './distance.js';
import { rand } from '../../util/test-utils/rand.js';

/** Plain double-precision definitions, for comparison. */
function naive(a: Float32Array, b: Float32Array, dim: number) {
  const n = a.length / dim, m = b.length / dim;
  const sq: number[][] = [], cos: number[][] = [];
  for (let i = 0; i < n; i++) {
    sq.push([]); cos.push([]);
    for (let j = 0; j < m; j++) {
      let d2 = 0, ab = 0, aa = 0, bb = 0;
      for (let d = 0; d < dim; d++) {
        const x = a[i * dim + d], y = b[j * dim + d];
        d2 += (x - y) ** 2; ab += x * y; aa += x * x; bb += y * y;
      }
      sq[i].push(d2); cos[i].push(ab / Math.sqrt(aa * bb));
    }
  }
  return { sq, cos };
}

test('squared Euclidean, dot and cosine match their definitions (odd sizes, n not a multiple of 4)', () => {
  const dim = 13, a = rand(7 * dim, 1), b = rand(11 * dim, 2);
  const ref = naive(a, b, dim);
  const sq = squaredEuclidean(a, b, dim);
  const cos = cosineSimilarity(a, b, dim);
  const dot = dotMatrix(a, b, dim);
  for (let i = 0; i < 7; i++) for (let j = 0; j < 11; j++) {
    assert.ok(Math.abs(sq[i * 11 + j] - ref.sq[i][j]) < 1e-5);
    assert.ok(Math.abs(cos[i * 11 + j] - ref.cos[i][j]) < 1e-5);
    let s = 0;
    for (let d = 0; d < dim; d++) s += a[i * dim + d] * b[j * dim + d];
    assert.ok(Math.abs(dot[i * 11 + j] - s) < 1e-6);
  }
  const nrm = squaredNorms(l2Normalize(a, dim), dim);
  for (const v of nrm) assert.ok(Math.abs(v - 1) < 1e-6);
});

test('topK: nearest first, agrees with sorting every distance; cosine is largest first', () => {
  const dim = 24, n = 9, m = 301, k = 5;
  const q = rand(n * dim, 3), c = rand(m * dim, 4);
  const ref = naive(q, c, dim);
  const e = topK(q, c, dim, k);
  const cs = topK(q, c, dim, k, { metric: 'cosine', blockRows: 4 });
  for (let i = 0; i < n; i++) {
    const bySq = [...ref.sq[i].keys()].sort((x, y) => ref.sq[i][x] - ref.sq[i][y]).slice(0, k);
    const byCos = [...ref.cos[i].keys()].sort((x, y) => ref.cos[i][y] - ref.cos[i][x]).slice(0, k);
    assert.deepEqual([...e.indices.subarray(i * k, (i + 1) * k)], bySq);
    assert.deepEqual([...cs.indices.subarray(i * k, (i + 1) * k)], byCos);
    for (let r = 0; r < k; r++) {
      assert.ok(Math.abs(e.values[i * k + r] - ref.sq[i][bySq[r]]) < 1e-5);
      assert.ok(Math.abs(cs.values[i * k + r] - ref.cos[i][byCos[r]]) < 1e-5);
    }
  }
});

test('topK: ties keep the lower index first; bad arguments are refused', () => {
  const dim = 2;
  const c = Float32Array.from([1, 0, 0, 1, 1, 0, -1, 0]);
  const r = topK(Float32Array.from([1, 0]), c, dim, 3);
  assert.deepEqual([...r.indices], [0, 2, 1]);
  assert.throws(() => topK(Float32Array.from([1, 0]), c, dim, 5), /exceeds/);
  assert.throws(() => topK(Float32Array.from([1, 0, 1]), c, dim, 1), /multiple of dim/);
  assert.throws(() => topK(Float32Array.from([1, 0]), c, dim, 1, { candidateNorms: new Float32Array(3) }), /candidateNorms/);
});
