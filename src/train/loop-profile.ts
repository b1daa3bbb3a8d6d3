// Where the training loop's wall time goes (`v2l train --profile-loop`): seconds per phase (the step graph,
// waiting for data, re-seeding's image decoding, encoder and math, validation, checkpoints, the rest), so
// the overhead around the step is measured in the run itself rather than guessed from images/s. Timing is
// always on (a clock read per phase); only the report is optional.
import { performance } from 'node:perf_hooks';

export class LoopProfile {
  private readonly seconds = new Map<string, number>();
  private readonly calls = new Map<string, number>();
  private readonly t0 = performance.now();

  /** Runs `fn`, adding its wall time to `phase`. */
  async time<T>(phase: string, fn: () => Promise<T> | T): Promise<T> {
    const t = performance.now();
    try {
      return await fn();
    } finally {
      this.add(phase, (performance.now() - t) / 1000);
    }
  }

  add(phase: string, seconds: number): void {
    this.seconds.set(phase, (this.seconds.get(phase) ?? 0) + seconds);
    this.calls.set(phase, (this.calls.get(phase) ?? 0) + 1);
  }

  /** Seconds since the profile began. */
  elapsed(): number {
    return (performance.now() - this.t0) / 1000;
  }

  /** Seconds spent in `phase` so far (0 when never entered). */
  get(phase: string): number {
    return this.seconds.get(phase) ?? 0;
  }

  /** One line per phase (total seconds, share of the wall time, calls, seconds per call), then the unaccounted rest. */
  report(images: number): string[] {
    const wall = this.elapsed();
    let accounted = 0;
    const lines = [...this.seconds].map(([phase, s]) => {
      accounted += phase.includes('.') ? 0 : s; // sub-phases ("validate.export") are inside their phase
      const n = this.calls.get(phase)!;
      return `  ${phase.padEnd(18)} ${s.toFixed(2).padStart(8)} s ${(100 * s / wall).toFixed(1).padStart(5)} %  ${String(n).padStart(5)} calls  ${(s / n).toFixed(3)} s/call`;
    });
    const step = this.get('step');
    return [
      `loop profile: ${wall.toFixed(2)} s wall, ${images} images: ${(images / wall).toFixed(2)} images/s overall, ${step > 0 ? (images / step).toFixed(2) : '-'} images/s in the step alone`,
      ...lines,
      `  ${'other'.padEnd(18)} ${(wall - accounted).toFixed(2).padStart(8)} s ${(100 * (wall - accounted) / wall).toFixed(1).padStart(5)} %`,
    ];
  }
}
