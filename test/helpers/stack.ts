/**
 * The real programs of a Prometheus stack for tests: Debian's prometheus and
 * prometheus-alertmanager, and the demo app, each started on a loopback port with its own
 * temp dir and stopped after. Output is kept for failure messages.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { ROOT, waitFor } from './index.js';

export const DEMO_APP = join(ROOT, 'dist/examples/demo-app/src/main.js');

export interface Proc {
  name: string;
  child: ChildProcess;
  url: string;
  output: () => string;
  stop: () => Promise<void>;
}

/** Port 0 picks a free port; closed again so the program can take it. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

export function tail(text: string, max = 4000): string {
  return text.length > max ? `...${text.slice(-max)}` : text;
}

/**
 * Starts `argv` (with `{port}` in it replaced by a free port) and waits until `ready(url)`
 * holds. Retried on another port if the port was taken between the probe and the bind.
 */
export async function startProcess(
  name: string,
  bin: string,
  argv: (port: number) => string[],
  ready: (url: string) => Promise<boolean>,
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Proc> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    let out = '';
    const child = spawn(bin, argv(port), { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
    const collect = (d: Buffer) => {
      out = tail(out + d.toString(), 200_000);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    let exitedEarly: string | null = null;
    const exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        exitedEarly = `exited with ${code ?? signal}`;
        resolve();
      });
      child.once('error', (err) => {
        exitedEarly = `could not start: ${err.message}`;
        resolve();
      });
    });
    const stop = async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const gone = await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 10_000))]);
      if (!gone) {
        child.kill('SIGKILL');
        await exited;
      }
    };
    const state = await waitFor(
      async () => {
        if (exitedEarly) return 'exited';
        return (await ready(url).catch(() => false)) ? 'ready' : null;
      },
      opts.timeoutMs ?? 30_000,
      `${name} to be ready`,
    ).catch((err: unknown) => `not ready: ${(err as Error).message}`);
    if (state === 'ready') return { name, child, url, output: () => out, stop };
    await stop();
    if (attempt < 3 && /address already in use/i.test(out)) continue;
    throw new Error(`${name} ${exitedEarly ?? state}:\n${tail(out)}`);
  }
}

const httpOk = (path: string) => async (url: string) => {
  const res = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(2000) });
  await res.arrayBuffer();
  return res.status === 200;
};

/** Real Prometheus with `config` (YAML text) written into `dir`. */
export function startPrometheus(bin: string, dir: string, config: string, extra: string[] = []): Promise<Proc> {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'prometheus.yml');
  writeFileSync(file, config);
  return startProcess(
    'prometheus',
    bin,
    (port) => [
      `--config.file=${file}`,
      `--storage.tsdb.path=${join(dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      ...extra,
    ],
    httpOk('/-/ready'),
  );
}

/** Real Alertmanager with `config` (YAML text) written into `dir`; no cluster listener. */
export function startAlertmanager(bin: string, dir: string, config: string): Promise<Proc> {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'alertmanager.yml');
  writeFileSync(file, config);
  return startProcess(
    'alertmanager',
    bin,
    (port) => [
      `--config.file=${file}`,
      `--storage.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // Empty: no cluster, so nothing gossips on 0.0.0.0:9094 (or collides with another instance).
      '--cluster.listen-address=',
      '--log.level=debug',
    ],
    httpOk('/-/ready'),
  );
}

/** The demo app (examples/demo-app), built, as its own process. */
export function startDemoApp(args: string[], env: NodeJS.ProcessEnv): Promise<Proc> {
  return startProcess(
    'demo-app',
    process.execPath,
    (port) => [DEMO_APP, '--host', '127.0.0.1', '--port', String(port), ...args],
    httpOk('/healthz'),
    { env: { ...process.env, ...env } },
  );
}

/** An instant query against Prometheus; throws on an API error. */
export async function promQuery(promUrl: string, expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`, { signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: unknown } };
  if (body.status !== 'success') throw new Error(`query ${expr}: ${body.error ?? res.status}`);
  const r = body.data?.result;
  if (body.data?.resultType === 'scalar' || body.data?.resultType === 'string') return [{ metric: {}, value: r as [number, string] }];
  return r as Array<{ metric: Record<string, string>; value: [number, string] }>;
}

/** One relabel rule, in Prometheus' spelling (the Prometheus Operator's camelCase maps onto it). */
export interface RelabelRule {
  source_labels?: string[];
  separator?: string;
  regex?: string;
  target_label?: string;
  replacement?: string;
  action?: string;
}

/** Prometheus' `replace` relabeling (its default action): anchored regex, $1 / ${1} in the replacement, an empty result removes the label. */
export function relabel(labels: Record<string, string>, rules: RelabelRule[] = []): Record<string, string> {
  const out = { ...labels };
  for (const c of rules) {
    if ((c.action ?? 'replace').toLowerCase() !== 'replace') throw new Error(`relabel action ${c.action} is not emulated here`);
    const value = (c.source_labels ?? []).map((l) => out[l] ?? '').join(c.separator ?? ';');
    const m = new RegExp(`^(?:${c.regex ?? '(.*)'})$`).exec(value);
    if (!m || !c.target_label) continue;
    const result = (c.replacement ?? '$1').replace(/\$\{(\w+)\}|\$(\d+)/g, (_, a?: string, b?: string) => m[Number(a ?? b)] ?? '');
    if (result === '') delete out[c.target_label];
    else out[c.target_label] = result;
  }
  return out;
}
