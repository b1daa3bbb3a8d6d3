// Adam exactly as torch.optim.Adam (no weight decay, no amsgrad), on host float32 arrays: the parameters
// (PyTorch layout, updated in place) and its state (step, first and second moments), which a checkpoint
// saves and restores bit for bit (a resumed run continues with the very same numbers).
// Portable: typed arrays only.
import type { HostTensor } from '../io/dtypes.js';
import { permuteLayout, type Layout } from '../network/param-specs.js';

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
  private readonly m = new Map<string, Float32Array>();
  private readonly v = new Map<string, Float32Array>();

  /**
   * `params`: the arrays this optimiser updates in place, by name (their order fixes the state layout);
   * `shapes`: their PyTorch shapes (the moments' shapes in a checkpoint).
   */
  constructor(readonly params: Map<string, Float32Array>, readonly shapes: ReadonlyMap<string, readonly number[]>, readonly opts: AdamOptions) {
    for (const [name, p] of params) {
      this.m.set(name, new Float32Array(p.length));
      this.v.set(name, new Float32Array(p.length));
    }
  }

  /** Applies one update with learning rate `lr`; `grads` must hold a gradient for every parameter. */
  apply(grads: Map<string, Float32Array>, lr: number): void {
    this.step++;
    const { beta1: b1, beta2: b2, eps } = this.opts;
    const bc1 = 1 - b1 ** this.step;
    const sqrtBc2 = Math.sqrt(1 - b2 ** this.step);
    const stepSize = lr / bc1;
    for (const [name, p] of this.params) {
      const g = grads.get(name);
      if (!g) throw new Error(`Adam: no gradient for parameter ${name}`);
      const m = this.m.get(name)!;
      const v = this.v.get(name)!;
      if (g.length !== m.length) throw new Error(`Adam: gradient of ${name} has ${g.length} values, the parameter ${m.length}`);
      const w = p;
      for (let i = 0; i < w.length; i++) {
        const gi = g[i];
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        w[i] -= stepSize * (m[i] / (Math.sqrt(v[i]) / sqrtBc2 + eps));
      }
    }
  }

  /** State as host tensors: `<prefix>m/<name>`, `<prefix>v/<name>` (PyTorch layout), plus the step. */
  state(prefix: string): { tensors: Map<string, HostTensor>; step: number } {
    const tensors = new Map<string, HostTensor>();
    for (const name of this.params.keys()) {
      const shape = [...this.shapes.get(name)!];
      tensors.set(`${prefix}m/${name}`, { dtype: 'F32', shape, data: this.m.get(name)!.slice() });
      tensors.set(`${prefix}v/${name}`, { dtype: 'F32', shape, data: this.v.get(name)!.slice() });
    }
    return { tensors, step: this.step };
  }

  /**
   * Restores a state written by `state(prefix)`; every moment must be present with the right shape.
   * `legacyLayout` (checkpoints of the tfjs trainer, format 1, whose moments are in the tfjs network's
   * layout: conv [kh, kw, in, out], linear [in, out]): each parameter's layout, to convert them.
   */
  load(tensors: Map<string, HostTensor>, prefix: string, step: number, what = 'checkpoint', legacyLayout?: (name: string) => Layout): void {
    const checked: [Float32Array, Float32Array][] = [];
    for (const name of this.params.keys()) {
      const ref = this.shapes.get(name)!;
      const layout = legacyLayout?.(name) ?? 'plain';
      const want = layout === 'conv' ? [ref[2], ref[3], ref[1], ref[0]] : layout === 'linear' ? [ref[1], ref[0]] : [...ref];
      for (const [k, store] of [['m', this.m], ['v', this.v]] as const) {
        const key = `${prefix}${k}/${name}`;
        const h = tensors.get(key);
        if (!h) throw new Error(`${what}: optimiser state "${key}" is missing`);
        if (h.dtype !== 'F32' || h.shape.join(',') !== want.join(',')) {
          throw new Error(`${what}: optimiser state "${key}" is ${h.dtype} [${h.shape}], expected F32 [${want}]`);
        }
        checked.push([store.get(name)!, permuteLayout(h.data as Float32Array, want, layout, 'toReference')]);
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
