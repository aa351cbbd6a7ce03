/** Pure statistics over (time, value) samples, matching Prometheus' functions where one exists. */

export interface Point {
  /** unixtime, milliseconds */
  t: number;
  v: number;
}

/** Least-squares slope (per second) and intercept at time `at`, as Prometheus' deriv()/predict_linear(). */
export function linearFit(points: Point[], at: number, since = Number.NEGATIVE_INFINITY): { slope: number; valueAt: number } | null {
  let n = 0;
  let sx = 0;
  let sy = 0;
  let sxy = 0;
  let sxx = 0;
  for (const p of points) {
    if (p.t < since) continue;
    const x = (p.t - at) / 1000;
    n++;
    sx += x;
    sy += p.v;
    sxy += x * p.v;
    sxx += x * x;
  }
  if (n < 2) return null;
  const denom = n * sxx - sx * sx;
  if (denom === 0) return null;
  const slope = (n * sxy - sx * sy) / denom;
  const valueAt = (sy - slope * sx) / n;
  return { slope, valueAt };
}

/** predict_linear(points, horizonSeconds) evaluated at `now`. */
export function predictLinear(points: Point[], now: number, horizonSeconds: number, since?: number): number | null {
  const fit = linearFit(points, now, since);
  return fit ? fit.valueAt + fit.slope * horizonSeconds : null;
}

/**
 * histogram_quantile over cumulative buckets (upper bound `le` -> count), with Prometheus'
 * linear interpolation inside the bucket and its edge cases (+Inf, empty histogram).
 */
export function histogramQuantile(q: number, buckets: Array<{ le: number; count: number }>): number | null {
  if (buckets.length === 0) return null;
  const b = [...buckets].sort((x, y) => x.le - y.le);
  if ((b[b.length - 1] as { le: number }).le !== Number.POSITIVE_INFINITY) return null;
  // Cumulative counts must not decrease (rates of a scrape can jitter): enforce monotonicity.
  for (let i = 1; i < b.length; i++) if ((b[i] as { count: number }).count < (b[i - 1] as { count: number }).count) (b[i] as { count: number }).count = (b[i - 1] as { count: number }).count;
  const total = (b[b.length - 1] as { count: number }).count;
  if (total === 0) return null;
  if (q < 0) return Number.NEGATIVE_INFINITY;
  if (q > 1) return Number.POSITIVE_INFINITY;
  const rank = q * total;
  let i = b.findIndex((x) => x.count >= rank);
  if (i < 0) i = b.length - 1;
  if (i === b.length - 1) return b.length >= 2 ? (b[b.length - 2] as { le: number }).le : 0;
  const upper = (b[i] as { le: number }).le;
  const lower = i === 0 ? 0 : (b[i - 1] as { le: number }).le;
  const countBelow = i === 0 ? 0 : (b[i - 1] as { count: number }).count;
  const inBucket = (b[i] as { count: number }).count - countBelow;
  if (i === 0 && upper <= 0) return upper;
  return lower + (upper - lower) * ((rank - countBelow) / (inBucket || 1));
}
