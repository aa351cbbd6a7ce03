/**
 * One status model for the whole automation: GET /api/v1/status, `promedic status` (for a
 * person and --json), and the library API (`createPromedic` from the package itself). A real
 * service on 127.0.0.1 with a playbook that fails its verification, a real CLI process.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Promedic, type Status, createPromedic } from '../src/index.js';
import { amPayload, rawRequest, recordingServer, runCliAsync, tempDir, waitFor, workerPlaybook } from './helpers/index.js';

const TOKEN = 'status-test-token-0123456789';
let dir: { path: string; cleanup: () => void };
let app: Awaited<ReturnType<typeof recordingServer>>;
let p: Promedic | null = null;

const PLAYBOOK = workerPlaybook;

beforeEach(async () => {
  dir = tempDir();
  app = await recordingServer(() => 200);
  mkdirSync(join(dir.path, 'rules', 'playbooks'), { recursive: true });
  writeFileSync(join(dir.path, 'rules', 'playbooks', 'worker.yml'), PLAYBOOK(app.url));
});
afterEach(async () => {
  await p?.stop();
  p = null;
  await app.close();
  dir.cleanup();
});

async function start(): Promise<Promedic> {
  p = await createPromedic({
    config: { listen: { port: 0, address: '127.0.0.1' }, data_dir: join(dir.path, 'data'), rules_dir: join(dir.path, 'rules'), auth: { token: TOKEN }, monitor: { enabled: false } },
    env: {},
    logger: pino({ level: 'silent' }),
  });
  await p.start();
  return p;
}

const auth = { authorization: `Bearer ${TOKEN}` };

describe('the library API', () => {
  it('creates, starts, reports and stops promedic in-process; importable by its package name', async () => {
    const lib = (await import('promedic')) as typeof import('../src/index.js');
    expect(typeof lib.createPromedic).toBe('function');
    const s = await start();
    expect(s.running).toBe(true);
    expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(s.config.data_dir).toBe(join(dir.path, 'data'));
    const st = s.status();
    expect(st.automation).toEqual({ active: true, mode: 'enforce', enforcing: 1, paused: false, emergency: { active: false, alerts: [] } });
    expect(st.systems.collector.state).toBe('up');
    expect(st.systems.monitor.state).toBe('disabled');
    expect((await rawRequest(`${s.url}/-/ready`, {})).status).toBe(200);
    await s.stop();
    expect(s.running).toBe(false);
    expect(() => s.status()).toThrow(/not running: call start\(\) first/);
  });

  it('refuses a bad configuration with every problem named', async () => {
    await expect(createPromedic({ config: { listen: { port: -1 } }, env: {} })).rejects.toMatchObject({ problems: [expect.stringMatching(/^options: listen\.port: /)] });
  });
});

describe('GET /api/v1/status', () => {
  it('tells what the automation is doing: systems, alerts, runs with the failed step, strategies, the last hour', async () => {
    const s = await start();
    expect((await rawRequest(`${s.url}/api/v1/status`, {})).status).toBe(401);
    const posted = await rawRequest(`${s.url}/webhook/alertmanager`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify(amPayload([{ labels: { alertname: 'WorkerStuck', service: 'billing' } }])),
    });
    expect(posted.status).toBe(202);
    const st = await waitFor(async () => {
      const body = JSON.parse((await rawRequest(`${s.url}/api/v1/status`, { headers: auth })).body) as Status;
      // The outcome is learned just after the run is recorded.
      return body.runs.recent[0]?.status === 'failed' && body.strategies.length > 0 ? body : null;
    }, 10_000, 'the run to fail its verification');
    // In start order (stop is the reverse).
    expect(Object.keys(st.systems)).toEqual(['store', 'collector', 'targets', 'monitor', 'intake', 'engine', 'tuner', 'learner']);
    for (const sys of Object.values(st.systems)) expect(sys).toMatchObject({ state: expect.stringMatching(/^(up|degraded|down|disabled|paused)$/), detail: expect.any(String), restarts: 0 });
    expect(st.alerts.firing).toEqual([expect.objectContaining({ alertname: 'WorkerStuck', labels: expect.objectContaining({ service: 'billing' }), source: 'alertmanager' })]);
    expect(st.runs.recent[0]).toMatchObject({ playbook: 'restart-worker', strategy: 'restart', alertname: 'WorkerStuck', target: { alertname: 'WorkerStuck', service: 'billing' }, failed_step: { name: 'verification', error: expect.stringMatching(/did not resolve within 0\.5s/) } });
    expect(st.strategies).toEqual([{ playbook: 'restart-worker', strategy: 'restart', successes: 0, failures: 1, success_ratio: 0 }]);
    expect(st.last_hour).toMatchObject({ alerts: 1, runs: 1, succeeded: 0, failed: 1 });
    expect(st.uptime_seconds).toBeGreaterThanOrEqual(0);

    // Paused: the automation is not active, and the engine says why.
    await rawRequest(`${s.url}/api/v1/pause`, { method: 'POST', headers: auth });
    const paused = s.status();
    expect(paused.automation).toMatchObject({ active: false, paused: true });
    expect(paused.systems.engine).toMatchObject({ state: 'paused', detail: expect.stringMatching(/^paused: alerts are recorded, nothing acts/) });
  });
});

describe('promedic status', () => {
  it('prints the status of a running promedic for a person, and as JSON; exit 1 when none answers', async () => {
    const s = await start();
    const port = new URL(s.url as string).port;
    const env = { PROMEDIC_TOKEN: TOKEN };
    const human = await runCliAsync(['status', '--port', port], { env, cwd: dir.path });
    expect(human.stderr).toBe('');
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^promedic \S+, up \d+ min: automation active\n\nsystems:\n {2}store +up +\S+\n {2}collector +up +cycle every 5 s\n/);
    expect(human.stdout).toMatch(/\n {2}engine +up +0 run\(s\) in flight, 0 queued, 1 playbook\(s\)\n/);
    const json = await runCliAsync(['status', '--url', s.url as string, '--json'], { env, cwd: dir.path });
    expect(json.code).toBe(0);
    expect((JSON.parse(json.stdout) as Status).automation.mode).toBe('enforce');
    const refused = await runCliAsync(['status', '--url', s.url as string], { env: { PROMEDIC_TOKEN: 'wrong-token-0123456789' }, cwd: dir.path });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/refused the credentials/);
    await s.stop();
    const down = await runCliAsync(['status', '--port', port], { env, cwd: dir.path });
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^promedic: cannot reach promedic at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\): is it running\?/);
  });
});

describe('automation.mode', () => {
  it('observe for every playbook that does not set its own mode; one that says enforce acts', async () => {
    writeFileSync(join(dir.path, 'rules', 'playbooks', 'trusted.yml'), PLAYBOOK(app.url).replace('name: restart-worker', 'name: trusted-restart\nmode: enforce'));
    p = await createPromedic({
      config: { listen: { port: 0, address: '127.0.0.1' }, data_dir: join(dir.path, 'data'), rules_dir: join(dir.path, 'rules'), auth: { token: TOKEN }, monitor: { enabled: false }, automation: { mode: 'observe' } },
      env: {},
      logger: pino({ level: 'silent' }),
    });
    await p.start();
    const url = p.url as string;
    expect(p.status().automation).toMatchObject({ mode: 'observe', enforcing: 1, active: true });
    expect(p.status().systems.engine.detail).toMatch(/^observe unless a playbook says otherwise \(1 enforce\); /);
    await rawRequest(`${url}/webhook/alertmanager`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify(amPayload([{ labels: { alertname: 'WorkerStuck', service: 'billing' } }])),
    });
    await waitFor(() => p?.status().runs.recent.length === 2 && p.status().runs.in_flight.length === 0, 10_000, 'both playbooks');
    const byPlaybook = Object.fromEntries((p.status().runs.recent).map((r) => [r.playbook, r.status]));
    expect(byPlaybook).toEqual({ 'restart-worker': 'planned', 'trusted-restart': 'failed' });
    expect(app.calls.filter((c) => c.url === '/restart')).toHaveLength(1);
    const pbs = JSON.parse((await rawRequest(`${url}/api/v1/playbooks`, { headers: auth })).body) as { playbooks: Array<{ name: string; mode: string }> };
    expect(Object.fromEntries(pbs.playbooks.map((x) => [x.name, x.mode]))).toEqual({ 'restart-worker': 'observe', 'trusted-restart': 'enforce' });
  });
});
