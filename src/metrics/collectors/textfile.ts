import { readdir, stat as statFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CycleContext, HostCollector } from '../collector.js';
import { type Family, type MetricType, type Sample, family, isValidLabelName, isValidMetricName } from '../exposition.js';

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

/**
 * Parses one textfile (Prometheus text format, as node_exporter's textfile collector accepts:
 * counters, gauges and untyped samples; no timestamps). Throws with the line number.
 */
export function parseTextfile(text: string): Family[] {
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
        if (t !== 'counter' && t !== 'gauge' && t !== 'untyped') throw new Error(`${where}: unsupported type "${t}" for ${name}`);
        get(name).type = t as MetricType;
      }
      return;
    }
    const m = SAMPLE_RE.exec(line);
    if (!m) throw new Error(`${where}: not a sample: ${line.slice(0, 80)}`);
    if (m[5]) throw new Error(`${where}: timestamps are not allowed in textfiles`);
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
    const sample: Sample = { labels, value: parseValue(m[4] as string) };
    get(m[1] as string).samples.push(sample);
  });
  return [...fams.values()];
}

/**
 * node_exporter's textfile collector: every *.prom file in `collection.textfile.directory`
 * (cron jobs and scripts write them), with node_textfile_mtime_seconds per file and
 * node_textfile_scrape_error 1 when any file cannot be read or parsed.
 */
export const textfile: HostCollector = {
  name: 'textfile',
  async collect(ctx: CycleContext): Promise<Family[]> {
    const dir = ctx.opts.textfileDirectory;
    const out: Family[] = [];
    let error = 0;
    const mtimes: Sample[] = [];
    if (dir) {
      let names: string[] = [];
      try {
        names = (await readdir(dir)).filter((n) => n.endsWith('.prom')).sort();
      } catch {
        error = 1;
      }
      for (const name of names) {
        const path = join(dir, name);
        try {
          const [text, st] = await Promise.all([ctx.read(path), statFile(path)]);
          out.push(...parseTextfile(text).filter((f) => !f.name.startsWith('node_textfile_')));
          mtimes.push({ labels: { file: path }, value: Math.floor(st.mtimeMs / 1000) });
        } catch {
          error = 1;
        }
      }
    }
    out.push(family('node_textfile_mtime_seconds', 'Unixtime mtime of textfiles successfully read.', 'gauge', mtimes));
    out.push(family('node_textfile_scrape_error', '1 if there was an error opening or reading a file, 0 otherwise', 'gauge', error));
    return out;
  },
};
