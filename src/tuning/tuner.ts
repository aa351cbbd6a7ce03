/**
 * Runs tuning playbooks: triggered by a matching alert or a schedule, it takes each knob in
 * turn, picks the next value (the best known one first, never a value rejected recently, only
 * within min/max), and runs one experiment at a time per target (src/tuning/experiment.ts):
 * kept values become the baseline and the next step follows (hill-climbing, up to max_steps);
 * the first knob with a kept change ends the run.
 *
 * Safety, as for healing: the global pause and an emergency stop every experiment and roll it
 * back; a healing run on the target does too, and no experiment starts while one is queued or
 * running there; a knob has its own cooldown after it changed; every phase of every experiment
 * is journaled before the knob is touched, so one in flight at a crash is rolled back at the
 * next start.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Alert } from '../alert.js';
import type { Bus } from '../events.js';
import { errorMessage } from '../errors.js';
import type { Monitor } from '../monitor/monitor.js';
import { firstMismatch } from '../rules/matcher.js';
import type { MetricDef, TuningKnob, TuningPlaybook } from '../rules/tuning.js';
import type { Store } from '../store/index.js';
import { type ExperimentRecord, type KnobIO, type MetricSource, runExperiment } from './experiment.js';
import { knobIO } from './io.js';
import { type KnobValue, allowed, nextValue } from './knob.js';
import { monitorSource, promqlSource } from './sources.js';
import { type StoredExperiment, knobKey, recentlyRejected, wrote } from './state.js';

export interface TunerOptions {
  store: Store;
  logger: Logger;
  registry: Registry;
  playbooks: () => TuningPlaybook[];
  prometheusUrl: string | null;
  monitor: Pick<Monitor, 'store' | 'want' | 'staleMs'> | null;
  /** Global dry-run: every tuning playbook only records what it would try. */
  dryRun: boolean;
  /** automation.mode: the mode of tuning playbooks that do not set their own (default enforce). */
  defaultMode?: 'enforce' | 'dry-run' | 'observe';
  /** Whether healing may act now, and whether it is working on a target. */
  engine: { readonly paused: boolean; readonly emergency: boolean; healingOn(concerns: (labels: Record<string, string>) => boolean): string | null };
  /** Where a finished experiment is announced (src/events.ts). */
  events?: Bus;
  /** Builds the knob's I/O (tests replace it); default: the action layer (src/tuning/io.ts). */
  io?: (pb: TuningPlaybook, knob: TuningKnob) => KnobIO;
}

type Trigger = StoredExperiment['trigger'];

interface Live {
  pb: TuningPlaybook;
  knob: string;
  controller: AbortController;
  rec: StoredExperiment | null;
  /** Settles when the run is over (its knob put back if it was aborted). */
  done: Promise<unknown>;
}

export interface RunResult {
  playbook: string;
  /** Why nothing ran, when nothing did. */
  skipped?: string;
  experiments: StoredExperiment[];
}

const now = () => Date.now();
const DECISIONS = ['kept', 'rolled_back', 'aborted', 'failed'] as const;
const SKIP_REASONS = ['busy', 'cooldown', 'healing', 'paused', 'emergency', 'no_candidate', 'no_source', 'read_failed', 'aborted', 'stopping'] as const;

export class Tuner {
  private readonly o: TunerOptions;
  private readonly log: Logger;
  /** target -> the experiment running on it (one per target, so one per knob). */
  private readonly live = new Map<string, Live>();
  private readonly running = new Set<Promise<unknown>>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Values read or written, per knob key (promedic_knob_value). */
  private readonly values = new Map<string, { target: string; knob: string; value: number }>();
  private stopping = false;
  /** Bumped when a knob's value or a running experiment changes (the gauges follow it). */
  private version = 0;
  private readonly m;

