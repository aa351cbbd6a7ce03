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
export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // prom-client names these gauges *_total, which Prometheus reserves for counters (promtool flags
  // them); the same figures remain available, by type, in nodejs_active_{handles,requests,resources}.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(name);
  }
  // nodejs_eventloop_lag_seconds is measured by waiting for a setImmediate inside every scrape,
  // which made it half of a scrape's latency; the same information is in the
  // monitorEventLoopDelay-based nodejs_eventloop_lag_{min,max,mean,stddev,p50,p90,p99}_seconds.
  registry.removeSingleMetric('nodejs_eventloop_lag_seconds');
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
