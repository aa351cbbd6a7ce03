/**
 * promedic's own metrics (the prom-client registry) rendered for a scrape with little garbage.
 *
 * prom-client's Registry.metrics() rebuilds every line of every family on every scrape: label
 * objects, label arrays, bucket objects for each histogram bucket, and the strings joined from
 * them, about 0.5 MB of short-lived objects for promedic's ~60 families. That filled the young
 * generation every five scrapes, so under back-to-back scrapes one scrape in five also paid for
 * a scavenge, which is where the scrape p99 landed.
 *
 * This renderer runs the same collect() callbacks, then reads each metric's series from
 * prom-client's own map and keeps, per series, the text before the value and the last value's
 * text. A family whose series and values did not change since the last scrape is reused as the
 * same string; the output is written into a buffer that is reused once its response is sent.
 * The bytes are exactly those of Registry.metrics() (test/metrics/own.test.ts compares them); a
 * metric this renderer does not know (a summary, default labels, an unknown shape) is rendered
 * by prom-client itself.
 */
import type { Registry } from 'prom-client';
import { escapeHelp } from './exposition.js';

/**
 * The parts of a prom-client 15 metric read here. `hashMap` is prom-client's own (not typed)
 * map from a label hash to the series; its shape is checked before use, and anything else goes
 * through prom-client's own rendering.
 */
interface PromMetric {
  name: string;
  help: string;
  type: string;
  collect?: () => unknown;
  hashMap?: Record<string, unknown>;
  upperBounds?: number[];
}

interface ScalarEntry {
  value: number;
  labels: Record<string, unknown>;
}

interface HistogramEntry {
  labels: Record<string, unknown>;
  bucketValues: Record<string, number>;
  sum: number;
  count: number;
}

/** One rendered line: its text before the value, and the last value with its text. */
interface Line {
  prefix: string;
  value: number;
  text: string;
}

interface Series {
  /** The entry object it was made from (histogram entries are updated in place). */
  entry: unknown;
  lines: Line[];
  /** Render generation in which it was last seen (to drop removed series). */
  seen: number;
}

interface FamilyCache {
  header: string;
  series: Map<string, Series>;
  /** The family's text as last rendered (header and lines, each line ending in a newline). */
  text: string;
  /** The series keys in the order of that text (prom-client renders in its map's order). */
  order: string[];
}

/** A rendered exposition; release() once the response is sent, so its buffer can be reused. */
export interface Rendered {
  body: Buffer;
  release(): void;
}

// As prom-client formats them (lib/util.js, lib/registry.js), so the bytes match.
function valueText(v: number): string {
  if (Number.isNaN(v)) return 'Nan';
  if (!Number.isFinite(v)) return v < 0 ? '-Inf' : '+Inf';
  return `${v}`;
}

function labelPair(name: string, value: unknown): string {
  return `${name}="${typeof value === 'string' ? escapeHelp(value).replace(/"/g, '\\"') : String(value)}"`;
}

function labelText(labels: Record<string, unknown>): string {
  let out = '';
  for (const k of Object.keys(labels)) out += (out ? ',' : '') + labelPair(k, labels[k]);
  return out;
}

function isScalarEntry(e: unknown): e is ScalarEntry {
  return typeof e === 'object' && e !== null && typeof (e as ScalarEntry).value === 'number' && typeof (e as ScalarEntry).labels === 'object';
}

function isHistogramEntry(e: unknown): e is HistogramEntry {
  const h = e as HistogramEntry;
  return typeof e === 'object' && e !== null && typeof h.bucketValues === 'object' && typeof h.count === 'number' && typeof h.sum === 'number' && typeof h.labels === 'object';
}

function line(prefix: string, value: number): Line {
  return { prefix, value, text: `${prefix}${valueText(value)}\n` };
}

/** Updates a line's value; true when its text changed. */
function update(l: Line, value: number): boolean {
  if (l.value === value || (Number.isNaN(l.value) && Number.isNaN(value))) return false;
  l.value = value;
  l.text = `${l.prefix}${valueText(value)}\n`;
  return true;
}

export class OwnExposition {
  private readonly families = new Map<PromMetric, FamilyCache>();
  private generation = 0;
  private spare: Buffer | null = null;
  private capacity = 64 * 1024;

  constructor(private readonly registry: Registry) {}

  /** Every metric's text, in registration order, exactly as Registry.metrics() renders it. */
  async render(): Promise<Rendered> {
    // prom-client types the registry's metrics as plain objects; they are its metric classes.
    const metrics = this.registry.getMetricsAsArray() as unknown as PromMetric[];
    // Default labels are merged into every series by prom-client (promedic sets none).
    const defaults = (this.registry as unknown as { _defaultLabels?: object })._defaultLabels;
    const plain = !defaults || Object.keys(defaults).length === 0;
    const own = metrics.map((m) => plain && this.renderable(m));
    // Collect first, as prom-client's get() does, all started before any is awaited.
    let pending: Promise<unknown>[] | null = null;
    for (let i = 0; i < metrics.length; i++) {
      const m = metrics[i] as PromMetric;
      if (!own[i] || typeof m.collect !== 'function') continue;
      const v = m.collect();
      if (v instanceof Promise) (pending ??= []).push(v);
    }
    if (pending) await Promise.all(pending);
    const texts: string[] = [];
    const gen = ++this.generation;
    let cached = 0;
    for (let i = 0; i < metrics.length; i++) {
      const m = metrics[i] as PromMetric;
      const text = own[i] ? this.family(m, gen) : null;
      if (this.families.has(m)) cached++;
      // prom-client's own text has no final newline; its families are joined with blank lines.
      texts.push(text ?? `${await this.registry.getSingleMetricAsString(m.name)}\n`);
    }
    // Forget metrics no longer registered.
    if (cached !== this.families.size) for (const m of this.families.keys()) if (!metrics.includes(m)) this.families.delete(m);
    return this.write(texts);
  }

