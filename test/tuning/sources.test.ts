/**
 * Metric sources of tuning experiments: a real Prometheus (Debian's package) scraping a real
 * HTTP app, and the embedded monitor's series store. One value per interval, or a clear error.
 */
import { type Server, createServer } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SeriesStore } from '../../src/monitor/expr.js';
import { monitorSource, promqlSource } from '../../src/tuning/sources.js';
import { requireBinary, tempDir, waitFor } from '../helpers/index.js';
import { type Proc, promQuery, startPrometheus } from '../helpers/stack.js';

const PROMETHEUS = requireBinary('prometheus', 'prometheus');
const signal = () => AbortSignal.timeout(10_000);

describe('the embedded monitor as a source', () => {
  it('gives one value per call, and names the problem when there is none or several', async () => {
    const store = new SeriesStore();
    store.want('app_latency_seconds', 60_000);
    const now = Date.now();
    store.add('app_latency_seconds', { service: 'a' }, now - 1000, 0.4);
    store.add('app_latency_seconds', { service: 'b' }, now - 1000, 0.9);
    const max = monitorSource(store, { kind: 'value', metric: 'app_latency_seconds', matchers: [], agg: 'max' }, 30_000, 'p99 latency');
    expect(await max(signal())).toBe(0.9);
    const each = monitorSource(store, { kind: 'value', metric: 'app_latency_seconds', matchers: [] }, 30_000, 'p99 latency');
    await expect(each(signal())).rejects.toThrow('p99 latency: 2 series, one value needed (aggregate it: agg: max)');
    const none = monitorSource(store, { kind: 'value', metric: 'app_other', matchers: [] }, 30_000, 'errors');
    await expect(none(signal())).rejects.toThrow('errors: no data');
  });
});

describe.runIf(PROMETHEUS)('Prometheus as a source', () => {
  let dir: { path: string; cleanup: () => void };
  let app: Server;
  let prom: Proc | null = null;
  let latency = 0.25;

  beforeAll(async () => {
    dir = tempDir();
    app = createServer((_req, res) => {
      res.setHeader('content-type', 'text/plain; version=0.0.4');
      res.end(`# TYPE demo_latency_seconds gauge\ndemo_latency_seconds{route="/a"} ${latency}\ndemo_latency_seconds{route="/b"} ${latency / 2}\n`);
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
    const port = (app.address() as { port: number }).port;
    prom = await startPrometheus(
      PROMETHEUS as string,
      join(dir.path, 'prom'),
      `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['127.0.0.1:${port}']\n`,
    );
    await waitFor(async () => (await promQuery(prom?.url as string, 'demo_latency_seconds')).length === 2, 30_000, 'the first scrape');
  }, 60_000);

  afterAll(async () => {
    await prom?.stop();
    await new Promise((r) => app?.close(r));
    dir?.cleanup();
  });

  it('reads one value per interval and follows the app', async () => {
    const src = promqlSource(`${prom?.url}/`, 'max(demo_latency_seconds)');
    expect(await src(signal())).toBe(0.25);
    latency = 0.75;
    await waitFor(async () => (await src(signal())) === 0.75, 20_000, 'Prometheus to see the new value');
    expect(await promqlSource(prom?.url as string, 'scalar(max(demo_latency_seconds))')(signal())).toBe(0.75);
  }, 30_000);

  it('refuses several series, no data and bad PromQL, naming the query', async () => {
    await expect(promqlSource(prom?.url as string, 'demo_latency_seconds')(signal())).rejects.toThrow(/^query demo_latency_seconds: 2 series, one value needed \(aggregate it, e\.g\. max\(\.\.\.\)\)/);
    await expect(promqlSource(prom?.url as string, 'max(absent_metric)')(signal())).rejects.toThrow('query max(absent_metric): no data');
    await expect(promqlSource(prom?.url as string, 'max(')(signal())).rejects.toThrow(/^query max\(: .*parse error/);
  });
});
