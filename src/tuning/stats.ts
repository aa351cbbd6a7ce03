/**
 * The statistics a tuning experiment decides with: the Mann-Whitney U test (Wilcoxon rank-sum)
 * on per-interval samples of the objective, before and after a knob change.
 *
 * Mann-Whitney rather than Welch's t: per-interval latencies and error rates are skewed and
 * bounded, with outliers (a GC pause, a retry storm), and the test only assumes the samples are
 * independent draws. It compares ranks, so one wild interval cannot carry a decision. Exact
 * p-values (the full permutation distribution of U, by dynamic programming) while both samples
 * have at most EXACT_MAX values and there are no ties; otherwise the normal approximation with
 * tie correction and continuity correction.
 */

export const EXACT_MAX = 12;

export interface MannWhitney {
  /** U of the first sample: pairs (x from a, y from b) with x > y, ties counting one half. */
  u: number;
  n1: number;
  n2: number;
  /** P(U <= u) under the null hypothesis: small when a tends to be smaller than b. */
  pLess: number;
  /** P(U >= u): small when a tends to be larger than b. */
  pGreater: number;
  pTwoSided: number;
  method: 'exact' | 'normal';
}

function standardNormalCdf(z: number): number {
  // Abramowitz-Stegun 7.1.26 on erf, |error| < 1.5e-7: enough for p-values against 0.05.
  const t = 1 / (1 + (0.3275911 * Math.abs(z)) / Math.SQRT2);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-(z * z) / 2);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

/** Counts of each U value (0..n1*n2) over all C(n1+n2, n1) arrangements, for tie-free samples. */
function exactCounts(n1: number, n2: number): number[] {
  // f[i][j][u]: arrangements of i values of a and j of b with statistic u; built up by whether the
  // largest value comes from a (it then beats all j values of b) or from b.
  let prev: number[][] = [];
  for (let j = 0; j <= n2; j++) prev.push([1]);
  for (let i = 1; i <= n1; i++) {
    const cur: number[][] = [[1]];
    for (let j = 1; j <= n2; j++) {
      const size = i * j + 1;
      const row = new Array<number>(size).fill(0);
      const fromA = prev[j] as number[];
      for (let u = 0; u < fromA.length; u++) row[u + j] = (row[u + j] as number) + (fromA[u] as number);
      const fromB = cur[j - 1] as number[];
      for (let u = 0; u < fromB.length; u++) row[u] = (row[u] as number) + (fromB[u] as number);
      cur.push(row);
    }
    prev = cur;
  }
  return prev[n2] as number[];
}

export function mannWhitney(a: readonly number[], b: readonly number[]): MannWhitney {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) throw new RangeError('mannWhitney: both samples need at least one value');
  for (const x of [...a, ...b]) if (!Number.isFinite(x)) throw new RangeError(`mannWhitney: samples must be finite numbers (got ${x})`);
  // Ranks of the pooled sample, ties sharing their average rank.
  const pooled = [...a.map((v) => ({ v, g: 0 })), ...b.map((v) => ({ v, g: 1 }))].sort((x, y) => x.v - y.v);
  let rankSumA = 0;
  let tieTerm = 0;
  let ties = false;
  for (let i = 0; i < pooled.length; ) {
    let j = i;
    while (j + 1 < pooled.length && (pooled[j + 1] as { v: number }).v === (pooled[i] as { v: number }).v) j++;
    const t = j - i + 1;
    if (t > 1) {
      ties = true;
      tieTerm += t ** 3 - t;
    }
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if ((pooled[k] as { g: number }).g === 0) rankSumA += rank;
    i = j + 1;
  }
  const u = rankSumA - (n1 * (n1 + 1)) / 2;
  if (!ties && n1 <= EXACT_MAX && n2 <= EXACT_MAX) {
    const counts = exactCounts(n1, n2);
    const total = counts.reduce((s, c) => s + c, 0);
    let le = 0;
    let ge = 0;
    counts.forEach((c, k) => {
      if (k <= u) le += c;
      if (k >= u) ge += c;
    });
    const pLess = le / total;
    const pGreater = ge / total;
    return { u, n1, n2, pLess, pGreater, pTwoSided: Math.min(1, 2 * Math.min(pLess, pGreater)), method: 'exact' };
  }
  const n = n1 + n2;
  const mean = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  if (variance <= 0) {
    // Every value equal: no evidence either way.
    return { u, n1, n2, pLess: 1, pGreater: 1, pTwoSided: 1, method: 'normal' };
  }
  const sd = Math.sqrt(variance);
  const pLess = standardNormalCdf((u - mean + 0.5) / sd);
  const pGreater = 1 - standardNormalCdf((u - mean - 0.5) / sd);
  return { u, n1, n2, pLess, pGreater, pTwoSided: Math.min(1, 2 * Math.min(pLess, pGreater)), method: 'normal' };
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}
