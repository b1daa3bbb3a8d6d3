// The ONNX training steps' losses and gradients equal today's tfjs training step (Replica.gradients) for
// every parameter, on small configurations with random weights: with self- and cross-attention, with the
// robust recipe's network (no cross-attention, cosine codes), L1 and L2, quantised and the AE warm-up, and
// the full loss: LPIPS (STAND-IN VGG16 backbone with the real v0.1 heads), the PatchGAN term with the
// adaptive weight, and the discriminator's own step.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../engine/backend.js';
import { V2LNetwork } from '../network/v2l-model.js';
import { paperConfig, type V2LConfig } from '../network/config.js';
import { toFloat32 } from '../io/dtypes.js';
import { Replica, type LossConfig, type OptimConfig } from './replica.js';
import { DiscriminatorStepSession, GeneratorStepSession } from './onnx-session.js';
import { discFactorAt } from './losses.js';
import { loadLpips } from './lpips-files.js';
import { defaultLpipsHeads } from './setup.js';
import type { Lpips } from './lpips.js';
import { tinyConfig } from './test-utils/fixtures.js';

before(async () => {
  await initBackend('wasm');
});

const OPTIM: OptimConfig = { lr: 1e-3, discLr: 1e-3, beta1: 0.5, beta2: 0.9, eps: 1e-7, warmupSteps: 0, totalSteps: 10, minLr: 0, clipGrad: 0 };

/** Every gradient within `tol` of its largest value (and 1e-6 of the network's largest: see below). */
function assertGradients(names: string[], got: Map<string, Float32Array>, want: Float32Array[], tol: number): void {
  // A conv bias in front of a GroupNorm has a zero gradient in exact arithmetic: both sides give rounding
  // noise there, so errors are also measured against the largest gradient of the whole network.
  const largest = Math.max(...want.map((w) => w.reduce((m, v) => Math.max(m, Math.abs(v)), 0)));
  names.forEach((name, i) => {
    const g = got.get(name)!;
    assert.equal(g.length, want[i].length, name);
    let scale = 1e-12;
    let err = 0;
    for (let j = 0; j < g.length; j++) {
      scale = Math.max(scale, Math.abs(want[i][j]));
      err = Math.max(err, Math.abs(g[j] - want[i][j]));
    }
    assert.ok(err <= tol * scale + 1e-6 * largest, `${name}: max |onnx - tfjs| ${err.toExponential(2)} (largest gradient ${scale.toExponential(2)})`);
  });
}

function assertTerms(got: Record<string, number>, want: Record<string, number>, keys: string[]): void {
  for (const k of keys) assert.ok(Math.abs(got[k] - want[k]) <= 1e-4 * Math.abs(want[k]) + 1e-6, `${k}: onnx ${got[k]} vs tfjs ${want[k]}`);
}

/**
 * `tol`: 2e-4 of each gradient's largest value; with the GAN term 2e-3 (the adaptive weight is a ratio
 * of two gradient norms, each rounded differently by the two engines: every generator gradient then
 * differs by about 1e-4 of its size, up to 1e-3 where the reconstruction and GAN parts nearly cancel).
 */
