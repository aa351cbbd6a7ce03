/**
 * Recurrence: a signature that fires chronicOccurrences times within chronicWindowMs is
 * chronic. The change is reported once, on the call that makes it (the N-th firing within the
 * window, never the (N-1)-th); the signature stays chronic while it keeps firing, and clears
 * once its firings within the window drop below chronicClearBelow (default 1: a whole window
 * without a firing). Only the newest N firing times are kept per signature.
 */
import { type ChronicCleared, type Entry, type LearningState, entryKey, touchEntry } from './state.js';

export interface Firing {
  playbook: string;
  signature: string;
  /** When the alert fired (received), ms since the epoch. */
  at: number;
}

export interface Recurrence {
  chronic: boolean;
  /** Set only by the call that changed the state: act on it once (escalate, start a preventive playbook). */
  transition: 'chronic' | 'cleared' | null;
  /** Firings within the window that ends at the time asked about (at most chronicOccurrences are kept). */
  count: number;
  /** When it became chronic (ms); null when it is not. */
  since: number | null;
}

export interface ChronicChange extends ChronicCleared {
  transition: 'cleared';
  /** 'quiet': too few firings within the window; 'forgotten': the entry fell out of the cap while chronic. */
  reason: 'quiet' | 'forgotten';
}

/** Firings of `e` within the window ending at `now` (left-open: exactly one window old is out, as in PromQL ranges). */
function firingsWithin(state: LearningState, e: Entry, now: number): number {
  const from = now - state.options.chronicWindowMs;
  let n = 0;
  for (let i = e.firings.length - 1; i >= 0 && (e.firings[i] as number) > from; i--) n++;
  return n;
}

/** Records one firing (one new episode) of a signature and says whether that changed its chronic state. */
export function recordFiring(state: LearningState, f: Firing): Recurrence {
  if (!Number.isFinite(f.at)) throw new RangeError(`learning: firing time must be a finite number of ms (got ${f.at})`);
  const o = state.options;
  const e = touchEntry(state, f.playbook, f.signature, f.at);
  const ts = e.firings;
  let i = ts.length;
  while (i > 0 && (ts[i - 1] as number) > f.at) i--;
  ts.splice(i, 0, f.at);
  if (ts.length > o.chronicOccurrences) ts.splice(0, ts.length - o.chronicOccurrences);
  const now = ts[ts.length - 1] as number;
  const n = firingsWithin(state, e, now);
  const key = entryKey(f.playbook, f.signature);
  let transition: Recurrence['transition'] = null;
  if (e.chronicSince === null) {
    if (n >= o.chronicOccurrences) {
      e.chronicSince = now;
      state.chronic.add(key);
      transition = 'chronic';
    }
  } else if (n < o.chronicClearBelow) {
    e.chronicSince = null;
    state.chronic.delete(key);
    transition = 'cleared';
  }
  return { chronic: e.chronicSince !== null, transition, count: n, since: e.chronicSince };
}

/**
 * Clears the chronic signatures whose firings within the window have dropped below
 * chronicClearBelow by `now`, and reports those the cap forgot. Call it periodically (e.g.
 * every minute): a signature that stops firing calls nothing else. Each change is returned
 * once. Cost: the number of chronic signatures, not of all signatures.
 */
export function sweepChronic(state: LearningState, now: number): ChronicChange[] {
  const out: ChronicChange[] = state.pendingClears.splice(0).map((c) => ({ ...c, transition: 'cleared', reason: 'forgotten' }));
  // In key order, so a restored state reports the same changes in the same order.
  for (const key of [...state.chronic].sort()) {
    const e = state.entries.get(key);
    if (!e) {
      state.chronic.delete(key);
      continue;
    }
    if (firingsWithin(state, e, now) < state.options.chronicClearBelow) {
      e.chronicSince = null;
      state.chronic.delete(key);
      out.push({ playbook: e.playbook, signature: e.signature, at: now, transition: 'cleared', reason: 'quiet' });
    }
  }
  return out;
}

/** The chronic state of a signature as recorded, with its firings within the window ending at `now`. Changes nothing. */
export function recurrenceOf(state: LearningState, playbook: string, signature: string, now: number): Recurrence {
  const e = state.entries.get(entryKey(playbook, signature));
  if (!e) return { chronic: false, transition: null, count: 0, since: null };
  return { chronic: e.chronicSince !== null, transition: null, count: firingsWithin(state, e, now), since: e.chronicSince };
}

/** Every chronic (playbook, signature), e.g. for a gauge or the API. */
export function chronicSignatures(state: LearningState): Array<{ playbook: string; signature: string; since: number }> {
  const out: Array<{ playbook: string; signature: string; since: number }> = [];
  for (const key of state.chronic) {
    const e = state.entries.get(key);
    if (e && e.chronicSince !== null) out.push({ playbook: e.playbook, signature: e.signature, since: e.chronicSince });
  }
  return out;
}
