// The network's parameters as declarations: every weight under its PyTorch state-dict name, its PyTorch
// shape, whether it trains, and its seeded initialisation (PyTorch's defaults and the reference's explicit
// inits). No tensor library: values are host float32 arrays in the PyTorch layout (what the ONNX emitters,
// the state dict and the checkpoints all use). Portable.
import { Rng } from './rng.js';

/**
 * How the tfjs network of earlier versions held a parameter inside: 'conv' [O,I,kh,kw] as [kh,kw,I,O],
 * 'linear' [O,I] as [I,O], 'plain' unchanged. Only read to convert optimiser moments of training
 * checkpoints written in that layout (`permuteLayout`).
 */
export type Layout = 'conv' | 'linear' | 'plain';

/** Random initialisation, as PyTorch's defaults and the reference's explicit inits. */
export type Init =
  | { kind: 'uniform'; bound: number }
  | { kind: 'normal'; mean: number; std: number }
  | { kind: 'const'; value: number }
  | { kind: 'unitRows' } // rows of unit L2 norm (a stand-in codebook)
  ;

export interface ParamSpec {
  /** State-dict name, e.g. `encoder.down.0.block.1.norm1.weight`. */
  name: string;
  /** Shape in the PyTorch layout. */
  refShape: number[];
  layout: Layout;
  trainable: boolean;
  init: Init;
}

/**
 * Registry of parameter declarations, in declaration order (which fixes the seeded initialisation), and of
 * the BatchNorm layers whose running statistics are buffers of the state dict.
 */
export class ParamSpecs {
  readonly specs = new Map<string, ParamSpec>();
  /** BatchNorm layer name -> channels. */
  readonly batchNorms = new Map<string, number>();

  declare(spec: ParamSpec): string {
    if (this.specs.has(spec.name)) throw new Error(`parameter ${spec.name} declared twice`);
    this.specs.set(spec.name, spec);
    return spec.name;
  }

  /** A conv layer's weight and optional bias with PyTorch's default init (kaiming-uniform, a=sqrt(5)). */
  conv(prefix: string, cin: number, cout: number, k: number, opts: { bias?: boolean; trainable?: boolean; weightInit?: Init } = {}): void {
    const bound = 1 / Math.sqrt(cin * k * k);
    const trainable = opts.trainable ?? true;
    this.declare({ name: `${prefix}.weight`, refShape: [cout, cin, k, k], layout: 'conv', trainable, init: opts.weightInit ?? { kind: 'uniform', bound } });
    if (opts.bias ?? true) this.declare({ name: `${prefix}.bias`, refShape: [cout], layout: 'plain', trainable, init: { kind: 'uniform', bound } });
  }

  /** A linear layer (weight [out,in] in the state dict) with PyTorch's default init. */
  linear(prefix: string, cin: number, cout: number, opts: { bias?: boolean; trainable?: boolean; weightInit?: Init } = {}): void {
    const bound = 1 / Math.sqrt(cin);
    const trainable = opts.trainable ?? true;
    this.declare({ name: `${prefix}.weight`, refShape: [cout, cin], layout: 'linear', trainable, init: opts.weightInit ?? { kind: 'uniform', bound } });
    if (opts.bias ?? true) this.declare({ name: `${prefix}.bias`, refShape: [cout], layout: 'plain', trainable, init: { kind: 'uniform', bound } });
  }

  /** A normalisation layer's affine weight (1) and bias (0). */
  norm(prefix: string, c: number, weightInit: Init = { kind: 'const', value: 1 }): void {
    this.declare({ name: `${prefix}.weight`, refShape: [c], layout: 'plain', trainable: true, init: weightInit });
    this.declare({ name: `${prefix}.bias`, refShape: [c], layout: 'plain', trainable: true, init: { kind: 'const', value: 0 } });
  }

  /** A BatchNorm2d: its affine parameters (weight N(1, 0.02) as the reference's weights_init) and its buffers. */
  batchNorm(prefix: string, c: number): void {
    this.norm(prefix, c, { kind: 'normal', mean: 1, std: 0.02 });
    this.batchNorms.set(prefix, c);
  }

  /** Every declared parameter's values (PyTorch layout), in declaration order, from one seeded generator (`null`: zeros). */
  initialise(seed: number | null): Map<string, Float32Array> {
    const rng = new Rng(seed ?? 0);
    const out = new Map<string, Float32Array>();
    for (const spec of this.specs.values()) {
      out.set(spec.name, seed === null ? new Float32Array(sizeOf(spec.refShape)) : initialValues(spec.init, spec.refShape, rng));
    }
    return out;
  }
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The shape a parameter had inside the tfjs network (see `Layout`). */
export function internalShape(spec: Pick<ParamSpec, 'refShape' | 'layout'>): number[] {
  const s = spec.refShape;
  if (spec.layout === 'conv') return [s[2], s[3], s[1], s[0]];
  if (spec.layout === 'linear') return [s[1], s[0]];
  return [...s];
}

/**
 * A parameter-shaped host array between the tfjs network's layout (conv [kh, kw, in, out], linear
 * [in, out]) and PyTorch's (conv [out, in, kh, kw], linear [out, in]); `shape` is the source's.
 */
export function permuteLayout(src: Float32Array, shape: readonly number[], layout: Layout, to: 'toReference' | 'toInternal'): Float32Array {
  if (layout === 'plain') return src.slice();
  const out = new Float32Array(src.length);
  if (layout === 'linear') {
    const [r, c] = shape;
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = src[i * c + j];
    return out;
  }
  if (to === 'toReference') { // [kh, kw, in, out] -> [out, in, kh, kw]
    const [kh, kw, ci, co] = shape;
    for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let i = 0; i < ci; i++) {
      const base = ((y * kw + x) * ci + i) * co;
      for (let o = 0; o < co; o++) out[((o * ci + i) * kh + y) * kw + x] = src[base + o];
    }
  } else { // [out, in, kh, kw] -> [kh, kw, in, out]
    const [co, ci, kh, kw] = shape;
    for (let o = 0; o < co; o++) for (let i = 0; i < ci; i++) for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) {
      out[((y * kw + x) * ci + i) * co + o] = src[((o * ci + i) * kh + y) * kw + x];
    }
  }
  return out;
}

export function initialValues(init: Init, shape: number[], rng: Rng): Float32Array {
  const n = sizeOf(shape);
  const out = new Float32Array(n);
  switch (init.kind) {
    case 'const': out.fill(init.value); break;
    case 'uniform': for (let i = 0; i < n; i++) out[i] = (2 * rng.uniform() - 1) * init.bound; break;
    case 'normal': for (let i = 0; i < n; i++) out[i] = init.mean + init.std * rng.normal(); break;
    case 'unitRows': {
      const d = shape[shape.length - 1];
      for (let r = 0; r < n / d; r++) {
        let s = 0;
        for (let j = 0; j < d; j++) { const v = rng.normal(); out[r * d + j] = v; s += v * v; }
        const inv = 1 / Math.sqrt(s);
        for (let j = 0; j < d; j++) out[r * d + j] *= inv;
      }
      break;
    }
  }
  return out;
}
