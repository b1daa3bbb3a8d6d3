// Learning-rate schedule of the reference (MAE-style `adjust_learning_rate`, called every iteration):
// linear warm-up from 0 to the base rate, then a half-cycle cosine from the base rate down to `minLr`
// at the last step. Portable: plain arithmetic.

export interface ScheduleOptions {
  /** Peak learning rate (reference 4.5e-4; paper 5e-4). */
  baseLr: number;
  /** Iterations of linear warm-up (reference: 5 epochs). */
  warmupSteps: number;
  /** Total iterations of the run; the cosine reaches `minLr` here (reference: 100 epochs). */
  totalSteps: number;
  /** Floor of the cosine (reference 0). */
  minLr?: number;
}

/** Learning rate used for the update of iteration `step` (0-based). */
export function learningRate(step: number, o: ScheduleOptions): number {
  const minLr = o.minLr ?? 0;
  if (o.warmupSteps > 0 && step < o.warmupSteps) return (o.baseLr * step) / o.warmupSteps;
  const span = Math.max(1, o.totalSteps - o.warmupSteps);
  const t = Math.min(1, (step - o.warmupSteps) / span);
  return minLr + (o.baseLr - minLr) * 0.5 * (1 + Math.cos(Math.PI * t));
}
