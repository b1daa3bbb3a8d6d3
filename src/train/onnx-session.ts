// The generator step graph (./onnx-step.ts) in an onnxruntime-node session: feeds parameters (PyTorch
// layouts), a batch, the frozen codebooks and the step scalars; returns the loss terms, the chosen codes
// and the gradients. CPU provider with intra-op threads = cores by default; `device: 'cuda'` where
// onnxruntime-node's CUDA provider is installed. Node edge.
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import type { HostTensor } from '../io/dtypes.js';
import type { V2LConfig } from '../network/config.js';
import { generatorStepGraph, type StepGraphOptions } from './onnx-step.js';

export type TrainDevice = 'cpu' | 'cuda';

export interface TrainEngineOptions {
  device?: TrainDevice;
  /** Intra-op threads on CPU (default: all cores). */
  threads?: number;
}

export function trainSessionOptions(o: TrainEngineOptions): ort.InferenceSession.SessionOptions {
  const threads = o.threads ?? availableParallelism();
  return {
    executionProviders: [o.device === 'cuda' ? 'cuda' : 'cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
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
  /** Trainable parameters by state-dict name, PyTorch layout. */
  params: ReadonlyMap<string, Float32Array>;
  images: Float32Array;
  clip: Float32Array;
  localCodebook: Float32Array;
  globalCodebook: Float32Array;
  vqWeight: number;
  quantized: boolean;
}

export interface StepOutputs {
  terms: { loss: number; rec_loss: number; vq_loss: number };
  indices: BigInt64Array;
  zRows: Float32Array | null;
  grads: Map<string, Float32Array>;
  /** Every output by name (the exposed intermediates included). */
  raw: ort.InferenceSession.ReturnType;
}

export class GeneratorStepSession {
  private constructor(readonly session: ort.InferenceSession, readonly params: string[], readonly config: V2LConfig, readonly opts: StepGraphOptions,
    private readonly shapes: Map<string, number[]>) {}

  /** `sd` gives the parameter shapes (its values are not used); `trainable`: the names differentiated. */
  static async create(config: V2LConfig, sd: ReadonlyMap<string, HostTensor>, trainable: Iterable<string>, opts: StepGraphOptions, engine: TrainEngineOptions = {}): Promise<GeneratorStepSession> {
    const graph = generatorStepGraph(config, sd, trainable, opts);
    const session = await openTrainSession(graph.model, engine);
    const shapes = new Map(graph.params.map((n) => [n, sd.get(n)!.shape]));
    return new GeneratorStepSession(session, graph.params, config, opts, shapes);
  }

  async run(f: StepFeeds): Promise<StepOutputs> {
    const c = this.config;
    const o = this.opts;
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of this.params) {
      const p = f.params.get(name);
      if (!p) throw new Error(`training step: no value for parameter ${name}`);
      feeds[name] = new ort.Tensor('float32', p, this.shapes.get(name)!);
    }
    feeds.image = new ort.Tensor('float32', f.images, [o.batch, c.inChannels, o.imageSize, o.imageSize]);
    feeds.codebook = new ort.Tensor('float32', f.localCodebook, [c.nLocal, c.embedDim]);
    if (this.session.inputNames.includes('clip')) {
      feeds.clip = new ort.Tensor('float32', f.clip, [o.batch, c.embedDim]);
      feeds.global_codebook = new ort.Tensor('float32', f.globalCodebook, [c.nGlobal, c.embedDim]);
    }
    feeds.vq_weight = new ort.Tensor('float32', Float32Array.of(f.vqWeight), []);
    feeds.quantized = new ort.Tensor('float32', Float32Array.of(f.quantized ? 1 : 0), []);
    const raw = await this.session.run(feeds);
    const scalar = (k: string) => (raw[k].data as Float32Array)[0];
    return {
      terms: { loss: scalar('loss'), rec_loss: scalar('rec_loss'), vq_loss: scalar('vq_loss') },
      indices: raw.indices.data as BigInt64Array,
      zRows: raw.z_rows ? raw.z_rows.data as Float32Array : null,
      grads: new Map(this.params.map((n) => [n, raw[`grad.${n}`].data as Float32Array])),
      raw,
    };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
