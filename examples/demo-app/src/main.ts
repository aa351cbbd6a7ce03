#!/usr/bin/env node
/**
 * The demo app's command line:
 *
 *   DEMO_ADMIN_TOKEN=secret node dist/examples/demo-app/src/main.js [--port 8080] [--host 127.0.0.1] [--load 20]
 *
 * Logs JSON lines on stdout, the first one with the URL it listens on. SIGTERM or SIGINT stop
 * it gracefully (exit 0).
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { startDemoApp } from './server.js';

const USAGE = `usage: demo-app [options]

  --port <n>             port to listen on (default: $DEMO_PORT or 8080; 0 picks a free one)
  --host <addr>          address to listen on (default 127.0.0.1)
  --load <rps>           built-in load generator rate, requests per second (default 20, 0 = off)
  --memory-limit-mb <n>  the app's memory budget, app_memory_limit_bytes (default 256)
  --seed <n>             seed the randomness of faults and load, for repeatable runs
  --log-level <level>    fatal, error, warn, info, debug or silent (default info)
  -h, --help             this help

environment:
  DEMO_ADMIN_TOKEN       bearer token for /admin/*; unset, the admin endpoints answer 503
  DEMO_PORT              port, when --port is not given
`;

function fail(message: string): never {
  process.stderr.write(`demo-app: ${message}\n\n${USAGE}`);
  process.exit(2);
}

function number(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) fail(`--${name} must be a number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return n;
}

let parsed: ReturnType<typeof parseOptions>;
function parseOptions() {
  return parseArgs({
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      load: { type: 'string' },
      'memory-limit-mb': { type: 'string' },
      seed: { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
}
try {
  parsed = parseOptions();
} catch (err) {
  fail((err as Error).message);
}
const { values } = parsed;
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const level = values['log-level'] ?? 'info';
if (!levels.includes(level)) fail(`--log-level must be one of ${levels.join(', ')}`);
const port = number('port', values.port ?? process.env.DEMO_PORT, 8080, 0, 65535);
if (!Number.isInteger(port)) fail('--port must be an integer');
const load = number('load', values.load, 20, 0, 10_000);
const memoryLimitMb = number('memory-limit-mb', values['memory-limit-mb'], 256, 1, 1_048_576);
const seed = values.seed === undefined ? undefined : number('seed', values.seed, 0, 0, 2 ** 32 - 1);
const adminToken = process.env.DEMO_ADMIN_TOKEN || null;

const log = pino({ level, base: { service: 'demo-app' }, timestamp: pino.stdTimeFunctions.isoTime });

try {
  const running = await startDemoApp({
    port,
    host: values.host ?? '127.0.0.1',
    load,
    memoryLimitMb,
    ...(seed === undefined ? {} : { seed }),
    adminToken,
    logger: log,
  });
  log.info(
    { url: running.url, load_rps: load, admin: adminToken ? 'enabled' : 'disabled: set DEMO_ADMIN_TOKEN' },
    'demo app listening',
  );
  let signalled = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (signalled) return;
    signalled = true;
    log.info({ signal }, 'stopping');
    void running.stop().then(() => {
      log.info('stopped');
      log.flush();
      process.exit(0);
    });
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
} catch (err) {
  log.fatal({ err }, 'could not start');
  log.flush();
  process.exit(1);
}
