// Corruptions against hand-computed values: OpenCV's kernels (fixed tables for k <= 7, the sigma formula
// beyond), reflect-101 borders, albumentations' kernel-size draw, np.rot90, the bottom-right crop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blurKernelSize, bottomRightCrop, corrupt, gaussianBlur, gaussianBlurValues, gaussianKernel, opencvSigma, reflect101, rot90, shiftCrop } from './corruptions.js';
import type { RawImage } from '../../models/clip/types.js';

const gray = (w: number, h: number, f: (x: number, y: number) => number): RawImage => {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.fill(f(x, y), (y * w + x) * 3, (y * w + x) * 3 + 3);
  return { data, width: w, height: h, channels: 3 };
};
const at = (img: RawImage, x: number, y: number, c = 0) => img.data[(y * img.width + x) * img.channels + c];

test('OpenCV sigma: 0.3*((k-1)*0.5-1)+0.8 = 1.1, 1.4, 1.7, 2.0 for k = 5, 7, 9, 11', () => {
  assert.deepEqual([5, 7, 9, 11].map((k) => Number(opencvSigma(k).toFixed(10))), [1.1, 1.4, 1.7, 2.0]);
});

test('Gaussian kernels as cv2.getGaussianKernel(k, 0): fixed tables for k 5/7/9, sigma 2.0 for 11, sum 1', () => {
  assert.deepEqual(gaussianKernel(5), [1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16]);
  assert.deepEqual(gaussianKernel(7), [0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125]);
  // cv2 4.6: getGaussianKernel(9, 0) = [4 13 30 51 60 51 30 13 4] / 256, not the sigma-1.7 Gaussian.
  assert.deepEqual(gaussianKernel(9), [0.015625, 0.05078125, 0.1171875, 0.19921875, 0.234375, 0.19921875, 0.1171875, 0.05078125, 0.015625]);
  // k = 11 (sigma 2.0): w(x) = exp(-x^2 / 8) for x = -5..5, normalised; cv2 4.6 gives the same.
  const w = [-5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5].map((x) => Math.exp(-(x * x) / 8));
  const sum = w.reduce((a, b) => a + b);
  gaussianKernel(11).forEach((v, i) => assert.ok(Math.abs(v - w[i] / sum) < 1e-15));
  const cv11 = [0.008812229292562288, 0.027143577143479373, 0.06511405659938269, 0.12164907301380962, 0.1769983568313557, 0.20056541423882085];
  cv11.forEach((v, i) => assert.ok(Math.abs(gaussianKernel(11)[i] - v) < 1e-15));
  // An explicit sigma uses the formula at any size (cv2.getGaussianKernel(9, 1.7)[0] = 0.014839453814831465).
  assert.ok(Math.abs(gaussianKernel(9, 1.7)[0] - 0.014839453814831465) < 1e-15);
  for (const k of [5, 7, 9, 11]) assert.ok(Math.abs(gaussianKernel(k).reduce((a, b) => a + b) - 1) < 1e-12);
  assert.throws(() => gaussianKernel(6), /odd/);
});

test('blur equals cv2.GaussianBlur(float32 image, (k, k), 0) of OpenCV 4.6, borders included', () => {
  // 8 x 6 image, value (37x + 91y + 53c) mod 256; the reference blurs v / 127.5 - 1 as float32. Rows of
  // channel 0 of cv2's output mapped back by (b + 1) * 127.5, computed with python3-opencv 4.6.0.
  const img = { data: new Uint8Array(8 * 6 * 3), width: 8, height: 6, channels: 3 as const };
  for (let y = 0; y < 6; y++) for (let x = 0; x < 8; x++) for (let c = 0; c < 3; c++) img.data[(y * 8 + x) * 3 + c] = (x * 37 + y * 91 + c * 53) % 256;
  const cv: [number, number, number[]][] = [
    [5, 0, [92.0, 99.875, 120.25, 141.25, 144.25, 127.25, 109.625, 103.5]],
    [7, 5, [132.875, 130.1562, 122.5, 113.4375, 107.5625, 110.625, 118.8437, 122.25]],
    [9, 0, [109.7188, 111.5938, 117.875, 124.0547, 126.4922, 124.3203, 120.0781, 118.6719]],
    [11, 0, [112.5803, 114.1151, 117.3711, 121.1936, 123.2922, 123.1868, 122.0569, 121.2424]],
  ];
  for (const [k, row, want] of cv) {
    const got = gaussianBlurValues(img, k);
    want.forEach((v, x) => assert.ok(Math.abs(got[(row * 8 + x) * 3] - v) < 2e-3, `k ${k} row ${row} x ${x}: ${got[(row * 8 + x) * 3]} vs ${v}`));
  }
});

