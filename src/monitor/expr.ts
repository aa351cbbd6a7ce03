/**
 * Monitor expressions: what the default thresholds need, without a query language of our own.
 *   value:    a gauge's value
 *   rate:     a counter's per-second rate over a window
 *   ratio:    numerator / denominator (or 1 - that, with complement), e.g. error rate, CPU busy
 *   quantile: histogram quantile over a window (p99 latency), from <metric>_bucket
 * each with label matchers, and an optional aggregation (sum, avg, max, min) by labels.
 * Evaluation is pure: a SeriesStore and a time in, a vector of (labels, value) out.
 */
import { type Matcher, firstMismatch } from '../rules/matcher.js';
import { type Point, counterRate, histogramQuantile } from './stats.js';

export type Agg = 'sum' | 'avg' | 'max' | 'min';

interface Base {
  metric: string;
  matchers: Matcher[];
  agg?: Agg;
  by?: string[];
}

export type Expr =
  | ({ kind: 'value' } & Base)
  | ({ kind: 'rate'; windowMs: number } & Base)
  | ({ kind: 'quantile'; q: number; windowMs: number } & Base)
  | { kind: 'ratio'; numerator: Expr; denominator: Expr; complement: boolean };

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

export function labelKey(labels: Record<string, string>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(',');
}

/**
 * Points per series, kept only for the metrics that rules read and only as long as the
 * longest window that reads them.
 */
export class SeriesStore {
  private readonly series = new Map<string, Map<string, { labels: Record<string, string>; points: Point[] }>>();
  private readonly retentionMs = new Map<string, number>();

  /** Declares that `metric` is read over windows up to `windowMs`. */
  want(metric: string, windowMs: number): void {
    this.retentionMs.set(metric, Math.max(this.retentionMs.get(metric) ?? 0, windowMs));
  }

  wants(metric: string): boolean {
    return this.retentionMs.has(metric);
  }

  add(metric: string, labels: Record<string, string>, t: number, v: number): void {
    const keep = this.retentionMs.get(metric);
    if (keep === undefined) return;
    let byLabels = this.series.get(metric);
    if (!byLabels) {
      byLabels = new Map();
      this.series.set(metric, byLabels);
    }
    const key = labelKey(labels);
    let s = byLabels.get(key);
    if (!s) {
      s = { labels, points: [] };
      byLabels.set(key, s);
    }
    s.points.push({ t, v });
    // Keep one point older than the window, so a rate over the window spans all of it.
    const cutoff = t - keep;
    let drop = 0;
    while (drop + 1 < s.points.length && (s.points[drop + 1] as Point).t <= cutoff) drop++;
    if (drop > 0) s.points.splice(0, drop);
  }

  /** Drops series not updated since `before` (targets that went away, devices unplugged). */
  prune(before: number): void {
    for (const byLabels of this.series.values()) {
      for (const [k, s] of byLabels) if (((s.points[s.points.length - 1] as Point | undefined)?.t ?? 0) < before) byLabels.delete(k);
    }
  }

  select(metric: string, matchers: Matcher[]): Array<{ labels: Record<string, string>; points: Point[] }> {
    const out = [];
    for (const s of this.series.get(metric)?.values() ?? []) if (!firstMismatch(matchers, s.labels)) out.push(s);
    return out;
  }

  get size(): number {
    let n = 0;
    for (const m of this.series.values()) n += m.size;
    return n;
  }
}

function aggregate(samples: Sample[], agg: Agg | undefined, by: string[] | undefined): Sample[] {
  if (!agg) return samples;
  const groups = new Map<string, { labels: Record<string, string>; values: number[] }>();
  for (const s of samples) {
    const labels: Record<string, string> = {};
    for (const k of by ?? []) if (s.labels[k] !== undefined) labels[k] = s.labels[k] as string;
    const key = labelKey(labels);
    const g = groups.get(key) ?? { labels, values: [] };
    g.values.push(s.value);
    groups.set(key, g);
  }
  return [...groups.values()].map((g) => {
    const vs = g.values;
    const value =
      agg === 'sum' ? vs.reduce((a, b) => a + b, 0)
      : agg === 'avg' ? vs.reduce((a, b) => a + b, 0) / vs.length
      : agg === 'max' ? Math.max(...vs)
      : Math.min(...vs);
    return { labels: g.labels, value };
  });
}

