// One position's next-token distribution as the local backend reads it (Node edge's helper, portable).
// Two sources, the same numbers bit for bit: node-llama-cpp's `probabilities` Map, and the logits
// capture's typed arrays (./logits-capture.ts: e_i = expf(l_i - max) and their float32 sum in descending
// order, so p_i = fround(e_i / sum), node-llama-cpp's own arithmetic).
import type { TopKEntry } from './types.js';

export interface NextDist {
  /** p(id), as node-llama-cpp computes it (0 for an id it leaves out). */
  prob(id: number): number;
  /** The k most probable entries, most probable first, ties: lower id first. */
  top(k: number, tokens: readonly string[]): TopKEntry[];
}

/** node-llama-cpp's Map (id -> probability). */
export class MapDist implements NextDist {
  constructor(private readonly map: ReadonlyMap<number, number>) {}

  prob(id: number): number {
    return this.map.get(id) ?? 0;
  }

  top(k: number, tokens: readonly string[]): TopKEntry[] {
    const before = (a: [number, number], b: [number, number]) => a[1] > b[1] || (a[1] === b[1] && a[0] < b[0]);
    let top: [number, number][];
    if (k * 16 >= this.map.size) {
      top = [...this.map.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, k);
    } else {
      top = [];
      for (const e of this.map) {
        if (top.length === k && !before(e, top[k - 1]!)) continue;
        let j = top.length < k ? top.length : k - 1;
        if (top.length < k) top.push(e);
        while (j > 0 && before(e, top[j - 1]!)) {
          top[j] = top[j - 1]!;
          j--;
        }
        top[j] = e;
      }
    }
    return top.map(([id, prob]) => ({ id, token: tokens[id] ?? '', prob }));
  }
}

/**
 * The capture's arrays: e (length >= n), sum, the k-th largest e and the top-k's candidate ids; valid
 * until the capture is armed again.
 */
export class CapturedDist implements NextDist {
  private n = 0;
  private sum = 1;
  private k = 0;
  private kth = 0;
  private count = -1;

  constructor(
    private readonly e: Float32Array,
    private readonly candidates?: Int32Array,
  ) {}

  /** count: how many candidate ids the capture wrote (-1: none, the top-k then scans e). */
  set(n: number, sum: number, k: number, kth: number, count = -1): void {
    this.n = n;
    this.sum = sum;
    this.k = k;
    this.kth = kth;
    this.count = count;
  }

  prob(id: number): number {
    return id >= 0 && id < this.n ? Math.fround(this.e[id]! / this.sum) : 0;
  }

  /**
   * The entries whose p = fround(e / sum) is at least the k-th largest e's p, sorted by (p desc, id asc),
   * the first k: exactly the Map's order. Candidates are the ids whose e is at least the k-th largest e
   * lowered by 2^-20 relative (any e whose p rounds to the k-th p is within 2^-23): the capture's list
   * (ascending ids), or one comparison per entry here.
   */
  top(k: number, tokens: readonly string[]): TopKEntry[] {
    const { e, n, sum } = this;
    const kk = Math.min(k, n);
    if (kk <= 0) return [];
    if (kk > this.k) return topBySelection(e, n, sum, kk, tokens);
    const pk = Math.fround(this.kth / sum);
    let ids: number[];
    if (this.candidates && this.count >= 0) {
      ids = Array.from(this.candidates.subarray(0, this.count));
    } else {
      const floor = this.kth * (1 - 2 ** -20);
      ids = [];
      for (let i = 0; i < n; i++) if (e[i]! >= floor) ids.push(i);
    }
    const ps = ids.map((i) => Math.fround(e[i]! / sum));
    const order = ids.map((_, j) => j).filter((j) => ps[j]! >= pk).sort((a, b) => ps[b]! - ps[a]! || ids[a]! - ids[b]!);
    return order.slice(0, kk).map((j) => ({ id: ids[j]!, token: tokens[ids[j]!] ?? '', prob: ps[j]! }));
  }
}

/**
 * The same order by one pass with a k-entry buffer sorted by (p desc, id asc), for a k larger than the
 * capture was armed with. p is non-decreasing in e and ids arrive in increasing order, so an entry whose
 * e is below the buffer's last e cannot enter (a tie in p keeps the lower id, already in the buffer).
 */
function topBySelection(e: Float32Array, n: number, sum: number, kk: number, tokens: readonly string[]): TopKEntry[] {
  const ids = new Int32Array(kk);
  const ps = new Float64Array(kk);
  const es = new Float32Array(kk);
  let len = 0;
  let floor = -1;
  for (let i = 0; i < n; i++) {
    const ei = e[i]!;
    if (ei < floor) continue;
    const p = Math.fround(ei / sum);
    if (len === kk && p <= ps[kk - 1]!) continue;
    let j = len < kk ? len++ : kk - 1;
    while (j > 0 && p > ps[j - 1]!) {
      ps[j] = ps[j - 1]!;
      ids[j] = ids[j - 1]!;
      es[j] = es[j - 1]!;
      j--;
    }
    ps[j] = p;
    ids[j] = i;
    es[j] = ei;
    if (len === kk) floor = es[kk - 1]!;
  }
  const out: TopKEntry[] = new Array(len);
  for (let j = 0; j < len; j++) out[j] = { id: ids[j]!, token: tokens[ids[j]!] ?? '', prob: ps[j]! };
  return out;
}
