// `eval semantic` on real ImageNet sample images with a tiny random tokenizer and the STAND-IN CLIP
// (figures meaningless): the scores follow the stated definition, an unreadable image is named, shards
// merge to the unsplit figures, class names come from file names or a wnid file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSafetensors } from '../io/files.js';
import { NetworkParams } from '../network/network-params.js';
import { tinyConfig, MERGES } from '../train/test-utils/fixtures.js';
import { writeStandInClip } from '../models/clip/stand-in.js';
import { loadClip } from '../models/clip/transformers-clip.js';
import { V2LTokenizer, isFailure } from '../tokenizer/tokenizer.js';
import type { Codebook } from '../codebook/package.js';
import { skipUnless, sharedPath } from '../util/test-utils/shared.js';
import { evaluateSemantic, classOf, readClassNames, type SemanticOptions, type SemanticResult } from './semantic.js';
import { mergeEvaluations } from './merge.js';

const SAMPLE = sharedPath('data/imagenet-val-sample');
const skip = skipUnless([SAMPLE, MERGES], 'ImageNet sample images and CLIP\'s BPE merges');
const WORDS = ['fish', 'bird', 'dog', 'cat', 'red', 'blue', 'tree', 'car', 'boat', 'sky', 'water', 'grass', 'stone', 'house', 'road', 'snow',
  'sun', 'light', 'dark', 'small', 'large', 'green', 'white', 'black', 'wing', 'tail', 'leaf', 'sand', 'wood', 'metal', 'glass', 'cloud'];

let dir = '';
let base: Omit<SemanticOptions, 'out'>;
let codebook: Codebook;
let unsplit: SemanticResult;

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'v2l-eval-sem-'));
  const config = tinyConfig();
  const net = new NetworkParams(config, { seed: 5 });
  const sd = net.stateDict();
  writeSafetensors(join(dir, 'tok.safetensors'), sd, { config: JSON.stringify(config), image_size: '32' });
  // The codebooks the checkpoint holds, with texts for the global rows.
  codebook = {
    dir: join(dir, 'codebook'), manifest: { llm: { id: 'test', vocabHash: null, vocabSize: config.nLocal }, clip: { id: 'stand-in', fingerprint: null, dim: config.embedDim, isStandIn: true } } as Codebook['manifest'], dim: config.embedDim,
    local: sd.get('tok_embeddings.weight')!.data as Float32Array, localTexts: Array.from({ length: config.nLocal }, (_, i) => `l${i}`),
    global: sd.get('tok_embeddings_global.weight')!.data as Float32Array, globalEntries: WORDS.slice(0, config.nGlobal).map((text) => ({ text })),
  };
  writeStandInClip(join(dir, 'clip'), { seed: 2, projectionDim: config.embedDim, mergesPath: MERGES });
  const photos = readdirSync(SAMPLE).filter((f) => f.endsWith('.jpg')).sort().slice(0, 5).map((f) => join(SAMPLE, f));
  writeFileSync(join(dir, 'n99999999_broken_thing.jpg'), 'not an image');
  writeFileSync(join(dir, 'list.txt'), [photos[0], join(dir, 'n99999999_broken_thing.jpg'), ...photos.slice(1)].join('\n') + '\n');
  base = { checkpoint: join(dir, 'tok.safetensors'), codebook, clip: join(dir, 'clip'), images: join(dir, 'list.txt'), batchSize: 2, saveEvery: 0 };
  unsplit = await evaluateSemantic({ ...base, out: join(dir, 'whole') });
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('class names from <wnid>_<name> files, <wnid>/ folders and a wnid file', () => {
  assert.deepEqual(classOf('/x/n01443537_goldfish.jpg', null), { wnid: 'n01443537', name: 'goldfish' });
  assert.deepEqual(classOf('/x/n01484850_great_white_shark.jpg', null), { wnid: 'n01484850', name: 'great white shark' });
  assert.equal(classOf('/x/n01443537/val_1.JPEG', null), null);
  const dir2 = mkdtempSync(join(tmpdir(), 'v2l-names-'));
  writeFileSync(join(dir2, 'words.txt'), 'n01443537\tgoldfish, Carassius auratus\nn01629819 European fire salamander\n');
  const names = readClassNames(join(dir2, 'words.txt'));
  assert.deepEqual(classOf('/x/n01443537/val_1.JPEG', names), { wnid: 'n01443537', name: 'goldfish' });
  assert.equal(names.get('n01629819'), 'European fire salamander');
  rmSync(dir2, { recursive: true, force: true });
});

test('semantic: CLIP score and CLIP-R per the stated definition; the unreadable image named', { skip }, async () => {
  const r = unsplit;
  assert.equal(r.images.evaluated, 5);
  assert.equal(r.failures.length, 1);
  assert.match(r.failures[0].source, /n99999999_broken_thing\.jpg$/);
  assert.deepEqual(r.rows.map((x) => x.tokens), [5, 21]);
  assert.equal(r.meaningless, true);
  assert.ok(existsSync(join(dir, 'whole', 'table2.png')) && existsSync(join(dir, 'whole', 'table2.md')));
  // One image by hand: tokens via the tokenizer's own encodeGlobal, cosines of CLIP's normalised embeddings.
  const one = await evaluateSemantic({ ...base, out: join(dir, 'one'), limit: 1 });
  const clip = await loadClip(join(dir, 'clip'));
  const tok = await V2LTokenizer.load({ checkpoint: base.checkpoint, codebook, clip, globalTokens: 21 });
  const photo = readdirSync(SAMPLE).filter((f) => f.endsWith('.jpg')).sort()[0];
  const [g] = await tok.encodeGlobal([join(SAMPLE, photo)], { k: 5 });
  assert.ok(!isFailure(g as never));
  const text = (g as { global: { tokens: (string | null)[] } }).global.tokens.join(' ');
  const [img, t, cls] = [await clip.embedImages([join(SAMPLE, photo)]), ...(await Promise.all([clip.embedTexts([text]), clip.embedTexts(['a photo of a tench.'])]))];
  const cos = (a: Float32Array, b: Float32Array): number => a.reduce((s, v, i) => s + v * b[i], 0);
  assert.ok(Math.abs(one.rows[0].clip - cos(img, t)) < 1e-5, `${one.rows[0].clip} vs ${cos(img, t)}`);
  assert.ok(Math.abs(one.rows[0].clipR - cos(img, t) / cos(img, cls)) < 1e-4);
  await tok.dispose();
});

test('semantic: shards 0/2 and 1/2 merged equal the unsplit run; a run stopped after one batch resumes to it', { skip }, async () => {
  await evaluateSemantic({ ...base, out: join(dir, 's0'), shard: { index: 0, count: 2 } });
  await evaluateSemantic({ ...base, out: join(dir, 's1'), shard: { index: 1, count: 2 } });
  const { result } = await mergeEvaluations([join(dir, 's0'), join(dir, 's1')], join(dir, 'merged'));
  const m = result as SemanticResult;
  let n = 0;
  await assert.rejects(evaluateSemantic({ ...base, out: join(dir, 'resumed'), onProgress: () => { if (++n === 1) throw new Error('stop'); } }), /stop/);
  const resumed = await evaluateSemantic({ ...base, out: join(dir, 'resumed') });
  for (const other of [m, resumed]) {
    assert.deepEqual(other.failures, unsplit.failures);
    other.rows.forEach((row, i) => {
      assert.ok(Math.abs(row.clip - unsplit.rows[i].clip) < 1e-12);
      assert.ok(Math.abs(row.clipR - unsplit.rows[i].clipR) < 1e-12);
    });
  }
});
