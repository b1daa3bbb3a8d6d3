// Training steps on onnxruntime (`v2l train`): the gradients come from the ONNX step graphs (./onnx-step.ts:
// the generator's, with LPIPS and the adaptive GAN term where the run has them, and the discriminator's;
// run per micro-batch by ./micro-step.ts), accumulated over micro-batches in their order, and the update is
// the replica's host Adam (./adam.ts). The replica's network (../network/network-params.ts) holds the
// parameters in PyTorch layout, fed to the graphs as they are, and the discriminator's BatchNorm running
// statistics, updated here from the graphs' batch statistics in the order: the generator's pass, then real,
// then fake. Multi-threading: data-parallel lanes (./lanes.ts), each with threads / lanes intra-op threads. Node edge.
import { availableParallelism } from 'node:os';
import { updateRunningStats } from '../network/network-params.js';
import { WorkerLane } from './lanes.js';
import { discFactorAt } from './losses.js';
import { USAGE_TEMPERATURE } from './usage-loss.onnx.js';
import { currentForms, MicroStepper, type LaneSpec, type MicroFeeds, type MicroResult } from './micro-step.js';
import type { GeneratorStepSession, TrainEngineOptions } from './onnx-session.js';
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

/** Weighted sums of micro-batch gradients (PyTorch layout), in buffers kept from step to step. */
class Accumulator {
  private readonly sums: Map<string, Float32Array>;
  private first = true;

  constructor(readonly names: string[], like: ReadonlyMap<string, Float32Array>) {
    this.sums = new Map(names.map((n) => [n, new Float32Array(like.get(n)!.length)]));
  }

  /** Starts a step's sums (the next `add` overwrites instead of adding to the last step's). */
  reset(): this {
    this.first = true;
    return this;
  }

