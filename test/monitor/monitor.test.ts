/** The embedded monitor over recorded series, with a controllable clock (no sleeping). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { IncomingAlert } from '../../src/intake/alertmanager.js';
import { Monitor } from '../../src/monitor/monitor.js';
import { loadMonitors } from '../../src/monitor/rules.js';
import { histogramQuantile, predictLinear } from '../../src/monitor/stats.js';
import { ROOT, tempDir } from '../helpers/index.js';

let dir: { path: string; cleanup: () => void };
beforeEach(() => {
  dir = tempDir();
});
afterEach(() => dir.cleanup());

const T0 = Date.parse('2026-01-01T00:00:00Z');
const STEP = 5000;

function setup(yaml: string) {
  writeFileSync(join(dir.path, 'm.yml'), yaml);
  const { rules, errors } = loadMonitors(dir.path);
  expect(errors).toEqual([]);
  const sent: IncomingAlert[] = [];
  const registry = new Registry();
  const monitor = new Monitor({
    rules,
    instance: 'host-1:9477',
    logger: pino({ level: 'silent' }),
    registry,
    intervalMs: STEP,
    send: async (a) => {
      sent.push(...a);
    },
  });
  /** Feeds one cycle of samples at step i and evaluates. */
  const cycle = async (i: number, families: Array<{ name: string; samples: Array<{ labels?: Record<string, string>; value: number }> }>) => {
    monitor.ingest(families, T0 + i * STEP);
    await monitor.evaluate(T0 + i * STEP);
  };
  return { monitor, sent, cycle, registry };
}

const gauge = (name: string, value: number, labels: Record<string, string> = {}) => ({ name, samples: [{ labels, value }] });