  constructor(o: TunerOptions) {
    this.o = o;
    this.log = o.logger.child({ component: 'tuning' });
    const r = [o.registry];
    const self = this;
    this.m = {
      experiments: new Counter({
        name: 'promedic_tuning_experiments_total',
        help: 'Tuning experiments that ended, by decision: kept, rolled_back (not better), aborted (a guard or an abort), failed (could not measure or restore).',
        labelNames: ['target', 'knob', 'decision'],
        registers: r,
      }),
      rollbacks: new Counter({ name: 'promedic_tuning_rollbacks_total', help: 'Knobs put back to their previous value (rejected or aborted experiments, and after a restart).', labelNames: ['target', 'knob'], registers: r }),
      skipped: new Counter({ name: 'promedic_tuning_skipped_total', help: 'Tuning triggers that started no experiment, by reason.', labelNames: ['playbook', 'reason'], registers: r }),
      sample: new Gauge({ name: 'promedic_tuning_sample', help: 'The last interval value an experiment measured of its objective (role="objective") and of each guard (role="guard").', labelNames: ['target', 'knob', 'role', 'metric'], registers: r }),
    };
    let valuesSeen = -1;
    let activeSeen = -1;
    let playbooksSeen: TuningPlaybook[] | null = null;
    new Gauge({
      name: 'promedic_knob_value',
      help: 'Value of each tuned knob, as promedic last read or wrote it (numeric knobs).',
      labelNames: ['target', 'knob'],
      registers: r,
      collect() {
        // Set again only after a change (see `version`): label sets hashed on every scrape were
        // garbage for nothing.
        if (valuesSeen === self.version) return;
        valuesSeen = self.version;
        this.reset();
        for (const v of self.values.values()) this.set({ target: v.target, knob: v.knob }, v.value);
      },
    });
    new Gauge({
      name: 'promedic_tuning_experiment_active',
      help: '1 while an experiment runs on the knob, 0 otherwise.',
      labelNames: ['target', 'knob'],
      registers: r,
      collect() {
        const playbooks = self.o.playbooks();
        if (activeSeen === self.version && playbooksSeen === playbooks) return;
        activeSeen = self.version;
        playbooksSeen = playbooks;
        this.reset();
        for (const pb of playbooks) for (const k of pb.knobs) this.set({ target: pb.target, knob: k.name }, 0);
        for (const l of self.live.values()) this.set({ target: l.pb.target, knob: l.knob }, 1);
      },
    });
    for (const st of o.store.mem.tuning.knobs.values()) if (typeof st.current === 'number') this.note(st.target, st.knob, st.current);
  }

  private note(target: string, knob: string, value: KnobValue | undefined): void {
    if (typeof value === 'number') {
      this.values.set(knobKey(target, knob), { target, knob, value });
      this.version++;
    }
  }

  /** Starts the schedules and keeps the monitor's series the playbooks read. Call again after a reload. */
  sync(): void {
    const pbs = this.o.playbooks();
    for (const pb of pbs) {
      if (this.o.monitor) for (const d of [pb.objective, ...pb.guards]) if (d.monitor) this.o.monitor.want(d.monitor);
      // Every series at 0 from the start, so increase() sees the first decision of each kind.
      for (const k of pb.knobs) {
        for (const decision of DECISIONS) this.m.experiments.inc({ target: pb.target, knob: k.name, decision }, 0);
        this.m.rollbacks.inc({ target: pb.target, knob: k.name }, 0);
      }
      for (const reason of SKIP_REASONS) this.m.skipped.inc({ playbook: pb.name, reason }, 0);
    }
    for (const [name, t] of this.timers) {
      clearInterval(t);
      this.timers.delete(name);
    }
    if (this.stopping) return;
    for (const pb of pbs) {
      if (pb.scheduleMs === null) continue;
      const t = setInterval(() => void this.trigger(pb.name, { kind: 'schedule' }), pb.scheduleMs);
      t.unref();
      this.timers.set(pb.name, t);
    }
  }

  /** A new firing alert: every tuning playbook it matches is triggered. */
  onFiring(alert: Alert): void {
    if (this.stopping) return;
    for (const pb of this.o.playbooks()) {
      if (pb.matchers.length === 0 || firstMismatch(pb.matchers, alert.labels)) continue;
      void this.trigger(pb.name, { kind: 'alert', alertname: alert.labels.alertname ?? '', episode: alert.episode });
    }
  }

  /**
   * A healing run is about to act: the experiment on its target (if any) stops and rolls back.
   * Resolves once the knob is back, so the healing acts on the app as it was.
   */
  async onHealing(playbook: string, labels: Record<string, string>): Promise<void> {
    const waiting: Array<Promise<unknown>> = [];
    for (const l of this.live.values()) {
      if (firstMismatch(l.pb.targetMatchers, labels)) continue;
      l.controller.abort(`a healing run started on ${l.pb.target} (${playbook})`);
      waiting.push(l.done);
    }
    await Promise.allSettled(waiting);
  }

