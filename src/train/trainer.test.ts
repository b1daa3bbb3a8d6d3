// End-to-end training on a tiny configuration with the STAND-IN CLIP and a STAND-IN LPIPS backbone (no
// real CLIP or VGG16 exists on the test machines): exact resume, frozen codebooks, outputs on disk.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toFloat32 } from '../io/dtypes.js';
import type { ClipModel } from '../models/clip/types.js';
import { NetworkParams } from '../network/network-params.js';
import { loadCheckpoint, resolveCheckpoint } from './checkpoint.js';
import { train, type TrainOptions } from './loop.js';
import { readMetrics } from './metrics.js';
import { SKIP_NO_MERGES, standInClip, tinyConfig, writeImages } from './test-utils/fixtures.js';
import { defaultLpipsHeads } from './setup.js';
import { skipUnless, sharedPath } from '../util/test-utils/shared.js';

const skip = SKIP_NO_MERGES || skipUnless(sharedPath('models/lpips/v0.1_json/vgg.json'), 'the LPIPS heads') || (!defaultLpipsHeads('vgg') && 'no LPIPS heads found');
let root = '';
let clip: ClipModel | null = null;
let files: string[] = [];

before(async () => {
  if (skip) return;
  root = mkdtempSync(join(tmpdir(), 'v2l-train-'));
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
    network: tinyConfig(), seed: 5,
    loss: { recLoss: 'l1', codebookWeight: 1, perceptualWeight: 0.1, discWeight: 0.75, discStart: 2, discFactor: 1, kGlobal: 3 },
    optim: { lr: 1e-3, discLr: 1e-3, beta1: 0.5, beta2: 0.9, eps: 1e-7, warmupSteps: 2, totalSteps: 6, minLr: 0, clipGrad: 1 },
    checkpointEvery: 3, keepLast: 0, valEvery: 3, clip: clip!, clipCacheDir: join(root, 'clip-cache'),
    lpips: { backbone: 'vgg', backboneWeights: 'stand-in', heads: defaultLpipsHeads('vgg')!, seed: 5 },
    ...extra,
  };
}

test('a run stopped at step 3 and resumed ends bit-identical to an uninterrupted 6-step run (GAN and LPIPS on across the break)', { skip }, async () => {
  const a = await train(options(join(root, 'straight')));
  assert.equal(a.step, 6);
  const b1 = await train(options(join(root, 'split'), { stopAfter: 3 }));
  assert.equal(b1.step, 3);
  const b2 = await train(options(join(root, 'split'), { resume: true }));
  assert.equal(b2.step, 6);
  const ca = loadCheckpoint(resolveCheckpoint(join(root, 'straight'))!);
  const cb = loadCheckpoint(resolveCheckpoint(join(root, 'split'))!);
  assert.equal(ca.step, 6);
  assert.equal(cb.step, 6);
  const all = (c: typeof ca) => new Map([...c.model, ...c.optimizer]);
  const ta = all(ca);
  const tb = all(cb);
  assert.deepEqual([...ta.keys()].sort(), [...tb.keys()].sort());
  let maxDiff = 0;
  for (const [k, t] of ta) {
    const x = toFloat32(t);
    const y = toFloat32(tb.get(k)!);
    for (let i = 0; i < x.length; i++) maxDiff = Math.max(maxDiff, Math.abs(x[i] - y[i]));
  }
  assert.ok(maxDiff <= 1e-6, `max abs difference ${maxDiff}`);
  // The GAN terms were active after step 2, on both sides of the break.
  const ma = readMetrics(join(root, 'straight', 'metrics.jsonl'));
  const mb = readMetrics(join(root, 'split', 'metrics.jsonl'));
  const strip = (r: Record<string, unknown>) => Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'images_per_s'));
  assert.deepEqual(mb.map(strip), ma.map(strip));
  assert.ok(ma.some((r) => r.step === 6 && typeof r.g_loss === 'number' && typeof r.d_loss === 'number' && typeof r.p_loss === 'number'));
  // Outputs: validation records, reconstruction grids, loss curves.
  assert.deepEqual(ma.filter((r) => 'val_rec_loss' in r).map((r) => r.step), [0, 3, 6]);
  for (const s of ['0000000', '0000003', '0000006']) assert.ok(existsSync(join(root, 'straight', 'samples', `step-${s}.png`)));
  assert.ok(existsSync(join(root, 'straight', 'loss-curves.png')));
});

test('frozen parts stay frozen: the codebooks are not optimised and keep their values; trainable weights move', { skip }, async () => {
  const out = join(root, 'frozen');
  await train(options(out, { steps: 2, stopAfter: 2 }));
  const ck = loadCheckpoint(resolveCheckpoint(out)!);
  const init = new NetworkParams(tinyConfig(), { seed: 5 }).stateDict();
  for (const k of ['tok_embeddings.weight', 'tok_embeddings_global.weight']) {
    assert.deepEqual(Array.from(toFloat32(ck.model.get(k)!)), Array.from(toFloat32(init.get(k)!)), `${k} changed`);
    assert.ok(![...ck.optimizer.keys()].some((o) => o.endsWith(`/${k}`)), `${k} has optimiser state`);
  }
  const moved = (k: string) => toFloat32(ck.model.get(k)!).some((v, i) => v !== toFloat32(init.get(k)!)[i]);
  for (const k of ['encoder.conv_in.weight', 'codebook_projection.weight', 'decoder.conv_out.weight']) assert.ok(moved(k), `${k} did not train`);
});

test('resume refuses another data list or network configuration, naming the difference', { skip }, async () => {
  const out = join(root, 'straight');
  await assert.rejects(train(options(out, { resume: true, trainFiles: files.slice(1, 17) })), /another training file list/);
  await assert.rejects(train(options(out, { resume: true, network: { ...tinyConfig(), zChannels: 64 } })), /another network configuration \(checkpoint vs this run: zChannels: 32 vs 64\)/);
});
