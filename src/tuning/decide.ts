/**
 * The decision of a tuning experiment, from per-interval samples of the objective before
 * (baseline) and after (candidate) a knob change, and the guard checks that abort one early.
 * Pure functions: the experiment runner collects the samples and acts on the result.
 *
 * The rule, stated once:
 * - fewer than `minSamples` intervals on either side: **insufficient** (nothing is concluded;
 *   the runner rolls the change back, it never keeps a value on thin evidence);
 * - keep when the candidate is better with a one-sided Mann-Whitney p below `alpha` AND its
 *   median improves on the baseline median by at least `minImprovement` (relative): a change
 *   must be both real and worth having;
 * - otherwise reject, and say whether it was worse (significant in the wrong direction) or
 *   made no clear difference.
 */
import { type MannWhitney, mannWhitney, median } from './stats.js';

export type Direction = 'minimize' | 'maximize';

export interface DecisionRule {
  direction: Direction;
  /** Intervals needed on each side before anything is decided. Default 5. */
  minSamples?: number;
  /** Significance level of the one-sided test. Default 0.05. */
  alpha?: number;
  /** Relative change of the median that counts as an improvement, e.g. 0.05 = 5 %. Default 0.05. */
  minImprovement?: number;
}

export interface Decision {
  decision: 'keep' | 'reject' | 'insufficient';
  /** One line for people and for the history record. */
  reason: string;
  baselineMedian: number;
  candidateMedian: number;
  /** (candidate - baseline) / |baseline|; positive means the objective went up. */
  relativeChange: number;
  /** One-sided p that the candidate is better; null when not computed (too few samples). */
  p: number | null;
  test: MannWhitney | null;
}

const fmt = (x: number) => (Math.abs(x) >= 100 || Number.isInteger(x) ? x.toFixed(0) : x.toPrecision(3));

export function decide(baseline: readonly number[], candidate: readonly number[], rule: DecisionRule): Decision {
  const minSamples = rule.minSamples ?? 5;
  const alpha = rule.alpha ?? 0.05;
  const minImprovement = rule.minImprovement ?? 0.05;
  const bm = median(baseline);
  const cm = median(candidate);
  const relativeChange = bm === 0 ? (cm === 0 ? 0 : Math.sign(cm) * Number.POSITIVE_INFINITY) : (cm - bm) / Math.abs(bm);
  const base = { baselineMedian: bm, candidateMedian: cm, relativeChange };
  if (baseline.length < minSamples || candidate.length < minSamples) {
    return {
      ...base,
      decision: 'insufficient',
      reason: `too few samples to decide: ${baseline.length} baseline and ${candidate.length} candidate intervals, ${minSamples} needed on each side`,
      p: null,
      test: null,
    };
  }
  // Better = smaller when minimising: the candidate sample tends to be below the baseline.
  const test = mannWhitney(candidate, baseline);
  const pBetter = rule.direction === 'minimize' ? test.pLess : test.pGreater;
  const pWorse = rule.direction === 'minimize' ? test.pGreater : test.pLess;
  const improvement = rule.direction === 'minimize' ? -relativeChange : relativeChange;
  const pct = `${improvement >= 0 ? '' : '-'}${Math.abs(improvement * 100).toFixed(1)} %`;
  const medians = `median ${fmt(bm)} -> ${fmt(cm)}`;
  if (pBetter < alpha && improvement >= minImprovement) {
    return { ...base, decision: 'keep', reason: `better: ${medians} (${pct}), p = ${pBetter.toPrecision(2)} < ${alpha}`, p: pBetter, test };
  }
  if (pWorse < alpha) {
    return { ...base, decision: 'reject', reason: `worse: ${medians} (${pct}), p = ${pWorse.toPrecision(2)} < ${alpha}`, p: pBetter, test };
  }
  const why =
    pBetter < alpha ? `improvement ${pct} below the ${(minImprovement * 100).toFixed(1)} % needed` : `no significant difference (p = ${pBetter.toPrecision(2)})`;
  return { ...base, decision: 'reject', reason: `not better: ${medians}, ${why}`, p: pBetter, test };
}

/** A guard metric's limit: the experiment aborts at once when an interval breaks it. */
export interface Guard {
  name: string;
  /** Absolute limits. */
  max?: number;
  min?: number;
  /** Relative to the guard's baseline median, e.g. 0.2: at most 20 % above it. */
  maxIncrease?: number;
}

/** The first limit an interval's value breaks, or null. */
export function guardBreach(guard: Guard, value: number, baselineMedian?: number): string | null {
  if (!Number.isFinite(value)) return `${guard.name}: no value (${value})`;
  if (guard.max !== undefined && value > guard.max) return `${guard.name} ${fmt(value)} above its limit ${fmt(guard.max)}`;
  if (guard.min !== undefined && value < guard.min) return `${guard.name} ${fmt(value)} below its limit ${fmt(guard.min)}`;
  if (guard.maxIncrease !== undefined && baselineMedian !== undefined && Number.isFinite(baselineMedian)) {
    const limit = baselineMedian + Math.abs(baselineMedian) * guard.maxIncrease;
    if (value > limit) return `${guard.name} ${fmt(value)} more than ${(guard.maxIncrease * 100).toFixed(0)} % above its baseline ${fmt(baselineMedian)}`;
  }
  return null;
}
