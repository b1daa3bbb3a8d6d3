// Data-parallel training on one machine. The wasm backend is single-threaded, so each extra core gets a
// worker thread holding a full replica (same configuration, same state, sent from the main replica). Every
// step the batch is split into shards; the main thread and the workers compute their shard's gradients
// concurrently; the main thread averages them weighted by shard size (as DDP's all-reduce of mean losses)
// and every replica applies that same averaged update, so all replicas stay bit-identical. As in DDP,
// the adaptive GAN weight and the discriminator's BatchNorm statistics are per shard, so results equal
// single-worker training in expectation, and exactly (within float rounding) while the GAN is off.
import * as tf from '@tensorflow/tfjs-core';
import { Worker } from 'node:worker_threads';
import type { HostTensor } from '../io/dtypes.js';
import type { V2LConfig } from '../network/config.js';
import type { LoadLpipsOptions } from './lpips-files.js';
import type { LossConfig, OptimConfig, Replica, StepTerms } from './replica.js';

export interface StepResult {
  terms: StepTerms;
  lr: number;
  gradNorm?: number;
}

/** Runs training steps on a batch (images NCHW float32, CLIP embeddings [n, dim]). */
export interface StepRunner {
  readonly workers: number;
  step(images: Float32Array, clip: Float32Array, n: number, step: number): Promise<StepResult>;
  /** Sets a parameter (internal layout) on every replica but the main one, which the caller has already changed. */
  setParameter(name: string, data: Float32Array): Promise<void>;
  close(): Promise<void>;
}

/** Everything a worker needs to build a replica identical to the main one. */
export interface ReplicaSpec {
  backend: string;
  network: V2LConfig;
  seed: number;
  loss: LossConfig;
  optim: OptimConfig;
  lpips: LoadLpipsOptions | null;
  imageSize: number;
  /** Images per forward/backward inside a replica (0: its whole shard). */
  microBatch: number;
  /** Gradient checkpointing in the replica's network (absent: off). */
  checkpointActivations?: boolean;
  model: [string, HostTensor][];
  optimizer: [string, HostTensor][];
  optimizerSteps: { gen: number; disc: number };
}

function tensors(r: Replica, images: Float32Array, clip: Float32Array, n: number, size: number): [tf.Tensor4D, tf.Tensor2D] {
  const dim = clip.length / n;
  return [tf.tensor4d(images, [n, 3, size, size]), tf.tensor2d(clip, [n, dim])];
}

/** One replica in this thread. */
export class LocalRunner implements StepRunner {
  readonly workers = 1;
  constructor(readonly replica: Replica, readonly imageSize: number) {}

  async step(images: Float32Array, clip: Float32Array, n: number, step: number): Promise<StepResult> {
    const [x, c] = tensors(this.replica, images, clip, n, this.imageSize);
    try {
      const g = this.replica.shardGradients(x, c, step);
      const r = this.replica.apply(g.gen, g.disc, step);
      return { terms: g.terms, lr: r.lr, gradNorm: r.gradNorm };
    } finally {
      x.dispose();
      c.dispose();
    }
  }

  async setParameter(): Promise<void> {}

  async close(): Promise<void> {}
}

/** Shard sizes of a batch of n over w replicas (the first ones get the remainder). */
export function shardSizes(n: number, w: number): number[] {
  if (n < w) throw new Error(`batch of ${n} cannot be split over ${w} workers`);
  return Array.from({ length: w }, (_, i) => Math.floor(n / w) + (i < n % w ? 1 : 0));
}

interface WorkerGrads {
  n: number;
  gen: Float32Array[];
  disc: Float32Array[] | null;
  terms: StepTerms;
}

type Reply = { kind: 'ready' } | ({ kind: 'grads' } & WorkerGrads) | { kind: 'error'; message: string };

/** Weighted mean of same-shaped arrays; the weights are shard fractions. */
export function averageArrays(parts: Float32Array[][], weights: number[]): Float32Array[] {
  return parts[0].map((_, i) => {
    const out = new Float32Array(parts[0][i].length);
    parts.forEach((p, w) => {
      const a = p[i];
      const wt = weights[w];
      for (let j = 0; j < out.length; j++) out[j] += wt * a[j];
    });
    return out;
  });
}

