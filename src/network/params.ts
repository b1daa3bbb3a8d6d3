// The parameter store: every weight of the network under its PyTorch state-dict name, held as a tf.Variable
// in the layout tfjs computes fastest with (convs NHWC: [kh,kw,in,out]; linears [in,out] so that x @ W needs
// no transpose). Conversion to and from the PyTorch layout happens once, at load and export.
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from './rng.js';

/** How a reference tensor is laid out inside: 'conv' [O,I,kh,kw] -> [kh,kw,I,O]; 'linear' [O,I] -> [I,O]; 'plain' unchanged. */
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

/** Permutation from the PyTorch layout to the internal one, and back. */
const TO_INTERNAL: Record<Layout, number[] | null> = { conv: [2, 3, 1, 0], linear: [1, 0], plain: null };
const TO_REFERENCE: Record<Layout, number[] | null> = { conv: [3, 2, 0, 1], linear: [1, 0], plain: null };

export function internalShape(spec: Pick<ParamSpec, 'refShape' | 'layout'>): number[] {
  const p = TO_INTERNAL[spec.layout];
  return p ? p.map((i) => spec.refShape[i]) : [...spec.refShape];
}

/** A PyTorch-layout tensor in the internal layout (a new tensor). */
export function toInternal(layout: Layout, t: tf.Tensor): tf.Tensor {
  const p = TO_INTERNAL[layout];
  return p ? tf.transpose(t, p) : tf.clone(t);
}

/** An internal-layout tensor (a parameter, or its gradient) in the PyTorch layout (a new tensor). */
export function toReference(layout: Layout, t: tf.Tensor): tf.Tensor {
  const p = TO_REFERENCE[layout];
  return p ? tf.transpose(t, p) : tf.clone(t);
}

/**
 * Registry of parameters. Building blocks declare their parameters here (`conv`, `linear`, `vector`) while
 * the network is assembled; `materialise` then creates the variables with a seeded initialisation.
 */
export class ParamStore {
  readonly specs = new Map<string, ParamSpec>();
  readonly vars = new Map<string, tf.Variable>();

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

  /** Creates every declared variable, in declaration order, from one seeded generator (`null`: zeros). */
  materialise(seed: number | null): void {
    const rng = new Rng(seed ?? 0);
    for (const spec of this.specs.values()) {
      if (seed === null) {
        const z = tf.zeros(internalShape(spec));
        this.vars.set(spec.name, tf.variable(z, spec.trainable));
        z.dispose();
        continue;
      }
      const values = initialValues(spec.init, spec.refShape, rng);
      const v = tf.tidy(() => toInternal(spec.layout, tf.tensor(values, spec.refShape, 'float32')));
      this.vars.set(spec.name, tf.variable(v, spec.trainable));
      v.dispose();
    }
  }

  get(name: string): tf.Variable {
    const v = this.vars.get(name);
    if (!v) throw new Error(`internal: parameter ${name} is not materialised`);
    return v;
  }

  /** Replaces a variable (used when a codebook with another number of rows is loaded). */
  replace(name: string, refShape: number[], value: tf.Tensor): void {
    const spec = this.specs.get(name);
    if (!spec) throw new Error(`internal: unknown parameter ${name}`);
    this.vars.get(name)?.dispose();
    spec.refShape = refShape;
    this.vars.set(name, tf.variable(value, spec.trainable));
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}

function initialValues(init: Init, shape: number[], rng: Rng): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
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
