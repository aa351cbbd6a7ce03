/**
 * Configuration: one defaults object, an optional YAML file, PROMEDIC_* environment
 * variables, then command-line flags (last wins). Validated once, at start, against
 * the published JSON Schema (schema/promedic.config.schema.json); every problem is
 * reported together, each with its path and where the bad value came from.
 */
import type { LearningOptions } from './learning/index.js';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigError, errorMessage } from './errors.js';
import { parseDuration } from './util/duration.js';
import { lineOf, toData } from './util/yaml.js';
import { createAjv, describeSchemaError } from './util/schema.js';
import { type Scope, checkScope } from './scope.js';
import schema from '../schema/promedic.config.schema.json' with { type: 'json' };

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/** The configuration as written (file, env, flags), before derived values are filled in. */
export interface ConfigInput {
  listen: { address?: string; port: number };
  data_dir: string;
  rules_dir: string;
  collection: {
    interval: string;
    timeout: string;
    follow_scrapes: boolean;
    disable: string[];
    filesystem: { mount_points_exclude: string; fs_types_exclude: string };
    diskstats: { device_exclude: string };
    netdev: { device_exclude: string };
    textfile: { directory?: string };
  };
  paths: { procfs: string; sysfs: string; rootfs: string };
  log: { level: LogLevel };
  auth: { token?: string; token_file?: string; basic?: { username: string; password?: string; password_file?: string } };
  http: { body_limit_bytes: number; shutdown_timeout: string };
  engine: { dry_run: boolean; paused: boolean; max_runs_per_minute: number; max_in_flight: number };
  /** How far automation may go for playbooks without their own mode (src/mode.ts). */
  automation: { mode: 'observe' | 'dry-run' | 'enforce' };
  /** Parts that can be turned off (src/systems.ts); intake, store and engine always run. */
  systems: { collector: boolean; targets: boolean; monitor: boolean; tuner: boolean; learner: boolean };
  prometheus: { url?: string };
  alertmanager: { url?: string };
  history: { max_runs: number; episode_retention: string; max_episodes: number };
  instance?: string;
  instance_labels: Record<string, string>;
  /** Which alerts this promedic acts on (src/scope.ts), for playbooks without their own scope. */
  scope?: Scope;
  fleet: { enabled: boolean };
  monitor: {
    enabled: boolean;
    defer_to_alertmanager: boolean;
    overrides: Record<string, { above?: number; below?: number; clear?: number; for?: string; severity?: string; disabled?: boolean }>;
  };
  targets: Array<{ name: string; url: string; interval?: string }>;
  emergency: { severities: string[]; notify_url?: string };
  learning: {
    enabled: boolean;
    prior?: { alpha: number; beta: number };
    half_life: string;
    min_trials: number;
    max_signatures: number;
    seed?: number;
    chronic: { occurrences: number; window: string };
  };
}

/** The resolved configuration every part receives. Durations in milliseconds, paths absolute. */
export interface Config extends ConfigInput {
  listen: { address: string; port: number };
  /** Where each value came from, for error messages and `promedic start --log-level debug`. */
  sources: Record<string, string>;
  configFile: string | null;
  intervalMs: number;
  timeoutMs: number;
  shutdownTimeoutMs: number;
  /** The bearer token, from auth.token or auth.token_file; null when none is configured. */
  token: string | null;
  /** Basic auth credentials, password resolved from password_file; null when not configured. */
  basic: { username: string; password: string } | null;
  episodeRetentionMs: number;
}

export const DEFAULTS: ConfigInput = Object.freeze({
  listen: { port: 9477 },
  data_dir: './data',
  rules_dir: './rules',
  collection: {
    interval: '5s',
    timeout: '4s',
    follow_scrapes: true,
    disable: [],
    filesystem: {
      mount_points_exclude:
        '^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)',
      fs_types_exclude:
        '^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$',
    },
    diskstats: { device_exclude: '^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\\d+n\\d+p)\\d+$' },
    netdev: { device_exclude: '^lo$' },
    textfile: {},
  },
  paths: { procfs: '/proc', sysfs: '/sys', rootfs: '/' },
  log: { level: 'info' },
  auth: {},
  http: { body_limit_bytes: 1024 * 1024, shutdown_timeout: '10s' },
  engine: { dry_run: false, paused: false, max_runs_per_minute: 30, max_in_flight: 10 },
  automation: { mode: 'enforce' },
  systems: { collector: true, targets: true, monitor: true, tuner: true, learner: true },
  prometheus: {},
  alertmanager: {},
  history: { max_runs: 1000, episode_retention: '24h', max_episodes: 20_000 },
  instance_labels: {},
  fleet: { enabled: false },
  monitor: { enabled: true, defer_to_alertmanager: false, overrides: {} },
  targets: [],
  emergency: { severities: ['critical'] },
  learning: { enabled: true, half_life: '7d', min_trials: 3, max_signatures: 10_000, chronic: { occurrences: 5, window: '1h' } },
}) as ConfigInput;