  /** Whether this renderer can read the metric (else prom-client renders it). */
  private renderable(m: PromMetric): boolean {
    if (m.type !== 'counter' && m.type !== 'gauge' && m.type !== 'histogram') return false;
    if (typeof m.hashMap !== 'object' || m.hashMap === null) return false;
    return m.type !== 'histogram' || Array.isArray(m.upperBounds);
  }

  /** The family's text, reused when nothing in it changed; null when a series has an unknown shape. */
  private family(m: PromMetric, gen: number): string | null {
    let fam = this.families.get(m);
    if (!fam) {
      fam = { header: `# HELP ${escapeHelp(m.name)} ${escapeHelp(m.help)}\n# TYPE ${escapeHelp(m.name)} ${m.type}\n`, series: new Map(), text: '', order: [] };
      this.families.set(m, fam);
      fam.text = fam.header;
    }
    const map = m.hashMap as Record<string, unknown>;
    let changed = false;
    let count = 0;
    for (const key in map) {
      const entry = map[key];
      if (fam.order[count] !== key) changed = true;
      count++;
      let s = fam.series.get(key);
      if (m.type === 'histogram') {
        if (!isHistogramEntry(entry)) return null;
        if (!s || s.entry !== entry) {
          s = { entry, lines: this.histogramLines(m, entry), seen: gen };
          fam.series.set(key, s);
          changed = true;
        } else if (this.updateHistogram(m, s, entry)) changed = true;
      } else {
        if (!isScalarEntry(entry)) return null;
        if (!s) {
          s = { entry, lines: [line(`${m.name}${bracket(labelText(entry.labels))} `, entry.value)], seen: gen };
          fam.series.set(key, s);
          changed = true;
        } else if (update(s.lines[0] as Line, entry.value)) changed = true;
        s.entry = entry;
      }
      s.seen = gen;
    }
    if (count !== fam.series.size) {
      for (const [key, s] of fam.series) if (s.seen !== gen) fam.series.delete(key);
      changed = true;
    }
    if (changed) {
      let text = fam.header;
      fam.order.length = 0;
      for (const key in map) {
        fam.order.push(key);
        for (const l of (fam.series.get(key) as Series).lines) text += l.text;
      }
      fam.text = text;
    }
    return fam.text;
  }

  private histogramLines(m: PromMetric, e: HistogramEntry): Line[] {
    const shared = labelText(e.labels);
    const withLe = (le: string) => `${m.name}_bucket{${labelPair('le', le)}${shared ? `,${shared}` : ''}} `;
    const lines: Line[] = [];
    let acc = 0;
    for (const ub of m.upperBounds as number[]) {
      acc += e.bucketValues[ub] as number;
      lines.push(line(withLe(String(ub)), acc));
    }
    lines.push(line(withLe('+Inf'), e.count), line(`${m.name}_sum${bracket(shared)} `, e.sum), line(`${m.name}_count${bracket(shared)} `, e.count));
    return lines;
  }

  private updateHistogram(m: PromMetric, s: Series, e: HistogramEntry): boolean {
    const lines = s.lines;
    const n = (m.upperBounds as number[]).length;
    // count and sum change with every observation; when neither did, no bucket did.
    if ((lines[n + 2] as Line).value === e.count && (lines[n + 1] as Line).value === e.sum) return false;
    let acc = 0;
    for (let i = 0; i < n; i++) {
      acc += e.bucketValues[(m.upperBounds as number[])[i] as number] as number;
      update(lines[i] as Line, acc);
    }
    update(lines[n] as Line, e.count);
    update(lines[n + 1] as Line, e.sum);
    update(lines[n + 2] as Line, e.count);
    return true;
  }

  /** The families joined as prom-client joins them, written into a reused buffer. */
  private write(texts: string[]): Rendered {
    let buf = this.spare && this.spare.length >= this.capacity ? this.spare : Buffer.allocUnsafeSlow(this.capacity);
    this.spare = null;
    let off = 0;
    for (let i = 0; i < texts.length; i++) {
      const t = texts[i] as string;
      const need = t.length * 3 + 1;
      if (off + need > buf.length) {
        this.capacity = Math.max(buf.length * 2, off + need);
        const bigger = Buffer.allocUnsafeSlow(this.capacity);
        buf.copy(bigger, 0, 0, off);
        buf = bigger;
      }
      if (i > 0) buf[off++] = 0x0a;
      off += buf.write(t, off, 'utf8');
    }
    if (texts.length === 0) buf[off++] = 0x0a;
    let released = false;
    const whole = buf;
    return {
      body: buf.subarray(0, off),
      release: () => {
        if (released) return;
        released = true;
        if (!this.spare || whole.length > this.spare.length) this.spare = whole;
      },
    };
  }
}

function bracket(labels: string): string {
  return labels ? `{${labels}}` : '';
}
