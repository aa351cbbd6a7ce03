import { type CycleContext, type HostCollector, fields, lines } from '../collector.js';
import type { Family, Sample } from '../exposition.js';

const RECEIVE = ['bytes', 'packets', 'errs', 'drop', 'fifo', 'frame', 'compressed', 'multicast'];
const TRANSMIT = ['bytes', 'packets', 'errs', 'drop', 'fifo', 'colls', 'carrier', 'compressed'];

/** Per-interface traffic counters from /proc/net/dev, with node_exporter's names. */
export const netdev: HostCollector = {
  name: 'netdev',
  async collect(ctx: CycleContext): Promise<Family[]> {
    const text = await ctx.read(ctx.proc('net/dev'));
    const by = new Map<string, Sample[]>();
    const push = (name: string, s: Sample) => {
      const arr = by.get(name);
      if (arr) arr.push(s);
      else by.set(name, [s]);
    };
    for (const line of lines(text)) {
      const colon = line.indexOf(':');
      if (colon < 0 || line.includes('|')) continue;
      const device = line.slice(0, colon).trim();
      if (ctx.opts.netdev.deviceExclude.test(device)) continue;
      const f = fields(line.slice(colon + 1));
      RECEIVE.forEach((k, i) => push(`node_network_receive_${k}_total`, { labels: { device }, value: Number(f[i]) }));
      TRANSMIT.forEach((k, i) => push(`node_network_transmit_${k}_total`, { labels: { device }, value: Number(f[i + 8]) }));
    }
    return [...by].map(([name, samples]) => {
      const [, dir, stat] = /^node_network_(receive|transmit)_(\w+)_total$/.exec(name) as RegExpExecArray;
      return { name, help: `Network device statistic ${dir}_${stat}.`, type: 'counter' as const, samples };
    });
  },
};
