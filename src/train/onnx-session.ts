// The generator step graph (./onnx-step.ts) in an onnxruntime-node session: feeds parameters (PyTorch
// layouts), a batch, the frozen codebooks and the step scalars; returns the loss terms, the chosen codes
// and the gradients. CPU provider with intra-op threads = cores by default; `device: 'cuda'` where
// onnxruntime-node's CUDA provider is installed. Node edge.
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import type { HostTensor } from '../io/dtypes.js';
import type { V2LConfig } from '../network/config.js';
import { discriminatorStepGraph, generatorStepGraph, projectionGraph, type StepGraph, type StepGraphOptions } from './onnx-step.js';

export type TrainDevice = 'cpu' | 'cuda';

export interface TrainEngineOptions {
  device?: TrainDevice;
  /** Intra-op threads on CPU (default: all cores). */
  threads?: number;
  /**
   * Whether idle intra-op threads spin waiting for the next node's work (onnxruntime's default) instead of
   * sleeping (our default: measured faster here, scripts/ab-train-step.ts and docs/architecture.md).
   */
  spinning?: boolean;
}

export function trainSessionOptions(o: TrainEngineOptions): ort.InferenceSession.SessionOptions {
  const threads = o.threads ?? availableParallelism();
  return {
    executionProviders: [o.device === 'cuda' ? 'cuda' : 'cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    // onnxruntime's memory pattern plans one block per run for the whole graph; for step graphs it held far
    // more than their tensors need (paper, two lanes of 2 images: peak RSS 17.5 GB with it, 11.1 GB without,
    // 21.7 vs 21.5 s/step); the arena alone reuses freed tensors.
    enableMemPattern: false,
    extra: { session: { intra_op: { allow_spinning: o.spinning ? '1' : '0' } } },
  };
}

/** Opens a session, turning a missing CUDA provider into a clear error. */
export async function openTrainSession(model: Uint8Array, o: TrainEngineOptions): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(model, trainSessionOptions(o));
  } catch (err) {
    if (o.device === 'cuda') throw new Error(`--device cuda: onnxruntime-node could not start its CUDA provider (${(err as Error).message.split('\n')[0]}); install it with \`npm install onnxruntime-node\` without ONNXRUNTIME_NODE_INSTALL=skip on a machine with CUDA 12`);
    throw err;
  }
}

export interface StepFeeds {
  /** Parameters by state-dict name, PyTorch layout: the trainable ones (and the discriminator's with a GAN term). */
  params: ReadonlyMap<string, Float32Array>;
  images: Float32Array;
  clip: Float32Array;
  localCodebook: Float32Array;
  /** The projected local codebook of this step (GeneratorStepSession.project); absent: projected here. */
  projected?: Float32Array;
  globalCodebook: Float32Array;
  vqWeight: number;
  quantized: boolean;
  /** The GAN factor of this step (graphs with the GAN term). */
  ganFactor?: number;
}

export interface StepOutputs {
  /** loss, rec_loss, vq_loss, and p_loss, g_loss, d_weight where the graph has them. */
  terms: Record<string, number>;
  indices: BigInt64Array;
  zRows: Float32Array | null;
  grads: Map<string, Float32Array>;
  /** Every output by name (the exposed intermediates included). */
  raw: ort.InferenceSession.ReturnType;
  /** The projected local codebook the search compared with. */
  projected: Float32Array;
}

/** One step graph in a session: parameters and other inputs by name, shapes from the state dict. */
class StepSession {
  constructor(readonly session: ort.InferenceSession, readonly params: string[], private readonly shapes: ReadonlyMap<string, readonly number[]>) {}

  static async open(graph: StepGraph, sd: ReadonlyMap<string, HostTensor>, engine: TrainEngineOptions): Promise<StepSession> {
    const session = await openTrainSession(graph.model, engine);
    return new StepSession(session, graph.params, new Map([...sd].map(([k, t]) => [k, t.shape])));
  }

  /** Runs with `inputs` (name -> values, dims) plus every parameter input from `params`. */
  run(inputs: Record<string, [Float32Array, number[]]>, params: ReadonlyMap<string, Float32Array>): Promise<ort.InferenceSession.ReturnType> {
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of this.session.inputNames) {
      const given = inputs[name];
      if (given) feeds[name] = new ort.Tensor('float32', given[0], given[1]);
      else {
        const p = params.get(name);
        if (!p) throw new Error(`training step: no value for input ${name}`);
        feeds[name] = new ort.Tensor('float32', p, [...this.shapes.get(name)!]);
      }
    }
    return this.session.run(feeds);
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

const SCALARS = ['loss', 'rec_loss', 'vq_loss', 'p_loss', 'g_loss', 'd_weight', 'usage_loss'];

export class GeneratorStepSession {
  /** Zeros for each trainable parameter the loss does not reach (the graph has no input for it). */
  private readonly unreached: Map<string, Float32Array>;

