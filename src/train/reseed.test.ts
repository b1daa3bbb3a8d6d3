// Dead-code re-seeding through the projector: dead codes land on encoder outputs, live codes stay put.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../network/rng.js';
import { choleskySolveInPlace, reseedDeadCodes } from './reseed.js';

function codes(w: Float32Array, b: Float32Array, e: Float32Array, dim: number): Float32Array {
  const n = e.length / dim;
  const out = new Float32Array(n * dim);
  for (let j = 0; j < n; j++) for (let o = 0; o < dim; o++) {
    let s = b[o];
    for (let i = 0; i < dim; i++) s += e[j * dim + i] * w[i * dim + o];
    out[j * dim + o] = s;
  }
  return out;
}

function random(n: number, rng: Rng, scale = 1, offset = 0): Float32Array {
  return Float32Array.from({ length: n }, () => offset + scale * rng.normal());
}

test('cholesky solve: G X = R for a random positive definite G', () => {
  const rng = new Rng(3);
  const s = 7;
  const a = random(s * s, rng);
  const g = new Float64Array(s * s);
  for (let i = 0; i < s; i++) for (let j = 0; j < s; j++) { let v = i === j ? 0.5 : 0; for (let k = 0; k < s; k++) v += a[i * s + k] * a[j * s + k]; g[i * s + j] = v; }
  const x = Float64Array.from(random(s * 3, rng));
  const r = new Float64Array(s * 3);
  for (let i = 0; i < s; i++) for (let c = 0; c < 3; c++) for (let k = 0; k < s; k++) r[i * 3 + c] += g[i * s + k] * x[k * 3 + c];
  choleskySolveInPlace(Float64Array.from(g), r, s, 3);
  for (let i = 0; i < x.length; i++) assert.ok(Math.abs(r[i] - x[i]) < 1e-8, `x[${i}] ${r[i]} vs ${x[i]}`);
});

test('re-seeding: every dead code lands on a distinct encoder output, live codes do not move (rows <= width)', () => {
  const rng = new Rng(11);
  const dim = 24;
  const n = 12;
  // Strongly correlated rows (a common component, as CLIP text embeddings have): the case where the
  // projector's shared updates collapse the codes.
  const common = random(dim, rng);
  const e = new Float32Array(n * dim);
  for (let j = 0; j < n; j++) for (let i = 0; i < dim; i++) e[j * dim + i] = common[i] + 0.2 * rng.normal();
  const w = random(dim * dim, rng, dim ** -0.5);
  const b = random(dim, rng, 0.1);
  const z = random(40 * dim, rng);
  const usage = new Float64Array(n);
  usage[2] = 5;
  usage[7] = 1;
  const before = codes(w, b, e, dim);
  const r = reseedDeadCodes(w, b, e, usage, z, dim, () => rng.uniform());
  assert.deepEqual(r, { reseeded: 10, dead: 10, kept: 2 });
  const after = codes(w, b, e, dim);
  const targets = new Set<number>();
  for (let j = 0; j < n; j++) {
    const row = after.subarray(j * dim, (j + 1) * dim);
    if (usage[j] > 0) {
      for (let o = 0; o < dim; o++) assert.ok(Math.abs(row[o] - before[j * dim + o]) < 1e-3, `live code ${j} moved`);
      continue;
    }
    // The nearest encoder output is (almost exactly) the code itself.
    let best = -1;
    let bestD = Infinity;
    for (let m = 0; m < 40; m++) {
      let d = 0;
      for (let o = 0; o < dim; o++) d += (row[o] - z[m * dim + o]) ** 2;
      if (d < bestD) { bestD = d; best = m; }
    }
    assert.ok(bestD < 1e-4, `dead code ${j} is ${bestD} from the nearest encoder output`);
    targets.add(best);
  }
  assert.equal(targets.size, 10, 'distinct targets');
});

