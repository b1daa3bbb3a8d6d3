// The onnxruntime engine against the PyTorch reference's parity vectors, and its search against the
// search's formula written out over every row (float32 roundings of the tfjs-wasm path of earlier
// versions, which the re-ranking keeps: ids do not change across versions).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensors } from '../io/files.js';
import { toFloat32, type HostTensor } from '../io/dtypes.js';
import { configFromReference, paperConfig, type V2LConfig } from '../network/config.js';
import { NetworkParams } from '../network/network-params.js';
import { OUTPUT_TOL, RECONSTRUCTION_TOL } from '../network/parity.js';
import { Rng } from '../network/rng.js';
import { sharedPath, skipUnless } from '../util/test-utils/shared.js';
import { ONNX_FILES, type CodebookSearch } from './onnx-engine.js';
import { createCodebookSearch, createOnnxEngine } from './onnx-node.js';
import { tieData } from './test-utils/tie-data.js';

const PARITY = sharedPath('parity/v2l_reference_parity.safetensors');

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'same length');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** NHWC rows [n, h, w, c] -> NCHW. */
function nhwcToNchw(x: Float32Array, n: number, h: number, w: number, c: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < n; b++) for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) for (let k = 0; k < c; k++) out[((b * c + k) * h + y) * w + xx] = x[((b * h + y) * w + xx) * c + k];
  return out;
}

test('ONNX engine reproduces the PyTorch reference parity vectors (z, local and global ids exact, reconstruction)', { skip: skipUnless(PARITY, 'the reference parity vectors') }, async () => {
  const f = readSafetensors(PARITY);
  const config = configFromReference(JSON.parse(f.metadata.config));
  const sd = new Map<string, HostTensor>();
  for (const [k, t] of f.tensors) if (k.startsWith('weights/')) sd.set(k.slice('weights/'.length), t);
  const get = (k: string) => f.tensors.get(k)!;
  const eng = await createOnnxEngine(config, sd, { cacheDir: null });
  try {
    const img = get('inputs/image');
    const [n, , H, W] = img.shape;
    const { localIds, z, h, w } = await eng.encode(toFloat32(img), n, H, W);
    assert.ok(maxAbs(nhwcToNchw(z, n, h, w, config.embedDim), toFloat32(get('outputs/z_normalized'))) <= OUTPUT_TOL, 'z_normalized');
    assert.deepEqual([...localIds], [...(get('outputs/local_indices').data as BigInt64Array)].map(Number), 'local indices');
    const gids = await eng.globalTokens(toFloat32(get('inputs/clip_image_feature')), n, 5);
    assert.deepEqual([...gids], [...(get('outputs/global_indices').data as BigInt64Array)].map(Number), 'global indices');
    const gemb = eng.globalEmbeddings(gids);
    assert.ok(maxAbs(gemb, toFloat32(get('outputs/global_embeddings'))) <= OUTPUT_TOL, 'global embeddings');
    const rec = await eng.decode(localIds, n, h, w, gemb, 5);
    const err = maxAbs(rec, toFloat32(get('outputs/reconstruction')));
    assert.ok(err <= RECONSTRUCTION_TOL, `reconstruction error ${err}`);
  } finally {
    await eng.dispose();
  }
});

/**
 * The k nearest rows to each of the m rows of z, nearest first, over every row: d = (|z|^2 + |e|^2) - 2 z.e
 * with float32 squares summed in order, each dot product's product and sum rounded per term, ties to the
 * lower row (what the engine's re-ranking reproduces on its candidates).
 */
function bruteNearest(z: Float32Array, m: number, rows: Float32Array, n: number, dim: number, k: number): Int32Array {
  const f = Math.fround;
  const sq = (x: Float32Array, off: number) => {
    let s = 0;
    for (let j = 0; j < dim; j++) s = f(s + f(x[off + j] * x[off + j]));
    return s;
  };
  const ee = Float32Array.from({ length: n }, (_, r) => sq(rows, r * dim));
  const out = new Int32Array(m * k);
  const d = new Float32Array(n);
  for (let i = 0; i < m; i++) {
    const zz = sq(z, i * dim);
    for (let r = 0; r < n; r++) {
      let dot = 0;
      for (let j = 0; j < dim; j++) dot = f(dot + f(z[i * dim + j] * rows[r * dim + j]));
      d[r] = f(f(zz + ee[r]) - f(2 * dot));
    }
    const order = Array.from({ length: n }, (_, r) => r).sort((a, b) => d[a] - d[b] || a - b);
    for (let q = 0; q < k; q++) out[i * k + q] = order[q];
  }
  return out;
}

