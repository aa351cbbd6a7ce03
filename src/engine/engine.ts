/**
 * Runs playbooks: admission (limits, cooldowns, flap suspension, pause), a queue per
 * playbook, steps with retries and timeouts, rollback in reverse order, verification
 * against the alert that fired, fallback to the next strategy, and a durable record of
 * every state change. Alerts arrive through onFiring/onResolved, never inside an HTTP request.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { ACTIONS, ActionError } from '../actions/index.js';
import { send } from '../actions/http.js';
import { sleep } from '../actions/types.js';
import type { Alert } from '../alert.js';
import { errorMessage } from '../errors.js';
import type { Mode, Playbook, Step, Strategy } from '../rules/playbook.js';
import { type TemplateVars, TemplateError, displayVars, envNames, scrubEnv } from '../rules/template.js';
import { type Identity, type Scope, outOfScope } from '../scope.js';
import type { Store } from '../store/index.js';
import type { JournalEntry, RunRecord, StepRecord } from '../store/types.js';
import type { Escalator } from './escalation.js';
import type { Bus, PromedicEvents } from '../events.js';
import { type Decision, type Recurrence, type Rng, type ChronicChange, chooseStrategies, signatureOf } from '../learning/index.js';
import { backoffMs, explainMatch, gate, suspensionFor, targetKey, targetOf, templateVarsFor } from './plan.js';

export interface EngineOptions {
  store: Store;
  logger: Logger;
  registry: Registry;
  playbooks: () => Playbook[];
  maxRunsPerMinute: number;
  maxInFlight: number;
  /** Global dry-run: every playbook behaves as `mode: dry-run`. */
  dryRun: boolean;
  /** automation.mode: the mode of playbooks that do not set their own (default enforce). */
  defaultMode?: Mode;
  prometheusUrl: string | null;
  /** Severities that enter emergency mode (default critical). */
  emergencySeverities?: string[];
  /** Slack-compatible webhook told when emergency mode is entered and left. */
  emergencyNotifyUrl?: string | null;
  /** How often a verification query is retried while waiting. */
  verifyPollMs?: number;
  /** Raises PromedicRemediationFailed in Alertmanager when a playbook cannot fix an alert. */
  escalator?: Escalator | null;
  /** Strategy order learned from outcomes (false: every playbook keeps its listed order). */
  learning?: { enabled: boolean; rng: Rng };
  /**
   * Called before a healing run acts, and awaited: a tuning experiment on the same target is
   * stopped and its knob put back first, so the rollback cannot undo what the healing does.
   */
  beforeHealing?: (playbook: string, labels: Record<string, string>) => Promise<void>;
  /** The event bus shared with the other parts (default: the engine's own). */
  events?: Bus;
  /** Fleet scope (src/scope.ts): this promedic's identity and the global scope; null: everything in scope. */
  scope?: { identity: Identity; global?: Scope | undefined } | null;
}

interface Job {
  alert: Alert;
  pb: Playbook;
  key: string;
  /** Started by another playbook's on_chronic rather than by a match. */
  preventive?: boolean;
}

interface Handle {
  job: Job;
  controller: AbortController;
  phase: 'acting' | 'verifying';
  run: RunRecord;
}

class Cancelled extends Error {
  constructor(readonly why: 'paused' | 'resolved' | 'shutdown') {
    super(`cancelled: ${why}`);
  }
}

/** The escalation key of a chronic signature (an episode key never contains "|"). */
function chronicKey(playbook: string, signature: string): string {
  return `chronic|${playbook}|${signature}`;
}

/** "reset-connection: verification failed (...); rolled back" for an escalation's description. */
function describeRun(r: RunRecord): string {
  const failedStep = r.steps.find((s) => s.outcome === 'failed');
  const why = r.verification?.outcome === 'failed' ? `verification failed${r.verification.detail ? ` (${r.verification.detail})` : ''}` : failedStep ? `step "${failedStep.name}" failed${failedStep.error ? `: ${failedStep.error}` : ''}` : (r.error ?? r.status);
  return `${r.strategy}: ${why}${r.rollback?.length ? '; rolled back' : ''}`;
}

function nowIso(): string {
  return new Date().toISOString();
}

const FILES = new WeakMap<Playbook, string[]>();

/** The files a playbook's `config` steps, undos and on_failure steps write (literal paths, resolved as the action does). */
function filesWritten(pb: Playbook): string[] {
  let files = FILES.get(pb);
  if (!files) {
    const steps = [...pb.strategies.flatMap((s) => s.steps.flatMap((st) => (st.undo ? [st, st.undo] : [st]))), ...pb.onFailure];
    files = [...new Set(steps.filter((st) => st.type === 'config').map((st) => resolve(String((st.args as { file: unknown }).file))))];
    FILES.set(pb, files);
  }
  return files;
}

export class Engine {
  /** The bus the engine emits on (src/events.ts); listeners must not throw. */
  readonly events: Bus;
  private readonly o: EngineOptions;
  private readonly log: Logger;
  private readonly store: Store;
  private readonly queue: Job[] = [];
  private readonly handles = new Map<string, Handle>();
  private readonly busy = new Set<string>();
  /** Files written by a config step (or its undo) of a run in flight. */
  private readonly filesHeld = new Set<string>();
  private readonly active = new Map<string, number>();
  private readonly globalStarts: number[] = [];
  private readonly playbookStarts = new Map<string, number[]>();
  private readonly resolvedWaiters = new Map<string, Set<() => void>>();
  private readonly running = new Set<Promise<void>>();
  private stopping = false;
  /** Episodes holding promedic in emergency mode -> their alertname. */
  private readonly emergencies = new Map<string, string>();
  private readonly m;
  /** playbook \0 strategy -> lifetime verified successes and failures (promedic_strategy_success_ratio). */
  private readonly totals = new Map<string, { s: number; f: number }>();
  private sweepTimer: NodeJS.Timeout | null = null;