async function compare(config: V2LConfig, loss: LossConfig, step: number, lpips: Lpips | null = null, tol = 2e-4): Promise<void> {
  const b = 2;
  const size = 16;
  const net = new V2LNetwork(config, { seed: 3 });
  const replica = new Replica(net, lpips, loss, OPTIM);
  const x = tf.randomUniform([b, 3, size, size], -1, 1, 'float32', 7) as tf.Tensor4D;
  const clip = tf.randomNormal([b, config.embedDim], 0, 1, 'float32', 8) as tf.Tensor2D;
  const sd = net.stateDict(); // before the tfjs step, which moves the BatchNorm running statistics
  const ref = replica.gradients(x, clip, step);
  const factor = discFactorAt(step, loss.discStart, loss.discFactor);
  const usesLpips = lpips && loss.perceptualWeight > 0 ? { backbone: lpips.backbone, tensors: lpips.tensors, weight: loss.perceptualWeight } : undefined;
  const gen = await GeneratorStepSession.create(net.config, sd, replica.genNames, {
    batch: b, imageSize: size, kGlobal: loss.kGlobal, recLoss: loss.recLoss, vqBeta: loss.vqBeta, lpips: usesLpips, gan: factor > 0 ? { discWeight: loss.discWeight } : undefined,
  });
  const params = new Map([...sd].filter(([k]) => !k.startsWith('tok_')).map(([k, t]) => [k, toFloat32(t)]));
  const images = x.dataSync() as Float32Array;
  const out = await gen.run({
    params, images, clip: clip.dataSync() as Float32Array, localCodebook: toFloat32(sd.get('tok_embeddings.weight')!), globalCodebook: toFloat32(sd.get('tok_embeddings_global.weight')!),
    vqWeight: step < (loss.vqStartStep ?? 0) ? 0 : loss.codebookWeight, quantized: step >= (loss.aeWarmupSteps ?? 0), ganFactor: factor,
  });
  await gen.release();
  assertTerms(out.terms, ref.terms, Object.keys(out.terms));
  assert.equal(new Set(out.indices).size, ref.terms.codes_used, 'codes used');
  assertGradients(replica.genNames, out.grads, replica.genNames.map((n, i) => net.toReferenceLayout(n, ref.gen[i]).dataSync() as Float32Array), tol);
  if (factor > 0) {
    const disc = await DiscriminatorStepSession.create(net.config, sd, { batch: b, imageSize: size });
    const d = await disc.run(params, images, out.raw.reconstruction_out.data as Float32Array, factor);
    await disc.release();
    assertTerms(d.terms, ref.terms, ['d_loss', 'logits_real', 'logits_fake']);
    assertGradients(replica.discNames, d.grads, replica.discNames.map((n, i) => net.toReferenceLayout(n, ref.disc![i]).dataSync() as Float32Array), 2e-4);
  }
  tf.dispose([x, clip, ...ref.gen, ...(ref.disc ?? [])]);
  replica.dispose();
  net.dispose();
}

const base: LossConfig = { recLoss: 'l1', codebookWeight: 1, perceptualWeight: 0, discWeight: 0.75, discStart: Number.MAX_SAFE_INTEGER, discFactor: 1, kGlobal: 3 };

test('ONNX generator step = tfjs: self-attention and cross-attention decoder, L1, VQ loss from step 0', async () => {
  await compare({ ...tinyConfig(), attnResolutions: [8] }, base, 0);
});

test('ONNX generator step = tfjs: the robust recipe\'s network (no cross-attention, cosine codes), L2, beta 0', async () => {
  await compare({ ...tinyConfig(), crossAttention: false, cosineCodes: true }, { ...base, recLoss: 'l2', vqBeta: 0 }, 5);
});

test('ONNX generator step = tfjs: AE warm-up (decoder fed z) before the VQ loss starts', async () => {
  await compare({ ...tinyConfig(), crossAttention: false, cosineCodes: true }, { ...base, aeWarmupSteps: 10, vqStartStep: 10, vqBeta: 0 }, 2);
});

const heads = defaultLpipsHeads('vgg');
test('ONNX steps = tfjs with the full loss: LPIPS (stand-in VGG16), GAN term with the adaptive weight, and the discriminator\'s step', { skip: heads ? false : 'no LPIPS heads (../shared)' }, async () => {
  const lpips = await loadLpips({ backbone: 'vgg', backboneWeights: 'stand-in', heads: heads!, seed: 5 });
  await compare({ ...tinyConfig(), attnResolutions: [8] }, { ...base, perceptualWeight: 0.1, discStart: 0 }, 1, lpips, 2e-3);
  lpips.dispose();
});

test('ONNX steps = tfjs on the paper configuration (random weights, 16 px, 512/64 codebook rows) with the full loss', { skip: heads ? false : 'no LPIPS heads (../shared)' }, async () => {
  const lpips = await loadLpips({ backbone: 'vgg', backboneWeights: 'stand-in', heads: heads!, seed: 5 });
  await compare({ ...paperConfig(), nLocal: 512, nGlobal: 64 }, { ...base, kGlobal: 5, perceptualWeight: 0.1, discStart: 0 }, 1, lpips, 2e-3);
  lpips.dispose();
});
