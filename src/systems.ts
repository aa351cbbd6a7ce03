/**
 * promedic's parts as systems: each has start, stop and status, and the composition root
 * starts them in dependency order and stops them in reverse. A supervisor looks at every
 * running system every few seconds: one that reports itself stalled (a collector that stopped
 * cycling) is restarted, with a backoff that doubles while it keeps stalling, and the restart
 * is counted. promedic_system_up{system} says which parts work.
 */
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { errorMessage } from './errors.js';
import type { SystemStatus } from './status.js';

export const SYSTEM_NAMES = ['collector', 'targets', 'monitor', 'intake', 'store', 'engine', 'tuner', 'learner'] as const;
export type SystemName = (typeof SYSTEM_NAMES)[number];

export interface System {
  readonly name: SystemName;
  start(): Promise<void>;
  stop(): Promise<void>;
  status(): SystemStatus;
  /** Why the system needs a restart (it stopped making progress), or null. */
  stalled?(): string | null;
  /** Gets a stalled system going again; default: stop, then start. */
  restart?(): Promise<void>;
}

export interface SystemsOptions {
  logger: Logger;
  registry: Registry;
  /** How often the supervisor looks (default 5 s). */
  checkIntervalMs?: number;
  /** Wait before the first restart of a stalled system and the cap of its doubling (default 5 s, 5 min). */
  backoff?: { initialMs: number; maxMs: number };
}

interface Entry {
  system: System;
  enabled: boolean;
  started: boolean;
  restarts: number;
  /** Earliest time of the next restart, and the backoff it will use after that. */
  nextRestartAt: number;
  backoffMs: number;
  restarting: boolean;
}

export class Systems {
  private readonly entries: Entry[] = [];
  private readonly log: Logger;
  private readonly restarts: Counter<'system'>;
  private timer: NodeJS.Timeout | null = null;
  private readonly o: Required<SystemsOptions>;
  /** start:<name> and stop:<name>, in the order they happened (status and tests). */
  readonly history: string[] = [];

  constructor(o: SystemsOptions) {
    this.o = { checkIntervalMs: 5000, backoff: { initialMs: 5000, maxMs: 300_000 }, ...o };
    this.log = o.logger.child({ component: 'systems' });
    this.restarts = new Counter({ name: 'promedic_system_restarts_total', help: 'Restarts of a stalled or crashed part by the supervisor.', labelNames: ['system'], registers: [o.registry] });
    const self = this;
    /** Per entry as last set: 1 up, 0 down, -1 disabled. */
    const shown: number[] = [];
    new Gauge({
      name: 'promedic_system_up',
      help: 'Whether each part of promedic works (1), or is down (0); disabled parts are left out.',
      labelNames: ['system'],
      registers: [o.registry],
      collect() {
        // The series are set again only when a part went up or down (or one was added): label
        // sets hashed on every scrape were garbage for nothing.
        let i = 0;
        let changed = shown.length !== self.entries.length;
        for (const e of self.entries) {
          let up = -1;
          if (e.enabled) {
            up = 0;
            try {
              up = e.system.status().state === 'down' ? 0 : 1;
            } catch {
              // a status that throws is a part that is down
            }
          }
          if (shown[i] !== up) changed = true;
          shown[i++] = up;
        }
        shown.length = i;
        if (!changed) return;
        this.reset();
        self.entries.forEach((e, j) => {
          if (shown[j] !== -1) this.set({ system: e.system.name }, shown[j] as number);
        });
      },
    });
  }

  /** Adds a system; they start in the order added. A disabled system is neither started nor supervised. */
  add(system: System, enabled = true): this {
    this.entries.push({ system, enabled, started: false, restarts: 0, nextRestartAt: 0, backoffMs: this.o.backoff.initialMs, restarting: false });
    if (enabled) this.restarts.inc({ system: system.name }, 0);
    return this;
  }

  enabled(name: SystemName): boolean {
    return this.entries.some((e) => e.system.name === name && e.enabled);
  }

  /** Starts the enabled systems in order; when one fails, those already started are stopped (in reverse) and the error thrown. */
  async startAll(): Promise<void> {
    for (const e of this.entries) {
      if (!e.enabled) continue;
      try {
        await e.system.start();
      } catch (err) {
        this.log.error({ system: e.system.name, err: errorMessage(err) }, 'system failed to start; stopping the others');
        await this.stopAll();
        throw err;
      }
      e.started = true;
      this.history.push(`start:${e.system.name}`);
    }
  }

  /** Stops the started systems in reverse order; a failing stop is logged and the others still stop. */
  async stopAll(): Promise<void> {
    this.unsupervise();
    for (const e of [...this.entries].reverse()) {
      if (!e.started) continue;
      e.started = false;
      try {
        await e.system.stop();
      } catch (err) {
        this.log.error({ system: e.system.name, err: errorMessage(err) }, 'system failed to stop cleanly');
      }
      this.history.push(`stop:${e.system.name}`);
    }
  }

  /** Looks at every started system every checkIntervalMs and restarts a stalled one, with backoff. */
  supervise(): void {
    this.timer ??= setInterval(() => void this.check(), this.o.checkIntervalMs);
    this.timer.unref();
  }

  private unsupervise(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One supervisor pass (exposed for tests). */
  async check(now = Date.now()): Promise<void> {
    for (const e of this.entries) {
      if (!e.started || e.restarting || !e.system.stalled) continue;
      const why = e.system.stalled();
      if (why === null) {
        // Healthy for a whole backoff period: the next stall starts from the initial backoff again.
        if (e.backoffMs > this.o.backoff.initialMs && now >= e.nextRestartAt + e.backoffMs) e.backoffMs = this.o.backoff.initialMs;
        continue;
      }
      if (now < e.nextRestartAt) continue;
      e.restarting = true;
      e.restarts++;
      e.nextRestartAt = now + e.backoffMs;
      this.log.error({ system: e.system.name, reason: why, restarts: e.restarts, nextNotBeforeSeconds: e.backoffMs / 1000 }, 'system stalled; restarting it');
      e.backoffMs = Math.min(e.backoffMs * 2, this.o.backoff.maxMs);
      this.restarts.inc({ system: e.system.name });
      try {
        if (e.system.restart) await e.system.restart();
        else {
          await e.system.stop();
          await e.system.start();
        }
      } catch (err) {
        this.log.error({ system: e.system.name, err: errorMessage(err) }, 'restart failed; trying again after the backoff');
      } finally {
        e.restarting = false;
      }
    }
  }

  /** Each system's status (disabled ones as disabled), in start order. */
  statuses(): Record<SystemName, SystemStatus> {
    const out = {} as Record<SystemName, SystemStatus>;
    for (const e of this.entries) {
      let st: SystemStatus;
      try {
        st = e.enabled ? e.system.status() : { state: 'disabled', detail: `turned off (systems.${e.system.name}: false)` };
      } catch (err) {
        st = { state: 'down', detail: `status failed: ${errorMessage(err)}` };
      }
      out[e.system.name] = { ...st, restarts: e.restarts };
    }
    return out;
  }
}
