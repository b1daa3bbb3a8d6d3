// One replica of the trainable model: the network, the frozen LPIPS, both Adam optimisers, and the two
// computations of a training step, split so that data-parallel training can average between them:
// `gradients` (forward and backward on a shard of the batch) and `apply` (one optimiser update with the
// averaged gradients, identical on every replica, so replicas stay bit-identical).
// Portable: tfjs-core only.
import * as tf from '@tensorflow/tfjs-core';
import type { HostTensor } from '../io/dtypes.js';
import type { V2LNetwork } from '../network/v2l-model.js';
import { Adam, clipGradNorm, hostGrad, type Grad } from './adam.js';
import { adaptiveWeight, discFactorAt, generatorLoss, hingeDLoss, reconstructionLoss, type ReconstructionLoss } from './losses.js';
import type { Lpips } from './lpips.js';
import { learningRate } from './schedule.js';

export interface LossConfig {
  /** 'l1' (reference) or 'l2' (paper). */
  recLoss: ReconstructionLoss;
  /** Weight of the VQ loss (reference 1.0). */
  codebookWeight: number;
  /** Weight of LPIPS (reference 0.1; the paper writes 1.0). Ignored without an LPIPS network. */
  perceptualWeight: number;
  /** Factor on the adaptive GAN weight (reference 0.75). */
  discWeight: number;
  /** First step with the GAN terms (reference 10,000). */
  discStart: number;
  /** taming's disc_factor (reference 1.0). */
  discFactor: number;
  /** Global tokens fed to the decoder's cross-attention per image (reference 5). */
  kGlobal: number;
  /** Weight of the VQ loss's codebook (projector) term (absent: the reference's 0.33). */
  vqBeta?: number;
  /**
   * Steps (from 0) during which the decoder is fed the unquantised z: a plain-autoencoder warm-up before
   * quantisation is switched on, so that the encoder's outputs are spread over the sphere before codes are
   * chosen (absent/0: the reference, quantised from step 0). Against collapse; see docs/training.md.
   */
  aeWarmupSteps?: number;
  /** First step with the VQ loss (weight 0 before it; absent/0: the reference, from step 0). */
  vqStartStep?: number;
}

export interface OptimConfig {
  /** Peak learning rate of the tokenizer (reference 4.5e-4) and of the discriminator. */
  lr: number;
  discLr: number;
  beta1: number;
  beta2: number;
  eps: number;
  warmupSteps: number;
  /** Length of the schedule (the run's total steps). */
  totalSteps: number;
  minLr: number;
  /** Global gradient-norm clip per optimiser; 0 disables. */
  clipGrad: number;
}

/** Scalar loss terms of one step (means over the shard). */
export type StepTerms = Record<string, number>;

/** Gradients of one shard, in `genNames` / `discNames` order; `disc` is null before discStart. */
export interface ShardGradients {
  n: number;
  gen: tf.Tensor[];
  disc: tf.Tensor[] | null;
  terms: StepTerms;
}

export const LAST_LAYER = 'decoder.conv_out.weight';

export class Replica {
  readonly genNames: string[];
  readonly discNames: string[];
  readonly genAdam: Adam;
  readonly discAdam: Adam;
  /** Local codes chosen by this replica's training forwards since the last `takeUsage()` (dead-code re-seeding). */
  usage: Float64Array;
  /**
   * With `trackCodeMeans`, the sum of the encoder outputs (z rows) each code was chosen for since the last
   * `takeUsage()` ([nLocal * embedDim]; the k-means step of re-seeding reads it).
   */
  trackCodeMeans = false;
  zSums: Float32Array | null = null;
  private readonly byVarName = new Map<string, string>();

  /**
   * `microBatch`: at most this many images per forward/backward (0: the whole shard); gradients of the
   * micro-batches are accumulated before the update. It bounds activation memory (the wasm backend has a
   * 4 GiB heap); like shards, micro-batches have their own BatchNorm statistics and adaptive weight.
   */
  constructor(readonly net: V2LNetwork, readonly lpips: Lpips | null, readonly loss: LossConfig, readonly optim: OptimConfig, readonly microBatch = 0) {
    const gen = new Map<string, tf.Variable>();
    const disc = new Map<string, tf.Variable>();
    for (const [name, v] of net.params) {
      this.byVarName.set(v.name, name);
      if (!v.trainable) continue; // the frozen codebooks
      (name.startsWith('discriminator.') ? disc : gen).set(name, v);
    }
    if (!gen.has(LAST_LAYER)) throw new Error(`internal: the network has no ${LAST_LAYER}`);
    this.genNames = [...gen.keys()];
    this.discNames = [...disc.keys()];
    const opts = { beta1: optim.beta1, beta2: optim.beta2, eps: optim.eps };
    this.genAdam = new Adam(gen, opts);
    this.discAdam = new Adam(disc, opts);
    this.usage = new Float64Array(net.config.nLocal);
  }

