// Adam exactly as torch.optim.Adam (no weight decay, no amsgrad), with its state (step, first and
// second moments) held here, on the host, as float32 arrays: a checkpoint saves and restores it bit for
// bit (a resumed run continues with the very same numbers), and the moments (two copies of every
// parameter) stay out of the tensor backend's memory (the wasm backend's heap is 4 GiB).
// Portable: tfjs-core and typed arrays only.
import * as tf from '@tensorflow/tfjs-core';
import type { HostTensor } from '../io/dtypes.js';

export interface AdamOptions {
  /** Reference: (0.5, 0.9) for both the tokenizer and the discriminator. */
  beta1: number;
  beta2: number;
  /** Reference: 1e-7. */
  eps: number;
}

/** A gradient on the host or as a tensor (read once, then disposed by the optimiser). */
export type Grad = Float32Array | tf.Tensor;

export function hostGrad(g: Grad): Float32Array {
  if (g instanceof Float32Array) return g;
  const a = g.dataSync() as Float32Array;
  g.dispose();
  return a;
}

export class Adam {
  /** Number of updates applied (torch's `state['step']`). */
  step = 0;
  private readonly m = new Map<string, Float32Array>();
  private readonly v = new Map<string, Float32Array>();

  /** `params`: the variables this optimiser updates, by name (their order fixes the state layout). */
  constructor(readonly params: Map<string, tf.Variable>, readonly opts: AdamOptions) {
    for (const [name, p] of params) {
      this.m.set(name, new Float32Array(p.size));
      this.v.set(name, new Float32Array(p.size));
    }
  }

  /** Applies one update with learning rate `lr`; `grads` must hold a gradient for every parameter. */
  apply(grads: Map<string, Grad>, lr: number): void {
    this.step++;
    const { beta1: b1, beta2: b2, eps } = this.opts;
    const bc1 = 1 - b1 ** this.step;
    const sqrtBc2 = Math.sqrt(1 - b2 ** this.step);
    const stepSize = lr / bc1;
    for (const [name, p] of this.params) {
      const gIn = grads.get(name);
      if (!gIn) throw new Error(`Adam: no gradient for parameter ${name}`);
      const g = hostGrad(gIn);
      const m = this.m.get(name)!;
      const v = this.v.get(name)!;
      if (g.length !== m.length) throw new Error(`Adam: gradient of ${name} has ${g.length} values, the parameter ${m.length}`);
      const w = Float32Array.from(p.dataSync() as Float32Array);
      for (let i = 0; i < w.length; i++) {
        const gi = g[i];
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        w[i] -= stepSize * (m[i] / (Math.sqrt(v[i]) / sqrtBc2 + eps));
      }
      const t = tf.tensor(w, p.shape, 'float32');
      p.assign(t);
      t.dispose();
    }
  }

  /** State as host tensors: `<prefix>m/<name>`, `<prefix>v/<name>` (internal layout), plus the step. */
  state(prefix: string): { tensors: Map<string, HostTensor>; step: number } {
    const tensors = new Map<string, HostTensor>();
    for (const [name, p] of this.params) {
      tensors.set(`${prefix}m/${name}`, { dtype: 'F32', shape: [...p.shape], data: this.m.get(name)!.slice() });
      tensors.set(`${prefix}v/${name}`, { dtype: 'F32', shape: [...p.shape], data: this.v.get(name)!.slice() });
    }
    return { tensors, step: this.step };
  }

  /** Restores a state written by `state(prefix)`; every moment must be present with the right shape. */
  load(tensors: Map<string, HostTensor>, prefix: string, step: number, what = 'checkpoint'): void {
    const checked: [Float32Array, Float32Array][] = [];
    for (const [name, p] of this.params) {
      for (const [k, store] of [['m', this.m], ['v', this.v]] as const) {
        const key = `${prefix}${k}/${name}`;
        const h = tensors.get(key);
        if (!h) throw new Error(`${what}: optimiser state "${key}" is missing`);
        if (h.dtype !== 'F32' || h.shape.join(',') !== p.shape.join(',')) {
          throw new Error(`${what}: optimiser state "${key}" is ${h.dtype} [${h.shape}], expected F32 [${p.shape}]`);
        }
        checked.push([store.get(name)!, h.data as Float32Array]);
      }
    }
    for (const [dst, src] of checked) dst.set(src);
    this.step = step;
  }

  dispose(): void {
    this.m.clear();
    this.v.clear();
  }
}

/**
 * torch.nn.utils.clip_grad_norm_ on host gradients: scales all of them (in place) by
 * maxNorm / (total L2 norm + 1e-6) when the norm exceeds maxNorm. Returns the norm before clipping.
 */
export function clipGradNorm(grads: Map<string, Float32Array>, maxNorm: number): number {
  let sq = 0;
  for (const g of grads.values()) for (let i = 0; i < g.length; i++) sq += g[i] * g[i];
  const norm = Math.sqrt(sq);
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) for (const g of grads.values()) for (let i = 0; i < g.length; i++) g[i] *= coef;
  return norm;
}