  /** Stops every experiment (emergency, pause, shutdown); each rolls back. */
  abortAll(why: string): void {
    for (const l of this.live.values()) l.controller.abort(why);
  }

  private skip(pb: TuningPlaybook, reason: (typeof SKIP_REASONS)[number], detail: string): RunResult {
    this.m.skipped.inc({ playbook: pb.name, reason });
    this.log.info({ playbook: pb.name, reason, detail }, 'tuning not started');
    return { playbook: pb.name, skipped: `${reason}: ${detail}`, experiments: [] };
  }

  private source(d: MetricDef): MetricSource {
    if (this.o.prometheusUrl && d.query) return promqlSource(this.o.prometheusUrl, d.query, d.absent);
    if (d.monitor && this.o.monitor) return monitorSource(this.o.monitor.store, d.monitor, this.o.monitor.staleMs, `${d.name} (monitor expression)`, d.absent);
    throw new Error(`${d.name}: ${d.query ? 'query needs prometheus.url, and there is no monitor expression' : 'needs a monitor expression or a query'}`);
  }

  /** Runs the named tuning playbook now (its trigger checks first). Never throws. */
  trigger(name: string, trigger: Trigger): Promise<RunResult> {
    const p = this.runPlaybook(name, trigger).catch((err: unknown): RunResult => {
      this.log.error({ playbook: name, err: errorMessage(err) }, 'tuning run crashed');
      return { playbook: name, skipped: `error: ${errorMessage(err)}`, experiments: [] };
    });
    this.running.add(p);
    void p.finally(() => this.running.delete(p));
    return p;
  }

  private async runPlaybook(name: string, trigger: Trigger): Promise<RunResult> {
    const pb = this.o.playbooks().find((p) => p.name === name);
    if (!pb) return { playbook: name, skipped: `unknown: no tuning playbook "${name}"`, experiments: [] };
    if (this.stopping) return this.skip(pb, 'stopping', 'promedic is stopping');
    if (this.o.engine.paused) return this.skip(pb, 'paused', 'automation is paused');
    if (this.o.engine.emergency) return this.skip(pb, 'emergency', 'promedic is in emergency mode');
    const busy = this.live.get(pb.target);
    if (busy) return this.skip(pb, 'busy', `an experiment on ${pb.target} is running (${busy.pb.name}, ${busy.knob})`);
    const healing = this.o.engine.healingOn((labels) => !firstMismatch(pb.targetMatchers, labels));
    if (healing) return this.skip(pb, 'healing', `${healing} is healing ${pb.target}`);
    let objective: MetricSource;
    let guards: Array<{ guard: TuningPlaybook['guards'][number]; source: MetricSource }>;
    try {
      objective = this.source(pb.objective);
      guards = pb.guards.map((g) => ({ guard: g, source: this.source(g) }));
    } catch (err) {
      return this.skip(pb, 'no_source', errorMessage(err));
    }
    // Claim the target before the first await: one experiment per target.
    let finished: () => void = () => undefined;
    const live: Live = { pb, knob: pb.knobs[0]?.name ?? '', controller: new AbortController(), rec: null, done: new Promise<void>((r) => (finished = r)) };
    this.live.set(pb.target, live);
    this.version++;
    const out: StoredExperiment[] = [];
    const reasons: string[] = [];
    try {
      for (const knob of pb.knobs) {
        live.knob = knob.name;
        this.version++;
        const r = await this.tuneKnob(pb, knob, trigger, live, objective, guards, out);
        if (r) reasons.push(`${knob.name}: ${r}`);
        if (out.some((e) => e.outcome === 'kept') || live.controller.signal.aborted || out.some((e) => e.outcome === 'failed' || e.outcome === 'planned')) break;
      }
    } finally {
      this.live.delete(pb.target);
      this.version++;
      finished();
    }
    if (out.length === 0) {
      const reason = live.controller.signal.aborted ? 'aborted' : reasons.every((r) => r.includes('in cooldown')) ? 'cooldown' : reasons.some((r) => r.includes('cannot read')) ? 'read_failed' : 'no_candidate';
      return this.skip(pb, reason, reasons.join('; ') || String(live.controller.signal.reason));
    }
    return { playbook: pb.name, experiments: out };
  }

