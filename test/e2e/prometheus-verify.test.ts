/**
 * Verification by PromQL against the real Prometheus (Debian's package): a playbook's fix is
 * kept only when Prometheus sees the metric recover, and rolled back when it does not.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTIONS } from '../../src/actions/index.js';
import { loadConfig } from '../../src/config.js';
import { type Service, startService } from '../../src/main.js';
import type { RunRecord } from '../../src/store/types.js';
import { amPayload, rawRequest, requireBinary, tempDir, waitFor } from '../helpers/index.js';
import { type Proc, promQuery, startPrometheus, tail } from '../helpers/stack.js';

const TOKEN = 'prometheus-e2e-token-0123456789';
const bin = requireBinary('prometheus', 'prometheus');

describe.runIf(bin)('verification against a real Prometheus', () => {
  let dir: { path: string; cleanup: () => void };
  let prom: Proc | null = null;
  let promUrl = '';
  let app: Server;
  let appPort = 0;
  // The app's error gauge per service; PUT /fix/<service> zeroes it unless the service is "stubborn".
  const errors: Record<string, number> = { billing: 7, stubborn: 7 };
  const calls: string[] = [];
  let svc: Service;

  beforeAll(async () => {
    dir = tempDir();
    app = createServer((req, res) => {
      calls.push(`${req.method} ${req.url}`);
      const fix = /^\/fix\/(\w+)$/.exec(req.url ?? '');
      if (req.method === 'PUT' && fix) {
        if (fix[1] !== 'stubborn') errors[fix[1] as string] = 0;
        res.end('ok');
        return;
      }
      if (req.method === 'PUT' && req.url?.startsWith('/undo/')) {
        res.end('ok');
        return;
      }
      res.setHeader('content-type', 'text/plain; version=0.0.4');
      res.end(`# TYPE demo_db_errors gauge\n${Object.entries(errors).map(([s, v]) => `demo_db_errors{service="${s}"} ${v}`).join('\n')}\n`);
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
    appPort = (app.address() as { port: number }).port;

    prom = await startPrometheus(
      bin as string,
      join(dir.path, 'prom'),
      `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['127.0.0.1:${appPort}']\n`,
    );
    promUrl = prom.url;
    // The first scrape in (Prometheus hands out targets on a 5 s tick).
    await waitFor(
      async () => (await promQuery(promUrl, 'demo_db_errors')).length === 2,
      30_000,
      'Prometheus to scrape the app',
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${tail(prom?.output() ?? '', 2000)}`);
    });

    mkdirSync(join(dir.path, 'rules', 'playbooks'), { recursive: true });
    writeFileSync(
      join(dir.path, 'rules', 'playbooks', 'db.yml'),
      `
name: db-errors
match: ['alertname = "DbErrors"']
target: [alertname, service]
strategy_policy: first_only
strategies:
  - steps:
      - name: fix
        http: { method: PUT, url: "http://127.0.0.1:${appPort}/fix/{{ labels.service }}" }
        undo: { http: { method: PUT, url: "http://127.0.0.1:${appPort}/undo/{{ labels.service }}" } }
verify:
  resolved: false
  within: 8s
  query:
    expr: 'max(demo_db_errors{service="{{ labels.service }}"})'
    condition: { op: '==', value: 0 }
`,
    );
    const config = loadConfig({
      cwd: dir.path,
      env: { PROMEDIC_TOKEN: TOKEN, PROMEDIC_LISTEN_ADDRESS: '127.0.0.1', PROMEDIC_PROMETHEUS_URL: promUrl },
      flags: { port: '0', 'log-level': 'silent', 'collection-interval': '1h' },
    });
    svc = await startService(config, pino({ level: 'silent' }));
  }, 60_000);

  afterAll(async () => {
    await svc?.stop();
    await prom?.stop();
    await new Promise((r) => app?.close(r));
    dir?.cleanup();
  });

  const post = (service: string) =>
    rawRequest(`${svc.url}/webhook/alertmanager`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(amPayload([{ labels: { alertname: 'DbErrors', service } }])),
    });
  const runFor = (service: string) => [...svc.ctx.store.mem.runs.values()].find((r: RunRecord) => r.target.service === service);

  it('keeps a fix once Prometheus sees the metric recover', async () => {
    expect((await post('billing')).status).toBe(202);
    const run = await waitFor(() => (runFor('billing')?.status === 'succeeded' ? runFor('billing') : null), 20_000, 'the run to verify');
    expect(run.verification).toMatchObject({ method: 'query', outcome: 'ok' });
    expect(run.verification?.detail).toMatch(/max\(demo_db_errors\{service="billing"\}\) -> \[0\]/);
    expect(calls).toContain('PUT /fix/billing');
    expect(calls).not.toContain('PUT /undo/billing');
  }, 30_000);

  it('rolls a fix back when Prometheus never sees the metric recover', async () => {
    expect((await post('stubborn')).status).toBe(202);
    const run = await waitFor(() => (runFor('stubborn')?.status === 'failed' ? runFor('stubborn') : null), 20_000, 'the run to fail');
    expect(run.verification?.outcome).toBe('failed');
    expect(run.verification?.detail).toMatch(/query did not hold within 8s.*-> \[7\]/);
    expect(run.rollback?.map((s) => s.outcome)).toEqual(['ok']);
    expect(calls).toContain('PUT /undo/stubborn');
  }, 30_000);

  it('a query holding hostile label values (NUL, CR/LF, quotes, 200 KB) reaches Prometheus as one string literal (POSTed, escaped)', async () => {
    const query = ACTIONS.get('query');
    const ctx = { signal: new AbortController().signal, logger: pino({ level: 'silent' }), prometheusUrl: promUrl };
    const evil = `billing"} or vector(1) # \u0000\r\n\\ \x7f ü`;
    for (const v of [evil, evil.repeat(Math.ceil(200_000 / evil.length))]) {
      const vars = { labels: { service: v }, annotations: {}, alert: {}, run: {}, playbook: {}, env: {} };
      // No series has that service: the result is empty; had the value escaped, vector(1) would answer.
      const rendered = query?.render({ expr: 'max(demo_db_errors{service="{{ labels.service }}"})', condition: { empty: true } }, vars);
      await expect(query?.run(rendered, ctx)).resolves.toBeDefined();
    }
    // And the ordinary value is found, through the same POST.
    const found = query?.render({ expr: 'demo_db_errors{service="{{ labels.service }}"}', condition: { empty: false } }, { labels: { service: 'billing' }, annotations: {}, alert: {}, run: {}, playbook: {}, env: {} });
    await expect(query?.run(found, ctx)).resolves.toBeDefined();
  });
});
