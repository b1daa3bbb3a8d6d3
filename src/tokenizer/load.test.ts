// The tokenizer's load paths on a tiny random network: a `v2l train` checkpoint (image size and global
// tokens handed over), the refusals (another codebook than the one trained with, a CLIP of another width
// or another fingerprint than the codebook's, an image size the encoder cannot take), and one rule for
// what CLIP sees: a photo gets the same global tokens through the codebook build's and training's cache
// and through `tokenize`. The CLIP is the STAND-IN (random weights).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetworkParams } from '../network/network-params.js';
import type { V2LConfig } from '../network/config.js';
import { saveCheckpoint } from '../train/checkpoint.js';
import { loadCodebook, writeCodebook, type Codebook } from '../codebook/package.js';
import type { ClipModel } from '../models/clip/types.js';
import { EmbeddingCache, imageCacheNamespace, streamImageEmbeddings } from '../models/clip/embedding-cache.js';
import { ClipEmbeddingCache } from '../train/clip-cache.js';
import { MERGES, standInClip } from '../train/test-utils/fixtures.js';
import { sharedPath, skipUnless } from '../util/test-utils/shared.js';
import { V2LTokenizer, isFailure, type EncodedImage } from './tokenizer.js';

const DOG = sharedPath('data/photos/dog.jpg'); // 768x576: larger than 4x the 32 px encoder input
const skip = skipUnless([MERGES, DOG], "CLIP's BPE merges and the sample photos");

const config: V2LConfig = {
  ch: 32, chMult: [1, 2], numResBlocks: 1, resolution: 32, attnResolutions: [], inChannels: 3, outCh: 3,
  zChannels: 8, embedDim: 64, nLocal: 40, nGlobal: 12, crossAttnHeads: 2, crossAttnDimHead: 64, discLayers: 2, discNdf: 8,
};

let dir = '';
let checkpoint = '';
let misfit = '';
let cbDir = '';
let clip: ClipModel;

function rows(n: number, dim: number, seed: number): Float32Array {
  return Float32Array.from({ length: n * dim }, (_, i) => Math.sin(i * 0.37 + seed));
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'v2l-tok-load-'));
  const net = new NetworkParams(config, { seed: 3 });
  const sd = net.stateDict();
  // The codebooks the run was "trained" with, also written as a package.
  const local = rows(config.nLocal, config.embedDim, 1);
  const global = rows(config.nGlobal, config.embedDim, 2);
  sd.set('tok_embeddings.weight', { dtype: 'F32', shape: [config.nLocal, config.embedDim], data: local });
  sd.set('tok_embeddings_global.weight', { dtype: 'F32', shape: [config.nGlobal, config.embedDim], data: global });
  checkpoint = saveCheckpoint(join(dir, 'run'), { step: 1, extra: { imageSize: 32, loss: { kGlobal: 3 } } }, sd, new Map(), config, 1);
  // One tensor missing, one misshapen, one foreign: the host-side check names each.
  const bad = new Map(sd);
  bad.delete('decoder.conv_out.bias');
  bad.set('quant_conv.weight', { dtype: 'F32', shape: [64, 8, 3, 3], data: new Float32Array(64 * 8 * 9) });
  bad.set('encoder.extra.weight', { dtype: 'F32', shape: [1], data: new Float32Array(1) });
  misfit = saveCheckpoint(join(dir, 'misfit'), { step: 1, extra: { imageSize: 32 } }, bad, new Map(), config, 1);
  if (skip) return;
  clip = await standInClip(join(dir, 'clip'), config.embedDim);
  cbDir = join(dir, 'cb');
  writeCodebook(cbDir, {
    manifest: {
      source: 'built',
      llm: { id: 'tiny', vocabHash: 'a'.repeat(64), vocabSize: config.nLocal },
      clip: { id: clip.id, fingerprint: clip.fingerprint, dim: clip.dim, isStandIn: true },
      rendering: { tokenStyle: 'sentencepiece', candidateStyle: 'detokenized' },
      expansion: { prefix: 'a photo of', m: 1, excludedContinuations: [] },
      templates: { name: 'single', count: 1, hash: 'h' },
      filter: { similarity: 'cosine', k: 5, threshold: 0, topN: null, imageCount: 1 },
      counts: { vocabulary: config.nLocal, candidates: config.nGlobal, global: config.nGlobal },
    },
    local, localTexts: Array.from({ length: config.nLocal }, (_, i) => `t${i}`), global,
    globalEntries: Array.from({ length: config.nGlobal }, (_, i) => ({ text: `g${i}`, ids: [i, i + 1], count: 1 })),
  });
});

after(async () => {
  await clip?.dispose().catch(() => undefined); // a tokenizer given the CLIP disposes it with itself
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a v2l train checkpoint loads with its image size and global tokens', async () => {
  const tok = await V2LTokenizer.load({ checkpoint, onnxCache: null });
  try {
    assert.equal(tok.imageSize, 32);
    assert.equal(tok.globalTokens, 3);
    assert.equal(tok.gridSize, 16);
    const [img] = await tok.decode([Array.from({ length: 16 }, () => Array(16).fill(1))], [[0, 1, 2]]);
    assert.equal(img.width, 32);
  } finally {
    await tok.dispose();
  }
});

test('a weights file that does not fit the network is refused before the export, naming every bad key', async () => {
  await assert.rejects(V2LTokenizer.load({ checkpoint: misfit, onnxCache: null }),
    /state dict does not fit the network .*missing 1: decoder\.conv_out\.bias; unexpected 1: encoder\.extra\.weight; misshapen 1: quant_conv\.weight \(file \[64,8,3,3\], network \[64,8,1,1\]\)/);
});