/** Environment variables and the config path each sets. Anything else named PROMEDIC_* is an error (a typo). */
export const ENV_VARS: Record<string, { path: string; numeric?: boolean; boolean?: boolean; labels?: boolean }> = {
  PROMEDIC_LISTEN_ADDRESS: { path: 'listen.address' },
  PROMEDIC_PORT: { path: 'listen.port', numeric: true },
  PROMEDIC_DATA_DIR: { path: 'data_dir' },
  PROMEDIC_RULES_DIR: { path: 'rules_dir' },
  PROMEDIC_COLLECTION_INTERVAL: { path: 'collection.interval' },
  PROMEDIC_LOG_LEVEL: { path: 'log.level' },
  PROMEDIC_TOKEN: { path: 'auth.token' },
  PROMEDIC_TOKEN_FILE: { path: 'auth.token_file' },
  PROMEDIC_PROMETHEUS_URL: { path: 'prometheus.url' },
  PROMEDIC_MODE: { path: 'automation.mode' },
  PROMEDIC_ALERTMANAGER_URL: { path: 'alertmanager.url' },
  PROMEDIC_INSTANCE: { path: 'instance' },
  PROMEDIC_FLEET: { path: 'fleet.enabled', boolean: true },
  /** `role=db,region=eu`: a host's static labels where a config file is shared (compose, a DaemonSet). */
  PROMEDIC_INSTANCE_LABELS: { path: 'instance_labels', labels: true },
};
/** Read by the CLI, not a config value. */
const ENV_META = new Set(['PROMEDIC_CONFIG']);

/** Command-line flags that set config values (the CLI owns parsing; this maps names to paths). */
export const FLAG_PATHS: Record<string, { path: string; numeric?: boolean }> = {
  port: { path: 'listen.port', numeric: true },
  'listen-address': { path: 'listen.address' },
  'data-dir': { path: 'data_dir' },
  rules: { path: 'rules_dir' },
  'collection-interval': { path: 'collection.interval' },
  'log-level': { path: 'log.level' },
  'token-file': { path: 'auth.token_file' },
  mode: { path: 'automation.mode' },
};

export const DEFAULT_CONFIG_FILE = 'promedic.yml';

/** A partial configuration: any subset of the keys of promedic.yml. */
export type ConfigValues = { [K in keyof ConfigInput]?: ConfigInput[K] extends object ? ConfigInput[K] extends unknown[] ? ConfigInput[K] : Partial<ConfigInput[K]> : ConfigInput[K] };

export interface LoadOptions {
  /** Explicit --config; when absent, ./promedic.yml is used if present. */
  configFile?: string | undefined;
  /** Values as in the config file, applied over it (the library's `createPromedic({ config })`). */
  values?: ConfigValues;
  env?: NodeJS.ProcessEnv;
  flags?: Record<string, string | undefined>;
  cwd?: string;
}

type Plain = Record<string, unknown>;

const ajv = createAjv();
const validateSchema = ajv.compile(schema);

function isPlain(v: unknown): v is Plain {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

/** Deep-merges `src` into `dst`, recording the source of every leaf it sets. */
function merge(dst: Plain, src: Plain, source: string, sources: Record<string, string>, prefix = ''): void {
  for (const [k, v] of Object.entries(src)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (isPlain(v) && isPlain(dst[k])) {
      merge(dst[k] as Plain, v, source, sources, path);
    } else {
      dst[k] = clone(v);
      sources[path] = source;
    }
  }
}

function setPath(obj: Plain, path: string, value: unknown): void {
  const keys = path.split('.');
  let cur = obj;
  for (const k of keys.slice(0, -1)) {
    if (!isPlain(cur[k])) cur[k] = {};
    cur = cur[k] as Plain;
  }
  cur[keys[keys.length - 1] as string] = value;
}

function coerce(raw: string, numeric: boolean | undefined, boolean?: boolean, labels?: boolean): unknown {
  // Leave non-numeric text as a string so the schema reports "must be integer" with its source.
  if (numeric && /^-?[0-9]+$/.test(raw.trim())) return Number(raw.trim());
  if (boolean && /^(true|false)$/i.test(raw.trim())) return raw.trim().toLowerCase() === 'true';
  if (labels) {
    // name=value pairs separated by commas; anything else stays text, which the schema refuses.
    const pairs = raw
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean);
    if (pairs.every((p) => /^[^=]+=[^=]*$/.test(p))) return Object.fromEntries(pairs.map((p) => p.split('=').map((x) => x.trim()) as [string, string]));
  }
  return raw;
}