test('re-seeding: nothing dead, nothing changes; more rows than the width are handled in part', () => {
  const rng = new Rng(5);
  const dim = 8;
  const e = random(20 * dim, rng);
  const w = random(dim * dim, rng);
  const b = random(dim, rng);
  const w0 = w.slice();
  assert.deepEqual(reseedDeadCodes(w, b, e, new Float64Array(20).fill(1), random(5 * dim, rng), dim, () => rng.uniform()), { reseeded: 0, dead: 0, kept: 20 });
  assert.deepEqual(w, w0);
  // 20 rows in 8 dimensions: no room to pin any row (cap = dim - 8 = 0) -> nothing is moved, no failure.
  const usage = new Float64Array(20);
  usage[0] = 1;
  const r = reseedDeadCodes(w, b, e, usage, random(5 * dim, rng), dim, () => rng.uniform());
  assert.equal(r.reseeded, 0);
});

test('k-means step: live codes move to the mean of their encoder outputs (normalised for cosine codes)', () => {
  const rng = new Rng(21);
  const dim = 16;
  const n = 6;
  const e = random(n * dim, rng);
  const w = random(dim * dim, rng, dim ** -0.5);
  const b = random(dim, rng, 0.1);
  const usage = Float64Array.from([3, 0, 2, 1, 4, 5]);
  const means = random(n * dim, rng);
  for (const unit of [false, true]) {
    const w2 = w.slice();
    reseedDeadCodes(w2, b, e, usage, random(10 * dim, rng), dim, () => rng.uniform(), { means, unit });
    const after = codes(w2, b, e, dim);
    for (const j of [0, 2, 3, 4, 5]) {
      let norm = 0;
      for (let o = 0; o < dim; o++) norm += means[j * dim + o] ** 2;
      const scale = unit ? Math.sqrt(norm) : usage[j];
      for (let o = 0; o < dim; o++) assert.ok(Math.abs(after[j * dim + o] - means[j * dim + o] / scale) < 1e-3, `code ${j}`);
    }
  }
});

test('re-seeding policy: codes chosen fewer than minUsage times are dead too', () => {
  const rng = new Rng(31);
  const dim = 16;
  const n = 6;
  const e = random(n * dim, rng);
  const w = random(dim * dim, rng, dim ** -0.5);
  const b = random(dim, rng, 0.1);
  const usage = Float64Array.from([9, 1, 0, 2, 5, 3]);
  const before = codes(w, b, e, dim);
  const r = reseedDeadCodes(w, b, e, usage, random(20 * dim, rng), dim, () => rng.uniform(), { minUsage: 3 });
  assert.deepEqual(r, { reseeded: 3, dead: 3, kept: 3 });
  const after = codes(w, b, e, dim);
  for (const j of [0, 4, 5]) for (let o = 0; o < dim; o++) assert.ok(Math.abs(after[j * dim + o] - before[j * dim + o]) < 1e-3, `live code ${j} moved`);
  for (const j of [1, 2, 3]) {
    let moved = 0;
    for (let o = 0; o < dim; o++) moved += Math.abs(after[j * dim + o] - before[j * dim + o]);
    assert.ok(moved > 1e-2, `rarely used code ${j} was not re-seeded`);
  }
});