function workerUrlCode(): string {
  const self = import.meta.url;
  const worker = new URL(self.endsWith('.ts') ? './worker.ts' : './worker.js', self).href;
  // Under tsx (development, tests) the worker registers tsx's loader before importing the TypeScript file.
  return self.endsWith('.ts')
    ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(worker)}); })`
    : `import(${JSON.stringify(worker)})`;
}

/** The main replica plus worker threads. */
export class ParallelRunner implements StepRunner {
  private constructor(
    readonly replica: Replica,
    readonly imageSize: number,
    private readonly threads: Worker[],
    private readonly inbox: ((r: Reply) => void)[][],
    private readonly lateErrors: string[],
  ) {}

  get workers(): number {
    return this.threads.length + 1;
  }

  static async create(replica: Replica, spec: ReplicaSpec, workers: number): Promise<ParallelRunner> {
    const threads: Worker[] = [];
    const inbox: ((r: Reply) => void)[][] = [];
    const code = workerUrlCode();
    const ready: Promise<Reply>[] = [];
    const lateErrors: string[] = [];
    for (let i = 1; i < workers; i++) {
      const w = new Worker(code, { eval: true, workerData: spec });
      const q: ((r: Reply) => void)[] = [];
      w.on('message', (m: Reply) => {
        // 'apply' has no reply, so every message answers the oldest waiting request; an error reported
        // while nothing waits (a failed 'apply') fails the next request.
        const h = q.shift();
        if (h) h(m);
        else if (m.kind === 'error') lateErrors.push(m.message);
      });
      w.on('error', (e) => {
        const h = q.shift();
        if (h) h({ kind: 'error', message: e.stack ?? e.message });
      });
      // A worker that exits (killed, out of memory) fails every request still waiting on it.
      w.on('exit', (code) => {
        for (const h of q.splice(0)) h({ kind: 'error', message: `worker thread exited with code ${code}` });
      });
      threads.push(w);
      inbox.push(q);
      ready.push(new Promise((res) => q.push(res)));
    }
    const r = new ParallelRunner(replica, spec.imageSize, threads, inbox, lateErrors);
    for (const m of await Promise.all(ready)) if (m.kind === 'error') { await r.close(); throw new Error(`training worker failed to start: ${m.message}`); }
    return r;
  }

  private request(i: number, msg: unknown, transfer: ArrayBuffer[] = []): Promise<Reply> {
    return new Promise((res) => {
      this.inbox[i].push(res);
      this.threads[i].postMessage(msg, transfer);
    });
  }

  async step(images: Float32Array, clip: Float32Array, n: number, step: number): Promise<StepResult> {
    if (this.lateErrors.length) throw new Error(`training worker failed: ${this.lateErrors[0]}`);
    const sizes = shardSizes(n, this.workers);
    const per = images.length / n;
    const dim = clip.length / n;
    const offs = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
    // Workers first (they start at once), then this thread's shard.
    const pending = this.threads.map((_, k) => {
      const i = k + 1;
      const img = images.slice(offs[i] * per, (offs[i] + sizes[i]) * per);
      const c = clip.slice(offs[i] * dim, (offs[i] + sizes[i]) * dim);
      return this.request(k, { kind: 'grads', images: img, clip: c, n: sizes[i], step }, [img.buffer, c.buffer]);
    });
    const [x, c] = tensors(this.replica, images.subarray(0, sizes[0] * per), clip.subarray(0, sizes[0] * dim), sizes[0], this.imageSize);
    let own: WorkerGrads;
    try {
      const g = this.replica.shardGradients(x, c, step);
      own = { n: g.n, gen: g.gen.map((t) => t.dataSync() as Float32Array), disc: g.disc?.map((t) => t.dataSync() as Float32Array) ?? null, terms: g.terms };
      for (const t of [...g.gen, ...(g.disc ?? [])]) t.dispose();
    } finally {
      x.dispose();
      c.dispose();
    }
    const replies = await Promise.all(pending);
    const parts: WorkerGrads[] = [own];
    for (const r of replies) {
      if (r.kind === 'error') throw new Error(`training worker failed: ${r.message}`);
      if (r.kind !== 'grads') throw new Error(`internal: unexpected worker reply ${r.kind}`);
      parts.push(r);
    }
    const weights = parts.map((p) => p.n / n);
    const gen = averageArrays(parts.map((p) => p.gen), weights);
    const disc = parts[0].disc ? averageArrays(parts.map((p) => p.disc!), weights) : null;
    const terms: StepTerms = {};
    for (const k of Object.keys(parts[0].terms)) terms[k] = parts.reduce((s, p, i) => s + weights[i] * (p.terms[k] ?? 0), 0);
    // Every replica applies the same averaged update.
    for (let k = 0; k < this.threads.length; k++) this.threads[k].postMessage({ kind: 'apply', gen, disc, step });
    const r = this.replica.apply(gen, disc, step);
    return { terms, lr: r.lr, gradNorm: r.gradNorm };
  }

  async setParameter(name: string, data: Float32Array): Promise<void> {
    // Posted in order before the next 'grads' request, so every worker steps with the new value.
    for (const t of this.threads) t.postMessage({ kind: 'set', name, data });
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((w) => w.terminate()));
  }
}