describe('thresholds', () => {
  it('without hysteresis resolves at the threshold itself: "above: 0" resolves when the value is back to 0', async () => {
    const { sent, cycle } = setup(`
monitors:
  - alert: Errors
    expr: { value: { metric: errors_per_second } }
    above: 0
`);
    await cycle(0, [gauge('errors_per_second', 3)]);
    expect(sent.map((a) => a.status)).toEqual(['firing']);
    await cycle(1, [gauge('errors_per_second', 0)]);
    expect(sent.map((a) => a.status)).toEqual(['firing', 'resolved']);
  });

  it('fires after `for` has held, once, with the same Alert shape as Alertmanager\'s', async () => {
    const { monitor, sent, cycle } = setup(`
monitors:
  - alert: Hot
    category: performance
    expr: { value: { metric: temp } }
    above: 80
    for: 30s
    annotations: { summary: "temp {{ value }} above {{ threshold }}" }
`);
    await cycle(0, [gauge('temp', 70)]);
    await cycle(1, [gauge('temp', 90)]); // breach starts (pending)
    expect(monitor.active()).toMatchObject([{ alertname: 'Hot', state: 'pending' }]);
    for (let i = 2; i <= 6; i++) await cycle(i, [gauge('temp', 90)]); // 25 s into `for`
    expect(sent).toHaveLength(0);
    await cycle(7, [gauge('temp', 90)]); // 30 s
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      status: 'firing',
      source: 'promedic',
      labels: { alertname: 'Hot', severity: 'warning', category: 'performance', source: 'promedic', instance: 'host-1:9477' },
      annotations: { summary: 'temp 90 above 80' },
      startsAt: new Date(T0 + 7 * STEP).toISOString(),
    });
    expect(sent[0]?.episode).toBe(`${sent[0]?.fingerprint}@${sent[0]?.startsAt}`);
    for (let i = 8; i <= 20; i++) await cycle(i, [gauge('temp', 95)]);
    expect(sent).toHaveLength(1); // no repeats while it stays firing
  });

  it('promedic_monitor_alerts follows each state between scrapes: pending, firing, resolved, and rules reloaded', async () => {
    const { monitor, cycle, registry } = setup('monitors:\n  - alert: Hot\n    expr: { value: { metric: temp } }\n    above: 80\n    for: 10s\n');
    const alerts = async () =>
      (await registry.getSingleMetricAsString('promedic_monitor_alerts'))
        .split('\n')
        .filter((l) => !l.startsWith('#'))
        .join('; ');
    expect(await alerts()).toBe('promedic_monitor_alerts{alertname="Hot",state="pending"} 0; promedic_monitor_alerts{alertname="Hot",state="firing"} 0');
    await cycle(0, [gauge('temp', 90)]);
    expect(await alerts()).toBe('promedic_monitor_alerts{alertname="Hot",state="pending"} 1; promedic_monitor_alerts{alertname="Hot",state="firing"} 0');
    await cycle(1, [gauge('temp', 90)]);
    expect(await alerts()).toMatch(/state="pending"\} 1;/);
    await cycle(2, [gauge('temp', 90)]);
    expect(await alerts()).toBe('promedic_monitor_alerts{alertname="Hot",state="pending"} 0; promedic_monitor_alerts{alertname="Hot",state="firing"} 1');
    await cycle(3, [gauge('temp', 50)]);
    expect(await alerts()).toBe('promedic_monitor_alerts{alertname="Hot",state="pending"} 0; promedic_monitor_alerts{alertname="Hot",state="firing"} 0');
    writeFileSync(join(dir.path, 'm.yml'), 'monitors:\n  - alert: Cold\n    expr: { value: { metric: temp } }\n    below: 0\n');
    monitor.setRules(loadMonitors(dir.path).rules);
    expect(await alerts()).toBe('promedic_monitor_alerts{alertname="Cold",state="pending"} 0; promedic_monitor_alerts{alertname="Cold",state="firing"} 0');
  });

  it('a breach shorter than `for` never fires', async () => {
    const { sent, cycle, monitor } = setup('monitors:\n  - alert: Hot\n    expr: { value: { metric: temp } }\n    above: 80\n    for: 1m\n');
    for (let i = 0; i < 10; i++) await cycle(i, [gauge('temp', 90)]);
    await cycle(10, [gauge('temp', 50)]);
    expect(sent).toHaveLength(0);
    expect(monitor.active()).toEqual([]);
  });

  it('hysteresis: it resolves only below `clear`, so a value wobbling at the threshold does not flap', async () => {
    const { sent, cycle } = setup('monitors:\n  - alert: Busy\n    expr: { value: { metric: cpu } }\n    above: 0.85\n    clear: 0.80\n');
    const wobble = [0.86, 0.84, 0.86, 0.83, 0.87, 0.84, 0.86, 0.81];
    for (const [i, v] of wobble.entries()) await cycle(i, [gauge('cpu', v)]);
    expect(sent.map((a) => a.status)).toEqual(['firing']);
    await cycle(20, [gauge('cpu', 0.79)]);
    expect(sent.map((a) => a.status)).toEqual(['firing', 'resolved']);
    expect(sent[1]?.episode).toBe(sent[0]?.episode); // the resolve closes the same episode
  });

  it('marks alerts of an emergency monitor, which puts the engine in emergency mode', async () => {
    const { sent, cycle } = setup('monitors:\n  - alert: OOM\n    emergency: true\n    severity: critical\n    expr: { value: { metric: mem } }\n    above: 0.97\n');
    await cycle(0, [gauge('mem', 0.99)]);
    expect(sent[0]).toMatchObject({ labels: { severity: 'critical' }, annotations: { emergency: 'true' } });
  });

  it('a series that disappears resolves its alert', async () => {
    const { sent, cycle } = setup('monitors:\n  - alert: Hot\n    expr: { value: { metric: temp } }\n    above: 80\n');
    await cycle(0, [gauge('temp', 90)]);
    await cycle(1, []);
    await cycle(5, []); // stale after 3 cycles
    expect(sent.map((a) => a.status)).toEqual(['firing', 'resolved']);
  });
});

describe('both sources', () => {
  it('defers to Alertmanager: no monitor alert while it reports the same alert, raised once it stops', async () => {
    writeFileSync(join(dir.path, 'm.yml'), 'monitors:\n  - alert: Hot\n    expr: { value: { metric: temp } }\n    above: 80\n');
    let amFiring = true;
    const sent: IncomingAlert[] = [];
    const monitor = new Monitor({
      rules: loadMonitors(dir.path).rules,
      instance: 'h:1',
      logger: pino({ level: 'silent' }),
      registry: new Registry(),
      intervalMs: STEP,
      send: async (a) => {
        sent.push(...a);
      },
      deferTo: (labels) => amFiring && labels.alertname === 'Hot',
    });
    for (let i = 0; i < 3; i++) {
      monitor.ingest([gauge('temp', 90)], T0 + i * STEP);
      await monitor.evaluate(T0 + i * STEP);
    }
    expect(sent).toHaveLength(0);
    expect(monitor.active()[0]?.state).toBe('firing');
    amFiring = false;
    monitor.ingest([gauge('temp', 90)], T0 + 3 * STEP);
    await monitor.evaluate(T0 + 3 * STEP);
    expect(sent.map((a) => a.status)).toEqual(['firing']);
  });
});

