/**
 * Fleet mode, for real: three promedic processes (alpha and charlie with role db, bravo with
 * role web) on their own loopback ports and data dirs, and one real Alertmanager whose one
 * receiver fans every alert out to all three (one webhook_config each). Each promedic acts only
 * on the alerts in its scope and records the others as out of scope; when bravo is killed,
 * Alertmanager retries bravo alone, and bravo acts once when it is back.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EpisodeRecord, RunRecord } from '../../src/store/types.js';
import { type Running, killAll, rawRequest, recordingServer, requireBinary, startCli, story, tempDir, waitFor } from '../helpers/index.js';
import { type Proc, freePort, startAlertmanager, tail } from '../helpers/stack.js';

const TOKEN = 'fleet-e2e-token-0123456789abcdef';
const bin = requireBinary('prometheus-alertmanager', 'prometheus-alertmanager');

type Name = 'alpha' | 'bravo' | 'charlie';
const ROLES: Record<Name, string> = { alpha: 'db', bravo: 'web', charlie: 'db' };
const NAMES: Name[] = ['alpha', 'bravo', 'charlie'];

describe.runIf(bin)('fleet: three promedic hosts behind one Alertmanager', () => {
  let dir: { path: string; cleanup: () => void };
  let app: Awaited<ReturnType<typeof recordingServer>>;
  let am: Proc | null = null;
  const ports = {} as Record<Name, number>;
  const hosts = {} as Record<Name, Running | null>;
  const step = story();
  const auth = { authorization: `Bearer ${TOKEN}` };

  const instanceOf = (n: Name) => `${n}:${ports[n]}`;
  const cwdOf = (n: Name) => join(dir.path, n);
  const start = async (n: Name) => {
    hosts[n] = await startCli(['--port', String(ports[n])], { cwd: cwdOf(n), env: { PROMEDIC_INSTANCE: instanceOf(n) } });
  };
  const api = async <T,>(n: Name, path: string): Promise<T> => JSON.parse((await rawRequest(`http://127.0.0.1:${ports[n]}${path}`, { headers: auth })).body) as T;
  const episodes = async (n: Name, alertname: string) =>
    (await api<{ firing_episodes: EpisodeRecord[] }>(n, '/api/v1/alerts')).firing_episodes.filter((e) => e.alertname === alertname);
  const runs = async (n: Name) => (await api<{ runs: RunRecord[] }>(n, '/api/v1/runs?limit=100')).runs;
  const calls = (n: Name, what: string) => app.calls.filter((c) => c.url.startsWith(`/${n}/${what}`));
  const fire = async (labels: Record<string, string>) => {
    const res = await fetch(`${am?.url}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ labels, annotations: {}, startsAt: new Date().toISOString() }]),
    });
    expect(res.status).toBe(200);
  };

  beforeAll(async () => {
    dir = tempDir();
    app = await recordingServer(() => 200);
    for (const n of NAMES) ports[n] = await freePort();
    const tokenFile = join(dir.path, 'promedic.token');
    writeFileSync(tokenFile, `${TOKEN}\n`);
    for (const n of NAMES) {
      mkdirSync(join(cwdOf(n), 'rules', 'playbooks'), { recursive: true });
      writeFileSync(
        join(cwdOf(n), 'promedic.yml'),
        [
          'log: { level: info }',
          'collection: { interval: 1h }',
          'monitor: { enabled: false }',
          `auth: { token_file: ${tokenFile} }`,
          'listen: { address: 127.0.0.1 }',
          `instance_labels: { role: ${ROLES[n]} }`,
          'fleet: { enabled: true }',
          'scope: { instance: self }',
        ].join('\n'),
      );
      // Each host's playbooks call the app under its own name, so the app can tell who acted.
      writeFileSync(
        join(cwdOf(n), 'rules', 'playbooks', 'fleet.yml'),
        `playbooks:
  - name: restart-service
    match: ['alertname = "ServiceDown"']
    # the global scope (instance: self)
    strategies:
      - steps: [ { http: { method: POST, url: "${app.url}/${n}/restart/{{ labels.instance }}" } } ]
    verify: { within: 10m }
  - name: clean-db-disk
    match: ['alertname = "DbDiskFull"']
    scope: { labels: { role: self } }
    strategies:
      - steps: [ { http: { method: POST, url: "${app.url}/${n}/clean" } } ]
    verify: { within: 10m }
`,
      );
    }
    const amConfig = `route:
  receiver: promedic-fleet
  group_by: [alertname, instance]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: promedic-fleet
    webhook_configs:
${NAMES.map(
  (n) => `      - url: http://127.0.0.1:${ports[n]}/webhook/alertmanager
        send_resolved: true
        http_config: { authorization: { type: Bearer, credentials_file: ${tokenFile} } }`,
).join('\n')}
`;
    am = await startAlertmanager(bin as string, join(dir.path, 'am'), amConfig);
    for (const n of NAMES) await start(n);
  }, 90_000);

  afterAll(async () => {
    await killAll();
    await am?.stop();
    await app?.close();
    dir?.cleanup();
  });

  it('an alert for bravo runs on bravo only; alpha and charlie record it as out of scope', async (ctx) => {
    step(ctx);
    await fire({ alertname: 'ServiceDown', instance: `bravo:9100`, job: 'node' });
    await waitFor(() => calls('bravo', 'restart').length === 1, 20_000, 'bravo to act');
    for (const n of ['alpha', 'charlie'] as const) {
      const [ep] = await waitFor(async () => {
        const e = await episodes(n, 'ServiceDown');
        return e.length ? e : null;
      }, 10_000, `${n} to record the alert`);
      expect(ep?.outOfScope).toMatch(/instance bravo:9100 is not this host/);
      const m = await (await fetch(`http://127.0.0.1:${ports[n]}/metrics`)).text();
      expect(m).toMatch(/promedic_alerts_received_total\{[^}]*outcome="out_of_scope"[^}]*\} 1/);
    }
    expect((await episodes('bravo', 'ServiceDown'))[0]?.outOfScope).toBeUndefined();
    expect(calls('bravo', 'restart')[0]?.url).toBe('/bravo/restart/bravo%3A9100');
    await new Promise((r) => setTimeout(r, 1500)); // a group_interval more: nothing else acts
    expect(calls('alpha', '')).toHaveLength(0);
    expect(calls('charlie', '')).toHaveLength(0);
    expect(await runs('alpha')).toHaveLength(0);
    const status = await api<{ instance: { name: string; labels: Record<string, string> }; alerts: { out_of_scope: number } }>('alpha', '/api/v1/status');
    expect(status.instance).toMatchObject({ name: instanceOf('alpha'), labels: { role: 'db' } });
    expect(status.alerts.out_of_scope).toBe(1);
  }, 60_000);

  it("a fleet-wide alert (no instance) follows the playbook's scope: every db host acts, the web host does not", async (ctx) => {
    step(ctx);
    await fire({ alertname: 'DbDiskFull', role: 'db' });
    await waitFor(() => calls('alpha', 'clean').length === 1 && calls('charlie', 'clean').length === 1, 20_000, 'alpha and charlie to act');
    const [ep] = await waitFor(async () => {
      const e = await episodes('bravo', 'DbDiskFull');
      return e.length ? e : null;
    }, 10_000, 'bravo to record the alert');
    expect(ep?.outOfScope).toMatch(/role db is not this host's role \(web\)/);
    await new Promise((r) => setTimeout(r, 1500));
    expect(calls('bravo', 'clean')).toHaveLength(0);
  }, 60_000);

  it('with bravo killed, Alertmanager retries bravo alone; bravo acts once when it is back', async (ctx) => {
    step(ctx);
    hosts.bravo?.child.kill('SIGKILL');
    await hosts.bravo?.exited;
    hosts.bravo = null;
    await fire({ alertname: 'ServiceDown', instance: 'bravo:9100', job: 'node', attempt: '2' });
    // alpha and charlie get it (and leave it); bravo's delivery fails and is retried.
    for (const n of ['alpha', 'charlie'] as const) {
      await waitFor(async () => (await episodes(n, 'ServiceDown')).some((e) => e.labels.attempt === '2'), 10_000, `${n} to record the second alert`);
    }
    await waitFor(
      async () => {
        const m = await (await fetch(`${am?.url}/metrics`)).text();
        const failed = /alertmanager_notifications_failed_total\{[^}]*integration="webhook"[^}]*\} (\d+)/.exec(m);
        return failed && Number(failed[1]) >= 2;
      },
      20_000,
      "Alertmanager to fail (and retry) bravo's delivery",
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${tail(am?.output() ?? '', 3000)}`);
    });
    await start('bravo');
    await waitFor(() => calls('bravo', 'restart').length === 2, 30_000, 'bravo to act on the retried delivery').catch((err: unknown) => {
      throw new Error(`${String(err)}\n${tail(am?.output() ?? '', 3000)}`);
    });
    await new Promise((r) => setTimeout(r, 3000)); // further flushes and retries: bravo acts once
    expect(calls('bravo', 'restart')).toHaveLength(2);
    expect((await runs('bravo')).filter((r) => r.target.attempt === '2')).toHaveLength(1);
    // alpha and charlie got the second alert once each: Alertmanager retried bravo only.
    for (const n of ['alpha', 'charlie'] as const) {
      const e = (await episodes(n, 'ServiceDown')).find((x) => x.labels.attempt === '2');
      expect(e?.deliveries, n).toBe(1);
      expect(e?.outOfScope).toBeDefined();
    }
    expect(calls('alpha', '')).toHaveLength(1); // its clean-db-disk run only
    expect(calls('charlie', '')).toHaveLength(1);
  }, 90_000);
});
