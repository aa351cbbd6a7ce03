import { type CycleContext, type HostCollector, fields, lines } from '../collector.js';
import { type Family, family } from '../exposition.js';

/** Sums tx_queue:rx_queue (hex) over all sockets of a /proc/net/udp{,6} table. */
function sumQueues(text: string): { tx: number; rx: number } {
  let tx = 0;
  let rx = 0;
  for (const line of lines(text).slice(1)) {
    const q = fields(line)[4];
    if (!q) continue;
    const [t, r] = q.split(':');
    tx += Number.parseInt(t ?? '0', 16);
    rx += Number.parseInt(r ?? '0', 16);
  }
  return { tx, rx };
}

export const udp_queues: HostCollector = {
  name: 'udp_queues',
  async collect(ctx: CycleContext): Promise<Family[]> {
    const samples = [];
    for (const [ip, file] of [
      ['v4', 'net/udp'],
      ['v6', 'net/udp6'],
    ] as const) {
      const text = await ctx.readOptional(ctx.proc(file));
      if (text === null) continue;
      const { tx, rx } = sumQueues(text);
      samples.push({ labels: { ip, queue: 'tx' }, value: tx }, { labels: { ip, queue: 'rx' }, value: rx });
    }
    return [family('node_udp_queues', 'Number of allocated memory in the kernel for UDP datagrams in bytes.', 'gauge', samples)];
  },
};
