import { performance } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { VERSION } from '../version.js';

/** A limit from /proc/self/limits (`Max address space`, `Max resident set`), as Go's procfs reads it. */
function limit(which: string): number | null {
  try {
    const m = new RegExp(`^${which}\\s+(\\S+)`, 'm').exec(readFileSync('/proc/self/limits', 'utf8'));
    if (!m) return null;
    // Go reports "unlimited" as float64(^uint64(0)), i.e. 2^64; do the same so dashboards agree.
    return m[1] === 'unlimited' ? 2 ** 64 : Number(m[1]);
  } catch {
    return null;
  }
}

/** promedic's own registry (never prom-client's global one), with process and Node.js metrics. */
export function createRegistry(opts: { eventLoopSampleMs?: number } = {}): Registry {
  const registry = new Registry();
  // prom-client starts a monitorEventLoopDelay at this precision (10 ms by default) for its lag
  // gauges. They are replaced below by our own; its histogram, left without a reference, would
  // wake the loop 100 times a second until a full GC collects it, so it is set to fire once in
  // 24 days instead.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 2 ** 31 - 1 });
  // prom-client names these gauges *_total, which Prometheus reserves for counters (promtool flags
  // them); the same figures remain available, by type, in nodejs_active_{handles,requests,resources}.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(name);
  }
  // nodejs_eventloop_lag_seconds is measured by waiting for a setImmediate inside every scrape,
  // which made it half of a scrape's latency; the same information is in the
  // monitorEventLoopDelay-based nodejs_eventloop_lag_{min,max,mean,stddev,p50,p90,p99}_seconds.
  registry.removeSingleMetric('nodejs_eventloop_lag_seconds');
  // prom-client fills the monitorEventLoopDelay gauges from that metric's collect(), so without
  // it they would stay 0: they are registered again here, read from samples of our own.
  eventLoopDelay(registry, opts.eventLoopSampleMs ?? EVENT_LOOP_SAMPLE_MS);
  new Gauge({
    name: 'promedic_build_info',
    help: 'A metric with a constant 1 value labeled by version and Node.js version of promedic.',
    labelNames: ['version', 'nodeversion'],
    registers: [registry],
  }).set({ version: VERSION, nodeversion: process.version }, 1);
  const vmax = limit('Max address space');
  if (vmax !== null) {
    new Gauge({
      name: 'process_virtual_memory_max_bytes',
      help: 'Maximum amount of virtual memory available in bytes.',
      registers: [registry],
    }).set(vmax);
  }
  const rmax = limit('Max resident set');
  if (rmax !== null) {
    new Gauge({
      name: 'process_resident_memory_max_bytes',
      help: 'Maximum resident set size (RLIMIT_RSS) allowed for the process, in bytes.',
      registers: [registry],
    }).set(rmax);
  }
  return registry;
}

const LAG_STATS = ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'] as const;

/**
 * The sampling period of the event-loop delay gauges, whose timer wakes the loop once per period.
 * prom-client's 10 ms default (monitorEventLoopDelay) is 100 wake-ups a second, 0.32 % of a core
 * on an idle promedic. On the virtual machines measured, waking an idle process costs about half
 * a millisecond of CPU whatever it then does, so the period matches the collection cycle's:
 * 1 s made five of the dozen wake-ups of an idle promedic's 5 s (0.06 % of a core). A block is
 * seen when the timer falls due during it: always from one period up, and with odds of its
 * length over the period below (the per-scrape max of a 2 ms block is mostly 0).
 */
export const EVENT_LOOP_SAMPLE_MS = 5000;

/**
 * nodejs_eventloop_lag_{min,max,mean,stddev,p50,p90,p99}_seconds over the time since the last
 * scrape (the samples are cleared at each). Each sample is how late the loop ran a timer due
 * every period: the time between two callbacks minus the period (prom-client reports the raw
 * interval, so its figures are higher by its 10 ms period). A block shorter than the period is
 * seen only if the timer falls due during it.
 */
function eventLoopDelay(registry: Registry, periodMs: number): void {
  for (const s of LAG_STATS) registry.removeSingleMetric(`nodejs_eventloop_lag_${s}_seconds`);
  // monitorEventLoopDelay forgets its previous tick on reset(), so the first interval after each
  // scrape was never recorded (a block then went unseen); this timer keeps its own. The samples
  // (one a period) are kept as they are, the last 3600 of them at most, and summarized at a
  // scrape: a high-range HDR histogram took ~0.25 ms to read its percentiles, on every scrape.
  const samples = new Float64Array(3600);
  const sorted = new Float64Array(samples.length);
  let count = 0;
  let prev = performance.now();
  setInterval(() => {
    const now = performance.now();
    samples[count++ % samples.length] = Math.max(0, now - prev - periodMs) / 1000;
    prev = now;
  }, periodMs).unref();
  let snapshot: Record<(typeof LAG_STATS)[number], number> | null = null;
  const take = (): Record<(typeof LAG_STATS)[number], number> => {
    const n = Math.min(count, samples.length);
    count = 0;
    if (n === 0) return { min: 0, max: 0, mean: 0, stddev: 0, p50: 0, p90: 0, p99: 0 };
    const v = sorted.subarray(0, n);
    v.set(samples.subarray(0, n));
    v.sort();
    let sum = 0;
    for (let i = 0; i < n; i++) sum += v[i] as number;
    const mean = sum / n;
    let sq = 0;
    for (let i = 0; i < n; i++) sq += ((v[i] as number) - mean) ** 2;
    // Nearest rank, as an HDR histogram reports its percentiles.
    const rank = (p: number) => v[Math.max(0, Math.ceil((p / 100) * n) - 1)] as number;
    return { min: v[0] as number, max: v[n - 1] as number, mean, stddev: Math.sqrt(sq / n), p50: rank(50), p90: rank(90), p99: rank(99) };
  };
  const help: Record<(typeof LAG_STATS)[number], string> = {
    min: 'The minimum recorded event loop delay.',
    max: 'The maximum recorded event loop delay.',
    mean: 'The mean of the recorded event loop delays.',
    stddev: 'The standard deviation of the recorded event loop delays.',
    p50: 'The 50th percentile of the recorded event loop delays.',
    p90: 'The 90th percentile of the recorded event loop delays.',
    p99: 'The 99th percentile of the recorded event loop delays.',
  };
  for (const s of LAG_STATS) {
    new Gauge({
      name: `nodejs_eventloop_lag_${s}_seconds`,
      help: help[s],
      registers: [registry],
      collect() {
        // The first of the seven collected in a scrape reads (and clears) the samples.
        if (s === 'min' || snapshot === null) snapshot = take();
        this.set(snapshot[s]);
        if (s === 'p99') snapshot = null;
      },
    });
  }
}
