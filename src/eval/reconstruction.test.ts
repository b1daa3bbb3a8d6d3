// `eval reconstruction` end to end on real images with a tiny random tokenizer and the STAND-IN CLIP,
// Inception and AlexNet (figures meaningless; the computation is what is tested): an unreadable image is
// named, shards merge to the unsplit figures, an interrupted run resumes to them, and too few images are refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readdirSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSafetensors } from '../io/files.js';
import { NetworkParams } from '../network/network-params.js';
import { tinyConfig, MERGES } from '../train/test-utils/fixtures.js';
import { writeStandInClip } from '../models/clip/stand-in.js';
import { skipUnless, sharedPath } from '../util/test-utils/shared.js';
import { writeStandInInception } from './stand-in-inception.js';
import { evaluateReconstruction, type ReconstructionOptions, type ReconstructionResult } from './reconstruction.js';
import { mergeEvaluations } from './merge.js';

const SAMPLE = sharedPath('data/imagenet-val-sample');
const HEADS = sharedPath('models/lpips/v0.1_json/alex.json');
const skip = skipUnless([SAMPLE, HEADS, MERGES], 'ImageNet sample images, the LPIPS heads and CLIP\'s BPE merges');

let dir = '';
let base: Omit<ReconstructionOptions, 'out'>;
let unsplit: ReconstructionResult;

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'v2l-eval-rec-'));
  const config = tinyConfig();
  const net = new NetworkParams(config, { seed: 3 });
  writeSafetensors(join(dir, 'tok.safetensors'), net.stateDict(), { config: JSON.stringify(config), image_size: '32' });
  writeStandInClip(join(dir, 'clip'), { seed: 1, projectionDim: config.embedDim, mergesPath: MERGES });
  const inception = writeStandInInception(join(dir, 'inception'), { seed: 0, dim: 48 });
  const photos = readdirSync(SAMPLE).filter((f) => f.endsWith('.jpg')).sort().slice(0, 6).map((f) => join(SAMPLE, f));
  writeFileSync(join(dir, 'broken.jpg'), 'not an image');
  // 7 entries, batches of 2: the broken file sits in the second batch.
  writeFileSync(join(dir, 'list.txt'), [photos[0], photos[1], photos[2], join(dir, 'broken.jpg'), ...photos.slice(3)].join('\n') + '\n');
  base = {
    checkpoint: join(dir, 'tok.safetensors'), clip: join(dir, 'clip'), images: join(dir, 'list.txt'), inception,
    lpipsBackbone: 'stand-in', lpipsHeads: HEADS, imageSize: 32, globalTokens: 21, batchSize: 2, saveEvery: 0,
  };
  unsplit = await evaluateReconstruction({ ...base, out: join(dir, 'whole') });
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const rel = (a: number, b: number): number => Math.abs(a - b) / Math.max(1e-300, Math.abs(b));

function sameFigures(a: ReconstructionResult, b: ReconstructionResult): void {
  assert.ok(rel(a.fid!, b.fid!) < 1e-9, `FID ${a.fid} vs ${b.fid}`);
  for (const k of ['lpips', 'psnrY', 'psnrRgb', 'ssim'] as const) assert.ok(rel(a[k], b[k]) < 1e-12, `${k}: ${a[k]} vs ${b[k]}`);
  assert.equal(a.images.evaluated, b.images.evaluated);
  assert.deepEqual(a.failures, b.failures);
}

test('reconstruction: every figure computed, the unreadable image named, outputs written, stand-ins labelled', { skip }, () => {
  const r = unsplit;
  assert.equal(r.images.selected, 7);
  assert.equal(r.images.evaluated, 6);
  assert.equal(r.failures.length, 1);
  assert.match(r.failures[0].source, /broken\.jpg$/);
  assert.equal(r.tokensPerImage, 21 + 16 * 16);
  for (const v of [r.fid!, r.lpips, r.psnrY, r.psnrRgb, r.ssim]) assert.ok(Number.isFinite(v), String(v));
  assert.ok(r.fid! > 0 && r.lpips > 0 && r.ssim < 1);
  assert.deepEqual(r.standIns, ['CLIP', 'Inception', 'LPIPS AlexNet']);
  assert.equal(r.meaningless, true);
  const md = readFileSync(join(dir, 'whole', 'table3.md'), 'utf8');
  assert.match(md, /meaningless/);
  assert.match(md, /broken\.jpg/);
  assert.match(md, /2\.88/); // the paper's Hybrid FID beside ours
  assert.ok(existsSync(join(dir, 'whole', 'table3.png')));
  assert.ok(existsSync(join(dir, 'whole', 'reconstruction.json')));
});

test('reconstruction: shards 0/2 and 1/2 merged equal the unsplit run', { skip }, async () => {
  const s0 = await evaluateReconstruction({ ...base, out: join(dir, 's0'), shard: { index: 0, count: 2 } });
  const s1 = await evaluateReconstruction({ ...base, out: join(dir, 's1'), shard: { index: 1, count: 2 } });
  assert.equal(s0.images.selected + s1.images.selected, 7);
  const merged = await mergeEvaluations([join(dir, 's1'), join(dir, 's0')], join(dir, 'merged'));
  assert.equal(merged.kind, 'reconstruction');
  sameFigures(merged.result as ReconstructionResult, unsplit);
  await assert.rejects(mergeEvaluations([join(dir, 's0')], join(dir, 'm2')), /shard 1\/2 missing/);
});