test('re-seeding policy: `far` targets (k-means++) go to the outputs no live code covers, one per cluster', () => {
  const rng = new Rng(41);
  const dim = 16;
  const n = 8;
  const e = random(n * dim, rng);
  const w = random(dim * dim, rng, dim ** -0.5);
  const b = random(dim, rng, 0.1);
  const usage = Float64Array.from([4, 4, 0, 0, 0, 0, 0, 0]);
  const live = codes(w, b, e, dim);
  // 60 outputs within 0.01 of the two live codes, and 3 tight clusters of 4 outputs each far from both.
  const far = [0, 1, 2].map(() => random(dim, rng, 1, 5));
  const z = new Float32Array((60 + 12) * dim);
  for (let m = 0; m < 60; m++) for (let o = 0; o < dim; o++) z[m * dim + o] = live[(m % 2) * dim + o] + 0.01 * rng.normal();
  for (let m = 0; m < 12; m++) for (let o = 0; o < dim; o++) z[(60 + m) * dim + o] = far[m % 3][o] + 0.01 * rng.normal();
  for (const targets of ['far', 'uniform'] as const) {
    const w2 = w.slice();
    const r = reseedDeadCodes(w2, b, e, usage, z, dim, () => rng.uniform(), { targets });
    assert.equal(r.dead, 6);
    const after = codes(w2, b, e, dim);
    // Which cluster (0, 1: the live codes' ones; 2..4: the far ones) each re-seeded code landed in.
    const clusters = [2, 3, 4, 5, 6, 7].map((j) => {
      const d = [live.subarray(0, dim), live.subarray(dim, 2 * dim), ...far].map((c) => {
        let s = 0;
        for (let o = 0; o < dim; o++) s += (after[j * dim + o] - c[o]) ** 2;
        return s;
      });
      return d.indexOf(Math.min(...d));
    });
    const farClusters = new Set(clusters.filter((c) => c >= 2));
    if (targets === 'far') {
      // The first three draws cover the three uncovered clusters; the rest are spread over what is left.
      assert.equal(farClusters.size, 3, `far targets: clusters ${clusters}`);
      assert.equal(r.reseeded, 6);
    } else {
      // Uniform draws mostly land next to the live codes (60 of the 72 outputs).
      assert.ok(clusters.filter((c) => c < 2).length >= 2, `uniform targets: clusters ${clusters}`);
    }
  }
});

test('re-seeding policy: `split` targets halve the busiest live cluster along its principal direction', () => {
  const rng = new Rng(51);
  const dim = 16;
  const n = 4;
  const e = random(n * dim, rng);
  const w = random(dim * dim, rng, dim ** -0.5);
  const b = random(dim, rng, 0.1);
  const usage = Float64Array.from([50, 0, 3, 0]);
  const live = codes(w, b, e, dim);
  // Code 0's cluster: 40 outputs spread along one axis (two lobes at +-1 along `axis`, small noise); code 2's: 3 tight outputs.
  const axis = new Float32Array(dim);
  axis[3] = 1;
  const z = new Float32Array(43 * dim);
  for (let m = 0; m < 40; m++) for (let o = 0; o < dim; o++) z[m * dim + o] = live[o] + (m % 2 ? 1 : -1) * axis[o] + 0.02 * rng.normal();
  for (let m = 40; m < 43; m++) for (let o = 0; o < dim; o++) z[m * dim + o] = live[2 * dim + o] + 0.001 * rng.normal();
  const r = reseedDeadCodes(w, b, e, usage, z, dim, () => rng.uniform(), { targets: 'split' });
  assert.deepEqual(r, { reseeded: 2, dead: 2, kept: 2 });
  const after = codes(w, b, e, dim);
  // The first split puts a code on the mean of one lobe (live code 0 +- the axis: the 20 outputs of that side);
  // the second splits a lobe (the biggest distortion left) across the axis, so the codes differ.
  const along = [1, 3].map((j) => after[j * dim + 3] - live[3]);
  assert.ok(along.some((a) => Math.abs(Math.abs(a) - 1) < 0.05), `codes 1, 3: ${along} along the principal axis`);
  for (const j of [1, 3]) for (let o = 0; o < dim; o++) if (o !== 3) assert.ok(Math.abs(after[j * dim + o] - live[o]) < 0.1, `code ${j} off the axis at ${o}`);
  let gap = 0;
  for (let o = 0; o < dim; o++) gap += (after[dim + o] - after[3 * dim + o]) ** 2;
  assert.ok(gap > 1e-4, 'the two re-seeded codes coincide');
});
