// `v2l train` end to end on a tiny configuration with the STAND-IN CLIP: exact resume (bit for bit on CPU,
// with the AE warm-up, the delayed VQ loss and k-means re-seeding across the break), a checkpoint of the
// tfjs trainer of earlier versions (its Adam moments in that trainer's layout) resumes, and --device cuda
// where a CUDA provider exists.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toFloat32 } from '../io/dtypes.js';
import type { ClipModel } from '../models/clip/types.js';
import { loadCheckpoint, resolveCheckpoint, saveCheckpoint } from './checkpoint.js';
import { train, type TrainOptions } from './loop.js';
import { readMetrics } from './metrics.js';
import { GeneratorStepSession } from './onnx-session.js';
import { randn } from '../util/random.js';
import { NetworkParams } from '../network/network-params.js';
import { permuteLayout } from '../network/param-specs.js';
import { defaultLpipsHeads } from './setup.js';
import { SKIP_NO_MERGES, standInClip, tinyConfig, writeImages } from './test-utils/fixtures.js';

const skip = SKIP_NO_MERGES;
let root = '';
let clip: ClipModel | null = null;
let files: string[] = [];

before(async () => {
  if (skip) return;
  root = mkdtempSync(join(tmpdir(), 'v2l-train-onnx-'));
  files = await writeImages(join(root, 'images'), 20);
  clip = await standInClip(join(root, 'clip'), 64);
});

after(async () => {
  await clip?.dispose();
  if (root) rmSync(root, { recursive: true, force: true });
});

function options(out: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    out, trainFiles: files.slice(0, 16), valFiles: files.slice(16), steps: 6, batchSize: 4, microBatch: 3, imageSize: 16, preprocess: 'simple',
    network: { ...tinyConfig(), cosineCodes: true }, seed: 5,
    loss: { recLoss: 'l1', codebookWeight: 1, perceptualWeight: 0, discWeight: 0.75, discStart: 1_000_000, discFactor: 1, kGlobal: 3, aeWarmupSteps: 2, vqStartStep: 2 },
    optim: { lr: 1e-3, discLr: 1e-3, beta1: 0.5, beta2: 0.9, eps: 1e-7, warmupSteps: 2, totalSteps: 6, minLr: 0, clipGrad: 1 },
    checkpointEvery: 3, keepLast: 0, valEvery: 3, clip: clip!, clipCacheDir: join(root, 'clip-cache'),
    lpips: null, engineThreads: 2, reseed: { every: 2, until: 6, kmeans: true },
    ...extra,
  };
}

function maxDifference(a: string, b: string): number {
  const ca = loadCheckpoint(resolveCheckpoint(a)!);
  const cb = loadCheckpoint(resolveCheckpoint(b)!);
  const ta = new Map([...ca.model, ...ca.optimizer]);
  const tb = new Map([...cb.model, ...cb.optimizer]);
  assert.deepEqual([...ta.keys()].sort(), [...tb.keys()].sort());
  let d = 0;
  for (const [k, t] of ta) {
    const x = toFloat32(t);
    const y = toFloat32(tb.get(k)!);
    for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i] - y[i]));
  }
  return d;
}

test('--engine onnx: a run stopped after step 3 and resumed is bit-identical to an uninterrupted 6-step run', { skip }, async () => {
  const a = await train(options(join(root, 'straight')));
  assert.equal(a.step, 6);
  await train(options(join(root, 'split'), { stopAfter: 3 }));
  const b = await train(options(join(root, 'split'), { resume: true }));
  assert.equal(b.step, 6);
  assert.equal(maxDifference(join(root, 'straight'), join(root, 'split')), 0);
  const strip = (r: Record<string, unknown>) => Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'images_per_s'));
  const ma = readMetrics(join(root, 'straight', 'metrics.jsonl'));
  assert.deepEqual(readMetrics(join(root, 'split', 'metrics.jsonl')).map(strip), ma.map(strip));
  assert.ok(ma.some((r) => typeof r.reseeded_codes === 'number'), 're-seeding ran');
  assert.ok(ma.filter((r) => typeof r.vq_loss === 'number').length === 6);
});

