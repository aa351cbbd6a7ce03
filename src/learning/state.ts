/**
 * The learning state: aggregates per (playbook, signature), never raw history. Each entry holds,
 * per strategy, recency-weighted success and failure counts (decayed lazily from the time they
 * were last updated), lifetime counts, rollbacks and the newest recovery times; and the newest
 * firing times for recurrence. Entries live in one Map in least-recently-seen order, so the
 * cap is enforced in O(1) per update.
 */
import { type LearningOptions, type ResolvedOptions, decayFactor, resolveOptions } from './options.js';

export interface StrategyStats {
  /** Time (ms) the weighted counts are as of. */
  at: number;
  /** Recency-weighted verified successes and failures, as of `at`. */
  weightedSuccesses: number;
  weightedFailures: number;
  /** Lifetime counts. */
  successes: number;
  failures: number;
  /** Runs after which a rollback ran. */
  rollbacks: number;
  /** Times to recover (s) of the newest successes, oldest first; at most `recoverySamples`. */
  recoveries: number[];
}

export interface Entry {
  playbook: string;
  signature: string;
  /** Last time (ms) a firing or an outcome was recorded. */
  seen: number;
  strategies: Map<string, StrategyStats>;
  /** The newest firing times (ms), ascending; at most `chronicOccurrences`. */
  firings: number[];
  /** When the signature became chronic (ms); null when it is not. */
  chronicSince: number | null;
}

export interface ChronicCleared {
  playbook: string;
  signature: string;
  at: number;
}

export interface LearningState {
  readonly options: ResolvedOptions;
  /** Key: entryKey(playbook, signature). Iteration order: least recently seen first. */
  readonly entries: Map<string, Entry>;
  /** Keys of chronic entries (derived from the entries; not serialised). */
  readonly chronic: Set<string>;
  /** Chronic signatures forgotten by the cap, reported as cleared by the next sweep. */
  readonly pendingClears: ChronicCleared[];
  /** Entries forgotten because of the cap, since the state was created. */
  evicted: number;
}

/** One verified run of one strategy. */
export interface Outcome {
  playbook: string;
  signature: string;
  strategy: string;
  /** When the outcome was known (ms since the epoch): the fix verified, or the run failed. */
  at: number;
  /** The fix was verified. */
  success: boolean;
  /** Alert received to fix verified, seconds (kept to the ms); successes only (ignored on failures). */
  recoverySeconds?: number;
  /** A rollback ran after this run. */
  rolledBack?: boolean;
}

export function createLearningState(options: LearningOptions = {}): LearningState {
  return { options: resolveOptions(options), entries: new Map(), chronic: new Set(), pendingClears: [], evicted: 0 };
}

/** Unambiguous for any playbook name and signature. */
export function entryKey(playbook: string, signature: string): string {
  return `${playbook.length}:${playbook}|${signature}`;
}

/**
 * The entry for (playbook, signature), created if new, moved to the most-recently-seen end.
 * Over the cap, the least recently seen entries are forgotten.
 */
export function touchEntry(state: LearningState, playbook: string, signature: string, at: number): Entry {
  const key = entryKey(playbook, signature);
  let e = state.entries.get(key);
  if (e) {
    state.entries.delete(key);
    if (at > e.seen) e.seen = at;
  } else {
    e = { playbook, signature, seen: at, strategies: new Map(), firings: [], chronicSince: null };
  }
  state.entries.set(key, e);
  if (state.entries.size > state.options.maxSignatures) evictOldest(state, at);
  return e;
}

function evictOldest(state: LearningState, now: number): void {
  while (state.entries.size > state.options.maxSignatures) {
    const first = state.entries.entries().next();
    if (first.done) return;
    const [key, e] = first.value;
    state.entries.delete(key);
    state.evicted++;
    if (state.chronic.delete(key)) state.pendingClears.push({ playbook: e.playbook, signature: e.signature, at: now });
  }
}

function newStats(at: number): StrategyStats {
  return { at, weightedSuccesses: 0, weightedFailures: 0, successes: 0, failures: 0, rollbacks: 0, recoveries: [] };
}

/**
 * Records one outcome. Deterministic (no clock, no randomness), so replaying the same outcomes
 * in the same order rebuilds the same state. An outcome older than the strategy's last update
 * counts with the weight its age gives it.
 */
export function recordOutcome(state: LearningState, o: Outcome): void {
  if (!Number.isFinite(o.at)) throw new RangeError(`learning: outcome time must be a finite number of ms (got ${o.at})`);
  const e = touchEntry(state, o.playbook, o.signature, o.at);
  let s = e.strategies.get(o.strategy);
  if (!s) {
    s = newStats(o.at);
    e.strategies.set(o.strategy, s);
  }
  let weight = 1;
  if (o.at > s.at) {
    const f = decayFactor(state.options, o.at - s.at);
    s.weightedSuccesses *= f;
    s.weightedFailures *= f;
    s.at = o.at;
  } else {
    weight = decayFactor(state.options, s.at - o.at);
  }
  if (o.success) {
    s.weightedSuccesses += weight;
    s.successes++;
    const r = o.recoverySeconds;
    if (r !== undefined && Number.isFinite(r) && r >= 0) {
      s.recoveries.push(Math.round(r * 1000) / 1000);
      if (s.recoveries.length > state.options.recoverySamples) s.recoveries.splice(0, s.recoveries.length - state.options.recoverySamples);
    }
  } else {
    s.weightedFailures += weight;
    s.failures++;
  }
  if (o.rolledBack) s.rollbacks++;
  s.weightedSuccesses = round6(s.weightedSuccesses);
  s.weightedFailures = round6(s.weightedFailures);
}

