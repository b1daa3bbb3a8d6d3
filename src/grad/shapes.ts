// Static shape (and element type) inference for the ops the tape records: the training graphs have fixed
// shapes, so every backward rule can reduce a broadcast gradient to its operand's exact shape.
import type { Attr } from '../onnx/graph.js';
import type { DType, TapeNode } from './tape.js';

export interface ShapeEnv {
  shapes: Map<string, number[]>;
  dtypes: Map<string, DType>;
  constants: Map<string, number[]>;
  shapeOf(name: string): number[];
  constantOf(name: string): number[] | undefined;
}

/** numpy broadcasting of two shapes. */
export function broadcast(a: number[], b: number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new Error(`shapes [${a}] and [${b}] do not broadcast`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

const axis = (a: number, rank: number) => (a < 0 ? a + rank : a);
const ints = (v: Attr | undefined): number[] | undefined => (Array.isArray(v) ? v : undefined);

function constant(env: ShapeEnv, name: string, what: string): number[] {
  const v = env.constantOf(name);
  if (!v) throw new Error(`tape: ${what} must be a constant (${name})`);
  return v;
}

/** Axes of a Reduce* node: its second input (ReduceSum, opset 13) or its `axes` attribute; all when absent. */
export function reduceAxes(env: ShapeEnv, n: TapeNode): number[] {
  const rank = env.shapeOf(n.inputs[0]).length;
  const raw = n.inputs[1] ? constant(env, n.inputs[1], `${n.op} axes`) : ints(n.attrs.axes) ?? [...Array(rank).keys()];
  return raw.map((a) => axis(a, rank)).sort((x, y) => x - y);
}

function reshape(x: number[], target: number[]): number[] {
  const out = target.map((d, i) => (d === 0 ? x[i] : d));
  const size = x.reduce((p, q) => p * q, 1);
  const known = out.filter((d) => d !== -1).reduce((p, q) => p * q, 1);
  return out.map((d) => (d === -1 ? size / known : d));
}

function convOut(env: ShapeEnv, n: TapeNode): number[] {
  const [b, c, ...spatial] = env.shapeOf(n.inputs[0]);
  const pool = n.op === 'MaxPool' || n.op === 'AveragePool';
  const w = pool ? [c, c] : env.shapeOf(n.inputs[1]);
  const k = ints(n.attrs.kernel_shape) ?? w.slice(2);
  const s = ints(n.attrs.strides) ?? k.map(() => 1);
  const d = ints(n.attrs.dilations) ?? k.map(() => 1);
  const p = ints(n.attrs.pads) ?? [...k, ...k].map(() => 0);
  const r = k.length;
  if (n.op === 'ConvTranspose') {
    const op = ints(n.attrs.output_padding) ?? k.map(() => 0);
    return [b, w[1] * ((n.attrs.group as number) ?? 1), ...spatial.map((x, i) => s[i] * (x - 1) + op[i] + (k[i] - 1) * d[i] + 1 - p[i] - p[i + r])];
  }
  return [b, pool ? c : w[0], ...spatial.map((x, i) => Math.floor((x + p[i] + p[i + r] - (k[i] - 1) * d[i] - 1) / s[i]) + 1)];
}

function matmul(a: number[], b: number[]): number[] {
  if (a.length < 2 || b.length < 2) throw new Error('tape: MatMul of rank < 2 is not supported');
  if (a[a.length - 1] !== b[b.length - 2]) throw new Error(`tape: MatMul [${a}] x [${b}]`);
  return [...broadcast(a.slice(0, -2), b.slice(0, -2)), a[a.length - 2], b[b.length - 1]];
}

function sliceShape(env: ShapeEnv, n: TapeNode): number[] {
  const x = [...env.shapeOf(n.inputs[0])];
  const starts = constant(env, n.inputs[1], 'Slice starts');
  const ends = constant(env, n.inputs[2], 'Slice ends');
  const axes = n.inputs[3] ? constant(env, n.inputs[3], 'Slice axes') : starts.map((_, i) => i);
  const steps = n.inputs[4] ? constant(env, n.inputs[4], 'Slice steps') : starts.map(() => 1);
  axes.forEach((a0, i) => {
    const a = axis(a0, x.length);
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + x[a] : v, 0), x[a]);
    x[a] = Math.max(0, Math.ceil((clamp(ends[i]) - clamp(starts[i])) / steps[i]));
  });
  return x;
}

