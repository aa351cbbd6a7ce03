/**
 * Strategy choice: the order in which to try a playbook's strategies for one signature, by
 * Thompson sampling over each strategy's Beta posterior, within the risk rule, with the
 * evidence and a one-line reason. Reads the state, never changes it.
 */
import { wilsonInterval } from './interval.js';
import { RISK_RANK, type Risk, decayFactor } from './options.js';
import { beta, type Rng } from './rng.js';
import { type LearningState, entryKey, medianOf } from './state.js';

export interface StrategyView {
  name: string;
  /** Default low. */
  risk?: Risk;
}

/** What choice needs of a playbook; the compiled Playbook fits once it carries `learning`. */
export interface PlaybookView {
  name: string;
  /** false (`learning: off`): always the configured order. Default true. */
  learning?: boolean;
  /** In the configured order. */
  strategies: readonly StrategyView[];
}

export interface StrategyEvidence {
  name: string;
  risk: Risk;
  /** Position in the playbook's list (0-based). */
  configuredIndex: number;
  /** Lifetime counts on this signature. */
  successes: number;
  failures: number;
  rollbacks: number;
  /** Recency-weighted counts at the time asked about (what the choice uses). */
  weightedSuccesses: number;
  weightedFailures: number;
  /** weightedSuccesses over weighted trials; null when never tried here. */
  successRate: number | null;
  /** Wilson 95 % interval of that rate, from the weighted counts; null when never tried here. */
  interval: [number, number] | null;
  /** Mean of the Beta posterior, prior included. */
  posteriorMean: number;
  /** The Thompson draw; null when nothing was drawn (configured order, or evidence only). */
  sample: number | null;
  /** Median of the newest recovery times (s); null with no verified success kept. */
  medianRecoverySeconds: number | null;
  /** Risk rule: tried here at least minTrials times, and its whole 95 % interval lies below failedBelow. */
  failedHere: boolean;
  /** Its draw would have put it earlier; the risk rule held it back. */
  heldBack: boolean;
}

export interface Decision {
  playbook: string;
  signature: string;
  /** Strategy names, in the order to try them. */
  order: string[];
  /** The same order as positions in the playbook's list. */
  indices: number[];
  /** false: the configured order as is (learning off, a single strategy, or too few trials). */
  learned: boolean;
  /** One line for people, e.g. "clear-caches first: 14/15 verified successes". */
  reason: string;
  /** Recency-weighted trials of this signature's strategies, rounded: what minTrials is compared with. */
  trials: number;
  /** Per strategy, in `order`. */
  strategies: StrategyEvidence[];
}

/** Evidence per strategy at `now`, in the playbook's order, without drawing anything. */
export function describeEvidence(state: LearningState, playbook: PlaybookView, signature: string, now: number): StrategyEvidence[] {
  const o = state.options;
  const entry = state.entries.get(entryKey(playbook.name, signature));
  return playbook.strategies.map((sv, i) => {
    const s = entry?.strategies.get(sv.name);
    const f = s ? decayFactor(o, now - s.at) : 1;
    const ws = s ? s.weightedSuccesses * f : 0;
    const wf = s ? s.weightedFailures * f : 0;
    const n = ws + wf;
    const interval = wilsonInterval(ws, n);
    return {
      name: sv.name,
      risk: sv.risk ?? 'low',
      configuredIndex: i,
      successes: s?.successes ?? 0,
      failures: s?.failures ?? 0,
      rollbacks: s?.rollbacks ?? 0,
      weightedSuccesses: ws,
      weightedFailures: wf,
      successRate: n > 0 ? ws / n : null,
      interval,
      posteriorMean: (o.prior.alpha + ws) / (o.prior.alpha + o.prior.beta + n),
      sample: null,
      medianRecoverySeconds: s ? medianOf(s.recoveries) : null,
      failedHere: Math.round(n) >= o.minTrials && interval !== null && interval[1] < o.failedBelow,
      heldBack: false,
    };
  });
}

function record(e: StrategyEvidence): string {
  return `${e.successes}/${e.successes + e.failures}`;
}

