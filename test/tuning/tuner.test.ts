/**
 * Tuning playbooks in the running service, against a real HTTP app on 127.0.0.1 whose latency
 * and errors respond to its `concurrency` knob through a deterministic model. promedic scrapes
 * the app (targets:) and reads the objective and the guard from its embedded monitor; the knob
 * is read and written over HTTP through the action layer; alerts arrive on the real webhook.
 *
 * A beneficial change is kept and the next step, not better, rolled back; a harmful change is
 * rolled back and read back; a guard breach aborts mid-experiment; a healing run on the target,
 * the pause and an emergency abort and roll back; no two experiments share a target; cooldown,
 * best-known value first, rejected values skipped; dry-run changes nothing; a kill -9 in the
 * middle of an experiment is rolled back at the next start.
 */
import { type Server, createServer } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { type Service, startService } from '../../src/main.js';
import type { StoredExperiment } from '../../src/tuning/state.js';
import { amPayload, killAll, parseExposition, rawRequest, startCli, tempDir, waitFor } from '../helpers/index.js';

const TOKEN = 'tuning-test-token-0123456789';
const APP_TOKEN = 'app-admin-token-0123456789';

type Model = 'normal' | 'harmful' | 'guard';

/** The app: GET/PUT /admin/config (bearer token), /metrics with its p99 latency and error ratio. */
class TestApp {
  concurrency = 16;
  model: Model = 'normal';
  puts: number[] = [];
  private scrapes = 0;
  server!: Server;
  url = '';

  latency(): number {
    const c = this.concurrency;
    this.scrapes++;
    const wobble = ((this.scrapes * 7919) % 13) / 13 - 0.5;
    const base = this.model === 'harmful' ? 0.2 + Math.max(0, 16 - c) * 0.05 : 0.2 + Math.max(0, c - 8) * 0.05;
    return base + wobble * 0.02;
  }

