// Data-parallel lanes of a training step (`v2l train --workers N`, like one replica per GPU under DDP): the
// step's micro-batches run at the same time, one lane per core, each lane a MicroStepper (./micro-step.ts)
// with its own onnxruntime sessions of 1 intra-op thread; lane 0 is the calling thread, the others worker
// threads (./step-worker.ts). Why: a step graph has ~2,000 nodes, many of them short element-wise passes
// or single-threaded copies (Pad, Slice, Concat, Transpose), and with one session on two threads a core
// waits at every node; two single-thread sessions keep both busy (docs/training.md has the figures).
// Parameters and gradients cross to a worker packed into one transferred buffer each. Node edge.
import { Worker } from 'node:worker_threads';
import type { MicroFeeds, MicroResult, LaneSpec, StepInputs } from './micro-step.js';

/** Float arrays by name packed into one buffer (and back): one copy and one transfer per message. */
export interface Packed {
  names: string[];
  lengths: number[];
  data: Float32Array;
}

export function pack(values: ReadonlyMap<string, Float32Array>): Packed {
  const names = [...values.keys()];
  const lengths = names.map((n) => values.get(n)!.length);
  const data = new Float32Array(lengths.reduce((a, b) => a + b, 0));
  let o = 0;
  names.forEach((n, i) => {
    data.set(values.get(n)!, o);
    o += lengths[i];
  });
  return { names, lengths, data };
}

/** Views into the packed buffer (no copy). */
export function unpack(p: Packed): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  let o = 0;
  p.names.forEach((n, i) => {
    out.set(n, p.data.subarray(o, o + p.lengths[i]));
    o += p.lengths[i];
  });
  return out;
}

/** A micro-batch result as it crosses the thread boundary (the maps packed). */
export interface WireResult {
  terms: Record<string, number>;
  indices: BigInt64Array;
  zRows: Float32Array | null;
  grads: Packed;
  bn: Packed;
  disc?: { terms: Record<string, number>; grads: Packed };
}

export function toWire(r: MicroResult): { wire: WireResult; transfer: ArrayBuffer[] } {
  const grads = pack(r.grads);
  const bn = pack(r.bn);
  const disc = r.disc ? { terms: r.disc.terms, grads: pack(r.disc.grads) } : undefined;
  const indices = r.indices.slice();
  const zRows = r.zRows ? r.zRows.slice() : null;
  const transfer = [grads.data.buffer, bn.data.buffer, indices.buffer, ...(zRows ? [zRows.buffer] : []), ...(disc ? [disc.grads.data.buffer] : [])] as ArrayBuffer[];
  return { wire: { terms: r.terms, indices, zRows, grads, bn, disc }, transfer };
}

export function fromWire(w: WireResult): MicroResult {
  return { terms: w.terms, indices: w.indices, zRows: w.zRows, grads: unpack(w.grads), bn: unpack(w.bn), disc: w.disc ? { terms: w.disc.terms, grads: unpack(w.disc.grads) } : undefined };
}

/** What the runner sends a worker lane for one step: its micro-batches and the step's shared inputs. */
export interface LaneRequest {
  id: number;
  params: Packed;
  /** The codebooks, sent with the first request only (frozen for the run). */
  codebooks?: { local: Float32Array; global: Float32Array };
  projected: Float32Array;
  micro: MicroFeeds[];
}

export type LaneReply = { id: number; results: WireResult[] } | { id: number; error: string };

/** The worker script beside this file; under tsx (tests, scripts) the .ts one, loaded through tsx's hooks. */
function spawn(spec: LaneSpec): Worker {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new Worker(new URL('./step-worker.js', here), { workerData: spec });
  const entry = new URL('./step-worker.ts', here).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(boot, { eval: true, workerData: spec });
}

/** A lane on a worker thread: the same `run` as a MicroStepper, for all of a step's micro-batches at once. */
export class WorkerLane {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (r: MicroResult[]) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private codebooksSent = false;
  private failure: Error | null = null;
  private readonly exited: Promise<void>;

  constructor(spec: LaneSpec) {
    this.worker = spawn(spec);
    this.worker.on('message', (m: LaneReply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if ('error' in m) p.reject(new Error(`training lane (worker thread): ${m.error}`));
      else p.resolve(m.results.map(fromWire));
    });
    const fail = (e: Error) => {
      this.failure ??= e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    this.worker.on('error', (e) => fail(new Error(`training lane (worker thread) failed: ${e.message}`)));
    this.exited = new Promise((resolve) => this.worker.once('exit', (code) => {
      fail(new Error(`training lane (worker thread) exited (code ${code})`));
      resolve();
    }));
  }

  run(step: StepInputs, micro: MicroFeeds[]): Promise<MicroResult[]> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const params = pack(step.params);
    // Copies of the micro-batches' views: a posted view would carry its whole underlying buffer.
    const own = micro.map((f) => ({ ...f, images: f.images.slice(), clip: f.clip.slice() }));
    const transfer = [params.data.buffer, ...own.flatMap((f) => [f.images.buffer, f.clip.buffer])] as ArrayBuffer[];
    const req: LaneRequest = { id, params, projected: step.projected.slice(), micro: own };
    transfer.push(req.projected.buffer as ArrayBuffer);
    if (!this.codebooksSent) {
      req.codebooks = { local: step.localCodebook.slice(), global: step.globalCodebook.slice() };
      this.codebooksSent = true;
    }
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage(req, transfer);
    });
  }

  /** Releases the worker's sessions and ends it (terminated if it has not ended 30 s later). */
  async close(): Promise<void> {
    if (!this.failure) this.worker.postMessage('close');
    const timer = setTimeout(() => void this.worker.terminate(), 30_000);
    timer.unref();
    await this.exited;
    clearTimeout(timer);
  }
}
