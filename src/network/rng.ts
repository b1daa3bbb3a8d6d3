// A small seeded generator for weight initialisation, so that a seed gives the same network on every
// platform (no tensor library's random ops, which depend on their kernels).

import { SeededRng } from '../util/random.js';

/** The project's generator (../util/random.ts) with seed 0 mapped to a fixed non-zero state. */
export class Rng extends SeededRng {
  private spare: number | null = null;

  constructor(seed: number) {
    super((seed >>> 0) || 0x9e3779b9);
  }

  /** Standard normal (Box-Muller, both values used). */
  override normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}
