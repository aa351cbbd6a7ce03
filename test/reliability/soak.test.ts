/**
 * Autonomous operation for 60 s: promedic (its own process, embedded monitor, the bundled
 * playbooks and monitors) watches the demo app (its own process, under load) with no
 * Prometheus, while faults are injected on a schedule: a memory leak, a dropped database
 * connection, idle connections piling up. Every fault is healed (the run verified), promedic
 * logs no error, and its RSS stays flat; RSS and event-loop delay are printed. Timings in the
 * rules are shortened as in the real-stack test (monitor `for` of seconds, the DB error rate
 * over 5 s, verification within 20 s); nothing asserts a duration.
 */
import { cpSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, type Running, killAll, parseExposition, rawRequest, startCli, tempDir, waitFor } from '../helpers/index.js';
import { type Proc, startDemoApp } from '../helpers/stack.js';

const TOKEN = 'soak-token-0123456789abcdef';
const DEMO_TOKEN = 'soak-demo-admin-token-0123456789';
const SOAK_MS = 60_000;

describe('60 s of autonomous operation with faults on a schedule', () => {
  const dir = tempDir('promedic-soak-');
  let demo: Proc | null = null;
  let promedic: Running | null = null;
  afterAll(async () => {
    await killAll();
    await demo?.stop();
    dir.cleanup();
  });

  it('heals every fault, logs no error, and keeps its memory flat', async () => {
    demo = await startDemoApp(['--load', '20', '--memory-limit-mb', '192'], { DEMO_ADMIN_TOKEN: DEMO_TOKEN });
    const rules = join(dir.path, 'rules');
    mkdirSync(join(rules, 'playbooks'), { recursive: true });
    for (const f of readdirSync(join(ROOT, 'rules/playbooks'))) {
      const text = readFileSync(join(ROOT, 'rules/playbooks', f), 'utf8')
        .replaceAll('http://127.0.0.1:8080', demo.url)
        .replace(/within: \d+[mh]\b/g, 'within: 20s');
      writeFileSync(join(rules, 'playbooks', f), text);
    }
    cpSync(join(ROOT, 'rules/monitors'), join(rules, 'monitors'), { recursive: true });
    const monitors = join(rules, 'monitors', 'default.yml');
    writeFileSync(monitors, readFileSync(monitors, 'utf8').replace('metric: app_db_connection_errors_total, window: 1m', 'metric: app_db_connection_errors_total, window: 5s'));
    writeFileSync(
      join(dir.path, 'promedic.yml'),
      [
        `data_dir: ${join(dir.path, 'data')}`,
        `rules_dir: ${rules}`,
        'collection: { interval: 1s }',
        'targets:',
        `  - { name: demo-app, url: "${demo.url}/metrics", interval: 1s }`,
        'monitor:',
        '  overrides:',
        '    AppHighMemoryUsage: { for: 3s }',
        '    DatabaseConnectionErrors: { for: 2s }',
        '    TooManyConnections: { for: 3s }',
      ].join('\n'),
    );
    promedic = await startCli(['--config', join(dir.path, 'promedic.yml')], { env: { PROMEDIC_TOKEN: TOKEN, PROMEDIC_LISTEN_ADDRESS: '127.0.0.1', DEMO_ADMIN_TOKEN: DEMO_TOKEN } });
    const url = promedic.url;
    const pid = promedic.child.pid as number;

    const samples: Array<{ s: number; rssMiB: number; loopMaxMs: number }> = [];
    const t0 = Date.now();
    const sample = async () => {
      const rss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
      const m = parseExposition((await rawRequest(`${url}/metrics`, {})).body);
      samples.push({ s: Math.round((Date.now() - t0) / 1000), rssMiB: rss, loopMaxMs: (m.get('nodejs_eventloop_lag_max_seconds')?.[0]?.value ?? 0) * 1000 });
    };
    const fault = (path: string, body: unknown) =>
      fetch(`${demo?.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => expect(r.status).toBe(200));
    const schedule: Array<[number, () => Promise<void>]> = [
      [2_000, () => fault('/fault/memory', { mb: 180 })],
      [22_000, () => fault('/fault/db', { mode: 'broken' })],
      [42_000, () => fault('/fault/connections', { count: 250 })],
    ];
    while (Date.now() - t0 < SOAK_MS) {
      const due = schedule.filter(([at]) => Date.now() - t0 >= at);
      for (const d of due) {
        schedule.splice(schedule.indexOf(d), 1);
        await d[1]();
      }
      if (samples.length === 0 || Date.now() - t0 >= (samples.length) * 5000) await sample();
      await new Promise((r) => setTimeout(r, 250));
    }
    await sample();

    // Every fault healed: a verified run of the playbook made for it.
    const auth = { authorization: `Bearer ${TOKEN}` };
    const runs = async () => (JSON.parse((await rawRequest(`${url}/api/v1/runs?limit=500`, { headers: auth })).body) as { runs: Array<{ playbook: string; status: string }> }).runs;
    const expected = ['memory-clear-caches', 'database-connection', 'connections-close-idle'];
    try {
      await waitFor(async () => {
        const rs = await runs();
        return expected.every((pb) => rs.some((r) => r.playbook === pb && r.status === 'succeeded'));
      }, 90_000, `a verified run of each of ${expected.join(', ')}`);
    } catch (err) {
      const alerts = (await rawRequest(`${url}/api/v1/alerts`, { headers: auth })).body;
      const skipped = (await rawRequest(`${url}/metrics`, {})).body.split('\n').filter((l) => l.startsWith('promedic_runs_skipped_total') && !l.endsWith(' 0'));
      throw new Error(`${(err as Error).message}\nruns: ${JSON.stringify(await runs(), null, 1).slice(0, 6000)}\nskipped: ${skipped.join('; ')}\nalerts: ${alerts.slice(0, 3000)}\nlog: ${promedic.output().slice(-4000)}`);
    }
    const rs = await runs();
    console.log(
      `soak: ${rs.length} runs (${rs.map((r) => `${r.playbook}:${r.status}`).join(', ')})\n` +
        `  t(s)  rss(MiB)  event-loop max(ms)\n${samples.map((x) => `  ${String(x.s).padStart(4)}  ${x.rssMiB.toFixed(1).padStart(8)}  ${x.loopMaxMs.toFixed(1).padStart(8)}`).join('\n')}`,
    );
    // No error logs (level 50 and above) from promedic.
    const errors = promedic.output().split('\n').filter((l) => /"level":(5\d|60)/.test(l));
    expect(errors, errors.join('\n')).toEqual([]);
    // Flat memory: the last samples within 1.5x of the first ones (a leak of the run history, the
    // series store or the episodes would show here first).
    const early = Math.max(...samples.slice(1, 4).map((x) => x.rssMiB));
    const late = Math.max(...samples.slice(-3).map((x) => x.rssMiB));
    expect(late).toBeLessThan(early * 1.5);
  }, 240_000);
});
