// The in-context examples of a restoration step: (input ids, output ids) pairs shown to the LLM before
// the query. Two protocols. Portable.
//
// reference (eval_denoising_generation.py:404, 432-470): 10 noisy copies of the query image's own clean
// token sequence [k global | g*g local]. Copy i shuffles the local positions (cumulatively: the same
// array is shuffled again for every copy), replaces the first int(rate_i * (k + g*g)) of them (277, not
// 256, in the reference) with uniform random ids of [0, vocab), and keeps a twin of the corrupted
// sequence with the same positions and the same ids. Examples at step p: in/outpainting
// (A_i[p-n:p], A_i[p:p+m]), the others (B_i[p:p+m], A_i[p:p+m]). The outputs are the query's ground
// truth at exactly the predicted positions, only 24.6-53.9 % replaced: this LEAKS the answer (the LLM
// can copy it by majority). The reference's shuffles are unseeded (python `random`, `np.random` seed 0
// per process); here both come from one seed.
//
// clean (v2l's default): nothing derived from the clean query. in/outpainting: windows of the query's
// own visible tokens (n before, m after, every one visible), the nearest to the step first chosen and
// shown nearest last, plus optionally the same window of other images; deblur/rotate/shift:
// (corrupted, clean) token pairs of other images at the step's positions.
import { Rng } from '../../network/rng.js';

/** The reference's replacement rates of its 10 copies, in order (D:404). */
export const REFERENCE_RATES: readonly number[] = [0.5, 0.47, 0.44, 0.41, 0.38, 0.35, 0.32, 0.29, 0.26, 0.23];

export interface Example {
  input: number[];
  output: number[];
}

export interface NoisyCopies {
  /** A_i: the clean sequence with positions replaced. */
  clean: number[][];
  /** B_i: the corrupted sequence with the same positions and ids replaced. */
  corrupted: number[][];
  /** Number of replaced positions per copy. */
  replaced: number[];
}

/** Python's random.shuffle (Fisher-Yates from the end) on a seeded generator. */
export function shuffleInPlace<T>(a: T[], rng: Rng): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
}

/**
 * The reference's noisy copies of full sequences [k global | local]. `clean` and `corrupted` have equal
 * length; positions k.. are shuffled; ids are drawn in [0, vocabSize).
 */
export function referenceCopies(
  clean: readonly number[],
  corrupted: readonly number[],
  opts: { k: number; vocabSize: number; seed: number; rates?: readonly number[] },
): NoisyCopies {
  if (clean.length !== corrupted.length) throw new Error(`clean (${clean.length}) and corrupted (${corrupted.length}) sequences differ in length`);
  const rates = opts.rates ?? REFERENCE_RATES;
  // Two streams as in the reference (python `random` shuffles, numpy draws the ids).
  const shuffleRng = new Rng(opts.seed * 2 + 1);
  const idRng = new Rng(opts.seed * 2 + 2);
  const select = Array.from({ length: clean.length - opts.k }, (_, i) => opts.k + i);
  const out: NoisyCopies = { clean: [], corrupted: [], replaced: [] };
  for (const rate of rates) {
    shuffleInPlace(select, shuffleRng);
    const n = Math.trunc(rate * clean.length);
    const a = [...clean];
    const b = [...corrupted];
    for (let j = 0; j < n; j++) {
      const id = Math.floor(idRng.uniform() * opts.vocabSize);
      a[select[j]] = id;
      b[select[j]] = id;
    }
    out.clean.push(a);
    out.corrupted.push(b);
    out.replaced.push(n);
  }
  return out;
}

/** The reference's examples at sequence position p (p >= k). */
export function referenceExamples(copies: NoisyCopies, p: number, opts: { maskTask: boolean; m: number; n: number }): Example[] {
  return copies.clean.map((a, i) => ({
    input: opts.maskTask ? a.slice(p - opts.n, p) : copies.corrupted[i].slice(p, p + opts.m),
    output: a.slice(p, p + opts.m),
  }));
}

/**
 * Clean-protocol examples for in/outpainting at local position p: windows [q-n, q+m) of the query's own
 * local grid lying entirely in visible positions (`hidden[i]` false), the `count` nearest to p on the
 * grid (ties: raster order), then ordered farthest first so the nearest sits next to the query.
 */
export function visibleWindowExamples(
  local: readonly number[],
  hidden: readonly boolean[],
  p: number,
  opts: { g: number; m: number; n: number; count: number },
): Example[] {
  const { g, m, n, count } = opts;
  const firstHidden: number[] = new Array(local.length + 1);
  // prefix count of hidden positions, to test a window in O(1)
  firstHidden[0] = 0;
  for (let i = 0; i < local.length; i++) firstHidden[i + 1] = firstHidden[i] + (hidden[i] ? 1 : 0);
  const cand: { q: number; d: number }[] = [];
  for (let q = n; q + m <= local.length; q++) {
    if (firstHidden[q + m] - firstHidden[q - n] !== 0) continue;
    const dr = Math.floor(q / g) - Math.floor(p / g);
    const dc = (q % g) - (p % g);
    cand.push({ q, d: dr * dr + dc * dc });
  }
  cand.sort((a, b) => a.d - b.d || a.q - b.q);
  return cand.slice(0, count).reverse().map(({ q }) => ({ input: local.slice(q - n, q), output: local.slice(q, q + m) }));
}

/**
 * Clean-protocol examples from other images at local position p: in/outpainting their clean window
 * ([p-n, p) -> [p, p+m), where p >= n), the pixel tasks their (corrupted, clean) pair at [p, p+m).
 */
export function otherImageExamples(
  others: readonly { clean: readonly number[]; corrupted: readonly number[] }[],
  p: number,
  opts: { maskTask: boolean; m: number; n: number },
): Example[] {
  const out: Example[] = [];
  for (const o of others) {
    if (opts.maskTask) {
      if (p - opts.n < 0) continue;
      out.push({ input: o.clean.slice(p - opts.n, p), output: o.clean.slice(p, p + opts.m) });
    } else {
      out.push({ input: o.corrupted.slice(p, p + opts.m), output: o.clean.slice(p, p + opts.m) });
    }
  }
  return out;
}