test('ONNX engine on the paper configuration with random weights: local and global ids are the exact nearest rows; decode is deterministic', async () => {
  const config = { ...paperConfig(), nLocal: 2000, nGlobal: 300 };
  const sd = new NetworkParams(config, { seed: 3 }).stateDict();
  const eng = await createOnnxEngine(config, sd, { cacheDir: null });
  const rng = new Rng(4);
  const [n, size, k] = [2, 32, 5];
  const images = Float32Array.from({ length: n * 3 * size * size }, () => 2 * rng.uniform() - 1);
  const clip = Float32Array.from({ length: n * config.embedDim }, () => rng.normal());
  try {
    const o = await eng.encode(images, n, size, size);
    const m = n * o.h * o.w;
    const projected = eng.localSearch.codebook.rows;
    assert.deepEqual([...o.localIds], [...bruteNearest(o.z, m, projected, config.nLocal, config.embedDim, 1)], 'local ids');
    const gids = await eng.globalTokens(clip, n, k);
    const norm = new Float32Array(clip.length);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < config.embedDim; j++) s = Math.fround(s + Math.fround(clip[i * config.embedDim + j] ** 2));
      const r = Math.fround(Math.sqrt(s));
      for (let j = 0; j < config.embedDim; j++) norm[i * config.embedDim + j] = clip[i * config.embedDim + j] / r;
    }
    assert.deepEqual([...gids], [...bruteNearest(norm, n, toFloat32(sd.get('tok_embeddings_global.weight')!), config.nGlobal, config.embedDim, k)], 'global ids');
    const a = await eng.decode(o.localIds, n, o.h, o.w, eng.globalEmbeddings(gids), k);
    const b = await eng.decode(o.localIds, n, o.h, o.w, eng.globalEmbeddings(gids), k);
    assert.equal(a.length, n * 3 * size * size);
    assert.ok(a.every(Number.isFinite));
    assert.deepEqual(a, b);
  } finally {
    await eng.dispose();
  }
});

test('ONNX search returns the exact nearest rows on random data with exact and near ties', async () => {
  // Rows nearer than float32 resolves are decided by rounding; the re-ranking keeps tfjs-wasm's.
  // Exact duplicates (the lower index wins), near-duplicates (one coordinate moved by 1e-4 or 1e-5), 600
  // copies of row 0, and queries next to them (within 1e-4: differences below float32 resolution) or anywhere.
  const [n, dim, m] = [3000, 64, 700]; // m: more than one search chunk
  const { rows, z } = tieData(11, n, dim, m);
  const search = await createCodebookSearch(rows, n, dim);
  try {
    const got = await search.nearest(z, m, 1);
    const want = bruteNearest(z, m, rows, n, dim, 1);
    assert.deepEqual([...got], [...want], 'nearest row');
    // The global quantizer's top-k, nearest first, through the engine's normalisation.
    const k = 6;
    const q = 60;
    const zn = new Float32Array(q * dim);
    for (let i = 0; i < q; i++) {
      const norm = Math.fround(Math.sqrt(z.subarray(i * dim, (i + 1) * dim).reduce((s, v) => Math.fround(s + Math.fround(v * v)), 0)));
      for (let j = 0; j < dim; j++) zn[i * dim + j] = z[i * dim + j] / norm;
    }
    const wantK = bruteNearest(zn, q, rows, n, dim, k);
    assert.deepEqual([...(await search.nearest(zn, q, k))], [...wantK], 'top-k');
  } finally {
    await search.dispose();
  }
});

test('ONNX exports are cached per state-dict fingerprint and give the same outputs', async () => {
  const f = existsSync(PARITY) ? readSafetensors(PARITY) : null;
  const config: V2LConfig = f ? configFromReference(JSON.parse(f.metadata.config)) : { ...paperConfig(), ch: 32, chMult: [1, 2], zChannels: 16, nLocal: 300, nGlobal: 40, crossAttnDimHead: 64 };
  const sd = new NetworkParams(config, { seed: 5 }).stateDict();
  const dir = mkdtempSync(join(tmpdir(), 'v2l-onnx-'));
  try {
    const a = await createOnnxEngine(config, sd, { cacheDir: dir });
    const fp = a.fingerprint;
    assert.ok(existsSync(join(dir, fp, ONNX_FILES.manifest)), 'export written under its fingerprint');
    const img = Float32Array.from({ length: 3 * 32 * 32 }, (_, i) => Math.sin(i));
    const ra = await a.encode(img, 1, 32, 32);
    await a.dispose();
    const b = await createOnnxEngine(config, sd, { cacheDir: dir });
    assert.equal(b.fingerprint, fp);
    const rb = await b.encode(img, 1, 32, 32);
    await b.dispose();
    assert.deepEqual([...rb.localIds], [...ra.localIds]);
    assert.equal(maxAbs(rb.z, ra.z), 0);
    const other = new Map(sd);
    const w = sd.get('encoder.conv_in.bias')!;
    other.set('encoder.conv_in.bias', { ...w, data: Float32Array.from(w.data as Float32Array, (v) => v + 1) });
    const c = await createOnnxEngine(config, other, { cacheDir: dir });
    assert.notEqual(c.fingerprint, fp, 'changed weights, another fingerprint');
    await c.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the export cache keeps the 4 most recently used exports', async () => {
  const config: V2LConfig = { ...paperConfig(), ch: 32, chMult: [1, 2], zChannels: 16, nLocal: 50, nGlobal: 10, crossAttnDimHead: 32 };
  const dir = mkdtempSync(join(tmpdir(), 'v2l-onnx-lru-'));
  try {
    const fps: string[] = [];
    for (let seed = 0; seed < 6; seed++) {
      const eng = await createOnnxEngine(config, new NetworkParams(config, { seed }).stateDict(), { cacheDir: dir });
      fps.push(eng.fingerprint);
      await eng.dispose();
    }
    assert.deepEqual(readdirSync(dir).sort(), fps.slice(2).sort());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--device cuda without onnxruntime\'s CUDA provider fails saying so', async (t) => {
  let search: CodebookSearch;
  try {
    search = await createCodebookSearch(new Float32Array(8), 2, 4, { device: 'cuda' });
  } catch (e) {
    assert.match((e as Error).message, /CUDA execution provider is not available here.*--device cpu/);
    return;
  }
  await search.dispose();
  t.skip('the CUDA provider is installed here');
});