  /** Hill-climbs one knob. Returns why no experiment ran on it, or null. */
  private async tuneKnob(
    pb: TuningPlaybook,
    knob: TuningKnob,
    trigger: Trigger,
    live: Live,
    objective: MetricSource,
    guards: Array<{ guard: TuningPlaybook['guards'][number]; source: MetricSource }>,
    out: StoredExperiment[],
  ): Promise<string | null> {
    const mem = this.o.store.mem.tuning;
    const st = mem.knobs.get(knobKey(pb.target, knob.name));
    const t = now();
    if (st?.lastChangeAt !== undefined && t < st.lastChangeAt + pb.cooldownMs) {
      return `in cooldown until ${new Date(st.lastChangeAt + pb.cooldownMs).toISOString()}`;
    }
    const io = this.o.io ? this.o.io(pb, knob) : knobIO(pb.name, pb.target, knob, this.log);
    let current: KnobValue;
    try {
      current = await io.read(AbortSignal.any([live.controller.signal, AbortSignal.timeout(30_000)]));
    } catch (err) {
      return `cannot read it: ${errorMessage(err)}`;
    }
    this.note(pb.target, knob.name, current);
    const avoid = recentlyRejected(st, t - pb.forgetRejectedMs);
    const own = pb.mode ?? this.o.defaultMode ?? 'enforce';
    const mode = this.o.dryRun && own === 'enforce' ? 'dry-run' : own;
    for (let step = 1; step <= pb.experiment.maxSteps; step++) {
      if (live.controller.signal.aborted) return null;
      // The best known value first (it was kept before, and the knob has moved off it since).
      const best = step === 1 ? this.o.store.mem.tuning.knobs.get(knobKey(pb.target, knob.name))?.best : undefined;
      const candidate =
        best && best.value !== current && allowed(knob, best.value) && !avoid.has(best.value) ? best.value : nextValue(knob, current, knob.direction, avoid);
      if (candidate === null) return step === 1 ? `no value left to try from ${JSON.stringify(current)} going ${knob.direction} (bounds ${knob.min ?? '-'}..${knob.max ?? '-'}, ${avoid.size} rejected recently)` : null;
      const rec = await this.experiment(pb, knob, io, trigger, step, mode, current, candidate, live, objective, guards);
      out.push(rec);
      if (rec.outcome !== 'kept') return null;
      current = rec.to;
    }
    return null;
  }

  private async experiment(
    pb: TuningPlaybook,
    knob: TuningKnob,
    io: KnobIO,
    trigger: Trigger,
    step: number,
    mode: StoredExperiment['mode'],
    current: KnobValue,
    candidate: KnobValue,
    live: Live,
    objective: MetricSource,
    guards: Array<{ guard: TuningPlaybook['guards'][number]; source: MetricSource }>,
  ): Promise<StoredExperiment> {
    const id = randomUUID();
    const meta = { id, playbook: pb.name, step, mode, trigger };
    const log = this.log.child({ playbook: pb.name, target: pb.target, knob: knob.name, experiment: id });
    const stored = (r: ExperimentRecord): StoredExperiment => ({ ...structuredClone(r), ...meta });
    if (mode !== 'enforce') {
      const rec: StoredExperiment = {
        ...meta,
        target: pb.target,
        knob: knob.name,
        from: current,
        to: candidate,
        phase: 'done',
        startedAt: new Date().toISOString(),
        endedAt: new Date().toISOString(),
        outcome: 'planned',
        reason: `${mode}: would try ${knob.name} ${JSON.stringify(current)} -> ${JSON.stringify(candidate)}, nothing changed`,
        objective: { name: pb.objective.name, baseline: [], candidate: [] },
        guards: pb.guards.map((g) => ({ name: g.name, baseline: [], candidate: [] })),
        readBack: {},
      };
      await this.o.store.commit([{ op: 'experiment', v: rec }]);
      log.info({ from: current, to: candidate, mode }, 'tuning experiment planned (nothing changed)');
      return rec;
    }
    log.info({ from: current, to: candidate, step, objective: pb.objective.name }, 'tuning experiment starting');
    const rec = await runExperiment({
      target: pb.target,
      knob,
      io,
      candidate,
      objective: { name: pb.objective.name, source: objective },
      guards,
      rule: { direction: pb.objective.direction, minSamples: pb.experiment.minSamples, alpha: pb.experiment.alpha, minImprovement: pb.experiment.minImprovement },
      windowMs: pb.experiment.windowMs,
      intervalMs: pb.experiment.intervalMs,
      settleMs: pb.experiment.settleMs,
      signal: live.controller.signal,
      onPhase: async (r) => {
        live.rec = { ...r, ...meta } as StoredExperiment;
        if (r.phase === 'applying') this.note(pb.target, knob.name, r.to);
        if (r.phase === 'done' || r.phase === 'rolling_back') this.note(pb.target, knob.name, r.readBack.restored ?? (r.outcome === 'kept' ? r.to : r.from ?? undefined));
        // Durable before the knob is written (applying) and at every other phase.
        await this.o.store.commit([{ op: 'experiment', v: stored(r) }]);
      },
      onSample: (role, name, value) => {
        if (Number.isFinite(value)) this.m.sample.set({ target: pb.target, knob: knob.name, role, metric: name }, value);
      },
    });
    if (rec.readBack.restored !== undefined) this.m.rollbacks.inc({ target: pb.target, knob: knob.name });
    this.m.experiments.inc({ target: pb.target, knob: knob.name, decision: rec.outcome ?? 'failed' });
    this.o.events?.emit('experiment', stored(rec));
    const level = rec.outcome === 'kept' ? 'info' : rec.outcome === 'failed' ? 'error' : 'warn';
    log[level]({ outcome: rec.outcome, reason: rec.reason, from: rec.from, to: rec.to, decision: rec.decision }, 'tuning experiment finished');
    return stored(rec);
  }

