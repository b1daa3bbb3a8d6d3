// One micro-batch of a training step on one lane (the main thread or a worker, ./lanes.ts): the generator's
// step graph, then, with the GAN term, the discriminator's, each in its own session per micro-batch size.
// The result is plain data (gradients, terms, codes, BatchNorm batch statistics) that the runner
// (./onnx-runner.ts) merges in micro-batch order, so a step's arithmetic does not depend on which lane ran
// which micro-batch. Node edge.
import type { HostTensor } from '../io/dtypes.js';
import type { V2LConfig } from '../network/config.js';
import { DiscriminatorStepSession, GeneratorStepSession, type TrainEngineOptions } from './onnx-session.js';
import { convOptions, ruleOptions } from '../grad/rules.js';
import { layerOptions } from '../network/layers.onnx.js';
import { stepOptions, type StepGraphOptions } from './onnx-step.js';

/** What a lane needs to build its sessions (structured-cloneable: it is sent to workers once). */
export interface LaneSpec {
  config: V2LConfig;
  /** The state dict at the start (parameter shapes; LPIPS and other frozen tensors are in `graph`). */
  sd: ReadonlyMap<string, HostTensor>;
  genNames: string[];
  imageSize: number;
  /** The step graphs' options other than the batch and the GAN term. */
  graph: Omit<StepGraphOptions, 'batch' | 'imageSize' | 'gan'>;
  discWeight: number;
  engine: TrainEngineOptions;
  /**
   * The graph forms chosen when the lanes opened (module options of the emitters and rules, which
   * A/B tools change): a worker applies them before it builds its graphs, so every lane runs the same graph.
   */
  forms: GraphForms;
}

export interface GraphForms {
  step: typeof stepOptions;
  conv: typeof convOptions;
  rule: typeof ruleOptions;
  layer: typeof layerOptions;
}

/** The current graph forms (a copy). */
export function currentForms(): GraphForms {
  return { step: { ...stepOptions }, conv: { ...convOptions }, rule: { ...ruleOptions }, layer: { ...layerOptions } };
}

/** Makes `f` the graph forms of this thread (a worker lane, before it builds anything). */
export function applyForms(f: GraphForms): void {
  Object.assign(stepOptions, f.step);
  Object.assign(convOptions, f.conv);
  Object.assign(ruleOptions, f.rule);
  Object.assign(layerOptions, f.layer);
}

/** The inputs of one micro-batch; the parameters and codebooks are the step's. */
export interface MicroFeeds {
  images: Float32Array;
  clip: Float32Array;
  /** Images in this micro-batch. */
  batch: number;
  vqWeight: number;
  quantized: boolean;
  /** The GAN factor (0: no GAN term this step, and no discriminator pass). */
  ganFactor: number;
}

export interface StepInputs {
  params: ReadonlyMap<string, Float32Array>;
  localCodebook: Float32Array;
  projected: Float32Array;
  globalCodebook: Float32Array;
}

export interface MicroResult {
  terms: Record<string, number>;
  indices: BigInt64Array;
  zRows: Float32Array | null;
  /** The generator's gradients by parameter name (and the discriminator's under `disc`). */
  grads: Map<string, Float32Array>;
  /** BatchNorm batch statistics by output name (`bn.<pass>.<name>.mean|var|count`). */
  bn: Map<string, Float32Array>;
  disc?: { terms: Record<string, number>; grads: Map<string, Float32Array> };
}

export class MicroStepper {
  private readonly gens = new Map<string, Promise<GeneratorStepSession>>();
  private readonly discs = new Map<number, Promise<DiscriminatorStepSession>>();

  constructor(readonly spec: LaneSpec) {}

  generator(batch: number, gan: boolean): Promise<GeneratorStepSession> {
    const key = `${batch}:${gan}`;
    let s = this.gens.get(key);
    if (!s) {
      const { config, sd, genNames, imageSize, graph, discWeight, engine } = this.spec;
      s = GeneratorStepSession.create(config, sd, genNames, { ...graph, batch, imageSize, gan: gan ? { discWeight } : undefined }, engine);
      this.gens.set(key, s);
    }
    return s;
  }

  private discriminator(batch: number): Promise<DiscriminatorStepSession> {
    let s = this.discs.get(batch);
    if (!s) {
      s = DiscriminatorStepSession.create(this.spec.config, this.spec.sd, { batch, imageSize: this.spec.imageSize }, this.spec.engine);
      this.discs.set(batch, s);
    }
    return s;
  }

  async run(step: StepInputs, f: MicroFeeds): Promise<MicroResult> {
    const gan = f.ganFactor > 0;
    const out = await (await this.generator(f.batch, gan)).run({
      params: step.params, images: f.images, clip: f.clip, localCodebook: step.localCodebook, projected: step.projected,
      globalCodebook: step.globalCodebook, vqWeight: f.vqWeight, quantized: f.quantized, ganFactor: f.ganFactor,
    });
    const bn = new Map<string, Float32Array>();
    const takeBn = (raw: Record<string, { data: unknown }>) => {
      for (const [k, v] of Object.entries(raw)) if (k.startsWith('bn.')) bn.set(k, v.data as Float32Array);
    };
    const result: MicroResult = { terms: out.terms, indices: out.indices, zRows: out.zRows, grads: out.grads, bn };
    if (gan) {
      takeBn(out.raw);
      const d = await (await this.discriminator(f.batch)).run(step.params, f.images, out.raw.reconstruction_out.data as Float32Array, f.ganFactor);
      takeBn(d.raw);
      result.disc = { terms: d.terms, grads: d.grads };
    }
    return result;
  }

  async close(): Promise<void> {
    for (const s of [...this.gens.values(), ...this.discs.values()]) await (await s).release();
    this.gens.clear();
    this.discs.clear();
  }
}
