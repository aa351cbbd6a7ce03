/**
 * Monitor benchmark (npm run bench:monitor): evaluation time per cycle for 100 rules over
 * the series of 50 scraped targets (error-rate ratios, p99 quantiles, rates and gauges, each
 * by service), after the windows have filled. Evaluation is synchronous, so this is also the
 * event-loop time the monitor takes per cycle. Goal: under 5 ms.
 *
 *   npm run bench:monitor -- [--cycles 200]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Monitor } from '../src/monitor/monitor.js';
import { loadMonitors } from '../src/monitor/rules.js';

const { values } = parseArgs({ options: { cycles: { type: 'string', default: '200' } } });
const CYCLES = Number(values.cycles);
const TARGETS = 50;
const ROUTES = ['/a', '/b', '/c', '/d', '/e'];
const LE = ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf'];
const STEP = 5000;

// 100 rules: 25 of each kind, with thresholds spread so a few fire.
const rules: string[] = [];
for (let i = 0; i < 25; i++) {
  rules.push(`  - alert: ErrRate${i}\n    expr:\n      ratio:\n        numerator: { rate: { metric: http_requests_total, match: ['status_code =~ "5.."'], window: 5m, agg: sum, by: [service] } }\n        denominator: { rate: { metric: http_requests_total, window: 5m, agg: sum, by: [service] } }\n    above: ${0.05 + i * 0.01}\n    for: 1m`);
  rules.push(`  - alert: P99_${i}\n    expr: { quantile: { metric: http_request_duration_seconds, q: 0.99, window: 5m, by: [service] } }\n    above: ${1 + i * 0.2}\n    for: 1m`);
  rules.push(`  - alert: Rate${i}\n    expr: { rate: { metric: http_requests_total, window: 1m, agg: sum, by: [service] } }\n    above: ${100 + i * 10}`);
  rules.push(`  - alert: Conn${i}\n    expr: { value: { metric: app_active_connections, agg: max, by: [service] } }\n    above: ${150 + i * 5}\n    clear: ${140 + i * 5}`);
}
const dir = mkdtempSync(join(tmpdir(), 'promedic-bench-'));
writeFileSync(join(dir, 'bench.yml'), `monitors:\n${rules.join('\n')}\n`);
const loaded = loadMonitors(dir);
rmSync(dir, { recursive: true, force: true });
if (loaded.errors.length) throw new Error(loaded.errors.join('\n'));

let sent = 0;
const monitor = new Monitor({
  rules: loaded.rules,
  instance: 'bench:9477',
  logger: pino({ level: 'silent' }),
  registry: new Registry(),
  intervalMs: STEP,
  send: async (a) => {
    sent += a.length;
  },
});

const counters = new Map<string, number>();
function inc(key: string, by: number): number {
  const v = (counters.get(key) ?? 0) + by;
  counters.set(key, v);
  return v;
}

function scrape(target: number, cycle: number) {
  const service = `svc-${target}`;
  // Samples as the exposition parser hands them over from a scrape, raw label text included.
  const req: Array<{ labels: Record<string, string>; value: number; raw: string }> = [];
  const buckets: Array<{ labels: Record<string, string>; value: number; raw: string }> = [];
  for (const route of ROUTES) {
    const n = 50 + target;
    req.push({ labels: { route, status_code: '200' }, value: inc(`${service}${route}200`, n), raw: `route="${route}",status_code="200"` });
    req.push({ labels: { route, status_code: '500' }, value: inc(`${service}${route}500`, Math.floor(n * (target % 10) / 100)), raw: `route="${route}",status_code="500"` });
    let cum = 0;
    for (const [i, le] of LE.entries()) {
      cum += Math.floor(n / LE.length) + (i === LE.length - 1 ? n % LE.length : 0);
      buckets.push({ labels: { route, le }, value: inc(`${service}${route}${le}`, cum), raw: `route="${route}",le="${le}"` });
    }
  }
  return [
    { name: 'http_requests_total', samples: req },
    { name: 'http_request_duration_seconds_bucket', samples: buckets },
    { name: 'app_active_connections', samples: [{ labels: {}, value: 100 + ((target * 7 + cycle) % 120), raw: '' }] },
  ];
}

const T0 = Date.parse('2026-01-01T00:00:00Z');
const evalMs: number[] = [];
const cycleMs: number[] = [];
for (let c = 0; c < CYCLES; c++) {
  const t = T0 + c * STEP;
  const start = performance.now();
  for (let target = 0; target < TARGETS; target++) monitor.ingest(scrape(target, c), t, { service: `svc-${target}` });
  const e0 = performance.now();
  await monitor.evaluate(t);
  const end = performance.now();
  // Windows are 5 m: measure once they are full.
  if (c >= 65) {
    evalMs.push(end - e0);
    cycleMs.push(end - start);
  }
}
const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] as number;
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}`);
console.log(`${loaded.rules.length} rules, ${TARGETS} targets, ${monitor.store.size} series kept, ${CYCLES - 65} measured cycles, ${sent} alert notifications`);
console.log(`evaluation per cycle: median ${q(evalMs, 0.5).toFixed(2)} ms, p99 ${q(evalMs, 0.99).toFixed(2)} ms, max ${Math.max(...evalMs).toFixed(2)} ms (goal < 5 ms)`);
console.log(`ingest of 50 scrapes + evaluation: median ${q(cycleMs, 0.5).toFixed(2)} ms, p99 ${q(cycleMs, 0.99).toFixed(2)} ms`);
console.log(JSON.stringify({ rules: loaded.rules.length, targets: TARGETS, series: monitor.store.size, evalMs: { median: q(evalMs, 0.5), p99: q(evalMs, 0.99), max: Math.max(...evalMs) }, cycleMs: { median: q(cycleMs, 0.5), p99: q(cycleMs, 0.99) } }));
