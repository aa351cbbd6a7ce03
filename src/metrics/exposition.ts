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

const NEEDS_ESCAPE = /[\\\n"]/;

function escapeLabelValue(s: string): string {
  // Most values need no escaping: test once rather than run three replacements on each.
  return NEEDS_ESCAPE.test(s) ? s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"') : s;
}

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

function renderLabels(labels: Record<string, string> | undefined): string {
  if (!labels) return '';
  // Label names in sorted order, as client_golang writes them. Collectors mostly build their
  // label objects in that order already, so the key array and its sort are the rare case.
  let n = 0;
  let sorted = true;
  let prev = '';
  for (const k in labels) {
    if (n > 0 && k < prev) sorted = false;
    prev = k;
    n++;
  }
  if (n === 0) return '';
  let out = '{';
  if (sorted) {
    for (const k in labels) {
      if (out.length > 1) out += ',';
      out += k + '="' + escapeLabelValue(labels[k] as string) + '"';
    }
  } else {
    const keys = Object.keys(labels).sort();
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as string;
      if (i > 0) out += ',';
      out += k + '="' + escapeLabelValue(labels[k] as string) + '"';
    }
  }
  return out + '}';
}

/** HELP and TYPE lines by family name: the same few hundred strings every cycle. */
const headers = new Map<string, { help: string; type: MetricType; text: string }>();

function header(f: Family): string {
  const h = headers.get(f.name);
  if (h && h.help === f.help && h.type === f.type) return h.text;
  const text = `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`;
  if (headers.size < 10_000) headers.set(f.name, { help: f.help, type: f.type, text });
  return text;
}

/**
 * Renders families sorted by name (as node_exporter does), merging families of the same
 * name and dropping exact duplicate series, which Prometheus would reject (the first wins).
 */
export function render(families: Iterable<Family>): string {
  const byName = new Map<string, Family>();
  for (const f of families) {
    if (f.samples.length === 0) continue;
    const prev = byName.get(f.name);
    if (prev) byName.set(f.name, { ...prev, samples: prev.samples.concat(f.samples) });
    else byName.set(f.name, f);
  }
  const names = [...byName.keys()].sort();
  let out = '';
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const name of names) {
    const f = byName.get(name) as Family;
    out += header(f);
    seen.clear();
    lines.length = 0;
    for (const s of f.samples) {
      const l = renderLabels(s.labels);
      if (f.samples.length > 1) {
        if (seen.has(l)) continue;
        seen.add(l);
      }
      lines.push(name + l + ' ' + formatValue(s.value) + '\n');
    }
    if (lines.length > 1) lines.sort();
    for (let i = 0; i < lines.length; i++) out += lines[i] as string;
  }
  return out;
}

/** Helper for collectors: one family with one or more samples. */
export function family(name: string, help: string, type: MetricType, samples: Sample[] | number): Family {
  return { name, help, type, samples: typeof samples === 'number' ? [{ value: samples }] : samples };
}
