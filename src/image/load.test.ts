import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadBatch, loadImage, loadImages } from './load.js';
import { encodePng, savePng, saveTensorPng } from './save.js';
import { decodeBmp } from './bmp.js';
import { skipUnless } from '../util/test-utils/shared.js';

const PHOTOS = new URL('../../../shared/data/photos/', import.meta.url).pathname;
const noPhotos = skipUnless(PHOTOS, 'the sample photos');

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'v2l-image-'));
}

test('real photos: JPEG, PNG, grayscale PNG, RGBA PNG and BMP all decode to 8-bit RGB', { skip: noPhotos }, async () => {
  const cases: [string, number, number][] = [
    ['dog.jpg', 768, 576],
    ['astronaut.png', 512, 512],
    ['camera.png', 512, 512], // grayscale
    ['horse.png', 400, 328], // RGBA
    ['grace_hopper.bmp', 512, 600], // BMP: sharp cannot read it, ./bmp.ts does
  ];
  for (const [name, w, h] of cases) {
    const img = await loadImage(PHOTOS + name);
    assert.deepEqual([img.width, img.height, img.channels], [w, h, 3], name);
    assert.equal(img.data.length, w * h * 3, name);
  }
  const gray = await loadImage(PHOTOS + 'camera.png');
  for (let i = 0; i < gray.data.length; i += 3 * 997) assert.ok(gray.data[i] === gray.data[i + 1] && gray.data[i] === gray.data[i + 2], 'gray -> R=G=B');
  // horse.png has transparent pixels, flattened onto white.
  const raw = await sharp(PHOTOS + 'horse.png').raw().toBuffer();
  const horse = await loadImage(PHOTOS + 'horse.png');
  let p = 0;
  for (let i = 0; i < raw.length / 4; i++) if (raw[i * 4 + 3] < raw[p * 4 + 3]) p = i;
  const alpha = raw[p * 4 + 3] / 255;
  assert.ok(alpha < 0.5, 'horse.png has translucent pixels');
  for (let c = 0; c < 3; c++) {
    const onWhite = raw[p * 4 + c] * alpha + 255 * (1 - alpha);
    assert.ok(Math.abs(horse.data[p * 3 + c] - onWhite) <= 1, `composited onto white (${horse.data[p * 3 + c]} vs ${onWhite})`);
  }
  // BMP pixels equal the same picture re-encoded losslessly through sharp.
  const bmp = await loadImage(PHOTOS + 'bird.bmp');
  const again = await loadImage(await encodePng(bmp), { name: 'bird.png' });
  assert.deepEqual(again.data, bmp.data);
});

