// FID, PSNR, PSNR-Y and SSIM against the numpy/scipy reference values of ../shared/eval (pytorch-fid,
// pyiqa, piq definitions), plus the properties the commands rely on (merging statistics, the eigen solver).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readSafetensors } from '../io/files.js';
import { skipUnless, sharedPath } from '../util/test-utils/shared.js';
import { rand } from '../util/test-utils/rand.js';
import { frechetDistance, frechetDetail, FeatureStats } from './fid.js';
import { psnr, psnrY, ssim } from './image-metrics.js';
import { symmetricEigen, matmul, pivotedCholesky } from './linalg.js';

const REF = sharedPath('eval/metrics_reference.safetensors');
const REF_JSON = sharedPath('eval/metrics_reference.json');
const skip = skipUnless([REF, REF_JSON], 'the metric reference values');

const rel = (a: number, b: number): number => Math.abs(a - b) / Math.abs(b);

test('FID equals pytorch-fid (numpy/scipy) on the full-rank and rank-deficient cases', { skip }, () => {
  const { tensors } = readSafetensors(REF);
  const expected = JSON.parse(readFileSync(REF_JSON, 'utf8')) as Record<string, number>;
  for (const c of ['full_rank', 'rank_deficient']) {
    const got = frechetDistance(tensors.get(`fid/${c}/a`)!, tensors.get(`fid/${c}/b`)!);
    assert.ok(rel(got, expected[`fid/${c}`]) < 1e-6, `${c}: ${got} vs ${expected[`fid/${c}`]}`);
  }
});

test('FID with the 1e-6·I offset equals scipy\'s retry path (sqrtm((Σ1+εI)(Σ2+εI)), traces without ε)', { skip }, () => {
  const { tensors } = readSafetensors(REF);
  const a = FeatureStats.fromRows(tensors.get('fid/rank_deficient/a')!);
  const b = FeatureStats.fromRows(tensors.get('fid/rank_deficient/b')!);
  // scipy 1.17.1: np.trace(linalg.sqrtm((s1 + 1e-6 I) @ (s2 + 1e-6 I))).real on these inputs.
  const det = frechetDetail(a, b, { offset: 1e-6 });
  assert.ok(rel(det.traceSqrt, 104.63381441677244) < 1e-6, `${det.traceSqrt}`);
  // Unforced, the product's square root is finite, so pytorch-fid does not retry; neither do we.
  assert.equal(frechetDetail(a, b).retried, false);
});

test('PSNR (RGB and BT.601 Y) and SSIM equal pyiqa / piq', { skip }, () => {
  const { tensors } = readSafetensors(REF);
  const expected = JSON.parse(readFileSync(REF_JSON, 'utf8')) as Record<string, number>;
  for (const size of [64, 128]) {
    const x = tensors.get(`img/${size}/x`)!;
    const y = tensors.get(`img/${size}/y`)!;
    const cases: [string, number][] = [['psnr_rgb', psnr(x, y)], ['psnr_y', psnrY(x, y)], ['ssim', ssim(x, y)]];
    for (const [k, v] of cases) assert.ok(rel(v, expected[`${k}/${size}`]) < 1e-4, `${k}/${size}: ${v} vs ${expected[`${k}/${size}`]}`);
    // The reference defines PSNR without pyiqa's eps; the difference is far below the tolerance.
    assert.ok(rel(psnr(x, y, { eps: 0 }), expected[`psnr_rgb/${size}`]) < 1e-9);
  }
});

test('identical images: PSNR 80 dB (pyiqa eps), SSIM 1', () => {
  const data = Float32Array.from(rand(3 * 20 * 24, 3), (v) => v + 0.5);
  const img = { shape: [3, 20, 24], data };
  assert.ok(Math.abs(psnr(img, img) - 80) < 1e-9);
  assert.ok(Math.abs(psnrY(img, img) - 80) < 1e-9);
  assert.ok(Math.abs(ssim(img, img) - 1) < 1e-12);
});