  errors(): number {
    return this.model === 'guard' && this.concurrency !== 16 ? 0.3 : 0.01;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        if (req.url === '/metrics') {
          res.setHeader('content-type', 'text/plain; version=0.0.4');
          return res.end(`# TYPE testapp_p99_seconds gauge\ntestapp_p99_seconds ${this.latency()}\n# TYPE testapp_error_ratio gauge\ntestapp_error_ratio ${this.errors()}\n`);
        }
        res.setHeader('content-type', 'application/json');
        if (req.headers.authorization !== `Bearer ${APP_TOKEN}`) {
          res.statusCode = 401;
          return res.end('{"error":"unauthorized"}');
        }
        if (req.url === '/admin/config' && req.method === 'GET') return res.end(JSON.stringify({ concurrency: this.concurrency, batch_size: 200 }));
        if (req.url === '/admin/config' && req.method === 'PUT') {
          const v = (JSON.parse(body) as { concurrency: number }).concurrency;
          this.puts.push(v);
          this.concurrency = v;
          return res.end(JSON.stringify({ concurrency: v }));
        }
        res.statusCode = 404;
        res.end('{}');
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  stop(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

const TUNING = (appUrl: string, over: { cooldown?: string; mode?: string; window?: string; maxSteps?: number; schedule?: string } = {}) => `
kind: tuning
name: testapp-concurrency
description: Lower the app's concurrency while it makes requests faster.
${over.schedule ? `schedule: ${over.schedule}` : `match: ['alertname = "TestAppSlow"']`}
target: testapp
${over.mode ? `mode: ${over.mode}` : ''}
knobs:
  - name: concurrency
    type: integer
    min: 1
    max: 64
    step: "*2"
    direction: down
    http:
      url: ${appUrl}/admin/config
      key: concurrency
      headers: { authorization: "Bearer {{ env.TESTAPP_TOKEN }}" }
objective:
  name: p99 latency
  direction: minimize
  monitor: { value: { metric: testapp_p99_seconds, agg: max } }
guards:
  - name: error ratio
    monitor: { value: { metric: testapp_error_ratio, agg: max } }
    max: 0.05
experiment: { window: ${over.window ?? '1200ms'}, interval: 200ms, settle: 300ms, min_samples: 6, min_improvement: 0.1, max_steps: ${over.maxSteps ?? 3} }
cooldown: ${over.cooldown ?? '0s'}
`;

/** Sets the knob itself: its change must not be undone by the experiment's rollback. */
const HEALING = (appUrl: string) => `
name: testapp-heal
match: ['alertname = "TestAppDown"']
target: [alertname, service]
cooldown: 0s
strategies:
  - name: fewer-slots
    steps:
      - http: { method: PUT, url: "${appUrl}/admin/config", headers: { authorization: "Bearer {{ env.TESTAPP_TOKEN }}" }, body: { concurrency: 12 } }
verify: { within: 1s }
on_chronic: { playbook: testapp-concurrency }
`;

let dir: { path: string; cleanup: () => void };
let app: TestApp;
let svc: Service | null = null;

function writeRules(tuning: string): string {
  const rules = join(dir.path, 'rules');
  mkdirSync(join(rules, 'playbooks'), { recursive: true });
  writeFileSync(join(rules, 'playbooks', 'tuning.yml'), tuning);
  writeFileSync(join(rules, 'playbooks', 'heal.yml'), HEALING(app.url));
  return rules;
}

function writeConfig(extra = ''): void {
  writeFileSync(join(dir.path, 'promedic.yml'), `targets:\n  - { name: testapp, url: "${app.url}/metrics", interval: 100ms }\n${extra}`);
}

async function start(tuning = TUNING(app.url), extraEnv: Record<string, string> = {}, extraConfig = ''): Promise<Service> {
  writeConfig(extraConfig);
  const rules = writeRules(tuning);
  const config = loadConfig({
    cwd: dir.path,
    env: { PROMEDIC_TOKEN: TOKEN, PROMEDIC_LISTEN_ADDRESS: '127.0.0.1', TESTAPP_TOKEN: APP_TOKEN, ...extraEnv },
    flags: { port: '0', 'log-level': 'silent', 'collection-interval': '1h', rules: rules, 'data-dir': join(dir.path, 'data') },
  });
  process.env.TESTAPP_TOKEN = APP_TOKEN;
  svc = await startService(config, pino({ level: 'silent' }));
  // The first scrapes of the app, so the objective has a value when the experiment starts.
  await new Promise((r) => setTimeout(r, 300));
  return svc;
}

const auth = { authorization: `Bearer ${TOKEN}` };

function alert(url: string, labels: Record<string, string>, startsAt = new Date().toISOString()) {
  return rawRequest(`${url}/webhook/alertmanager`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...auth },
    body: JSON.stringify(amPayload([{ labels, startsAt }])),
  });
}

interface TuningView {
  knobs: Array<{ target: string; knob: string; current: unknown; baseline: unknown; best: { value: unknown } | null; original: unknown; rejected: Array<{ value: unknown }>; kept: Array<{ value: unknown }>; cooldown_until: string | null; running: string | null }>;
  experiments: StoredExperiment[];
  total: number;
}

async function tuning(url: string): Promise<TuningView> {
  const r = await rawRequest(`${url}/api/v1/tuning`, { headers: auth });
  expect(r.status).toBe(200);
  return JSON.parse(r.body) as TuningView;
}

async function metrics(url: string) {
  return parseExposition((await rawRequest(`${url}/metrics`, {})).body);
}

function value(m: Map<string, Array<{ labels: string; value: number }>>, name: string, labels: string[]): number | undefined {
  return m.get(name)?.find((s) => labels.every((l) => s.labels.includes(l)))?.value;
}

beforeEach(async () => {
  dir = tempDir();
  app = new TestApp();
  await app.start();
});

afterEach(async () => {
  await svc?.stop();
  svc = null;
  await killAll();
  await app.stop();
  dir.cleanup();
  delete process.env.TESTAPP_TOKEN;
});

describe('a tuning playbook triggered by an alert', () => {
  it('keeps a beneficial change, rolls back the next step that is not better, and says so in the API, history and metrics', async () => {
    const s = await start();
    expect((await alert(s.url, { alertname: 'TestAppSlow', service: 'testapp' })).status).toBe(202);
    await waitFor(async () => (await tuning(s.url)).experiments.filter((e) => e.phase === 'done').length === 2 && !s.ctx.tuner.runningNow().length, 20_000, 'two experiments');
    await s.ctx.tuner.idle();
    const t = await tuning(s.url);
    const [second, first] = t.experiments as [StoredExperiment, StoredExperiment];
    expect(first).toMatchObject({ playbook: 'testapp-concurrency', target: 'testapp', knob: 'concurrency', from: 16, to: 8, step: 1, outcome: 'kept', trigger: { kind: 'alert', alertname: 'TestAppSlow' } });
    expect(first.decision?.decision).toBe('keep');
    expect(first.decision?.p).toBeLessThan(0.05);
    expect(first.objective.baseline).toHaveLength(6);
    expect(first.objective.candidate).toHaveLength(6);
    expect(first.reason).toMatch(/^p99 latency better: median 0\.6\d* -> 0\.2\d* .*concurrency stays 8$/);
    expect(first.readBack.applied).toBe(8);
    // The next step (8 -> 4) makes no difference: rejected, rolled back to exactly 8, read back.
    expect(second).toMatchObject({ from: 8, to: 4, step: 2, outcome: 'rolled_back' });
    expect(second.reason).toMatch(/^p99 latency not better: .*no significant difference.*concurrency restored to 8 \(read back\)$/);
    expect(second.readBack).toEqual({ applied: 4, restored: 8 });
    expect(app.concurrency).toBe(8);
    expect(app.puts).toEqual([8, 4, 8]);
    const k = t.knobs.find((x) => x.knob === 'concurrency');
    expect(k).toMatchObject({ target: 'testapp', current: 8, baseline: 8, original: 16, best: { value: 8 }, running: null });
    expect(k?.rejected.map((r) => r.value)).toEqual([4]);

    const m = await metrics(s.url);
    expect(value(m, 'promedic_tuning_experiments_total', ['knob="concurrency"', 'decision="kept"'])).toBe(1);
    expect(value(m, 'promedic_tuning_experiments_total', ['knob="concurrency"', 'decision="rolled_back"'])).toBe(1);
    expect(value(m, 'promedic_tuning_rollbacks_total', ['knob="concurrency"'])).toBe(1);
    expect(value(m, 'promedic_knob_value', ['target="testapp"', 'knob="concurrency"'])).toBe(8);
    expect(value(m, 'promedic_tuning_experiment_active', ['knob="concurrency"'])).toBe(0);
    expect(value(m, 'promedic_tuning_sample', ['role="objective"', 'metric="p99 latency"'])).toBeGreaterThan(0);
  });

  it('rolls back a harmful change and reads the old value back', async () => {
    app.model = 'harmful';
    const s = await start();
    const r = await s.ctx.tuner.trigger('testapp-concurrency', { kind: 'manual' });
    expect(r.experiments).toHaveLength(1);
    const e = r.experiments[0] as StoredExperiment;
    expect(e).toMatchObject({ from: 16, to: 8, outcome: 'rolled_back', readBack: { applied: 8, restored: 16 } });
    expect(e.reason).toMatch(/^p99 latency worse: median 0\.(19|2)\d* -> 0\.(59|6)\d* .*p = .* < 0\.05; concurrency restored to 16 \(read back\)$/);
    expect(app.concurrency).toBe(16);
    expect(app.puts).toEqual([8, 16]);
  });

  it('aborts at once when a guard breaks, mid-experiment, and rolls back', async () => {
    app.model = 'guard';
    const s = await start();
    const r = await s.ctx.tuner.trigger('testapp-concurrency', { kind: 'manual' });
    const e = r.experiments[0] as StoredExperiment;
    expect(e).toMatchObject({ outcome: 'aborted', cause: 'guard', readBack: { restored: 16 } });
    // In the first interval after the change, or the second if a slow machine scraped late.
    expect(e.reason).toMatch(/^guard broken in interval [12]: error ratio 0\.3\d* above its limit 0\.05\d*; concurrency restored to 16/);
    expect(e.objective.candidate.length).toBeLessThanOrEqual(2);
    expect(e.decision).toBeUndefined();
    expect(app.concurrency).toBe(16);
    // A value that broke a guard is not tried again soon.
    expect(s.ctx.store.mem.tuning.knobs.get('testapp\u0000concurrency')?.rejected).toHaveProperty('8');
  });
});

describe('a tuning playbook on a schedule', () => {
  it('runs every interval with no alert', async () => {
    const s = await start(TUNING(app.url, { schedule: '1s', maxSteps: 1, cooldown: '1h' }));
    await waitFor(() => s.ctx.store.mem.tuning.experiments.size > 0 && s.ctx.tuner.runningNow().length === 0, 15_000, 'a scheduled experiment');
    await s.ctx.tuner.idle();
    const [e] = [...s.ctx.store.mem.tuning.experiments.values()];
    expect(e).toMatchObject({ trigger: { kind: 'schedule' }, from: 16, to: 8, outcome: 'kept' });
    // The next ticks find the knob in its cooldown.
    await waitFor(async () => (value(await metrics(s.url), 'promedic_tuning_skipped_total', ['reason="cooldown"']) ?? 0) >= 1, 10_000, 'a skipped tick');
    expect(app.puts).toEqual([8]);
  });
});

describe('safety', () => {
  it('a healing run on the target aborts the experiment and rolls back; no experiment starts while it heals', async () => {
    const s = await start(TUNING(app.url, { window: '4s' }));
    const running = s.ctx.tuner.trigger('testapp-concurrency', { kind: 'manual' });
    await waitFor(() => s.ctx.tuner.runningNow()[0]?.phase === 'measuring', 10_000, 'the measuring phase');
    expect(app.concurrency).toBe(8);
    expect((await alert(s.url, { alertname: 'TestAppDown', service: 'testapp' })).status).toBe(202);
    const r = await running;
    const e = r.experiments[0] as StoredExperiment;
    expect(e).toMatchObject({ outcome: 'aborted', cause: 'signal' });
    expect(e.reason).toBe('aborted: a healing run started on testapp (testapp-heal); concurrency restored to 16 (read back)');
    // The knob is put back before the healing acts, so the healing's own change stands.
    await waitFor(() => app.puts.length === 3, 5000, 'the healing step');
    expect(app.puts).toEqual([8, 16, 12]);
    expect(app.concurrency).toBe(12);
    // An abort from outside says nothing about the value: it is not rejected.
    expect(s.ctx.store.mem.tuning.knobs.get('testapp\u0000concurrency')?.rejected).toEqual({});
    // A new alert for the target heals first: the tuning trigger is skipped while the healing run is in flight.
    await alert(s.url, { alertname: 'TestAppDown', service: 'testapp' }, new Date(Date.now() + 1000).toISOString());
    const skipped = await s.ctx.tuner.trigger('testapp-concurrency', { kind: 'manual' });
    expect(skipped.skipped).toBe('healing: testapp-heal is healing testapp');
    expect(value(await metrics(s.url), 'promedic_tuning_skipped_total', ['reason="healing"'])).toBe(1);
    await s.ctx.engine.idle();
  });

  it('the pause and an emergency abort the experiment and roll back; none starts while either holds', async () => {
    const s = await start(TUNING(app.url, { window: '4s' }));
    let running = s.ctx.tuner.trigger('testapp-concurrency', { kind: 'manual' });
    await waitFor(() => s.ctx.tuner.runningNow()[0]?.phase === 'measuring', 10_000, 'the measuring phase');
    expect((await rawRequest(`${s.url}/api/v1/pause`, { method: 'POST', headers: auth })).status).toBe(200);
    let e = (await running).experiments[0] as StoredExperiment;
    expect(e.reason).toBe('aborted: automation paused; concurrency restored to 16 (read back)');
    expect(app.concurrency).toBe(16);
    expect((await s.ctx.tuner.trigger('testapp-concurrency', { kind: 'manual' })).skipped).toBe('paused: automation is paused');
    await rawRequest(`${s.url}/api/v1/resume`, { method: 'POST', headers: auth });

    running = s.ctx.tuner.trigger('testapp-concurrency', { kind: 'manual' });
    await waitFor(() => s.ctx.tuner.runningNow()[0]?.phase === 'measuring', 10_000, 'the measuring phase');
    await alert(s.url, { alertname: 'DiskOnFire', severity: 'critical' });
    e = (await running).experiments[0] as StoredExperiment;
    expect(e.reason).toBe('aborted: emergency mode entered (DiskOnFire); concurrency restored to 16 (read back)');
    expect(app.concurrency).toBe(16);
    expect((await s.ctx.tuner.trigger('testapp-concurrency', { kind: 'manual' })).skipped).toBe('emergency: promedic is in emergency mode');
  });

  it('runs one experiment per target at a time; a second trigger is refused (API 409)', async () => {
    const s = await start(TUNING(app.url, { window: '2s', maxSteps: 1 }));
    const first = await rawRequest(`${s.url}/api/v1/tuning/testapp-concurrency/run`, { method: 'POST', headers: auth });
    expect(first.status).toBe(202);
    await waitFor(() => s.ctx.tuner.runningNow().length === 1, 5000, 'the experiment');
    const second = await rawRequest(`${s.url}/api/v1/tuning/testapp-concurrency/run`, { method: 'POST', headers: auth });
    expect(second.status).toBe(409);
    expect(JSON.parse(second.body).error.message).toMatch(/^busy: an experiment on testapp is running \(testapp-concurrency, concurrency\)$/);
    const view = await tuning(s.url);
    expect(view.knobs[0]?.running).toBe(s.ctx.tuner.runningNow()[0]?.id);
    expect(view.experiments[0]?.phase).not.toBe('done');
    expect((await rawRequest(`${s.url}/api/v1/tuning/nope/run`, { method: 'POST', headers: auth })).status).toBe(404);
    await s.ctx.tuner.idle();
    expect(s.ctx.store.mem.tuning.knobs.get('testapp\u0000concurrency')?.experiments).toBe(1);
  });

  it('a knob in its cooldown is not changed', async () => {
    const s = await start(TUNING(app.url, { cooldown: '1h', maxSteps: 1 }));
    const r1 = await s.ctx.tuner.trigger('testapp-concurrency', { kind: 'manual' });
    expect(r1.experiments[0]?.outcome).toBe('kept');
    const r2 = await s.ctx.tuner.trigger('testapp-concurrency', { kind: 'manual' });
    expect(r2.skipped).toMatch(/^cooldown: concurrency: in cooldown until /);
    expect(app.puts).toEqual([8]);
  });

  it('dry-run records what it would try and changes nothing', async () => {
    const s = await start(TUNING(app.url, { mode: 'dry-run' }));
    const r = await s.ctx.tuner.trigger('testapp-concurrency', { kind: 'manual' });
    expect(r.experiments[0]).toMatchObject({ outcome: 'planned', from: 16, to: 8, reason: 'dry-run: would try concurrency 16 -> 8, nothing changed' });
    expect(app.puts).toEqual([]);
  });
});

describe('a chronic signature', () => {
  it('starts the tuning playbook its healing playbook names in on_chronic, once the healing is done', async () => {
    const s = await start(TUNING(app.url, { maxSteps: 1 }), {}, 'learning: { chronic: { occurrences: 2, window: 1h } }\n');
    const t0 = Date.now();
    await alert(s.url, { alertname: 'TestAppDown', service: 'testapp' }, new Date(t0 - 2000).toISOString());
    await alert(s.url, { alertname: 'TestAppDown', service: 'testapp' }, new Date(t0 - 1000).toISOString());
    // The healing ran (concurrency 12), then the experiment started from there.
    const e = await waitFor(() => [...s.ctx.store.mem.tuning.experiments.values()].find((x) => x.phase === 'done'), 20_000, 'the experiment');
    expect(e.trigger).toEqual({ kind: 'chronic', playbook: 'testapp-heal', signature: 'alertname=TestAppDown,service=testapp' });
    expect(e).toMatchObject({ from: 12, to: 6, outcome: 'kept' });
    // The second firing came while the first run was still verifying: one healing run (the
    // second is skipped as busy), and it had ended before the experiment started.
    const healed = [...s.ctx.store.mem.runs.values()].filter((r) => r.playbook === 'testapp-heal');
    expect(healed.length).toBeGreaterThanOrEqual(1);
    expect(healed.every((r) => Date.parse(r.endedAt ?? '') <= Date.parse(e.startedAt))).toBe(true);
    expect(app.puts).toEqual([...healed.map(() => 12), 6]);
  });
});

describe('learning across runs', () => {
  it('starts from the best known value and does not retry a value rejected recently, across a restart', async () => {
    let s = await start();
    await s.ctx.tuner.trigger('testapp-concurrency', { kind: 'manual' });
    expect(app.puts).toEqual([8, 4, 8]); // 8 kept, 4 rejected
    await s.stop();
    svc = null;
    // The app restarts on its default.
    app.concurrency = 16;
    app.puts = [];
    s = await start();
    const r = await s.ctx.tuner.trigger('testapp-concurrency', { kind: 'manual' });
    // The best known value (8) first; from there 4 is skipped (rejected recently): 2 is tried.
    expect(r.experiments.map((e) => [e.from, e.to, e.outcome])).toEqual([
      [16, 8, 'kept'],
      [8, 2, 'rolled_back'],
    ]);
    expect(app.concurrency).toBe(8);
    const k = (await tuning(s.url)).knobs[0];
    expect(k?.rejected.map((x) => x.value).sort()).toEqual([2, 4]);
    expect(k?.kept.map((x) => x.value)).toEqual([8, 8]);
  });
});

describe('a crash in the middle of an experiment', () => {
  it('is rolled back at the next start, and recorded as aborted', async () => {
    writeConfig();
    const rules = writeRules(TUNING(app.url, { window: '3s' }));
    const env = { PROMEDIC_TOKEN: TOKEN, PROMEDIC_LISTEN_ADDRESS: '127.0.0.1', TESTAPP_TOKEN: APP_TOKEN };
    const args = ['--data-dir', join(dir.path, 'data'), '--rules', rules, '--config', join(dir.path, 'promedic.yml')];
    const first = await startCli(args, { env });
    await new Promise((r) => setTimeout(r, 300));
    expect((await rawRequest(`${first.url}/api/v1/tuning/testapp-concurrency/run`, { method: 'POST', headers: auth })).status).toBe(202);
    await waitFor(async () => (await tuning(first.url)).experiments[0]?.phase === 'measuring', 30_000, 'the measuring phase');
    expect(app.concurrency).toBe(8);
    first.child.kill('SIGKILL');
    await first.exited;
    expect(app.concurrency).toBe(8); // left changed by the crash

    const second = await startCli(args, { env });
    const t = await tuning(second.url);
    const e = t.experiments[0] as StoredExperiment;
    expect(e).toMatchObject({ outcome: 'aborted', cause: 'restart', phase: 'done', from: 16, to: 8, readBack: { restored: 16 } });
    expect(e.reason).toBe('promedic stopped during the experiment (phase measuring); concurrency restored to 16 (read back)');
    expect(app.concurrency).toBe(16);
    expect(t.knobs[0]).toMatchObject({ current: 16, rejected: [] });
    const m = parseExposition((await rawRequest(`${second.url}/metrics`, {})).body);
    expect(value(m, 'promedic_tuning_rollbacks_total', ['knob="concurrency"'])).toBe(1);
    expect(value(m, 'promedic_tuning_experiments_total', ['decision="aborted"'])).toBe(1);
  });
});
