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

/** The CLI's reporter (../cli/progress.ts), re-exported for the command files that import it from here. */
export { createProgress, type ProgressReporter } from '../cli/progress.js';
