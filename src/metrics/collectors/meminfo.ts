import { type CycleContext, type HostCollector, lines } from '../collector.js';
import { type Family, family } from '../exposition.js';

/**
 * Every /proc/meminfo field as node_memory_<Field>_bytes (kB fields converted to bytes),
 * or node_memory_<Field> for counts (HugePages_*), with "(anon)" spelled "_anon" — exactly
 * node_exporter's names, so its dashboards and alert rules work unchanged.
 */
export const meminfo: HostCollector = {
  name: 'meminfo',
  async collect(ctx: CycleContext): Promise<Family[]> {
    const out: Family[] = [];
    for (const line of lines(await ctx.read(ctx.proc('meminfo')))) {
      const m = /^([^:]+):\s+(\d+)\s*(kB)?$/.exec(line);
      if (!m) continue;
      const key = (m[1] as string).replace(/\(/g, '_').replace(/\)/g, '');
      const value = Number(m[2]) * (m[3] ? 1024 : 1);
      const name = m[3] ? `node_memory_${key}_bytes` : `node_memory_${key}`;
      out.push(family(name, `Memory information field ${m[3] ? `${key}_bytes` : key}.`, 'gauge', value));
    }
    if (out.length === 0) throw new Error(`no fields in ${ctx.proc('meminfo')}`);
    return out;
  },
};
