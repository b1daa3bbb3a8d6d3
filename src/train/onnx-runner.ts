// Training steps on onnxruntime (`v2l train --engine onnx`): the generator's gradients come from the ONNX
// step graph (./onnx-step.ts, one session per micro-batch size), accumulated over micro-batches as
// ./replica.ts accumulates them, and the update is the replica's own host Adam (./adam.ts), so
// checkpoints, metrics, re-seeding, validation and resume are those of the tfjs path. The replica's
// network holds the parameters; they are read in PyTorch layout each step and the gradients converted
// back. Multi-threading is onnxruntime's intra-op pool (threads = cores), not worker replicas.
// Node edge. Not yet covered: the LPIPS and GAN terms (the trainer keeps --engine tfjs for them).
import type { Layout } from '../network/params.js';
import { GeneratorStepSession, type TrainEngineOptions } from './onnx-session.js';
import type { StepResult, StepRunner } from './parallel.js';
import type { Replica, StepTerms } from './replica.js';

/** Why the ONNX engine cannot train this run (null: it can). */
export function onnxUnsupported(replica: Replica, lastStep: number): string | null {
  if (replica.lpips && replica.loss.perceptualWeight > 0) return 'the LPIPS term';
  if (replica.ganActive(lastStep)) return `the GAN terms (from step ${replica.loss.discStart})`;
  return null;
}

/**
 * A parameter-shaped host array between the network's internal layout (conv [kh, kw, in, out], linear
 * [in, out]) and PyTorch's (conv [out, in, kh, kw], linear [out, in]); `shape` is the source's. Plain
 * loops: the wasm backend's transpose costs ~100 ns per element.
 */
export function permute(src: Float32Array, shape: readonly number[], layout: Layout, to: 'toReference' | 'toInternal'): Float32Array {
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

export class OnnxRunner implements StepRunner {
  readonly workers = 1;
  private readonly sessions = new Map<number, Promise<GeneratorStepSession>>();
  private codebooks: { local: Float32Array; global: Float32Array } | null = null;

  constructor(readonly replica: Replica, readonly imageSize: number, readonly microBatch: number, readonly engine: TrainEngineOptions = {}) {}

  private session(batch: number): Promise<GeneratorStepSession> {
    let s = this.sessions.get(batch);
    if (!s) {
      const r = this.replica;
      const sd = r.net.stateDict();
      s = GeneratorStepSession.create(r.net.config, sd, r.genNames, {
        batch, imageSize: this.imageSize, kGlobal: r.loss.kGlobal, recLoss: r.loss.recLoss, vqBeta: r.loss.vqBeta, trackZ: r.trackCodeMeans,
      }, this.engine);
      this.sessions.set(batch, s);
    }
    return s;
  }

  /** The trainable parameters in PyTorch layout (the replica's network holds them in its own). */
  private params(): Map<string, Float32Array> {
    const net = this.replica.net;
    return new Map(this.replica.genNames.map((n) => {
      const v = net.params.get(n)!;
      return [n, permute(v.dataSync() as Float32Array, v.shape, net.layoutOf(n), 'toReference')];
    }));
  }

  async step(images: Float32Array, clip: Float32Array, n: number, step: number): Promise<StepResult> {
    const r = this.replica;
    const why = onnxUnsupported(r, step);
    if (why) throw new Error(`--engine onnx does not train ${why} yet: use --engine tfjs`);
    this.codebooks ??= { local: r.net.codebookRows('local'), global: r.net.codebookRows('global') };
    const params = this.params();
    const mb = this.microBatch > 0 ? Math.min(this.microBatch, n) : n;
    const perImage = images.length / n;
    const dim = clip.length / n;
    const acc = new Map<string, Float32Array>(r.genNames.map((name) => [name, new Float32Array(params.get(name)!.length)]));
    const terms: StepTerms = {};
    for (let i = 0; i < n; i += mb) {
      const m = Math.min(mb, n - i);
      const out = await (await this.session(m)).run({
        params, images: images.subarray(i * perImage, (i + m) * perImage), clip: clip.subarray(i * dim, (i + m) * dim),
        localCodebook: this.codebooks.local, globalCodebook: this.codebooks.global,
        vqWeight: step < (r.loss.vqStartStep ?? 0) ? 0 : r.loss.codebookWeight, quantized: step >= (r.loss.aeWarmupSteps ?? 0),
      });
      const w = m === n ? 1 : m / n;
      for (const [name, g] of out.grads) {
        const a = acc.get(name)!;
        for (let j = 0; j < a.length; j++) a[j] += w === 1 ? g[j] : w * g[j];
      }
      const shard = { ...out.terms, codes_used: this.countCodes(out.indices, out.zRows) };
      for (const [k, v] of Object.entries(shard)) terms[k] = (terms[k] ?? 0) + w * v;
    }
    const gen = r.genNames.map((name) => permute(acc.get(name)!, this.refShape(name), r.net.layoutOf(name), 'toInternal'));
    const u = r.apply(gen, null, step);
    return { terms, lr: u.lr, gradNorm: u.gradNorm };
  }

  private refShape(name: string): number[] {
    const s = this.replica.net.params.get(name)!.shape;
    const layout = this.replica.net.layoutOf(name);
    if (layout === 'conv') return [s[3], s[2], s[0], s[1]];
    if (layout === 'linear') return [s[1], s[0]];
    return [...s];
  }

  /** Distinct codes of a micro-batch; also the replica's usage counts and (tracked) z sums, as replica.gradients. */
  private countCodes(ids: BigInt64Array, zRows: Float32Array | null): number {
    const r = this.replica;
    const seen = new Set<number>();
    const dim = r.net.config.embedDim;
    const sums = zRows ? (r.zSums ??= new Float32Array(r.net.config.nLocal * dim)) : null;
    ids.forEach((big, i) => {
      const id = Number(big);
      seen.add(id);
      r.usage[id]++;
      if (sums && zRows) for (let o = 0; o < dim; o++) sums[id * dim + o] += zRows[i * dim + o];
    });
    return seen.size;
  }

  async setParameter(): Promise<void> {
    // The parameters are read from the replica's network at every step.
  }

  async close(): Promise<void> {
    for (const s of this.sessions.values()) await (await s).release();
    this.sessions.clear();
  }
}
