// Seeded draws of in-context samples. Portable.
//
// One fixed block per run by default (the same shots for every query, so the backend evaluates their
// tokens once); `perQuery` draws a new block for each query from its own seed (seed, query index), so
// a resumed run draws exactly what an uninterrupted one drew.

import { SeededRng } from '../util/random.js';

/** Uniform draws in [0, 1) from the project's seeded generator (../util/random.ts). */
export function seededUniform(seed: number): () => number {
  const rng = new SeededRng(seed);
  return () => rng.uniform();
}

/** A seed for query `i` of a run seeded `seed` (different queries, independent draws). */
export function querySeed(seed: number, i: number): number {
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(i + 1, 0xc2b2ae35)) >>> 0;
}

/**
 * `n` distinct indices of [0, size) for which `eligible(i)` holds, drawn with `seed` (partial
 * Fisher-Yates over the eligible ones). Throws when fewer than `n` are eligible.
 */
export function drawIndices(size: number, n: number, seed: number, eligible: (i: number) => boolean = () => true): number[] {
  const pool: number[] = [];
  for (let i = 0; i < size; i++) if (eligible(i)) pool.push(i);
  if (pool.length < n) throw new Error(`${n} in-context samples are needed but only ${pool.length} are eligible`);
  const rnd = seededUniform(seed);
  for (let j = 0; j < n; j++) {
    const k = j + Math.floor(rnd() * (pool.length - j));
    [pool[j], pool[k]] = [pool[k]!, pool[j]!];
  }
  return pool.slice(0, n);
}

/** An index in [0, n) drawn with `seed` (which caption / answer of an example a shot shows). */
export function pick(n: number, seed: number): number {
  return Math.floor(seededUniform(seed)() * n);
}
