// The network's state as host arrays: every parameter (PyTorch names and layouts) and the discriminator's
// BatchNorm buffers, initialised from the declarations of ./declare.ts with one seed, loaded from and
// exported to state dicts. What the trainer owns and feeds to the ONNX graphs; no tensor library. Portable.
import { toFloat32, type HostTensor } from '../io/dtypes.js';
import { validateConfig, type V2LConfig } from './config.js';
import { declareNetwork } from './declare.js';
import type { Layout, ParamSpecs } from './param-specs.js';
import { checkCodebookWidth, checkStateDict, CODEBOOK_KEYS, type LoadOptions } from './state-dict.js';

/** BatchNorm2d defaults of PyTorch. */
export const BN_EPS = 1e-5;
export const BN_MOMENTUM = 0.1;

/** A BatchNorm layer's buffers: running statistics and the batch counter, as in the PyTorch state dict. */
export interface BatchNormState {
  runningMean: Float32Array;
  runningVar: Float32Array;
  numBatchesTracked: number;
}

/**
 * PyTorch's running-statistics update from one training-mode batch of `n` values per channel (batch mean
 * and biased variance, [C]): momentum 0.1, the variance made unbiased; rounded to float32 per operation.
 */
export function updateRunningStats(buf: BatchNormState, mean: Float32Array, variance: Float32Array, n: number): void {
  const keep = Math.fround(1 - BN_MOMENTUM);
  const m = Math.fround(BN_MOMENTUM);
  const mv = Math.fround(BN_MOMENTUM * (n / Math.max(n - 1, 1)));
  const f = Math.fround;
  for (let i = 0; i < buf.runningMean.length; i++) {
    buf.runningMean[i] = f(f(keep * buf.runningMean[i]) + f(m * mean[i]));
    buf.runningVar[i] = f(f(keep * buf.runningVar[i]) + f(mv * variance[i]));
  }
  buf.numBatchesTracked += 1;
}

export class NetworkParams {
  readonly config: V2LConfig;
  readonly specs: ParamSpecs;
  /** Every parameter by state-dict name, PyTorch layout, in declaration order. */
  readonly values: Map<string, Float32Array>;
  /** BatchNorm buffers by layer name (`discriminator.main.3`). */
  readonly batchNorms = new Map<string, BatchNormState>();

  /**
   * PyTorch-default random weights from `seed` (codebooks: seeded stand-ins), or with `init: 'zeros'` all
   * zeros (for a network whose state dict is loaded next).
   */
  constructor(config: V2LConfig, opts: { seed?: number; init?: 'random' | 'zeros' } = {}) {
    this.config = validateConfig({ ...config, chMult: [...config.chMult], attnResolutions: [...config.attnResolutions] });
    this.specs = declareNetwork(this.config);
    this.values = this.specs.initialise(opts.init === 'zeros' ? null : opts.seed ?? 0);
    for (const [name, c] of this.specs.batchNorms) this.batchNorms.set(name, { runningMean: new Float32Array(c), runningVar: new Float32Array(c).fill(1), numBatchesTracked: 0 });
  }

  get(name: string): Float32Array {
    const v = this.values.get(name);
    if (!v) throw new Error(`internal: unknown parameter ${name}`);
    return v;
  }

  /** A parameter's PyTorch shape (a loaded codebook's row count included). */
  shape(name: string): number[] {
    const s = this.specs.specs.get(name);
    if (!s) throw new Error(`internal: unknown parameter ${name}`);
    return s.refShape;
  }

  /** How the tfjs network of earlier versions held the parameter (old training checkpoints' moments). */
  layoutOf(name: string): Layout {
    const s = this.specs.specs.get(name);
    if (!s) throw new Error(`internal: unknown parameter ${name}`);
    return s.layout;
  }

