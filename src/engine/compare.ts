// Cross-backend checks: run the same computation on two backends and measure how far apart the
// results are. The pure-JS cpu backend is the reference for the wasm kernels and fast paths.
import * as tf from '@tensorflow/tfjs-core';
import { randn as randnValues } from '../util/random.js';

/** Deterministic pseudo-random normal values (../util/random.ts), the same on every backend. */
export function randn(shape: number[], seed: number): Float32Array {
  return randnValues(shape.reduce((a, b) => a * b, 1), seed);
}

export interface Output {
  shape: number[];
  values: Float32Array;
}

/** Runs `f` on `backend` (which must be registered) and returns its outputs as plain arrays. */
export async function runOn(backend: string, f: () => tf.Tensor | tf.Tensor[]): Promise<Output[]> {
  const previous = tf.getBackend();
  if (!(await tf.setBackend(backend))) throw new Error(`backend '${backend}' is not available`);
  try {
    return tf.tidy(() => {
      const out = f();
      return (Array.isArray(out) ? out : [out]).map((t) => ({ shape: t.shape.slice(), values: Float32Array.from(t.dataSync() as ArrayLike<number>) }));
    });
  } finally {
    if (previous) await tf.setBackend(previous);
  }
}

/**
 * Largest difference between two lists of outputs, each relative to the largest magnitude of the
 * reference output it belongs to. Throws if shapes or counts differ.
 */
export function maxRelativeDifference(actual: Output[], reference: Output[]): number {
  if (actual.length !== reference.length) throw new Error(`${actual.length} outputs vs ${reference.length}`);
  let worst = 0;
  actual.forEach((a, i) => {
    const r = reference[i];
    if (a.shape.join() !== r.shape.join()) throw new Error(`output ${i}: shape [${a.shape}] vs [${r.shape}]`);
    let scale = 0;
    for (const v of r.values) scale = Math.max(scale, Math.abs(v));
    scale = Math.max(scale, 1e-12);
    for (let j = 0; j < a.values.length; j++) {
      const d = Math.abs(a.values[j] - r.values[j]) / scale;
      if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
    }
  });
  return worst;
}