  /**
   * After a crash: experiments that never reached `done` may have left a knob changed. Put the
   * recorded old value back, read it back, and record the experiment as aborted.
   */
  async recover(): Promise<number> {
    let n = 0;
    for (const e of [...this.o.store.mem.tuning.experiments.values()]) {
      if (e.phase === 'done') continue;
      n++;
      const r: StoredExperiment = structuredClone(e);
      r.outcome = 'aborted';
      r.cause = 'restart';
      r.endedAt = new Date().toISOString();
      const before = `promedic stopped during the experiment (phase ${e.phase})`;
      if (!wrote(e) || e.from === null) {
        r.reason = `${before}; nothing was changed`;
      } else {
        const pb = this.o.playbooks().find((p) => p.name === e.playbook);
        const knob = pb?.knobs.find((k) => k.name === e.knob);
        if (!pb || !knob) {
          r.outcome = 'failed';
          r.reason = `${before}; cannot restore ${e.knob} to ${JSON.stringify(e.from)}: the playbook ${e.playbook} or its knob is no longer loaded`;
        } else {
          const io = this.o.io ? this.o.io(pb, knob) : knobIO(pb.name, pb.target, knob, this.log);
          const signal = AbortSignal.timeout(30_000);
          try {
            await io.write(e.from, signal);
            r.readBack.restored = await io.read(signal);
            if (r.readBack.restored === e.from) r.reason = `${before}; ${e.knob} restored to ${JSON.stringify(e.from)} (read back)`;
            else {
              r.outcome = 'failed';
              r.reason = `${before}; ROLLBACK NOT CONFIRMED: ${e.knob} reads ${JSON.stringify(r.readBack.restored)}, expected ${JSON.stringify(e.from)}`;
            }
            this.note(pb.target, knob.name, r.readBack.restored);
            this.m.rollbacks.inc({ target: e.target, knob: e.knob });
          } catch (err) {
            r.outcome = 'failed';
            r.reason = `${before}; ROLLBACK FAILED: ${errorMessage(err)}`;
          }
        }
      }
      r.phase = 'done';
      this.m.experiments.inc({ target: r.target, knob: r.knob, decision: r.outcome });
      await this.o.store.commit([{ op: 'experiment', v: r }]);
      this.log[r.outcome === 'failed' ? 'error' : 'warn']({ experiment: r.id, playbook: r.playbook, knob: r.knob, reason: r.reason }, 'tuning experiment was interrupted by a stop or crash');
    }
    return n;
  }

  /** Experiments running now, with their live samples. */
  runningNow(): StoredExperiment[] {
    return [...this.live.values()].flatMap((l) => (l.rec ? [structuredClone(l.rec)] : []));
  }

  /** Stops the schedules, aborts every experiment (each rolls back) and waits for them. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers.values()) clearInterval(t);
    this.timers.clear();
    this.abortAll('promedic is stopping');
    await Promise.allSettled([...this.running]);
  }

  /** Waits until no tuning run is in progress (tests). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }
}
