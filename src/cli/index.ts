#!/usr/bin/env -S node --max-semi-space-size=4
/**
 * promedic's command line. Exit codes: 0 ok, 1 a check failed (later commands), 2 bad
 * usage or configuration (one line per problem on stderr, no stack unless --log-level debug).
 */
import { parseArgs } from 'node:util';
import { type Config, FLAG_PATHS, loadConfig } from '../config.js';
import { ConfigError, errorMessage } from '../errors.js';
import { createLogger } from '../logger.js';
import { createPromedic } from '../index.js';
import { check } from './check.js';
import { formatSimulation, simulate } from './simulate.js';
import { fetchStatus, formatStatus, statusUrl } from './status.js';
import { VERSION } from '../version.js';

const HELP = `promedic ${VERSION} — host exporter, Alertmanager webhook receiver and self-healing playbook runner

Usage:
  promedic start [flags]     run the service (the default command)
  promedic check [PATHS]     validate playbooks (default: the rules dir); exit 1 on problems
  promedic simulate --alert FILE [--json]
                             what would happen to an alert (a payload or one alert); runs nothing
  promedic status [--url URL] [--json]
                             what a running promedic is doing (GET /api/v1/status); exit 1 when unreachable
  promedic --help            this help
  promedic --version         print the version

Flags (override PROMEDIC_* environment variables, which override the config file):
  --config FILE              YAML config file (default: ./promedic.yml when present; env PROMEDIC_CONFIG)
  --port N                   listen port (default 9477; env PROMEDIC_PORT)
  --listen-address ADDR      listen address (default 127.0.0.1 without credentials, else 0.0.0.0)
  --data-dir DIR             state directory (default ./data; env PROMEDIC_DATA_DIR)
  --rules DIR                rules directory (default ./rules; env PROMEDIC_RULES_DIR)
  --collection-interval D    host metric collection interval (default 5s)
  --log-level LEVEL          trace|debug|info|warn|error|fatal|silent (default info)
  --token-file FILE          file holding the bearer token (or env PROMEDIC_TOKEN)
  --mode MODE                observe | dry-run | enforce for playbooks without their own mode (default enforce; env PROMEDIC_MODE)

Endpoints: GET /metrics, GET /-/healthy, GET /-/ready
Config reference: README.md; JSON Schema: schema/promedic.config.schema.json
`;

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
  config: { type: 'string', short: 'c' },
  alert: { type: 'string' },
  json: { type: 'boolean' },
  url: { type: 'string' },
  ...Object.fromEntries(Object.keys(FLAG_PATHS).map((k) => [k, { type: 'string' }])),
} as const;

function fail(lines: string[], code = 2): never {
  for (const l of lines) process.stderr.write(`promedic: ${l}\n`);
  process.exit(code);
}

async function start(config: Config): Promise<void> {
  const logger = createLogger(config.log.level);
  const service = await createPromedic({ resolved: config, logger });
  try {
    await service.start();
  } catch (err) {
    logger.flush();
    if (err instanceof ConfigError) fail(err.problems);
    throw err;
  }
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      logger.flush();
      process.exit(1);
    }
    logger.info({ signal }, 'signal received');
    service.stop().then(
      () => {
        logger.flush();
        process.exitCode = 0;
        // Let pending stdout writes drain; nothing else keeps the loop alive after stop().
        setTimeout(() => process.exit(0), 50).unref();
      },
      (err: unknown) => {
        logger.error({ err }, 'error while stopping');
        logger.flush();
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', () => {
    logger.info('SIGHUP: reloading rules');
    service.reload();
  });
}

async function main(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    fail([`${errorMessage(err)} (see promedic --help)`]);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  if (values.version) {
    process.stdout.write(`promedic ${VERSION} (node ${process.version})\n`);
    return;
  }
  const command = positionals[0] ?? 'start';
  if (!['start', 'check', 'simulate', 'status'].includes(command)) fail([`unknown command "${command}" (commands: start, check, simulate, status; see promedic --help)`]);
  if (command !== 'check' && positionals.length > 1) fail([`unexpected argument "${positionals[1]}" (see promedic --help)`]);

  const flags: Record<string, string | undefined> = {};
  for (const k of Object.keys(FLAG_PATHS)) flags[k] = (values as Record<string, unknown>)[k] as string | undefined;
  let config: Config;
  try {
    config = loadConfig({ configFile: values.config as string | undefined, flags });
  } catch (err) {
    if (err instanceof ConfigError) fail(err.problems);
    throw err;
  }
  if (command === 'check') {
    const paths = positionals.length > 1 ? positionals.slice(1) : [config.rules_dir];
    process.exitCode = check(paths, (l) => process.stdout.write(`${l}\n`), (l) => process.stderr.write(`${l}\n`));
    return;
  }
  if (command === 'simulate') {
    if (!values.alert) fail(['simulate needs --alert FILE (an Alertmanager payload or one alert as JSON)']);
    let sims;
    try {
      sims = simulate(config, values.alert as string, config.rules_dir);
    } catch (err) {
      fail([errorMessage(err)], err instanceof SyntaxError || (err as NodeJS.ErrnoException).code ? 2 : 1);
    }
    process.stdout.write(values.json ? `${JSON.stringify(sims, null, 2)}\n` : formatSimulation(sims));
    return;
  }
  if (command === 'status') {
    try {
      const s = await fetchStatus(config, statusUrl(config, values.url as string | undefined));
      process.stdout.write(values.json ? `${JSON.stringify(s, null, 2)}\n` : formatStatus(s));
    } catch (err) {
      fail([errorMessage(err)], 1);
    }
    return;
  }
  await start(config);
}

const debug = process.argv.includes('debug') && process.argv.some((a) => a.startsWith('--log-level'));
main(process.argv.slice(2)).catch((err: unknown) => {
  // Unexpected errors: one line, the stack only when debugging.
  process.stderr.write(`promedic: ${debug && err instanceof Error ? err.stack : errorMessage(err)}\n`);
  process.exit(2);
});
