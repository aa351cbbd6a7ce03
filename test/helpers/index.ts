import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'vitest';
import { fingerprintOf } from '../../src/alert.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = join(ROOT, 'dist/src/cli/index.js');

export function tempDir(prefix = 'promedic-test-'): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** Runs the CLI to completion (for --help, bad config...). The environment is scrubbed of PROMEDIC_*. */
export function runCli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PROMEDIC_') && v !== undefined) env[k] = v;
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...env, ...opts.env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** runCli without blocking: for a CLI that talks to a promedic running in this process. */
export function runCliAsync(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PROMEDIC_') && v !== undefined) env[k] = v;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? ROOT, env: { ...env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Every promedic started by startCli; killAll() ends those still running (call it in afterEach). */
const started = new Set<ChildProcess>();
export async function killAll(): Promise<void> {
  const waits: Array<Promise<unknown>> = [];
  for (const c of started) {
    if (c.exitCode === null && c.signalCode === null) {
      waits.push(new Promise((r) => c.once('exit', r)));
      c.kill('SIGKILL');
    }
  }
  started.clear();
  await Promise.all(waits);
}

export interface Running {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `promedic start` on a free port and waits until it logs that it started. */
export async function startCli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<Running> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PROMEDIC_') && v !== undefined) env[k] = v;
  const child = spawn(process.execPath, [CLI, 'start', '--port', '0', ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`promedic did not start in time:\n${out}`));
    }, 20_000);
    const check = () => {
      const m = /"url":"(http:\/\/[^"]+)"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    };
    child.stdout?.on('data', check);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`promedic exited before starting:\n${out}`));
    });
  });
  return { child, url, output: () => out, exited };
}

export async function get(url: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const res = await fetch(url);
  return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
}

/** A raw HTTP request, for cases fetch() hides (slow bodies, exact bytes). */
export function rawRequest(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

/** Finds a Debian binary; in CI its absence fails the test, elsewhere the test is skipped with a hint. */
export function requireBinary(name: string, pkg: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const path = r.status === 0 ? r.stdout.trim() : '';
  if (path) return path;
  if (process.env.CI === 'true') throw new Error(`${name} not found on PATH: CI must install the Debian package ${pkg}`);
  console.warn(`skipping: ${name} not found; install it with: apt-get install -y ${pkg}`);
  return null;
}

/** Parses exposition text into name -> list of {labels, value}. Tests only; the service renders, never parses. */
export function parseExposition(text: string): Map<string, Array<{ labels: string; value: number }>> {
  const out = new Map<string, Array<{ labels: string; value: number }>>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
    if (!m) throw new Error(`unparseable line: ${line}`);
    const arr = out.get(m[1] as string) ?? [];
    arr.push({ labels: m[2] ?? '', value: Number(m[3]) });
    out.set(m[1] as string, arr);
  }
  return out;
}

/** Polls until fn returns a truthy value (or throws after timeoutMs). */
export async function waitFor<T>(fn: () => T | Promise<T>, timeoutMs = 10_000, what = 'condition'): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface Recorded {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  at: number;
}

/** A real HTTP app on 127.0.0.1 that records every request; `respond` decides the status. */
export async function recordingServer(respond: (r: Recorded) => number = () => 200) {
  const { createServer } = await import('node:http');
  const calls: Recorded[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      // Decoded once: a multi-byte character may span two chunks.
      const rec = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString(), at: Date.now() };
      calls.push(rec);
      res.statusCode = respond(rec);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ ok: res.statusCode < 400 }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { calls, url: `http://127.0.0.1:${port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** An Alertmanager v4 payload for the given alerts. */
export function amPayload(
  alerts: Array<{ labels: Record<string, string>; status?: 'firing' | 'resolved'; startsAt?: string; fingerprint?: string; annotations?: Record<string, string> }>,
  status: 'firing' | 'resolved' = 'firing',
) {
  return {
    version: '4',
    groupKey: '{}:{alertname="x"}',
    truncatedAlerts: 0,
    status,
    receiver: 'promedic',
    groupLabels: {},
    commonLabels: {},
    commonAnnotations: {},
    externalURL: 'http://alertmanager:9093',
    alerts: alerts.map((a) => ({
      status: a.status ?? status,
      labels: a.labels,
      annotations: a.annotations ?? {},
      startsAt: a.startsAt ?? '2026-01-01T00:00:00Z',
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus:9090/graph',
      fingerprint: a.fingerprint ?? fingerprintOf(a.labels),
    })),
  };
}

/**
 * Tests that are steps of one story (one stack, one state): `const step = story()`, then
 * `step(ctx)` first in each test. Once a step fails, the later ones fail at once, naming it,
 * rather than timing out on a state that will never come.
 */
export function story(): (ctx: TestContext) => void {
  let broken: string | null = null;
  return (ctx) => {
    if (broken) throw new Error(`cannot run: the earlier step "${broken}" failed`);
    ctx.onTestFailed(() => {
      broken = ctx.task.name;
    });
  };
}

/**
 * promedic in this process on a loopback port with a temp data dir, its environment ignored
 * and its log silent unless a logger is given; `close()` stops it and removes the dir.
 */
export async function inProcess(
  config: import('../../src/config.js').ConfigValues = {},
  opts: { logger?: import('pino').Logger } = {},
): Promise<{ p: import('../../src/index.js').Promedic; dir: string; close: () => Promise<void> }> {
  const { createPromedic } = await import('../../src/index.js');
  const { pino } = await import('pino');
  const d = tempDir();
  const p = await createPromedic({
    config: { listen: { port: 0, address: '127.0.0.1' }, data_dir: join(d.path, 'data'), rules_dir: join(d.path, 'rules'), monitor: { enabled: false }, ...config },
    env: {},
    logger: opts.logger ?? pino({ level: 'silent' }),
  });
  await p.start();
  return {
    p,
    dir: d.path,
    close: async () => {
      await p.stop();
      d.cleanup();
    },
  };
}

/** A healing playbook for WorkerStuck that calls POST <appUrl>/restart and, unless the alert resolves within 500 ms, fails its verification. */
export function workerPlaybook(appUrl: string): string {
  return `
name: restart-worker
match: ['alertname = "WorkerStuck"']
target: [alertname, service]
strategies:
  - name: restart
    steps:
      - name: restart the worker
        http: { method: POST, url: "${appUrl}/restart" }
verify: { within: 500ms }
`;
}
