/**
 * The built-in load generator: real HTTP requests to the app on its own listening port, over
 * keep-alive connections, at a steady rate: 90% GET /api/items, 10% POST /api/orders.
 *
 * It behaves like a client with a bounded number of requests in flight (`maxOutstanding`):
 * when that many are outstanding a tick is skipped rather than queued, so a slow app sees
 * longer latencies, not an ever-growing backlog.
 */
import { Agent, request } from 'node:http';
import type { Target } from './connections.js';

export interface LoadOptions {
  target: Target;
  rps: number;
  maxOutstanding: number;
  random: () => number;
  /** Fraction of order bodies to make invalid (the validation fault). */
  invalidRatio: () => number;
}

export interface LoadStats {
  sent: number;
  /** Answered with a 2xx. */
  succeeded: number;
  /** Answered with a 4xx or 5xx. */
  failed: number;
  /** No answer (connection reset, refused). */
  errors: number;
  /** Ticks skipped because maxOutstanding requests were in flight. */
  skipped: number;
  outstanding: number;
}

/** Distinct `n` values requested, which is also the number of distinct cache keys. */
export const ITEM_RANGE = 500;

const FIXABLE: ReadonlyArray<(k: number) => unknown> = [
  (k) => ({ item: `  widget-${k} `, quantity: 2 }),
  (k) => ({ item: `widget-${k}`, quantity: '3' }),
  (k) => ({ item: `WIDGET-${k}`, quantity: 1 }),
];
const UNFIXABLE: ReadonlyArray<(k: number) => unknown> = [
  (k) => ({ item: `widget-${k}`, quantity: -1 }),
  (k) => ({ item: `widget-${k}`, quantity: 'lots' }),
  (k) => ({ item: `widget-${k}`, quantity: 2.5 }),
  () => ({ item: '', quantity: 1 }),
  () => ({ quantity: 2 }),
];

/** An order body: valid, or (with probability invalidRatio) invalid, half of those fixable by sanitisation. */
export function orderBody(random: () => number, invalidRatio: number): unknown {
  const k = 1 + Math.floor(random() * 100);
  if (random() >= invalidRatio) return { item: `widget-${k}`, quantity: 1 + Math.floor(random() * 5) };
  const pool = random() < 0.5 ? FIXABLE : UNFIXABLE;
  const make = pool[Math.floor(random() * pool.length)] ?? pool[0];
  return (make as (k: number) => unknown)(k);
}

export class LoadGenerator {
  readonly stats: LoadStats = { sent: 0, succeeded: 0, failed: 0, errors: 0, skipped: 0, outstanding: 0 };
  private readonly agent: Agent;
  private timer: NodeJS.Timeout | null = null;
  private credit = 0;
  private last = 0;

  constructor(private readonly opts: LoadOptions) {
    this.agent = new Agent({ keepAlive: true, maxSockets: opts.maxOutstanding });
  }

  get running(): boolean {
    return this.timer !== null;
  }

  start(): void {
    if (this.timer || this.opts.rps <= 0) return;
    this.last = performance.now();
    const tickMs = Math.max(5, Math.min(100, 1000 / this.opts.rps));
    this.timer = setInterval(() => this.tick(), tickMs);
  }

  /** Stops sending and drops its connections (requests still in flight are abandoned). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.agent.destroy();
  }

  private tick(): void {
    const now = performance.now();
    this.credit = Math.min(this.credit + ((now - this.last) / 1000) * this.opts.rps, this.opts.rps);
    this.last = now;
    while (this.credit >= 1) {
      this.credit--;
      this.fire();
    }
  }

  private fire(): void {
    if (this.stats.outstanding >= this.opts.maxOutstanding) {
      this.stats.skipped++;
      return;
    }
    const { random } = this.opts;
    if (random() < 0.9) {
      this.send('GET', `/api/items?n=${1 + Math.floor(random() * ITEM_RANGE)}`);
    } else {
      this.send('POST', '/api/orders', JSON.stringify(orderBody(random, this.opts.invalidRatio())));
    }
  }

  private send(method: string, path: string, body?: string): void {
    this.stats.sent++;
    this.stats.outstanding++;
    let settled = false;
    const settle = (outcome: 'succeeded' | 'failed' | 'errors') => {
      if (settled) return;
      settled = true;
      this.stats.outstanding--;
      this.stats[outcome]++;
    };
    const headers: Record<string, string | number> = {};
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(body);
    }
    const req = request(
      { host: this.opts.target.host, port: this.opts.target.port, method, path, agent: this.agent, headers },
      (res) => {
        res.resume();
        res.once('end', () => settle((res.statusCode ?? 0) < 400 ? 'succeeded' : 'failed'));
        res.once('error', () => settle('errors'));
        res.once('close', () => settle('errors'));
      },
    );
    req.once('error', () => settle('errors'));
    req.end(body);
  }
}
