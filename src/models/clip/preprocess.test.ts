import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clipImageConfig, clipPixelValues, clipResizeCrop, CLIP_MEAN, CLIP_STD } from './preprocess.js';
import type { RawImage } from '../../image/types.js';

function solid(width: number, height: number, rgb: [number, number, number]): RawImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(rgb, i * 3);
  return { data, width, height, channels: 3 };
}

test('preprocessor_config forms: integer size is the shortest edge, integer crop a square', () => {
  const a = clipImageConfig({ size: 224, crop_size: 224 });
  assert.deepEqual(a.resize, { shortestEdge: 224 });
  assert.deepEqual(a.crop, { width: 224, height: 224 });
  assert.deepEqual(a.mean, CLIP_MEAN);
  const b = clipImageConfig({ size: { shortest_edge: 336 }, crop_size: { height: 336, width: 336 }, image_mean: [0.5, 0.5, 0.5], image_std: 0.5 });
  assert.deepEqual(b.resize, { shortestEdge: 336 });
  assert.deepEqual(b.std, [0.5, 0.5, 0.5]);
  const c = clipImageConfig({ size: { height: 64, width: 32 }, do_center_crop: false, do_normalize: false });
  assert.deepEqual(c.resize, { width: 32, height: 64 });
  assert.equal(c.crop, null);
  assert.deepEqual(c.mean, [0, 0, 0]);
  assert.throws(() => clipImageConfig({ size: 'big' }, 'x/preprocessor_config.json'), /x\/preprocessor_config\.json: "size"/);
});

test('CLIP sizes: short side to 224 with torchvision\'s long side, centre crop 224; values (v/255 - mean)/std', () => {
  const cfg = clipImageConfig({ size: 224, crop_size: 224 });
  const wide = clipResizeCrop(solid(448, 300, [10, 20, 30]), cfg);
  assert.deepEqual([wide.width, wide.height], [224, 224]);
  const px = clipPixelValues([solid(300, 500, [128, 64, 255]), solid(224, 224, [0, 255, 1])], cfg);
  assert.deepEqual(px.dims, [2, 3, 224, 224]);
  const n = 224 * 224;
  const expect = (v: number, c: number) => Math.fround(Math.fround(Math.fround(v / 255) - Math.fround(CLIP_MEAN[c])) / Math.fround(CLIP_STD[c]));
  // A solid colour stays that colour through the bicubic resize.
  assert.equal(px.data[0], expect(128, 0));
  assert.equal(px.data[n + 5], expect(64, 1));
  assert.equal(px.data[2 * n + n - 1], expect(255, 2));
  assert.equal(px.data[3 * n], expect(0, 0));
  assert.equal(px.data[3 * n + 2 * n + 7], expect(1, 2));
  // Grey input is repeated over RGB.
  const g = clipPixelValues([{ data: new Uint8Array(50 * 50).fill(200), width: 50, height: 50, channels: 1 }], cfg);
  assert.equal(g.data[0], expect(200, 0));
  assert.equal(g.data[2 * n], expect(200, 2));
});

test('without a crop, differently shaped images cannot share a batch', () => {
  const cfg = clipImageConfig({ size: 32, do_center_crop: false });
  assert.throws(() => clipPixelValues([solid(64, 32, [1, 2, 3]), solid(32, 64, [1, 2, 3])], cfg), /image 1 preprocesses to 32x64/);
});
