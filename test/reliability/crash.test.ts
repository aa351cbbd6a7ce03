/**
 * kill -9 at random moments, again and again: promedic is started, sent new alerts (each
 * matching a playbook that changes a config file, waits, and fails its verification, so it
 * rolls back), and killed at a random moment (during intake, store writes, steps, rollbacks),
 * then started again. Bounded to 200 kills or 130 s. After the last restart: every file in the
 * data dir parses (a torn last journal line is allowed: it was never acknowledged), every
 * alert answered 202 is recorded, no run is left running, and the config file is back to its
 * original value: every change was undone, by the rollback or by the restart's recovery.
 */
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRng } from '../../src/learning/index.js';
import { amPayload, killAll, rawRequest, startCli, tempDir } from '../helpers/index.js';

const TOKEN = 'crash-storm-token-0123456789';
const MAX_KILLS = 200;
const BUDGET_MS = 130_000;

describe('repeated kill -9', () => {
  const dir = tempDir('promedic-crash-');
  afterAll(async () => {
    await killAll();
    dir.cleanup();
  });

  it('loses no acknowledged alert, leaves every file parseable, and undoes every change', async () => {
    const appConfig = join(dir.path, 'app.yml');
    writeFileSync(appConfig, '# the app watches this file\nworkers: 16 # per CPU\n');
    const original = readFileSync(appConfig, 'utf8');
    mkdirSync(join(dir.path, 'rules', 'playbooks'), { recursive: true });
    writeFileSync(
      join(dir.path, 'rules', 'playbooks', 'crash.yml'),
      `
name: fewer-workers
match: ['alertname = "Overload"']
target: [alertname]
cooldown: 0s
strategies:
  - name: fewer-workers
    steps:
      - name: fewer workers
        config: { file: ${appConfig}, key: workers, value: 4 }
      - wait: 150ms
verify: { within: 100ms }
`,
    );
    const env = { PROMEDIC_TOKEN: TOKEN, PROMEDIC_LISTEN_ADDRESS: '127.0.0.1' };
    const data = join(dir.path, 'data');
    const args = ['--data-dir', data, '--rules', join(dir.path, 'rules'), '--collection-interval', '1h'];
    // Seeded, so a failing sequence of kill moments can be replayed.
    const rand = createRng(20261128);
    const random = () => rand.next();
    const acknowledged = new Set<string>();
    const t0 = Date.now();
    let kills = 0;
    let n = 0;
    while (kills < MAX_KILLS && Date.now() - t0 < BUDGET_MS) {
      const p = await startCli(args, { env });
      // A few deliveries, then the kill at a random moment (some land mid-request).
      const deadline = Date.now() + random() * 300;
      const sends: Array<Promise<void>> = [];
      while (Date.now() < deadline) {
        const i = n++;
        const labels = { alertname: 'Overload', instance: `host-${i % 5}:9100`, seq: String(i) };
        sends.push(
          rawRequest(`${p.url}/webhook/alertmanager`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
            body: JSON.stringify(amPayload([{ labels }])),
          }).then(
            (r) => {
              if (r.status === 202) acknowledged.add(String(i));
            },
            () => undefined, // cut off by the kill: never acknowledged
          ),
        );
        await new Promise((r) => setTimeout(r, 20 + random() * 40));
      }
      p.child.kill('SIGKILL');
      await p.exited;
      await Promise.all(sends);
      kills++;
    }

    // Every file parses; only a journal's last line may be torn.
    for (const f of readdirSync(data)) {
      if (f === 'state.json') JSON.parse(readFileSync(join(data, f), 'utf8'));
      if (f.startsWith('journal.')) {
        const lines = readFileSync(join(data, f), 'utf8').split('\n').filter(Boolean);
        for (const l of lines.slice(0, -1)) JSON.parse(l);
      }
    }

    const last = await startCli(args, { env });
    const auth = { authorization: `Bearer ${TOKEN}` };
    const alerts = JSON.parse((await rawRequest(`${last.url}/api/v1/alerts`, { headers: auth })).body) as { firing_episodes: Array<{ labels: Record<string, string> }> };
    const recorded = new Set(alerts.firing_episodes.map((e) => e.labels.seq));
    const lost = [...acknowledged].filter((s) => !recorded.has(s));
    // Runs: none left in flight; the file is back to its original text.
    const runs = JSON.parse((await rawRequest(`${last.url}/api/v1/runs?limit=500`, { headers: auth })).body) as { total: number; runs: Array<{ status: string }> };
    const byStatus: Record<string, number> = {};
    for (const r of runs.runs) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
    console.log(`crash: ${kills} kills in ${((Date.now() - t0) / 1000).toFixed(0)} s, ${n} alerts sent, ${acknowledged.size} acknowledged, ${lost.length} lost; runs ${JSON.stringify(byStatus)}`);
    expect(lost).toEqual([]);
    expect(runs.runs.filter((r) => ['running', 'verifying', 'pending'].includes(r.status))).toEqual([]);
    expect(byStatus.interrupted ?? 0).toBeGreaterThan(0);
    expect(readFileSync(appConfig, 'utf8')).toBe(original);
    last.child.kill('SIGTERM');
    await last.exited;
  }, 240_000);
});
