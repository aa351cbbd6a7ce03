/**
 * Learning in the running service: outcomes of verified runs reorder a playbook's strategies
 * per signature, the evidence survives a restart, chronic signatures are escalated once and
 * start their preventive playbook, and the API, the metrics and `promedic simulate` explain it.
 * Real HTTP on 127.0.0.1 (webhook, the app the playbook calls, an Alertmanager stand-in), real
 * store files. The statistics themselves are tested in test/learning/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { type Service, startService } from '../../src/main.js';
import type { RunRecord } from '../../src/store/types.js';
import { amPayload, parseExposition, rawRequest, recordingServer, runCli, tempDir, waitFor } from '../helpers/index.js';

const TOKEN = 'test-token-0123456789abcdef';
let dir: { path: string; cleanup: () => void };
let app: Awaited<ReturnType<typeof recordingServer>>;
let am: Awaited<ReturnType<typeof recordingServer>>;
let svc: Service | null = null;

/** Strategy "restart-worker" (listed first) never fixes the alert; "clear-queue" does. */
const PLAYBOOK = (appUrl: string) => `
name: queue-stuck
match: ['alertname = "QueueStuck"']
target: [alertname, service]
cooldown: 0s
strategies:
  - name: restart-worker
    steps:
      - name: restart
        http: { method: POST, url: "${appUrl}/restart/{{ labels.service }}" }
  - name: clear-queue
    steps:
      - name: clear
        http: { method: POST, url: "${appUrl}/clear/{{ labels.service }}" }
verify: { within: 1s }
on_chronic: { playbook: queue-capacity }
`;
const PREVENTIVE = (appUrl: string) => `
name: queue-capacity
match: ['alertname = "QueueCapacityLow"']
target: [alertname, service]
strategies:
  - name: add-consumers
    steps:
      - name: scale up
        http: { method: POST, url: "${appUrl}/scale/{{ labels.service }}" }
verify: { within: 5s }
`;

async function start(extra: Record<string, string> = {}): Promise<Service> {
  writeFileSync(
    join(dir.path, 'promedic.yml'),
    ['learning: { seed: 7, min_trials: 3, chronic: { occurrences: 4, window: 1h } }', 'monitor: { enabled: false }'].join('\n'),
  );
  const config = loadConfig({
    cwd: dir.path,
    env: { PROMEDIC_TOKEN: TOKEN, PROMEDIC_LISTEN_ADDRESS: '127.0.0.1', PROMEDIC_ALERTMANAGER_URL: am.url, ...extra },
    flags: { port: '0', 'log-level': 'silent', 'collection-interval': '1h' },
  });
  svc = await startService(config, pino({ level: 'silent' }));
  return svc;
}

const post = (service: string, startsAt: string, status: 'firing' | 'resolved') =>
  rawRequest(`${svc?.url}/webhook/alertmanager`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify(amPayload([{ labels: { alertname: 'QueueStuck', service }, startsAt }], status)),
  });

function runsOf(startsAt: string): RunRecord[] {
  return [...(svc as Service).ctx.store.mem.runs.values()].filter((r) => r.episode.endsWith(`@${startsAt}`)).sort((a, b) => a.attempt - b.attempt);
}

/** One episode: fire; when the app sees the fixing call, resolve. Returns the runs, in order. */
async function episode(service: string, n: number): Promise<RunRecord[]> {
  const startsAt = new Date(Date.UTC(2026, 10, 1, 0, n)).toISOString();
  const fixedBefore = app.calls.filter((c) => c.url === `/clear/${service}`).length;
  expect((await post(service, startsAt, 'firing')).status).toBe(202);
  await waitFor(() => app.calls.filter((c) => c.url === `/clear/${service}`).length > fixedBefore, 20_000, `episode ${n}: the fixing call`);
  expect((await post(service, startsAt, 'resolved')).status).toBe(202);
  const rs = await waitFor(() => {
    const rs = runsOf(startsAt);
    return rs.some((r) => r.status === 'succeeded') ? rs : null;
  }, 20_000, `episode ${n}: a verified run`);
  // A finished record is not yet a released target: the next episode would be skipped as a duplicate.
  await (svc as Service).ctx.engine.idle();
  return rs;
}

