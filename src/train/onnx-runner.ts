// Training steps on onnxruntime (`v2l train`): the gradients come from the ONNX step graphs (./onnx-step.ts:
// the generator's, with LPIPS and the adaptive GAN term where the run has them, and the discriminator's;
// one session per micro-batch size), accumulated over micro-batches, and the update is the replica's host
// Adam (./adam.ts). The replica's network (../network/network-params.ts) holds the parameters in PyTorch
// layout, fed to the graphs as they are, and the discriminator's BatchNorm running statistics, updated
// here from the graphs' batch statistics in the order: the generator's pass, then real, then fake.
// Multi-threading is onnxruntime's intra-op pool (threads = cores). Node edge.
import { updateRunningStats } from '../network/network-params.js';
import { discFactorAt } from './losses.js';
import { USAGE_TEMPERATURE } from './usage-loss.onnx.js';
import { DiscriminatorStepSession, GeneratorStepSession, type TrainEngineOptions } from './onnx-session.js';
import type { Replica, StepTerms } from './replica.js';

export interface StepResult {
  terms: StepTerms;
  lr: number;
  gradNorm?: number;
}

/** Runs training steps on a batch (images NCHW float32, CLIP embeddings [n, dim]). */
export interface StepRunner {
  step(images: Float32Array, clip: Float32Array, n: number, step: number): Promise<StepResult>;
  close(): Promise<void>;
}

/** Weighted sums of micro-batch gradients (PyTorch layout). */
class Accumulator {
  private readonly sums: Map<string, Float32Array>;

  constructor(readonly names: string[], like: ReadonlyMap<string, Float32Array>) {
    this.sums = new Map(names.map((n) => [n, new Float32Array(like.get(n)!.length)]));
  }

  add(grads: ReadonlyMap<string, Float32Array>, w: number): void {
    for (const name of this.names) {
      const a = this.sums.get(name)!;
      const g = grads.get(name)!;
      for (let j = 0; j < a.length; j++) a[j] += w === 1 ? g[j] : w * g[j];
    }
  }

  /** The sums in `names` order (what the replica's Adam takes). */
  ordered(): Float32Array[] {
    return this.names.map((name) => this.sums.get(name)!);
  }
}

/** Whether two float arrays hold the same bits (NaN and -0 included). */
function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

function addTerms(acc: StepTerms, terms: Record<string, number>, w: number): void {
  for (const [k, v] of Object.entries(terms)) acc[k] = (acc[k] ?? 0) + w * v;
}

export class OnnxRunner implements StepRunner {
  private readonly gens = new Map<string, Promise<GeneratorStepSession>>();
  private readonly discs = new Map<number, Promise<DiscriminatorStepSession>>();
  private codebooks: { local: Float32Array; global: Float32Array } | null = null;
  /** The last projected codebook and the projector values it came from (see projectedCodebook). */
  private lastProjection: { weights: Float32Array[]; projected: Float32Array } | null = null;

  constructor(readonly replica: Replica, readonly imageSize: number, readonly microBatch: number, readonly engine: TrainEngineOptions = {}) {}

  private generator(batch: number, gan: boolean): Promise<GeneratorStepSession> {
    const key = `${batch}:${gan}`;
    let s = this.gens.get(key);
    if (!s) {
      const r = this.replica;
      const lpips = r.lpips && r.loss.perceptualWeight > 0 ? { backbone: r.lpips.backbone, tensors: r.lpips.tensors, weight: r.loss.perceptualWeight } : undefined;
      s = GeneratorStepSession.create(r.net.config, r.net.stateDict(), r.genNames, {
        batch, imageSize: this.imageSize, kGlobal: r.loss.kGlobal, recLoss: r.loss.recLoss, vqBeta: r.loss.vqBeta, trackZ: r.trackCodeMeans,
        usage: r.loss.usageWeight ? { weight: r.loss.usageWeight, temperature: r.loss.usageTemperature ?? USAGE_TEMPERATURE } : undefined,
        lpips, gan: gan ? { discWeight: r.loss.discWeight } : undefined,
      }, this.engine);
      this.gens.set(key, s);
    }
    return s;
  }

  private discriminator(batch: number): Promise<DiscriminatorStepSession> {
    let s = this.discs.get(batch);
    if (!s) {
      s = DiscriminatorStepSession.create(this.replica.net.config, this.replica.net.stateDict(), { batch, imageSize: this.imageSize }, this.engine);
      this.discs.set(batch, s);
    }
    return s;
  }

  /** The parameters the graphs read (the network's own arrays, PyTorch layout; Adam updates them after the step). */
  private params(names: string[]): Map<string, Float32Array> {
    const net = this.replica.net;
    return new Map(names.map((n) => [n, net.get(n)]));
  }

