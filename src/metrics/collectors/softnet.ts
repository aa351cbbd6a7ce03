import { type CycleContext, type HostCollector, fields, lines } from '../collector.js';
import type { Family, Sample } from '../exposition.js';

export const softnet: HostCollector = {
  name: 'softnet',
  async collect(ctx: CycleContext): Promise<Family[]> {
    const processed: Sample[] = [];
    const dropped: Sample[] = [];
    const squeezed: Sample[] = [];
    lines(await ctx.read(ctx.proc('net/softnet_stat'))).forEach((line, i) => {
      const f = fields(line).map((h) => Number.parseInt(h, 16));
      // Column 12 (kernel >= 5.10) is the CPU id; older kernels list CPUs in order.
      const labels = { cpu: String(f.length > 12 ? f[12] : i) };
      processed.push({ labels, value: f[0] ?? 0 });
      dropped.push({ labels, value: f[1] ?? 0 });
      squeezed.push({ labels, value: f[2] ?? 0 });
    });
    return [
      { name: 'node_softnet_processed_total', help: 'Number of processed packets', type: 'counter', samples: processed },
      { name: 'node_softnet_dropped_total', help: 'Number of dropped packets', type: 'counter', samples: dropped },
      { name: 'node_softnet_times_squeezed_total', help: 'Number of times processing packets ran out of quota', type: 'counter', samples: squeezed },
    ];
  },
};
