// The measures against codebook collapse in the trainer (plain-autoencoder warm-up, delayed VQ loss,
// dead-code re-seeding, the decoder without cross-attention, cosine codes) keep exact resume, and the
// validation figures (PSNR, the collapsed model's PSNR, codes used, perplexity) and the collapse warning
// are reported. Tiny network, STAND-IN CLIP.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toFloat32 } from '../io/dtypes.js';
import type { ClipModel } from '../models/clip/types.js';
import { loadCheckpoint, resolveCheckpoint } from './checkpoint.js';
import { CollapseWatch, meanPsnr, train, type TrainOptions } from './loop.js';
import { readMetrics } from './metrics.js';
import { SKIP_NO_MERGES, standInClip, tinyConfig, writeImages } from './test-utils/fixtures.js';

const skip = SKIP_NO_MERGES;
let root = '';
let clip: ClipModel | null = null;
let files: string[] = [];

before(async () => {
  if (skip) return;
  root = mkdtempSync(join(tmpdir(), 'v2l-recipe-'));
  files = await writeImages(join(root, 'images'), 20);
  clip = await standInClip(join(root, 'clip'), 64);
});

after(async () => {
  await clip?.dispose();
  if (root) rmSync(root, { recursive: true, force: true });
});

function options(out: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    out, trainFiles: files.slice(0, 16), valFiles: files.slice(16), steps: 6, batchSize: 4, imageSize: 16, preprocess: 'simple',
    network: { ...tinyConfig(), crossAttention: false, cosineCodes: true }, seed: 5,
    loss: { recLoss: 'l1', codebookWeight: 1, perceptualWeight: 0, discWeight: 0.75, discStart: 100, discFactor: 1, kGlobal: 3, aeWarmupSteps: 2, vqStartStep: 2 },
    optim: { lr: 1e-3, discLr: 1e-3, beta1: 0.5, beta2: 0.9, eps: 1e-7, warmupSteps: 1, totalSteps: 6, minLr: 0, clipGrad: 0 },
    checkpointEvery: 3, keepLast: 0, valEvery: 3, clip: clip!, clipCacheDir: join(root, 'clip-cache'),
    // The robust recipe's re-seeding policy: split targets from more images than the batch, rare codes dead too.
    lpips: null, reseed: { every: 2, until: 4, kmeans: true, targets: 'split', minUsage: 2, images: 8 },
    ...extra,
  };
}

test('robust recipe: a run stopped at step 3 and resumed equals an uninterrupted one (re-seeding with k-means steps and split targets from 8 images at 2 and 4)', { skip }, async () => {
  const a = await train(options(join(root, 'straight')));
  await train(options(join(root, 'split'), { stopAfter: 3 }));
  await train(options(join(root, 'split'), { resume: true }));
  const ca = loadCheckpoint(resolveCheckpoint(join(root, 'straight'))!);
  const cb = loadCheckpoint(resolveCheckpoint(join(root, 'split'))!);
  assert.ok(![...ca.model.keys()].some((k) => k.includes('cross_attn')), 'no cross-attention weights');
  let maxDiff = 0;
  for (const [k, t] of new Map([...ca.model, ...ca.optimizer])) {
    const x = toFloat32(t);
    const y = toFloat32((cb.model.get(k) ?? cb.optimizer.get(k))!);
    for (let i = 0; i < x.length; i++) maxDiff = Math.max(maxDiff, Math.abs(x[i] - y[i]));
  }
  assert.ok(maxDiff <= 1e-6, `max abs difference ${maxDiff}`);
  const m = readMetrics(join(root, 'straight', 'metrics.jsonl'));
  const strip = (r: Record<string, unknown>) => Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'images_per_s'));
  assert.deepEqual(readMetrics(join(root, 'split', 'metrics.jsonl')).map(strip), m.map(strip));
  // Re-seeding happened and says how many codes it moved; the VQ loss is off before step 2.
  const rs = m.filter((r) => 'reseeded_codes' in r);
  assert.deepEqual(rs.map((r) => r.step), [2, 4]);
  assert.ok((rs[0].reseeded_codes as number) > 0);
  const train1 = m.find((r) => r.step === 1 && 'loss' in r)!;
  assert.equal(train1.loss, train1.rec_loss, 'no VQ term before vqStartStep');
  const train3 = m.find((r) => r.step === 3 && 'loss' in r)!;
  assert.ok((train3.loss as number) > (train3.rec_loss as number), 'the VQ term from vqStartStep on');
  // Validation figures.
  const v = m.filter((r) => 'val_rec_loss' in r);
  assert.deepEqual(v.map((r) => r.step), [0, 3, 6]);
  for (const r of v) {
    for (const k of ['val_psnr', 'val_psnr_collapsed', 'val_perplexity', 'val_local_tokens_used']) assert.equal(typeof r[k], 'number', k);
    assert.ok((r.val_perplexity as number) >= 1 && (r.val_perplexity as number) <= (r.val_local_tokens_used as number) + 1e-9);
  }
  assert.ok(a.lastValidation && a.collapsedPsnr !== null);
  assert.equal(a.lastValidation.psnr, v[2].val_psnr);
});

test('PSNR: identical images are capped, a uniform error of 0.1 in [-1, 1] is 26.02 dB, out-of-range values are clipped', () => {
  const x = new Float32Array(12).fill(0.5);
  assert.ok(meanPsnr(x, x, 2) >= 99);
  const y = x.map((v) => v + 0.1);
  assert.ok(Math.abs(meanPsnr(x, y, 2) - 10 * Math.log10(1 / 0.0025)) < 1e-3);
  assert.ok(Math.abs(meanPsnr(new Float32Array(3).fill(1), new Float32Array(3).fill(5), 1) - 100) < 1e-9);
});

test('collapse warning: after two validations in a row under the threshold, once, naming the figure', () => {
  const w = new CollapseWatch(512, 64 * 256);
  assert.equal(w.threshold, 11);
  assert.equal(w.check(0, 1, 64), null, 'step 0 never counts');
  assert.equal(w.check(50, 3, 64), null);
  assert.match(w.check(100, 2, 64) ?? '', /only 2 distinct local tokens over 64 validation images at step 100/);
  assert.equal(w.check(150, 2, 64), null, 'said once');
  assert.equal(w.check(200, 40, 64), null);
  assert.equal(w.check(250, 4, 64), null);
  assert.match(w.check(300, 4, 64) ?? '', /collapse/);
  assert.equal(new CollapseWatch(64, 100).threshold, 8);
});
