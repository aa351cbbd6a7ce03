/**
 * Runs that write one file go one at a time. Two runs changing one key at once (two targets of
 * one playbook, or two playbooks) would undo in the wrong order: A writes 1 (undo: 0), B writes
 * 2 (undo: 1), A rolls back to 0, B rolls back to 1, and the file is left changed.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import type { RunRecord } from '../../src/store/types.js';
import { amPayload, inProcess, rawRequest, recordingServer, waitFor } from '../helpers/index.js';

let close: (() => Promise<void>) | null = null;
afterEach(async () => {
  await close?.();
  close = null;
});

it('two runs changing one file key (two targets, and another playbook) run in turn, and the file ends as it began', async () => {
  const app = await recordingServer(() => 200);
  const h = await inProcess({ engine: { max_runs_per_minute: 100, max_in_flight: 10, dry_run: false, paused: false } });
  close = async () => {
    await h.close();
    await app.close();
  };
  const file = join(h.dir, 'app.yml');
  const ORIGINAL = '# tuned by hand\npool:\n  size: 10 # the default\n';
  writeFileSync(file, ORIGINAL);
  mkdirSync(join(h.dir, 'rules', 'playbooks'), { recursive: true });
  // Each run changes pool.size, then fails its verification (the alert never resolves): rollback.
  const pb = (name: string, alertname: string, value: number) => `
  - name: ${name}
    match: ['alertname = "${alertname}"']
    target: [alertname, service]
    max_concurrent: 4
    strategy_policy: first_only
    strategies:
      - steps:
          - config: { file: "${file}", key: pool.size, value: ${value} }
          - http: { method: POST, url: "${app.url}/changed/${name}/{{ labels.service }}" }
          - wait: 300ms
    verify: { within: 200ms }`;
  writeFileSync(join(h.dir, 'rules', 'playbooks', 'pool.yml'), `playbooks:${pb('grow-pool', 'PoolSmall', 20)}${pb('shrink-pool', 'PoolBig', 5)}\n`);
  expect(h.p.reload()).toEqual([]);
  const post = (alertname: string, service: string) =>
    rawRequest(`${h.p.url}/webhook/alertmanager`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(amPayload([{ labels: { alertname, service } }])),
    });
  await post('PoolSmall', 'a');
  await post('PoolSmall', 'b');
  await post('PoolBig', 'c');
  const runs = (): RunRecord[] => [...(h.p.service?.ctx.store.mem.runs.values() ?? [])];
  await waitFor(() => runs().length === 3 && runs().every((r) => r.status === 'failed'), 20_000, 'three runs to fail and roll back');
  await h.p.service?.ctx.engine.idle();

  // In turn: each run started after the previous one had ended (rollback included).
  const ordered = runs().sort((x, y) => Date.parse(x.startedAt) - Date.parse(y.startedAt));
  for (let i = 1; i < ordered.length; i++) {
    expect(Date.parse(ordered[i]?.startedAt as string)).toBeGreaterThanOrEqual(Date.parse(ordered[i - 1]?.endedAt as string));
  }
  for (const r of ordered) expect(r.rollback?.map((s) => [s.type, s.outcome])).toEqual([['config', 'ok']]);
  expect(app.calls).toHaveLength(3);
  expect(readFileSync(file, 'utf8')).toBe(ORIGINAL);
}, 40_000);

it('runs that write different files still run at once', async () => {
  const app = await recordingServer(() => 200);
  const h = await inProcess({ engine: { max_runs_per_minute: 100, max_in_flight: 10, dry_run: false, paused: false } });
  close = async () => {
    await h.close();
    await app.close();
  };
  mkdirSync(join(h.dir, 'rules', 'playbooks'), { recursive: true });
  for (const s of ['a', 'b']) writeFileSync(join(h.dir, `${s}.yml`), 'size: 1\n');
  writeFileSync(
    join(h.dir, 'rules', 'playbooks', 'two.yml'),
    `playbooks:${['a', 'b']
      .map(
        (s) => `
  - name: set-${s}
    match: ['alertname = "Set"', 'service = "${s}"']
    strategies:
      - steps:
          - config: { file: "${join(h.dir, `${s}.yml`)}", key: size, value: 2 }
          - wait: 500ms
    verify: { within: 10s }`,
      )
      .join('')}
`,
  );
  expect(h.p.reload()).toEqual([]);
  for (const s of ['a', 'b']) {
    await rawRequest(`${h.p.url}/webhook/alertmanager`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(amPayload([{ labels: { alertname: 'Set', service: s } }])),
    });
  }
  const runs = (): RunRecord[] => [...(h.p.service?.ctx.store.mem.runs.values() ?? [])];
  // Both are acting at the same moment.
  await waitFor(() => runs().length === 2 && runs().every((r) => r.status === 'running'), 5000, 'both runs running at once');
}, 20_000);
