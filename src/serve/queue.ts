// One network job at a time (the tokenizer's tensors and the wasm heap are not shared safely between
// overlapping calls, and two jobs would only halve each other's speed on the same cores), with a bounded
// wait list: when it is full, a new job is refused at once with a retry hint instead of piling up memory
// and latency.

export class BusyError extends Error {
  constructor(readonly retryAfterS: number, readonly waiting: number) {
    super(`the server is busy (${waiting} jobs waiting); retry in about ${retryAfterS} s`);
  }
}

export interface QueueStats {
  running: boolean;
  waiting: number;
  maxWaiting: number;
  done: number;
  refused: number;
  /** Mean duration of the last jobs, ms (0 before any). */
  meanMs: number;
}

export class JobQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private active = 0;
  private pending = 0;
  private done = 0;
  private refused = 0;
  private recent: number[] = [];

  /** `maxWaiting`: jobs allowed to wait behind the running one. */
  constructor(readonly maxWaiting: number) {
    if (!Number.isInteger(maxWaiting) || maxWaiting < 0) throw new Error(`queue length must be a non-negative integer (got ${maxWaiting})`);
  }

  /** Runs `job` after the jobs before it; throws BusyError at once when the wait list is full. */
  run<T>(job: () => Promise<T> | T): Promise<T> {
    if (this.active + this.pending > this.maxWaiting) {
      this.refused++;
      throw new BusyError(this.retryAfter(), this.pending);
    }
    this.pending++;
    const result = this.tail.then(async () => {
      this.pending--;
      this.active++;
      const t0 = performance.now();
      try {
        return await job();
      } finally {
        this.active--;
        this.done++;
        this.recent.push(performance.now() - t0);
        if (this.recent.length > 20) this.recent.shift();
      }
    });
    this.tail = result.catch(() => undefined); // one job's failure does not stop the next
    return result;
  }

  stats(): QueueStats {
    return { running: this.active > 0, waiting: this.pending, maxWaiting: this.maxWaiting, done: this.done, refused: this.refused, meanMs: this.mean() };
  }

  private mean(): number {
    return this.recent.length ? this.recent.reduce((a, b) => a + b, 0) / this.recent.length : 0;
  }

  /** Seconds until the wait list has room: the jobs ahead times their recent mean duration, at least 1. */
  private retryAfter(): number {
    return Math.max(1, Math.ceil(((this.pending + this.active) * (this.mean() || 1000)) / 1000));
  }
}
