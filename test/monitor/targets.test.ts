/**
 * The monitor scrapes a real target (an app instrumented with prom-client on 127.0.0.1) and
 * fires the bundled HighErrorRate and HighLatency monitors for it, labelled with its name.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { join } from 'node:path';
import { pino } from 'pino';
import { Counter, Histogram, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { type Service, startService } from '../../src/main.js';
import { amPayload, rawRequest, tempDir, waitFor } from '../helpers/index.js';

const TOKEN = 'targets-test-token-0123456789';
let dir: { path: string; cleanup: () => void } | null = null;
let svc: Service | null = null;
let app: Server | null = null;

afterEach(async () => {
  await svc?.stop();
  svc = null;
  await new Promise((r) => (app ? app.close(r) : r(null)));
  app = null;
  dir?.cleanup();
});

/**
 * A prom-client app on 127.0.0.1 failing 40 % of its requests with a slow tail, scraped as target
 * `checkout` by a promedic config with the bundled monitors and a 500 ms cycle.
 */
async function appAndConfig(env: Record<string, string> = {}) {
  dir = tempDir();
  // The app: prom-client metrics with the names the bundled monitors read.
  const reg = new Registry();
  const requests = new Counter({ name: 'http_requests_total', help: 'requests', labelNames: ['route', 'status_code'], registers: [reg] });
  const duration = new Histogram({ name: 'http_request_duration_seconds', help: 'latency', labelNames: ['route'], buckets: [0.1, 1, 5, 10], registers: [reg] });
  const traffic = setInterval(() => {
    requests.inc({ route: '/pay', status_code: '200' }, 60);
    requests.inc({ route: '/pay', status_code: '503' }, 40);
    duration.observe({ route: '/pay' }, 0.05);
    duration.observe({ route: '/pay' }, 8); // a slow tail: p99 lands in the 5-10 s bucket
  }, 100);
  app = createServer(async (_req, res) => {
    res.setHeader('content-type', reg.contentType);
    res.end(await reg.metrics());
  });
  app.on('close', () => clearInterval(traffic));
  await new Promise<void>((r) => app?.listen(0, '127.0.0.1', () => r()));
  const appUrl = `http://127.0.0.1:${(app.address() as { port: number }).port}/metrics`;

  mkdirSync(join(dir.path, 'rules', 'monitors'), { recursive: true });
  mkdirSync(join(dir.path, 'rules', 'playbooks'), { recursive: true });
  writeFileSync(join(dir.path, 'rules', 'monitors', 'default.yml'), readFileSync(new URL('../../rules/monitors/default.yml', import.meta.url)));
  const config = loadConfig({
    cwd: dir.path,
    env: { PROMEDIC_TOKEN: TOKEN, PROMEDIC_LISTEN_ADDRESS: '127.0.0.1', ...env },
    flags: { port: '0', 'log-level': 'silent', 'collection-interval': '500ms', rules: join(dir.path, 'rules') },
  });
  config.targets = [{ name: 'checkout', url: appUrl, interval: '500ms' }];
  return config;
}

describe('monitored targets', () => {
  it('fires HighErrorRate and HighLatency for a scraped app, and resolves them when it goes away', async () => {
    const config = await appAndConfig();
    config.monitor.overrides = { HighErrorRate: { for: '1s' }, HighLatency: { for: '1s' } };
    svc = await startService(config, pino({ level: 'silent' }));
    const alerts = async () =>
      JSON.parse((await rawRequest(`${svc?.url}/api/v1/alerts`, { headers: { authorization: `Bearer ${TOKEN}` } })).body) as {
        monitor: Array<{ alertname: string; state: string; labels: Record<string, string>; value: number }>;
      };
    const firing = (name: string) => async () => (await alerts()).monitor.find((a) => a.alertname === name && a.state === 'firing');

    const err = await waitFor(firing('HighErrorRate'), 20_000, 'HighErrorRate');
    expect(err.labels).toMatchObject({ service: 'checkout', category: 'api', source: 'promedic' });
    expect(err.value).toBeCloseTo(0.4, 1);
    const lat = await waitFor(firing('HighLatency'), 20_000, 'HighLatency');
    expect(lat.labels.service).toBe('checkout');
    expect(lat.value).toBeGreaterThan(5);
    expect((await (await fetch(`${svc.url}/metrics`)).text())).toMatch(/^promedic_target_up\{target="checkout"\} 1$/m);

    // The app goes away: its series go stale and the alerts resolve.
    await new Promise((r) => app?.close(r));
    app = null;
    await waitFor(async () => (await alerts()).monitor.length === 0, 20_000, 'the alerts to resolve');
    expect((await (await fetch(`${svc.url}/metrics`)).text())).toMatch(/^promedic_target_up\{target="checkout"\} 0$/m);
    const episodes = [...svc.ctx.store.mem.episodes.values()].filter((e) => e.labels.service === 'checkout');
    expect(episodes.map((e) => [e.alertname, e.status]).sort()).toEqual([
      ['HighErrorRate', 'resolved'],
      ['HighLatency', 'resolved'],
    ]);
  }, 60_000);
  it("defers to Alertmanager only for alerts about this host: another host's alert of the same name does not silence it", async () => {
    const config = await appAndConfig({ PROMEDIC_INSTANCE: '127.0.0.1:9477' });
    config.monitor.overrides = { HighErrorRate: { for: '1s' } };
    config.monitor.defer_to_alertmanager = true;
    config.scope = { instance: 'self' };
    svc = await startService(config, pino({ level: 'silent' }));
    // Alertmanager reports HighErrorRate on another host: recorded here as out of scope.
    const res = await rawRequest(`${svc.url}/webhook/alertmanager`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(amPayload([{ labels: { alertname: 'HighErrorRate', instance: 'db-9:9477', service: 'checkout' } }])),
    });
    expect(res.status).toBe(202);
    const episodes = () => [...(svc as Service).ctx.store.mem.episodes.values()].filter((e) => e.alertname === 'HighErrorRate');
    expect(episodes().map((e) => [e.source, e.outOfScope !== undefined])).toEqual([['alertmanager', true]]);
    // This host's own HighErrorRate still goes out from the monitor.
    const own = await waitFor(() => episodes().find((e) => e.source === 'promedic'), 20_000, "the monitor's own HighErrorRate");
    expect(own.outOfScope).toBeUndefined();
    expect(own.labels.service).toBe('checkout');
  }, 60_000);
});