  private constructor(private readonly s: StepSession, private readonly projection: StepSession, readonly config: V2LConfig, readonly opts: StepGraphOptions, trainable: Iterable<string>, sd: ReadonlyMap<string, HostTensor>) {
    const fed = new Set(s.params);
    this.unreached = new Map([...trainable].filter((n) => !fed.has(n)).map((n) => [n, new Float32Array(sd.get(n)!.shape.reduce((a, b) => a * b, 1))]));
  }

  get params(): string[] {
    return this.s.params;
  }

  /** The parameters the projection reads (the projector's). */
  get projectionParams(): string[] {
    return this.projection.params;
  }

  /**
   * `sd` gives the parameter shapes (its values are not used); `trainable`: the names differentiated (one
   * the loss does not reach, e.g. the projector without the VQ loss's projector term, gets zeros).
   */
  static async create(config: V2LConfig, sd: ReadonlyMap<string, HostTensor>, trainable: Iterable<string>, opts: StepGraphOptions, engine: TrainEngineOptions = {}): Promise<GeneratorStepSession> {
    const names = [...trainable];
    const step = await StepSession.open(generatorStepGraph(config, sd, names, opts), sd, engine);
    return new GeneratorStepSession(step, await StepSession.open(projectionGraph(config, sd), sd, engine), config, opts, names, sd);
  }

  /** The projected local codebook for the search, from the projector in `params` (once per step). */
  async project(params: ReadonlyMap<string, Float32Array>, localCodebook: Float32Array): Promise<Float32Array> {
    const raw = await this.projection.run({ codebook: [localCodebook, [this.config.nLocal, this.config.embedDim]] }, params);
    return raw.projected_codebook.data as Float32Array;
  }

  async run(f: StepFeeds): Promise<StepOutputs> {
    const c = this.config;
    const o = this.opts;
    const projected = f.projected ?? await this.project(f.params, f.localCodebook);
    const raw = await this.s.run({
      image: [f.images, [o.batch, c.inChannels, o.imageSize, o.imageSize]],
      codebook: [f.localCodebook, [c.nLocal, c.embedDim]],
      projected_codebook: [projected, [c.nLocal, c.embedDim]],
      clip: [f.clip, [o.batch, c.embedDim]],
      global_codebook: [f.globalCodebook, [c.nGlobal, c.embedDim]],
      vq_weight: [Float32Array.of(f.vqWeight), []],
      quantized: [Float32Array.of(f.quantized ? 1 : 0), []],
      gan_factor: [Float32Array.of(f.ganFactor ?? 0), []],
    }, f.params);
    const terms: Record<string, number> = {};
    for (const k of SCALARS) if (raw[k]) terms[k] = (raw[k].data as Float32Array)[0];
    return {
      terms,
      indices: raw.indices.data as BigInt64Array,
      zRows: raw.z_rows ? raw.z_rows.data as Float32Array : null,
      grads: new Map([...this.params.map((n): [string, Float32Array] => [n, raw[`grad.${n}`].data as Float32Array]), ...this.unreached]),
      raw,
      projected,
    };
  }

  async release(): Promise<void> {
    await this.s.release();
    await this.projection.release();
  }
}

export interface DiscriminatorOutputs {
  terms: { d_loss: number; logits_real: number; logits_fake: number };
  grads: Map<string, Float32Array>;
  raw: ort.InferenceSession.ReturnType;
}

export class DiscriminatorStepSession {
  private constructor(private readonly s: StepSession, readonly config: V2LConfig, readonly opts: { batch: number; imageSize: number }) {}

  get params(): string[] {
    return this.s.params;
  }

  static async create(config: V2LConfig, sd: ReadonlyMap<string, HostTensor>, opts: { batch: number; imageSize: number }, engine: TrainEngineOptions = {}): Promise<DiscriminatorStepSession> {
    return new DiscriminatorStepSession(await StepSession.open(discriminatorStepGraph(config, sd, opts), sd, engine), config, opts);
  }

  async run(params: ReadonlyMap<string, Float32Array>, real: Float32Array, fake: Float32Array, ganFactor: number): Promise<DiscriminatorOutputs> {
    const dims = [this.opts.batch, this.config.outCh, this.opts.imageSize, this.opts.imageSize];
    const raw = await this.s.run({ real: [real, dims], fake: [fake, dims], gan_factor: [Float32Array.of(ganFactor), []] }, params);
    const v = (k: string) => (raw[k].data as Float32Array)[0];
    return {
      terms: { d_loss: v('d_loss'), logits_real: v('logits_real'), logits_fake: v('logits_fake') },
      grads: new Map(this.params.map((n) => [n, raw[`grad.${n}`].data as Float32Array])),
      raw,
    };
  }

  release(): Promise<void> {
    return this.s.release();
  }
}