/** Weighted counts are kept to 6 decimals: far below what changes a decision, and compact in JSON. */
function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

/** Median of the kept recovery times (s); null with none. */
export function medianOf(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

// ---------------------------------------------------------------------------------------------
// Serialisation

export interface StrategyStatsJSON extends StrategyStats {
  name: string;
}

export interface EntryJSON {
  playbook: string;
  signature: string;
  seen: number;
  firings: number[];
  chronicSince: number | null;
  strategies: StrategyStatsJSON[];
}

export interface LearningStateJSON {
  version: 1;
  evicted: number;
  /** Least recently seen first. */
  entries: EntryJSON[];
  pendingClears: ChronicCleared[];
}

/** A plain, JSON-ready copy of the state (settings are not part of it: they come from the configuration). */
export function learningToJSON(state: LearningState): LearningStateJSON {
  const entries: EntryJSON[] = [];
  for (const e of state.entries.values()) {
    entries.push({
      playbook: e.playbook,
      signature: e.signature,
      seen: e.seen,
      firings: e.firings.slice(),
      chronicSince: e.chronicSince,
      strategies: Array.from(e.strategies, ([name, s]) => ({
        name,
        at: s.at,
        weightedSuccesses: s.weightedSuccesses,
        weightedFailures: s.weightedFailures,
        successes: s.successes,
        failures: s.failures,
        rollbacks: s.rollbacks,
        recoveries: s.recoveries.slice(),
      })),
    });
  }
  return { version: 1, evicted: state.evicted, entries, pendingClears: state.pendingClears.map((c) => ({ ...c })) };
}

/** Thrown by learningFromJSON on data that is not a learning state; `message` names where. */
export class LearningStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LearningStateError';
  }
}

type Obj = Record<string, unknown>;

function obj(v: unknown, path: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new LearningStateError(`${path}: expected an object`);
  return v as Obj;
}
function arr(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) throw new LearningStateError(`${path}: expected an array`);
  return v;
}
function str(v: unknown, path: string): string {
  if (typeof v !== 'string') throw new LearningStateError(`${path}: expected a string`);
  return v;
}
function num(v: unknown, path: string, min = Number.NEGATIVE_INFINITY): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw new LearningStateError(`${path}: expected a finite number${min > Number.NEGATIVE_INFINITY ? ` of at least ${min}` : ''}`);
  return v;
}
function count(v: unknown, path: string): number {
  const n = num(v, path, 0);
  if (!Number.isInteger(n)) throw new LearningStateError(`${path}: expected a whole number`);
  return n;
}

/**
 * Rebuilds a state from learningToJSON's output (after a trip through JSON.stringify/parse).
 * Checks every field and throws LearningStateError on the first bad one. With a lower cap
 * than the state was saved with, the least recently seen entries are forgotten.
 */
export function learningFromJSON(json: unknown, options: LearningOptions = {}): LearningState {
  const state = createLearningState(options);
  const o = obj(json, 'learning');
  if (o.version !== 1) throw new LearningStateError(`learning.version: expected 1 (got ${JSON.stringify(o.version)})`);
  state.evicted = count(o.evicted, 'learning.evicted');
  const keep = state.options.recoverySamples;
  const firingsKept = state.options.chronicOccurrences;
  arr(o.entries, 'learning.entries').forEach((raw, i) => {
    const p = `learning.entries[${i}]`;
    const r = obj(raw, p);
    const e: Entry = {
      playbook: str(r.playbook, `${p}.playbook`),
      signature: str(r.signature, `${p}.signature`),
      seen: num(r.seen, `${p}.seen`),
      firings: arr(r.firings, `${p}.firings`).map((t, j) => num(t, `${p}.firings[${j}]`)).sort((a, b) => a - b).slice(-firingsKept),
      chronicSince: r.chronicSince === null ? null : num(r.chronicSince, `${p}.chronicSince`),
      strategies: new Map(),
    };
    arr(r.strategies, `${p}.strategies`).forEach((rs, j) => {
      const q = `${p}.strategies[${j}]`;
      const s = obj(rs, q);
      e.strategies.set(str(s.name, `${q}.name`), {
        at: num(s.at, `${q}.at`),
        weightedSuccesses: num(s.weightedSuccesses, `${q}.weightedSuccesses`, 0),
        weightedFailures: num(s.weightedFailures, `${q}.weightedFailures`, 0),
        successes: count(s.successes, `${q}.successes`),
        failures: count(s.failures, `${q}.failures`),
        rollbacks: count(s.rollbacks, `${q}.rollbacks`),
        recoveries: arr(s.recoveries, `${q}.recoveries`).map((x, k) => num(x, `${q}.recoveries[${k}]`, 0)).slice(-keep),
      });
    });
    const key = entryKey(e.playbook, e.signature);
    state.entries.delete(key);
    state.entries.set(key, e);
    if (e.chronicSince !== null) state.chronic.add(key);
  });
  arr(o.pendingClears, 'learning.pendingClears').forEach((raw, i) => {
    const p = `learning.pendingClears[${i}]`;
    const c = obj(raw, p);
    state.pendingClears.push({ playbook: str(c.playbook, `${p}.playbook`), signature: str(c.signature, `${p}.signature`), at: num(c.at, `${p}.at`) });
  });
  const last = [...state.entries.values()].at(-1);
  evictOldest(state, last ? last.seen : 0);
  return state;
}
