/**
 * Scrapes the /metrics of local targets (the apps promedic looks after) for the embedded
 * monitor, so it can watch latency, error rate and connections with no Prometheus at all.
 * Samples get a `service` label with the target's name, as a Prometheus scrape config would add.
 */
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import { errorMessage } from '../errors.js';
import type { Family } from '../metrics/exposition.js';
import { parseExposition } from '../metrics/parse.js';

export interface Target {
  name: string;
  url: string;
  intervalMs: number;
}

export class TargetScraper {
  private timers: NodeJS.Timeout[] = [];
  private readonly up: Gauge<'target'>;
  private readonly failing = new Set<string>();
  /** Failed scrapes since start. */
  failures = 0;
  /** Targets whose last scrape failed. */
  get failingTargets(): string[] {
    return [...this.failing].sort();
  }
  private readonly log: Logger;

  constructor(
    readonly targets: Target[],
    private readonly onScrape: (target: Target, families: Family[], t: number) => void,
    logger: Logger,
    registry: Registry,
  ) {
    this.log = logger.child({ component: 'targets' });
    this.up = new Gauge({ name: 'promedic_target_up', help: 'Whether the last scrape of each monitored target succeeded.', labelNames: ['target'], registers: [registry] });
  }

  async scrape(target: Target): Promise<void> {
    try {
      const res = await fetch(target.url, { signal: AbortSignal.timeout(Math.min(10_000, target.intervalMs)), headers: { accept: 'text/plain;version=0.0.4' } });
      if (!res.ok) throw new Error(`status ${res.status}`);
      const families = parseExposition(await res.text());
      this.onScrape(target, families, Date.now());
      this.up.set({ target: target.name }, 1);
      if (this.failing.delete(target.name)) this.log.info({ target: target.name }, 'target recovered');
    } catch (err) {
      this.up.set({ target: target.name }, 0);
      if (!this.failing.has(target.name)) this.log.warn({ target: target.name, url: target.url, err: errorMessage(err) }, 'target scrape failed');
      this.failing.add(target.name);
      this.failures++;
    }
  }

  start(): void {
    for (const t of this.targets) {
      void this.scrape(t);
      const timer = setInterval(() => void this.scrape(t), t.intervalMs);
      timer.unref();
      this.timers.push(timer);
    }
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }
}