  /** Trainable parameter names in declaration order: the generator's, and the discriminator's. */
  trainableNames(): { gen: string[]; disc: string[] } {
    const gen: string[] = [];
    const disc: string[] = [];
    for (const s of this.specs.specs.values()) if (s.trainable) (s.name.startsWith('discriminator.') ? disc : gen).push(s.name);
    return { gen, disc };
  }

  /** Loads a state dict (PyTorch names and layouts); checks everything first (see checkStateDict). */
  loadStateDict(sd: ReadonlyMap<string, HostTensor>, opts: LoadOptions = {}): void {
    const expected = new Map<string, number[]>();
    for (const [name, spec] of this.specs.specs) expected.set(name, spec.refShape);
    for (const [name, c] of this.specs.batchNorms) {
      expected.set(`${name}.running_mean`, [c]);
      expected.set(`${name}.running_var`, [c]);
    }
    checkStateDict(expected, new Set(this.batchNorms.keys()), this.config.embedDim, sd, opts);
    for (const [name, spec] of this.specs.specs) {
      const t = sd.get(name);
      if (!t) continue;
      const data = ownFloat32(t);
      const held = this.values.get(name);
      // In place where the size is the same: an optimiser holds these arrays.
      if (held && held.length === data.length) held.set(data);
      else this.values.set(name, data); // a codebook with another number of rows (never trained)
      if ((CODEBOOK_KEYS as readonly string[]).includes(name)) spec.refShape = [...t.shape];
    }
    for (const [name, buf] of this.batchNorms) {
      const m = sd.get(`${name}.running_mean`);
      const r = sd.get(`${name}.running_var`);
      if (m) buf.runningMean = ownFloat32(m);
      if (r) buf.runningVar = ownFloat32(r);
      const nb = sd.get(`${name}.num_batches_tracked`);
      if (nb) buf.numBatchesTracked = Number(nb.data[0]);
    }
    this.config.nLocal = this.shape('tok_embeddings.weight')[0];
    this.config.nGlobal = this.shape('tok_embeddings_global.weight')[0];
  }

  /** Replaces the frozen codebooks (e.g. from a codebook package); width is checked first. */
  setCodebooks(books: { local?: HostTensor; global?: HostTensor }): void {
    const sd = new Map<string, HostTensor>();
    if (books.local) sd.set('tok_embeddings.weight', books.local);
    if (books.global) sd.set('tok_embeddings_global.weight', books.global);
    for (const [k, t] of sd) checkCodebookWidth(k, t, this.config.embedDim);
    this.loadStateDict(sd, { optionalPrefixes: [''] });
  }

  /** The state dict (copies): parameters in declaration order, then BatchNorm buffers (`num_batches_tracked` int64 scalars). */
  stateDict(): Map<string, HostTensor> {
    const out = new Map<string, HostTensor>();
    for (const [name, spec] of this.specs.specs) out.set(name, { dtype: 'F32', shape: [...spec.refShape], data: this.get(name).slice() });
    for (const [name, buf] of this.batchNorms) {
      out.set(`${name}.running_mean`, { dtype: 'F32', shape: [buf.runningMean.length], data: buf.runningMean.slice() });
      out.set(`${name}.running_var`, { dtype: 'F32', shape: [buf.runningVar.length], data: buf.runningVar.slice() });
      out.set(`${name}.num_batches_tracked`, { dtype: 'I64', shape: [], data: new BigInt64Array([BigInt(buf.numBatchesTracked)]) });
    }
    return out;
  }

  /** A frozen codebook's rows ([nLocal or nGlobal, embedDim], row-major; the array held, not a copy). */
  codebookRows(which: 'local' | 'global'): Float32Array {
    return this.get(which === 'local' ? 'tok_embeddings.weight' : 'tok_embeddings_global.weight');
  }
}

/** The values as a float32 array the network owns. */
function ownFloat32(t: HostTensor): Float32Array {
  return t.dtype === 'F32' ? (t.data as Float32Array).slice() : toFloat32(t);
}