test('a checkpoint of the tfjs trainer (format 1: Adam moments in its layout, no optimizerLayout) resumes exactly', { skip }, async () => {
  await train(options(join(root, 'legacy'), { stopAfter: 3 }));
  // Rewrite the step-3 checkpoint as the tfjs trainer wrote it: moments of convs as [kh, kw, in, out], of linears as [in, out].
  const path = resolveCheckpoint(join(root, 'legacy'))!;
  const ck = loadCheckpoint(path);
  const net = new NetworkParams(options('').network);
  const optimizer = new Map([...ck.optimizer].map(([k, t]) => {
    const name = k.replace(/^optimizer\.(gen|disc)\.[mv]\//, '');
    if (name === k || !net.specs.specs.has(name)) return [k, t];
    const layout = net.layoutOf(name);
    const shape = layout === 'conv' ? [t.shape[2], t.shape[3], t.shape[1], t.shape[0]] : layout === 'linear' ? [t.shape[1], t.shape[0]] : t.shape;
    return [k, { ...t, shape, data: permuteLayout(t.data as Float32Array, t.shape, layout, 'toInternal') }];
  }));
  const extra: Record<string, unknown> = { ...(ck.extra as Record<string, unknown>), engine: 'tfjs' };
  delete extra.optimizerLayout;
  rmSync(path);
  saveCheckpoint(join(root, 'legacy'), { step: ck.step, extra }, ck.model, optimizer, ck.config, 0);
  const r = await train(options(join(root, 'legacy'), { resume: true }));
  assert.equal(r.step, 6);
  assert.equal(maxDifference(join(root, 'straight'), join(root, 'legacy')), 0);
});

const heads = defaultLpipsHeads('vgg');
test('--engine onnx with the full loss (LPIPS with a STAND-IN backbone, GAN from step 2): stopped after step 3 and resumed = uninterrupted, bit for bit', { skip: skip || (heads ? false : 'no LPIPS heads (../shared)') }, async () => {
  const full = (out: string, extra: Partial<TrainOptions> = {}) => options(out, {
    loss: { ...options('').loss, perceptualWeight: 0.1, discStart: 2 }, lpips: { backbone: 'vgg', backboneWeights: 'stand-in', heads: heads!, seed: 5 }, reseed: undefined, ...extra,
  });
  await train(full(join(root, 'full-straight')));
  await train(full(join(root, 'full-split'), { stopAfter: 3 }));
  await train(full(join(root, 'full-split'), { resume: true }));
  assert.equal(maxDifference(join(root, 'full-straight'), join(root, 'full-split')), 0);
  const m = readMetrics(join(root, 'full-straight', 'metrics.jsonl'));
  assert.ok(m.some((r) => r.step === 6 && typeof r.g_loss === 'number' && typeof r.d_loss === 'number' && typeof r.p_loss === 'number' && typeof r.d_weight === 'number'));
});

test('--workers 2 (data-parallel lanes, a worker thread) with the full loss, stopped after step 3 and resumed = the same micro-batches run one after the other on one thread, bit for bit', { skip: skip || (heads ? false : 'no LPIPS heads (../shared)') }, async () => {
  const full = (out: string, extra: Partial<TrainOptions> = {}) => options(out, {
    loss: { ...options('').loss, perceptualWeight: 0.1, discStart: 2 }, lpips: { backbone: 'vgg', backboneWeights: 'stand-in', heads: heads!, seed: 5 }, ...extra,
  });
  // Batch 4 on 2 lanes: graphs of 2 images, each lane's sessions on 1 thread; the baseline: micro-batches of 2, 1 thread.
  await train(full(join(root, 'lanes-one'), { microBatch: 2, workers: 1, engineThreads: 1 }));
  await train(full(join(root, 'lanes-two'), { microBatch: 0, workers: 2, engineThreads: 2, stopAfter: 3 }));
  const r = await train(full(join(root, 'lanes-two'), { microBatch: 0, workers: 2, engineThreads: 2, resume: true }));
  assert.equal(r.step, 6);
  assert.equal(maxDifference(join(root, 'lanes-one'), join(root, 'lanes-two')), 0);
  const strip = (m: Record<string, unknown>) => Object.fromEntries(Object.entries(m).filter(([k]) => k !== 'images_per_s'));
  const one = readMetrics(join(root, 'lanes-one', 'metrics.jsonl'));
  assert.deepEqual(readMetrics(join(root, 'lanes-two', 'metrics.jsonl')).map(strip), one.map(strip));
  assert.ok(one.some((m) => m.step === 6 && typeof m.d_loss === 'number' && typeof m.g_loss === 'number'), 'the GAN ran');
});

test('--device cuda: a training step on the CUDA provider equals the CPU step (where onnxruntime-node has the provider)', async (t) => {
  const net = new NetworkParams({ ...tinyConfig(), attnResolutions: [8] }, { seed: 1 });
  const sd = net.stateDict();
  const trainable = [...sd.keys()].filter((k) => !k.startsWith('tok_') && !k.startsWith('discriminator.'));
  const opts = { batch: 2, imageSize: 16, kGlobal: 3, recLoss: 'l1' as const };
  let cuda: GeneratorStepSession;
  try {
    cuda = await GeneratorStepSession.create(net.config, sd, trainable, opts, { device: 'cuda' });
  } catch (e) {
    t.skip(`no CUDA provider here: ${(e as Error).message.slice(0, 160)}`);
    return;
  }
  const cpu = await GeneratorStepSession.create(net.config, sd, trainable, opts);
  const feeds = {
    params: new Map(trainable.map((n) => [n, toFloat32(sd.get(n)!)])), images: randn(2 * 3 * 16 * 16, 3).map((v) => Math.tanh(v)), clip: randn(2 * 64, 4),
    localCodebook: net.codebookRows('local'), globalCodebook: net.codebookRows('global'), vqWeight: 1, quantized: true,
  };
  const [a, b] = [await cpu.run(feeds), await cuda.run(feeds)];
  await cpu.release();
  await cuda.release();
  assert.ok(Math.abs(a.terms.loss - b.terms.loss) <= 1e-4 * Math.abs(a.terms.loss), `loss: cpu ${a.terms.loss}, cuda ${b.terms.loss}`);
  assert.deepEqual([...b.indices], [...a.indices]);
  for (const [name, g] of a.grads) {
    const h = b.grads.get(name)!;
    const scale = g.reduce((m, v) => Math.max(m, Math.abs(v)), 1e-12);
    const err = g.reduce((m, v, i) => Math.max(m, Math.abs(v - h[i])), 0);
    assert.ok(err <= 1e-3 * scale + 1e-7, `${name}: max |cuda - cpu| ${err} (largest ${scale})`);
  }
});