/** Output shapes of `node` from its inputs' (throws for an op it does not know). */
function outputShapes(env: ShapeEnv, n: TapeNode): number[][] {
  const s = (i: number) => env.shapeOf(n.inputs[i]);
  switch (n.op) {
    case 'Identity': case 'Sigmoid': case 'Abs': case 'Relu': case 'LeakyRelu': case 'Sqrt': case 'Neg': case 'Exp': case 'Log':
    case 'Softmax': case 'Sign': case 'Cast': case 'Reciprocal': case 'InstanceNormalization': case 'BatchNormalization': case 'Not': case 'Floor': case 'Clip':
      return [s(0)];
    case 'Add': case 'Sub': case 'Mul': case 'Div': case 'Pow': case 'Equal': case 'Greater': case 'Less': case 'Max': case 'Min':
    case 'GreaterOrEqual': case 'LessOrEqual': case 'And': case 'Or':
      return [broadcast(s(0), s(1))];
    case 'Where': return [broadcast(s(0), broadcast(s(1), s(2)))];
    case 'Sum': return [n.inputs.map((_, i) => s(i)).reduce(broadcast)];
    case 'Conv': case 'ConvTranspose': case 'AveragePool': return [convOut(env, n)];
    case 'MaxPool': { const y = convOut(env, n); return n.outputs.length > 1 ? [y, y] : [y]; }
    case 'MatMul': return [matmul(s(0), s(1))];
    case 'DepthToSpace': { const [b, c, h, w] = s(0); const k = n.attrs.blocksize as number; return [[b, c / (k * k), h * k, w * k]]; }
    case 'Gemm': {
      const a = s(0); const b = s(1);
      return [[n.attrs.transA ? a[1] : a[0], n.attrs.transB ? b[0] : b[1]]];
    }
    case 'Reshape': return [reshape(s(0), constant(env, n.inputs[1], 'Reshape shape'))];
    case 'Expand': return [broadcast(s(0), constant(env, n.inputs[1], 'Expand shape'))];
    case 'Transpose': { const x = s(0); const perm = ints(n.attrs.perm) ?? [...x.keys()].reverse(); return [perm.map((p) => x[p])]; }
    case 'ReduceSum': case 'ReduceMean': case 'ReduceSumSquare': case 'ReduceMax': case 'ReduceMin': case 'ArgMin': case 'ArgMax': {
      const x = s(0);
      const axes = n.op.startsWith('Arg') ? [axis((n.attrs.axis as number) ?? 0, x.length)] : reduceAxes(env, n);
      const keep = (n.attrs.keepdims as number | undefined) ?? 1;
      return [keep ? x.map((d, i) => (axes.includes(i) ? 1 : d)) : x.filter((_, i) => !axes.includes(i))];
    }
    case 'Unsqueeze': {
      const x = [...s(0)];
      const axes = constant(env, n.inputs[1], 'Unsqueeze axes').map((a) => axis(a, x.length + 1)).sort((p, q) => p - q);
      for (const a of axes) x.splice(a, 0, 1);
      return [x];
    }
    case 'Squeeze': {
      const x = s(0);
      const axes = n.inputs[1] ? constant(env, n.inputs[1], 'Squeeze axes').map((a) => axis(a, x.length)) : x.map((d, i) => (d === 1 ? i : -1));
      return [x.filter((_, i) => !axes.includes(i))];
    }
    case 'Resize': {
      const scales = constant(env, n.inputs[2], 'Resize scales');
      return [s(0).map((d, i) => Math.floor(d * scales[i]))];
    }
    case 'TopK': { const x = [...s(0)]; x[axis((n.attrs.axis as number) ?? -1, x.length)] = constant(env, n.inputs[1], 'TopK k')[0]; return [x, x]; }
    case 'Gather': {
      const x = s(0); const a = axis((n.attrs.axis as number) ?? 0, x.length);
      return [[...x.slice(0, a), ...s(1), ...x.slice(a + 1)]];
    }
    case 'Concat': {
      const a = axis(n.attrs.axis as number, s(0).length);
      const out = [...s(0)];
      out[a] = n.inputs.reduce((t, _, i) => t + s(i)[a], 0);
      return [out];
    }
    case 'Slice': return [sliceShape(env, n)];
    case 'Pad': {
      const pads = constant(env, n.inputs[1], 'Pad pads');
      const x = s(0);
      return [x.map((d, i) => d + pads[i] + pads[i + x.length])];
    }
    case 'ScatterElements': case 'ScatterND': return [s(0)];
    case 'Shape': return [[s(0).length]];
    default: throw new Error(`tape: no shape rule for ${n.op}`);
  }
}

function outputTypes(env: ShapeEnv, n: TapeNode): DType[] {
  const same = env.dtypes.get(n.inputs[0]) ?? 'float32';
  switch (n.op) {
    case 'Shape': case 'ArgMin': case 'ArgMax': return ['int64'];
    case 'TopK': return [same, 'int64'];
    case 'MaxPool': return ['float32', 'int64'];
    case 'Equal': case 'Greater': case 'Less': case 'GreaterOrEqual': case 'LessOrEqual': case 'Not': case 'And': case 'Or': return ['bool'];
    case 'Cast': return [({ 1: 'float32', 7: 'int64', 9: 'bool' } as Record<number, DType>)[n.attrs.to as number] ?? 'float32'];
    case 'Where': return [env.dtypes.get(n.inputs[1]) ?? 'float32'];
    default: return n.outputs.map(() => same);
  }
}

/** Records the shapes and element types of `node`'s outputs (and folds constant shape arithmetic it can). */
export function inferShapes(env: ShapeEnv, n: TapeNode): void {
  const shapes = outputShapes(env, n);
  const types = outputTypes(env, n);
  n.outputs.forEach((o, i) => {
    env.shapes.set(o, shapes[i]);
    env.dtypes.set(o, types[i] ?? types[0]);
  });
  // A Concat of int64 constants (a shape built from folded Shapes: Winograd's tile grid) is a constant too.
  if (n.op === 'Concat' && types[0] === 'int64') {
    const parts = n.inputs.map((x) => env.constantOf(x));
    if (parts.every(Boolean)) env.constants.set(n.outputs[0], parts.flat() as number[]);
  }
}
