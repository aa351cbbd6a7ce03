/**
 * One tuning experiment on one knob: measure the objective (and the guards) over a baseline
 * window, apply the candidate value and read it back, let it settle, measure the same window
 * again, then keep the value or put the exact old one back and read it back. A guard broken in
 * any interval, or an abort from outside (a healing run on the target, an emergency, the pause),
 * rolls back at once. Everything it saw and did is in the returned record.
 *
 * Knob I/O and metric sources are interfaces: an app's admin endpoint (httpKnob below), a file
 * key or a command; PromQL or the embedded monitor's series.
 */
import { send } from '../actions/http.js';
import { errorMessage } from '../errors.js';
import { type Decision, type DecisionRule, type Guard, decide, guardBreach } from './decide.js';
import type { KnobSpec, KnobValue } from './knob.js';
import { allowed } from './knob.js';
import { median } from './stats.js';

export interface KnobIO {
  read(signal: AbortSignal): Promise<KnobValue>;
  write(value: KnobValue, signal: AbortSignal): Promise<void>;
}

/** One interval's value of a metric (p99 latency over the interval, error ratio, ...). */
export type MetricSource = (signal: AbortSignal) => Promise<number>;

export interface ExperimentSpec {
  target: string;
  knob: KnobSpec;
  io: KnobIO;
  candidate: KnobValue;
  objective: { name: string; source: MetricSource };
  guards: Array<{ guard: Guard; source: MetricSource }>;
  rule: DecisionRule;
  /** Length of each measurement window, and of one interval (one sample) in it. */
  windowMs: number;
  intervalMs: number;
  /** Wait after the change before measuring it. */
  settleMs: number;
  /** Aborts the experiment (healing run on the target, emergency, pause, shutdown): it rolls back. */
  signal?: AbortSignal;
  /**
   * Called on every phase change and awaited: the caller makes the record durable here, so
   * the old value is on disk before the knob is written.
   */
  onPhase?: (r: ExperimentRecord) => void | Promise<void>;
  /** Called with every interval's values, for live metrics. */
  onSample?: (role: 'objective' | 'guard', name: string, value: number) => void;
}

export type Phase = 'baseline' | 'applying' | 'settling' | 'measuring' | 'rolling_back' | 'done';

export interface ExperimentRecord {
  target: string;
  knob: string;
  from: KnobValue | null;
  to: KnobValue;
  phase: Phase;
  startedAt: string;
  endedAt?: string;
  /** kept: the candidate stays; rolled_back: rejected or undecided, old value restored; aborted: a guard or an abort stopped it. */
  outcome?: 'kept' | 'rolled_back' | 'aborted' | 'failed' | 'planned';
  reason?: string;
  objective: { name: string; baseline: number[]; candidate: number[] };
  guards: Array<{ name: string; baseline: number[]; candidate: number[] }>;
  decision?: Omit<Decision, 'test'>;
  /** Why an aborted experiment stopped: a guard it broke, an abort from outside, or an error. */
  cause?: 'guard' | 'signal' | 'error' | 'restart';
  /** The knob read back after the change and after the rollback. */
  readBack: { applied?: KnobValue; restored?: KnobValue };
}

