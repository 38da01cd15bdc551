/**
 * Runs async jobs one at a time, in arrival order: the model is single-threaded state (one KV
 * cache, one session), so concurrent requests wait their turn instead of interleaving.
 */
export class RequestQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;

  /** Number of jobs queued or running. */
  get pending(): number {
    return this.waiting;
  }

  run<T>(job: () => Promise<T>): Promise<T> {
    this.waiting++;
    const result = this.tail.then(job, job);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result.finally(() => this.waiting--);
  }
}
