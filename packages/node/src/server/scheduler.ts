import { ApiError } from './errors.js';

/** A request's work on the model: it must stop soon after `signal` aborts (the client left, or the shutdown's grace ran out). */
export type ModelTask<T> = (signal: AbortSignal) => Promise<T>;

interface Entry {
  readonly task: ModelTask<unknown>;
  readonly controller: AbortController;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  readonly detach: () => void;
}

/** How a task left the queue without running: its client went away. Nobody reads the answer. */
export const CLIENT_GONE_STATUS = 499;

/**
 * The bounded queue in front of the model. Tasks run in the order they arrive, `concurrency`
 * at a time (the rows of the model's batch: each running task is a row, or about to join as
 * one), and at most `maxQueue` wait behind them: one more is refused with a 429 and a `Retry-After`
 * estimated from how long tasks take. A task whose client leaves is dropped from the queue,
 * or, running, told so by its signal at once. `shutdown` stops taking tasks (503), lets the
 * accepted ones run to their end within a grace period, then aborts what is left.
 */
export class RequestScheduler {
  private readonly waiting: Entry[] = [];
  private readonly active = new Set<Entry>();
  private closing = false;
  private idle: (() => void) | undefined;
  /** Moving average of a task's seconds, for Retry-After. */
  private averageSeconds = 1;

  constructor(
    readonly maxQueue: number,
    readonly concurrency = 1,
  ) {}

  /** Tasks waiting for their turn. */
  get queueLength(): number {
    return this.waiting.length;
  }

  /** Tasks on the model now. */
  get running(): number {
    return this.active.size;
  }

  get shuttingDown(): boolean {
    return this.closing;
  }

  /**
   * Runs `task` when its turn comes and gives its result. Throws a 503 ApiError while
   * shutting down and a 429 when the queue is full; when `signal` aborts while the task waits,
   * it is dropped and the promise rejects (status 499).
   */
  run<T>(task: ModelTask<T>, signal: AbortSignal): Promise<T> {
    if (this.closing) throw new ApiError(503, 'the server is shutting down; send the request to another replica or retry', { code: 'shutting_down', retryAfter: 1 });
    if (this.waiting.length >= this.maxQueue && this.active.size >= this.concurrency) {
      const retryAfter = Math.max(1, Math.ceil((this.averageSeconds * (this.waiting.length + 1)) / this.concurrency));
      throw new ApiError(429, `the server is busy: ${this.active.size} request(s) running and ${this.waiting.length} waiting, the most it queues (--max-queue); retry in ${retryAfter} s`, {
        code: 'queue_full',
        retryAfter,
      });
    }
    return new Promise<T>((resolve, reject) => {
      const controller = new AbortController();
      const onAbort = () => {
        const index = this.waiting.indexOf(entry);
        if (index >= 0) {
          this.waiting.splice(index, 1);
          reject(new ApiError(CLIENT_GONE_STATUS, 'the client closed the connection while the request waited', { code: 'client_closed' }));
          this.checkIdle();
        } else {
          controller.abort(signal.reason);
        }
      };
      const entry: Entry = { task, controller, resolve: resolve as (value: unknown) => void, reject, detach: () => signal.removeEventListener('abort', onAbort) };
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
      this.startNext();
    });
  }

  /**
   * Stops taking tasks (run() then throws 503), waits up to `graceMs` for the accepted ones,
   * queued ones included, to finish, then aborts the ones still running and refuses the ones
   * still queued, and resolves once nothing runs.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.closing = true;
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([this.whenIdle(), graceOver]);
    clearTimeout(timer);
    for (const entry of this.waiting.splice(0)) {
      entry.detach();
      entry.reject(new ApiError(503, 'the server shut down before this request ran', { code: 'shutting_down' }));
    }
    for (const entry of this.active) entry.controller.abort(new Error('the server is shutting down'));
    await this.whenIdle();
  }

  private whenIdle(): Promise<void> {
    if (this.waiting.length === 0 && this.active.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const previous = this.idle;
      this.idle = () => {
        previous?.();
        resolve();
      };
    });
  }

  private checkIdle(): void {
    if (this.waiting.length === 0 && this.active.size === 0 && this.idle !== undefined) {
      const idle = this.idle;
      this.idle = undefined;
      idle();
    }
  }

  private startNext(): void {
    while (this.active.size < this.concurrency && this.waiting.length > 0) {
      const entry = this.waiting.shift()!;
      this.active.add(entry);
      void this.execute(entry);
    }
  }

  private async execute(entry: Entry): Promise<void> {
    const started = performance.now();
    try {
      entry.resolve(await entry.task(entry.controller.signal));
    } catch (error) {
      entry.reject(error);
    } finally {
      entry.detach();
      this.averageSeconds = 0.8 * this.averageSeconds + 0.2 * ((performance.now() - started) / 1000);
      this.active.delete(entry);
      this.startNext();
      this.checkIdle();
    }
  }
}
