/**
 * Where a tuning experiment reads its objective and guards, one number per interval: the
 * configured Prometheus (an instant PromQL query), or, with no Prometheus, the embedded
 * monitor's series (a monitor expression over what promedic collects and scrapes). The query
 * must come down to one value (`max(...)`, `histogram_quantile(...)` over a `sum`): several
 * series, or none, is an error that stops the experiment, never a guess.
 */
import { type Expr, type SeriesStore, evaluate } from '../monitor/expr.js';
import type { MetricSource } from './experiment.js';

export class SourceError extends Error {}

/**
 * `absent`: the value when the query finds no series at all (0 for an error ratio before the
 * first error), as `or vector(0)` would give; without it, no data is an error.
 */
export function promqlSource(prometheusUrl: string, expr: string, absent?: number): MetricSource {
  // Keep a path prefix (Prometheus behind a proxy at /prometheus).
  const base = `${prometheusUrl.replace(/\/+$/, '')}/api/v1/query`;
  return async (signal) => {
    const url = new URL(base);
    url.searchParams.set('query', expr);
    const res = await fetch(url, { signal });
    const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: unknown } };
    if (body.status !== 'success') throw new SourceError(`query ${expr}: ${body.error ?? `status ${res.status}`}`);
    if (body.data?.resultType === 'scalar') return Number((body.data.result as [number, string])[1]);
    const result = (body.data?.result ?? []) as Array<{ metric: Record<string, string>; value: [number, string] }>;
    if (result.length === 0) {
      if (absent !== undefined) return absent;
      throw new SourceError(`query ${expr}: no data`);
    }
    if (result.length > 1) {
      throw new SourceError(`query ${expr}: ${result.length} series, one value needed (aggregate it, e.g. max(...)); first: ${JSON.stringify(result[0]?.metric)}`);
    }
    return Number((result[0] as { value: [number, string] }).value[1]);
  };
}

export function monitorSource(store: SeriesStore, expr: Expr, staleMs: number, describe = 'monitor expression', absent?: number): MetricSource {
  return async () => {
    const samples = evaluate(expr, store, Date.now(), staleMs);
    if (samples.length === 0) {
      if (absent !== undefined) return absent;
      throw new SourceError(`${describe}: no data`);
    }
    if (samples.length > 1) throw new SourceError(`${describe}: ${samples.length} series, one value needed (aggregate it: agg: max)`);
    return (samples[0] as { value: number }).value;
  };
}
