import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RawImage } from './types.js';
import { interpolateBilinear, resizePillow } from './resample.js';
import { centreCrop, preprocess, shortSideSize, toNCHW, toRGB } from './preprocess.js';
import { fromNCHW, sideBySide, unitToByte } from './pixels.js';

/** An 11x7 RGB test pattern: (x*37 + y*101 + c*53) mod 256. */
function pattern(w = 11, h = 7): RawImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) data[(y * w + x) * 3 + c] = (x * 37 + y * 101 + c * 53) % 256;
  return { data, width: w, height: h, channels: 3 };
}

// Pillow 12.3.0 `Image.fromarray(pattern).resize(size, filter)`, base64 of the RGB bytes.
const PILLOW = [
  { size: [4, 5], filter: 'bicubic', b64: 'QXedoZSXZ2V7aIqhnJF5e2aJjoCGimhzb42YjJ5faGl7eJKDkXt9VXqdootidGxzfI+bpGRqcW6ZjouA' },
  { size: [6, 3], filter: 'bilinear', b64: 'aIWWeoCAmH2ZenR1cHeXgHuBg5KPdn59hZJ2c3N4h3x9c4J4ioWafHd3hXeOiG14hYuEgHF6' },
  {
    size: [15, 9],
    filter: 'bicubic',
    b64: 'AC5jDkN3LGGaR32+Y6LafcD/nOLUwPUe70AyfA1UADpvIFaLPHCvWpTRb7HlPHC4T5DadL6ynMlAuEpf3zyCw2WFSX5gZFeHWWSqRI/HY6vli9R0sJZLxC5untSMvJ6srIeObJ4yijZcsS57nVaeOXzDWq5+hox0rV6ayX64iqZbenVEmCBtsuk313ROoSV3FVaaOICOVqKed63CnqLXk8xAoG8bwQZI4ClkVEePIG+bSI+PLWKXQnesYJXUe7Dbl8wosvgN1Mk36B1SPDFtDVOIOW6jVYq/cKXtjsOQo9gAdr35luWEx7E20iVeNURSIGViSnKEY2etWI3cY7GAhdIXr/A54GRZkS5fF1NU4W2kkItsZHtVgjyHOWiuOYjWYKrBicxdr2h911Rbz3suZ5lNflh0Z1CgLnm80kF2b1WcMH2lW5+ChnifqoLIrKesh7wxoEJGySZwu02XPGmzR5eSdZWSlXWsVJbLcavzldOur9kFyx0k+ABDxSlhEEWGI2mhRYi8Y6LbiL76pO1RwooN1wA1',
  },
] as const;

test('resizePillow reproduces Pillow bicubic / bilinear (down and up) bit for bit', () => {
  for (const { size, filter, b64 } of PILLOW) {
    const got = resizePillow(pattern(), size[0], size[1], filter);
    assert.deepEqual(Buffer.from(got.data), Buffer.from(b64, 'base64'), `${filter} ${size}`);
  }
});

test('torchvision sizes: short side, long side truncated, centre crop rounds half to even', () => {
  assert.deepEqual(shortSideSize(451, 300, 224), { width: 336, height: 224 }); // 224*451/300 = 336.75
  assert.deepEqual(shortSideSize(512, 929, 224), { width: 224, height: 406 });
  // 5 rows to 2: offset round(1.5) = 2; 7 rows to 2: round(2.5) = 2 (half to even).
  const col = (h: number): RawImage => ({ data: Uint8Array.from({ length: h * 3 }, (_, i) => Math.floor(i / 3)), width: 1, height: h, channels: 3 });
  assert.equal(centreCrop(col(5), 1, 2).data[0], 2);
  assert.equal(centreCrop(col(7), 1, 2).data[0], 2);
  assert.equal(centreCrop(col(6), 1, 2).data[0], 2);
});

