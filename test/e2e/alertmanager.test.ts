/**
 * The real Alertmanager (Debian's prometheus-alertmanager) delivering to promedic: alerts go
 * in through amtool, Alertmanager groups them and calls the webhook with its own payloads,
 * retries and bearer token, and promedic runs the playbook against a recording HTTP "app".
 * Nothing here hand-writes a webhook payload.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprintOf } from '../../src/alert.js';
import { loadConfig } from '../../src/config.js';
import { type Service, startService } from '../../src/main.js';
import type { EpisodeRecord, RunRecord } from '../../src/store/types.js';
import { get, parseExposition, recordingServer, requireBinary, tempDir, waitFor, story } from '../helpers/index.js';
import { type Proc, startProcess, tail } from '../helpers/stack.js';

const execFileP = promisify(execFile);

// Under CI=true a missing binary throws here, failing the file: CI must install the package.
const ALERTMANAGER = requireBinary('prometheus-alertmanager', 'prometheus-alertmanager');
const AMTOOL = requireBinary('amtool', 'prometheus-alertmanager');

const TOKEN = 'e2e-token-0123456789abcdef';
const PLAYBOOK = 'am-e2e';
const ALERTNAME = 'PromedicE2E';
/** How long Alertmanager gets to deliver something: it needs ~1 s (group_wait / group_interval). */
const DELIVERY_MS = 20_000;

let dir: { path: string; cleanup: () => void } | null = null;
let app: Awaited<ReturnType<typeof recordingServer>> | null = null;
let svc: Service | null = null;
let am: Proc | null = null;
/** The output of the last Alertmanager started, kept for failure messages after it stops. */
let amOutput: () => string = () => '';
const promedicLog: string[] = [];

/** The tests are steps of one story: once one fails, the later ones fail at once. */
const step = story();

/** Everything worth seeing when an assertion fails. */
function diagnostics(): string {
  const state = svc
    ? JSON.stringify(
        {
          episodes: [...svc.ctx.store.mem.episodes.values()].map((e) => ({ key: e.key, labels: e.labels, status: e.status, deliveries: e.deliveries })),
          runs: [...svc.ctx.store.mem.runs.values()].map((r) => ({ target: r.target, status: r.status, verification: r.verification, error: r.error })),
          appCalls: app?.calls.map((c) => `${c.method} ${c.url}`),
        },
        null,
        1,
      )
    : '(promedic not started)';
  return [
    `--- promedic state ---\n${state}`,
    `--- promedic log ---\n${tail(promedicLog.join(''))}`,
    `--- alertmanager output ---\n${tail(amOutput())}`,
  ].join('\n');
}

/** waitFor with the whole picture in the failure message. */
async function until<T>(fn: () => T | Promise<T>, what: string, ms = DELIVERY_MS): Promise<NonNullable<T>> {
  try {
    return await waitFor(fn, ms, what);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${diagnostics()}`);
  }
}

async function amtool(args: string[]): Promise<string> {
  try {
    const r = await execFileP(AMTOOL as string, args, {
      timeout: 20_000,
      // No ~/.config/amtool/config.yml of the user's may change what amtool does.
      env: { ...process.env, HOME: (dir as { path: string }).path },
    });
    return r.stdout;
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string; message: string };
    throw new Error(`amtool ${args.join(' ')} failed (${e.code ?? e.message}):\n${e.stdout ?? ''}${e.stderr ?? ''}\n${diagnostics()}`);
  }
}

/** `amtool alert add` for one PromedicE2E alert; `end` set resolves it. */
function addAlert(service: string, end?: Date): Promise<string> {
  return amtool([
    'alert',
    'add',
    ALERTNAME,
    `service=${service}`,
    'severity=critical',
    `--annotation=summary=${service} is failing`,
    ...(end ? [`--end=${end.toISOString()}`] : []),
    `--alertmanager.url=${am?.url}`,
  ]);
}

async function startAlertmanager(config: string, storage: string): Promise<void> {
  am = await startProcess(
    'alertmanager',
    ALERTMANAGER as string,
    (port) => [
      `--config.file=${config}`,
      `--storage.path=${storage}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // Empty: no cluster, so nothing gossips on 0.0.0.0:9094 (or collides with another instance).
      '--cluster.listen-address=',
      '--log.level=debug',
    ],
    async (url) => {
      const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      return res.status === 200;
    },
  );
  amOutput = am.output;
}

async function stopAlertmanager(): Promise<void> {
  const a = am;
  am = null;
  await a?.stop();
}

function episodeFor(service: string): EpisodeRecord | undefined {
  return [...(svc as Service).ctx.store.mem.episodes.values()].find((e) => e.labels.alertname === ALERTNAME && e.labels.service === service);
}

