// Training data: which images (folders searched recursively, or list files of paths), in which order
// (a seeded shuffle per epoch, so that the batch of any step follows from (seed, step) alone and a resumed
// run sees exactly the batches an uninterrupted one would), and a loader that decodes upcoming batches
// while the current step computes.
import { listImages as listImageFiles } from '../image/list.js';
import { SeededRng } from '../util/random.js';

/**
 * Training images from each source (a folder searched recursively, an image file, or a list file): the
 * project's one rule, src/image/list.ts, with errors naming "training data".
 */
export function listImages(sources: readonly string[]): string[] {
  return listImageFiles(sources, { what: 'training data' });
}

/** splitmix32-style hash of two integers: the seed of one epoch's shuffle. */
export function mixSeed(a: number, b: number): number {
  let h = (Math.imul(a >>> 0, 0x9e3779b1) ^ Math.imul((b >>> 0) + 0x7f4a7c15, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** The project's seeded generator (mulberry32; its one-integer state is saved in checkpoints). */
export { SeededRng };

/** Fisher-Yates permutation of 0..n-1. */
export function permutation(n: number, rng: SeededRng): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/** A seeded validation split: `fraction` of the files (at least one) go to validation. */
export function splitValidation(files: readonly string[], fraction: number, seed: number): { train: string[]; val: string[] } {
  if (!(fraction > 0 && fraction < 1)) throw new Error(`--val-fraction must be in (0, 1) (got ${fraction})`);
  const perm = permutation(files.length, new SeededRng(mixSeed(seed, 0x5eed)));
  const nVal = Math.max(1, Math.round(files.length * fraction));
  if (nVal >= files.length) throw new Error(`validation split of ${fraction} leaves no training images out of ${files.length}`);
  const isVal = new Uint8Array(files.length);
  for (let i = 0; i < nVal; i++) isVal[perm[i]] = 1;
  // Validation images in the seeded random order, so the reconstruction grid (its first images) mixes
  // classes instead of showing the first folder of a sorted listing.
  return { train: files.filter((_, i) => !isVal[i]), val: Array.from(perm.subarray(0, nVal), (i) => files[i]) };
}

/**
 * Which images form the batch of each step: epochs are fresh seeded permutations (the generator of epoch
 * e is seeded by mix(seed, e)), the last incomplete batch of an epoch is dropped (as the reference's
 * DataLoader with drop_last). The state is a pure function of (seed, step).
 */
export class BatchSampler {
  private cachedEpoch = -1;
  private cachedPerm: Int32Array = new Int32Array(0);
  readonly stepsPerEpoch: number;

  constructor(readonly n: number, readonly batchSize: number, readonly seed: number) {
    if (n < batchSize) throw new Error(`training data: ${n} images are fewer than one batch of ${batchSize}`);
    this.stepsPerEpoch = Math.floor(n / batchSize);
  }

  epochOf(step: number): number {
    return Math.floor(step / this.stepsPerEpoch);
  }

  /** The generator state that produced the permutation of the epoch containing `step` (for checkpoints). */
  rngStateAt(step: number): number {
    return mixSeed(this.seed, this.epochOf(step));
  }

  indices(step: number): number[] {
    const e = this.epochOf(step);
    if (e !== this.cachedEpoch) {
      this.cachedPerm = permutation(this.n, new SeededRng(mixSeed(this.seed, e)));
      this.cachedEpoch = e;
    }
    const off = (step % this.stepsPerEpoch) * this.batchSize;
    return Array.from(this.cachedPerm.subarray(off, off + this.batchSize));
  }
}

/** One decoded batch: images NCHW in [-1, 1], and their rows in the dataset. */
export interface Batch {
  step: number;
  indices: number[];
  images: Float32Array;
}

/** Decodes one image file to CHW float32 in [-1, 1] at the training size. */
export type DecodeImage = (path: string) => Promise<Float32Array>;

/**
 * Prefetching loader: asks for the batches of the next `prefetch` steps as soon as one is taken, so that
 * decoding (sharp, off the main thread) overlaps the training step.
 */
export class PrefetchLoader {
  private readonly pending = new Map<number, Promise<Batch>>();

  constructor(
    readonly files: readonly string[],
    readonly sampler: BatchSampler,
    readonly decode: DecodeImage,
    readonly imageSize: number,
    readonly prefetch = 2,
  ) {}

  private load(step: number): Promise<Batch> {
    const indices = this.sampler.indices(step);
    const per = 3 * this.imageSize * this.imageSize;
    const p = Promise.all(indices.map((i) => this.decode(this.files[i]))).then((chw) => {
      const images = new Float32Array(indices.length * per);
      chw.forEach((a, k) => {
        if (a.length !== per) throw new Error(`${this.files[indices[k]]}: decoded to ${a.length} values, expected 3x${this.imageSize}x${this.imageSize}`);
        images.set(a, k * per);
      });
      return { step, indices, images };
    });
    p.catch(() => {}); // surfaced by get(); avoid an unhandled rejection while it waits in the queue
    return p;
  }

  /** The batch of `step`; schedules the following ones. */
  async get(step: number, lastStep = Infinity): Promise<Batch> {
    for (const k of this.pending.keys()) if (k < step) this.pending.delete(k);
    for (let s = step; s <= Math.min(step + this.prefetch, lastStep - 1); s++) {
      if (!this.pending.has(s)) this.pending.set(s, this.load(s));
    }
    const b = this.pending.get(step) ?? this.load(step);
    this.pending.delete(step);
    return b;
  }
}
