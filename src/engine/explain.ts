/**
 * What promedic has learned, for people: per playbook and signature, each strategy's record
 * (successes, failures, success rate with its 95 % interval, median time to recover) and the
 * order it would lead with now, with the reason. The order shown is the expected one (by
 * posterior mean); a run draws its own (Thompson sampling), which usually agrees once the
 * evidence is clear. Used by GET /api/v1/learning and `promedic simulate`.
 */
import { type Decision, type LearningState, chooseStrategies, recurrenceOf } from '../learning/index.js';
import { entryKey } from '../learning/state.js';
import type { Playbook } from '../rules/playbook.js';

export interface StrategyExplained {
  name: string;
  risk: string;
  successes: number;
  failures: number;
  rollbacks: number;
  /** Recency-weighted success rate and its Wilson 95 % interval; null when never tried here. */
  success_rate: number | null;
  interval_95: [number, number] | null;
  median_time_to_recover_seconds: number | null;
  failed_here: boolean;
}

export interface SignatureExplained {
  signature: string;
  /** Recency-weighted verified outcomes, rounded. */
  trials: number;
  order: string[];
  learned: boolean;
  reason: string;
  chronic: boolean;
  chronic_since: string | null;
  firings_in_window: number;
  last_seen: string;
  strategies: StrategyExplained[];
}

export interface PlaybookExplained {
  playbook: string;
  learning: boolean;
  strategies: string[];
  signatures: SignatureExplained[];
}

const round = (x: number, digits = 4) => Math.round(x * 10 ** digits) / 10 ** digits;

export function explainSignature(state: LearningState, pb: Playbook, signature: string, enabled: boolean, now = Date.now()): SignatureExplained {
  const d: Decision = chooseStrategies(state, { name: pb.name, learning: pb.learning && enabled, strategies: pb.strategies }, signature, now, 'expected');
  const r = recurrenceOf(state, pb.name, signature, now);
  const entry = state.entries.get(entryKey(pb.name, signature));
  return {
    signature,
    trials: d.trials,
    order: d.order,
    learned: d.learned,
    reason: d.reason,
    chronic: r.chronic,
    chronic_since: r.since === null ? null : new Date(r.since).toISOString(),
    firings_in_window: r.count,
    last_seen: entry ? new Date(entry.seen).toISOString() : '',
    strategies: d.strategies.map((s) => ({
      name: s.name,
      risk: s.risk,
      successes: s.successes,
      failures: s.failures,
      rollbacks: s.rollbacks,
      success_rate: s.successRate === null ? null : round(s.successRate),
      interval_95: s.interval === null ? null : [round(s.interval[0]), round(s.interval[1])],
      median_time_to_recover_seconds: s.medianRecoverySeconds,
      failed_here: s.failedHere,
    })),
  };
}

/** Every playbook with learned evidence (or all loaded playbooks), newest signatures first. */
export function explainLearning(
  state: LearningState,
  playbooks: readonly Playbook[],
  enabled: boolean,
  filter: { playbook?: string; signature?: string; limit?: number } = {},
): PlaybookExplained[] {
  const now = Date.now();
  const byPlaybook = new Map<string, string[]>();
  // Entries iterate least recently seen first: walk backwards for newest first.
  const entries = [...state.entries.values()];
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i] as (typeof entries)[number];
    if (filter.signature !== undefined && e.signature !== filter.signature) continue;
    const list = byPlaybook.get(e.playbook) ?? [];
    list.push(e.signature);
    byPlaybook.set(e.playbook, list);
  }
  const out: PlaybookExplained[] = [];
  for (const pb of playbooks) {
    if (filter.playbook !== undefined && pb.name !== filter.playbook) continue;
    const sigs = (byPlaybook.get(pb.name) ?? []).slice(0, filter.limit ?? 100);
    out.push({
      playbook: pb.name,
      learning: pb.learning && enabled,
      strategies: pb.strategies.map((s) => s.name),
      signatures: sigs.map((sig) => explainSignature(state, pb, sig, enabled, now)),
    });
  }
  return out;
}