function runsFor(service: string): RunRecord[] {
  return [...(svc as Service).ctx.store.mem.runs.values()].filter((r) => r.playbook === PLAYBOOK && r.target.service === service);
}

function callsTo(path: string): number {
  return (app?.calls ?? []).filter((c) => c.method === 'POST' && c.url === path).length;
}

/** Sum of the samples of one metric whose label text matches every given `name="value"`. */
function sample(text: string, name: string, labels: Record<string, string>): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  return (parseExposition(text).get(name) ?? []).filter((s) => want.every((w) => s.labels.includes(w))).reduce((n, s) => n + s.value, 0);
}

describe.runIf(Boolean(ALERTMANAGER && AMTOOL))('the real Alertmanager delivering to promedic', () => {
  beforeAll(async () => {
    dir = tempDir('promedic-e2e-am-');
    app = await recordingServer();

    mkdirSync(join(dir.path, 'rules', 'playbooks'), { recursive: true });
    writeFileSync(
      join(dir.path, 'rules', 'playbooks', 'e2e.yml'),
      `
name: ${PLAYBOOK}
match: ['alertname = "${ALERTNAME}"']
category: api
labels: { service: '[a-z0-9-]+' }
target: [alertname, service]
cooldown: 10m
max_concurrent: 5
strategy_policy: first_only
strategies:
  - name: fix
    steps:
      - name: call the fix endpoint
        http: { method: POST, url: "${app.url}/fix/{{ labels.service }}", headers: { x-summary: "{{ annotations.summary }}" } }
verify: { within: 30s }
`,
    );
    writeFileSync(join(dir.path, 'promedic.yml'), ['listen: { port: 0 }', 'log: { level: silent }', 'collection: { interval: 1h }'].join('\n'));
    const config = loadConfig({ cwd: dir.path, env: { PROMEDIC_TOKEN: TOKEN, PROMEDIC_LISTEN_ADDRESS: '127.0.0.1' } });
    const logger = pino({ level: 'debug' }, { write: (line: string) => void promedicLog.push(line) });
    svc = await startService(config, logger);

    const amDir = join(dir.path, 'alertmanager');
    mkdirSync(join(amDir, 'data'), { recursive: true });
    const amConfig = join(amDir, 'alertmanager.yml');
    writeFileSync(
      amConfig,
      `
route:
  receiver: promedic
  group_by: ['alertname']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: promedic
    webhook_configs:
      - url: ${JSON.stringify(`${svc.url}/webhook/alertmanager`)}
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: ${JSON.stringify(TOKEN)}
`,
    );
    const check = await amtool(['check-config', amConfig]);
    expect(check).toMatch(/SUCCESS/);

    await startAlertmanager(amConfig, join(amDir, 'data'));
  }, 60_000);

  afterAll(async () => {
    // Alertmanager first: it holds keep-alive connections to promedic.
    await stopAlertmanager();
    await svc?.stop();
    svc = null;
    await app?.close();
    app = null;
    dir?.cleanup();
    dir = null;
  }, 30_000);

  it('a firing alert from Alertmanager starts exactly one run, with its labels in the action', async (ctx) => {
    step(ctx);
    await addAlert('billing');

    await until(() => callsTo('/fix/billing') === 1, 'the app call POST /fix/billing');
    const call = app?.calls.find((c) => c.url === '/fix/billing');
    expect(call?.headers['x-summary']).toBe('billing is failing');

    const ep = await until(() => episodeFor('billing'), 'the billing episode');
    expect(ep).toMatchObject({
      source: 'alertmanager',
      status: 'firing',
      deliveries: 1,
      labels: { alertname: ALERTNAME, service: 'billing', severity: 'critical' },
      annotations: { summary: 'billing is failing' },
      category: 'api',
      severity: 'critical',
    });
    // The episode is keyed by the fingerprint and startsAt Alertmanager sent.
    const listed = (await (await fetch(`${am?.url}/api/v2/alerts?filter=service%3D%22billing%22`)).json()) as Array<{ fingerprint: string; startsAt: string }>;
    expect(listed).toHaveLength(1);
    expect(ep.fingerprint).toBe(listed[0]?.fingerprint);
    // promedic computes the same fingerprint for payloads that carry none.
    expect(fingerprintOf(ep.labels)).toBe(ep.fingerprint);
    expect(ep.key).toBe(`${ep.fingerprint}@${ep.startsAt}`);
    expect(Math.abs(Date.parse(ep.startsAt) - Date.parse(listed[0]?.startsAt ?? ''))).toBeLessThan(1000);

    // The step is done and the run waits (verify.within 30s) for Alertmanager to resolve the alert.
    const run = await until(() => runsFor('billing').find((r) => r.status === 'verifying'), 'the billing run to wait for the resolve');
    expect(runsFor('billing')).toHaveLength(1);
    expect(run).toMatchObject({ playbook: PLAYBOOK, strategy: 'fix', episode: ep.key, target: { alertname: ALERTNAME, service: 'billing' } });
    expect(run.steps[0]).toMatchObject({ type: 'http', outcome: 'ok', attempts: 1 });

    // Alertmanager got through the bearer token: 202 from the webhook route, no 401 anywhere.
    const metrics = (await get(`${svc?.url}/metrics`)).body;
    expect(sample(metrics, 'promedic_alerts_received_total', { status: 'firing', category: 'api', severity: 'critical', outcome: 'new' })).toBe(1);
    expect(sample(metrics, 'promedic_http_request_duration_seconds_count', { route: '/webhook/alertmanager', method: 'POST', code: '202' })).toBeGreaterThanOrEqual(1);
    expect(sample(metrics, 'promedic_http_request_duration_seconds_count', { code: '401' })).toBe(0);
    // And Alertmanager counts its deliveries as successful.
    const amMetrics = (await get(`${am?.url}/metrics`)).body;
    expect(sample(amMetrics, 'alertmanager_notifications_total', { integration: 'webhook' })).toBeGreaterThanOrEqual(1);
    expect(sample(amMetrics, 'alertmanager_notifications_failed_total', { integration: 'webhook' })).toBe(0);
  }, 60_000);

  it('re-sends of a firing alert start no second run', async (ctx) => {
    step(ctx);
    // The same alert again: Alertmanager merges it and (repeat_interval 1h) sends nothing new.
    await addAlert('billing');
    const quietUntil = Date.now() + 3000; // three group_intervals
    while (Date.now() < quietUntil) {
      expect(episodeFor('billing')?.deliveries, diagnostics()).toBe(1);
      await new Promise((r) => setTimeout(r, 100));
    }

    // A second alert joins the group: Alertmanager re-sends the whole group, billing included,
    // which promedic must count as a duplicate delivery while starting a run for ledger only.
    await addAlert('ledger');
    await until(() => callsTo('/fix/ledger') === 1, 'the app call POST /fix/ledger');
    await until(() => episodeFor('billing')?.deliveries === 2, 'the billing episode to be delivered again with the group');
    expect(episodeFor('billing')).toMatchObject({ status: 'firing', deliveries: 2 });
    expect(episodeFor('ledger')).toMatchObject({ status: 'firing', deliveries: 1, source: 'alertmanager' });
    expect(callsTo('/fix/billing')).toBe(1);
    expect(runsFor('billing')).toHaveLength(1);
    expect(runsFor('ledger')).toHaveLength(1);

    const metrics = (await get(`${svc?.url}/metrics`)).body;
    expect(sample(metrics, 'promedic_alerts_received_total', { status: 'firing', outcome: 'new' })).toBe(2);
    expect(sample(metrics, 'promedic_alerts_received_total', { status: 'firing', outcome: 'duplicate' })).toBe(1);
  }, 60_000);

  it('the resolved notification resolves the episodes and the runs verify', async (ctx) => {
    step(ctx);
    // endsAt now: after the alerts' startsAt, so Alertmanager merges it into the same alert
    // (same startsAt, same episode) and sends it as resolved at the next group_interval.
    await addAlert('billing', new Date());
    await addAlert('ledger', new Date());

    for (const service of ['billing', 'ledger']) {
      await until(() => episodeFor(service)?.status === 'resolved', `the ${service} episode to resolve`);
      const run = await until(() => runsFor(service).find((r) => r.status === 'succeeded'), `the ${service} run to succeed`);
      expect(run.verification).toMatchObject({ method: 'resolved', outcome: 'ok' });
      expect(run.error).toBeUndefined();
      expect(episodeFor(service)?.resolvedAt).toBeTruthy();
    }

    // Anything Alertmanager sends after this is about resolved episodes: still one run each.
    await new Promise((r) => setTimeout(r, 1500));
    expect(runsFor('billing')).toHaveLength(1);
    expect(runsFor('ledger')).toHaveLength(1);
    expect(app?.calls.map((c) => `${c.method} ${c.url}`).sort()).toEqual(['POST /fix/billing', 'POST /fix/ledger']);

    const metrics = (await get(`${svc?.url}/metrics`)).body;
    expect(sample(metrics, 'promedic_alerts_received_total', { status: 'resolved', outcome: 'resolved' })).toBe(2);
    expect(sample(metrics, 'promedic_alerts_received_total', { outcome: 'resolved_unknown' })).toBe(0);
    expect(sample(metrics, 'promedic_playbook_runs_total', { playbook: PLAYBOOK, outcome: 'succeeded' })).toBe(2);
  }, 60_000);
});
