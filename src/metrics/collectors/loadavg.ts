import { type CycleContext, type HostCollector, fields } from '../collector.js';
import { type Family, family } from '../exposition.js';

export const loadavg: HostCollector = {
  name: 'loadavg',
  async collect(ctx: CycleContext): Promise<Family[]> {
    const f = fields(await ctx.read(ctx.proc('loadavg')));
    if (f.length < 3) throw new Error(`unexpected ${ctx.proc('loadavg')}: ${f.join(' ')}`);
    return [
      family('node_load1', '1m load average.', 'gauge', Number(f[0])),
      family('node_load5', '5m load average.', 'gauge', Number(f[1])),
      family('node_load15', '15m load average.', 'gauge', Number(f[2])),
    ];
  },
};