test('SSIM downsamples by round(min side / 256) as piq: a 2x-upsampled pair scores as the original pair', () => {
  const h = 200, w = 210;
  const x = Float32Array.from(rand(3 * h * w, 5), (v) => v + 0.5);
  const noise = rand(3 * h * w, 9);
  const y = Float32Array.from(x, (v, i) => Math.min(1, Math.max(0, v + 0.2 * noise[i])));
  // Each pixel becomes a 2x2 block; 400 px / 256 rounds to 2, and piq's 2x2 average pool undoes it.
  const up = (src: Float32Array): Float32Array => {
    const out = new Float32Array(3 * 4 * h * w);
    for (let c = 0; c < 3; c++) for (let i = 0; i < 2 * h; i++) for (let j = 0; j < 2 * w; j++) out[(c * 2 * h + i) * 2 * w + j] = src[(c * h + (i >> 1)) * w + (j >> 1)];
    return out;
  };
  const shape = [3, 2 * h, 2 * w];
  const base = ssim({ shape: [3, h, w], data: x }, { shape: [3, h, w], data: y });
  const big = ssim({ shape, data: up(x) }, { shape, data: up(y) });
  assert.ok(Math.abs(big - base) < 1e-12, `${big} vs ${base}`);
  const noDown = ssim({ shape, data: up(x) }, { shape, data: up(y) }, { downsample: false });
  assert.ok(Math.abs(noDown - base) > 1e-3);
});

test('feature statistics: batches, merges and one pass agree; covariance is np.cov (ddof 1)', () => {
  const n = 37, d = 5;
  const rows = Float64Array.from(rand(n * d, 11), (v, i) => v * (1 + (i % d)) + (i % d));
  const whole = new FeatureStats(d).add(rows, n);
  const a = new FeatureStats(d).add(rows.subarray(0, 10 * d), 10).add(rows.subarray(10 * d, 20 * d), 10);
  const b = new FeatureStats(d).add(rows.subarray(20 * d), n - 20);
  const merged = new FeatureStats(d).merge(a).merge(b);
  const cov = whole.covariance();
  // Textbook two-pass covariance.
  const mean = new Float64Array(d);
  for (let r = 0; r < n; r++) for (let j = 0; j < d; j++) mean[j] += rows[r * d + j] / n;
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let r = 0; r < n; r++) s += (rows[r * d + i] - mean[i]) * (rows[r * d + j] - mean[j]);
      assert.ok(Math.abs(cov[i * d + j] - s / (n - 1)) < 1e-12);
      assert.ok(Math.abs(merged.covariance()[i * d + j] - s / (n - 1)) < 1e-12);
    }
  }
  const back = FeatureStats.fromTensors(merged.toTensors('x.'), 'x.');
  assert.deepEqual(Array.from(back.m2), Array.from(merged.m2));
  assert.equal(back.n, n);
});

test('FID refuses a set of fewer than 2 feature rows', () => {
  const one = new FeatureStats(3).add([1, 2, 3], 1);
  const two = new FeatureStats(3).add([1, 2, 3, 4, 5, 6], 2);
  assert.throws(() => frechetDetail(one, two), /at least 2 images/);
});

test('symmetric eigendecomposition reconstructs the matrix (Vᵀ diag(λ) V), values ascending', () => {
  const n = 23;
  const r = Float64Array.from(rand(n * n, 4));
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] = r[i * n + j] + r[j * n + i];
  const { values, vectors } = symmetricEigen(a, n);
  for (let i = 1; i < n; i++) assert.ok(values[i] >= values[i - 1]);
  const scaled = Float64Array.from(vectors!, (v, idx) => v * values[Math.floor(idx / n)]);
  const vt = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) vt[j * n + i] = vectors![i * n + j];
  const back = matmul(vt, scaled, n, n, n);
  for (let i = 0; i < n * n; i++) assert.ok(Math.abs(back[i] - a[i]) < 1e-12, `${i}`);
  const only = symmetricEigen(a, n, { vectors: false }).values;
  for (let i = 0; i < n; i++) assert.ok(Math.abs(only[i] - values[i]) < 1e-12);
});

test('pivoted Cholesky: a rank-3 7x7 matrix gives 3 columns and L·Lᵀ = A', () => {
  const n = 7, k = 3;
  const g = Float64Array.from(rand(n * k, 21));
  const a = matmul(g, Float64Array.from({ length: k * n }, (_, i) => g[(i % n) * k + Math.floor(i / n)]), n, k, n);
  const { L, rank } = pivotedCholesky(a, n);
  assert.equal(rank, k);
  const lt = Float64Array.from({ length: rank * n }, (_, i) => L[(i % n) * rank + Math.floor(i / n)]);
  const back = matmul(L, lt, n, rank, n);
  for (let i = 0; i < n * n; i++) assert.ok(Math.abs(back[i] - a[i]) < 1e-12);
});
