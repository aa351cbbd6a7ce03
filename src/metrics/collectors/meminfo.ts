import { type CycleContext, type HostCollector, eachLine } from '../collector.js';
import { type Family, family } from '../exposition.js';

/**
 * Every /proc/meminfo field as node_memory_<Field>_bytes (kB fields converted to bytes),
 * or node_memory_<Field> for counts (HugePages_*), with "(anon)" spelled "_anon" — exactly
 * node_exporter's names, so its dashboards and alert rules work unchanged.
 */
interface Field {
  name: string;
  help: string;
  scale: number;
}

/** Metric name and help by the text before a line's value ("MemTotal:", kB or not): the same ~50 each cycle. */
const known = new Map<string, Field | null>();

function field(line: string): Field | null {
  const m = /^([^:]+):\s+(\d+)\s*(kB)?$/.exec(line);
  if (!m) return null;
  const key = (m[1] as string).replace(/\(/g, '_').replace(/\)/g, '');
  const name = m[3] ? `node_memory_${key}_bytes` : `node_memory_${key}`;
  return { name, help: `Memory information field ${m[3] ? `${key}_bytes` : key}.`, scale: m[3] ? 1024 : 1 };
}

export const meminfo: HostCollector = {
  name: 'meminfo',
  async collect(ctx: CycleContext): Promise<Family[]> {
    const out: Family[] = [];
    const text = await ctx.read(ctx.proc('meminfo'));
    eachLine(text, (pos, end) => {
      const colon = text.indexOf(':', pos);
      if (colon > pos && colon < end) {
        // "Key:   123 kB": the value's digits, and whether a unit follows them.
        let v = colon + 1;
        while (v < end && text.charCodeAt(v) === 32) v++;
        let d = v;
        while (d < end && text.charCodeAt(d) >= 48 && text.charCodeAt(d) <= 57) d++;
        const kb = text.endsWith('kB', end);
        const key = `${text.slice(pos, colon)}${kb ? ' kB' : ''}`;
        let f = known.get(key);
        if (f === undefined) {
          f = field(text.slice(pos, end).trim());
          if (known.size < 1000) known.set(key, f);
        }
        if (f && d > v) out.push(family(f.name, f.help, 'gauge', Number(text.slice(v, d)) * f.scale));
      }
    });
    if (out.length === 0) throw new Error(`no fields in ${ctx.proc('meminfo')}`);
    return out;
  },
};