test('interpolateBilinear matches torch semantics: identity at equal size, 2x2 means when halving', () => {
  const src = Float32Array.from({ length: 2 * 4 * 6 }, (_, i) => Math.sin(i) * 3);
  assert.deepEqual(interpolateBilinear(src, 2, 4, 6, 4, 6), src);
  const half = interpolateBilinear(src, 2, 4, 6, 2, 3);
  for (let p = 0; p < 2; p++)
    for (let y = 0; y < 2; y++)
      for (let x = 0; x < 3; x++) {
        const at = (yy: number, xx: number) => src[p * 24 + yy * 6 + xx];
        const mean = (at(2 * y, 2 * x) + at(2 * y, 2 * x + 1) + at(2 * y + 1, 2 * x) + at(2 * y + 1, 2 * x + 1)) / 4;
        assert.ok(Math.abs(half[p * 6 + y * 3 + x] - mean) < 1e-6);
      }
});

test('preprocess: NCHW in [-1, 1], both modes, gray and RGBA inputs', () => {
  // A smooth 300x200 gradient (red along x, green along y, blue constant).
  const big: RawImage = { data: new Uint8Array(300 * 200 * 3), width: 300, height: 200, channels: 3 };
  for (let y = 0; y < 200; y++) for (let x = 0; x < 300; x++) big.data.set([Math.round((x * 255) / 299), Math.round((y * 255) / 199), 128], (y * 300 + x) * 3);
  for (const mode of ['simple', 'reference'] as const) {
    const b = preprocess([big, big], { size: 32, mode });
    assert.deepEqual(b.shape, [2, 3, 32, 32]);
    assert.ok(b.data.every((v) => v >= -1 && v <= 1));
    assert.ok(Math.min(...b.data) < -0.5 && Math.max(...b.data) > 0.5, 'uses the range');
    assert.deepEqual(b.data.subarray(0, 3 * 32 * 32), b.data.subarray(3 * 32 * 32));
  }
  // A constant image stays constant: 0 -> -1, 255 -> 1 exactly in both modes.
  for (const v of [0, 255]) {
    const flat: RawImage = { data: new Uint8Array(50 * 40 * 3).fill(v), width: 50, height: 40, channels: 3 };
    for (const mode of ['simple', 'reference'] as const) assert.ok(preprocess([flat], { size: 16, mode }).data.every((x) => x === (v ? 1 : -1)));
  }
  const gray: RawImage = { data: Uint8Array.from([0, 51, 255, 102]), width: 2, height: 2, channels: 1 };
  assert.deepEqual(Array.from(toRGB(gray).data.subarray(0, 6)), [0, 0, 0, 51, 51, 51]);
  const rgba: RawImage = { data: Uint8Array.from([10, 20, 30, 0, 10, 20, 30, 255]), width: 2, height: 1, channels: 4 };
  assert.deepEqual(Array.from(toRGB(rgba).data), [255, 255, 255, 10, 20, 30], 'transparent -> white');
  const n = toNCHW([gray]);
  assert.deepEqual(n.shape, [1, 3, 2, 2]);
  assert.deepEqual(Array.from(n.data.subarray(0, 4)), [-1, 51 / 127.5 - 1, 1, 102 / 127.5 - 1].map(Math.fround));
  assert.throws(() => toNCHW([gray, pattern()]), /image 1 is 11x7, image 0 is 2x2/);
});

test('back to pixels: clamp and round, round trip of 8-bit values, grids', () => {
  assert.equal(unitToByte(-3), 0);
  assert.equal(unitToByte(7), 255);
  assert.equal(unitToByte(NaN), 0);
  const img = pattern(5, 4);
  const back = fromNCHW(toNCHW([img]).data, [1, 3, 4, 5]);
  assert.deepEqual(back[0].data, img.data);
  const g = sideBySide([img, pattern(3, 2)], { gap: 1 });
  assert.deepEqual([g.width, g.height], [11, 4]);
  assert.deepEqual(Array.from(g.data.subarray(0, 3)), Array.from(img.data.subarray(0, 3)));
  assert.deepEqual(Array.from(g.data.subarray(5 * 3, 6 * 3)), [255, 255, 255], 'gap is white');
  // Second cell: 3x2 image centred in a 5x4 cell starting at x=6: top-left pixel at (7, 1).
  assert.deepEqual(Array.from(g.data.subarray((1 * 11 + 7) * 3, (1 * 11 + 7) * 3 + 3)), [0, 53, 106]);
  const grid = sideBySide([img, img, img, img], { columns: 2, gap: 0 });
  assert.deepEqual([grid.width, grid.height], [10, 8]);
});
