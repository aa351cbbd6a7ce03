/**
 * `npm run demo`: the demo app and promedic side by side on this machine, no Prometheus
 * needed. promedic's embedded monitor scrapes the demo app and raises the bundled alerts; the
 * bundled playbooks fix them through the demo app's admin endpoints. Both share one admin
 * token (DEMO_ADMIN_TOKEN, generated when unset). Ctrl-C stops both.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const demoMain = fileURLToPath(new URL('./main.js', import.meta.url));
const promedicMain = fileURLToPath(new URL('../../../src/cli/index.js', import.meta.url));
const config = fileURLToPath(new URL('../../../../examples/demo-app/promedic.demo.yml', import.meta.url));

const token = process.env.DEMO_ADMIN_TOKEN || randomBytes(16).toString('hex');
const env = { ...process.env, DEMO_ADMIN_TOKEN: token };
const DEMO = 'http://127.0.0.1:8080';
const PROMEDIC = 'http://127.0.0.1:9477';

const children: ChildProcess[] = [];
let stopping = false;

function start(name: string, args: string[]): ChildProcess {
  // Their own process groups: Ctrl-C reaches this launcher only, which stops each child once
  // (a second signal would make promedic exit without flushing its state).
  const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'inherit', 'inherit'], detached: true });
  children.push(child);
  child.once('exit', (code, signal) => {
    if (!stopping) {
      console.error(`demo: ${name} exited (${code ?? signal}); stopping`);
      stop(code ?? 1);
    }
  });
  return child;
}

function stop(code: number): void {
  if (stopping) return;
  stopping = true;
  let left = children.filter((c) => c.exitCode === null && c.signalCode === null).length;
  if (left === 0) process.exit(code);
  for (const c of children) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    c.once('exit', () => {
      if (--left === 0) process.exit(code);
    });
    c.kill('SIGTERM');
  }
}

async function ready(url: string, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until && !stopping) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.ok) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
});

start('demo app', ['--expose-gc', demoMain, '--port', '8080', '--log-level', 'warn']);
start('promedic', ['--max-semi-space-size=4', promedicMain, 'start', '--config', config]);

if ((await ready(`${DEMO}/healthz`, 20_000)) && (await ready(`${PROMEDIC}/-/ready`, 30_000))) {
  console.log(
    [
      '',
      `demo: the demo app (${DEMO}) is under load, and promedic (${PROMEDIC}) watches it.`,
      `demo: try   curl -X POST ${DEMO}/fault/memory   (or /fault/db, /fault/latency, /fault/validation, /fault/connections -d '{"count":250}' -H 'content-type: application/json')`,
      `demo: watch curl -s ${PROMEDIC}/api/v1/alerts   and   curl -s ${PROMEDIC}/api/v1/runs   (Ctrl-C stops both)`,
      `demo: tune  curl -X POST ${PROMEDIC}/api/v1/tuning/tune-response-time/run   then   curl -s ${PROMEDIC}/api/v1/tuning   (A/B experiments on the app's batch_size, about 11 minutes a step)`,
      '',
    ].join('\n'),
  );
} else if (!stopping) {
  console.error('demo: the demo app or promedic did not start (is port 8080 or 9477 in use?)');
  stop(1);
}
