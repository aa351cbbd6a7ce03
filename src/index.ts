/**
 * promedic as a library, for a Node app that wants it in-process:
 *
 *   import { createPromedic } from 'promedic';
 *   const p = await createPromedic({ config: { listen: { port: 0 }, data_dir: './data/promedic' } });
 *   await p.start();
 *   console.log(p.url, p.status().automation);
 *   await p.stop();
 *
 * The configuration is the same as promedic.yml (defaults, then `configFile`, then `config`,
 * then PROMEDIC_* from `env`), validated the same way: a bad value throws a ConfigError whose
 * `problems` name each field. The CLI's `promedic start` runs through this function too.
 */
import type { Logger } from 'pino';
import { type Config, type ConfigValues, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { type Service, startService } from './main.js';
import { type Status, buildStatus } from './status.js';

export type { Config, ConfigInput, ConfigValues } from './config.js';
export { ConfigError, PromedicError } from './errors.js';
export type { RunSummary, Status, SystemState, SystemStatus } from './status.js';
export type { RunRecord, StepRecord, EpisodeRecord } from './store/types.js';
export type { StoredExperiment } from './tuning/state.js';
export { VERSION } from './version.js';

export interface PromedicOptions {
  /** Values as in promedic.yml, applied over the config file. */
  config?: ConfigValues;
  /** A promedic.yml to read (default: ./promedic.yml in `cwd` when present). */
  configFile?: string;
  /** PROMEDIC_* variables to apply (default: process.env); pass {} to ignore the environment. */
  env?: NodeJS.ProcessEnv;
  /** Command-line style overrides (`port`, `data-dir`, ...), applied last. */
  flags?: Record<string, string | undefined>;
  /** Resolves relative paths (default: process.cwd()). */
  cwd?: string;
  /** A pino logger (default: promedic's own, at config log.level, to stdout). */
  logger?: Logger;
  /** An already resolved configuration (from loadConfig); the other config options are then ignored. */
  resolved?: Config;
}

export interface Promedic {
  /** The resolved configuration. */
  readonly config: Config;
  /** The URL it listens on once started (with the real port when port 0 was asked for), else null. */
  readonly url: string | null;
  readonly running: boolean;
  /** Starts every part; resolves once it listens and the first collection cycle is done. */
  start(): Promise<void>;
  /** Graceful stop: in-flight requests finish, runs and experiments roll back, the store is flushed. */
  stop(): Promise<void>;
  /** What the automation is doing now (as GET /api/v1/status). */
  status(): Status;
  /** Reloads the rules; returns the problems (empty on success; the previous rules stay otherwise). */
  reload(): string[];
  /** The running service's parts, for advanced use and tests. */
  readonly service: Service | null;
}

export async function createPromedic(options: PromedicOptions = {}): Promise<Promedic> {
  const config =
    options.resolved ??
    loadConfig({
      ...(options.configFile !== undefined ? { configFile: options.configFile } : {}),
      ...(options.config ? { values: options.config } : {}),
      ...(options.env ? { env: options.env } : {}),
      ...(options.flags ? { flags: options.flags } : {}),
      ...(options.cwd ? { cwd: options.cwd } : {}),
    });
  const logger = options.logger ?? createLogger(config.log.level);
  let service: Service | null = null;
  let starting: Promise<void> | null = null;
  const live = (): Service => {
    if (!service) throw new Error('promedic is not running: call start() first');
    return service;
  };
  return {
    config,
    get url() {
      return service?.url ?? null;
    },
    get running() {
      return service !== null;
    },
    get service() {
      return service;
    },
    start() {
      starting ??= (async () => {
        service = await startService(config, logger);
      })().finally(() => {
        starting = null;
      });
      return starting;
    },
    async stop() {
      const s = service;
      service = null;
      await s?.stop();
    },
    status: () => buildStatus(live().ctx),
    reload: () => live().reload(),
  };
}
