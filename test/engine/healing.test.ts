/**
 * The healing loop end to end, in process: real HTTP webhook on 127.0.0.1, real store files,
 * a real HTTP "app" that playbooks call, real child processes for exec steps.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { type Service, startService } from '../../src/main.js';
import type { RunRecord } from '../../src/store/types.js';
import { amPayload, get, rawRequest, recordingServer, tempDir, waitFor } from '../helpers/index.js';

const TOKEN = 'test-token-0123456789abcdef';
let dir: { path: string; cleanup: () => void };
let app: Awaited<ReturnType<typeof recordingServer>>;
let svc: Service | null = null;
let appStatus: (path: string) => number = () => 200;

function writeRules(yaml: string, file = 'test.yml'): void {
  mkdirSync(join(dir.path, 'rules', 'playbooks'), { recursive: true });
  writeFileSync(join(dir.path, 'rules', 'playbooks', file), yaml.replaceAll('APP', app.url));
}

async function start(extra: Record<string, string> = {}, yaml?: string): Promise<Service> {
  writeFileSync(
    join(dir.path, 'promedic.yml'),
    ['listen: { port: 0 }', 'log: { level: silent }', 'collection: { interval: 1h }', yaml ?? ''].join('\n'),
  );
  const config = loadConfig({ cwd: dir.path, env: { PROMEDIC_TOKEN: TOKEN, PROMEDIC_LISTEN_ADDRESS: '127.0.0.1', ...extra } });
  svc = await startService(config, pino({ level: 'silent' }));
  return svc;
}

async function post(body: unknown, opts: { token?: string | null; path?: string; contentType?: string } = {}) {
  const headers: Record<string, string> = { 'content-type': opts.contentType ?? 'application/json' };
  if (opts.token !== null) headers.authorization = `Bearer ${opts.token ?? TOKEN}`;
  return rawRequest(`${svc?.url}${opts.path ?? '/webhook/alertmanager'}`, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

function runs(): RunRecord[] {
  return [...(svc as Service).ctx.store.mem.runs.values()];
}

beforeEach(async () => {
  dir = tempDir();
  appStatus = () => 200;
  app = await recordingServer((r) => appStatus(r.url));
});
afterEach(async () => {
  await svc?.stop();
  svc = null;
  await app.close();
  dir.cleanup();
});

const BASIC = `
name: db-reset
match: ['alertname = "DbDown"']
category: database
target: [alertname, service]
cooldown: 1s
strategies:
  - name: reset
    steps:
      - name: reset pool
        http: { method: POST, url: "APP/admin/db/reset/{{ labels.service }}", headers: { x-alert: "{{ labels.alertname }}" } }
verify: { within: 2s }
`;

describe('webhook intake', () => {
  it('requires the bearer token, compared in constant time, and names the problem', async () => {
    writeRules(BASIC);
    await start();
    const body = amPayload([{ labels: { alertname: 'DbDown', service: 'api' } }]);
    expect((await post(body, { token: null })).status).toBe(401);
    expect((await post(body, { token: 'wrong-token-wrong-token' })).status).toBe(401);
    const ok = await post(body);
    expect(ok.status).toBe(202);
    expect(JSON.parse(ok.body)).toMatchObject({ status: 'accepted', received: 1, outcomes: { new: 1 } });
  });

  it('accepts basic auth when configured', async () => {
    writeRules(BASIC);
    await start({}, 'auth: { basic: { username: am, password: "s3cret-pass" } }');
    const body = JSON.stringify(amPayload([{ labels: { alertname: 'Other' } }]));
    const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
    const send = (auth: string) =>
      rawRequest(`${svc?.url}/webhook/alertmanager`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: auth }, body });
    expect((await send(basic('am', 's3cret-pass'))).status).toBe(202);
    expect((await send(basic('am', 'nope'))).status).toBe(401);
  });

  it('answers bad input with 4xx naming the field, and records nothing', async () => {
    writeRules(BASIC);
    await start();
    const cases: Array<[unknown, number, RegExp, string?]> = [
      ['{"version":', 400, /not valid JSON/],
      [{ ...amPayload([]), version: '3' }, 400, /version: must be "4"/],
      [{ version: '4', status: 'firing' }, 400, /^alerts: is required$/],
      [{ ...amPayload([]), alerts: [{ status: 'firing', labels: { a: 1 }, startsAt: '2026-01-01T00:00:00Z' }] }, 400, /alerts\[0\]\.labels\.a: must be string/],
      [{ ...amPayload([]), alerts: [{ status: 'burning', labels: { a: 'x' }, startsAt: 'yesterday' }] }, 400, /alerts\[0\]\.status: must be one of: firing, resolved.*alerts\[0\]\.startsAt: must match format "date-time"/],
      [{ ...amPayload([{ labels: { alertname: 'X' } }]) }, 415, /Content-Type must be application\/json/, 'text/plain'],
    ];
    for (const [body, status, msg, ct] of cases) {
      const r = await post(body, ct ? { contentType: ct } : {});
      expect(r.status, r.body).toBe(status);
      expect(JSON.parse(r.body).error.message).toMatch(msg);
    }
    const big = await post(amPayload([{ labels: { alertname: 'X', blob: 'x'.repeat(1_100_000) } }]));
    expect(big.status).toBe(413);
    expect(svc?.ctx.store.mem.episodes.size).toBe(0);
  });

  it('accepts unknown keys from newer Alertmanagers', async () => {
    writeRules(BASIC);
    await start();
    const r = await post({ ...amPayload([{ labels: { alertname: 'X' } }]), notification_reason: 'x', routeLabels: { a: 'b' } });
    expect(r.status).toBe(202);
  });
});

describe('the healing engine', () => {
  it('runs the matching playbook once for a payload replayed 10 times, with templated data in its slots', async () => {
    writeRules(BASIC);
    await start();
    const body = amPayload([{ labels: { alertname: 'DbDown', service: 'billing api/../x' } }]);
    const replies = await Promise.all(Array.from({ length: 10 }, () => post(body)));
    expect(replies.map((r) => r.status)).toEqual(Array(10).fill(202));
    await waitFor(() => app.calls.length >= 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(app.calls).toHaveLength(1);
    expect(app.calls[0]?.url).toBe('/admin/db/reset/billing%20api%2F..%2Fx');
    expect(app.calls[0]?.headers['x-alert']).toBe('DbDown');
    const metrics = (await get(`${svc?.url}/metrics`)).body;
    expect(metrics).toMatch(/promedic_alerts_received_total\{status="firing",category="database",severity="warning",outcome="duplicate"\} 9/);
    expect(metrics).toMatch(/promedic_alerts_received_total\{status="firing",category="database",severity="warning",outcome="new"\} 1/);
  });

  it('starts one new run when a group is re-sent with one new alert', async () => {
    writeRules(BASIC);
    await start();
    const a = { labels: { alertname: 'DbDown', service: 'a' } };
    const b = { labels: { alertname: 'DbDown', service: 'b' } };
    await post(amPayload([a]));
    await waitFor(() => app.calls.length === 1);
    await post(amPayload([a, b]));
    await waitFor(() => app.calls.length === 2);
    await new Promise((r) => setTimeout(r, 200));
    expect(app.calls.map((c) => c.url).sort()).toEqual(['/admin/db/reset/a', '/admin/db/reset/b']);
  });

  it('succeeds when the alert resolves within verify.within, and records the run', async () => {
    writeRules(BASIC);
    await start();
    const alert = { labels: { alertname: 'DbDown', service: 'api' } };
    await post(amPayload([alert]));
    await waitFor(() => runs()[0]?.status === 'verifying');
    await post(amPayload([{ ...alert, status: 'resolved' }], 'resolved'));
    const run = await waitFor(() => runs().find((r) => r.status === 'succeeded'));
    expect(run).toMatchObject({ playbook: 'db-reset', strategy: 'reset', category: 'database', target: { alertname: 'DbDown', service: 'api' } });
    expect(run.verification).toMatchObject({ method: 'resolved', outcome: 'ok' });
    expect(run.steps[0]).toMatchObject({ name: 'reset pool', type: 'http', outcome: 'ok', attempts: 1 });
    const api = await rawRequest(`${svc?.url}/api/v1/runs?playbook=db-reset&status=succeeded`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(JSON.parse(api.body)).toMatchObject({ total: 1, runs: [{ id: run.id }] });
    const one = await rawRequest(`${svc?.url}/api/v1/runs/${run.id}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(JSON.parse(one.body).id).toBe(run.id);
    expect((await get(`${svc?.url}/api/v1/runs`)).status).toBe(401);
  });

  it('a resolve that arrives before the run verifies counts, and a resolved episode is closed', async () => {
    writeRules(BASIC.replace('verify: { within: 2s }', 'verify: { within: 5s }'));
    await start();
    const alert = { labels: { alertname: 'DbDown', service: 'api' } };
    await post(amPayload([alert]));
    await post(amPayload([{ ...alert, status: 'resolved' }], 'resolved'));
    const run = await waitFor(() => runs().find((r) => r.status === 'succeeded'));
    expect(run.verification?.outcome).toBe('ok');
    expect([...(svc as Service).ctx.store.mem.episodes.values()][0]?.status).toBe('resolved');
  });

  it('on verification failure runs the undo steps in reverse order, then tries the next strategy', async () => {
    writeRules(`
name: two-step
match: ['alertname = "Slow"']
cooldown: 1s
strategies:
  - name: first
    steps:
      - name: a
        http: { method: PUT, url: "APP/step/a" }
        undo: { http: { method: PUT, url: "APP/undo/a" } }
      - name: b
        http: { method: PUT, url: "APP/step/b" }
        undo: { http: { method: PUT, url: "APP/undo/b" } }
  - name: second
    steps:
      - name: c
        http: { method: PUT, url: "APP/step/c" }
verify: { within: 500ms }
`);
    await start();
    await post(amPayload([{ labels: { alertname: 'Slow' } }]));
    await waitFor(() => runs().filter((r) => r.status === 'failed').length === 2, 10_000);
    expect(app.calls.map((c) => c.url)).toEqual(['/step/a', '/step/b', '/undo/b', '/undo/a', '/step/c']);
    const [first, second] = runs();
    expect(first).toMatchObject({ strategy: 'first', attempt: 1, status: 'failed', verification: { outcome: 'failed' } });
    expect(first?.rollback?.map((s) => s.outcome)).toEqual(['ok', 'ok']);
    expect(second).toMatchObject({ strategy: 'second', attempt: 2, status: 'failed' });
    expect((await get(`${svc?.url}/metrics`)).body).toMatch(/promedic_rollbacks_total\{playbook="two-step"\} 1/);
  });

  it('retries a failing step with backoff, and undoes earlier steps when a later one fails for good', async () => {
    let attempts = 0;
    appStatus = (path) => (path === '/flaky' ? (++attempts < 3 ? 503 : 200) : path === '/broken' ? 400 : 200);
    writeRules(`
name: retrying
match: ['alertname = "Flaky"']
strategy_policy: first_only
strategies:
  - steps:
      - name: set
        http: { method: PUT, url: "APP/set" }
        undo: { http: { method: PUT, url: "APP/unset" } }
      - name: flaky
        http: { method: POST, url: "APP/flaky" }
        retry: { attempts: 3, initial: 50ms, max: 100ms }
      - name: broken
        http: { method: POST, url: "APP/broken" }
        retry: { attempts: 5, initial: 10ms }
`);
    await start();
    await post(amPayload([{ labels: { alertname: 'Flaky' } }]));
    const run = await waitFor(() => runs().find((r) => r.status === 'failed'));
    expect(app.calls.map((c) => c.url)).toEqual(['/set', '/flaky', '/flaky', '/flaky', '/broken', '/unset']);
    expect(run.steps.map((s) => [s.name, s.outcome, s.attempts])).toEqual([
      ['set', 'ok', 1],
      ['flaky', 'ok', 3],
      ['broken', 'failed', 1], // a 4xx is not worth retrying
    ]);
    expect(run.steps[2]?.error).toMatch(/unexpected status 400/);
  });

  it('times out a step and kills the whole process group', async () => {
    const marker = join(dir.path, 'grandchild-ran');
    writeRules(`
name: slow-exec
match: ['alertname = "Hang"']
strategy_policy: first_only
strategies:
  - steps:
      - name: hang
        exec: { argv: [sh, -c, "(sleep 1.5; touch ${marker}) & sleep 30"] }
        timeout: 300ms
`);
    await start();
    await post(amPayload([{ labels: { alertname: 'Hang' } }]));
    const run = await waitFor(() => runs().find((r) => r.status === 'failed'));
    expect(run.steps[0]?.error).toMatch(/timed out after 0.3s/);
    await new Promise((r) => setTimeout(r, 1800));
    expect(existsSync(marker)).toBe(false);
  });

  it('passes hostile label values to a program as single literal arguments', async () => {
    const out = join(dir.path, 'argv.json');
    const script = join(dir.path, 'argv.cjs');
    writeFileSync(script, `require('fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify({argv: process.argv.slice(2), env: process.env.INSTANCE}))`);
    writeRules(`
name: inject
match: ['alertname = "Inject"']
strategy_policy: first_only
strategies:
  - steps:
      - exec:
          argv: [${process.execPath}, ${script}, "{{ labels.instance }}", "--target={{ labels.job }}", "{{ labels.multi }}"]
          env: { INSTANCE: "{{ labels.instance }}" }
`);
    await start();
    const hostile = { alertname: 'Inject', instance: '$(touch /tmp/pwned); rm -rf /', job: '-oProxyCommand=sh -c id', multi: 'a\nb `id` "q" \'s\'' };
    await post(amPayload([{ labels: hostile }]));
    await waitFor(() => existsSync(out));
    const got = JSON.parse(readFileSync(out, 'utf8'));
    expect(got.argv).toEqual([hostile.instance, `--target=${hostile.job}`, hostile.multi]);
    expect(got.env).toBe(hostile.instance);
    expect(existsSync('/tmp/pwned')).toBe(false);
  });

  it('refuses alerts whose labels do not fit the playbook\'s label rules', async () => {
    writeRules(`
name: strict
match: ['alertname = "Strict"']
labels: { instance: '[a-z0-9.:-]+' }
strategies:
  - steps: [ { http: { url: "APP/x/{{ labels.instance }}" } } ]
`);
    await start();
    await post(amPayload([{ labels: { alertname: 'Strict', instance: 'evil/../admin' } }]));
    await new Promise((r) => setTimeout(r, 300));
    expect(app.calls).toHaveLength(0);
  });

  it('pause records and matches alerts but acts on none; resume acts again', async () => {
    writeRules(BASIC);
    await start();
    const auth = { authorization: `Bearer ${TOKEN}` };
    expect((await rawRequest(`${svc?.url}/api/v1/pause`, { method: 'POST', headers: auth })).status).toBe(200);
    await post(amPayload([{ labels: { alertname: 'DbDown', service: 'p' } }]));
    await new Promise((r) => setTimeout(r, 300));
    expect(app.calls).toHaveLength(0);
    expect(svc?.ctx.store.mem.episodes.size).toBe(1);
    const m = (await get(`${svc?.url}/metrics`)).body;
    expect(m).toMatch(/promedic_runs_skipped_total\{playbook="db-reset",reason="paused"\} 1/);
    expect(m).toMatch(/promedic_paused 1/);
    await rawRequest(`${svc?.url}/api/v1/resume`, { method: 'POST', headers: auth });
    await post(amPayload([{ labels: { alertname: 'DbDown', service: 'q' } }]));
    await waitFor(() => app.calls.length === 1);
  });

  it('dry-run records the rendered plan and makes zero HTTP calls and zero processes', async () => {
    const marker = join(dir.path, 'ran');
    writeRules(`
name: planned
match: ['alertname = "Plan"']
mode: dry-run
strategies:
  - steps:
      - http: { method: POST, url: "APP/act/{{ labels.service }}" }
      - exec: { argv: [touch, ${marker}] }
`);
    await start();
    await post(amPayload([{ labels: { alertname: 'Plan', service: 's1' } }]));
    const run = await waitFor(() => runs().find((r) => r.status === 'planned'));
    expect(run.mode).toBe('dry-run');
    expect(run.steps.map((s) => s.rendered)).toEqual([
      { method: 'POST', url: `${app.url}/act/s1`, headers: {}, expect: [] },
      { argv: ['touch', marker], env: {} },
    ]);
    await new Promise((r) => setTimeout(r, 200));
    expect(app.calls).toHaveLength(0);
    expect(existsSync(marker)).toBe(false);
  });

  it('suspends a flapping playbook for its target, and the suspension and cooldown survive a restart', async () => {
    appStatus = () => 500;
    writeRules(`
name: flappy
match: ['alertname = "Flap"']
cooldown: 1ms
flap: { failures: 2, window: 1h, suspend: 1h }
strategies:
  - steps: [ { http: { method: POST, url: "APP/fix" } } ]
`);
    await start();
    for (const t of ['2026-01-01T00:00:00Z', '2026-01-01T00:01:00Z', '2026-01-01T00:02:00Z']) {
      await post(amPayload([{ labels: { alertname: 'Flap' }, startsAt: t }]));
      // idle(): the run is finished and its target released (a finished record alone is not enough).
      await (svc as Service).ctx.engine.idle();
    }
    expect(app.calls).toHaveLength(2);
    const m = (await get(`${svc?.url}/metrics`)).body;
    expect(m).toMatch(/promedic_playbook_suspended\{playbook="flappy"\} 1/);
    expect(m).toMatch(/promedic_runs_skipped_total\{playbook="flappy",reason="suspended"\} 1/);
    await svc?.stop();
    svc = null;
    await start();
    const pbs = JSON.parse((await rawRequest(`${svc!.url}/api/v1/playbooks`, { headers: { authorization: `Bearer ${TOKEN}` } })).body);
    expect(pbs.playbooks[0]).toMatchObject({ name: 'flappy', state: 'suspended' });
    await post(amPayload([{ labels: { alertname: 'Flap' }, startsAt: '2026-01-01T00:03:00Z' }]));
    await new Promise((r) => setTimeout(r, 200));
    expect(app.calls).toHaveLength(2);
  });

  it('reload with a broken file keeps the old rules and reports file:line', async () => {
    writeRules(BASIC);
    await start();
    writeRules('name: broken\nmatch: ["alertname = "]\nstrategies: []\n', 'zz-broken.yml');
    const r = await rawRequest(`${svc?.url}/-/reload`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(r.status).toBe(400);
    const problems = JSON.parse(r.body).error.problems as string[];
    expect(problems.join('\n')).toMatch(/zz-broken\.yml:3: strategies: must NOT have fewer than 1 items/);
    expect((await get(`${svc?.url}/metrics`)).body).toMatch(/promedic_rules_last_reload_successful 0/);
    await post(amPayload([{ labels: { alertname: 'DbDown', service: 'still' } }]));
    await waitFor(() => app.calls.length === 1);
  });

  it('cools down per playbook and target: a new episode for the same target inside the cooldown is skipped', async () => {
    writeRules(BASIC.replace('cooldown: 1s', 'cooldown: 1h'));
    await start();
    const alert = { labels: { alertname: 'DbDown', service: 'api' } };
    await post(amPayload([alert]));
    await post(amPayload([{ ...alert, status: 'resolved' }], 'resolved'));
    await waitFor(() => runs()[0]?.status === 'succeeded');
    await (svc as Service).ctx.engine.idle();
    await post(amPayload([{ ...alert, startsAt: '2026-01-01T01:00:00Z' }]));
    await post(amPayload([{ labels: { alertname: 'DbDown', service: 'other' }, startsAt: '2026-01-01T01:00:00Z' }]));
    await waitFor(() => app.calls.length === 2);
    await new Promise((r) => setTimeout(r, 200));
    expect(app.calls.map((c) => c.url)).toEqual(['/admin/db/reset/api', '/admin/db/reset/other']);
    expect((await get(`${svc?.url}/metrics`)).body).toMatch(/promedic_runs_skipped_total\{playbook="db-reset",reason="cooldown"\} 1/);
  });

  it('queues runs beyond max_concurrent and skips runs beyond the global rate limit', async () => {
    writeRules(`
name: slow
match: ['alertname = "Busy"']
max_concurrent: 1
strategy_policy: first_only
strategies:
  - steps: [ { http: { method: POST, url: "APP/work/{{ labels.n }}" } }, { wait: 1ms } ]
verify: { within: 10s }
`);
    await start({}, 'engine: { max_runs_per_minute: 3 }');
    // Each run holds the single slot while it waits for its alert to resolve.
    for (const n of ['1', '2', '3', '4']) await post(amPayload([{ labels: { alertname: 'Busy', n } }]));
    await waitFor(() => app.calls.length === 1);
    await new Promise((r) => setTimeout(r, 200));
    expect(app.calls).toHaveLength(1); // the others wait for the single slot
    expect((await get(`${svc?.url}/metrics`)).body).toMatch(/promedic_runs_queued 2/);
    expect((await get(`${svc?.url}/metrics`)).body).toMatch(/promedic_runs_skipped_total\{playbook="slow",reason="rate_limited"\} 1/);
    for (const n of ['1', '2', '3']) {
      await waitFor(() => app.calls.length === Number(n));
      await post(amPayload([{ labels: { alertname: 'Busy', n }, status: 'resolved' }], 'resolved'));
    }
    await waitFor(() => runs().filter((r) => r.status === 'succeeded').length === 3);
    expect(app.calls.map((c) => c.url)).toEqual(['/work/1', '/work/2', '/work/3']);
  });

  it('on_resolved: cancel stops a run that is still acting and rolls back what it did', async () => {
    writeRules(`
name: cancellable
match: ['alertname = "Cancel"']
on_resolved: cancel
strategies:
  - steps:
      - name: change
        http: { method: PUT, url: "APP/change" }
        undo: { http: { method: PUT, url: "APP/revert" } }
      - name: long wait
        wait: 30s
      - name: never
        http: { method: PUT, url: "APP/never" }
`);
    await start();
    const alert = { labels: { alertname: 'Cancel' } };
    await post(amPayload([alert]));
    await waitFor(() => runs()[0]?.steps[1]?.outcome === 'pending');
    await post(amPayload([{ ...alert, status: 'resolved' }], 'resolved'));
    const run = await waitFor(() => runs().find((r) => r.status === 'cancelled'));
    expect(run.error).toMatch(/resolved/);
    expect(app.calls.map((c) => c.url)).toEqual(['/change', '/revert']);
    expect(runs()).toHaveLength(1); // no fallback strategy after a cancel
  });

  it('on_resolved: finish (the default) completes the steps and counts the resolve as verification', async () => {
    writeRules(`
name: finishing
match: ['alertname = "Finish"']
strategies:
  - steps:
      - { name: first, http: { method: PUT, url: "APP/first" } }
      - { name: pause, wait: 300ms }
      - { name: second, http: { method: PUT, url: "APP/second" } }
`);
    await start();
    const alert = { labels: { alertname: 'Finish' } };
    await post(amPayload([alert]));
    await waitFor(() => app.calls.length === 1);
    await post(amPayload([{ ...alert, status: 'resolved' }], 'resolved'));
    const run = await waitFor(() => runs().find((r) => r.status === 'succeeded'));
    expect(app.calls.map((c) => c.url)).toEqual(['/first', '/second']);
    expect(run.verification?.outcome).toBe('ok');
  });

  it('a critical alert enters emergency mode: told at once, emergency playbooks first and past their cooldown, left on resolve', async () => {
    writeRules(`
playbooks:
  - name: emergency-relief
    emergency: true
    match: ['alertname = "OutOfMemory"']
    target: [alertname]
    cooldown: 1h
    strategies:
      - steps: [ { http: { method: POST, url: "APP/relief" } } ]
    verify: { within: 200ms }
  - name: ordinary
    match: ['alertname = "OutOfMemory"']
    target: [alertname]
    cooldown: 1h
    strategies:
      - steps: [ { http: { method: POST, url: "APP/ordinary" } } ]
    verify: { within: 200ms }
`);
    await start({}, `emergency: { notify_url: "${app.url}/chat" }`);
    const first = { labels: { alertname: 'OutOfMemory', severity: 'critical', n: '1' } };
    await post(amPayload([first]));
    await waitFor(() => app.calls.filter((c) => c.url !== '/chat').length === 2);
    expect(app.calls.filter((c) => c.url !== '/chat')[0]?.url).toBe('/relief'); // emergency playbook first
    expect(JSON.parse(app.calls.find((c) => c.url === '/chat')?.body ?? '{}').text).toMatch(/EMERGENCY .*OutOfMemory/);
    expect((await get(`${svc?.url}/metrics`)).body).toMatch(/^promedic_emergency_active 1$/m);
    await (svc as Service).ctx.engine.idle();

    // A second episode of the same target inside the cooldown: only the emergency playbook runs.
    const second = { labels: { alertname: 'OutOfMemory', severity: 'critical', n: '2' } };
    await post(amPayload([second]));
    await waitFor(() => app.calls.filter((c) => c.url === '/relief').length === 2);
    await new Promise((r) => setTimeout(r, 200));
    expect(app.calls.filter((c) => c.url === '/ordinary')).toHaveLength(1);

    await post(amPayload([{ ...first, status: 'resolved' }, { ...second, status: 'resolved' }], 'resolved'));
    await waitFor(async () => /^promedic_emergency_active 0$/m.test((await get(`${svc?.url}/metrics`)).body));
    await waitFor(() => app.calls.some((c) => c.url === '/chat' && /emergency over/.test(c.body)));
  });
});

