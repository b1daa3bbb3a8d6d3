// `<out>/metrics.jsonl`: one JSON object per logged step (training records carry `loss`, `rec_loss`,
// `vq_loss`, `lr`, ...; validation records carry `val_rec_loss`). Appended line by line so a killed run
// keeps everything it logged; on resume, records after the resumed step are dropped first so the
// file reads as one uninterrupted run.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../util/atomic.js';

export type MetricsRecord = { step: number } & Record<string, number | string>;

export class MetricsLog {
  constructor(readonly path: string) {}

  append(rec: MetricsRecord): void {
    appendFileSync(this.path, JSON.stringify(rec) + '\n');
  }

  /** Keeps only the records of steps up to `step` (resuming from a checkpoint at `step`; -1 empties it). */
  truncateAfter(step: number): void {
    if (!existsSync(this.path)) return;
    const kept = readMetrics(this.path).filter((r) => r.step <= step);
    writeFileAtomic(this.path, kept.map((r) => JSON.stringify(r) + '\n').join(''));
  }
}

/** Reads a metrics file; a torn last line (the run was killed mid-write) is skipped, other bad lines are errors. */
export function readMetrics(path: string): MetricsRecord[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read metrics file ${path}: ${(e as Error).message}`);
  }
  const lines = text.split('\n');
  const out: MetricsRecord[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    try {
      const r = JSON.parse(line) as MetricsRecord;
      if (typeof r.step !== 'number') throw new Error('no numeric "step"');
      out.push(r);
    } catch (e) {
      if (i === lines.length - 1) return; // torn final line
      throw new Error(`${path}:${i + 1}: not a metrics record (${(e as Error).message})`);
    }
  });
  return out;
}