test('generated odd images: RGBA, 16-bit, EXIF orientation, palette BMP', async () => {
  const dir = tmp();
  try {
    // RGBA with a half-transparent red pixel and a transparent black one.
    const rgba = Buffer.from([255, 0, 0, 128, 0, 0, 0, 0]);
    const rgbaPng = await sharp(rgba, { raw: { width: 2, height: 1, channels: 4 } }).png().toBuffer();
    const a = await loadImage(rgbaPng, { name: 'rgba.png' });
    assert.equal(a.channels, 3);
    assert.deepEqual(Array.from(a.data), [255, 127, 127, 255, 255, 255]);
    // 16-bit RGB PNG: 65535 -> 255, 32896 (0x8080) -> 128, 0 -> 0.
    const wide = new Uint16Array([65535, 32896, 0, 0, 65535, 32896]);
    const png16 = await sharp(wide, { raw: { width: 2, height: 1, channels: 3, premultiplied: false } })
      .toColourspace('rgb16')
      .png()
      .toBuffer();
    assert.equal((await sharp(png16).metadata()).depth, 'ushort', 'the test file really is 16-bit');
    const b = await loadImage(png16, { name: '16bit.png' });
    assert.deepEqual(Array.from(b.data), [255, 128, 0, 0, 255, 128]);
    const g16 = await sharp(new Uint16Array([0, 32896, 65535]), { raw: { width: 3, height: 1, channels: 1 } }).toColourspace('grey16').png().toBuffer();
    assert.equal((await sharp(g16).metadata()).space, 'grey16');
    assert.deepEqual(Array.from((await loadImage(g16, { name: 'gray16.png' })).data), [0, 0, 0, 128, 128, 128, 255, 255, 255]);
    // EXIF orientation 6 (rotate 90° clockwise to display): a 40x20 JPEG shows as 20x40.
    const jpg = await sharp({ create: { width: 40, height: 20, channels: 3, background: { r: 200, g: 10, b: 10 } } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    assert.equal((await sharp(jpg).metadata()).orientation, 6);
    const c = await loadImage(jpg, { name: 'rotated.jpg' });
    assert.deepEqual([c.width, c.height], [20, 40]);
    const unrotated = await loadImage(jpg, { name: 'rotated.jpg', autoOrient: false });
    assert.deepEqual([unrotated.width, unrotated.height], [40, 20], 'autoOrient: false keeps the stored orientation');
    // Palette BMP, top-down, 2x2, 8 bits per pixel, palette [black, red].
    const bmp = Buffer.alloc(14 + 40 + 8 + 8);
    bmp.write('BM', 0, 'latin1');
    bmp.writeUInt32LE(bmp.length, 2);
    bmp.writeUInt32LE(14 + 40 + 8, 10);
    bmp.writeUInt32LE(40, 14);
    bmp.writeInt32LE(2, 18);
    bmp.writeInt32LE(-2, 22); // top-down
    bmp.writeUInt16LE(1, 26);
    bmp.writeUInt16LE(8, 28);
    bmp.writeUInt32LE(2, 46); // colours used
    bmp.set([0, 0, 0, 0, 0, 0, 255, 0], 54); // BGRX: black, red
    bmp.set([1, 0, 0, 0, 0, 1, 0, 0], 62); // rows padded to 4 bytes: [red black] [black red]
    const d = decodeBmp(bmp, 'pal.bmp');
    assert.deepEqual(Array.from(d.data), [255, 0, 0, 0, 0, 0, 0, 0, 0, 255, 0, 0]);
    const path = join(dir, 'pal.bmp');
    writeFileSync(path, bmp);
    assert.deepEqual((await loadImage(path)).data, d.data);
    assert.throws(() => decodeBmp(bmp.subarray(0, 64), 'cut.bmp'), /cut\.bmp: BMP data truncated/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('large images: refused over maxPixels, the limit can be raised, shrunk on load given a target', async () => {
  const dir = tmp();
  try {
    const path = join(dir, 'large.jpg');
    const big = await sharp({ create: { width: 3000, height: 2000, channels: 3, background: { r: 10, g: 120, b: 240 } } }).jpeg().toBuffer();
    writeFileSync(path, big);
    await assert.rejects(loadImage(path, { maxPixels: 1_000_000 }), (e: Error) => e.message.includes(path) && /3000x2000 exceeds the 1000000-pixel limit/.test(e.message));
    const full = await loadImage(path, { maxPixels: false });
    assert.deepEqual([full.width, full.height], [3000, 2000]);
    const shrunk = await loadImage(path, { shrinkTo: 128 });
    assert.deepEqual([shrunk.width, shrunk.height], [384, 256], 'short side 2x the target');
    assert.ok(Math.abs(shrunk.data[0] - 10) <= 2 && Math.abs(shrunk.data[2] - 240) <= 2);
    const notShrunk = await loadImage(path, { shrinkTo: 600 });
    assert.deepEqual([notShrunk.width, notShrunk.height], [3000, 2000], 'only images over 4x the target are shrunk');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad files: errors name the file, a batch keeps the good ones', { skip: noPhotos }, async () => {
  const dir = tmp();
  try {
    const jpg = readFileSync(PHOTOS + 'dog.jpg');
    const truncated = join(dir, 'truncated.jpg');
    writeFileSync(truncated, jpg.subarray(0, Math.floor(jpg.length / 2)));
    const notImage = join(dir, 'notes.png');
    writeFileSync(notImage, 'this is not an image');
    const missing = join(dir, 'missing.jpg');
    await assert.rejects(loadImage(truncated), (e: Error) => e.message.startsWith(`cannot decode image ${truncated}:`));
    await assert.rejects(loadImage(notImage), (e: Error) => e.message.startsWith(`cannot decode image ${notImage}:`));
    await assert.rejects(loadImage(missing), (e: Error) => e.message.startsWith(`cannot read image ${missing}:`));
    const paths = [PHOTOS + 'dog.jpg', truncated, PHOTOS + 'cat.bmp', notImage, missing, PHOTOS + 'chelsea.png'];
    const events: number[] = [];
    const results = await loadImages(paths, { concurrency: 2, onProgress: (e) => events.push(e.done) });
    assert.deepEqual(results.map((r) => r.ok), [true, false, true, false, false, true]);
    assert.deepEqual(results.map((r) => r.source), paths);
    for (const r of results) if (!r.ok) assert.ok(r.error.message.includes(r.source));
    assert.deepEqual(events, [1, 2, 3, 4, 5, 6]);
    const { batch, sources, failures } = await loadBatch(paths, { size: 64 });
    assert.deepEqual(batch.shape, [3, 3, 64, 64]);
    assert.deepEqual(sources, [PHOTOS + 'dog.jpg', PHOTOS + 'cat.bmp', PHOTOS + 'chelsea.png']);
    assert.deepEqual(failures.map((f) => f.source), [truncated, notImage, missing]);
    assert.ok(batch.data.every((v) => v >= -1 && v <= 1));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tensor -> PNG -> pixels round trip, and grids on disk', { skip: noPhotos }, async () => {
  const dir = tmp();
  try {
    const { batch } = await loadBatch([PHOTOS + 'eagle.jpg', PHOTOS + 'camera.png'], { size: 48, mode: 'reference' });
    const one = join(dir, 'one.png');
    await saveTensorPng(one, batch.data.subarray(0, 3 * 48 * 48), [3, 48, 48]);
    const back = await loadImage(one);
    assert.deepEqual([back.width, back.height], [48, 48]);
    for (let i = 0; i < 48 * 48; i += 37) {
      const expected = Math.round((batch.data[i] + 1) * 127.5);
      assert.ok(Math.abs(back.data[i * 3] - expected) <= 0, 'red channel of pixel ' + i);
    }
    const grid = join(dir, 'grid.png');
    await saveTensorPng(grid, batch.data, batch.shape, { gap: 4 });
    const meta = await sharp(grid).metadata();
    assert.deepEqual([meta.width, meta.height], [100, 48]);
    await savePng(join(dir, 'again.png'), back);
    assert.deepEqual((await loadImage(join(dir, 'again.png'))).data, back.data);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("libvips's accumulated error lines are kept once each, so a message is the same on every run", async () => {
  const { decoderMessage } = await import('./load.js');
  const raw = 'Input buffer has corrupt header: VipsJpeg: premature end of JPEG image\nVipsJpeg: JPEG datastream contains no image\nVipsJpeg: premature end of JPEG image\nVipsJpeg: JPEG datastream contains no image\n';
  assert.equal(decoderMessage(raw), 'Input buffer has corrupt header: VipsJpeg: premature end of JPEG image; VipsJpeg: JPEG datastream contains no image');
});