describe('expressions', () => {
  it('rate: a counter\'s per-second rate over the window, across a counter reset', async () => {
    const { sent, cycle, monitor } = setup('monitors:\n  - alert: Fast\n    expr: { rate: { metric: reqs_total, window: 30s } }\n    above: 6\n');
    const values = [10, 20, 30, 40, 5, 100, 200]; // 2/s, then a restart (40 -> 5) and a burst
    for (const [i, v] of values.slice(0, 6).entries()) await cycle(i, [gauge('reqs_total', v)]);
    expect(sent).toHaveLength(0); // (10+10+10+5+95) / 25 s = 5.2/s
    await cycle(6, [gauge('reqs_total', values[6] as number)]);
    expect(sent).toHaveLength(1); // (130+100) / 30 s = 7.7/s: the reset counted as a restart, not a drop
    expect(monitor.active()[0]?.value).toBeCloseTo(230 / 30, 5);
  });

  it('ratio: error rate per service from two rates, aggregated by service', async () => {
    const { sent, cycle } = setup(`
monitors:
  - alert: Errors
    expr:
      ratio:
        numerator: { rate: { metric: http_requests_total, match: ['status_code =~ "5.."'], window: 1m, agg: sum, by: [service] } }
        denominator: { rate: { metric: http_requests_total, window: 1m, agg: sum, by: [service] } }
    above: 0.15
`);
    for (let i = 0; i <= 6; i++) {
      const n = i * 100;
      await cycle(i, [
        {
          name: 'http_requests_total',
          samples: [
            { labels: { service: 'api', status_code: '200' }, value: n * 0.7 },
            { labels: { service: 'api', status_code: '503' }, value: n * 0.2 },
            { labels: { service: 'api', status_code: '500' }, value: n * 0.1 },
            { labels: { service: 'web', status_code: '200' }, value: n * 0.95 },
            { labels: { service: 'web', status_code: '500' }, value: n * 0.05 },
          ],
        },
      ]);
    }
    expect(sent.map((a) => a.labels.service)).toEqual(['api']);
    expect(Number(sent[0]?.annotations.value)).toBeCloseTo(0.3, 5);
  });

  it('quantile: p99 from histogram buckets over a window', async () => {
    const { sent, cycle, monitor } = setup(`
monitors:
  - alert: Slow
    expr: { quantile: { metric: http_request_duration_seconds, q: 0.99, window: 1m, by: [service] } }
    above: 5
`);
    for (let i = 0; i <= 6; i++) {
      const n = i * 100; // per step: 90 fast requests, 10 slow ones (5-10 s)
      await cycle(i, [
        {
          name: 'http_request_duration_seconds_bucket',
          samples: [
            { labels: { service: 'api', le: '0.1' }, value: n * 0.9 },
            { labels: { service: 'api', le: '1' }, value: n * 0.9 },
            { labels: { service: 'api', le: '5' }, value: n * 0.9 },
            { labels: { service: 'api', le: '10' }, value: n },
            { labels: { service: 'api', le: '+Inf' }, value: n },
          ],
        },
      ]);
    }
    expect(sent).toHaveLength(1);
    expect(monitor.active()[0]?.value).toBeCloseTo(9.5, 5);
    expect(histogramQuantile(0.5, [{ le: 1, count: 10 }, { le: Number.POSITIVE_INFINITY, count: 10 }])).toBeCloseTo(0.5);
  });

  it('aggregations: sum, avg, max and min by labels', async () => {
    const { monitor, cycle } = setup(`
monitors:
  - alert: S
    expr: { value: { metric: m, agg: sum, by: [g] } }
    above: 0
  - alert: A
    expr: { value: { metric: m, agg: avg } }
    above: 0
  - alert: X
    expr: { value: { metric: m, agg: max } }
    above: 0
  - alert: N
    expr: { value: { metric: m, agg: min } }
    above: 0
`);
    await cycle(0, [{ name: 'm', samples: [{ labels: { g: 'a', i: '1' }, value: 1 }, { labels: { g: 'a', i: '2' }, value: 3 }, { labels: { g: 'b', i: '3' }, value: 8 }] }]);
    const v = Object.fromEntries(monitor.active().map((a) => [`${a.alertname}${a.labels.g ?? ''}`, a.value]));
    expect(v).toEqual({ Sa: 4, Sb: 8, A: 4, X: 8, N: 1 });
  });
});

