// The local search's int8 first pass gives the float32 search's ids: near ties, rows its bound cannot
// separate, excluded rows, and the tokenizer network with a LLaMA-3-sized (128,256-row) local codebook on
// real photos.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { paperConfig } from '../network/config.js';
import { NetworkParams } from '../network/network-params.js';
import { Rng } from '../network/rng.js';
import { sharedPath, skipUnless } from '../util/test-utils/shared.js';
import { createCodebookSearch, createOnnxEngine } from './onnx-node.js';
import { nearest64, tieData } from './test-utils/tie-data.js';

test('int8 first pass: the float32 search\'s ids on exact and near ties, top-k too; rows the bound cannot separate take the float32 search', async () => {
  const [n, dim, m] = [3000, 64, 700];
  const { rows, z } = tieData(11, n, dim, m);
  const exact = await createCodebookSearch(rows, n, dim, {}, { int8: false });
  const int8 = await createCodebookSearch(rows, n, dim, {}, { int8: true });
  try {
    assert.equal(int8.usesInt8, true);
    assert.equal(exact.usesInt8, false);
    for (const k of [1, 6]) {
      const want = await exact.nearest(z, m, k);
      assert.deepEqual([...(await int8.nearest(z, m, k))], [...want], `k = ${k}`);
    }
    assert.equal(int8.int8Rows, 2 * m);
    assert.ok(int8.int8Fallbacks >= 2 * (m / 10), `the queries next to 600 copies of a row are not separated (${int8.int8Fallbacks} fallbacks)`);
    assert.ok(int8.int8Fallbacks < int8.int8Rows / 2, `most rows are separated (${int8.int8Fallbacks} of ${int8.int8Rows} fell back)`);
    // and both equal the float64 nearest where the rows are not ties
    const some = z.subarray(dim, 41 * dim);
    const got = await int8.nearest(some, 40, 1);
    const want64 = nearest64(some, 40, rows, n, dim, 1);
    let agree = 0;
    for (let i = 0; i < 40; i++) if (got[i] === want64[i]) agree++;
    assert.ok(agree >= 36, `float64 nearest agrees on ${agree} of 40 (the rest are float32 ties)`);
  } finally {
    await Promise.all([exact.dispose(), int8.dispose()]);
  }
});

test('excluded rows are never returned, in float32 and int8; the other rows keep their ids', async () => {
  const [n, dim, m] = [2000, 32, 300];
  const rng = new Rng(5);
  const rows = Float32Array.from({ length: n * dim }, () => rng.normal());
  // queries on top of rows, half of them excluded (the special tokens of LLaMA-3 sit at the end)
  const excluded = Array.from({ length: 256 }, (_, i) => n - 256 + i);
  const ex = new Set(excluded);
  const z = new Float32Array(m * dim);
  for (let i = 0; i < m; i++) {
    const base = i % 2 ? n - 1 - (i % 256) : Math.floor(rng.uniform() * n);
    for (let j = 0; j < dim; j++) z[i * dim + j] = rows[base * dim + j] + 0.01 * rng.normal();
  }
  const want = nearest64(z, m, rows, n, dim, 3, ex);
  for (const int8 of [false, true]) {
    const s = await createCodebookSearch(rows, n, dim, {}, { int8, excluded });
    try {
      const got = await s.nearest(z, m, 3);
      assert.ok(![...got].some((r) => ex.has(r)), `int8 ${int8}: no excluded row`);
      assert.deepEqual([...got], want, `int8 ${int8}: the nearest of the other rows`);
      await assert.rejects(s.nearest(z.subarray(0, dim), 1, n), /k must be an integer in \[1, 1744\]/);
    } finally {
      await s.dispose();
    }
  }
  await assert.rejects(createCodebookSearch(rows, n, dim, {}, { excluded: [5, 3] }), /ascending row ids/);
});

const PHOTOS = ['dog.jpg', 'coffee.png', 'giraffe.jpg'].map((p) => sharedPath(`data/photos/${p}`));

test('the tokenizer network with a 128,256-row local codebook: the int8 first pass gives the float32 search\'s ids on real photos', { skip: skipUnless(PHOTOS, 'the photos of ../shared/data/photos') }, async () => {
  // LLaMA-3's vocabulary size; random weights (NetworkParams: unit-norm codebook rows, the paper's
  // projection and encoder), real photos at 64 px: 3 x 64 z rows searched among 128,256 projected rows.
  const config = { ...paperConfig(), nLocal: 128256, nGlobal: 64 };
  const sd = new NetworkParams(config, { seed: 7 }).stateDict();
  const size = 64;
  const photos = PHOTOS;
  const images = new Float32Array(photos.length * 3 * size * size);
  for (const [b, p] of photos.entries()) {
    const px = await sharp(p).resize(size, size, { fit: 'fill' }).removeAlpha().raw().toBuffer();
    for (let i = 0; i < size * size; i++) for (let c = 0; c < 3; c++) images[(b * 3 + c) * size * size + i] = px[i * 3 + c] / 127.5 - 1;
  }
  const exact = await createOnnxEngine(config, sd, { cacheDir: null, int8: false });
  const int8 = await createOnnxEngine(config, sd, { cacheDir: null });
  try {
    assert.equal(int8.localSearch.usesInt8, true, 'large codebooks take the int8 pass by default');
    const a = await exact.encode(images, photos.length, size, size);
    const b = await int8.encode(images, photos.length, size, size);
    assert.deepEqual(b.z, a.z);
    assert.deepEqual([...b.localIds], [...a.localIds], 'local ids');
    // the viewer's alternatives (top 5) as well
    const rows = 16;
    assert.deepEqual([...(await int8.localNearest(a.z.subarray(0, rows * config.embedDim), rows, 5)).ids],
      [...(await exact.localNearest(a.z.subarray(0, rows * config.embedDim), rows, 5)).ids], 'top 5');
    const m = a.localIds.length;
    console.log(`128,256 rows: ${m} + ${rows} rows searched, int8 fallbacks ${int8.localSearch.int8Fallbacks}, float32 full scans ${exact.localSearch.fullScans}`);
  } finally {
    await Promise.all([exact.dispose(), int8.dispose()]);
  }
});
