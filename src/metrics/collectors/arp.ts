import { type CycleContext, type HostCollector, fields, lines } from '../collector.js';
import { type Family, family } from '../exposition.js';

export const arp: HostCollector = {
  name: 'arp',
  async collect(ctx: CycleContext): Promise<Family[]> {
    const counts = new Map<string, number>();
    for (const line of lines(await ctx.read(ctx.proc('net/arp'))).slice(1)) {
      const dev = fields(line)[5];
      if (dev) counts.set(dev, (counts.get(dev) ?? 0) + 1);
    }
    return [
      family('node_arp_entries', 'ARP entries by device', 'gauge', [...counts].map(([device, value]) => ({ labels: { device }, value }))),
    ];
  },
};
