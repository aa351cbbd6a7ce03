#!/usr/bin/env -S node --max-semi-space-size=4
/**
 * promedic's command line. Exit codes: 0 ok, 1 a check failed (later commands), 2 bad
 * usage or configuration (one line per problem on stderr, no stack unless --log-level debug).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type Config, FLAG_PATHS, loadConfig } from '../config.js';
import { ConfigError, errorMessage } from '../errors.js';
import { createLogger } from '../logger.js';
import { createPromedic } from '../index.js';
import { check } from './check.js';
import { identityOf } from '../scope.js';
import { DEFAULT_FLEET_PORT, DEFAULT_RECEIVER, DEFAULT_TOKEN_FILE, FLEET_FILES, HOSTS_FORMAT, describeFleet, parseHosts, renderFleet, writeFleet } from './fleet.js';
import { formatSimulation, simulate } from './simulate.js';
import { fetchStatus, formatStatus, statusUrl } from './status.js';
import { VERSION } from '../version.js';
import { applyServiceV8Flags } from './v8.js';

// Before any command runs (modules only define things when they load).
applyServiceV8Flags();

const HELP = `promedic ${VERSION} — host exporter, Alertmanager webhook receiver and self-healing playbook runner

Usage:
  promedic start [flags]     run the service (the default command)
  promedic check [PATHS]     validate playbooks (default: the rules dir); exit 1 on problems
  promedic simulate --alert FILE [--json]
                             what would happen to an alert (a payload or one alert); runs nothing
  promedic status [--url URL] [--json]
                             what a running promedic is doing (GET /api/v1/status); exit 1 when unreachable
  promedic fleet-config --hosts FILE [--out DIR] [--port N] [--token-file PATH] [--scheme http|https] [--receiver NAME]
                             Alertmanager receiver and Prometheus targets for one promedic per host (below)
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

fleet-config: writes into DIR (or prints to stdout, each file after "# --- file: NAME ---"):
  ${FLEET_FILES.alertmanager.padEnd(27)}an Alertmanager config: one receiver, one webhook_config per host
  ${FLEET_FILES.targets.padEnd(27)}Prometheus file_sd targets, with the hosts' labels
  ${FLEET_FILES.prometheus.padEnd(27)}a Prometheus config whose job "promedic" scrapes those targets
  --hosts FILE               the hosts file (required; format below); exit 2 with FILE:LINE: message per bad line
  --out DIR                  write the files into DIR (created if missing), each atomically
  --port N                   port of hosts listed without one (default ${DEFAULT_FLEET_PORT})
  --token-file PATH          the token file's path on Alertmanager's host (default ${DEFAULT_TOKEN_FILE})
  --scheme http|https        scheme of the webhook URLs and scrapes (default http)
  --receiver NAME            the Alertmanager receiver's name (default ${DEFAULT_RECEIVER})
${HOSTS_FORMAT.split('\n')
  .map((l) => `  ${l}`)
  .join('\n')}
  Each host's promedic should have instance (PROMEDIC_INSTANCE) = its ADDRESS:PORT here, and
  instance_labels = its labels here: that is how it knows which alerts are about its host.

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
  hosts: { type: 'string' },
  out: { type: 'string' },
  scheme: { type: 'string' },
  receiver: { type: 'string' },
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

/** Options only fleet-config takes; the other commands refuse them. */
const FLEET_ONLY = ['hosts', 'out', 'scheme', 'receiver'];
/** All fleet-config takes: --port and --token-file mean the hosts' default port and Alertmanager's token path there, not start's. */
const FLEET_OPTIONS = new Set([...FLEET_ONLY, 'port', 'token-file', 'help', 'version', 'log-level']);

/** `promedic fleet-config`: reads no promedic config; exit 2 on bad usage or a bad hosts file, nothing written. */
function fleetConfig(values: Record<string, unknown>): void {
  const given = Object.keys(values).filter((k) => values[k] !== undefined);
  const problems = given.filter((k) => !FLEET_OPTIONS.has(k)).map((k) => `flag --${k}: does not apply to fleet-config (see promedic --help)`);
  const hostsFile = values.hosts as string | undefined;
  if (!hostsFile) problems.push('fleet-config needs --hosts FILE (one host per line: ADDRESS[:PORT] [key=value ...]; see promedic --help)');
  const portText = values.port as string | undefined;
  const port = portText === undefined ? DEFAULT_FLEET_PORT : /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) problems.push(`flag --port: must be a number from 1 to 65535, not "${portText}"`);
  const scheme = (values.scheme as string | undefined) ?? 'http';
  if (scheme !== 'http' && scheme !== 'https') problems.push(`flag --scheme: must be http or https, not "${scheme}"`);
  const receiver = (values.receiver as string | undefined) ?? DEFAULT_RECEIVER;
  if (!receiver.trim()) problems.push('flag --receiver: must not be empty');
  const tokenFile = (values['token-file'] as string | undefined) ?? DEFAULT_TOKEN_FILE;
  if (!tokenFile.trim()) problems.push('flag --token-file: must not be empty');
  const out = values.out as string | undefined;
  if (out === '') problems.push('flag --out: must be a directory');
  if (problems.length || !hostsFile) fail(problems);

  let text: string;
  try {
    text = readFileSync(hostsFile, 'utf8');
  } catch (err) {
    fail([`${hostsFile}: cannot read: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`]);
  }
  const { hosts, problems: bad } = parseHosts(text, hostsFile, { defaultPort: port });
  if (!bad.length && !hosts.length) bad.push(`${hostsFile}: no hosts (one per line: ADDRESS[:PORT] [key=value ...])`);
  if (bad.length) fail([...bad, `${bad.length} problem${bad.length === 1 ? '' : 's'} in ${hostsFile}; nothing written`]);

  const options = { receiver, scheme: scheme as 'http' | 'https', tokenFile, hostsFile };
  const files = renderFleet(hosts, options);
  if (out === undefined) {
    process.stdout.write(
      Object.entries(files)
        .map(([name, content]) => `# --- file: ${name} ---\n${content}`)
        .join(''),
    );
    return;
  }
  let paths: string[];
  try {
    paths = writeFleet(out, files);
  } catch (err) {
    fail([`flag --out: cannot write into ${out}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`]);
  }
  const what = describeFleet(hosts, options);
  Object.keys(files).forEach((name, i) => process.stderr.write(`promedic: wrote ${paths[i]}: ${what[name]}\n`));
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
  if (!['start', 'check', 'simulate', 'status', 'fleet-config'].includes(command))
    fail([`unknown command "${command}" (commands: start, check, simulate, status, fleet-config; see promedic --help)`]);
  if (command !== 'check' && positionals.length > 1) fail([`unexpected argument "${positionals[1]}" (see promedic --help)`]);
  if (command === 'fleet-config') {
    fleetConfig(values);
    return;
  }
  const misplaced = FLEET_ONLY.filter((k) => (values as Record<string, unknown>)[k] !== undefined);
  if (misplaced.length) fail(misplaced.map((k) => `flag --${k}: applies only to fleet-config (see promedic --help)`));

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
    // The same scope checks as start: a fleet playbook with host steps and no scope, a `self` label this host lacks.
    const fleet = { identity: identityOf(config), scope: config.scope, fleet: config.fleet.enabled };
    process.exitCode = check(paths, (l) => process.stdout.write(`${l}\n`), (l) => process.stderr.write(`${l}\n`), fleet);
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
