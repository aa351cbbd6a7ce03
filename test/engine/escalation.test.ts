/**
 * Escalation: a playbook that cannot fix an alert raises PromedicRemediationFailed in the
 * configured Alertmanager (API v2), resolved when the original alert resolves. Real HTTP on
 * 127.0.0.1 for the webhook, the app and the Alertmanager stand-in (the real Alertmanager is
 * exercised in test/e2e/closed-loop.test.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { type Service, startService } from '../../src/main.js';
import { amPayload, parseExposition, rawRequest, recordingServer, tempDir, waitFor } from '../helpers/index.js';

const TOKEN = 'test-token-0123456789abcdef';
let dir: { path: string; cleanup: () => void };
let app: Awaited<ReturnType<typeof recordingServer>>;
let am: Awaited<ReturnType<typeof recordingServer>>;
let svc: Service | null = null;

beforeEach(async () => {
  dir = tempDir();
  // The app's fix endpoint always fails: nothing the playbook does can work.
  app = await recordingServer(() => 500);
  am = await recordingServer(() => 200);
  mkdirSync(join(dir.path, 'rules', 'playbooks'), { recursive: true });
  writeFileSync(
    join(dir.path, 'rules', 'playbooks', 'db.yml'),
    `
name: db-reset
match: ['alertname = "DbDown"']
target: [alertname, service]
strategies:
  - name: reset
    steps:
      - name: reset pool
        http: { method: POST, url: "${app.url}/admin/db/reset" }
  - name: health
    steps:
      - name: health check
        http: { method: GET, url: "${app.url}/admin/health" }
verify: { within: 2s }
`,
  );
  const config = loadConfig({
    cwd: dir.path,
    env: { PROMEDIC_TOKEN: TOKEN, PROMEDIC_LISTEN_ADDRESS: '127.0.0.1', PROMEDIC_ALERTMANAGER_URL: `${am.url}/` },
    flags: { port: '0', 'log-level': 'silent', 'collection-interval': '1h' },
  });
  svc = await startService(config, pino({ level: 'silent' }));
});

afterEach(async () => {
  await svc?.stop();
  svc = null;
  await app.close();
  await am.close();
  dir.cleanup();
});

const post = (status: 'firing' | 'resolved') =>
  rawRequest(`${svc?.url}/webhook/alertmanager`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify(amPayload([{ labels: { alertname: 'DbDown', service: 'billing', instance: 'db-1' }, startsAt: '2026-11-27T10:00:00Z' }], status)),
  });

interface AmAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
}

it('raises PromedicRemediationFailed in Alertmanager when every strategy fails, and resolves it with the alert', async () => {
  expect((await post('firing')).status).toBe(202);
  const first = await waitFor(() => am.calls.find((c) => c.method === 'POST'), 20_000, 'the escalation');
  expect(first.url).toBe('/api/v2/alerts');
  const [alert] = JSON.parse(first.body) as AmAlert[];
  expect(alert?.labels).toEqual({
    alertname: 'PromedicRemediationFailed',
    failed_alertname: 'DbDown',
    service: 'billing',
    playbook: 'db-reset',
    severity: 'warning',
    source: 'promedic',
  });
  expect(alert?.annotations.summary).toBe('promedic could not fix DbDown service=billing');
  expect(alert?.annotations.description).toMatch(/^Playbook db-reset tried every strategy and none worked: reset: step "reset pool" failed: .*500.*; health: step "health check" failed/);
  const run = (svc as Service).ctx.store.mem.runs.get(alert?.annotations.run_id ?? '');
  expect(run?.strategy).toBe('health');
  // Active: endsAt lies ahead, so Alertmanager keeps it firing until promedic resolves it.
  expect(Date.parse(alert?.endsAt ?? '')).toBeGreaterThan(Date.now());

  const metrics = parseExposition((await (await fetch(`${svc?.url}/metrics`)).text()));
  expect(metrics.get('promedic_escalations_total')).toEqual([{ labels: '{playbook="db-reset",reason="failed"}', value: 1 }]);

  expect((await post('resolved')).status).toBe(202);
  const second = await waitFor(() => am.calls.filter((c) => c.method === 'POST')[1], 10_000, 'the resolution');
  const [resolved] = JSON.parse(second.body) as AmAlert[];
  expect(resolved?.labels).toEqual(alert?.labels);
  expect(resolved?.startsAt).toBe(alert?.startsAt);
  expect(Date.parse(resolved?.endsAt ?? '')).toBeLessThanOrEqual(Date.now());
}, 30_000);
