// The tokenizer API end to end on real files: the reference parity weights are written in the official
// PyTorch/NumPy layout, imported with `importOfficial`, loaded as a V2LTokenizer with the stand-in CLIP,
// and must decode the reference's tokens into the reference's reconstruction.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, copyFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensors } from '../io/files.js';
import { serializePth } from '../io/pth-write.js';
import { toFloat32, toInt32, type HostTensor } from '../io/dtypes.js';
import { writeStandInClip } from '../models/clip/stand-in.js';
import { importOfficial } from './official.js';
import { V2LTokenizer, isFailure, type EncodedImage } from './tokenizer.js';
import { skipUnless } from '../util/test-utils/shared.js';

const shared = (p: string) => new URL(`../../../shared/${p}`, import.meta.url).pathname;
const PARITY = shared('parity/v2l_reference_parity.safetensors');
const STORIES = shared('models/stories260K/stories260K.gguf');
const PHOTOS = shared('data/photos');
const skip = skipUnless([PARITY, STORIES, PHOTOS], 'the parity vectors, stories260K and the photos');

/** A NumPy '<U' array of strings (the reader handles it like the official object array). */
function unicodeNpy(values: string[]): Uint8Array {
  const width = Math.max(1, ...values.map((v) => [...v].length));
  let header = `{'descr': '<U${width}', 'fortran_order': False, 'shape': (${values.length},), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + values.length * width * 4);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  const dv = new DataView(out.buffer, 10 + header.length);
  values.forEach((v, i) => [...v].forEach((ch, j) => dv.setUint32((i * width + j) * 4, ch.codePointAt(0)!, true)));
  return out;
}

let dir = '';
let tok: V2LTokenizer;
let parity: Map<string, HostTensor>;

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'v2l-tokenizer-'));
  const f = readSafetensors(PARITY);
  parity = f.tensors;
  const weights = new Map<string, HostTensor>();
  for (const [k, t] of f.tensors) if (k.startsWith('weights/')) weights.set(k.slice('weights/'.length), t);
  const official = join(dir, 'official');
  const local = weights.get('tok_embeddings.weight')!;
  const global = weights.get('tok_embeddings_global.weight')!;
  weights.delete('tok_embeddings.weight');
  weights.delete('tok_embeddings_global.weight');
  const write = (p: string, b: Uint8Array) => {
    rmSync(p, { force: true });
    writeFileSync(p, b);
  };
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(official, 'codebooks'), { recursive: true });
  mkdirSync(join(official, 'checkpoints'), { recursive: true });
  write(join(official, 'checkpoints', 'v2l-decode.pth'), serializePth(weights, { wrapStateDict: true }));
  write(join(official, 'codebooks', 'local_codebook_embedding.pth'), serializePth(local));
  write(join(official, 'codebooks', 'global_codebook_embedding.pth'), serializePth(global));
  write(join(official, 'codebooks', 'global_vocabulary.npy'), unicodeNpy(Array.from({ length: global.shape[0] }, (_, i) => `▁entry${i}`)));
  const report = await importOfficial({
    files: {
      checkpoint: join(official, 'checkpoints', 'v2l-decode.pth'),
      local: join(official, 'codebooks', 'local_codebook_embedding.pth'),
      global: join(official, 'codebooks', 'global_codebook_embedding.pth'),
      vocabulary: join(official, 'codebooks', 'global_vocabulary.npy'),
    },
    llm: STORIES, // 512 tokens, as the parity file's local codebook
    out: join(dir, 'imported'),
    // No configuration given: it is read from the checkpoint's shapes (the parity network is not the paper's).
    imageSize: 32,
  });
  assert.equal(report.localRows, 512);
  writeStandInClip(join(dir, 'clip'), { seed: 3 });
  tok = await V2LTokenizer.load({ checkpoint: report.tokenizer!, codebook: report.codebook, clip: join(dir, 'clip'), globalTokens: 5 });
});

after(async () => {
  await tok?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('imported official weights decode the reference tokens into the reference reconstruction', { skip }, async () => {
  const li = toInt32(parity.get('outputs/local_indices')!);
  const gi = toInt32(parity.get('outputs/global_indices')!);
  const grid = (b: number) => Array.from({ length: 4 }, (_, r) => Array.from(li.subarray(b * 16 + r * 4, b * 16 + r * 4 + 4)));
  const images = await tok.decode([grid(0), grid(1)], [Array.from(gi.subarray(0, 5)), Array.from(gi.subarray(5, 10))]);
  const ref = toFloat32(parity.get('outputs/reconstruction')!);
  // Compare in 8-bit pixel space: the reference image mapped like ours ((x+1)/2*255, clamped, rounded).
  let worst = 0;
  images.forEach((img, b) => {
    assert.equal(img.width, 32);
    for (let c = 0; c < 3; c++) for (let i = 0; i < 32 * 32; i++) {
      const r = Math.round(Math.min(1, Math.max(0, (ref[(b * 3 + c) * 1024 + i] + 1) / 2)) * 255);
      worst = Math.max(worst, Math.abs(img.data[i * 3 + c] - r));
    }
  });
  assert.ok(worst <= 1, `max pixel difference ${worst}`);
});

test('encode gives ids and strings from the codebook; a bad file fails alone; reconstruct matches decode', { skip }, async () => {
  const bad = join(dir, 'truncated.jpg');
  const jpg = readFileSync(join(PHOTOS, 'dog.jpg'));
  writeFileSync(bad, jpg.subarray(0, 200));
  copyFileSync(join(PHOTOS, 'dog.jpg'), join(dir, 'dog.jpg'));
  const results = await tok.encode([join(dir, 'dog.jpg'), bad, join(PHOTOS, 'cat.bmp')]);
  assert.equal(results.length, 3);
  assert.ok(isFailure(results[1]));
  assert.match((results[1] as { error: string }).error, /truncated\.jpg/);
  for (const r of [results[0], results[2]] as EncodedImage[]) {
    assert.equal(r.global.ids.length, 5);
    assert.equal(new Set(r.global.ids).size, 5, 'distinct global tokens');
    assert.deepEqual(r.global.tokens, r.global.ids.map((i) => `▁entry${i}`));
    assert.equal(r.local.ids.length, 4);
    assert.ok(r.local.ids.every((row) => row.length === 4 && row.every((id) => id >= 0 && id < 512)));
    assert.deepEqual(r.local.tokens.flat(), r.local.ids.flat().map((id) => tok.codebook!.localTexts[id]));
  }
  const [rec] = await tok.reconstruct([join(dir, 'dog.jpg')]);
  assert.ok(!('error' in rec));
  const e = results[0] as EncodedImage;
  assert.deepEqual(rec.encoded.local.ids, e.local.ids);
  // decode() is the decoder reconstruct() runs: the same tokens give the same pixels, exactly.
  const [dec] = await tok.decode([e.local.ids], [e.global.ids]);
  assert.deepEqual([dec.width, dec.height], [rec.reconstruction.width, rec.reconstruction.height]);
  assert.deepEqual(dec.data, rec.reconstruction.data);
});

test('decode: a batch equals its images decoded one by one; tfjs is refused as an inference engine', { skip }, async () => {
  const res = await tok.encode([join(PHOTOS, 'dog.jpg'), join(PHOTOS, 'cat.bmp')]);
  const [a, b] = res as EncodedImage[];
  const both = await tok.decode([a.local.ids, b.local.ids], [a.global.ids, b.global.ids]);
  const [one] = await tok.decode([a.local.ids], [a.global.ids]);
  const [two] = await tok.decode([b.local.ids], [b.global.ids]);
  assert.deepEqual(both[0].data, one.data);
  assert.deepEqual(both[1].data, two.data);
  const imported = join(dir, 'imported');
  await assert.rejects(V2LTokenizer.load({ checkpoint: join(imported, 'tokenizer.safetensors'), codebook: join(imported, 'codebook'), engine: 'tfjs' as never }),
    /runs on onnxruntime only/);
});

test('bad inputs are refused clearly before any work', { skip }, async () => {
  await assert.rejects(tok.decode([[[0, 1], [2, 3]]], [[99999, 0, 0, 0, 0]]), /global token id 99999 is outside/);
  const imported = join(dir, 'imported');
  // A codebook from another vocabulary: the manifest check names both.
  await assert.rejects(V2LTokenizer.load({ checkpoint: join(imported, 'tokenizer.safetensors'), codebook: join(imported, 'codebook'), vocabulary: { hash: 'f'.repeat(64), size: 32000 } }),
    /does not match the models in use: it has 512 local rows/);
  // The official .pth holds no codebook: without a package the load names what is missing.
  await assert.rejects(V2LTokenizer.load({ checkpoint: join(dir, 'official', 'checkpoints', 'v2l-decode.pth') }), /holds no local codebook/);
});

test('a codebook package\'s localSearch.excludedRows are never local ids (special tokens without text); the other positions keep theirs', { skip }, async () => {
  const [before] = (await tok.encode([join(PHOTOS, 'dog.jpg')])) as EncodedImage[];
  const used = [...new Set(before.local.ids.flat())].sort((a, b) => a - b);
  const excluded = used.slice(0, Math.ceil(used.length / 2));
  const pkg = join(dir, 'excluding');
  const { cpSync } = await import('node:fs');
  cpSync(tok.codebook!.dir, pkg, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(pkg, 'manifest.json'), 'utf8'));
  writeFileSync(join(pkg, 'manifest.json'), JSON.stringify({ ...manifest, localSearch: { excludedRows: excluded } }));
  const tok2 = await V2LTokenizer.load({ checkpoint: join(dir, 'imported', 'tokenizer.safetensors'), codebook: pkg, clip: join(dir, 'clip'), globalTokens: 5 });
  try {
    const [after] = (await tok2.encode([join(PHOTOS, 'dog.jpg')])) as EncodedImage[];
    const ex = new Set(excluded);
    const a = after.local.ids.flat();
    const b = before.local.ids.flat();
    assert.ok(!a.some((id) => ex.has(id)), 'no excluded row');
    b.forEach((id, i) => {
      if (!ex.has(id)) assert.equal(a[i], id, `position ${i} keeps its id`);
    });
    assert.deepEqual(after.global.ids, before.global.ids);
  } finally {
    await tok2.dispose();
  }
});
