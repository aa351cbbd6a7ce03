/**
 * The app's modelled dependencies: a database reached through a connection pool, and an
 * upstream (pricing) service. They do no I/O; they take time and fail the way real ones do,
 * as the faults decide.
 */
import { DemoError } from './config.js';
import { Limiter } from './limiter.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `up`; `broken`: the connections dropped, a reconnect fixes it; `down`: unreachable. */
export type DbState = 'up' | 'broken' | 'down';

export interface DbHooks {
  timeoutMs: () => number;
  batchSize: () => number;
  /** Extra time the downstream takes right now (the latency fault); resolves early when the contention ends. */
  contention: () => Promise<void>;
  onConnectionError: () => void;
  observe: (operation: 'select' | 'insert', seconds: number) => void;
}

export class FakeDb {
  state: DbState = 'up';
  readonly pool: Limiter;

  constructor(
    poolSize: number,
    private readonly hooks: DbHooks,
  ) {
    this.pool = new Limiter(poolSize, 'a DB connection');
  }

  /**
   * One query on a pooled connection. Its cost grows with batch_size (rows fetched per round
   * trip): 1 ms + 0.02 ms per row of the batch, 5 ms at the default 200.
   */
  async query(operation: 'select' | 'insert'): Promise<void> {
    this.check();
    const release = await this.pool.acquire(this.hooks.timeoutMs());
    try {
      this.check();
      const start = performance.now();
      await sleep(1 + this.hooks.batchSize() * 0.02);
      await this.hooks.contention();
      this.check();
      this.hooks.observe(operation, (performance.now() - start) / 1000);
    } finally {
      release();
    }
  }

  /** Re-opens the pool's connections; false when the database is unreachable. */
  reconnect(): boolean {
    if (this.state === 'down') return false;
    this.state = 'up';
    return true;
  }

  private check(): void {
    if (this.state === 'up') return;
    this.hooks.onConnectionError();
    throw this.state === 'down'
      ? new DemoError(500, 'db_unreachable', 'database query failed: the database is unreachable')
      : new DemoError(500, 'db_connection_lost', 'database query failed: connection lost (reset the pool to reconnect)');
  }
}

export interface UpstreamHooks {
  retries: () => number;
  /** Whether this attempt fails (the errors fault). */
  fails: () => boolean;
  onError: () => void;
}

export class FakeUpstream {
  constructor(private readonly hooks: UpstreamHooks) {}

  /** One call, retried `retries` times with a short exponential backoff (5 ms, 10 ms, ...). */
  async call(): Promise<void> {
    const retries = this.hooks.retries();
    for (let attempt = 0; ; attempt++) {
      await sleep(1);
      if (!this.hooks.fails()) return;
      this.hooks.onError();
      if (attempt >= retries) {
        throw new DemoError(502, 'upstream_failed', `the pricing upstream failed (${attempt + 1} attempt${attempt ? 's' : ''})`);
      }
      await sleep(5 * 2 ** attempt);
    }
  }
}