/**
 * Builds the configuration. Throws a ConfigError listing every problem; the CLI prints
 * one line per problem and exits 2.
 */
export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const flags = opts.flags ?? {};
  const problems: string[] = [];
  const sources: Record<string, string> = {};
  const merged = clone(DEFAULTS) as unknown as Plain;

  // 1. The file: explicit --config (or PROMEDIC_CONFIG) must exist; ./promedic.yml only if present.
  const explicit = opts.configFile ?? env.PROMEDIC_CONFIG;
  let configFile: string | null = null;
  let yamlDoc: ReturnType<typeof parseDocument> | null = null;
  let yamlText = '';
  if (explicit !== undefined) configFile = resolve(cwd, explicit);
  else if (existsSync(resolve(cwd, DEFAULT_CONFIG_FILE))) configFile = resolve(cwd, DEFAULT_CONFIG_FILE);
  if (configFile) {
    try {
      yamlText = readFileSync(configFile, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : errorMessage(err);
      throw new ConfigError([`config file ${configFile}: cannot read: ${why}`], { cause: err });
    }
    yamlDoc = parseDocument(yamlText, { prettyErrors: true });
    if (yamlDoc.errors.length > 0) {
      throw new ConfigError(
        yamlDoc.errors.map((e) => {
          const line = e.linePos?.[0]?.line;
          return `${configFile}${line ? `:${line}` : ''}: invalid YAML: ${e.message.split('\n')[0]}`;
        }),
      );
    }
    const parsed = toData(yamlDoc, yamlText);
    if (!parsed.ok) throw new ConfigError([`${configFile}:${parsed.line}: invalid YAML: ${parsed.message}`]);
    const data: unknown = parsed.data;
    if (data === null || data === undefined) {
      // An empty file is a valid (empty) configuration.
    } else if (!isPlain(data)) {
      throw new ConfigError([`${configFile}:1: the configuration must be a YAML mapping (key: value)`]);
    } else {
      merge(merged, data, `file ${configFile}`, sources);
    }
  }

  // 1b. Values given in code, over the file.
  if (opts.values) merge(merged, clone(opts.values) as Plain, 'options', sources);

  // 2. Environment.
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('PROMEDIC_') || raw === undefined) continue;
    const spec = ENV_VARS[name];
    if (!spec) {
      if (!ENV_META.has(name)) {
        problems.push(`env ${name}: unknown variable (known: ${[...Object.keys(ENV_VARS), ...ENV_META].join(', ')})`);
      }
      continue;
    }
    setPath(merged, spec.path, coerce(raw, spec.numeric, spec.boolean, spec.labels));
    sources[spec.path] = `env ${name}`;
  }

  // 3. Flags win.
  for (const [flag, raw] of Object.entries(flags)) {
    const spec = FLAG_PATHS[flag];
    if (!spec || raw === undefined) continue;
    setPath(merged, spec.path, coerce(raw, spec.numeric));
    sources[spec.path] = `flag --${flag}`;
  }

  // 4. Validate everything at once.
  if (!validateSchema(merged)) {
    const seen = new Set<string>();
    for (const e of validateSchema.errors ?? []) {
      const { path, message } = describeSchemaError(e);
      const key = path.join('.') || '(root)';
      const line = `${key}: ${message}`;
      if (seen.has(line)) continue;
      seen.add(line);
      let where = sources[key] ?? 'defaults';
      if (where.startsWith('file ') && yamlDoc && configFile) {
        const ln = lineOf(yamlDoc, yamlText, path);
        where = `${configFile}${ln ? `:${ln}` : ''}`;
      } else if (!sources[key] && configFile && yamlDoc) {
        // An unknown key has no recorded source of its own: it came from the file.
        const ln = lineOf(yamlDoc, yamlText, path);
        where = `${configFile}${ln ? `:${ln}` : ''}`;
      }
      problems.push(`${where}: ${line}`);
    }
  }
  // In file order (file:line numerically), so the list reads top to bottom.
  problems.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  if (problems.length > 0) throw new ConfigError(problems);

  const input = merged as unknown as ConfigInput;
  const scopeProblems = checkScope(input.scope, { instance: '', labels: input.instance_labels });
  if (scopeProblems.length) throw new ConfigError(scopeProblems.map((m) => `${sources['scope'] ?? sources[Object.keys(sources).find((k) => k.startsWith('scope.')) ?? ''] ?? 'config'}: ${m}`));
  input.data_dir = resolve(cwd, input.data_dir);
  input.rules_dir = resolve(cwd, input.rules_dir);
  if (input.collection.textfile.directory) input.collection.textfile.directory = resolve(cwd, input.collection.textfile.directory);

  let token: string | null = input.auth.token ?? null;
  if (input.auth.token_file) {
    const file = resolve(cwd, input.auth.token_file);
    try {
      token = (readFileSync(file, 'utf8').split('\n')[0] ?? '').trim();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new ConfigError([
        `${sources['auth.token_file'] ?? 'config'}: auth.token_file: cannot read ${file}: ${code ?? errorMessage(err)}`,
      ]);
    }
    if (token.length < 16) {
      throw new ConfigError([`${sources['auth.token_file']}: auth.token_file: token in ${file} must be at least 16 characters`]);
    }
  }

  let basic: Config['basic'] = null;
  if (input.auth.basic) {
    const b = input.auth.basic;
    let password = b.password;
    if (b.password_file) {
      const file = resolve(cwd, b.password_file);
      try {
        password = (readFileSync(file, 'utf8').split('\n')[0] ?? '').trim();
      } catch (err) {
        throw new ConfigError([`${sources['auth.basic.password_file'] ?? 'config'}: auth.basic.password_file: cannot read ${file}: ${(err as NodeJS.ErrnoException).code}`]);
      }
    }
    if (!password) throw new ConfigError([`${sources['auth.basic.username'] ?? 'config'}: auth.basic: needs password or password_file`]);
    basic = { username: b.username, password };
  }

  const credentials = token !== null || basic !== null;
  const address = input.listen.address ?? (credentials ? '0.0.0.0' : '127.0.0.1');
  // Anyone who can reach the webhook can make playbooks run: without credentials, loopback only.
  if (!credentials && !/^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(address)) {
    throw new ConfigError([
      `${sources['listen.address'] ?? 'config'}: listen.address: ${address} is reachable from other hosts, which needs credentials (auth.token, PROMEDIC_TOKEN, auth.token_file or auth.basic); without them promedic listens on 127.0.0.1 only`,
    ]);
  }
  if (!input.listen.address) sources['listen.address'] = credentials ? 'defaults (credentials configured)' : 'defaults (no credentials: loopback only)';

  // Two spellings of one switch each: systems.monitor and monitor.enabled, systems.learner and learning.enabled.
  const monitorOn = input.monitor.enabled && input.systems.monitor;
  const learnerOn = input.learning.enabled && input.systems.learner;
  return {
    ...input,
    monitor: { ...input.monitor, enabled: monitorOn },
    learning: { ...input.learning, enabled: learnerOn },
    systems: { ...input.systems, monitor: monitorOn, learner: learnerOn },
    listen: { address, port: input.listen.port },
    sources,
    configFile,
    intervalMs: parseDuration(input.collection.interval),
    timeoutMs: parseDuration(input.collection.timeout),
    shutdownTimeoutMs: parseDuration(input.http.shutdown_timeout),
    token,
    basic,
    episodeRetentionMs: parseDuration(input.history.episode_retention),
  };
}

/** The learning core's settings from the configuration (src/learning). */
export function learningOptions(config: ConfigInput): LearningOptions {
  const l = config.learning;
  return {
    ...(l.prior ? { prior: l.prior } : {}),
    halfLifeMs: parseDuration(l.half_life),
    minTrials: l.min_trials,
    maxSignatures: l.max_signatures,
    chronicOccurrences: l.chronic.occurrences,
    chronicWindowMs: parseDuration(l.chronic.window),
  };
}
