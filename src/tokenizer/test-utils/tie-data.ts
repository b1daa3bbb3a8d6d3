// Search test data shared by the Node and the page's search tests: a float64 nearest-row yardstick and a
// codebook full of exact and near ties.
import { Rng } from '../../network/rng.js';

/** The k nearest rows by |z - e|^2 in float64 over the rows not excluded, ties to the lower index. */
export function nearest64(z: Float32Array, m: number, rows: Float32Array, n: number, dim: number, k: number, excluded: ReadonlySet<number> = new Set()): number[] {
  const out: number[] = [];
  for (let i = 0; i < m; i++) {
    const d: { r: number; d: number }[] = [];
    for (let r = 0; r < n; r++) {
      if (excluded.has(r)) continue;
      let s = 0;
      for (let j = 0; j < dim; j++) s += (z[i * dim + j] - rows[r * dim + j]) ** 2;
      d.push({ r, d: s });
    }
    d.sort((a, b) => a.d - b.d || a.r - b.r);
    out.push(...d.slice(0, k).map((x) => x.r));
  }
  return out;
}

/** Random rows with exact and near duplicates, 600 copies of row 0 (more than the int8 pass keeps), and queries next to them. */
export function tieData(seed: number, n: number, dim: number, m: number): { rows: Float32Array; z: Float32Array } {
  const rng = new Rng(seed);
  const rows = Float32Array.from({ length: n * dim }, () => rng.normal() / 8);
  const twin = (r: number) => (r * 7) % n;
  for (let r = 0; r < 200; r++) {
    const dst = n - 1 - r;
    rows.set(rows.subarray(twin(r) * dim, (twin(r) + 1) * dim), dst * dim);
    if (r % 2) rows[dst * dim + (r % dim)] += 10 ** -(4 + (r % 2));
  }
  for (let c = 0; c < 600; c++) rows.set(rows.subarray(0, dim), (1000 + c) * dim);
  const z = new Float32Array(m * dim);
  for (let i = 0; i < m; i++) {
    const base = i % 10 === 0 ? 0 : i % 3 === 0 ? twin(i % 200) : Math.floor(rng.uniform() * n);
    for (let j = 0; j < dim; j++) z[i * dim + j] = rows[base * dim + j] + (i % 2 ? 1e-4 * rng.normal() : 0.05 * rng.normal());
  }
  return { rows, z };
}