test('reflect-101 border: gfedcb|abcdefgh|gfedcba', () => {
  const n = 8;
  assert.deepEqual([-3, -2, -1, 0, 7, 8, 9, 10].map((i) => reflect101(i, n)), [3, 2, 1, 0, 7, 6, 5, 4]);
});

test('blur of a single bright column at the border, by hand (k = 5, reflect-101)', () => {
  // Column x = 0 is 160, the rest 0. Horizontal pass with [1 4 6 4 1]/16 and reflect-101: at x = 0 the
  // taps read columns 2 1 0 1 2 -> 6/16 * 160 = 60; at x = 1: taps 1 0 1 2 3 -> 4/16 * 160 = 40;
  // at x = 2: taps 0 1 2 3 4 -> 1/16 * 160 = 10; x = 3: 0. Vertically constant, so unchanged.
  const img = gray(6, 4, (x) => (x === 0 ? 160 : 0));
  const out = gaussianBlur(img, 5);
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((x) => at(out, x, 2)), [60, 40, 10, 0, 0, 0]);
  assert.deepEqual([0, 1, 2, 3].map((y) => at(out, 0, y)), [60, 60, 60, 60]);
  // A constant image is unchanged for every kernel (weights sum to 1, borders reflect).
  for (const k of [5, 7, 9, 11]) assert.ok(gaussianBlur(gray(12, 12, () => 77), k).data.every((v) => v === 77));
});

test('albumentations kernel-size draw: 5 w.p. 1/7, 7/9/11 w.p. 2/7', () => {
  const counts: Record<number, number> = {};
  for (let i = 0; i < 7; i++) {
    const k = blurKernelSize((i + 0.5) / 7);
    counts[k] = (counts[k] ?? 0) + 1;
  }
  assert.deepEqual(counts, { 5: 1, 7: 2, 9: 2, 11: 2 });
});

test('np.rot90: counter-clockwise, out[i][j] = in[j][w-1-i]', () => {
  // 3 wide x 2 high: [[1 2 3] [4 5 6]] -> [[3 6] [2 5] [1 4]]
  const img = gray(3, 2, (x, y) => 1 + x + 3 * y);
  const r = rot90(img);
  assert.equal(r.width, 2);
  assert.equal(r.height, 3);
  assert.deepEqual([0, 1, 2].map((y) => [0, 1].map((x) => at(r, x, y))), [[3, 6], [2, 5], [1, 4]]);
  // Four turns give the image back.
  const sq = gray(4, 4, (x, y) => x * 10 + y);
  assert.deepEqual(rot90(rot90(rot90(rot90(sq)))).data, sq.data);
});

test('shift: bottom-right crop of the short-side resize (zero shift for a square image)', () => {
  const img = gray(5, 3, (x, y) => 10 * y + x);
  const c = bottomRightCrop(img, 2);
  assert.deepEqual([at(c, 0, 0), at(c, 1, 0), at(c, 0, 1), at(c, 1, 1)], [13, 14, 23, 24]);
  const square = gray(8, 8, (x, y) => 20 * x + y);
  assert.deepEqual(shiftCrop(square, 8).data, square.data);
  // 4:3 at 6 px high -> 8 x 6; the crop is columns 2..7 (the centre crop is 1..6).
  const wide = gray(8, 6, (x) => 30 * x);
  const s = shiftCrop(wide, 6);
  assert.deepEqual([0, 5].map((x) => at(s, x, 0)), [60, 210]);
});

test('corrupt() records the drawn kernel', () => {
  const img = gray(16, 16, (x, y) => (x * 13 + y * 7) % 256);
  const d = corrupt('deblur', img, img, 0.99);
  assert.deepEqual(d.params, { kernel: 11 });
  assert.equal(corrupt('rotate', img, img, 0).image.width, 16);
});
