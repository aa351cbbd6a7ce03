import { type Family, type Sample, isValidLabelName, isValidMetricName } from './exposition.js';

const SAMPLE_RE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?\s*$/;
const LABEL_RE = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y;

function unescapeLabel(s: string): string {
  return s.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

function parseValue(s: string): number {
  if (s === '+Inf' || s === 'Inf') return Number.POSITIVE_INFINITY;
  if (s === '-Inf') return Number.NEGATIVE_INFINITY;
  if (s === 'NaN') return Number.NaN;
  const n = Number(s);
  if (s.trim() === '' || Number.isNaN(n)) throw new Error(`invalid value "${s}"`);
  return n;
}

export interface ParseOptions {
  /** 'reject' (textfiles) or 'ignore' (scraped targets: promedic stamps samples itself). */
  timestamps: 'reject' | 'ignore';
  /** Accepted TYPE values; histogram and summary samples are kept as their flat series. */
  types: string[];
}

/**
 * Parses the Prometheus text exposition format (0.0.4) into flat families: a histogram's
 * _bucket/_sum/_count lines stay separate series, as Prometheus stores them. Throws with the
 * line number on the first malformed line.
 *
 * Hand-written on purpose: the one npm parser for this format (parse-prometheus-text-format
 * 1.1.1) drops the labels of histogram buckets and merges histograms of different label sets.
 */
export function parseExposition(text: string, opts: ParseOptions = { timestamps: 'ignore', types: ['counter', 'gauge', 'untyped', 'histogram', 'summary'] }): Family[] {
  const fams = new Map<string, Family>();
  const get = (name: string): Family => {
    let f = fams.get(name);
    if (!f) {
      f = { name, help: `Metric read from a textfile.`, type: 'untyped', samples: [] };
      fams.set(name, f);
    }
    return f;
  };
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    const where = `line ${i + 1}`;
    if (!line) return;
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)\s*(.*)$/.exec(line);
      if (!m) return; // an ordinary comment
      const name = m[2] as string;
      if (!isValidMetricName(name)) throw new Error(`${where}: invalid metric name "${name}"`);
      if (m[1] === 'HELP') get(name).help = (m[3] as string).replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
      else {
        const t = m[3] as string;
        if (!opts.types.includes(t)) throw new Error(`${where}: unsupported type "${t}" for ${name}`);
        if (t === 'counter' || t === 'gauge' || t === 'untyped') get(name).type = t;
      }
      return;
    }
    const m = SAMPLE_RE.exec(line);
    if (!m) throw new Error(`${where}: not a sample: ${line.slice(0, 80)}`);
    if (m[5] && opts.timestamps === 'reject') throw new Error(`${where}: timestamps are not allowed in textfiles`);
    const labels: Record<string, string> = {};
    const body = m[3] ?? '';
    LABEL_RE.lastIndex = 0;
    while (LABEL_RE.lastIndex < body.length) {
      const start = LABEL_RE.lastIndex;
      const lm = LABEL_RE.exec(body);
      if (!lm || lm.index !== start) throw new Error(`${where}: invalid labels {${body.slice(0, 80)}}`);
      const k = lm[1] as string;
      if (!isValidLabelName(k)) throw new Error(`${where}: invalid label name "${k}"`);
      labels[k] = unescapeLabel(lm[2] as string);
      if (lm[3] === '') break;
    }
    const sample: Sample = { labels, value: parseValue(m[4] as string), raw: body };
    get(m[1] as string).samples.push(sample);
  });
  return [...fams.values()];
}

