// The tape: an ONNX graph being emitted (the network's own `*.onnx.ts` emitters write into it through the
// `OnnxGraph` surface) that also records every node with its static shapes, which values depend on a
// differentiable input, and which were cut by an explicit stop-gradient. `./backward.ts` walks it in reverse.
// Shapes are fixed per graph (a training step's configuration and batch), so `Shape` folds to a constant
// and every backward rule knows the shapes it reduces to.
import { GraphBuilder, type Attr, type IoSpec } from '../onnx/graph.js';
import type { OnnxGraph } from '../network/onnx.js';
import { inferShapes, type ShapeEnv } from './shapes.js';

export type DType = 'float32' | 'int64' | 'bool';

export interface TapeNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, Attr>;
}

/** Ops whose outputs never carry a gradient (indices, comparisons, shapes). */
const NON_DIFFERENTIABLE = new Set(['Shape', 'ArgMin', 'ArgMax', 'Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'Sign', 'Not', 'And', 'Or', 'Floor', 'Ceil', 'Round', 'Size']);

export class Tape implements OnnxGraph, ShapeEnv {
  readonly builder = new GraphBuilder();
  readonly nodes: TapeNode[] = [];
  readonly shapes = new Map<string, number[]>();
  readonly dtypes = new Map<string, DType>();
  /** Values of constants (int64 and float), for shape inference and folding. */
  readonly constants = new Map<string, number[]>();
  private readonly diff = new Set<string>();
  private readonly ioInputs: IoSpec[] = [];
  /** Off while a backward pass emits its nodes: they are never differentiated again. */
  recording = true;

  /** A graph input; `grad`: gradients may be taken with respect to it (a parameter, an image). */
  input(name: string, shape: number[], opts: { type?: 'float32' | 'int64'; grad?: boolean } = {}): string {
    const type = opts.type ?? 'float32';
    this.ioInputs.push({ name, type, shape });
    this.shapes.set(name, shape);
    this.dtypes.set(name, type);
    if (opts.grad) this.diff.add(name);
    return name;
  }

  weight(name: string, dims: number[], data: Float32Array): string {
    const n = this.builder.weight(name, dims, data);
    this.shapes.set(n, dims);
    this.dtypes.set(n, 'float32');
    if (data.length <= 1024) this.constants.set(n, [...data]); // per-channel constants (rules read them: GroupNorm's unit statistics)
    return n;
  }

  ints(name: string, values: readonly number[], dims: number[] = [values.length]): string {
    const n = this.builder.ints(name, values, dims);
    this.shapes.set(n, dims);
    this.dtypes.set(n, 'int64');
    this.constants.set(n, [...values]);
    return n;
  }

  scalar(name: string, value: number): string {
    const n = this.builder.scalar(name, value);
    this.shapes.set(n, []);
    this.dtypes.set(n, 'float32');
    this.constants.set(n, [value]);
    return n;
  }

  op(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, output?: string): string {
    if (opType === 'Shape' && !output) {
      const shape = this.shapeOf(inputs[0]);
      const at = (v: Attr | undefined, d: number) => (typeof v === 'number' ? (v < 0 ? v + shape.length : v) : d);
      return this.ints('shape', shape.slice(at(attrs.start, 0), at(attrs.end, shape.length)));
    }
    return this.opN(opType, inputs, 1, attrs, output ? [output] : undefined)[0];
  }

  opN(opType: string, inputs: string[], outputs: number, attrs: Record<string, Attr> = {}, names?: string[]): string[] {
    const outs = names ? [this.builder.op(opType, inputs, attrs, names[0])] : this.builder.opN(opType, inputs, outputs, attrs);
    const node: TapeNode = { op: opType, inputs, outputs: outs, attrs };
    inferShapes(this, node);
    this.nodes.push(node);
    if (this.recording && !NON_DIFFERENTIABLE.has(opType) && inputs.some((i) => this.diff.has(i))) {
      for (const o of outs) if (this.dtypes.get(o) === 'float32') this.diff.add(o);
    }
    return outs;
  }

  /** An explicit stop-gradient: the same value, never differentiated through (sg(x) of the paper). */
  stopGradient(x: string): string {
    const was = this.recording;
    this.recording = false;
    const y = this.op('Identity', [x]);
    this.recording = was;
    return y;
  }

  /** Values the backward recomputes (./backward.ts GradContext.saved) instead of keeping them from the forward. */
  readonly recomputed = new Map<string, () => string>();

  recomputable(value: string, emit: () => string): void {
    this.recomputed.set(value, emit);
  }

  /** Whether `name` depends on a differentiable input through differentiable ops. */
  isDifferentiable(name: string): boolean {
    return this.diff.has(name);
  }

  shapeOf(name: string): number[] {
    const s = this.shapes.get(name);
    if (!s) throw new Error(`tape: no shape known for ${name}`);
    return s;
  }

  constantOf(name: string): number[] | undefined {
    return this.constants.get(name);
  }

  /** Names `value` as the graph output `name` (an Identity: outputs stay distinct from inputs and each other). */
  output(name: string, value: string): string {
    return this.builder.op('Identity', [value], {}, name) && this.record(name, value);
  }

  private record(name: string, value: string): string {
    this.shapes.set(name, this.shapeOf(value));
    this.dtypes.set(name, this.dtypes.get(value) ?? 'float32');
    return name;
  }

  /** Serialises the graph with these outputs (shapes and types from the tape). */
  build(graphName: string, outputs: string[], docString = ''): Uint8Array {
    const specs = outputs.map((name) => ({ name, type: this.dtypes.get(name) === 'int64' ? 'int64' as const : 'float32' as const, shape: this.shapeOf(name) }));
    return this.builder.build(graphName, this.ioInputs, specs, docString);
  }
}