  constructor(o: EngineOptions) {
    this.o = o;
    this.events = o.events ?? new EventEmitter<PromedicEvents>();
    this.store = o.store;
    this.log = o.logger.child({ component: 'engine' });
    const r = [o.registry];
    this.m = {
      runs: new Counter({ name: 'promedic_playbook_runs_total', help: 'Playbook runs (one per strategy tried), by outcome.', labelNames: ['playbook', 'strategy', 'outcome'], registers: r }),
      duration: new Histogram({ name: 'promedic_playbook_run_duration_seconds', help: 'Duration of playbook runs, from start to verified outcome.', labelNames: ['playbook'], buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800], registers: r }),
      action: new Histogram({ name: 'promedic_action_duration_seconds', help: 'Duration of action executions (each attempt), by type and outcome.', labelNames: ['type', 'outcome'], buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60], registers: r }),
      rollbacks: new Counter({ name: 'promedic_rollbacks_total', help: 'Rollbacks (undo steps run after a failed step or verification).', labelNames: ['playbook'], registers: r }),
      skipped: new Counter({ name: 'promedic_runs_skipped_total', help: 'Runs not started, by reason.', labelNames: ['playbook', 'reason'], registers: r }),
      recover: new Histogram({
        name: 'promedic_time_to_recover_seconds',
        help: 'Time from an alert being received to its fix being verified, by the playbook and the strategy that fixed it.',
        labelNames: ['playbook', 'strategy'],
        buckets: [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600],
        registers: r,
      }),
      selected: new Counter({
        name: 'promedic_strategy_selected_total',
        help: 'Runs that led with this strategy (the learned or the listed order).',
        labelNames: ['playbook', 'strategy'],
        registers: r,
      }),
      chronic: new Counter({
        name: 'promedic_chronic_transitions_total',
        help: 'Signatures that turned chronic (fired learning.chronic.occurrences times within the window).',
        labelNames: ['playbook'],
        registers: r,
      }),
      firstAction: new Histogram({ name: 'promedic_alert_to_first_action_seconds', help: 'Time from an alert being durably recorded to the first action of its run.', buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30], registers: r }),
    };
    const self = this;
    new Gauge({ name: 'promedic_runs_in_flight', help: 'Playbook runs executing or verifying now.', registers: r, collect() { this.set(self.handles.size); } });
    new Gauge({ name: 'promedic_runs_queued', help: 'Admitted runs waiting for a concurrency slot.', registers: r, collect() { this.set(self.queue.length); } });
    new Gauge({ name: 'promedic_emergency_active', help: '1 while promedic is in emergency mode (a critical or emergency alert is firing).', registers: r, collect() { this.set(self.emergencies.size > 0 ? 1 : 0); } });
    new Gauge({
      name: 'promedic_strategy_success_ratio',
      help: 'Verified successes over verified outcomes of each strategy, all signatures, as recorded since the learning state began.',
      labelNames: ['playbook', 'strategy'],
      registers: r,
      collect() {
        this.reset();
        for (const [k, t] of self.totals) {
          const [playbook, strategy] = k.split('\u0000') as [string, string];
          if (t.s + t.f > 0) this.set({ playbook, strategy }, t.s / (t.s + t.f));
        }
      },
    });
    new Gauge({
      name: 'promedic_chronic_signatures',
      help: 'Signatures (alertname + target labels) currently chronic, by playbook.',
      labelNames: ['playbook'],
      registers: r,
      collect() {
        this.reset();
        for (const pb of self.o.playbooks()) this.set({ playbook: pb.name }, 0);
        for (const k of self.store.mem.learning.chronic) {
          const e = self.store.mem.learning.entries.get(k);
          if (e) this.inc({ playbook: e.playbook });
        }
      },
    });
    new Gauge({
      name: 'promedic_learning_signatures',
      help: '(playbook, signature) pairs with learned evidence (bounded by learning.max_signatures).',
      registers: r,
      collect() {
        this.set(self.store.mem.learning.entries.size);
      },
    });
    new Gauge({ name: 'promedic_paused', help: '1 while automation is paused (alerts are recorded, nothing acts).', registers: r, collect() { this.set(self.store.mem.paused ? 1 : 0); } });
    new Gauge({
      name: 'promedic_playbook_suspended',
      help: 'Targets for which a playbook is suspended after repeated failures (flap protection).',
      labelNames: ['playbook'],
      registers: r,
      collect() {
        this.reset();
        const now = Date.now();
        for (const pb of self.o.playbooks()) this.set({ playbook: pb.name }, 0);
        for (const [k, s] of self.store.mem.suspensions) if (s.until > now) this.inc({ playbook: k.split('|')[0] as string });
      },
    });
  }

  get paused(): boolean {
    return this.store.mem.paused;
  }

  /** Runs executing or verifying now, and admitted runs waiting for a slot. */
  get load(): { inFlight: number; queued: number } {
    return { inFlight: this.handles.size, queued: this.queue.length };
  }

  /** The alert names holding emergency mode. */
  get emergencyAlerts(): string[] {
    return [...new Set(this.emergencies.values())];
  }

  /** Lifetime verified successes and failures per playbook and strategy. */
  strategyTotals(): Array<{ playbook: string; strategy: string; successes: number; failures: number }> {
    return [...this.totals].map(([k, t]) => {
      const [playbook, strategy] = k.split('\u0000') as [string, string];
      return { playbook, strategy, successes: t.s, failures: t.f };
    });
  }

  private countOutcome(playbook: string, strategy: string, success: boolean): void {
    const k = `${playbook}\u0000${strategy}`;
    const t = this.totals.get(k) ?? { s: 0, f: 0 };
    if (success) t.s++;
    else t.f++;
    this.totals.set(k, t);
  }

  /** Chronic signatures that went quiet are cleared once a minute (only while there are any). */
  startLearning(): void {
    if (this.sweepTimer) return;
    this.totals.clear();
    for (const e of this.store.mem.learning.entries.values()) {
      for (const [name, st] of e.strategies) {
        const k = `${e.playbook}\u0000${name}`;
        const t = this.totals.get(k) ?? { s: 0, f: 0 };
        t.s += st.successes;
        t.f += st.failures;
        this.totals.set(k, t);
      }
    }
    this.sweepTimer = setInterval(() => void this.sweep(), 60_000);
    this.sweepTimer.unref();
  }

  /** Stops the chronic sweep (the learner system's stop). */
  stopLearning(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
  }

  get learning(): boolean {
    return this.sweepTimer !== null;
  }

  private async sweep(): Promise<void> {
    const l = this.store.mem.learning;
    if (l.chronic.size === 0 && l.pendingClears.length === 0) return;
    try {
      const [changes] = await this.store.commit([{ op: 'sweep', at: Date.now() }]);
      for (const c of (changes as ChronicChange[] | undefined) ?? []) {
        this.log.info({ playbook: c.playbook, signature: c.signature, reason: c.reason }, 'signature no longer chronic');
        if (this.o.escalator) void this.o.escalator.resolve(chronicKey(c.playbook, c.signature));
      }
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'could not record the chronic sweep');
    }
  }

  /** Records a new firing of a playbook's signature; a signature turning chronic is escalated once. */
  private async noteFiring(pb: Playbook, alert: Alert): Promise<void> {
    const signature = signatureOf(alert.labels, pb.target);
    const at = Date.parse(alert.receivedAt);
    try {
      const [r] = await this.store.commit([{ op: 'firing', v: { playbook: pb.name, signature, at: Number.isFinite(at) ? at : Date.now() } }]);
      if ((r as Recurrence | undefined)?.transition === 'chronic') this.onChronic(pb, alert, signature, r as Recurrence);
    } catch (err) {
      this.log.error({ err: errorMessage(err), playbook: pb.name }, 'could not record the firing');
    }
  }

  private onChronic(pb: Playbook, alert: Alert, signature: string, r: Recurrence): void {
    this.m.chronic.inc({ playbook: pb.name });
    const opts = this.store.mem.learning.options;
    this.log.warn({ playbook: pb.name, signature, count: r.count, windowSeconds: opts.chronicWindowMs / 1000 }, 'signature is chronic: it keeps coming back');
    if (this.o.escalator) {
      void this.o.escalator.escalateChronic({
        key: chronicKey(pb.name, signature),
        playbook: pb.name,
        target: targetOf(pb, alert.labels),
        severity: alert.severity,
        count: r.count,
        windowMs: opts.chronicWindowMs,
      });
    }
    this.events.emit('chronic', { playbook: pb.name, signature, alert, preventive: pb.onChronic?.playbook ?? null });
    if (pb.onChronic && !this.stopping) {
      const preventive = this.o.playbooks().find((p) => p.name === pb.onChronic?.playbook);
      // Not a healing playbook: a tuning one, started by the coordination rules once the healing is done.
      if (!preventive) return;
      this.log.info({ playbook: pb.name, preventive: preventive.name, signature }, 'starting the preventive playbook');
      this.admit(preventive, alert, true);
      this.pump();
    }
  }

  async setPaused(paused: boolean): Promise<void> {
    await this.store.commit([{ op: 'paused', v: paused }]);
    this.log.warn({ paused }, paused ? 'automation paused: alerts are recorded, nothing acts' : 'automation resumed');
    this.events.emit('paused', paused);
  }

  get emergency(): boolean {
    return this.emergencies.size > 0;
  }

  isEmergency(alert: { severity: string; annotations: Record<string, string> }): boolean {
    return (this.o.emergencySeverities ?? ['critical']).includes(alert.severity) || alert.annotations.emergency === 'true';
  }

  private enterEmergency(alert: Alert): void {
    const first = this.emergencies.size === 0;
    this.emergencies.set(alert.episode, alert.labels.alertname ?? '');
    if (!first) return;
    this.log.error({ alertname: alert.labels.alertname, episode: alert.episode }, 'emergency mode entered: emergency playbooks first, cooldowns bypassed for them');
    this.events.emit('emergency', alert.labels.alertname ?? '');
    void this.tell(`promedic: EMERGENCY on ${alert.labels.instance ?? 'this host'}: ${alert.labels.alertname} (${alert.annotations.summary ?? alert.severity})`);
  }

  private leaveEmergency(episode: string): void {
    const name = this.emergencies.get(episode);
    if (name === undefined || !this.emergencies.delete(episode) || this.emergencies.size > 0) return;
    this.log.warn({ alertname: name }, 'emergency mode left: the last emergency alert resolved');
    this.events.emit('emergency_over', name);
    void this.tell(`promedic: emergency over (${name} resolved)`);
  }

  /** The escalation: straight to the configured webhook, outside any playbook and its limits. */
  private async tell(text: string): Promise<void> {
    const url = this.o.emergencyNotifyUrl;
    if (!url) return;
    try {
      await send({ method: 'POST', url, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }), expect: [] }, AbortSignal.timeout(10_000));
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'could not send the emergency notification');
    }
  }

  /** A new firing episode, durably recorded. Never throws; never blocks the caller. */
  onFiring(alert: Alert): void {
    if (this.stopping) return;
    if (this.isEmergency(alert)) this.enterEmergency(alert);
    // In an emergency, emergency playbooks are admitted (and queued) first.
    const playbooks = this.emergency ? [...this.o.playbooks()].sort((a, b) => Number(b.emergency) - Number(a.emergency)) : this.o.playbooks();
    for (const pb of playbooks) {
      if (!explainMatch(pb, alert.labels).matched) continue;
      const away = this.o.scope ? outOfScope(pb.scope ?? this.o.scope.global, alert.labels, this.o.scope.identity) : null;
      if (away) {
        this.m.skipped.inc({ playbook: pb.name, reason: 'out_of_scope' });
        this.log.info({ playbook: pb.name, episode: alert.episode, reason: 'out_of_scope', detail: away }, 'run skipped');
        continue;
      }
      void this.noteFiring(pb, alert);
      this.admit(pb, alert, false);
    }
    this.pump();
    this.events.emit('firing', alert);
  }

  /**
   * The healing playbook queued or running for an alert whose labels `concerns` accepts, or
   * null: a tuning experiment does not start on a target that is being healed.
   */
  healingOn(concerns: (labels: Record<string, string>) => boolean): string | null {
    for (const h of this.handles.values()) if (concerns(h.job.alert.labels)) return h.job.pb.name;
    for (const j of this.queue) if (concerns(j.alert.labels)) return j.pb.name;
    return null;
  }

  /** Admission of one playbook for one alert: limits, cooldowns, suspension, pause; queued when admitted. */
  private admit(pb: Playbook, alert: Alert, preventive: boolean): void {
    const key = targetKey(pb, alert.labels);
    const now = Date.now();
    const skip = gate(pb, {
      now,
      paused: this.paused,
      cooldownUntil: this.store.mem.cooldowns.get(key),
      suspension: this.store.mem.suspensions.get(key),
      targetBusy: this.busy.has(key),
      playbookStarts: this.playbookStarts.get(pb.name) ?? [],
      globalStarts: this.globalStarts,
      maxRunsPerMinute: this.o.maxRunsPerMinute,
      emergency: this.emergency,
    });
    if (skip) {
      this.m.skipped.inc({ playbook: pb.name, reason: skip.reason });
      this.log.info({ playbook: pb.name, episode: alert.episode, reason: skip.reason, detail: skip.detail }, 'run skipped');
      return;
    }
    this.busy.add(key);
    this.globalStarts.push(now);
    while (this.globalStarts.length && (this.globalStarts[0] as number) < now - 60_000) this.globalStarts.shift();
    const starts = this.playbookStarts.get(pb.name) ?? [];
    starts.push(now);
    if (pb.maxRuns) while (starts.length && (starts[0] as number) < now - pb.maxRuns.windowMs) starts.shift();
    this.playbookStarts.set(pb.name, starts.slice(-1000));
    const job: Job = { alert, pb, key, ...(preventive ? { preventive } : {}) };
    if (this.emergency && pb.emergency) this.queue.unshift(job);
    else this.queue.push(job);
  }

  /** The episode resolved: verifications waiting on it succeed; runs still acting follow on_resolved. */
  onResolved(episode: string): void {
    this.leaveEmergency(episode);
    this.events.emit('resolved', episode);
    if (this.o.escalator) void this.o.escalator.resolve(episode);
    for (const w of this.resolvedWaiters.get(episode) ?? []) w();
    this.resolvedWaiters.delete(episode);
    for (const h of this.handles.values()) {
      if (h.job.alert.episode === episode && h.phase === 'acting' && h.job.pb.onResolved === 'cancel') {
        h.controller.abort(new Cancelled('resolved'));
      }
    }
  }

  private pump(): void {
    for (let i = 0; i < this.queue.length && this.handles.size < this.o.maxInFlight; ) {
      const job = this.queue[i] as Job;
      const files = filesWritten(job.pb);
      // Runs that write one file go one at a time (step, verification, rollback): two at once
      // would undo in the wrong order and could leave the file changed.
      if ((this.active.get(job.pb.name) ?? 0) >= job.pb.maxConcurrent || files.some((f) => this.filesHeld.has(f))) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      this.active.set(job.pb.name, (this.active.get(job.pb.name) ?? 0) + 1);
      for (const f of files) this.filesHeld.add(f);
      const p = this.execute(job)
        .catch((err: unknown) => this.log.error({ err, playbook: job.pb.name }, 'run crashed'))
        .finally(() => {
          this.active.set(job.pb.name, (this.active.get(job.pb.name) ?? 1) - 1);
          for (const f of files) this.filesHeld.delete(f);
          this.busy.delete(job.key);
          this.running.delete(p);
          this.pump();
        });
      this.running.add(p);
    }
  }

  private async commitRun(run: RunRecord, extra: JournalEntry[] = []): Promise<void> {
    // structuredClone: the journal entry must not change when the live record does.
    await this.store.commit([{ op: 'run', v: structuredClone(run) }, ...extra]);
  }

  /** The mode a playbook runs in now (its own, else automation.mode; dry_run turns enforce into dry-run). */
  modeOf(pb: Playbook): RunRecord['mode'] {
    const m = pb.mode ?? this.o.defaultMode ?? 'enforce';
    return this.o.dryRun && m === 'enforce' ? 'dry-run' : m;
  }

  private newRun(job: Job, strategy: Strategy, attempt: number): RunRecord {
    return {
      id: randomUUID(),
      episode: job.alert.episode,
      playbook: job.pb.name,
      strategy: strategy.name,
      attempt,
      mode: this.modeOf(job.pb),
      status: 'running',
      category: job.alert.category,
      severity: job.alert.severity,
      alertname: job.alert.labels.alertname ?? '',
      target: targetOf(job.pb, job.alert.labels),
      receivedAt: job.alert.receivedAt,
      startedAt: nowIso(),
      steps: [],
    };
  }

  /** The order to try pb's strategies in for this signature: learned, or as listed. */
  decide(pb: Playbook, signature: string, rng?: Rng | 'expected'): Decision {
    const view = { name: pb.name, learning: pb.learning && (this.o.learning?.enabled ?? true), strategies: pb.strategies };
    return chooseStrategies(this.store.mem.learning, view, signature, Date.now(), rng ?? this.o.learning?.rng ?? 'expected');
  }

  /** A strategy run ended verified or failed: durable evidence for the next choice. */
  private async learn(pb: Playbook, signature: string, run: RunRecord): Promise<void> {
    const now = Date.now();
    const success = run.status === 'succeeded';
    const recovery = (now - Date.parse(run.receivedAt)) / 1000;
    try {
      await this.store.commit([
        {
          op: 'outcome',
          v: {
            playbook: pb.name,
            signature,
            strategy: run.strategy,
            at: now,
            success,
            ...(success && Number.isFinite(recovery) ? { recoverySeconds: Math.max(0, recovery) } : {}),
            rolledBack: (run.rollback?.length ?? 0) > 0,
          },
        },
      ]);
      this.countOutcome(pb.name, run.strategy, success);
    } catch (err) {
      this.log.error({ err: errorMessage(err), playbook: pb.name }, 'could not record the outcome');
    }
  }

  private async execute(job: Job): Promise<void> {
    const { pb, alert } = job;
    const mode = this.modeOf(pb);
    const log = this.log.child({ playbook: pb.name, episode: alert.episode });
    const signature = signatureOf(alert.labels, pb.target);
    const decision = this.decide(pb, signature);
    const ordered = decision.indices.map((i) => pb.strategies[i] as Strategy);
    if (mode !== 'enforce') {
      await this.plan(job, mode, ordered, decision);
      return;
    }
    const strategies = pb.strategyPolicy === 'try_next' ? ordered : ordered.slice(0, 1);
    this.events.emit('healing', pb.name, alert.labels);
    if (this.o.beforeHealing) await this.o.beforeHealing(pb.name, alert.labels).catch((err: unknown) => log.error({ err: errorMessage(err) }, 'could not stop the tuning experiment on this target'));
    this.m.selected.inc({ playbook: pb.name, strategy: (strategies[0] as Strategy).name });
    if (decision.learned) log.info({ order: decision.order, reason: decision.reason }, 'strategy order learned');
    let succeeded = false;
    const tried: RunRecord[] = [];
    for (let i = 0; i < strategies.length && !succeeded; i++) {
      const strategy = strategies[i] as Strategy;
      const run = this.newRun(job, strategy, i + 1);
      run.choice = { order: decision.order, reason: decision.reason, learned: decision.learned };
      tried.push(run);
      const handle: Handle = { job, controller: new AbortController(), phase: 'acting', run };
      this.handles.set(run.id, handle);
      try {
        await this.commitRun(run);
        succeeded = await this.runStrategy(handle, strategy, log.child({ runId: run.id, strategy: strategy.name }));
      } finally {
        this.handles.delete(run.id);
      }
      if (run.status === 'succeeded' || run.status === 'failed') await this.learn(pb, signature, run);
      if (run.status === 'cancelled' || run.status === 'interrupted') break;
    }
    const now = Date.now();
    const entries: JournalEntry[] = [{ op: 'cooldown', k: job.key, until: now + pb.cooldownMs }];
    if (succeeded) {
      const fixed = tried[tried.length - 1] as RunRecord;
      this.m.recover.observe({ playbook: pb.name, strategy: fixed.strategy }, Math.max(0, (now - Date.parse(job.alert.receivedAt)) / 1000));
      if (this.store.mem.failures.has(job.key)) entries.push({ op: 'failures', k: job.key, v: [] });
      if (this.store.mem.suspensions.has(job.key)) entries.push({ op: 'suspension', k: job.key, v: null });
      await this.store.commit(entries).catch((err: unknown) => log.error({ err }, 'could not record cooldown'));
      return;
    }
    if (this.stopping) return;
    // Flap protection: K failures in the window suspend this playbook for this target, with backoff.
    const failures = [...(this.store.mem.failures.get(job.key) ?? []).filter((t) => t > now - pb.flap.windowMs), now];
    let suspended = false;
    if (failures.length >= pb.flap.failures) {
      const prev = this.store.mem.suspensions.get(job.key);
      const level = prev ? prev.level + 1 : 0;
      entries.push({ op: 'suspension', k: job.key, v: { until: suspensionFor(pb, level, now), level, reason: `${failures.length} failures within ${pb.flap.windowMs / 1000}s` } });
      entries.push({ op: 'failures', k: job.key, v: [] });
      suspended = true;
    } else {
      entries.push({ op: 'failures', k: job.key, v: failures });
    }
    await this.store.commit(entries).catch((err: unknown) => log.error({ err }, 'could not record failure'));
    if (suspended) log.error({ target: job.key }, 'playbook suspended for this target after repeated failures');
    await this.escalate(job, suspended, tried);
  }

  private async escalate(job: Job, suspended: boolean, tried: RunRecord[]): Promise<void> {
    if (this.paused) return;
    const episode = this.store.mem.episodes.get(job.alert.episode);
    const last = tried[tried.length - 1];
    if (this.o.escalator && last && episode?.status !== 'resolved') {
      await this.o.escalator.escalate({
        episode: job.alert.episode,
        playbook: job.pb.name,
        target: targetOf(job.pb, job.alert.labels),
        severity: job.alert.severity,
        reason: suspended ? 'suspended' : 'failed',
        summary: tried.map(describeRun).join('; '),
        runId: last.id,
      });
    }
    if (job.pb.onFailure.length === 0) return;
    const vars = templateVarsFor(job.alert, job.pb, { id: 'on_failure', strategy: suspended ? 'suspended' : 'failed', mode: 'enforce' });
    const controller = new AbortController();
    for (const step of job.pb.onFailure) {
      const rec = this.stepRecord(step);
      try {
        await this.executeStep(step, vars, rec, controller.signal);
      } catch (err) {
        this.log.error({ playbook: job.pb.name, step: step.name, err: errorMessage(err) }, 'on_failure step failed');
      }
    }
  }

  private stepRecord(step: Step): StepRecord {
    return { name: step.name, type: step.type, rendered: null, attempts: 0, outcome: 'pending' };
  }

  /** Dry-run / observe: the whole plan, every template rendered, recorded; nothing executes. */
  private async plan(job: Job, mode: RunRecord['mode'], ordered: Strategy[], decision: Decision): Promise<void> {
    const strategy = ordered[0] as Strategy;
    const run = this.newRun(job, strategy, 1);
    run.choice = { order: decision.order, reason: decision.reason, learned: decision.learned };
    const vars = templateVarsFor(job.alert, job.pb, { id: run.id, strategy: strategy.name, mode });
    for (const s of ordered) {
      for (const step of s.steps) {
        const rec = this.stepRecord(step);
        rec.name = `${s.name}/${step.name}`;
        rec.outcome = 'planned';
        try {
          rec.rendered = (ACTIONS.get(step.type) as { render: (a: unknown, v: TemplateVars) => unknown }).render(step.args, displayVars(vars));
        } catch (err) {
          rec.error = errorMessage(err);
        }
        run.steps.push(rec);
      }
    }
    run.status = 'planned';
    run.endedAt = nowIso();
    this.m.runs.inc({ playbook: job.pb.name, strategy: strategy.name, outcome: 'planned' });
    this.log.info({ playbook: job.pb.name, runId: run.id, mode, plan: run.steps.map((s) => ({ step: s.name, type: s.type, rendered: s.rendered, error: s.error })) }, 'run planned (nothing executed)');
    await this.commitRun(run);
    this.events.emit('run', structuredClone(run));
    // A planned run still cools down, so the plan is not re-logged for every repeat.
    await this.store.commit([{ op: 'cooldown', k: job.key, until: Date.now() + job.pb.cooldownMs }]);
  }

  /** One strategy: steps, verification, rollback. Returns whether the fix is verified. */
  private async runStrategy(h: Handle, strategy: Strategy, log: Logger): Promise<boolean> {
    const { run, job } = h;
    const vars = templateVarsFor(job.alert, job.pb, { id: run.id, strategy: strategy.name, mode: run.mode });
    const start = Date.now();
    const done: StepRecord[] = [];
    let failure: unknown = null;
    for (const step of strategy.steps) {
      if (this.paused) {
        failure = new Cancelled('paused');
        break;
      }
      const rec = this.stepRecord(step);
      run.steps.push(rec);
      if (!run.firstActionAt) {
        run.firstActionAt = nowIso();
        this.m.firstAction.observe(Math.max(0, (Date.parse(run.firstActionAt) - Date.parse(job.alert.receivedAt)) / 1000));
      }
      try {
        // The audit record (with the rendered step and undo) comes first: nothing runs that a
        // crash could leave unrecorded.
        await this.executeStep(step, vars, rec, h.controller.signal, () => this.commitRun(run));
        done.push(rec);
      } catch (err) {
        failure = h.controller.signal.aborted ? h.controller.signal.reason : err;
        break;
      } finally {
        await this.commitRun(run).catch((err: unknown) => log.error({ err }, 'could not record step'));
      }
    }

    let verified = false;
    if (failure === null) {
      h.phase = 'verifying';
      run.status = 'verifying';
      run.verification = { method: this.verifyMethod(job.pb), outcome: 'pending' };
      await this.commitRun(run).catch(() => undefined);
      const v = await this.verify(h, vars);
      run.verification = { ...run.verification, outcome: v.ok ? 'ok' : 'failed', detail: v.detail, at: nowIso() };
      verified = v.ok;
      if (!v.ok) failure = v.cancelled ?? new Error(`verification failed: ${v.detail}`);
    }

    if (failure !== null) {
      const why = failure instanceof Cancelled ? failure.why : null;
      run.status = why === 'shutdown' ? 'interrupted' : why ? 'cancelled' : 'failed';
      run.error = errorMessage(failure);
      // Roll back what this strategy changed, newest first — unless pausing, which means "act no more".
      if (why !== 'paused' && done.some((s) => s.undo)) {
        this.m.rollbacks.inc({ playbook: job.pb.name });
        run.rollback = await this.rollback(done, log);
      }
    } else {
      run.status = 'succeeded';
    }
    run.endedAt = nowIso();
    run.durationSeconds = (Date.now() - start) / 1000;
    this.m.runs.inc({ playbook: job.pb.name, strategy: strategy.name, outcome: run.status });
    this.m.duration.observe({ playbook: job.pb.name }, run.durationSeconds);
    await this.commitRun(run).catch((err: unknown) => log.error({ err }, 'could not record run'));
    this.events.emit('run', structuredClone(run));
    log[run.status === 'succeeded' ? 'info' : 'warn']({ status: run.status, error: run.error, seconds: run.durationSeconds }, 'run finished');
    return verified;
  }

  private verifyMethod(pb: Playbook): string {
    return [pb.verify.resolved ? 'resolved' : null, pb.verify.query ? 'query' : null].filter(Boolean).join('+');
  }

  private async verify(h: Handle, vars: TemplateVars): Promise<{ ok: boolean; detail: string; cancelled?: Cancelled }> {
    const { pb, alert } = h.job;
    const deadline = Date.now() + pb.verify.withinMs;
    if (pb.verify.resolved) {
      const resolved = await this.waitResolved(alert.episode, pb.verify.withinMs, h.controller.signal);
      if (h.controller.signal.aborted) return { ok: false, detail: 'cancelled', cancelled: h.controller.signal.reason as Cancelled };
      if (!resolved) return { ok: false, detail: `the alert did not resolve within ${pb.verify.withinMs / 1000}s` };
    }
    if (pb.verify.query) {
      // Every 5 s, or a tenth of the window when it is short.
      const poll = this.o.verifyPollMs ?? Math.min(5000, Math.max(500, pb.verify.withinMs / 10));
      let last = '';
      for (;;) {
        const rec = this.stepRecord(pb.verify.query);
        try {
          await this.executeStep({ ...pb.verify.query, retry: { ...pb.verify.query.retry, attempts: 1 } }, vars, rec, h.controller.signal);
          return { ok: true, detail: `${pb.verify.resolved ? 'alert resolved; ' : ''}${rec.output ?? 'query holds'}` };
        } catch (err) {
          if (h.controller.signal.aborted) return { ok: false, detail: 'cancelled', cancelled: h.controller.signal.reason as Cancelled };
          last = errorMessage(err);
        }
        if (Date.now() + poll > deadline) return { ok: false, detail: `query did not hold within ${pb.verify.withinMs / 1000}s: ${last}` };
        await sleep(poll, h.controller.signal).catch(() => undefined);
      }
    }
    return { ok: true, detail: 'the alert resolved' };
  }

  private waitResolved(episode: string, ms: number, signal: AbortSignal): Promise<boolean> {
    if (this.store.mem.episodes.get(episode)?.status === 'resolved') return Promise.resolve(true);
    // An 'abort' listener added to an already-aborted signal never fires: check first.
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const set = this.resolvedWaiters.get(episode) ?? new Set();
      this.resolvedWaiters.set(episode, set);
      const finish = (v: boolean) => {
        clearTimeout(timer);
        set.delete(onResolve);
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      };
      const onResolve = () => finish(true);
      const onAbort = () => finish(false);
      const timer = setTimeout(() => finish(false), ms);
      set.add(onResolve);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** One step with its retries and per-attempt timeout. Fills `rec`; throws on final failure. */
  private async executeStep(
    step: Step,
    vars: TemplateVars,
    rec: StepRecord,
    runSignal: AbortSignal,
    beforeRun?: () => Promise<void>,
  ): Promise<void> {
    const action = ACTIONS.get(step.type);
    if (!action) throw new Error(`unknown action ${step.type}`);
    rec.startedAt = nowIso();
    // Secrets ({{ env.X }}) are rendered only into what runs; the record shows their names, and
    // any output or error that echoes one has it replaced by its name.
    const secrets = envNames([step.args, step.undo?.args]);
    const scrub = (s: string) => scrubEnv(s, secrets);
    let real: unknown;
    try {
      real = action.render(step.args, vars);
      rec.rendered = action.render(step.args, displayVars(vars));
      if (step.undo) {
        const undoAction = ACTIONS.get(step.undo.type);
        const { env: _env, ...plain } = vars;
        rec.undo = { type: step.undo.type, name: step.undo.name, args: undoAction?.render(step.undo.args, displayVars(vars)), template: step.undo.args, vars: plain };
      }
    } catch (err) {
      rec.outcome = 'failed';
      rec.error = scrub(errorMessage(err));
      rec.endedAt = nowIso();
      throw err instanceof TemplateError ? new ActionError(`cannot render step "${step.name}": ${err.message}`, { retryable: false }) : err;
    }
    // An action that can tell its undo before it runs (config: the value there now) has it recorded
    // with the step, so a kill between the change and its result is still undone at restart.
    if (!rec.undo && action.undoBefore) {
      const before = await action.undoBefore(real).catch(() => undefined);
      if (before) rec.undo = { type: before.type, name: `undo ${step.name}`, args: before.args, before: true };
    }
    await beforeRun?.();
    for (let attempt = 1; ; attempt++) {
      rec.attempts = attempt;
      const timeout = new AbortController();
      const timer = setTimeout(() => timeout.abort(new ActionError(`step "${step.name}" timed out after ${step.timeoutMs / 1000}s`, { retryable: true })), step.timeoutMs);
      const t0 = performance.now();
      try {
        const res = await action.run(real, { signal: AbortSignal.any([runSignal, timeout.signal]), logger: this.log, prometheusUrl: this.o.prometheusUrl });
        this.m.action.observe({ type: step.type, outcome: 'ok' }, (performance.now() - t0) / 1000);
        rec.outcome = 'ok';
        rec.output = res.output === undefined ? undefined : scrub(res.output);
        rec.changed = res.changed ?? false;
        if (res.undo && (!rec.undo || rec.undo.before)) rec.undo = { type: res.undo.type, name: `undo ${step.name}`, args: res.undo.args };
        rec.endedAt = nowIso();
        return;
      } catch (caught) {
        this.m.action.observe({ type: step.type, outcome: 'failed' }, (performance.now() - t0) / 1000);
        const err = timeout.signal.aborted && !runSignal.aborted ? timeout.signal.reason : caught;
        rec.error = scrub(errorMessage(err));
        if (err instanceof ActionError && err.output) rec.output = scrub(err.output);
        const retryable = err instanceof ActionError ? err.retryable : false;
        if (runSignal.aborted || !retryable || attempt >= step.retry.attempts) {
          rec.outcome = 'failed';
          rec.endedAt = nowIso();
          throw runSignal.aborted ? runSignal.reason : err;
        }
        await sleep(backoffMs(step.retry, attempt), runSignal).catch(() => undefined);
        if (runSignal.aborted) {
          rec.outcome = 'failed';
          rec.endedAt = nowIso();
          throw runSignal.reason;
        }
      } finally {
        clearTimeout(timer);
      }
    }
  }

  /** Runs the undo of every completed step that has one, newest first. */
  private async rollback(done: StepRecord[], log: Logger): Promise<StepRecord[]> {
    const out: StepRecord[] = [];
    for (const s of [...done].reverse()) {
      if (!s.undo) continue;
      const rec: StepRecord = { name: s.undo.name, type: s.undo.type, rendered: s.undo.args, attempts: 0, outcome: 'pending', startedAt: nowIso() };
      out.push(rec);
      const action = ACTIONS.get(s.undo.type);
      const secrets = envNames(s.undo.template);
      const scrub = (t: string) => scrubEnv(t, secrets);
      for (let attempt = 1; attempt <= 3; attempt++) {
        rec.attempts = attempt;
        try {
          // A playbook's undo is rendered again here, with the real environment (after a crash too).
          const args = s.undo.template !== undefined && s.undo.vars && action ? action.render(s.undo.template, { ...s.undo.vars, env: process.env }) : s.undo.args;
          const res = await action?.run(args, { signal: AbortSignal.timeout(30_000), logger: this.log, prometheusUrl: this.o.prometheusUrl });
          rec.outcome = 'ok';
          rec.output = res?.output === undefined ? undefined : scrub(res.output);
          break;
        } catch (err) {
          rec.outcome = 'failed';
          rec.error = scrub(errorMessage(err));
          if (!(err instanceof ActionError && err.retryable)) break;
          await sleep(500 * attempt);
        }
      }
      rec.endedAt = nowIso();
      if (rec.outcome === 'failed') log.error({ step: s.name, err: rec.error }, 'undo failed');
    }
    return out;
  }

  /**
   * After a crash: runs still marked running/verifying were interrupted. Mark them, and run
   * the undo of every step that changed something, so nothing is left half-applied.
   */
  async recover(): Promise<number> {
    // Emergency mode survives a restart: it is the set of firing emergency episodes.
    for (const e of this.store.mem.episodes.values()) {
      if (e.status === 'firing' && this.isEmergency(e)) this.emergencies.set(e.key, e.alertname);
    }
    let n = 0;
    for (const run of [...this.store.mem.runs.values()]) {
      if (run.status !== 'running' && run.status !== 'verifying' && run.status !== 'pending') continue;
      n++;
      const r = structuredClone(run);
      r.status = 'interrupted';
      r.error = 'promedic stopped while this run was in flight';
      r.endedAt = nowIso();
      // Done steps, and a step cut off mid-way whose undo was known before it ran.
      const changed = r.steps.filter((s) => s.undo && (s.outcome === 'ok' || (s.outcome === 'pending' && s.undo.before)));
      if (changed.length && !this.paused) {
        r.rollback = await this.rollback(changed, this.log.child({ playbook: r.playbook, runId: r.id }));
        this.m.rollbacks.inc({ playbook: r.playbook });
      }
      this.m.runs.inc({ playbook: r.playbook, strategy: r.strategy, outcome: 'interrupted' });
      await this.commitRun(r);
      this.log.warn({ runId: r.id, playbook: r.playbook, undone: changed.length }, 'run was interrupted by a stop or crash; marked interrupted');
    }
    return n;
  }

  /** Stops admitting runs, cancels those in flight (rolling back), and waits for them. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    this.queue.length = 0;
    for (const h of this.handles.values()) h.controller.abort(new Cancelled('shutdown'));
    await Promise.allSettled([...this.running]);
  }

  /** Waits until no run is queued or in flight (tests and simulate). */
  async idle(): Promise<void> {
    while (this.running.size > 0 || this.queue.length > 0) await Promise.allSettled([...this.running]);
  }
}
