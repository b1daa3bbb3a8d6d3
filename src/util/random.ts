// The project's one seeded generator (portable): mulberry32, whose whole state is one 32-bit integer
// (saved in training checkpoints), so a seed gives the same numbers on every machine and backend.
// Weight initialisation, stand-in models, data order and test values all draw from it.

export class SeededRng {
  constructor(public state: number) {
    this.state >>>= 0;
  }

  /** The next raw 32-bit output. */
  nextUint32(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform in (0, 1): never 0, so log() of it is finite. */
  uniformOpen(): number {
    return (this.nextUint32() + 1) / 4294967297;
  }

  /** Integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal from two uniforms (Box-Muller, cosine branch only). */
  normal(): number {
    const u = Math.max(this.uniform(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.uniform());
  }
}

/** `n` standard normal values from `seed` (Box-Muller, one value per pair of uniforms; seed 0 means 1). */
export function randn(n: number, seed: number): Float32Array {
  const rng = new SeededRng(seed >>> 0 || 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal();
  return out;
}
