/**
 * One status model: what the automation is doing and why, from every part, in one object.
 * Served by GET /api/v1/status, printed by `promedic status`, drawn by the status page at /,
 * and returned by the library's `status()`. Plain data, built on demand from the live parts.
 */
import type { Scope } from './scope.js';
import type { Context } from './context.js';
import type { RunRecord } from './store/types.js';
import type { StoredExperiment } from './tuning/state.js';
import { effectiveMode } from './mode.js';
import type { SystemName } from './systems.js';
import { VERSION } from './version.js';

export type SystemState = 'up' | 'degraded' | 'down' | 'disabled' | 'paused';

export interface SystemStatus {
  state: SystemState;
  /** One line for people: what it is doing, or what is wrong. */
  detail: string;
  [k: string]: unknown;
}

export interface RunSummary {
  id: string;
  playbook: string;
  strategy: string;
  status: RunRecord['status'];
  alertname: string;
  target: Record<string, string>;
  started_at: string;
  ended_at: string | null;
  /** The step that failed, or the verification, when the run failed. */
  failed_step: { name: string; error: string } | null;
}

export interface Status {
  version: string;
  started_at: string;
  uptime_seconds: number;
  automation: {
    /** Acting on alerts now: not paused, and at least one playbook enforces. */
    active: boolean;
    /** automation.mode (dry-run when engine.dry_run turns enforce off). */
    mode: 'enforce' | 'dry-run' | 'observe';
    /** Playbooks (healing and tuning) that act, by their own mode or automation.mode. */
    enforcing: number;
    paused: boolean;
    emergency: { active: boolean; alerts: string[] };
  };
  systems: {
    collector: SystemStatus;
    targets: SystemStatus;
    monitor: SystemStatus;
    intake: SystemStatus;
    store: SystemStatus;
    engine: SystemStatus;
    tuner: SystemStatus;
    learner: SystemStatus;
  };
  /** Who this promedic is in a fleet, and which alerts it acts on (src/scope.ts). */
  instance: { name: string; labels: Record<string, string>; scope: Scope | null; fleet: boolean };
  alerts: {
    firing: Array<{ alertname: string; labels: Record<string, string>; severity: string; source: string; since: string }>;
    pending: Array<{ alertname: string; labels: Record<string, string>; since: string }>;
    /** Firing alerts about other hosts (outside the scope), recorded and left alone. */
    out_of_scope: number;
  };
  runs: { in_flight: RunSummary[]; recent: RunSummary[] };
  suspended: Array<{ playbook: string; target: string; until: string; reason: string }>;
  experiments: { running: Array<Pick<StoredExperiment, 'id' | 'playbook' | 'target' | 'knob' | 'from' | 'to' | 'phase' | 'startedAt'>> };
  strategies: Array<{ playbook: string; strategy: string; successes: number; failures: number; success_ratio: number | null }>;
  last_hour: {
    alerts: number;
    runs: number;
    succeeded: number;
    failed: number;
    rollbacks: number;
    experiments: number;
    kept: number;
    rolled_back: number;
  };
}

function summary(r: RunRecord): RunSummary {
  const failed = r.steps.find((s) => s.outcome === 'failed');
  const failedStep =
    r.status === 'failed' || r.status === 'interrupted'
      ? failed
        ? { name: failed.name, error: failed.error ?? '' }
        : r.verification?.outcome === 'failed'
          ? { name: 'verification', error: r.verification.detail ?? '' }
          : { name: '', error: r.error ?? '' }
      : null;
  return {
    id: r.id,
    playbook: r.playbook,
    strategy: r.strategy,
    status: r.status,
    alertname: r.alertname,
    target: r.target,
    started_at: r.startedAt,
    ended_at: r.endedAt ?? null,
    failed_step: failedStep,
  };
}

