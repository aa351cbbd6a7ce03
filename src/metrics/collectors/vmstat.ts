import { type CycleContext, type HostCollector, fields, lines } from '../collector.js';
import { type Family, family } from '../exposition.js';

/** node_exporter's default --collector.vmstat.fields. */
const FIELDS = /^(oom_kill|pgpg|pswp|pg.*fault).*/;

export const vmstat: HostCollector = {
  name: 'vmstat',
  async collect(ctx: CycleContext): Promise<Family[]> {
    const out: Family[] = [];
    for (const line of lines(await ctx.read(ctx.proc('vmstat')))) {
      const [k, v] = fields(line);
      if (k && v !== undefined && FIELDS.test(k)) {
        out.push(family(`node_vmstat_${k}`, `/proc/vmstat information field ${k}.`, 'untyped', Number(v)));
      }
    }
    return out;
  },
};