test('reconstruction: a run stopped after one batch resumes to the same figures', { skip }, async () => {
  const out = join(dir, 'resumed');
  let batches = 0;
  await assert.rejects(evaluateReconstruction({
    ...base, out, onProgress: () => {
      if (++batches === 1) throw new Error('simulated kill');
    },
  }), /simulated kill/);
  const lines: string[] = [];
  const r = await evaluateReconstruction({ ...base, out, log: (l) => lines.push(l) });
  assert.ok(lines.some((l) => /resuming .*1 of 4 batches done/.test(l)), lines.join('\n'));
  sameFigures(r, unsplit);
  // Other settings in the same folder are refused, not mixed in.
  await assert.rejects(evaluateReconstruction({ ...base, out, globalTokens: 5 }), /other settings/);
});

test('reconstruction: fewer than 2 images for FID is refused', { skip }, async () => {
  await assert.rejects(evaluateReconstruction({ ...base, out: join(dir, 'one'), limit: 1 }), /FID needs at least 2 images/);
});

test('reconstruction: a refused run writes nothing (no --out folder, no stand-in Inception files, an existing folder unchanged)', { skip }, async () => {
  // Refused before any work, in a folder (and its parent) that did not exist: neither is left behind.
  await assert.rejects(evaluateReconstruction({ ...base, out: join(dir, 'no-parent', 'one'), limit: 1 }), /FID needs at least 2 images/);
  assert.ok(!existsSync(join(dir, 'no-parent')), 'the folders a refused run created are removed');
  // Refused after the STAND-IN Inception was built (the LPIPS heads are missing): nothing of it in --out.
  const out = join(dir, 'refused-late');
  await assert.rejects(evaluateReconstruction({ ...base, out, inception: 'stand-in', lpipsHeads: join(dir, 'missing-heads.json'), limit: 2 }));
  assert.ok(!existsSync(out), `${out} left by a refused run: ${existsSync(out) ? readdirSync(out, { recursive: true }).join(', ') : ''}`);
  // A folder holding another run's state: the refusal leaves exactly what was there.
  const kept = join(dir, 'kept');
  await evaluateReconstruction({ ...base, out: kept, limit: 2 });
  const before = readdirSync(kept).sort();
  const state = readFileSync(join(kept, 'state.safetensors'));
  await assert.rejects(evaluateReconstruction({ ...base, out: kept, limit: 2, inception: 'stand-in' }), /other settings \(inception: /);
  assert.deepEqual(readdirSync(kept).sort(), before);
  assert.ok(readFileSync(join(kept, 'state.safetensors')).equals(state));
});

test('reconstruction: --lpips-protocol reference changes LPIPS only (the reference\'s [-3, 1] input range)', { skip }, async () => {
  const correct = await evaluateReconstruction({ ...base, out: join(dir, 'lp-correct'), limit: 3 });
  const reference = await evaluateReconstruction({ ...base, out: join(dir, 'lp-reference'), limit: 3, lpipsProtocol: 'reference' });
  assert.equal(reference.lpipsProtocol, 'reference');
  assert.notEqual(reference.lpips, correct.lpips);
  for (const k of ['fid', 'psnrY', 'psnrRgb', 'ssim'] as const) assert.equal(reference[k], correct[k]);
});

test('reconstruction: image size and global tokens are the checkpoint\'s unless told, and a told value that differs is stated', { skip }, async () => {
  const lines: string[] = [];
  const { imageSize: _s, globalTokens: _k, ...untold } = base;
  void _s;
  void _k;
  const r = await evaluateReconstruction({ ...untold, out: join(dir, 'defaults'), limit: 2, log: (l) => lines.push(l) });
  assert.equal(r.imageSize, 32, 'the checkpoint\'s image_size');
  assert.equal(r.globalTokens, 5, 'the default: the checkpoint records no count');
  assert.ok(lines.some((l) => /does not record its global-token count: 5 assumed \(--global-tokens\)/.test(l)), lines.join('\n'));
  assert.ok(!lines.some((l) => /px \(--image-size\)/.test(l)), lines.join('\n'));
  lines.length = 0;
  await evaluateReconstruction({ ...base, imageSize: 64, out: join(dir, 'told'), limit: 2, log: (l) => lines.push(l) });
  assert.ok(lines.some((l) => /evaluating at 64 px \(--image-size\); .*tok\.safetensors was trained at 32 px/.test(l)), lines.join('\n'));
});

test('reconstruction: one run per output folder (the second refused naming the pid); merging shards of other settings names the setting', { skip }, async () => {
  const out = join(dir, 'locked');
  const first = evaluateReconstruction({ ...base, out, limit: 2 });
  await assert.rejects(evaluateReconstruction({ ...base, out, limit: 2 }), new RegExp(`locked \\(an evaluation's output folder\\) is being written by another run \\(pid ${process.pid}`));
  await first;
  await evaluateReconstruction({ ...base, out, limit: 2 }); // released: a later run resumes (already done)
  const a = join(dir, 'm-s0');
  const b = join(dir, 'm-s1');
  await evaluateReconstruction({ ...base, out: a, limit: 4, shard: { index: 0, count: 2 } });
  await evaluateReconstruction({ ...base, out: b, limit: 4, shard: { index: 1, count: 2 }, lpipsProtocol: 'reference' });
  await assert.rejects(mergeEvaluations([a, b], join(dir, 'm')), /shard 1\/2 was run with other settings than shard 0\/2 \(lpips: \{.*"protocol":"correct"\} -> \{.*"protocol":"reference"\}\)/);
});
