// Adam exactly as torch.optim.Adam (no weight decay, no amsgrad), with its state (step, first and
// second moments) held here so that a checkpoint can save and restore it bit for bit: a resumed run
// then continues with the very same numbers as an uninterrupted one. Portable: tfjs-core only.
import * as tf from '@tensorflow/tfjs-core';
import type { HostTensor } from '../io/dtypes.js';

export interface AdamOptions {
  /** Reference: (0.5, 0.9) for both the tokenizer and the discriminator. */
  beta1: number;
  beta2: number;
  /** Reference: 1e-7. */
  eps: number;
}

export class Adam {
  /** Number of updates applied (torch's `state['step']`). */
  step = 0;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();

  /** `params`: the variables this optimiser updates, by name (their order fixes the state layout). */
  constructor(readonly params: Map<string, tf.Variable>, readonly opts: AdamOptions) {
    for (const [name, p] of params) {
      this.m.set(name, tf.variable(tf.zerosLike(p), false));
      this.v.set(name, tf.variable(tf.zerosLike(p), false));
    }
  }

  /** Applies one update with learning rate `lr`; `grads` must hold a gradient for every parameter. */
  apply(grads: Map<string, tf.Tensor>, lr: number): void {
    this.step++;
    const { beta1: b1, beta2: b2, eps } = this.opts;
    const bc1 = 1 - b1 ** this.step;
    const sqrtBc2 = Math.sqrt(1 - b2 ** this.step);
    const stepSize = lr / bc1;
    tf.tidy(() => {
      for (const [name, p] of this.params) {
        const g = grads.get(name);
        if (!g) throw new Error(`Adam: no gradient for parameter ${name}`);
        const m = this.m.get(name)!;
        const v = this.v.get(name)!;
        m.assign(tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1)));
        v.assign(tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2)));
        const denom = tf.add(tf.div(tf.sqrt(v), sqrtBc2), eps);
        p.assign(tf.sub(p, tf.mul(tf.div(m, denom), stepSize)));
      }
    });
  }

  /** State as host tensors: `<prefix>m/<name>`, `<prefix>v/<name>` (internal layout), plus the step. */
  state(prefix: string): { tensors: Map<string, HostTensor>; step: number } {
    const tensors = new Map<string, HostTensor>();
    for (const name of this.params.keys()) {
      for (const [k, store] of [['m', this.m], ['v', this.v]] as const) {
        const t = store.get(name)!;
        tensors.set(`${prefix}${k}/${name}`, { dtype: 'F32', shape: [...t.shape], data: t.dataSync() as Float32Array });
      }
    }
    return { tensors, step: this.step };
  }

  /** Restores a state written by `state(prefix)`; every moment must be present with the right shape. */
  load(tensors: Map<string, HostTensor>, prefix: string, step: number, what = 'checkpoint'): void {
    for (const [name, p] of this.params) {
      for (const [k, store] of [['m', this.m], ['v', this.v]] as const) {
        const key = `${prefix}${k}/${name}`;
        const h = tensors.get(key);
        if (!h) throw new Error(`${what}: optimiser state "${key}" is missing`);
        if (h.dtype !== 'F32' || h.shape.join(',') !== p.shape.join(',')) {
          throw new Error(`${what}: optimiser state "${key}" is ${h.dtype} [${h.shape}], expected F32 [${p.shape}]`);
        }
        store.get(name)!.assign(tf.tensor(h.data as Float32Array, p.shape, 'float32'));
      }
    }
    this.step = step;
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
  }
}

/**
 * torch.nn.utils.clip_grad_norm_: scales all gradients by maxNorm / (total L2 norm + 1e-6) when the norm
 * exceeds maxNorm. Returns the new gradients (the old ones are disposed when replaced) and the norm before
 * clipping.
 */
export function clipGradNorm(grads: Map<string, tf.Tensor>, maxNorm: number): { grads: Map<string, tf.Tensor>; norm: number } {
  const norm = Math.sqrt(tf.tidy(() => tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g)))).dataSync()[0]));
  const coef = maxNorm / (norm + 1e-6);
  if (!(coef < 1)) return { grads, norm };
  const out = new Map<string, tf.Tensor>();
  for (const [k, g] of grads) {
    out.set(k, tf.mul(g, coef));
    g.dispose();
  }
  return { grads: out, norm };
}
