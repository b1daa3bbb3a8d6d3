// How the network is written: the one definition of its computation. Each module's `*.onnx.ts` function
// emits that module's nodes into a graph (inference models, training step graphs, and through src/grad
// their gradients); the weights are the state dict's tensors (PyTorch names and layouts, as
// `NetworkParams.stateDict()` or a checkpoint gives them, declared in ./declare.ts), so one state dict
// feeds every graph. ONNX tensors are NCHW (PyTorch's layout; onnxruntime's CPU provider blocks
// convolutions itself). Portable: plain TypeScript, no runtime.
import type { Attr } from '../onnx/graph.js';
import { toFloat32, type HostTensor } from '../io/dtypes.js';

/** The graph-building surface the emitters use (src/onnx/graph.ts's GraphBuilder has it). */
export interface OnnxGraph {
  weight(name: string, dims: number[], data: Float32Array): string;
  ints(name: string, values: readonly number[], dims?: number[]): string;
  scalar(name: string, value: number): string;
  op(opType: string, inputs: string[], attrs?: Record<string, Attr>, output?: string): string;
  opN(opType: string, inputs: string[], outputs: number, attrs?: Record<string, Attr>): string[];
  /** The same value, never differentiated through (a training tape's sg(x); absent: inference graphs). */
  stopGradient?(x: string): string;
  /** A value's static shape (a training tape's; absent: inference graphs, whose shapes are dynamic). */
  shapeOf?(name: string): number[];
  /** A training tape's backward reads `value` as `emit` recomputes it, not kept from the forward (memory). */
  recomputable?(value: string, emit: () => string): void;
}

/**
 * A parameter stored in another layout than the state dict's: `data` rewrites the values for an
 * initializer (inference), `emit` the same as graph ops on a fed parameter (training, where the gradient
 * must reach the state-dict tensor itself).
 */
export interface ParamTransform {
  suffix: string;
  shape: number[];
  data: (src: Float32Array, shape: number[]) => Float32Array;
  emit: (e: OnnxEmitter, x: string) => string;
}

/** A linear weight [out, in] used as [in, out]. */
export function transposedParam(out: number, inp: number): ParamTransform {
  return { suffix: '.T', shape: [inp, out], data: (s) => transpose2d(s, out, inp), emit: (e, x) => e.op('Transpose', [x], { perm: [1, 0] }) };
}

/** A per-channel vector [C] used as [C, 1, 1] (broadcast over NCHW). */
export function channelParam(c: number): ParamTransform {
  return { suffix: '.chw', shape: [c, 1, 1], data: (s) => s, emit: (e, x) => e.op('Reshape', [x, e.ints([c, 1, 1])]) };
}

/** A graph being emitted and the state dict its weights come from. */
export class OnnxEmitter {
  private readonly emitted = new Map<string, string>();
  private readonly consts = new Map<string, string>();
  /** 3x3 stride-1 pad-1 convolutions by Winograd F(4x4, 3x3) (./winograd.onnx.ts): the page's inference graphs. */
  winograd = false;
  /**
   * Training graphs (fed weights, static shapes): the 3x3 stride-1 pad-1 convolutions by Winograd F(4x4,
   * 3x3) where both channel counts are at least `minChannels` and the input's sides at least `minSide`
   * (./layers.onnx.ts conv2dOnnx; null: every convolution direct); `recompute`: the weight gradient
   * recomputes the transformed input instead of keeping it (./winograd.onnx.ts).
   */
  trainWinograd: { minChannels: number; minSide: number; recompute?: boolean } | null = null;

  /**
   * `fed(name, shape)`, when given, returns a graph input for a parameter instead of an initializer
   * (training graphs, whose parameters change every step; `name` is a state-dict name, PyTorch layout),
   * or null to keep that parameter an initializer.
   */
  constructor(readonly g: OnnxGraph, readonly sd: ReadonlyMap<string, HostTensor>, readonly fed?: (name: string, shape: number[]) => string | null) {}

  /** sg(x): x, with no gradient through it on a training tape. */
  sg(x: string): string {
    return this.g.stopGradient ? this.g.stopGradient(x) : x;
  }

  /** The state-dict tensor `name` (throws naming it when absent). */
  tensor(name: string): HostTensor {
    const t = this.sd.get(name);
    if (!t) throw new Error(`ONNX export: state dict has no ${name}`);
    return t;
  }

  has(name: string): boolean {
    return this.sd.has(name);
  }

  /**
   * `name` as an initializer (or a fed graph input), once. `transform` gives it in another layout (a
   * transposed linear weight, a per-channel vector as [C,1,1]), shared under `name` + its suffix.
   */
  param(name: string, transform?: ParamTransform): string {
    const key = transform ? `${name}${transform.suffix}` : name;
    let out = this.emitted.get(key);
    if (!out) {
      const t = this.tensor(name);
      const input = this.fed?.(name, t.shape);
      if (input) out = transform ? transform.emit(this, input) : input;
      else out = transform ? this.g.weight(key, transform.shape, transform.data(toFloat32(t), t.shape)) : this.g.weight(key, t.shape, toFloat32(t));
      this.emitted.set(key, out);
    }
    return out;
  }

  /** An int64 constant shared by every node that needs the same values. */
  ints(values: readonly number[]): string {
    const key = values.join(',');
    let out = this.consts.get(key);
    if (!out) {
      out = this.g.ints(`const.i64.[${key}]`, values);
      this.consts.set(key, out);
    }
    return out;
  }

  /** A float constant tensor (not a parameter), shared under `key`. */
  floats(key: string, dims: number[], values: Float32Array): string {
    let out = this.consts.get(`t:${key}`);
    if (!out) {
      out = this.g.weight(`const.${key}`, dims, values);
      this.consts.set(`t:${key}`, out);
    }
    return out;
  }

  /** A float scalar constant, shared. */
  scalar(value: number): string {
    const key = `f:${value}`;
    let out = this.consts.get(key);
    if (!out) {
      out = this.g.scalar(`const.f32.${value}`, value);
      this.consts.set(key, out);
    }
    return out;
  }

  op(opType: string, inputs: string[], attrs?: Record<string, Attr>, output?: string): string {
    return this.g.op(opType, inputs, attrs, output);
  }
}

/** [rows, cols] row-major -> its transpose. */
export function transpose2d(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = src[r * cols + c];
  return out;
}
