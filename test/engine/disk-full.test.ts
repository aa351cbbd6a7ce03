/**
 * Store faults: a full disk or a read-only data dir (the webhook answers 503, Alertmanager
 * retries, nothing runs unrecorded, and it recovers), and a corrupt state file at start (moved
 * aside and reported, never silently replaced).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { type Service, startService } from '../../src/main.js';
import { amPayload, rawRequest, recordingServer, tempDir, waitFor } from '../helpers/index.js';

const TOKEN = 'disk-full-token-0123456789';
let dir: { path: string; cleanup: () => void };
let mnt = '';
let mounted = false;

beforeAll(() => {
  dir = tempDir();
  mnt = join(dir.path, 'small');
  mkdirSync(mnt);
  // A 256 KiB filesystem of our own to fill up; needs root (CAP_SYS_ADMIN) as in CI.
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt], { encoding: 'utf8' });
  mounted = r.status === 0;
  const why = `cannot mount a small tmpfs here (${r.stderr.trim() || r.error?.message}); run as root`;
  // CI runs as root: there, not being able to mount is a failure, not a reason to skip.
  if (!mounted && process.env.CI === 'true') throw new Error(`disk-full test: ${why}`);
  if (!mounted) console.warn(`skipping disk-full test: ${why}`);
});
afterAll(() => {
  if (mounted) spawnSync('umount', ['-l', mnt]);
  dir.cleanup();
});

describe('a full disk', () => {
  it('answers 503 while the store cannot write, starts nothing, and recovers when space returns', async ({ skip }) => {
    if (!mounted) skip();
    const app = await recordingServer();
    mkdirSync(join(dir.path, 'rules', 'playbooks'), { recursive: true });
    writeFileSync(
      join(dir.path, 'rules', 'playbooks', 'p.yml'),
      `name: fix\nmatch: ['alertname = "Full"']\ncooldown: 1ms\ntarget: [n]\nstrategies:\n  - steps: [ { http: { method: POST, url: "${app.url}/fix/{{ labels.n }}" } } ]\nverify: { within: 100ms }\n`,
    );
    const config = loadConfig({
      cwd: dir.path,
      env: { PROMEDIC_TOKEN: TOKEN, PROMEDIC_LISTEN_ADDRESS: '127.0.0.1' },
      flags: { port: '0', 'data-dir': join(mnt, 'data'), rules: join(dir.path, 'rules'), 'log-level': 'silent', 'collection-interval': '1h' },
    });
    const svc: Service = await startService(config, pino({ level: 'silent' }));
    const send = (n: string) =>
      rawRequest(`${svc.url}/webhook/alertmanager`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(amPayload([{ labels: { alertname: 'Full', n, pad: 'x'.repeat(20_000) } }])),
      });
    try {
      expect((await send('before')).status).toBe(202);
      await waitFor(() => app.calls.length === 1);
      const filler = join(mnt, 'filler');
      spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=4k', 'count=1000'], { stdio: 'ignore' });
      const full = await send('during');
      expect(full.status).toBe(503);
      expect(JSON.parse(full.body).error.code).toBe('store_unavailable');
      await new Promise((r) => setTimeout(r, 200));
      expect(app.calls).toHaveLength(1);

      rmSync(filler);
      expect((await send('during')).status).toBe(202); // Alertmanager's retry of the same payload
      await waitFor(() => app.calls.length === 2);
      expect(app.calls.map((c) => c.url)).toEqual(['/fix/before', '/fix/during']);
    } finally {
      await svc.stop().catch(() => undefined);
      await app.close();
    }
  });

  it('a read-only data dir at start: promedic refuses to start, naming the dir (it could record nothing)', async ({ skip }) => {
    if (!mounted) skip();
    // Linux will not remount a filesystem read-only while promedic holds its journal open for
    // writing, so the read-only case is the one at start; the full disk above is the one at run time.
    const ro = join(dir.path, 'ro');
    mkdirSync(ro);
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,ro', 'tmpfs', ro]).status).toBe(0);
    try {
      const config = loadConfig({
        cwd: dir.path,
        env: { PROMEDIC_TOKEN: TOKEN, PROMEDIC_LISTEN_ADDRESS: '127.0.0.1' },
        flags: { port: '0', 'data-dir': ro, rules: join(dir.path, 'rules'), 'log-level': 'silent', 'collection-interval': '1h' },
      });
      await expect(startService(config, pino({ level: 'silent' }))).rejects.toThrow(new RegExp(`${ro.replace(/[/.]/g, '\\$&')}.*(EROFS|read-only)`, 's'));
    } finally {
      spawnSync('umount', ['-l', ro]);
    }
  });
});

describe('a corrupt state file at start', () => {
  it('is moved aside (bytes kept) and reported at error level; the service starts with an empty state', async () => {
    const d = tempDir();
    const data = join(d.path, 'data');
    mkdirSync(data, { recursive: true });
    const garbage = '{"version": 2, "episodes": [ {"key": "torn';
    writeFileSync(join(data, 'state.json'), garbage);
    const lines: string[] = [];
    const config = loadConfig({
      cwd: d.path,
      env: { PROMEDIC_TOKEN: TOKEN, PROMEDIC_LISTEN_ADDRESS: '127.0.0.1' },
      flags: { port: '0', 'data-dir': data, rules: join(d.path, 'rules'), 'log-level': 'info', 'collection-interval': '1h' },
    });
    mkdirSync(join(d.path, 'rules'), { recursive: true });
    const svc = await startService(config, pino({ level: 'info' }, { write: (l: string) => void lines.push(l) }));
    try {
      const aside = readdirSync(data).filter((f) => f.startsWith('state.json.corrupt-'));
      expect(aside).toHaveLength(1);
      expect(readFileSync(join(data, aside[0] as string), 'utf8')).toBe(garbage);
      const notice = lines.map((l) => JSON.parse(l) as { level: number; notice?: string }).find((l) => l.notice?.includes('moved aside'));
      expect(notice?.level).toBe(50);
      expect(notice?.notice).toContain(aside[0]);
      expect((await rawRequest(`${svc.url}/-/ready`, {})).status).toBe(200);
      await svc.stop();
      expect(existsSync(join(data, 'state.json'))).toBe(true); // a new state, beside the old one
    } finally {
      await svc.stop();
      d.cleanup();
    }
  });
});