async function metrics(): Promise<Map<string, Array<{ labels: string; value: number }>>> {
  return parseExposition(await (await fetch(`${svc?.url}/metrics`)).text());
}

beforeEach(async () => {
  dir = tempDir();
  app = await recordingServer(() => 200);
  am = await recordingServer(() => 200);
  mkdirSync(join(dir.path, 'rules', 'playbooks'), { recursive: true });
  writeFileSync(join(dir.path, 'rules', 'playbooks', 'queue.yml'), PLAYBOOK(app.url));
  writeFileSync(join(dir.path, 'rules', 'playbooks', 'capacity.yml'), PREVENTIVE(app.url));
});

afterEach(async () => {
  await svc?.stop();
  svc = null;
  await app.close();
  await am.close();
  dir.cleanup();
});

describe('learning in the service', () => {
  it('leads with the strategy that works after a few episodes, and keeps what it learned across a restart', async () => {
    await start();
    const leads: string[] = [];
    for (let n = 1; n <= 10; n++) {
      const rs = await episode('billing', n);
      leads.push(rs[0]?.strategy ?? '');
      if (rs[0]?.strategy === 'restart-worker') {
        // The listed order: restart first (fails verification), then clear-queue fixes it.
        expect(rs.map((r) => [r.strategy, r.status])).toEqual([
          ['restart-worker', 'failed'],
          ['clear-queue', 'succeeded'],
        ]);
      }
    }
    // Before min_trials (3 verified outcomes of the signature, both strategies counted: two
    // episodes) the listed order; from the third episode the evidence is 0/2 against 2/2.
    expect(leads.slice(0, 2)).toEqual(['restart-worker', 'restart-worker']);
    expect(leads.slice(5).every((s) => s === 'clear-queue')).toBe(true);
    const last = runsOf(new Date(Date.UTC(2026, 10, 1, 0, 10)).toISOString())[0] as RunRecord;
    expect(last.choice).toMatchObject({ learned: true, order: ['clear-queue', 'restart-worker'] });
    expect(last.choice?.reason).toMatch(/^clear-queue first: \d+\/\d+ verified successes/);

    const m = await metrics();
    const ratio = Object.fromEntries((m.get('promedic_strategy_success_ratio') ?? []).map((s) => [s.labels, s.value]));
    expect(ratio['{playbook="queue-stuck",strategy="clear-queue"}']).toBe(1);
    expect(ratio['{playbook="queue-stuck",strategy="restart-worker"}']).toBe(0);
    const selected = Object.fromEntries((m.get('promedic_strategy_selected_total') ?? []).map((s) => [s.labels, s.value]));
    expect((selected['{playbook="queue-stuck",strategy="clear-queue"}'] ?? 0) + (selected['{playbook="queue-stuck",strategy="restart-worker"}'] ?? 0)).toBe(10);
    expect((m.get('promedic_time_to_recover_seconds_count') ?? []).find((s) => s.labels.includes('clear-queue'))?.value).toBe(10);

    // Explained by the API, per signature.
    const api = (await (await fetch(`${svc?.url}/api/v1/learning?playbook=queue-stuck`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as {
      playbooks: Array<{ signatures: Array<{ signature: string; order: string[]; reason: string; strategies: Array<{ name: string; successes: number; failures: number; interval_95: [number, number] | null; median_time_to_recover_seconds: number | null }> }> }>;
    };
    const sig = api.playbooks[0]?.signatures[0];
    expect(sig?.signature).toBe('alertname=QueueStuck,service=billing');
    expect(sig?.order).toEqual(['clear-queue', 'restart-worker']);
    const clear = sig?.strategies.find((s) => s.name === 'clear-queue');
    expect(clear).toMatchObject({ successes: 10, failures: 0 });
    expect(clear?.interval_95?.[0]).toBeGreaterThan(0.6);
    expect(clear?.median_time_to_recover_seconds).toBeGreaterThan(0);
    const restart = sig?.strategies.find((s) => s.name === 'restart-worker');
    expect(restart?.successes).toBe(0);
    expect(restart?.failures).toBeGreaterThanOrEqual(2);

    // Survives a restart: the same evidence, the same order.
    await svc?.stop();
    svc = await start();
    const again = (await (await fetch(`${svc?.url}/api/v1/learning?playbook=queue-stuck`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as typeof api;
    expect(again.playbooks[0]?.signatures[0]).toEqual(sig);
    const rs = await episode('billing', 11);
    expect(rs[0]?.strategy).toBe('clear-queue');

    // Another service is a different signature: it starts from the listed order.
    const other = await episode('search', 12);
    expect(other[0]?.strategy).toBe('restart-worker');
    expect(other[0]?.choice?.reason).toBe('as configured: 0 of 3 trials needed before reordering');

    // promedic simulate shows the same order and reason for the signature.
    await svc?.stop();
    svc = null;
    const alert = join(dir.path, 'alert.json');
    writeFileSync(alert, JSON.stringify({ labels: { alertname: 'QueueStuck', service: 'billing' } }));
    const sim = runCli(['simulate', '--alert', alert, '--rules', join(dir.path, 'rules'), '--data-dir', join(dir.path, 'data'), '--config', join(dir.path, 'promedic.yml')]);
    expect(sim.stderr).toBe('');
    expect(sim.stdout).toMatch(/strategies in order: clear-queue \(risk low\), restart-worker \(risk low\)/);
    expect(sim.stdout).toMatch(/order for alertname=QueueStuck,service=billing: clear-queue first: 11\/11 verified successes/);
  }, 120_000);

  it('flags a signature chronic at exactly the N-th firing, escalates it once and starts the preventive playbook', async () => {
    await start();
    const chronicAlerts = () => am.calls.filter((c) => c.method === 'POST' && c.body.includes('PromedicChronicProblem'));
    for (let n = 1; n <= 3; n++) await episode('billing', n);
    const m3 = await metrics();
    expect(m3.get('promedic_chronic_signatures')?.find((s) => s.labels === '{playbook="queue-stuck"}')?.value).toBe(0);
    expect(chronicAlerts()).toHaveLength(0);
    expect(app.calls.some((c) => c.url === '/scale/billing')).toBe(false);

    await episode('billing', 4);
    await waitFor(() => chronicAlerts().length === 1, 10_000, 'the chronic escalation');
    const [sent] = JSON.parse(chronicAlerts()[0]?.body ?? '[]') as Array<{ labels: Record<string, string>; annotations: Record<string, string> }>;
    expect(sent?.labels).toMatchObject({ alertname: 'PromedicChronicProblem', chronic_alertname: 'QueueStuck', service: 'billing', playbook: 'queue-stuck' });
    expect(sent?.annotations.summary).toBe('QueueStuck service=billing keeps coming back: 4 times within 60 min');
    // The preventive playbook ran for the same target.
    await waitFor(() => app.calls.some((c) => c.url === '/scale/billing'), 10_000, 'the preventive playbook');
    const m4 = await metrics();
    expect(m4.get('promedic_chronic_signatures')?.find((s) => s.labels === '{playbook="queue-stuck"}')?.value).toBe(1);
    expect(m4.get('promedic_chronic_transitions_total')).toEqual([{ labels: '{playbook="queue-stuck"}', value: 1 }]);

    // Once, not again at the fifth firing.
    await episode('billing', 5);
    await new Promise((r) => setTimeout(r, 300));
    expect(chronicAlerts()).toHaveLength(1);
    const api = (await (await fetch(`${svc?.url}/api/v1/learning`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { chronic: Array<{ playbook: string; signature: string }> };
    expect(api.chronic).toEqual([expect.objectContaining({ playbook: 'queue-stuck', signature: 'alertname=QueueStuck,service=billing' })]);
  }, 120_000);

  it('keeps the listed order with learning: off', async () => {
    writeFileSync(join(dir.path, 'rules', 'playbooks', 'queue.yml'), PLAYBOOK(app.url).replace('cooldown: 0s', 'cooldown: 0s\nlearning: off'));
    await start();
    const leads: string[] = [];
    for (let n = 1; n <= 6; n++) leads.push((await episode('billing', n))[0]?.strategy ?? '');
    expect(leads).toEqual(Array(6).fill('restart-worker'));
    expect(runsOf(new Date(Date.UTC(2026, 10, 1, 0, 6)).toISOString())[0]?.choice?.reason).toBe('as configured: learning is off for this playbook');
  }, 120_000);
});
