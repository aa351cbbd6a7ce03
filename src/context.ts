import type { Identity } from './scope.js';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from './config.js';
import type { Engine } from './engine/engine.js';
import type { Intake } from './intake/index.js';
import type { RuleManager } from './rules/index.js';
import type { Monitor } from './monitor/monitor.js';
import type { TargetScraper } from './monitor/targets.js';
import type { HostMetrics } from './metrics/host.js';
import type { Store } from './store/index.js';
import type { Tuner } from './tuning/tuner.js';
import type { Systems } from './systems.js';

/** The small object every part receives: no singletons, everything passed in. */
export interface Context {
  readonly config: Config;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly store: Store;
  readonly host: HostMetrics;
  readonly rules: RuleManager;
  readonly engine: Engine;
  readonly tuner: Tuner;
  readonly intake: Intake;
  readonly monitor: Monitor;
  readonly targets: TargetScraper;
  /** The parts as systems: start/stop order, supervision, each part's status. */
  readonly systems: Systems;
  /** This promedic's identity in a fleet (instance, labels); the instance is final once listening. */
  readonly identity: Identity;
  /** When this process started the service (ms). */
  readonly startedAt: number;
  readonly now: () => number;
}