  add(grads: ReadonlyMap<string, Float32Array>, w: number): void {
    for (const name of this.names) {
      const a = this.sums.get(name)!;
      const g = grads.get(name)!;
      // The first term as 0 + w g, exactly what adding it to zeroed sums gives (a -0 included).
      if (this.first) for (let j = 0; j < a.length; j++) a[j] = (w === 1 ? g[j] : w * g[j]) + 0;
      else for (let j = 0; j < a.length; j++) a[j] += w === 1 ? g[j] : w * g[j];
    }
    this.first = false;
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

/**
 * Images per graph for a batch of n: the micro-batch where one is set (a memory bound: lanes never cut it
 * smaller, so more lanes never mean more graphs resident than the micro-batches allow), else the batch
 * cut into one micro-batch per lane.
 */
export function graphBatch(n: number, microBatch: number, workers: number): number {
  return microBatch > 0 ? Math.min(microBatch, n) : Math.ceil(n / workers);
}

export class OnnxRunner implements StepRunner {
  private lanes: { local: MicroStepper; workers: WorkerLane[] } | null = null;
  private sums: { gen: Accumulator | null; disc: Accumulator | null } = { gen: null, disc: null };
  private codebooks: { local: Float32Array; global: Float32Array } | null = null;
  /** The last projected codebook and the projector values it came from (see projectedCodebook). */
  private lastProjection: { weights: Float32Array[]; projected: Float32Array } | null = null;

  /**
   * `microBatch`: images per graph (0: the batch cut into one micro-batch per lane). `workers`: data-parallel
   * lanes (./lanes.ts): the micro-batches run that many at a time, each lane's sessions on threads / lanes
   * intra-op threads; 1: one lane on the calling thread with all the threads.
   */
  constructor(readonly replica: Replica, readonly imageSize: number, readonly microBatch: number, readonly engine: TrainEngineOptions = {}, readonly workers = 1) {
    if (!Number.isInteger(workers) || workers < 1) throw new Error(`training lanes (--workers): a positive integer, got ${workers}`);
  }


  private openLanes(count: number): { local: MicroStepper; workers: WorkerLane[] } {
    const r = this.replica;
    const threads = this.engine.threads ?? availableParallelism();
    const spec: LaneSpec = {
      config: r.net.config, sd: r.net.stateDict(), genNames: r.genNames, imageSize: this.imageSize,
      graph: {
        kGlobal: r.loss.kGlobal, recLoss: r.loss.recLoss, vqBeta: r.loss.vqBeta, trackZ: r.trackCodeMeans,
        usage: r.loss.usageWeight ? { weight: r.loss.usageWeight, temperature: r.loss.usageTemperature ?? USAGE_TEMPERATURE } : undefined,
        lpips: r.lpips && r.loss.perceptualWeight > 0 ? { backbone: r.lpips.backbone, tensors: r.lpips.tensors, weight: r.loss.perceptualWeight } : undefined,
      },
      discWeight: r.loss.discWeight,
      engine: { ...this.engine, threads: Math.max(1, Math.floor(threads / count)) },
      forms: currentForms(),
    };
    return { local: new MicroStepper(spec), workers: Array.from({ length: count - 1 }, () => new WorkerLane(spec)) };
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
    const mb = graphBatch(n, this.microBatch, this.workers);
    const perImage = images.length / n;
    const dim = clip.length / n;
    const micro: MicroFeeds[] = [];
    for (let i = 0; i < n; i += mb) {
      const m = Math.min(mb, n - i);
      micro.push({
        images: images.subarray(i * perImage, (i + m) * perImage), clip: clip.subarray(i * dim, (i + m) * dim), batch: m,
        vqWeight: step < (r.loss.vqStartStep ?? 0) ? 0 : r.loss.codebookWeight, quantized: step >= (r.loss.aeWarmupSteps ?? 0), ganFactor: factor,
      });
    }
    this.lanes ??= this.openLanes(Math.min(this.workers, micro.length));
    const { local, workers } = this.lanes;
    // Every micro-batch searches the same codes: projected once per step.
    const projected = await this.projectedCodebook(await local.generator(micro[0].batch, factor > 0), params);
    const inputs = { params, localCodebook: this.codebooks.local, projected, globalCodebook: this.codebooks.global };
    // Micro-batch j on lane j mod L; the workers' requests go out before this thread runs its own sessions.
    const L = Math.min(1 + workers.length, micro.length);
    const share = (k: number) => micro.filter((_, j) => j % L === k);
    const remote = workers.slice(0, L - 1).map((w, k) => w.run(inputs, share(k + 1)));
    const mine: MicroResult[] = [];
    for (const f of share(0)) mine.push(await local.run(inputs, f));
    const theirs = await Promise.all(remote);
    const results = micro.map((_, j) => (j % L === 0 ? mine : theirs[(j % L) - 1])[Math.floor(j / L)]);
    return this.merge(results, micro, n, params, step, factor > 0);
  }

  /** The micro-batches' gradients, terms and statistics in micro-batch order, then the update. */
  private merge(results: MicroResult[], micro: MicroFeeds[], n: number, params: ReadonlyMap<string, Float32Array>, step: number, gan: boolean): StepResult {
    const r = this.replica;
    // One micro-batch: its gradients go to Adam as the session returned them (no zeroed sums, no copy).
    const gen = results.length > 1 ? (this.sums.gen ??= new Accumulator(r.genNames, params)).reset() : null;
    const disc = gan ? (this.sums.disc ??= new Accumulator(r.discNames, params)).reset() : null;
    const terms: StepTerms = {};
    results.forEach((out, j) => {
      const w = micro[j].batch === n ? 1 : micro[j].batch / n;
      gen?.add(out.grads, w);
      addTerms(terms, { ...out.terms, codes_used: this.countCodes(out.indices, out.zRows) }, w);
      if (disc && out.disc) {
        for (const pass of ['gen', 'real', 'fake']) this.updateBatchNorms(out.bn, pass);
        disc.add(out.disc.grads, w);
        addTerms(terms, out.disc.terms, w);
      }
    });
    const u = r.apply(gen ? gen.ordered() : r.genNames.map((name) => results[0].grads.get(name)!), disc ? disc.ordered() : null, step);
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
  private updateBatchNorms(bn: ReadonlyMap<string, Float32Array>, pass: string): void {
    for (const [name, buf] of this.replica.net.batchNorms) {
      const mean = bn.get(`bn.${pass}.${name}.mean`);
      const variance = bn.get(`bn.${pass}.${name}.var`);
      const count = bn.get(`bn.${pass}.${name}.count`);
      if (!mean || !variance || !count) throw new Error(`internal: the step graph has no batch statistics of ${name}`);
      updateRunningStats(buf, mean, variance, count[0]);
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
    const lanes = this.lanes;
    this.lanes = null;
    if (lanes) await Promise.all([lanes.local.close(), ...lanes.workers.map((w) => w.close())]);
  }
}
