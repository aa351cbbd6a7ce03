/**
 * The demo app's metrics, in its own registry. The names are a contract: Prometheus alert
 * rules and dashboards read them. Prometheus adds the `service` label at scrape time.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { NUMERIC_KNOBS, type DemoConfig } from './config.js';

export const FAULT_KINDS = ['latency', 'errors', 'memory', 'connections', 'db', 'validation'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** What the scrape-time gauges read. */
export interface MetricsSource {
  config: () => DemoConfig;
  activeConnections: () => number;
  cache: () => { bytes: number; entries: number; maxBytes: number };
  memory: () => { used: number; limit: number };
  dbConnected: () => boolean;
  faultActive: (kind: FaultKind) => boolean;
}

export interface DemoMetrics {
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  httpRequests: Counter<'method' | 'route' | 'status_code'>;
  inFlight: Gauge;
  dbConnectionErrors: Counter;
  dbQueryDuration: Histogram<'operation'>;
  upstreamErrors: Counter;
  validationErrors: Counter;
  rejected: Counter<'reason'>;
}

export function createMetrics(src: MetricsSource): DemoMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // prom-client names these gauges *_total, which Prometheus reserves for counters (promtool
  // flags them); the same figures remain in nodejs_active_{handles,requests,resources}.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(name);
  }
  const registers = [registry];

  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Duration of HTTP requests, from arrival to the end of the response, waiting for a concurrency slot included.',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const httpRequests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status code.',
    labelNames: ['method', 'route', 'status_code'] as const,
    registers,
  });
  new Gauge({
    name: 'app_active_connections',
    help: 'Open TCP connections to the app\'s HTTP server, idle keep-alive ones included.',
    registers,
    collect() {
      this.set(src.activeConnections());
    },
  });
  const inFlight = new Gauge({
    name: 'app_in_flight_requests',
    help: 'HTTP requests being served, those waiting for a concurrency slot included.',
    registers,
  });
  new Gauge({
    name: 'app_concurrency_limit',
    help: 'Requests to /api the app serves at once (the concurrency knob); the rest wait.',
    registers,
    collect() {
      this.set(src.config().concurrency);
    },
  });
  new Gauge({
    name: 'app_cache_size_bytes',
    help: 'Bytes of payload held by the item cache, leaked Buffers included.',
    registers,
    collect() {
      this.set(src.cache().bytes);
    },
  });
  new Gauge({
    name: 'app_cache_entries',
    help: 'Entries in the item cache, leaked Buffers included.',
    registers,
    collect() {
      this.set(src.cache().entries);
    },
  });
  new Gauge({
    name: 'app_cache_max_bytes',
    help: 'Size limit of the item cache (the cache_size_mb knob); leaked Buffers bypass it.',
    registers,
    collect() {
      this.set(src.cache().maxBytes);
    },
  });
  new Gauge({
    name: 'app_memory_used_bytes',
    help:
      'Memory in use by the app: V8 heap used plus external memory (Buffers), not counting Buffers a cache ' +
      'clear has released that the garbage collector has not reclaimed yet.',
    registers,
    collect() {
      this.set(src.memory().used);
    },
  });
  new Gauge({
    name: 'app_memory_limit_bytes',
    help: 'The app\'s memory budget (--memory-limit-mb); app_memory_used_bytes is meant to stay below it.',
    registers,
    collect() {
      this.set(src.memory().limit);
    },
  });
  new Gauge({
    name: 'app_db_pool_size',
    help: 'Connections in the database pool (the pool_size knob).',
    registers,
    collect() {
      this.set(src.config().pool_size);
    },
  });
  new Gauge({
    name: 'app_db_connected',
    help: 'Whether the app is connected to its database (1) or not (0).',
    registers,
    collect() {
      this.set(src.dbConnected() ? 1 : 0);
    },
  });
  const dbConnectionErrors = new Counter({
    name: 'app_db_connection_errors_total',
    help: 'Database queries that failed because the connection was lost or the database unreachable.',
    registers,
  });
  const dbQueryDuration = new Histogram({
    name: 'app_db_query_duration_seconds',
    help: 'Duration of successful database queries on a pooled connection (waiting for a connection excluded).',
    labelNames: ['operation'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const upstreamErrors = new Counter({
    name: 'app_upstream_errors_total',
    help: 'Failed calls to the pricing upstream, each attempt counted (retries included).',
    registers,
  });
  const validationErrors = new Counter({
    name: 'app_validation_errors_total',
    help: 'Invalid input that got past validation and failed in processing (answered 500).',
    registers,
  });
  const rejected = new Counter({
    name: 'app_requests_rejected_total',
    help:
      'Invalid input caught before processing: reason="validation" rejected with 400 by strict validation, ' +
      'reason="sanitized" repaired by sanitisation and accepted.',
    labelNames: ['reason'] as const,
    registers,
  });
  for (const reason of ['validation', 'sanitized']) rejected.inc({ reason }, 0);
  new Gauge({
    name: 'app_config',
    help: 'Current value of each numeric knob (GET /admin/config); sanitize and validation_strict are 1 or 0.',
    labelNames: ['knob'] as const,
    registers,
    collect() {
      const c = src.config();
      for (const knob of NUMERIC_KNOBS) this.set({ knob }, c[knob]);
      this.set({ knob: 'sanitize' }, c.sanitize ? 1 : 0);
      this.set({ knob: 'validation_strict' }, c.validation === 'strict' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'app_fault_active',
    help: 'Whether each injectable fault is active (1) or not (0).',
    labelNames: ['fault'] as const,
    registers,
    collect() {
      for (const fault of FAULT_KINDS) this.set({ fault }, src.faultActive(fault) ? 1 : 0);
    },
  });
  return { registry, httpDuration, httpRequests, inFlight, dbConnectionErrors, dbQueryDuration, upstreamErrors, validationErrors, rejected };
}