  /** The code counts (and, when tracked, z sums) gathered since the last call, then zeroed. */
  takeUsage(): { usage: Float64Array; zSums: Float32Array | null } {
    const u = { usage: this.usage, zSums: this.zSums };
    this.usage = new Float64Array(this.net.config.nLocal);
    this.zSums = null;
    return u;
  }

  /** Whether the GAN terms are on at `step`. */
  ganActive(step: number): boolean {
    return discFactorAt(step, this.loss.discStart, this.loss.discFactor) > 0;
  }

  /** Gradients of a shard, accumulated over micro-batches of at most `microBatch` images (weighted by size). */
  shardGradients(images: tf.Tensor4D, clipEmbeds: tf.Tensor2D, step: number): ShardGradients {
    const n = images.shape[0];
    const mb = this.microBatch > 0 ? this.microBatch : n;
    if (mb >= n) return this.gradients(images, clipEmbeds, step);
    let acc: ShardGradients | null = null;
    for (let i = 0; i < n; i += mb) {
      const m = Math.min(mb, n - i);
      const x = tf.slice(images, [i, 0, 0, 0], [m, -1, -1, -1]);
      const c = tf.slice(clipEmbeds, [i, 0], [m, -1]);
      const g = this.gradients(x, c, step);
      x.dispose();
      c.dispose();
      const w = m / n;
      const scale = (ts: tf.Tensor[]) => ts.map((t) => { const r = tf.mul(t, w); t.dispose(); return r; });
      const gen = scale(g.gen);
      const disc = g.disc ? scale(g.disc) : null;
      if (!acc) {
        const terms: StepTerms = {};
        for (const [k, v] of Object.entries(g.terms)) terms[k] = w * v;
        acc = { n, gen, disc, terms };
      } else {
        const add = (a: tf.Tensor[], b: tf.Tensor[]) => a.map((t, j) => { const r = tf.add(t, b[j]); t.dispose(); b[j].dispose(); return r; });
        acc.gen = add(acc.gen, gen);
        acc.disc = acc.disc && disc ? add(acc.disc, disc) : acc.disc;
        for (const [k, v] of Object.entries(g.terms)) acc.terms[k] = (acc.terms[k] ?? 0) + w * v;
      }
    }
    return acc!;
  }

  /**
   * Forward and backward of one step on a shard: generator gradients (reconstruction + LPIPS + VQ, and the
   * adaptive GAN term once active), then discriminator gradients on the detached reconstruction.
   */
  gradients(images: tf.Tensor4D, clipEmbeds: tf.Tensor2D, step: number): ShardGradients {
    const L = this.loss;
    const factor = discFactorAt(step, L.discStart, L.discFactor);
    const kept: Record<string, tf.Scalar> = {};
    const unquantized = step < (L.aeWarmupSteps ?? 0);
    const vqWeight = step < (L.vqStartStep ?? 0) ? 0 : L.codebookWeight;
    let xRec: tf.Tensor4D | null = null;
    let ids: tf.Tensor | null = null;
    let zRows: tf.Tensor | null = null;
    let dWeight = 0;
    const vars = this.genNames.map((n) => this.net.params.get(n)!);
    const { value, grads } = tf.variableGrads(() => {
      const out = this.net.forward(images, clipEmbeds, L.kGlobal, unquantized ? { codebookTermWeight: L.vqBeta, unquantized } : { codebookTermWeight: L.vqBeta });
      xRec = tf.keep(out.reconstruction);
      ids = tf.keep(out.localIndices);
      if (this.trackCodeMeans) zRows = tf.keep(tf.reshape(tf.transpose(out.z, [0, 2, 3, 1]), [-1, this.net.config.embedDim]));
      const rec = reconstructionLoss(images, out.reconstruction, L.recLoss);
      kept.rec_loss = tf.keep(rec);
      kept.vq_loss = tf.keep(out.vqLoss);
      let nll: tf.Scalar = rec;
      if (this.lpips && L.perceptualWeight > 0) {
        const p = tf.mean(this.lpips.distance(images, out.reconstruction)) as tf.Scalar;
        kept.p_loss = tf.keep(p);
        nll = tf.add(rec, tf.mul(p, L.perceptualWeight));
      }
      let total: tf.Scalar = tf.add(nll, tf.mul(out.vqLoss, vqWeight));
      if (factor > 0) {
        const g = generatorLoss(this.net.discriminator(out.reconstruction, { training: true }));
        kept.g_loss = tf.keep(g);
        dWeight = adaptiveWeight(nll, g, this.net.params.get(LAST_LAYER)!, L.discWeight);
        total = tf.add(total, tf.mul(g, dWeight * factor));
      }
      return total;
    }, vars);
    const terms: StepTerms = { loss: value.dataSync()[0] };
    value.dispose();
    // Codes in use, per batch (shard): a collapse shows here within a few steps.
    const idArr = (ids as tf.Tensor | null)!.dataSync();
    (ids as tf.Tensor | null)!.dispose();
    const seen = new Set<number>();
    for (const id of idArr) {
      seen.add(id);
      this.usage[id]++;
    }
    terms.codes_used = seen.size;
    if (zRows) {
      const dim = this.net.config.embedDim;
      const zs = (zRows as tf.Tensor).dataSync();
      (zRows as tf.Tensor).dispose();
      const sums = this.zSums ??= new Float32Array(this.net.config.nLocal * dim);
      idArr.forEach((id, i) => {
        for (let o = 0; o < dim; o++) sums[id * dim + o] += zs[i * dim + o];
      });
    }
    for (const [k, t] of Object.entries(kept)) {
      terms[k] = t.dataSync()[0];
      t.dispose();
    }
    const gen = this.ordered(grads, this.genNames);
    let disc: tf.Tensor[] | null = null;
    if (factor > 0) {
      terms.d_weight = dWeight;
      const fake = xRec!;
      const dvars = this.discNames.map((n) => this.net.params.get(n)!);
      const logits: Record<string, tf.Scalar> = {};
      const d = tf.variableGrads(() => {
        const real = this.net.discriminator(images, { training: true });
        const fakeLogits = this.net.discriminator(fake, { training: true });
        logits.real = tf.keep(tf.mean(real));
        logits.fake = tf.keep(tf.mean(fakeLogits));
        return tf.mul(hingeDLoss(real, fakeLogits), factor) as tf.Scalar;
      }, dvars);
      terms.d_loss = d.value.dataSync()[0];
      terms.logits_real = logits.real.dataSync()[0];
      terms.logits_fake = logits.fake.dataSync()[0];
      d.value.dispose();
      logits.real.dispose();
      logits.fake.dispose();
      disc = this.ordered(d.grads, this.discNames);
    }
    (xRec as tf.Tensor4D | null)?.dispose();
    return { n: images.shape[0], gen, disc, terms };
  }

