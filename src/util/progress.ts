// Progress of long jobs, as library code reports it: an optional `onProgress` callback of ProgressEvents.
// Library code never prints; showing progress (a bar on a terminal, periodic lines in logs) is the
// CLI's, in ../cli/progress.ts.

export interface ProgressEvent {
  /** What is being done, e.g. "expand bigrams". */
  stage: string;
  done: number;
  total: number;
  /** Extra values to show, e.g. losses. */
  info?: Record<string, number | string>;
}
export type OnProgress = (e: ProgressEvent) => void;

/**
 * Something that shows ProgressEvents and is stopped at the end (a long job that drives one, such as the
 * trainer, takes it as an argument). The CLI's implementation is `createProgress` in ../cli/progress.ts:
 * the CLI depends on this layer, never the reverse.
 */
export interface ProgressReporter {
  update(e: ProgressEvent): void;
  stop(): void;
}