/** One part's state and a line saying what it does or what is wrong. */
export function describeSystem(ctx: Context, name: SystemName): SystemStatus {
  const now = ctx.now();
  const { store, engine, host, monitor, tuner, targets, config } = ctx;
  const paused = engine.paused;
  switch (name) {
    case 'collector': {
      const lastCycleAge = host.lastCycleEnd ? (now - host.lastCycleEnd) / 1000 : null;
      const failing = host.failingCollectors;
      const state: SystemState = lastCycleAge === null || lastCycleAge > (3 * host.intervalMs) / 1000 ? 'down' : failing.length ? 'degraded' : 'up';
      return {
        state,
        detail:
          state === 'down'
            ? lastCycleAge === null
              ? 'no collection cycle yet'
              : `no collection cycle for ${lastCycleAge.toFixed(0)} s (interval ${host.intervalMs / 1000} s)`
            : failing.length
              ? `${failing.length} collector(s) failing: ${failing.join(', ')}`
              : `cycle every ${host.intervalMs / 1000} s`,
        cycles: host.cycles,
        errors: host.failures,
        last_cycle_at: host.lastCycleEnd ? new Date(host.lastCycleEnd).toISOString() : null,
        failing,
        // Scrapers of /metrics the collection follows (collection.follow_scrapes).
        scrapers: host.scrapers().map((s) => ({ client: s.client, interval_seconds: Math.round(s.intervalMs) / 1000 })),
      };
    }
    case 'targets': {
      const failing = targets.failingTargets;
      return {
        state: targets.targets.length === 0 ? 'disabled' : failing.length ? 'degraded' : 'up',
        detail:
          targets.targets.length === 0
            ? 'no apps to scrape (targets:)'
            : failing.length
              ? `scrapes failing: ${failing.join(', ')}`
              : `${targets.targets.length} app(s) scraped: ${targets.targets.map((t) => t.name).join(', ')}`,
        failing,
        errors: targets.failures,
      };
    }
    case 'monitor': {
      const base = { rules: monitor.ruleCount, errors: monitor.skipped, last_evaluation_at: monitor.lastEvaluatedAt ? new Date(monitor.lastEvaluatedAt).toISOString() : null };
      if (!config.monitor.enabled) return { ...base, state: 'disabled', detail: 'monitor.enabled is false' };
      const running = monitor.evaluationStartedAt === null ? 0 : now - monitor.evaluationStartedAt;
      const idle = monitor.lastEvaluatedAt ? now - monitor.lastEvaluatedAt : 0;
      if (running > 2 * monitor.intervalMs) return { ...base, state: 'degraded', detail: `behind schedule: one evaluation has run for ${(running / 1000).toFixed(0)} s (interval ${monitor.intervalMs / 1000} s)` };
      if (config.systems.collector && host.cycles > 0 && idle > 3 * monitor.intervalMs) return { ...base, state: 'degraded', detail: `no evaluation for ${(idle / 1000).toFixed(0)} s (it follows the collection cycle)` };
      return { ...base, state: 'up', detail: `${monitor.ruleCount} rule(s), ${monitor.active().filter((a) => a.state === 'firing').length} firing${monitor.skipped ? `, ${monitor.skipped} evaluation(s) skipped while one ran late` : ''}` };
    }
    case 'intake':
      return {
        state: store.lastWriteError ? 'down' : 'up',
        detail: store.lastWriteError ? `cannot record alerts (${store.lastWriteError}): the webhook answers 503` : `${store.mem.episodes.size} episode(s) remembered`,
        errors: store.writeFailures,
      };
    case 'store':
      return {
        state: store.lastWriteError ? 'down' : 'up',
        detail: store.lastWriteError ? `last write failed: ${store.lastWriteError}` : `${config.data_dir}`,
        last_write_error: store.lastWriteError,
        errors: store.writeFailures,
      };
    case 'engine': {
      const load = engine.load;
      const mode = effectiveMode(undefined, config);
      const enforcing = [...ctx.rules.current.playbooks, ...ctx.rules.current.tuning].filter((pb) => effectiveMode(pb.mode, config) === 'enforce').length;
      const growing = load.queued >= Math.max(50, 5 * config.engine.max_in_flight);
      const base = {
        errors: [...store.mem.runs.values()].filter((r) => r.status === 'failed').length,
        in_flight: load.inFlight,
        queued: load.queued,
        playbooks: ctx.rules.current.playbooks.length,
        rules_errors: ctx.rules.lastErrors,
      };
      if (ctx.rules.lastErrors.length) {
        return { ...base, state: 'degraded', detail: `the last rules reload failed (${ctx.rules.lastErrors.length} problem(s)); running on the previous rules` };
      }
      if (growing) return { ...base, state: 'degraded', detail: `${load.queued} runs queued behind ${load.inFlight} in flight: the queue keeps growing` };
      return {
        ...base,
        state: paused ? 'paused' : 'up',
        detail: `${paused ? 'paused: alerts are recorded, nothing acts; ' : config.engine.dry_run ? 'dry-run: plans are recorded, nothing acts; ' : mode !== 'enforce' ? `${mode} unless a playbook says otherwise (${enforcing} enforce); ` : ''}${load.inFlight} run(s) in flight, ${load.queued} queued, ${ctx.rules.current.playbooks.length} playbook(s)`,
      };
    }
    case 'tuner':
      return {
        state: paused ? 'paused' : 'up',
        detail: `${tuner.runningNow().length} experiment(s) running, ${ctx.rules.current.tuning.length} tuning playbook(s)`,
        playbooks: ctx.rules.current.tuning.length,
        errors: [...store.mem.tuning.experiments.values()].filter((e) => e.outcome === 'failed').length,
      };
    case 'learner': {
      const l = store.mem.learning;
      return {
        state: config.learning.enabled ? 'up' : 'disabled',
        detail: `${l.entries.size} signature(s) with evidence, ${l.chronic.size} chronic`,
        signatures: l.entries.size,
        chronic: l.chronic.size,
      };
    }
  }
}

