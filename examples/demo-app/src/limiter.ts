/**
 * A counting semaphore whose limit can change at run time, with a FIFO queue and a deadline
 * per waiter. It models both the request concurrency limit and the DB connection pool.
 */
import { DemoError } from './config.js';

interface Waiter {
  resolve: (release: () => void) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class Limiter {
  private active = 0;
  private readonly queue: Waiter[] = [];
  private closed = false;

  constructor(
    private limit: number,
    /** What waits, for the 503 message ("a concurrency slot", "a DB connection"). */
    private readonly what: string,
  ) {}

  get inUse(): number {
    return this.active;
  }

  get waiting(): number {
    return this.queue.length;
  }

  get size(): number {
    return this.limit;
  }

  /** Takes a slot, waiting up to `timeoutMs`; the returned function gives it back (once). */
  acquire(timeoutMs: number): Promise<() => void> {
    if (this.closed) return Promise.reject(new DemoError(503, 'shutting_down', 'the app is shutting down'));
    if (this.active < this.limit && this.queue.length === 0) {
      this.active++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = this.queue.indexOf(waiter);
          if (i >= 0) this.queue.splice(i, 1);
          reject(new DemoError(503, 'timeout', `gave up after waiting ${timeoutMs} ms for ${this.what} (timeout_ms)`));
        }, timeoutMs),
      };
      this.queue.push(waiter);
    });
  }

  /** Changes the limit; a higher one lets queued waiters in at once, a lower one drains as slots are given back. */
  setLimit(limit: number): void {
    this.limit = limit;
    this.drain();
  }

  /** Fails every queued waiter; later acquisitions fail too. */
  close(): void {
    this.closed = true;
    for (const w of this.queue.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new DemoError(503, 'shutting_down', 'the app is shutting down'));
    }
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.active--;
      this.drain();
    };
  }

  private drain(): void {
    while (this.active < this.limit && this.queue.length > 0) {
      const w = this.queue.shift() as Waiter;
      clearTimeout(w.timer);
      this.active++;
      w.resolve(this.releaser());
    }
  }
}