test('refusals before any image work: image size, another codebook than the one trained with, CLIP width', async () => {
  await assert.rejects(V2LTokenizer.load({ checkpoint, onnxCache: null, imageSize: 33 }), /image size 33 is not a multiple of the encoder's downsampling factor 2 \(2 levels\): use 34/);
  const other = join(dir, 'other-cb');
  const c = { dir: other, dim: config.embedDim } as Partial<Codebook>;
  const fake = {
    ...c,
    manifest: { clip: { id: 'x', fingerprint: null, dim: config.embedDim } },
    local: rows(config.nLocal, config.embedDim, 1),
    global: rows(config.nGlobal, config.embedDim, 9),
    localTexts: [], globalEntries: [],
  } as unknown as Codebook;
  await assert.rejects(V2LTokenizer.load({ checkpoint, onnxCache: null, codebook: fake }),
    /was trained with a different global codebook than the one in .*other-cb: same shape \[12,64\], different values/);
  const narrow = { id: 'narrow', fingerprint: 'e'.repeat(64), dim: 32, isStandIn: true, embedImages: async () => new Float32Array(), embedTexts: async () => new Float32Array(), dispose: async () => {} } as ClipModel;
  await assert.rejects(V2LTokenizer.load({ checkpoint, onnxCache: null, clip: narrow }), /CLIP narrow gives 32-d image embeddings, the network .* and its global codebook are 64-d/);
});

test('a codebook built with another CLIP is refused, naming both fingerprints', { skip }, async () => {
  const other = { ...clip, id: 'other-clip', fingerprint: 'e'.repeat(64), dim: clip.dim } as ClipModel;
  await assert.rejects(V2LTokenizer.load({ checkpoint, onnxCache: null, codebook: cbDir, clip: other }),
    new RegExp(`built with CLIP .*\\(fingerprint ${clip.fingerprint.slice(0, 12)}\\), the CLIP in use is "other-clip" \\(fingerprint eeeeeeeeeeee\\)`));
});

test('one rule for what CLIP sees: the same global tokens through the build/training cache and tokenize', { skip }, async () => {
  const tok = await V2LTokenizer.load({ checkpoint, onnxCache: null, codebook: cbDir, clip });
  try {
    // Training's cache and the codebook build's stream: the same cache, CLIP on the original file.
    const trainEmb = await new ClipEmbeddingCache(join(dir, 'cache'), clip).embedFiles([DOG]);
    let buildEmb = new Float32Array();
    await streamImageEmbeddings(clip, [DOG], new EmbeddingCache(join(dir, 'cache2'), imageCacheNamespace(clip), clip.dim), (e) => { buildEmb = e.slice(); });
    assert.deepEqual(Array.from(buildEmb), Array.from(trainEmb));
    // The global quantizer by hand: the 3 nearest rows of the global codebook to the normalised embedding.
    const norm = Math.sqrt(trainEmb.reduce((s, v) => s + v * v, 0));
    const book = loadCodebook(cbDir).global;
    const dist = Array.from({ length: config.nGlobal }, (_, r) => ({ r, d: Array.from(trainEmb).reduce((s, v, j) => s + (v / norm - book[r * clip.dim + j]) ** 2, 0) }));
    const expected = dist.sort((a, b) => a.d - b.d).slice(0, 3).map((x) => x.r);
    const [enc] = await tok.encode([DOG]);
    assert.ok(!isFailure(enc));
    assert.deepEqual((enc as EncodedImage).global.ids, expected, 'tokenize gives CLIP the original file, not the copy shrunk for the encoder');
    const [g] = await tok.encodeGlobal([DOG]);
    assert.deepEqual((g as { global: { ids: number[] } }).global.ids, expected);
    // What each id is: global ids are rows of the global codebook, with the LLM token ids of each entry.
    assert.deepEqual((enc as EncodedImage).global.llmIds, expected.map((i) => [i, i + 1]));
    assert.deepEqual((enc as EncodedImage).global.tokens, expected.map((i) => `g${i}`));
  } finally {
    await tok.dispose();
  }
});

test('v2l tokenize: an unreadable image gives an error line, the others their tokens, exit code 1', { skip, timeout: 120_000 }, () => {
  const bad = join(dir, 'truncated.jpg');
  writeFileSync(bad, readFileSync(DOG).subarray(0, 300));
  const main = new URL('../cli/main.ts', import.meta.url).href;
  const runner = `import(${JSON.stringify(main)}).then((m) => m.main(['node', 'v2l', ...process.argv.slice(1)])).catch((e) => { console.error('v2l: ' + e.message); process.exit(1); });`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', runner, 'tokenize', '--checkpoint', checkpoint, '--codebook', cbDir, '--clip', join(dir, 'clip'),
    '--quiet', DOG, bad], { cwd: new URL('../../', import.meta.url).pathname, encoding: 'utf8', env: { ...process.env, V2L_CACHE: join(dir, 'v2l-cache') } });
  assert.equal(r.status, 1, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { source: string; error?: string; global?: { ids: number[]; llmIds: number[][] } });
  assert.equal(lines.length, 2);
  assert.equal(lines[0].global?.ids.length, 3, 'the checkpoint\'s global tokens');
  assert.equal(lines[0].global?.llmIds.length, 3);
  assert.match(lines[1].error ?? '', /truncated\.jpg/);
  assert.match(r.stderr, /1 of 2 images could not be read/);
});