function inWindow(points: Point[], now: number, windowMs: number): Point[] {
  let i = points.length;
  while (i > 0 && (points[i - 1] as Point).t >= now - windowMs) i--;
  // Include the point just before the window, as the store keeps it, for a full-window rate.
  return points.slice(Math.max(0, i - 1));
}

/** The metrics an expression reads, with the window it reads them over. */
export function reads(e: Expr): Array<{ metric: string; windowMs: number }> {
  switch (e.kind) {
    case 'value':
      return [{ metric: e.metric, windowMs: 0 }];
    case 'rate':
      return [{ metric: e.metric, windowMs: e.windowMs }];
    case 'quantile':
      return [{ metric: `${e.metric}_bucket`, windowMs: e.windowMs }];
    case 'ratio':
      return [...reads(e.numerator), ...reads(e.denominator)];
  }
}

/** Evaluates an expression at `now` (ms). Stale series (no point within 2 cycles) are ignored. */
export function evaluate(e: Expr, store: SeriesStore, now: number, staleMs: number): Sample[] {
  switch (e.kind) {
    case 'value': {
      const out: Sample[] = [];
      for (const s of store.select(e.metric, e.matchers)) {
        const last = s.points[s.points.length - 1];
        if (last && now - last.t <= staleMs) out.push({ labels: s.labels, value: last.v });
      }
      return aggregate(out, e.agg, e.by);
    }
    case 'rate': {
      const out: Sample[] = [];
      for (const s of store.select(e.metric, e.matchers)) {
        const last = s.points[s.points.length - 1];
        if (!last || now - last.t > staleMs) continue;
        const r = counterRate(inWindow(s.points, now, e.windowMs));
        if (r !== null) out.push({ labels: s.labels, value: r });
      }
      return aggregate(out, e.agg, e.by);
    }
    case 'quantile': {
      // Rate of every bucket, summed by (by + le), then the quantile per group.
      const groups = new Map<string, { labels: Record<string, string>; buckets: Map<number, number> }>();
      for (const s of store.select(`${e.metric}_bucket`, e.matchers)) {
        const last = s.points[s.points.length - 1];
        if (!last || now - last.t > staleMs) continue;
        const r = counterRate(inWindow(s.points, now, e.windowMs));
        const le = s.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(s.labels.le);
        if (r === null || Number.isNaN(le)) continue;
        const labels: Record<string, string> = {};
        for (const k of e.by ?? []) if (s.labels[k] !== undefined) labels[k] = s.labels[k] as string;
        const key = labelKey(labels);
        const g = groups.get(key) ?? { labels, buckets: new Map() };
        g.buckets.set(le, (g.buckets.get(le) ?? 0) + r);
        groups.set(key, g);
      }
      const out: Sample[] = [];
      for (const g of groups.values()) {
        const q = histogramQuantile(e.q, [...g.buckets].map(([le, count]) => ({ le, count })));
        if (q !== null && Number.isFinite(q)) out.push({ labels: g.labels, value: q });
      }
      return out;
    }
    case 'ratio': {
      const num = evaluate(e.numerator, store, now, staleMs);
      const den = new Map(evaluate(e.denominator, store, now, staleMs).map((s) => [labelKey(s.labels), s.value]));
      const out: Sample[] = [];
      for (const n of num) {
        const d = den.get(labelKey(n.labels));
        if (d === undefined || d === 0) continue;
        const r = n.value / d;
        out.push({ labels: n.labels, value: e.complement ? 1 - r : r });
      }
      return out;
    }
  }
}
