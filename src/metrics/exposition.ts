/**
 * A small, allocation-light renderer for the Prometheus text exposition format (0.0.4),
 * used for the host families that are collected in the background and served from cache.
 * promedic's own metrics are prom-client metrics, rendered by own.ts; these are plain data produced by collectors.
 */
export type MetricType = 'counter' | 'gauge' | 'untyped';

export interface Sample {
  labels?: Record<string, string>;
  value: number;
  /** The label text as scraped (`{a="1",b="2"}`), when parsed: a ready-made series key. */
  raw?: string;
}

export interface Family {
  name: string;
  help: string;
  type: MetricType;
  samples: Sample[];
}

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function isValidMetricName(name: string): boolean {
  return NAME_RE.test(name);
}

export function isValidLabelName(name: string): boolean {
  return LABEL_RE.test(name) && !name.startsWith('__');
}

export function escapeHelp(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeLabelValue(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

function renderLabels(labels: Record<string, string> | undefined): string {
  if (!labels) return '';
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  keys.sort();
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string;
    if (i > 0) out += ',';
    out += `${k}="${escapeLabelValue(labels[k] as string)}"`;
  }
  return `${out}}`;
}

/**
 * Renders families sorted by name (as node_exporter does), merging families of the same
 * name and dropping exact duplicate series, which Prometheus would reject.
 */
export function render(families: Iterable<Family>): string {
  const byName = new Map<string, Family>();
  for (const f of families) {
    if (f.samples.length === 0) continue;
    const prev = byName.get(f.name);
    if (prev) prev.samples = prev.samples.concat(f.samples);
    else byName.set(f.name, { ...f });
  }
  const names = [...byName.keys()].sort();
  const parts: string[] = [];
  for (const name of names) {
    const f = byName.get(name) as Family;
    parts.push(`# HELP ${name} ${escapeHelp(f.help)}\n# TYPE ${name} ${f.type}\n`);
    const seen = new Set<string>();
    const lines: string[] = [];
    for (const s of f.samples) {
      const l = renderLabels(s.labels);
      if (seen.has(l)) continue;
      seen.add(l);
      lines.push(`${name}${l} ${formatValue(s.value)}\n`);
    }
    lines.sort();
    parts.push(lines.join(''));
  }
  return parts.join('');
}

/** Helper for collectors: one family with one or more samples. */
export function family(name: string, help: string, type: MetricType, samples: Sample[] | number): Family {
  return { name, help, type, samples: typeof samples === 'number' ? [{ value: samples }] : samples };
}
