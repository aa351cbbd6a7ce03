/**
 * What tuning remembers, per knob of a target: the value it found, the values it kept (with
 * the measured effect), the values it rejected and when, and the last change (the knob's
 * cooldown). Changed only by recordExperiment, from the experiment records the store journals,
 * so replaying the journal rebuilds it exactly. Pure: no I/O, no clock.
 */
import type { ExperimentRecord } from './experiment.js';
import type { KnobValue } from './knob.js';

/** An experiment as the store keeps it: the runner's record plus who ran it. */
export interface StoredExperiment extends ExperimentRecord {
  id: string;
  playbook: string;
  /** 1 for the first step of a hill-climb, 2 for the next, ... */
  step: number;
  mode: 'enforce' | 'dry-run' | 'observe';
  /** What started it: an alert (its name and episode) or the schedule. */
  trigger:
    | { kind: 'alert'; alertname: string; episode: string }
    | { kind: 'schedule' }
    | { kind: 'manual' }
    /** A healing playbook's signature turned chronic and names this one in on_chronic. */
    | { kind: 'chronic'; playbook: string; signature: string };
}

export interface KeptValue {
  value: KnobValue;
  from: KnobValue;
  at: number;
  objective: string;
  baselineMedian: number;
  candidateMedian: number;
  relativeChange: number;
  p: number | null;
  experiment: string;
}

export interface KnobState {
  target: string;
  knob: string;
  /** The value before promedic first changed it. */
  original?: KnobValue;
  /** The value as last read back. */
  current?: KnobValue;
  /** The value the last experiment measured against (the knob's accepted value). */
  baseline?: KnobValue;
  /** The best known value: the last one kept (each kept value beat the one before it). */
  best?: KeptValue;
  /** Kept values, newest last (bounded). */
  kept: KeptValue[];
  /** JSON of a rejected value -> when it was rejected (ms). */
  rejected: Record<string, number>;
  /** When the knob was last changed by an experiment (ms): its cooldown runs from here. */
  lastChangeAt?: number;
  experiments: number;
}

export interface TuningState {
  knobs: Map<string, KnobState>;
  /** Experiments in start order, bounded; running ones are never dropped. */
  experiments: Map<string, StoredExperiment>;
}

export interface TuningStateJSON {
  knobs: KnobState[];
  experiments: StoredExperiment[];
}

const MAX_KEPT = 20;
const MAX_EXPERIMENTS = 500;

export function knobKey(target: string, knob: string): string {
  return `${target}\u0000${knob}`;
}

export function createTuningState(): TuningState {
  return { knobs: new Map(), experiments: new Map() };
}

function knobState(s: TuningState, target: string, knob: string): KnobState {
  const k = knobKey(target, knob);
  let st = s.knobs.get(k);
  if (!st) {
    st = { target, knob, kept: [], rejected: {}, experiments: 0 };
    s.knobs.set(k, st);
  }
  return st;
}

/** Whether the runner got as far as writing the candidate (so the knob may have changed). */
export function wrote(e: ExperimentRecord): boolean {
  return e.readBack.applied !== undefined || e.phase === 'applying' || e.phase === 'settling' || e.phase === 'measuring' || e.phase === 'rolling_back' || e.readBack.restored !== undefined;
}

/** Applies one experiment record (any phase). Only a finished one changes the knob's memory. */
export function recordExperiment(s: TuningState, e: StoredExperiment): void {
  const prev = s.experiments.get(e.id);
  s.experiments.set(e.id, e);
  if (!prev) {
    if (s.experiments.size > MAX_EXPERIMENTS) {
      for (const [id, old] of s.experiments) {
        if (s.experiments.size <= MAX_EXPERIMENTS) break;
        if (old.phase === 'done') s.experiments.delete(id);
      }
    }
  }
  const st = knobState(s, e.target, e.knob);
  if (!prev) st.experiments++;
  if (e.from !== null && st.original === undefined && e.mode === 'enforce') st.original = e.from;
  if (e.phase !== 'done' || prev?.phase === 'done' || e.mode !== 'enforce') return;
  const at = Date.parse(e.endedAt ?? e.startedAt);
  if (wrote(e)) st.lastChangeAt = at;
  switch (e.outcome) {
    case 'kept': {
      const d = e.decision;
      const kept: KeptValue = {
        value: e.to,
        from: e.from as KnobValue,
        at,
        objective: e.objective.name,
        baselineMedian: d?.baselineMedian ?? Number.NaN,
        candidateMedian: d?.candidateMedian ?? Number.NaN,
        relativeChange: d?.relativeChange ?? Number.NaN,
        p: d?.p ?? null,
        experiment: e.id,
      };
      st.kept = [...st.kept, kept].slice(-MAX_KEPT);
      st.best = kept;
      st.current = e.to;
      st.baseline = e.to;
      delete st.rejected[JSON.stringify(e.to)];
      break;
    }
    case 'rolled_back':
    case 'aborted':
      if (e.from !== null) {
        st.current = e.readBack.restored ?? e.from;
        st.baseline = e.from;
      }
      // A value measured not better, or that broke a guard, is not tried again soon. An abort
      // from outside (a healing run, the pause) says nothing about the value.
      if (e.outcome === 'rolled_back' && e.decision !== undefined) st.rejected[JSON.stringify(e.to)] = at;
      if (e.outcome === 'aborted' && e.cause === 'guard') st.rejected[JSON.stringify(e.to)] = at;
      break;
    case 'failed':
      if (e.readBack.restored !== undefined) st.current = e.readBack.restored;
      else if (e.from !== null && !wrote(e)) st.current = e.from;
      break;
  }
}

/** Values rejected since `since` (ms): the next experiment skips them. */
export function recentlyRejected(st: KnobState | undefined, since: number): Set<KnobValue> {
  const out = new Set<KnobValue>();
  for (const [json, at] of Object.entries(st?.rejected ?? {})) if (at >= since) out.add(JSON.parse(json) as KnobValue);
  return out;
}

export function tuningToJSON(s: TuningState): TuningStateJSON {
  return { knobs: [...s.knobs.values()], experiments: [...s.experiments.values()] };
}

export function tuningFromJSON(j: TuningStateJSON): TuningState {
  if (!j || !Array.isArray(j.knobs) || !Array.isArray(j.experiments)) throw new Error('tuning: expected {knobs: [], experiments: []}');
  const s = createTuningState();
  for (const k of j.knobs) s.knobs.set(knobKey(k.target, k.knob), { ...k, kept: k.kept ?? [], rejected: k.rejected ?? {} });
  for (const e of j.experiments) s.experiments.set(e.id, e);
  return s;
}