class Aborted extends Error {}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Aborted(String(signal.reason ?? 'aborted')));
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new Aborted(String(signal.reason ?? 'aborted')));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export async function runExperiment(spec: ExperimentSpec): Promise<ExperimentRecord> {
  const signal = spec.signal ?? new AbortController().signal;
  const rec: ExperimentRecord = {
    target: spec.target,
    knob: spec.knob.name,
    from: null,
    to: spec.candidate,
    phase: 'baseline',
    startedAt: new Date().toISOString(),
    objective: { name: spec.objective.name, baseline: [], candidate: [] },
    guards: spec.guards.map((g) => ({ name: g.guard.name, baseline: [], candidate: [] })),
    readBack: {},
  };
  const phase = async (p: Phase) => {
    rec.phase = p;
    await spec.onPhase?.(rec);
  };
  const finish = async (outcome: NonNullable<ExperimentRecord['outcome']>, reason: string) => {
    rec.outcome = outcome;
    rec.reason = reason;
    rec.endedAt = new Date().toISOString();
    await phase('done');
    return rec;
  };
  const sample = async (role: 'objective' | 'guard', name: string, source: MetricSource, into: number[]): Promise<number> => {
    const v = await source(signal);
    into.push(v);
    spec.onSample?.(role, name, v);
    return v;
  };
  if (!allowed(spec.knob, spec.candidate)) return finish('failed', `candidate ${JSON.stringify(spec.candidate)} is not an allowed value of ${spec.knob.name}`);
  const intervals = Math.max(1, Math.round(spec.windowMs / spec.intervalMs));
  // The rollback never listens to the abort: it must run to the end (with its own timeout).
  const restore = async (why: string, outcome: 'rolled_back' | 'aborted', cause?: ExperimentRecord['cause']): Promise<ExperimentRecord> => {
    if (cause) rec.cause = cause;
    await phase('rolling_back');
    const own = AbortSignal.timeout(30_000);
    try {
      await spec.io.write(rec.from as KnobValue, own);
      rec.readBack.restored = await spec.io.read(own);
    } catch (err) {
      return finish('failed', `${why}; ROLLBACK FAILED: ${errorMessage(err)}`);
    }
    if (rec.readBack.restored !== rec.from) {
      return finish('failed', `${why}; ROLLBACK NOT CONFIRMED: ${spec.knob.name} reads ${JSON.stringify(rec.readBack.restored)}, expected ${JSON.stringify(rec.from)}`);
    }
    return finish(outcome, `${why}; ${spec.knob.name} restored to ${JSON.stringify(rec.from)} (read back)`);
  };

  try {
    rec.from = await spec.io.read(signal);
    if (rec.from === spec.candidate) return finish('failed', `${spec.knob.name} already is ${JSON.stringify(spec.candidate)}`);
    await phase('baseline');
    for (let i = 0; i < intervals; i++) {
      await sleep(spec.intervalMs, signal);
      await sample('objective', spec.objective.name, spec.objective.source, rec.objective.baseline);
      for (const [k, g] of spec.guards.entries()) await sample('guard', g.guard.name, g.source, (rec.guards[k] as { baseline: number[] }).baseline);
    }
  } catch (err) {
    // Nothing was changed yet.
    if (err instanceof Aborted || signal.aborted) rec.cause = 'signal';
    return finish(rec.cause === 'signal' ? 'aborted' : 'failed', rec.cause === 'signal' ? `aborted before the change: ${err instanceof Aborted ? err.message : String(signal.reason)}` : `baseline failed: ${errorMessage(err)}`);
  }

  try {
    await phase('applying');
    await spec.io.write(spec.candidate, signal);
    rec.readBack.applied = await spec.io.read(signal);
    if (rec.readBack.applied !== spec.candidate) {
      return await restore(`the change did not take: ${spec.knob.name} reads ${JSON.stringify(rec.readBack.applied)} after writing ${JSON.stringify(spec.candidate)}`, 'rolled_back');
    }
    await phase('settling');
    await sleep(spec.settleMs, signal);
    await phase('measuring');
    const guardBase = rec.guards.map((g) => median(g.baseline));
    for (let i = 0; i < intervals; i++) {
      await sleep(spec.intervalMs, signal);
      await sample('objective', spec.objective.name, spec.objective.source, rec.objective.candidate);
      for (const [k, g] of spec.guards.entries()) {
        const v = await sample('guard', g.guard.name, g.source, (rec.guards[k] as { candidate: number[] }).candidate);
        const breach = guardBreach(g.guard, v, guardBase[k]);
        if (breach) return await restore(`guard broken in interval ${i + 1}: ${breach}`, 'aborted', 'guard');
      }
    }
  } catch (err) {
    if (err instanceof Aborted || signal.aborted) return await restore(`aborted: ${err instanceof Aborted ? err.message : String(signal.reason)}`, 'aborted', 'signal');
    return await restore(`experiment failed: ${errorMessage(err)}`, 'aborted', 'error');
  }

  const d = decide(rec.objective.baseline, rec.objective.candidate, spec.rule);
  const { test: _test, ...decision } = d;
  rec.decision = decision;
  if (d.decision === 'keep') return finish('kept', `${spec.objective.name} ${d.reason}; ${spec.knob.name} stays ${JSON.stringify(spec.candidate)}`);
  return await restore(`${spec.objective.name} ${d.reason}`, 'rolled_back');
}

/**
 * A knob behind an app's admin endpoint: GET `url` returns a JSON object holding `key`; PUT
 * `url` with `{key: value}` changes it. Sent through the action layer's HTTP client.
 */
export function httpKnob(url: string, key: string, headers: Record<string, string> = {}): KnobIO {
  return {
    async read(signal) {
      const { text } = await send({ method: 'GET', url, headers, expect: [] }, signal);
      const v = (JSON.parse(text) as Record<string, unknown>)[key];
      if (typeof v !== 'number' && typeof v !== 'string') throw new Error(`GET ${url}: "${key}" is ${JSON.stringify(v)}, not a number or string`);
      return v;
    },
    async write(value, signal) {
      await send({ method: 'PUT', url, headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ [key]: value }), expect: [] }, signal);
    },
  };
}
