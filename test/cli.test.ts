/** The built `promedic` program, run as users run it. */
import { connect } from 'node:net';
import { createServer } from 'node:http';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { get, killAll, runCli, startCli, tempDir, waitFor } from './helpers/index.js';

let dir: { path: string; cleanup: () => void };
beforeEach(() => {
  dir = tempDir();
});
afterEach(async () => {
  await killAll();
  dir.cleanup();
});

describe('promedic CLI', () => {
  it('prints help and version and exits 0', () => {
    const help = runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/promedic start/);
    expect(help.stdout).toMatch(/--data-dir/);
    const version = runCli(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^promedic \d+\.\d+\.\d+/);
    // V8 accepted the command line's own settings (src/cli/v8.ts): an unknown flag is reported on stderr.
    expect(version.stderr).toBe('');
  });

  it('exits 2 with one line per config problem and no stack trace', () => {
    const file = join(dir.path, 'promedic.yml');
    writeFileSync(file, 'listen:\n  port: "high"\nbogus: 1\n');
    const r = runCli(['start'], { cwd: dir.path });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      `promedic: ${file}:2: listen.port: must be integer`,
      `promedic: ${file}:3: bogus: unknown key`,
    ]);
    expect(r.stderr).not.toMatch(/\bat .*\.js:\d+/);
  });

  it('exits 2 on an unknown flag or command, an unreadable config file and an unknown env variable', () => {
    expect(runCli(['start', '--prot', '1'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/Unknown option '--prot'/) });
    expect(runCli(['launch'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/unknown command "launch"/) });
    expect(runCli(['start', '--config', join(dir.path, 'missing.yml')])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/missing\.yml: cannot read: no such file/),
    });
    expect(runCli(['start'], { cwd: dir.path, env: { PROMEDIC_DATADIR: 'x' } })).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/env PROMEDIC_DATADIR: unknown variable/),
    });
  });

  it('exits 2 naming listen.port when the port is in use', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const r = runCli(['start', '--port', String(port), '--data-dir', join(dir.path, 'data')]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toBe(`promedic: flag --port: listen.port: 127.0.0.1:${port} is already in use`);
      // The failed start released the data dir lock.
      expect(existsSync(join(dir.path, 'data', 'promedic.lock'))).toBe(false);
    } finally {
      blocker.close();
    }
  });

  it('exits 2 naming data_dir when the data dir cannot be used', () => {
    const file = join(dir.path, 'a-file');
    writeFileSync(file, 'x');
    const r = runCli(['start', '--port', '0', '--data-dir', join(file, 'data')]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^promedic: data_dir: cannot create .*a-file\/data: ENOTDIR$/);
    const r2 = runCli(['start', '--port', '0', '--data-dir', file]);
    expect(r2.code).toBe(2);
    expect(r2.stderr.trim()).toMatch(/data_dir: .*a-file is not a directory/);
  });

  it('refuses a second promedic on the same data dir', async () => {
    const data = join(dir.path, 'data');
    const first = await startCli(['--data-dir', data, '--log-level', 'info']);
    try {
      const second = runCli(['start', '--port', '0', '--data-dir', data]);
      expect(second.code).toBe(2);
      expect(second.stderr).toMatch(new RegExp(`in use by another promedic \\(pid ${first.child.pid}\\)`));
    } finally {
      first.child.kill('SIGTERM');
      await first.exited;
    }
  });

  it('takes over a stale lock left by a process that died', async () => {
    const data = join(dir.path, 'data');
    const crashed = await startCli(['--data-dir', data]);
    crashed.child.kill('SIGKILL');
    await crashed.exited;
    expect(existsSync(join(data, 'promedic.lock'))).toBe(true);
    const next = await startCli(['--data-dir', data]);
    next.child.kill('SIGTERM');
    expect((await next.exited).code).toBe(0);
  });

  it('stops gracefully on SIGTERM: finishes the in-flight request, flushes the store, exits 0', async () => {
    const data = join(dir.path, 'data');
    const svc = await startCli(['--data-dir', data]);
    const { hostname, port } = new URL(svc.url);
    // A request whose body is still arriving when the signal comes.
    const sock = connect(Number(port), hostname);
    await new Promise<void>((r) => sock.once('connect', () => r()));
    let response = '';
    sock.on('data', (d: Buffer) => (response += d.toString()));
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    sock.write('POST /slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{"a":');
    await new Promise((r) => setTimeout(r, 200));
    svc.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    expect(svc.child.exitCode).toBeNull(); // still waiting for our request
    sock.end('"1234"}');
    await closed;
    expect(response).toMatch(/^HTTP\/1\.1 404/);
    expect(response).toContain('"no route for POST /slow"');
    const exit = await svc.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(svc.output()).toMatch(/"msg":"stopped"/);
    const state = JSON.parse(readFileSync(join(data, 'state.json'), 'utf8'));
    expect(state.stops.at(-1).pid).toBe(svc.child.pid);
    expect(existsSync(join(data, 'promedic.lock'))).toBe(false);
  });

  it('stops on SIGINT too', async () => {
    const svc = await startCli(['--data-dir', join(dir.path, 'data')]);
    expect((await get(`${svc.url}/-/ready`)).status).toBe(200);
    svc.child.kill('SIGINT');
    expect(await svc.exited).toEqual({ code: 0, signal: null });
  });

  it('starts from a promedic.yml in the working directory', async () => {
    writeFileSync(join(dir.path, 'promedic.yml'), 'listen:\n  port: 0\ncollection:\n  interval: 1s\n');
    const svc = await startCli([], { cwd: dir.path });
    try {
      expect(svc.output()).toContain('"interval":"1s"');
      expect(existsSync(join(dir.path, 'data', 'state.json'))).toBe(true);
    } finally {
      svc.child.kill('SIGTERM');
      await svc.exited;
    }
  });

  it('reloads rules on SIGHUP, keeping the previous rules when the new ones are broken', async () => {
    const rules = join(dir.path, 'rules', 'playbooks');
    mkdirSync(rules, { recursive: true });
    writeFileSync(join(rules, 'a.yml'), 'name: a\nmatch: [\'alertname = "A"\']\nstrategies:\n  - steps: [ { wait: 1ms } ]\n');
    const svc = await startCli(['--data-dir', join(dir.path, 'data'), '--rules', join(dir.path, 'rules')]);
    try {
      expect((await get(`${svc.url}/metrics`)).body).toMatch(/^promedic_playbooks 1$/m);
      writeFileSync(join(rules, 'b.yml'), 'name: b\nmatch: [\'alertname = "B"\']\nstrategies:\n  - steps: [ { wait: 1ms } ]\n');
      svc.child.kill('SIGHUP');
      await waitFor(async () => /^promedic_playbooks 2$/m.test((await get(`${svc.url}/metrics`)).body), 5000, 'the reload');
      writeFileSync(join(rules, 'c.yml'), 'name: c\nmatch: []\n');
      svc.child.kill('SIGHUP');
      await waitFor(async () => /^promedic_rules_last_reload_successful 0$/m.test((await get(`${svc.url}/metrics`)).body), 5000, 'the failed reload');
      expect((await get(`${svc.url}/metrics`)).body).toMatch(/^promedic_playbooks 2$/m);
      expect(svc.output()).toMatch(/c\.yml:2: match: must NOT have fewer than 1 items/);
    } finally {
      svc.child.kill('SIGTERM');
      await svc.exited;
    }
  });
});
