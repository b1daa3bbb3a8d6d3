// Confidence intervals for accuracies. Portable.

/**
 * Wilson score interval at 95% for `correct` successes out of `n` (null when n = 0). Used instead of the
 * normal approximation p ± 1.96 sqrt(p(1-p)/n), which collapses to a point at 0% or 100% and leaves [0, 1]
 * for the few episodes a test run has.
 */
export function wilson95(correct: number, n: number): [number, number] | null {
  if (n <= 0) return null;
  const z = 1.959963984540054;
  const p = correct / n;
  const z2n = (z * z) / n;
  const centre = (p + z2n / 2) / (1 + z2n);
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2n / (4 * n))) / (1 + z2n);
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}