function list(names: string[]): string {
  return names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

/**
 * The order to try `playbook`'s strategies in for `signature` at `now`.
 *
 * - learning off, a single strategy, or fewer than minTrials recency-weighted trials on this
 *   signature (rounded): the configured order, nothing drawn.
 * - otherwise one draw per strategy from Beta(alpha + weighted successes, beta + weighted
 *   failures), in the playbook's order (so the same rng state gives the same draws), and the
 *   strategies are placed best draw first, except that a strategy may not be placed ahead of
 *   a lower-risk one listed before it in the playbook unless that one has failed here.
 */
/**
 * The order to try a playbook's strategies in for one signature. `rng: 'expected'` ranks by
 * posterior mean instead of drawing: the deterministic order an explanation shows.
 */
export function chooseStrategies(state: LearningState, playbook: PlaybookView, signature: string, now: number, rng: Rng | 'expected'): Decision {
  const o = state.options;
  const ev = describeEvidence(state, playbook, signature, now);
  const trials = Math.round(ev.reduce((sum, e) => sum + e.weightedSuccesses + e.weightedFailures, 0));
  const configured = (reason: string): Decision => ({
    playbook: playbook.name,
    signature,
    order: ev.map((e) => e.name),
    indices: ev.map((e) => e.configuredIndex),
    learned: false,
    reason,
    trials,
    strategies: ev,
  });
  if (playbook.learning === false) return configured('as configured: learning is off for this playbook');
  if (ev.length <= 1) return configured(ev.length ? 'as configured: the only strategy' : 'as configured: no strategies');
  if (trials < o.minTrials) return configured(`as configured: ${trials} of ${o.minTrials} trials needed before reordering`);

  const draws = ev.map((e) => {
    e.sample = rng === 'expected' ? e.posteriorMean : beta(rng, o.prior.alpha + e.weightedSuccesses, o.prior.beta + e.weightedFailures);
    return e.sample;
  });
  const rank = ev.map((e) => RISK_RANK[e.risk]);
  const placed = ev.map(() => false);
  /** Unplaced lower-risk strategies listed before i that have not failed here: they keep i back. */
  const blockers = (i: number): number[] => {
    const out: number[] = [];
    for (let j = 0; j < i; j++) if (!placed[j] && (rank[j] as number) < (rank[i] as number) && !(ev[j] as StrategyEvidence).failedHere) out.push(j);
    return out;
  };
  const indices: number[] = [];
  let heldReason: string | null = null;
  while (indices.length < ev.length) {
    let best = -1;
    let bestFree = -1;
    for (let i = 0; i < ev.length; i++) {
      if (placed[i]) continue;
      const d = draws[i] as number;
      if (best < 0 || d > (draws[best] as number)) best = i;
      if ((bestFree < 0 || d > (draws[bestFree] as number)) && blockers(i).length === 0) bestFree = i;
    }
    if (best !== bestFree) {
      const held = ev[best] as StrategyEvidence;
      held.heldBack = true;
      if (indices.length === 0) {
        const names = blockers(best).map((j) => (ev[j] as StrategyEvidence).name);
        heldReason = `${held.name} held back: ${held.risk} risk, ${list(names)} ${names.length > 1 ? 'have' : 'has'} not failed here`;
      }
    }
    placed[bestFree] = true;
    indices.push(bestFree);
  }

  const first = ev[indices[0] as number] as StrategyEvidence;
  let reason = heldReason;
  if (reason === null) {
    const n = first.successes + first.failures;
    if (n === 0) reason = `${first.name} first: not yet tried here (exploring)`;
    else {
      reason = `${first.name} first: ${record(first)} verified successes`;
      // Decay has moved the rate the choice uses away from the lifetime one: say so.
      if (first.successRate !== null && Math.abs(first.successRate - first.successes / n) >= 0.05) reason += `, ${Math.round(first.successRate * 100)} % recently`;
    }
    const overtaken = ev.filter((e) => e.configuredIndex < first.configuredIndex && RISK_RANK[e.risk] < RISK_RANK[first.risk] && e.failedHere);
    if (overtaken.length) reason += `; ${list(overtaken.map((e) => `${e.name} (${record(e)})`))} failed here`;
  }
  return {
    playbook: playbook.name,
    signature,
    order: indices.map((i) => (ev[i] as StrategyEvidence).name),
    indices,
    learned: true,
    reason,
    trials,
    strategies: indices.map((i) => ev[i] as StrategyEvidence),
  };
}
