import { type CycleContext, type HostCollector, eachLine } from '../collector.js';
import { type Family, family } from '../exposition.js';

/** node_exporter's default --collector.vmstat.fields. */
const FIELDS = /^(oom_kill|pgpg|pswp|pg.*fault).*/;

/** Metric name and help by field name, or null for a field not exported: worked out once. */
const known = new Map<string, { name: string; help: string } | null>();

export const vmstat: HostCollector = {
  name: 'vmstat',
  async collect(ctx: CycleContext): Promise<Family[]> {
    const out: Family[] = [];
    const text = await ctx.read(ctx.proc('vmstat'));
    eachLine(text, (pos, end) => {
      const sp = text.indexOf(' ', pos);
      if (sp > pos && sp < end) {
        const k = text.slice(pos, sp);
        let f = known.get(k);
        if (f === undefined) {
          f = FIELDS.test(k) ? { name: `node_vmstat_${k}`, help: `/proc/vmstat information field ${k}.` } : null;
          if (known.size < 1000) known.set(k, f);
        }
        if (f) {
          const v = text.slice(sp + 1, end).trim();
          if (v !== '') out.push(family(f.name, f.help, 'untyped', Number(v)));
        }
      }
    });
    return out;
  },
};
