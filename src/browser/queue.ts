// One engine job at a time in the page, as the server's queue (the sessions and the LLM's KV cache are one
// shared state): the viewer's operations and the restoration's steps take turns.
export class JobQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}
