import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from './config.js';
import type { HostMetrics } from './metrics/host.js';
import type { Store } from './store/index.js';

/** The small object every part receives: no singletons, everything passed in. */
export interface Context {
  readonly config: Config;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly store: Store;
  readonly host: HostMetrics;
  readonly now: () => number;
}
