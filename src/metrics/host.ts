/**
 * Runs the host collectors on a background cycle and keeps the rendered exposition text,
 * so a scrape never waits for collection (node_exporter collects on every scrape; promedic
 * does the work once per interval, off the request path).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { errorMessage } from '../errors.js';
import { type CollectorOptions, CycleContext, type HostCollector } from './collector.js';
import { type Family, render } from './exposition.js';
import { PseudoFiles } from './files.js';
import { ScrapeClock } from './scrapes.js';

export interface HostMetricsOptions {
  collectors: readonly HostCollector[];
  options: CollectorOptions;
  intervalMs: number;
  timeoutMs: number;
  logger: Logger;
  registry: Registry;
  /** Called with every cycle's families (the embedded monitor evaluates on them). */
  onCycle?: (families: Family[], t: number) => void;
  /**
   * Collect only for the scrapes what nothing else reads: when /metrics has a scraper with a
   * regular interval longer than the cycle, a collector none of whose metrics `wanted` names
   * runs in the cycle before each expected scrape instead of every cycle (ScrapeClock).
   */
  followScrapes?: boolean;
  /** Metric names read on every cycle (by the embedded monitor); their collectors always run. */
  wanted?: (name: string) => boolean;
  /** Monotonic milliseconds (performance.now), settable for tests. */
  now?: () => number;
}

interface Outcome {
  ok: boolean;
  seconds: number;
  families: Family[];
  error?: string;
}

/** Collector options from the configuration (regexes compiled once). */
export function collectorOptions(config: Config): CollectorOptions {
  return {
    procfs: config.paths.procfs,
    sysfs: config.paths.sysfs,
    rootfs: config.paths.rootfs,
    filesystem: {
      mountPointsExclude: new RegExp(config.collection.filesystem.mount_points_exclude),
      fsTypesExclude: new RegExp(config.collection.filesystem.fs_types_exclude),
      timeoutMs: config.timeoutMs,
    },
    diskstats: { deviceExclude: new RegExp(config.collection.diskstats.device_exclude) },
    netdev: { deviceExclude: new RegExp(config.collection.netdev.device_exclude) },
    textfileDirectory: config.collection.textfile.directory ?? null,
  };
}

function timeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms}ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export class HostMetrics {
  private readonly opts: HostMetricsOptions;
  private readonly log: Logger;
  /** The last cycle's families, and their exposition once a scrape asked for it. */
  private families: Family[] = [];
  private text: Buffer | null = Buffer.alloc(0);
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private readonly failing = new Set<string>();
  /** Each collector's last outcome: a cycle that skips a collector serves its last families. */
  private readonly last = new Map<string, Outcome>();
  /** The metric names each collector returned when it last succeeded. */
  private readonly produces = new Map<string, string[]>();
  private readonly scrapes = new ScrapeClock();
  /** Cycles that ran every collector, and cycles that ran only those whose metrics are read every cycle. */
  private readonly cyclesRun: Counter<'collectors'>;
  /** Completed cycles; readiness waits for the first. */
  cycles = 0;
  lastCycleEnd = 0;
  /** procfs/sysfs files kept open between cycles. */
  private readonly files: PseudoFiles;
  private readonly duration: Gauge<'collector'>;
  private readonly success: Gauge<'collector'>;

  constructor(opts: HostMetricsOptions) {
    this.opts = opts;
    this.log = opts.logger.child({ component: 'collector' });
    this.files = new PseudoFiles(opts.options);
    this.duration = new Gauge({
      name: 'promedic_collector_duration_seconds',
      help: 'How long each host collector took in the last collection cycle.',
      labelNames: ['collector'],
      registers: [opts.registry],
    });
    this.success = new Gauge({
      name: 'promedic_collector_success',
      help: 'Whether each host collector succeeded in the last collection cycle (1) or failed (0).',
      labelNames: ['collector'],
      registers: [opts.registry],
    });
    this.cyclesRun = new Counter({
      name: 'promedic_collection_cycles_total',
      help: 'Host collection cycles, by which collectors ran: all, or only those whose metrics are read every cycle (the others run before each expected scrape).',
      labelNames: ['collectors'],
      registers: [opts.registry],
    });
    const self = this;
    new Gauge({
      name: 'promedic_collection_last_cycle_timestamp_seconds',
      help: 'When the last host collection cycle finished, in unixtime.',
      registers: [opts.registry],
      collect() {
        this.set(self.lastCycleEnd / 1000);
      },
    });
  }

  /** Failed collector runs since start. */
  failures = 0;

  /** Collectors failing in the last cycle. */
  get failingCollectors(): string[] {
    return [...this.failing].sort();
  }

  get intervalMs(): number {
    return this.opts.intervalMs;
  }

  /** A scrape of /metrics by `client` (its address): the cycles follow regular scrapers. */
  noteScrape(client: string): void {
    if (this.opts.followScrapes) this.scrapes.note(client, this.clock());
  }

  /** The scrapers the collection follows (address, interval). */
  scrapers(): Array<{ client: string; intervalMs: number }> {
    return this.scrapes.scrapers();
  }

  private clock(): number {
    return this.opts.now ? this.opts.now() : performance.now();
  }

  /** Whether a collector must run in every cycle: its metrics are wanted, or not known yet. */
  private everyCycle(c: HostCollector): boolean {
    const names = this.produces.get(c.name);
    if (names === undefined) return true;
    const wanted = this.opts.wanted;
    return wanted !== undefined && names.some((n) => wanted(n));
  }

  /** Runs the first cycle, then schedules the next ones; resolves when the first is done. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.cycle();
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    // setTimeout after each cycle rather than setInterval, so a slow cycle never overlaps the next.
    const delay = Math.max(0, this.opts.intervalMs - (Date.now() - this.lastCycleEnd));
    this.timer = setTimeout(() => {
      void this.cycle().finally(() => this.schedule());
    }, delay);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.running) await this.running;
    this.files.close();
  }

  /**
   * Gets a stalled cycle loop going again: a cycle that never finished is abandoned (its
   * result, if it ever comes, is harmless), and the loop starts over.
   */
  async restart(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.running = null;
    await this.start();
  }

  /** Why the loop looks stuck (no cycle for three intervals), or null. */
  stalled(now = Date.now()): string | null {
    if (this.stopped || this.lastCycleEnd === 0) return null;
    const age = now - this.lastCycleEnd;
    return age > 3 * this.opts.intervalMs ? `no collection cycle for ${(age / 1000).toFixed(0)} s (interval ${this.opts.intervalMs / 1000} s)` : null;
  }

  /** One collection cycle; exposed for tests and for the benchmark. */
  cycle(): Promise<void> {
    if (!this.running) {
      this.running = this.runCycle().finally(() => {
        this.running = null;
      });
    }
    return this.running;
  }

  private async runOne(c: HostCollector, ctx: CycleContext): Promise<Outcome> {
    const start = performance.now();
    try {
      const families = await timeout(c.collect(ctx), this.opts.timeoutMs, `collector ${c.name}`);
      return { ok: true, seconds: (performance.now() - start) / 1000, families };
    } catch (err) {
      return { ok: false, seconds: (performance.now() - start) / 1000, families: [], error: errorMessage(err) };
    }
  }

  private async runCycle(): Promise<void> {
    const ctx = new CycleContext(this.opts.options, this.files);
    const all =
      !this.opts.followScrapes || this.cycles === 0 || this.scrapes.due(this.clock(), this.opts.intervalMs);
    const run = all ? this.opts.collectors : this.opts.collectors.filter((c) => this.everyCycle(c));
    this.cyclesRun.inc({ collectors: all ? 'all' : 'every-cycle' });
    // One collector at a time, yielding to the event loop between them: /proc reads are
    // synchronous (cheap), so this bounds how long a cycle can hold up a request to the cost
    // of the slowest single collector rather than the sum of all of them.
    for (const c of run) {
      try {
        c.prefetch?.(ctx);
      } catch {
        // collect() meets the same problem and reports it
      }
    }
    for (const c of run) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      const o = await this.runOne(c, ctx);
      this.last.set(c.name, o);
      if (o.ok) this.produces.set(c.name, o.families.map((f) => f.name));
      this.report(c.name, o);
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
    // Files not read by a cycle that ran everything belong to vanished devices and processes.
    if (all) this.files.sweep();
    const families: Family[] = [];
    const compatDuration: Family = {
      name: 'node_scrape_collector_duration_seconds',
      help: 'node_exporter: Duration of a collector scrape.',
      type: 'gauge',
      samples: [],
    };
    const compatSuccess: Family = {
      name: 'node_scrape_collector_success',
      help: 'node_exporter: Whether a collector succeeded.',
      type: 'gauge',
      samples: [],
    };
    for (const c of this.opts.collectors) {
      const o = this.last.get(c.name);
      if (!o) continue;
      compatDuration.samples.push({ labels: { collector: c.name }, value: o.seconds });
      compatSuccess.samples.push({ labels: { collector: c.name }, value: o.ok ? 1 : 0 });
      if (o.ok) families.push(...o.families);
    }
    families.push(compatDuration, compatSuccess);
    // Rendered by the first scrape that wants it, then reused until the next cycle: a
    // Prometheus scraping every 15 s gets one render per scrape, not one per cycle.
    this.families = families;
    this.text = null;
    try {
      this.opts.onCycle?.(families, Date.now());
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'cycle listener failed');
    }
    this.cycles++;
    this.lastCycleEnd = Date.now();
  }

  private report(name: string, o: Outcome): void {
    this.duration.set({ collector: name }, o.seconds);
    this.success.set({ collector: name }, o.ok ? 1 : 0);
    if (o.ok) {
      if (this.failing.delete(name)) this.log.info({ collector: name }, 'collector recovered');
      return;
    }
    this.failures++;
    if (!this.failing.has(name)) {
      this.failing.add(name);
      this.log.warn({ collector: name, err: o.error }, 'collector failed; its metrics are left out until it recovers');
    } else {
      this.log.debug({ collector: name, err: o.error }, 'collector still failing');
    }
  }

  /** The exposition for a scrape, as buffers: the last cycle's, then the few families that must be live. */
  exposition(): Buffer[] {
    this.text ??= Buffer.from(render(this.families), 'utf8');
    const live: Family[] = [];
    for (const c of this.opts.collectors) if (c.scrape) live.push(...c.scrape());
    return live.length ? [this.text, Buffer.from(render(live), 'utf8')] : [this.text];
  }

}