  /** Gradients by parameter name in `names` order (zeros for a parameter the loss does not reach). */
  private ordered(grads: tf.NamedTensorMap, names: string[]): tf.Tensor[] {
    const byName = new Map<string, tf.Tensor>();
    for (const [varName, g] of Object.entries(grads)) {
      const name = this.byVarName.get(varName);
      if (name && g) byName.set(name, g);
    }
    return names.map((n) => byName.get(n) ?? tf.zerosLike(this.net.params.get(n)!));
  }

  /**
   * One optimiser update of iteration `step` with (averaged) gradients, host arrays or tensors (which it
   * disposes). Before
   * discStart the discriminator's Adam still counts its step, as torch's does on the zero loss.
   */
  apply(gen: Grad[], disc: Grad[] | null, step: number): { lr: number; gradNorm?: number; discGradNorm?: number } {
    const o = this.optim;
    const sched = { warmupSteps: o.warmupSteps, totalSteps: o.totalSteps, minLr: o.minLr };
    const lr = learningRate(step, { baseLr: o.lr, ...sched });
    const out: { lr: number; gradNorm?: number; discGradNorm?: number } = { lr };
    // Gradients move to the host first: the update runs there (see ./adam.ts).
    const g = new Map(this.genNames.map((n, i) => [n, hostGrad(gen[i])]));
    if (o.clipGrad > 0) out.gradNorm = clipGradNorm(g, o.clipGrad);
    this.genAdam.apply(g, lr);
    if (disc) {
      const d = new Map(this.discNames.map((n, i) => [n, hostGrad(disc[i])]));
      if (o.clipGrad > 0) out.discGradNorm = clipGradNorm(d, o.clipGrad);
      this.discAdam.apply(d, learningRate(step, { baseLr: o.discLr, ...sched }));
    } else {
      this.discAdam.step++;
    }
    return out;
  }

  /** Both optimisers' moments as host tensors (`optimizer.gen.m/<name>`, ...) and their step counts. */
  optimizerState(): { tensors: Map<string, HostTensor>; steps: { gen: number; disc: number } } {
    const g = this.genAdam.state('optimizer.gen.');
    const d = this.discAdam.state('optimizer.disc.');
    return { tensors: new Map([...g.tensors, ...d.tensors]), steps: { gen: g.step, disc: d.step } };
  }

  loadOptimizerState(tensors: Map<string, HostTensor>, steps: { gen: number; disc: number }, what: string): void {
    this.genAdam.load(tensors, 'optimizer.gen.', steps.gen, what);
    this.discAdam.load(tensors, 'optimizer.disc.', steps.disc, what);
  }

  dispose(): void {
    this.genAdam.dispose();
    this.discAdam.dispose();
  }
}