export function buildStatus(ctx: Context, recent = 10): Status {
  const now = ctx.now();
  const hourAgo = now - 3600_000;
  const { store, engine, monitor, tuner, config } = ctx;
  const paused = engine.paused;
  const runs = [...store.mem.runs.values()];
  const inFlight = runs.filter((r) => r.status === 'running' || r.status === 'verifying' || r.status === 'pending');
  const running = tuner.runningNow();
  const mode = effectiveMode(undefined, config);
  const enforcing = [...ctx.rules.current.playbooks, ...ctx.rules.current.tuning].filter((pb) => effectiveMode(pb.mode, config) === 'enforce').length;
  const systems = ctx.systems.statuses() as Status['systems'];

  const firingAll = [...store.mem.episodes.values()].filter((e) => e.status === 'firing');
  const firing = firingAll
    .filter((e) => !e.outOfScope)
    .map((e) => ({ alertname: e.alertname, labels: e.labels, severity: e.severity, source: e.source, since: e.firstSeen }));
  const pending = monitor
    .active()
    .filter((a) => a.state === 'pending')
    .map((a) => ({ alertname: a.alertname, labels: a.labels, since: a.since }));
  const suspended = [...store.mem.suspensions]
    .filter(([, s]) => s.until > now)
    .map(([k, s]) => {
      const i = k.indexOf('|');
      return { playbook: k.slice(0, i), target: k.slice(i + 1), until: new Date(s.until).toISOString(), reason: s.reason };
    });
  const lastHourRuns = runs.filter((r) => Date.parse(r.startedAt) >= hourAgo);
  const lastHourExperiments = [...store.mem.tuning.experiments.values()].filter((e) => Date.parse(e.startedAt) >= hourAgo);
  return {
    version: VERSION,
    started_at: new Date(ctx.startedAt).toISOString(),
    uptime_seconds: Math.round((now - ctx.startedAt) / 1000),
    automation: {
      active: !paused && enforcing > 0,
      mode,
      enforcing,
      paused,
      emergency: { active: engine.emergency, alerts: engine.emergencyAlerts },
    },
    systems,
    instance: { name: ctx.identity.instance, labels: ctx.identity.labels, scope: config.scope ?? null, fleet: config.fleet.enabled },
    alerts: { firing, pending, out_of_scope: firingAll.length - firing.length },
    runs: { in_flight: inFlight.map(summary), recent: runs.slice(-recent).reverse().map(summary) },
    suspended,
    experiments: {
      running: running.map((e) => ({ id: e.id, playbook: e.playbook, target: e.target, knob: e.knob, from: e.from, to: e.to, phase: e.phase, startedAt: e.startedAt })),
    },
    strategies: engine
      .strategyTotals()
      .map((t) => ({ ...t, success_ratio: t.successes + t.failures ? t.successes / (t.successes + t.failures) : null }))
      .sort((a, b) => a.playbook.localeCompare(b.playbook) || a.strategy.localeCompare(b.strategy)),
    last_hour: {
      alerts: [...store.mem.episodes.values()].filter((e) => Date.parse(e.firstSeen) >= hourAgo).length,
      runs: lastHourRuns.length,
      succeeded: lastHourRuns.filter((r) => r.status === 'succeeded').length,
      failed: lastHourRuns.filter((r) => r.status === 'failed').length,
      rollbacks: lastHourRuns.filter((r) => (r.rollback?.length ?? 0) > 0).length,
      experiments: lastHourExperiments.length,
      kept: lastHourExperiments.filter((e) => e.outcome === 'kept').length,
      rolled_back: lastHourExperiments.filter((e) => e.outcome === 'rolled_back' || e.outcome === 'aborted').length,
    },
  };
}
