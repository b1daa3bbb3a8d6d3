// Which local tokens are masked (paper §4.4: 30% at random). Portable.
import { drawIndices } from '../shots.js';

/** round(ratio * n) distinct positions of [0, n), drawn with `seed`, in raster order. */
export function maskPositions(n: number, ratio: number, seed: number): number[] {
  if (!Number.isInteger(n) || n < 1) throw new Error(`maskPositions: n must be a positive integer (got ${n})`);
  if (!(ratio >= 0 && ratio <= 1)) throw new Error(`--ratio must be in [0, 1] (got ${ratio})`);
  return drawIndices(n, Math.round(ratio * n), seed).sort((a, b) => a - b);
}
