/** kill -9 in the middle of a run, then a restart: the run is marked interrupted and undone. */
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { amPayload, killAll, rawRequest, startCli, tempDir, waitFor } from '../helpers/index.js';

const TOKEN = 'crash-test-token-0123456789';
let dir: { path: string; cleanup: () => void };
beforeEach(() => {
  dir = tempDir();
});
afterEach(async () => {
  await killAll();
  dir.cleanup();
});

async function runs(url: string): Promise<Array<{ id: string; status: string; steps: Array<{ name: string; outcome: string }>; rollback?: Array<{ outcome: string }> }>> {
  const r = await rawRequest(`${url}/api/v1/runs`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return JSON.parse(r.body).runs;
}

describe('a crash during a run', () => {
  it('leaves a parseable store; the restart marks the run interrupted and runs its undo steps', async () => {
    const appConfig = join(dir.path, 'app.yml');
    writeFileSync(appConfig, '# tuning knobs\nworkers: 16 # default\n');
    mkdirSync(join(dir.path, 'rules', 'playbooks'), { recursive: true });
    writeFileSync(
      join(dir.path, 'rules', 'playbooks', 'slow.yml'),
      `
name: slow-fix
match: ['alertname = "Crash"']
strategies:
  - steps:
      - name: fewer workers
        config: { file: ${appConfig}, key: workers, value: 4 }
      - name: long step
        exec: { argv: [sleep, "30"] }
        timeout: 1m
`,
    );
    const env = { PROMEDIC_TOKEN: TOKEN, PROMEDIC_LISTEN_ADDRESS: '127.0.0.1' };
    const first = await startCli(['--data-dir', join(dir.path, 'data'), '--rules', join(dir.path, 'rules')], { env });
    const posted = await rawRequest(`${first.url}/webhook/alertmanager`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(amPayload([{ labels: { alertname: 'Crash' } }])),
    });
    expect(posted.status).toBe(202);
    await waitFor(async () => (await runs(first.url))[0]?.steps[1]?.outcome === 'pending', 10_000, 'the long step to start');
    expect(readFileSync(appConfig, 'utf8')).toContain('workers: 4');

    first.child.kill('SIGKILL');
    await first.exited;

    // Whatever the moment of the kill, what is on disk parses (a torn last journal line is tolerated and skipped).
    const data = join(dir.path, 'data');
    JSON.parse(readFileSync(join(data, 'state.json'), 'utf8'));
    for (const f of readdirSync(data).filter((n) => n.startsWith('journal.'))) {
      const lines = readFileSync(join(data, f), 'utf8').split('\n').filter(Boolean);
      for (const l of lines.slice(0, -1)) JSON.parse(l);
    }

    const second = await startCli(['--data-dir', data, '--rules', join(dir.path, 'rules')], { env });
    try {
      const [run] = await waitFor(async () => {
        const r = await runs(second.url);
        return r[0]?.status === 'interrupted' ? r : null;
      }, 10_000, 'the run to be marked interrupted');
      expect(run?.rollback?.map((s) => s.outcome)).toEqual(['ok']);
      // The undo restored the old value and kept the file's comments.
      expect(readFileSync(appConfig, 'utf8')).toBe('# tuning knobs\nworkers: 16 # default\n');
      // The acknowledged alert survived the crash.
      const ep = JSON.parse(readFileSync(join(data, 'state.json'), 'utf8')).episodes;
      expect(ep).toHaveLength(1);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });
});

describe('a crash in the middle of a config step', () => {
  /** A run as the journal holds it when promedic dies after recording the step, before its result. */
  function cutOffRun(appConfig: string) {
    return {
      id: 'run-cut-off',
      episode: 'e@2026-11-28T00:00:00Z',
      playbook: 'slow-fix',
      strategy: 'fewer-workers',
      attempt: 1,
      mode: 'enforce',
      status: 'running',
      category: 'other',
      severity: 'warning',
      alertname: 'Crash',
      target: { alertname: 'Crash' },
      receivedAt: '2026-11-28T00:00:00.000Z',
      startedAt: '2026-11-28T00:00:00.000Z',
      steps: [
        {
          name: 'fewer workers',
          type: 'config',
          rendered: { file: appConfig, key: ['workers'], value: 4 },
          attempts: 1,
          outcome: 'pending',
          startedAt: '2026-11-28T00:00:00.000Z',
          undo: { type: 'config', name: 'undo fewer workers', args: { file: appConfig, key: ['workers'], value: 16, yaml: '16' }, before: true },
        },
      ],
    };
  }

  for (const wrote of [true, false]) {
    it(`is undone at the next start from the undo recorded before the write (${wrote ? 'the write happened' : 'it had not happened yet'})`, async () => {
      const appConfig = join(dir.path, 'app.yml');
      const original = '# tuning knobs\nworkers: 16 # default\n';
      writeFileSync(appConfig, wrote ? original.replace('16', '4') : original);
      mkdirSync(join(dir.path, 'rules', 'playbooks'), { recursive: true });
      const data = join(dir.path, 'data');
      mkdirSync(data, { recursive: true });
      writeFileSync(join(data, 'journal.1.jsonl'), `${JSON.stringify({ op: 'run', v: cutOffRun(appConfig) })}\n`);
      const env = { PROMEDIC_TOKEN: TOKEN, PROMEDIC_LISTEN_ADDRESS: '127.0.0.1' };
      const p = await startCli(['--data-dir', data, '--rules', join(dir.path, 'rules')], { env });
      const [run] = await runs(p.url);
      expect(run).toMatchObject({ id: 'run-cut-off', status: 'interrupted' });
      expect(run?.rollback?.map((s) => s.outcome)).toEqual(['ok']);
      expect(readFileSync(appConfig, 'utf8')).toBe(original);
    });
  }
});

describe('the undo of a config step is recorded before it writes', () => {
  it('the step record committed before the run already holds the undo', async () => {
    const appConfig = join(dir.path, 'app.yml');
    writeFileSync(appConfig, 'workers: 16\n');
    mkdirSync(join(dir.path, 'rules', 'playbooks'), { recursive: true });
    writeFileSync(
      join(dir.path, 'rules', 'playbooks', 'slow.yml'),
      `
name: slow-fix
match: ['alertname = "Crash"']
strategies:
  - steps:
      - name: fewer workers
        config: { file: ${appConfig}, key: workers, value: 4 }
verify: { within: 200ms }
`,
    );
    const env = { PROMEDIC_TOKEN: TOKEN, PROMEDIC_LISTEN_ADDRESS: '127.0.0.1' };
    const data = join(dir.path, 'data');
    const p = await startCli(['--data-dir', data, '--rules', join(dir.path, 'rules')], { env });
    await rawRequest(`${p.url}/webhook/alertmanager`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: JSON.stringify(amPayload([{ labels: { alertname: 'Crash' } }])) });
    await waitFor(async () => (await runs(p.url))[0]?.status === 'failed', 10_000, 'the run to end');
    p.child.kill('SIGKILL');
    await p.exited;
    // The first journal record of the step (outcome pending) carries the undo, before the result.
    const entries = readdirSync(data)
      .filter((f) => f.startsWith('journal.'))
      .flatMap((f) => readFileSync(join(data, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { op: string; v: { steps?: Array<{ outcome: string; undo?: { before?: boolean; args: unknown } }> } }));
    const firstPending = entries.find((e) => e.op === 'run' && e.v.steps?.[0]?.outcome === 'pending');
    expect(firstPending?.v.steps?.[0]?.undo).toMatchObject({ before: true, args: { key: ['workers'], value: 16 } });
    expect(readFileSync(appConfig, 'utf8')).toBe('workers: 16\n');
  });
});