describe('trend and forecast', () => {
  it('fires on the forecast before the threshold is crossed, and says so in the annotations', async () => {
    const { sent, cycle, registry } = setup(`
monitors:
  - alert: DiskFillingUp
    expr: { value: { metric: avail_bytes, by: [mountpoint], agg: sum } }
    forecast: { window: 10m, horizon: 1h }
    below: 0
`);
    // 1 GB free, losing 200 kB/s: empty in ~83 min; the 1 h forecast crosses zero at ~23 min.
    let fired = -1;
    for (let i = 0; i <= 400 && fired < 0; i++) {
      const avail = 1e9 - 200_000 * (i * STEP) / 1000;
      await cycle(i, [gauge('avail_bytes', avail, { mountpoint: '/' })]);
      if (sent.length) fired = i;
    }
    const firedAtSeconds = (fired * STEP) / 1000;
    expect(firedAtSeconds).toBeGreaterThan(20 * 60);
    expect(firedAtSeconds).toBeLessThan(30 * 60);
    expect(sent[0]?.annotations.forecast).toMatch(/in 3600s \(linear fit over 600s\)/);
    expect(Number(sent[0]?.annotations.value)).toBeGreaterThan(0); // still free space when it fired
    expect(await registry.getSingleMetricAsString('promedic_monitor_trend_slope')).toMatch(/alertname="DiskFillingUp".* -200000/);
  });

  it('predict_linear matches Prometheus on a straight line', () => {
    const pts = Array.from({ length: 10 }, (_, i) => ({ t: T0 + i * 1000, v: 100 - 2 * i }));
    expect(predictLinear(pts, T0 + 9000, 10)).toBeCloseTo(100 - 2 * 9 - 20, 6);
  });

  it('a stable value never fires its forecast', async () => {
    const { sent, cycle } = setup('monitors:\n  - alert: D\n    expr: { value: { metric: a } }\n    forecast: { window: 5m, horizon: 4h }\n    below: 0\n');
    for (let i = 0; i < 200; i++) await cycle(i, [gauge('a', 5e8 + (i % 2) * 1000)]);
    expect(sent).toHaveLength(0);
  });
});

describe('rules', () => {
  it('the bundled monitors load, and overrides change their thresholds', () => {
    const dirPath = join(ROOT, 'rules', 'monitors');
    const { rules, errors } = loadMonitors(dirPath, { HighCPUUsage: { above: 0.5, for: '5s' }, TooManyConnections: { disabled: true } });
    expect(errors).toEqual([]);
    const cpu = rules.find((r) => r.alert === 'HighCPUUsage');
    expect(cpu).toMatchObject({ threshold: 0.5, forMs: 5000 });
    expect(rules.some((r) => r.alert === 'TooManyConnections')).toBe(false);
    expect(loadMonitors(dirPath, { Nope: { above: 1 } }).errors[0]).toMatch(/monitor\.overrides\.Nope: no monitor of that name/);
  });

  it('reports bad monitors with file:line', () => {
    writeFileSync(join(dir.path, 'bad.yml'), 'monitors:\n  - alert: X\n    expr: { rate: { metric: m } }\n    above: 1\n  - alert: Y\n    expr: { value: { metric: m } }\n    above: 1\n    below: 2\n');
    const { errors } = loadMonitors(dir.path);
    expect(errors).toEqual([
      expect.stringMatching(/bad\.yml:3: monitors\.0\.expr\.rate\.window: is required/),
      expect.stringMatching(/bad\.yml:5: monitors\.1: needs exactly one of above or below/),
    ]);
  });
});