  async step(images: Float32Array, clip: Float32Array, n: number, step: number): Promise<StepResult> {
    const r = this.replica;
    const factor = discFactorAt(step, r.loss.discStart, r.loss.discFactor);
    this.codebooks ??= { local: r.net.codebookRows('local'), global: r.net.codebookRows('global') };
    const params = this.params(factor > 0 ? [...r.genNames, ...r.discNames] : r.genNames);
    const mb = this.microBatch > 0 ? Math.min(this.microBatch, n) : n;
    const perImage = images.length / n;
    const dim = clip.length / n;
    // One micro-batch: its gradients go to Adam as the session returned them (no zeroed sums, no copy).
    const gen = mb < n ? new Accumulator(r.genNames, params) : null;
    let whole: Float32Array[] | null = null;
    const disc = factor > 0 ? new Accumulator(r.discNames, params) : null;
    const terms: StepTerms = {};
    let projected: Float32Array | undefined; // once per step: every micro-batch searches the same codes
    for (let i = 0; i < n; i += mb) {
      const m = Math.min(mb, n - i);
      const w = m === n ? 1 : m / n;
      const x = images.subarray(i * perImage, (i + m) * perImage);
      const session = await this.generator(m, factor > 0);
      projected ??= await this.projectedCodebook(session, params);
      const out = await session.run({
        params, images: x, clip: clip.subarray(i * dim, (i + m) * dim), localCodebook: this.codebooks.local, projected, globalCodebook: this.codebooks.global,
        vqWeight: step < (r.loss.vqStartStep ?? 0) ? 0 : r.loss.codebookWeight, quantized: step >= (r.loss.aeWarmupSteps ?? 0), ganFactor: factor,
      });
      if (gen) gen.add(out.grads, w);
      else whole = r.genNames.map((name) => out.grads.get(name)!);
      addTerms(terms, { ...out.terms, codes_used: this.countCodes(out.indices, out.zRows) }, w);
      if (disc) {
        this.updateBatchNorms(out.raw, 'gen');
        const d = await (await this.discriminator(m)).run(params, x, out.raw.reconstruction_out.data as Float32Array, factor);
        this.updateBatchNorms(d.raw, 'real');
        this.updateBatchNorms(d.raw, 'fake');
        disc.add(d.grads, w);
        addTerms(terms, d.terms, w);
      }
    }
    const u = r.apply(gen ? gen.ordered() : whole!, disc ? disc.ordered() : null, step);
    return { terms, lr: u.lr, gradNorm: u.gradNorm };
  }

  /**
   * The projected local codebook for this step's search. Without the VQ loss's projector term (the robust
   * recipe) the step graph gives the projector no gradient and it changes only at re-seeds, so the last
   * projection is reused while the projector's values are bit for bit the same (a compare of its arrays
   * instead of a [nLocal, dim] x [dim, dim] product per step). With the term it changes every step: projected.
   */
  private async projectedCodebook(session: GeneratorStepSession, params: ReadonlyMap<string, Float32Array>): Promise<Float32Array> {
    const names = session.projectionParams;
    if (names.some((n) => session.params.includes(n))) return session.project(params, this.codebooks!.local);
    const weights = names.map((n) => params.get(n)!);
    const last = this.lastProjection;
    if (last && last.weights.every((w, i) => sameBits(w, weights[i]))) return last.projected;
    const projected = await session.project(params, this.codebooks!.local);
    this.lastProjection = { weights: weights.map((w) => w.slice()), projected };
    return projected;
  }

  /** The running statistics of every BatchNorm from one training-mode pass's batch statistics. */
  private updateBatchNorms(raw: Record<string, { data: unknown; dims: readonly number[] }>, pass: string): void {
    for (const [name, buf] of this.replica.net.batchNorms) {
      const mean = raw[`bn.${pass}.${name}.mean`];
      const variance = raw[`bn.${pass}.${name}.var`];
      if (!mean || !variance) throw new Error(`internal: the step graph has no batch statistics of ${name}`);
      const count = (raw[`bn.${pass}.${name}.count`].data as Float32Array)[0];
      updateRunningStats(buf, mean.data as Float32Array, variance.data as Float32Array, count);
    }
  }

  /** Distinct codes of a micro-batch; also the replica's usage counts and (tracked) z sums, as replica.gradients. */
  private countCodes(ids: BigInt64Array, zRows: Float32Array | null): number {
    const r = this.replica;
    const seen = new Set<number>();
    const dim = r.net.config.embedDim;
    const sums = zRows ? (r.zSums ??= new Float32Array(r.net.config.nLocal * dim)) : null;
    ids.forEach((big, i) => {
      const id = Number(big);
      seen.add(id);
      r.usage[id]++;
      if (sums && zRows) for (let o = 0; o < dim; o++) sums[id * dim + o] += zRows[i * dim + o];
    });
    return seen.size;
  }

  async close(): Promise<void> {
    for (const s of [...this.gens.values(), ...this.discs.values()]) await (await s).release();
    this.gens.clear();
    this.discs.clear();
  }
}
