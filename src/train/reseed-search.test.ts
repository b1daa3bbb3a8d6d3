// Re-seeding's nearest-centre search on onnxruntime (src/train/inference.ts CentreSearch: float32 GEMM + TopK
// candidates, re-ranked by rerankNearestCentres) gives exactly the JavaScript scan's answer, ties and
// near ties included, so a run re-seeds bit for bit as with the scan.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../network/rng.js';
import { CentreSearch } from './inference.js';
import { nearestCentres, rerankNearestCentres, reseedDeadCodes, reseedDeadCodesWith } from './reseed.js';

function unitRows(n: number, dim: number, rng: Rng): Float32Array {
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let o = 0; o < dim; o++) s += (out[i * dim + o] = rng.normal()) ** 2;
    for (let o = 0; o < dim; o++) out[i * dim + o] /= Math.sqrt(s);
  }
  return out;
}

/** Centres with exact duplicates and near duplicates, and outputs on centres and between two of them. */
function hardCase(dim: number, rng: Rng): { centres: Float32Array; z: Float32Array } {
  const centres = unitRows(40, dim, rng);
  centres.copyWithin(17 * dim, 5 * dim, 6 * dim); // centre 17 = centre 5: ties go to 5
  for (let o = 0; o < dim; o++) centres[23 * dim + o] = centres[9 * dim + o] + (o === 0 ? 1e-7 : 0); // nearer than float32 resolves
  const z = unitRows(300, dim, rng);
  for (const [i, c] of [[0, 5], [1, 9], [2, 23], [3, 17]]) z.set(centres.subarray(c * dim, (c + 1) * dim), i * dim);
  for (let o = 0; o < dim; o++) z[4 * dim + o] = (centres[2 * dim + o] + centres[3 * dim + o]) / 2; // equidistant from 2 and 3
  return { centres, z };
}

test('centre search on onnxruntime: the JavaScript scan\'s indices and distances, ties and near ties included', async () => {
  const dim = 64;
  const { centres, z } = hardCase(dim, new Rng(5));
  const want = nearestCentres(centres, z, dim);
  assert.equal(want.index[3], 5);
  const search = await CentreSearch.open(dim, { threads: 1 });
  try {
    const got = await search.nearest({ centres, z });
    assert.deepEqual(got.index, want.index);
    assert.deepEqual(got.dist, want.dist);
  } finally {
    await search.close();
  }
});

test('re-rank: candidates without the margin, or covering every centre, fall back to the full scan', () => {
  const dim = 16;
  const rng = new Rng(8);
  const centres = unitRows(12, dim, rng);
  const z = unitRows(20, dim, rng);
  const want = nearestCentres(centres, z, dim);
  // Wrong candidates whose approximate distances are all equal: no margin, every row is scanned in full.
  const k = 3;
  const got = rerankNearestCentres(centres, z, dim, new Int32Array(20 * k), new Float32Array(20 * k), k);
  assert.deepEqual(got, want);
  assert.deepEqual(rerankNearestCentres(centres, z, dim, new Int32Array(0), new Float32Array(0), 12), want);
});

test('re-seeding with the onnxruntime search: the same projector, bit for bit, as with the JavaScript scan', async () => {
  const dim = 48;
  const rng = new Rng(21);
  const n = 40;
  const e = unitRows(n, dim, rng);
  const w0 = Float32Array.from({ length: dim * dim }, () => 0.1 * rng.normal());
  const b = Float32Array.from({ length: dim }, () => 0.01 * rng.normal());
  const z = unitRows(200, dim, rng);
  const usage = Float64Array.from({ length: n }, (_, j) => (j % 3 === 0 ? 0 : 5 + j));
  const means = new Float32Array(n * dim);
  for (let j = 0; j < n; j++) for (let o = 0; o < dim; o++) means[j * dim + o] = usage[j] * z[(j % 200) * dim + o];
  const search = await CentreSearch.open(dim, { threads: 1 });
  try {
    for (const targets of ['split', 'far'] as const) {
      const opts = { means, unit: true, minUsage: 3, targets };
      const draws = (seed: number) => { const r = new Rng(seed); return () => r.uniform(); };
      const wJs = w0.slice();
      const rJs = reseedDeadCodes(wJs, b, e, usage, z, dim, draws(4), opts);
      const wOrt = w0.slice();
      const rOrt = await reseedDeadCodesWith((q) => search.nearest(q), wOrt, b, e, usage, z, dim, draws(4), opts);
      assert.deepEqual(rOrt, rJs);
      assert.ok(rJs.reseeded > 0, targets);
      assert.deepEqual(wOrt, wJs, targets);
    }
  } finally {
    await search.close();
  }
});
