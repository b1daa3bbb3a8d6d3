// The benchmark's inputs, the same numbers in Node and in the page (portable, seeded): NCHW images in
// [-1, 1] and CLIP-like embeddings.
import { SeededRng } from '../util/random.js';

export function benchImages(n: number, size: number): Float32Array {
  const r = new SeededRng(7);
  return Float32Array.from({ length: n * 3 * size * size }, () => r.uniform() * 2 - 1);
}

export function benchClip(n: number, dim: number): Float32Array {
  const r = new SeededRng(8);
  return Float32Array.from({ length: n * dim }, () => r.uniform() - 0.5);
}

/** Decoder inputs: quantised NCHW features [n, dim, h, h] and k global embeddings per image [n, k, dim]. */
export function benchDecoderInputs(n: number, dim: number, h: number, k: number): { zq: Float32Array; global: Float32Array } {
  const r = new SeededRng(9);
  return { zq: Float32Array.from({ length: n * dim * h * h }, () => r.uniform() - 0.5), global: Float32Array.from({ length: n * k * dim }, () => r.uniform() - 0.5) };
}
