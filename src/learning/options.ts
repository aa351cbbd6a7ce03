/** Settings of the learning core, their defaults and their checks. */

export type Risk = 'low' | 'medium' | 'high';

export const RISK_RANK: Readonly<Record<Risk, number>> = { low: 0, medium: 1, high: 2 };

export interface LearningOptions {
  /** Beta prior of every strategy's success rate. Default { alpha: 1, beta: 1 } (uniform). */
  prior?: { alpha: number; beta: number };
  /** Evidence loses half its weight in this time. Default 7 days; Infinity: it never fades. */
  halfLifeMs?: number;
  /**
   * Recency-weighted trials (rounded to a whole trial) a signature needs before its order may
   * differ from the configured one, and a strategy needs before it can count as failed. Default 3.
   */
  minTrials?: number;
  /**
   * Risk rule: a strategy has failed here when its whole 95 % interval lies below this success
   * rate. Default 0.5 (it fixes this alert less often than not, with confidence).
   */
  failedBelow?: number;
  /** (playbook, signature) pairs kept in all; the least recently seen is forgotten first. Default 10 000. */
  maxSignatures?: number;
  /** Recovery times kept per strategy and signature, newest, for the median. Default 9. */
  recoverySamples?: number;
  /** Chronic: this many firings of one signature within chronicWindowMs. Default 5. */
  chronicOccurrences?: number;
  /** Default 1 hour. */
  chronicWindowMs?: number;
  /**
   * A chronic signature clears when its firings within the window drop below this. Default 1:
   * a whole window without a firing. chronicOccurrences: clear as soon as the rate no longer holds.
   */
  chronicClearBelow?: number;
}

export interface ResolvedOptions {
  readonly prior: { readonly alpha: number; readonly beta: number };
  readonly halfLifeMs: number;
  readonly minTrials: number;
  readonly failedBelow: number;
  readonly maxSignatures: number;
  readonly recoverySamples: number;
  readonly chronicOccurrences: number;
  readonly chronicWindowMs: number;
  readonly chronicClearBelow: number;
}

export const DEFAULTS: ResolvedOptions = {
  prior: { alpha: 1, beta: 1 },
  halfLifeMs: 7 * 86_400_000,
  minTrials: 3,
  failedBelow: 0.5,
  maxSignatures: 10_000,
  recoverySamples: 9,
  chronicOccurrences: 5,
  chronicWindowMs: 3_600_000,
  chronicClearBelow: 1,
};

function positiveInteger(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`learning: ${name} must be a whole number of at least 1 (got ${v})`);
  return v;
}

/** Fills in the defaults; throws a RangeError naming the first bad setting. */
export function resolveOptions(o: LearningOptions = {}): ResolvedOptions {
  const prior = o.prior ?? DEFAULTS.prior;
  for (const k of ['alpha', 'beta'] as const) {
    if (!Number.isFinite(prior[k]) || prior[k] <= 0) throw new RangeError(`learning: prior.${k} must be a number above 0 (got ${prior[k]})`);
  }
  const halfLifeMs = o.halfLifeMs ?? DEFAULTS.halfLifeMs;
  if (!(halfLifeMs > 0)) throw new RangeError(`learning: halfLifeMs must be above 0 or Infinity (got ${halfLifeMs})`);
  const minTrials = o.minTrials ?? DEFAULTS.minTrials;
  if (!Number.isInteger(minTrials) || minTrials < 0) throw new RangeError(`learning: minTrials must be a whole number of at least 0 (got ${minTrials})`);
  const failedBelow = o.failedBelow ?? DEFAULTS.failedBelow;
  if (!(failedBelow > 0 && failedBelow <= 1)) throw new RangeError(`learning: failedBelow must be a rate in (0, 1] (got ${failedBelow})`);
  const chronicOccurrences = positiveInteger('chronicOccurrences', o.chronicOccurrences ?? DEFAULTS.chronicOccurrences);
  const chronicWindowMs = o.chronicWindowMs ?? DEFAULTS.chronicWindowMs;
  if (!(chronicWindowMs > 0) || !Number.isFinite(chronicWindowMs)) throw new RangeError(`learning: chronicWindowMs must be a finite time above 0 (got ${chronicWindowMs})`);
  const chronicClearBelow = positiveInteger('chronicClearBelow', o.chronicClearBelow ?? DEFAULTS.chronicClearBelow);
  if (chronicClearBelow > chronicOccurrences) {
    throw new RangeError(`learning: chronicClearBelow (${chronicClearBelow}) cannot exceed chronicOccurrences (${chronicOccurrences})`);
  }
  return {
    prior: { alpha: prior.alpha, beta: prior.beta },
    halfLifeMs,
    minTrials,
    failedBelow,
    maxSignatures: positiveInteger('maxSignatures', o.maxSignatures ?? DEFAULTS.maxSignatures),
    recoverySamples: positiveInteger('recoverySamples', o.recoverySamples ?? DEFAULTS.recoverySamples),
    chronicOccurrences,
    chronicWindowMs,
    chronicClearBelow,
  };
}

/** Weight left of evidence `ageMs` old: 2^(-age / half-life); 1 for no age (or a clock step back). */
export function decayFactor(o: ResolvedOptions, ageMs: number): number {
  if (!(ageMs > 0) || o.halfLifeMs === Number.POSITIVE_INFINITY) return 1;
  return 2 ** (-ageMs / o.halfLifeMs);
}
