import { type CycleContext, type HostCollector, fields, lines } from '../collector.js';
import type { Family, Sample } from '../exposition.js';

/** Per-CPU scheduler statistics; absent on kernels built without CONFIG_SCHEDSTATS, which is not an error. */
export const schedstat: HostCollector = {
  name: 'schedstat',
  async collect(ctx: CycleContext): Promise<Family[]> {
    const text = await ctx.readOptional(ctx.proc('schedstat'));
    if (text === null) return [];
    const running: Sample[] = [];
    const waiting: Sample[] = [];
    const slices: Sample[] = [];
    for (const line of lines(text)) {
      const f = fields(line);
      if (!/^cpu\d+$/.test(f[0] ?? '') || f.length < 10) continue;
      const labels = { cpu: (f[0] as string).slice(3) };
      running.push({ labels, value: Number(f[7]) / 1e9 });
      waiting.push({ labels, value: Number(f[8]) / 1e9 });
      slices.push({ labels, value: Number(f[9]) });
    }
    return [
      { name: 'node_schedstat_running_seconds_total', help: 'Number of seconds CPU spent running a process.', type: 'counter', samples: running },
      { name: 'node_schedstat_waiting_seconds_total', help: 'Number of seconds spent by processing waiting for this CPU.', type: 'counter', samples: waiting },
      { name: 'node_schedstat_timeslices_total', help: 'Number of timeslices executed by CPU.', type: 'counter', samples: slices },
    ];
  },
};
