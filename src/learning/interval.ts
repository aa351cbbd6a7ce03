/**
 * The 95 % interval of a success rate: Wilson's score interval. Closed form (no special
 * functions), defined for fractional counts (recency-weighted evidence is fractional), never
 * outside [0, 1], and with close to nominal coverage already at a handful of trials, where
 * the normal approximation fails.
 */

/** z for a two-sided 95 % interval: the 0.975 quantile of the standard normal. */
export const Z95 = 1.959963984540054;

/** Wilson score interval for `successes` out of `trials` (both may be fractional); null with no trials. */
export function wilsonInterval(successes: number, trials: number, z: number = Z95): [number, number] | null {
  if (!(trials > 0)) return null;
  const p = Math.min(1, Math.max(0, successes / trials));
  const z2 = z * z;
  const denom = 1 + z2 / trials;
  const centre = (p + z2 / (2 * trials)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials))) / denom;
  // Exact at the ends (0 of n reaches 0, n of n reaches 1), where rounding would miss them.
  return [p === 0 ? 0 : Math.max(0, centre - half), p === 1 ? 1 : Math.min(1, centre + half)];
}
