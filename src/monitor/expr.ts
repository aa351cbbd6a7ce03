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
import { type Point, histogramQuantile } from './stats.js';

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
  /** labelKey(labels), computed once and shared by every rule reading this (memoised) sample. */
  key?: string;
}

/** A canonical key of a label set (sorted; separators that cannot occur in UTF-8 text). */
export function labelKey(labels: Record<string, string>, extra?: Record<string, string>): string {
  const merged = extra ? { ...labels, ...extra } : labels;
  const keys = Object.keys(merged);
  if (keys.length > 1) keys.sort();
  let out = '';
  for (const k of keys) out += `${k}\u0000${merged[k]}\u0001`;
  return out;
}

/**
 * Points per series, kept only for the metrics that rules read and only as long as the
 * longest window that reads them.
 */
export class SeriesStore {
  private readonly series = new Map<string, Map<string, { labels: Record<string, string>; points: Point[]; offset: number; last: number }>>();
  private readonly retentionMs = new Map<string, number>();
  private readonly counters = new Set<string>();

  /**
   * Declares that `metric` is read over windows up to `windowMs`; `counter` when it is read
   * with rate(): its points are then stored reset-corrected (a restart adds the value it had),
   * so any window's increase is last minus first.
   */
  want(metric: string, windowMs: number, counter = false): void {
    this.retentionMs.set(metric, Math.max(this.retentionMs.get(metric) ?? 0, windowMs));
    if (counter) this.counters.add(metric);
  }

  wants(metric: string): boolean {
    return this.retentionMs.has(metric);
  }

  /**
   * Adds a point. `rawKey`, when given, identifies the series (the scraped label text plus the
   * scrape's extra labels), saving a sort and a concatenation per sample.
   */
  add(metric: string, labels: Record<string, string>, t: number, v: number, extra?: Record<string, string>, rawKey?: string): void {
    const keep = this.retentionMs.get(metric);
    if (keep === undefined) return;
    let byLabels = this.series.get(metric);
    if (!byLabels) {
      byLabels = new Map();
      this.series.set(metric, byLabels);
    }
    const key = rawKey ?? labelKey(labels, extra);
    let s = byLabels.get(key);
    if (!s) {
      s = { labels: extra ? { ...labels, ...extra } : labels, points: [], offset: 0, last: v };
      byLabels.set(key, s);
    }
    let stored = v;
    if (this.counters.has(metric)) {
      if (v < s.last) s.offset += s.last; // the counter restarted from zero
      s.last = v;
      stored = v + s.offset;
    }
    s.points.push({ t, v: stored });
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

/** The values of the `by` labels, joined: enough to tell groups apart within one expression. */
function groupKey(labels: Record<string, string>, by: string[] | undefined): string {
  if (!by || by.length === 0) return '';
  let out = '';
  for (const k of by) out += `${labels[k] ?? '\u0002'}\u0000`;
  return out;
}

function aggregate(samples: Sample[], agg: Agg | undefined, by: string[] | undefined): Sample[] {
  if (!agg) return samples;
  const groups = new Map<string, { labels: Record<string, string>; values: number[] }>();
  for (const s of samples) {
    const key = groupKey(s.labels, by);
    let g = groups.get(key);
    if (!g) {
      const labels: Record<string, string> = {};
      for (const k of by ?? []) if (s.labels[k] !== undefined) labels[k] = s.labels[k] as string;
      g = { labels, values: [] };
      groups.set(key, g);
    }
    g.values.push(s.value);
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

/** Index of the first point of the window, including the one just before it (for a full-window rate). */
function windowStart(points: Point[], now: number, windowMs: number): number {
  // Binary search for the first point at or after the window's start.
  let lo = 0;
  let hi = points.length;
  const from = now - windowMs;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((points[mid] as Point).t < from) lo = mid + 1;
    else hi = mid;
  }
  return Math.max(0, lo - 1);
}

/** Per-second rate from reset-corrected points: (last - first) / elapsed. */
function storedRate(points: Point[], from: number): number | null {
  const first = points[from];
  const last = points[points.length - 1];
  if (!first || !last || last.t <= first.t) return null;
  return (last.v - first.v) / ((last.t - first.t) / 1000);
}

/** A structural key: equal expressions evaluate to the same vector in one evaluation. */
export function exprKey(e: Expr): string {
  if (e.kind === 'ratio') return `ratio(${exprKey(e.numerator)};${exprKey(e.denominator)};${e.complement})`;
  const win = e.kind === 'value' ? '' : e.windowMs;
  const q = e.kind === 'quantile' ? e.q : '';
  return `${e.kind}(${e.metric}{${e.matchers.map((m) => m.text).join(',')}}[${win}]${q};${e.agg ?? ''} by ${(e.by ?? []).join(',')})`;
}

/** The metrics an expression reads, with the window it reads them over. */
export function reads(e: Expr): Array<{ metric: string; windowMs: number; counter: boolean }> {
  switch (e.kind) {
    case 'value':
      return [{ metric: e.metric, windowMs: 0, counter: false }];
    case 'rate':
      return [{ metric: e.metric, windowMs: e.windowMs, counter: true }];
    case 'quantile':
      return [{ metric: `${e.metric}_bucket`, windowMs: e.windowMs, counter: true }];
    case 'ratio':
      return [...reads(e.numerator), ...reads(e.denominator)];
  }
}

/**
 * Evaluates an expression at `now` (ms). Stale series (no point within `staleMs`) are ignored.
 * `memo` shares results between equal (sub)expressions within one evaluation round.
 */
export function evaluate(e: Expr, store: SeriesStore, now: number, staleMs: number, memo?: Map<string, Sample[]>): Sample[] {
  if (!memo) return evaluateOnce(e, store, now, staleMs, undefined);
  const key = exprKey(e);
  let v = memo.get(key);
  if (!v) {
    v = evaluateOnce(e, store, now, staleMs, memo);
    memo.set(key, v);
  }
  return v;
}

function evaluateOnce(e: Expr, store: SeriesStore, now: number, staleMs: number, memo: Map<string, Sample[]> | undefined): Sample[] {
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
        const r = storedRate(s.points, windowStart(s.points, now, e.windowMs));
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
        const r = storedRate(s.points, windowStart(s.points, now, e.windowMs));
        const le = s.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(s.labels.le);
        if (r === null || Number.isNaN(le)) continue;
        const key = groupKey(s.labels, e.by);
        let g = groups.get(key);
        if (!g) {
          const labels: Record<string, string> = {};
          for (const k of e.by ?? []) if (s.labels[k] !== undefined) labels[k] = s.labels[k] as string;
          g = { labels, buckets: new Map() };
          groups.set(key, g);
        }
        g.buckets.set(le, (g.buckets.get(le) ?? 0) + r);
      }
      const out: Sample[] = [];
      for (const g of groups.values()) {
        const q = histogramQuantile(e.q, [...g.buckets].map(([le, count]) => ({ le, count })));
        if (q !== null && Number.isFinite(q)) out.push({ labels: g.labels, value: q });
      }
      return out;
    }
    case 'ratio': {
      const num = evaluate(e.numerator, store, now, staleMs, memo);
      const den = new Map(evaluate(e.denominator, store, now, staleMs, memo).map((s) => [labelKey(s.labels), s.value]));
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
