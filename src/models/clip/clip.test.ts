// The frozen CLIP on the stand-in (generated once into a temporary folder): the real loading code,
// preprocessing, tokenizer and ONNX sessions, end to end.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, unlinkSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import sharp from 'sharp';
import { writeStandInClip } from './stand-in.js';
import { loadClip, cleanText } from './transformers-clip.js';
import { IMAGENET_TEMPLATES, embedWithTemplates, fillTemplate } from './templates.js';
import { bytesToUnicode } from './clip-bpe.js';
import type { ClipModel, RawImage } from './types.js';
import { skipUnless } from '../../util/test-utils/shared.js';

const shared = new URL('../../../../shared/', import.meta.url).pathname;
const merges = join(shared, 'models/clip-tokenizer/bpe_simple_vocab_16e6.txt.gz');
const photos = join(shared, 'data/photos');
const skip = skipUnless(merges, "CLIP's BPE merges (for the stand-in CLIP)");

let dir = '';
let clip: ClipModel;

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'v2l-clip-'));
  process.env.V2L_CACHE = join(dir, 'cache'); // fingerprint memo
  writeStandInClip(dir, { seed: 1, mergesPath: merges });
  clip = await loadClip(dir, { batchSize: 4 });
});
after(async () => {
  await clip?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
function norms(x: Float32Array, dim: number): number[] {
  const out: number[] = [];
  for (let o = 0; o < x.length; o += dim) out.push(Math.hypot(...x.subarray(o, o + dim)));
  return out;
}
async function decode(path: string): Promise<RawImage> {
  const { data, info } = await sharp(path).rotate().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height, channels: info.channels as 1 | 3 | 4 };
}

test('the stand-in loads as a stand-in, 768-d, with a fingerprint', { skip }, () => {
  assert.equal(clip.isStandIn, true);
  assert.match(clip.id, /stand-in/);
  assert.equal(clip.dim, 768);
  assert.match(clip.fingerprint, /^[0-9a-f]{64}$/);
});

test('image from a file and the same pixels as a RawImage give the same embedding', { skip }, async () => {
  const files = ['dog.jpg', 'astronaut.png', 'coffee.png'].map((f) => join(photos, f));
  const fromFiles = await clip.embedImages(files);
  const fromPixels = await clip.embedImages(await Promise.all(files.map(decode)));
  assert.ok(maxAbsDiff(fromFiles, fromPixels) < 1e-5);
  for (const n of norms(fromFiles, 768)) assert.ok(Math.abs(n - 1) < 1e-5, `norm ${n}`);
  // Different images give different embeddings (the towers are not constant).
  assert.ok(maxAbsDiff(fromFiles.subarray(0, 768), fromFiles.subarray(768, 1536)) > 1e-3);
  // BMP (which sharp cannot read) goes through src/image's decoder.
  const bmp = await clip.embedImages([join(photos, 'cat.bmp')]);
  assert.ok(Math.abs(norms(bmp, 768)[0] - 1) < 1e-5);
});

test("transformers.js's processor is the alternative preprocessing; an integer size means the shortest edge", { skip }, async () => {
  const files = ['dog.jpg', 'chelsea.png'].map((f) => join(photos, f));
  const ours = await clip.embedImages(files);
  const viaHf = await loadClip(dir, { preprocessing: 'transformers', towers: { vision: true, text: false } });
  const hf = await viaHf.embedImages(files);
  await viaHf.dispose();
  // Same image, resampled by another bicubic: close, not equal.
  for (let i = 0; i < files.length; i++) {
    let cos = 0;
    for (let d = 0; d < 768; d++) cos += ours[i * 768 + d] * hf[i * 768 + d];
    assert.ok(cos > 0.98 && cos < 1 - 1e-7, `cos ${cos}`);
  }
  // An older-style config ("size": 224, "crop_size": 224) gives the same result as the dict form.
  const old = mkdtempSync(join(tmpdir(), 'v2l-clip-old-'));
  try {
    for (const f of ['config.json', 'onnx/vision_model.onnx']) {
      mkdirSync(join(old, 'onnx'), { recursive: true });
      copyFileSync(join(dir, f), join(old, f));
    }
    const cfg = JSON.parse(readFileSync(join(dir, 'preprocessor_config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(old, 'preprocessor_config.json'), JSON.stringify({ ...cfg, size: 224, crop_size: 224 }));
    for (const preprocessing of ['clip', 'transformers'] as const) {
      const m = await loadClip(old, { preprocessing, towers: { vision: true, text: false } });
      const e = await m.embedImages(files);
      await m.dispose();
      assert.ok(maxAbsDiff(e, preprocessing === 'clip' ? ours : hf) < 1e-6, preprocessing);
    }
  } finally {
    rmSync(old, { recursive: true, force: true });
  }
});

test('grey, RGB and RGBA pixels of one image embed alike; bad pixel buffers are refused', { skip }, async () => {
  const w = 40, h = 30;
  const g = new Uint8Array(w * h), rgb = new Uint8Array(w * h * 3), rgba = new Uint8Array(w * h * 4);
  for (let i = 0; i < w * h; i++) {
    const v = (i * 37) % 251;
    g[i] = v;
    rgb.set([v, v, v], i * 3);
    rgba.set([v, v, v, 255], i * 4);
  }
  const e = await clip.embedImages([{ data: g, width: w, height: h, channels: 1 }, { data: rgb, width: w, height: h, channels: 3 }, { data: rgba, width: w, height: h, channels: 4 }]);
  assert.ok(maxAbsDiff(e.subarray(0, 768), e.subarray(768, 1536)) < 1e-5);
  assert.ok(maxAbsDiff(e.subarray(0, 768), e.subarray(1536)) < 1e-5);
  await assert.rejects(clip.embedImages([{ data: rgb, width: w + 1, height: h, channels: 3 }]), /image 0/);
  await assert.rejects(clip.embedImages([join(photos, 'no-such-photo.jpg')]), /no-such-photo\.jpg/);
  // A bad file in a later batch (batch size 4) is reported too, while the earlier batch runs.
  const six = [...Array(5).fill(join(photos, 'dog.jpg')), join(photos, 'gone.png')];
  await assert.rejects(clip.embedImages(six), /gone\.png/);
});

test('text embeddings: batched equals one by one, unit norm, distinct', { skip }, async () => {
  const texts = ['a photo of a cat', 'dog', 'a very long caption about a dog running on a beach at sunset', 'Hello World!', 'xyzzy'];
  const batched = await clip.embedTexts(texts);
  for (let i = 0; i < texts.length; i++) {
    const single = await clip.embedTexts([texts[i]]);
    assert.ok(maxAbsDiff(batched.subarray(i * 768, (i + 1) * 768), single) < 1e-5, texts[i]);
  }
  for (const n of norms(batched, 768)) assert.ok(Math.abs(n - 1) < 1e-5);
  assert.ok(maxAbsDiff(batched.subarray(0, 768), batched.subarray(768, 1536)) > 1e-3);
  // CLIP lower-cases and collapses whitespace: these are the same text to it.
  const same = await clip.embedTexts(['A Photo  of a CAT', 'a photo of a cat']);
  assert.ok(maxAbsDiff(same.subarray(0, 768), same.subarray(768)) < 1e-6);
});

test('texts longer than the 77-token context are cut with <|endoftext|> kept last', { skip }, async () => {
  const head = Array.from({ length: 100 }, (_, i) => `w${i % 10}`).join(' ');
  const e = await clip.embedTexts([head + ' cat', head + ' dog']);
  assert.ok(maxAbsDiff(e.subarray(0, 768), e.subarray(768)) < 1e-6);
  for (const n of norms(e, 768)) assert.ok(Math.abs(n - 1) < 1e-5);
});

/** CLIP's simple_tokenizer, written out independently from the README's description, to check tokenizer.json. */
function referenceTokenize(text: string): number[] {
  const lines = gunzipSync(readFileSync(merges)).toString('utf8').split('\n').slice(1, 49152 - 256 - 2 + 1);
  const pairs = lines.map((l) => l.split(' ') as [string, string]);
  const sym = bytesToUnicode();
  const byteChar = new Map<number, string>();
  const order: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) order.push(b);
  for (let b = 0xa1; b <= 0xac; b++) order.push(b);
  for (let b = 0xae; b <= 0xff; b++) order.push(b);
  for (let b = 0; b < 256; b++) if (!order.includes(b)) order.push(b);
  order.forEach((b, i) => byteChar.set(b, sym[i]));
  const vocab = [...sym, ...sym.map((s) => s + '</w>'), ...pairs.map((p) => p.join('')), '<|startoftext|>', '<|endoftext|>'];
  const enc = new Map(vocab.map((v, i) => [v, i]));
  const ranks = new Map(pairs.map((p, i) => [p.join(' '), i]));
  const bpe = (token: string): string[] => {
    let word = [...token];
    word[word.length - 1] += '</w>';
    for (;;) {
      let best = -1, bestRank = Infinity;
      for (let i = 0; i < word.length - 1; i++) {
        const r = ranks.get(`${word[i]} ${word[i + 1]}`);
        if (r !== undefined && r < bestRank) { bestRank = r; best = i; }
      }
      if (best < 0) return word;
      const [a, b] = [word[best], word[best + 1]];
      const next: string[] = [];
      for (let i = 0; i < word.length; i++) {
        if (i < word.length - 1 && word[i] === a && word[i + 1] === b) { next.push(a + b); i++; } else next.push(word[i]);
      }
      word = next;
    }
  };
  const clean = cleanText(text).replace(/\s+/g, ' ').trim().toLowerCase();
  const pat = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/gu;
  const ids = [49406];
  for (const piece of clean.match(pat) ?? []) {
    const chars = [...new TextEncoder().encode(piece)].map((b) => byteChar.get(b)!).join('');
    for (const t of bpe(chars)) ids.push(enc.get(t)!);
  }
  ids.push(49407);
  return ids;
}

test('the stand-in tokenizes like CLIP', { skip }, async () => {
  const { AutoTokenizer } = await import('@huggingface/transformers');
  const tok = await AutoTokenizer.from_pretrained(dir, { local_files_only: true });
  // Known ids of real CLIP.
  assert.deepEqual(tok.encode('a photo of a cat'), [49406, 320, 1125, 539, 320, 2368, 49407]);
  assert.deepEqual(tok.encode('a photo of a dog'), [49406, 320, 1125, 539, 320, 1929, 49407]);
  for (const s of ['Hello World!', "it's 2024, isn't it?", 'naïve café 😀', 'graffiti of the hot-dog.', 'a photo of a ▁apple', 'C++ & Rust: 3.14', 'Tschüß, Grüße! 東京タワー']) {
    assert.deepEqual(tok.encode(cleanText(s)), referenceTokenize(s), s);
  }
  assert.equal(cleanText('fish &amp;amp; chips'), 'fish & chips');
});

test('the 80 ImageNet templates', () => {
  assert.equal(IMAGENET_TEMPLATES.length, 80);
  assert.equal(new Set(IMAGENET_TEMPLATES).size, 80);
  for (const t of IMAGENET_TEMPLATES) assert.equal(t.split('{}').length, 2, t);
  assert.equal(IMAGENET_TEMPLATES[0], 'a bad photo of a {}.');
  assert.equal(IMAGENET_TEMPLATES[79], 'a tattoo of the {}.');
  assert.equal(fillTemplate('a {} in a video game.', 'cat'), 'a cat in a video game.');
});

test('template ensemble equals the mean of normalised single-template embeddings (not re-normalised)', { skip }, async () => {
  const texts = ['goldfish', 'great white shark', 'tabby'];
  const templates = IMAGENET_TEMPLATES.slice(0, 7);
  const ens = await embedWithTemplates(clip, texts, templates, { batchSize: 5 });
  for (let i = 0; i < texts.length; i++) {
    const mean = new Float32Array(768);
    for (const t of templates) {
      const e = await clip.embedTexts([fillTemplate(t, texts[i])]);
      const n = Math.hypot(...e);
      for (let d = 0; d < 768; d++) mean[d] += e[d] / n / templates.length;
    }
    assert.ok(maxAbsDiff(ens.subarray(i * 768, (i + 1) * 768), mean) < 1e-6);
  }
  const n0 = norms(ens, 768)[0];
  assert.ok(n0 < 1 - 1e-4, `the mean is not re-normalised (norm ${n0})`);
});

test('a missing model file gives an error naming it', { skip }, async () => {
  const broken = mkdtempSync(join(tmpdir(), 'v2l-clip-broken-'));
  try {
    writeStandInClip(broken, { seed: 2, mergesPath: merges, layers: 1 });
    writeFileSync(join(broken, 'onnx/text_model.onnx'), 'not an onnx model');
    await assert.rejects(loadClip(broken), new RegExp(`CLIP model folder "${broken}" failed to load`));
    unlinkSync(join(broken, 'onnx/text_model.onnx'));
    await assert.rejects(loadClip(broken), /onnx\/text_model\.onnx/);
    // The vision tower alone still loads, and its fingerprint differs from the other stand-in's.
    const v = await loadClip(broken, { towers: { vision: true, text: false } });
    assert.notEqual(v.fingerprint, clip.fingerprint);
    await assert.rejects(v.embedTexts(['x']), /text tower/);
    await v.dispose();
    await assert.rejects(loadClip(join(broken, 'nope')), /does not exist/);
    // A preset name resolves to the cache; without allowDownload nothing is fetched.
    await assert.rejects(loadClip('clip-vit-large-patch14', { cacheDir: join(broken, 'cache') }), /v2l models pull clip-vit-large-patch14/);
    // One tower or both: the fingerprint is the folder's.
    const t = await loadClip(dir, { towers: { text: true, vision: false } });
    assert.equal(t.fingerprint, clip.fingerprint);
    await t.dispose();
  } finally {
    rmSync(broken, { recursive: true, force: true });
  }
});

test('the stand-in needs CLIP\'s merges file and says which file is wrong', () => {
  const d = mkdtempSync(join(tmpdir(), 'v2l-clip-nomerges-'));
  try {
    assert.throws(() => writeStandInClip(join(d, 'm'), { mergesPath: join(d, 'missing.txt.gz') }), /missing\.txt\.gz" cannot be read/);
    writeFileSync(join(d, 'short.txt'), '#version\ni n\nt h\n');
    assert.throws(() => writeStandInClip(join(d, 'm'), { mergesPath: join(d, 'short.txt') }), /short\.txt" is not CLIP's BPE merges file/);
    assert.equal(existsSync(join(d, 'm', 'config.json')), false);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('the stand-in is deterministic in its seed', { skip }, () => {
  const d = mkdtempSync(join(tmpdir(), 'v2l-clip-seed-'));
  try {
    for (const [name, seed] of [['a', 7], ['b', 7], ['c', 8]] as const) writeStandInClip(join(d, name), { seed, mergesPath: merges, layers: 1, hidden: 16 });
    const bytes = (n: string) => readFileSync(join(d, n, 'onnx/vision_model.onnx'));
    assert.deepEqual(bytes('a'), bytes('b'));
    assert.notDeepEqual(bytes('a'), bytes('c'));
    const cfg = JSON.parse(readFileSync(join(d, 'a', 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(cfg.v2l_stand_in, true);
    assert.equal(cfg._name_or_path, 'v2l-stand-in-clip');
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('the fingerprint is remembered by size and mtime, and follows the files', { skip }, async () => {
  const d = mkdtempSync(join(tmpdir(), 'v2l-clip-fp-'));
  try {
    writeStandInClip(d, { seed: 4, mergesPath: merges, layers: 1, hidden: 16 });
    const a = await loadClip(d, { towers: { text: true, vision: false } });
    const memo = JSON.parse(readFileSync(join(dir, 'cache', 'clip-fingerprints.json'), 'utf8')) as Record<string, { sha256: string }>;
    assert.equal(memo[d].sha256, a.fingerprint);
    const b = await loadClip(d, { towers: { text: true, vision: false } });
    assert.equal(b.fingerprint, a.fingerprint);
    const cfg = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(d, 'config.json'), JSON.stringify({ ...cfg, note: 'changed' }));
    const c = await loadClip(d, { towers: { text: true, vision: false } });
    assert.notEqual(c.fingerprint, a.fingerprint);
    await Promise.all([a.dispose(), b.dispose(), c.dispose()]);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
