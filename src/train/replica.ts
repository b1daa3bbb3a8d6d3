// The trainable model's state and its update: the network's parameters (host arrays, ../network/
// network-params.ts), the frozen LPIPS weights, both Adam optimisers, the learning-rate schedule, and the
// code counts dead-code re-seeding reads. The gradients come from the ONNX step graphs (./onnx-runner.ts).
// Portable: typed arrays only.
import type { HostTensor } from '../io/dtypes.js';
import type { NetworkParams } from '../network/network-params.js';
import { Adam, clipGradNorm } from './adam.js';
import { discFactorAt, type ReconstructionLoss } from './losses.js';
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
  /**
   * Weight of the code-usage entropy term (./usage-loss.onnx.ts: each output near one code, the batch spread
   * over all), from step 0; absent/0: none (the reference).
   */
  usageWeight?: number;
  /** Temperature of that term's soft assignment, in squared-distance units (default USAGE_TEMPERATURE). */
  usageTemperature?: number;
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

/** Scalar loss terms of one step (means over the batch). */
export type StepTerms = Record<string, number>;

export const LAST_LAYER = 'decoder.conv_out.weight';

export class Replica {
  readonly genNames: string[];
  readonly discNames: string[];
  readonly genAdam: Adam;
  readonly discAdam: Adam;
  /** Local codes chosen by the training forwards since the last `takeUsage()` (dead-code re-seeding). */
  usage: Float64Array;
  /**
   * With `trackCodeMeans`, the sum of the encoder outputs (z rows) each code was chosen for since the last
   * `takeUsage()` ([nLocal * embedDim]; the k-means step of re-seeding reads it).
   */
  trackCodeMeans = false;
  zSums: Float32Array | null = null;

  /**
   * `microBatch`: at most this many images per forward/backward (0: the whole batch); gradients of the
   * micro-batches are accumulated before the update. Micro-batches have their own BatchNorm statistics
   * and adaptive weight.
   */
  constructor(readonly net: NetworkParams, readonly lpips: Lpips | null, readonly loss: LossConfig, readonly optim: OptimConfig, readonly microBatch = 0) {
    const { gen, disc } = net.trainableNames();
    if (!gen.includes(LAST_LAYER)) throw new Error(`internal: the network has no ${LAST_LAYER}`);
    this.genNames = gen;
    this.discNames = disc;
    const opts = { beta1: optim.beta1, beta2: optim.beta2, eps: optim.eps };
    const shapes = new Map([...gen, ...disc].map((n) => [n, net.shape(n)]));
    this.genAdam = new Adam(new Map(gen.map((n) => [n, net.get(n)])), shapes, opts);
    this.discAdam = new Adam(new Map(disc.map((n) => [n, net.get(n)])), shapes, opts);
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

  /**
   * One optimiser update of iteration `step` with the batch's gradients (PyTorch layout, in `genNames` /
   * `discNames` order; clipped in place). Before discStart the discriminator's Adam still counts its
   * step, as torch's does on the zero loss.
   */
  apply(gen: Float32Array[], disc: Float32Array[] | null, step: number): { lr: number; gradNorm?: number; discGradNorm?: number } {
    const o = this.optim;
    const sched = { warmupSteps: o.warmupSteps, totalSteps: o.totalSteps, minLr: o.minLr };
    const lr = learningRate(step, { baseLr: o.lr, ...sched });
    const out: { lr: number; gradNorm?: number; discGradNorm?: number } = { lr };
    const g = new Map(this.genNames.map((n, i) => [n, gen[i]]));
    if (o.clipGrad > 0) out.gradNorm = clipGradNorm(g, o.clipGrad);
    this.genAdam.apply(g, lr);
    if (disc) {
      const d = new Map(this.discNames.map((n, i) => [n, disc[i]]));
      if (o.clipGrad > 0) out.discGradNorm = clipGradNorm(d, o.clipGrad);
      this.discAdam.apply(d, learningRate(step, { baseLr: o.discLr, ...sched }));
    } else {
      this.discAdam.step++;
    }
    return out;
  }

  /** Both optimisers' moments as host tensors (`optimizer.gen.m/<name>`, ..., PyTorch layout) and their step counts. */
  optimizerState(): { tensors: Map<string, HostTensor>; steps: { gen: number; disc: number } } {
    const g = this.genAdam.state('optimizer.gen.');
    const d = this.discAdam.state('optimizer.disc.');
    return { tensors: new Map([...g.tensors, ...d.tensors]), steps: { gen: g.step, disc: d.step } };
  }

  /** Restores both optimisers; `legacyLayout`: the moments are in the tfjs trainer's layout (checkpoint format 1). */
  loadOptimizerState(tensors: Map<string, HostTensor>, steps: { gen: number; disc: number }, what: string, legacyLayout = false): void {
    const layout = legacyLayout ? (n: string) => this.net.layoutOf(n) : undefined;
    this.genAdam.load(tensors, 'optimizer.gen.', steps.gen, what, layout);
    this.discAdam.load(tensors, 'optimizer.disc.', steps.disc, what, layout);
  }
}
