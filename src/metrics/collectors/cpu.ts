import { type CycleContext, type HostCollector, fields, lines } from '../collector.js';
import type { Family, Sample } from '../exposition.js';

/** Linux reports /proc/stat CPU times in USER_HZ, which is 100 on every Linux ABI. */
const USER_HZ = 100;
const MODES = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'] as const;

export const cpu: HostCollector = {
  name: 'cpu',
  async collect(ctx: CycleContext): Promise<Family[]> {
    const text = await ctx.read(ctx.proc('stat'));
    const seconds: Sample[] = [];
    const guest: Sample[] = [];
    for (const line of lines(text)) {
      if (!line.startsWith('cpu') || line.startsWith('cpu ')) continue;
      const f = fields(line);
      const cpuId = (f[0] as string).slice(3);
      MODES.forEach((mode, i) => {
        const v = f[i + 1];
        if (v !== undefined) seconds.push({ labels: { cpu: cpuId, mode }, value: Number(v) / USER_HZ });
      });
      if (f[9] !== undefined) guest.push({ labels: { cpu: cpuId, mode: 'user' }, value: Number(f[9]) / USER_HZ });
      if (f[10] !== undefined) guest.push({ labels: { cpu: cpuId, mode: 'nice' }, value: Number(f[10]) / USER_HZ });
    }
    if (seconds.length === 0) throw new Error(`no per-CPU lines in ${ctx.proc('stat')}`);
    return [
      { name: 'node_cpu_seconds_total', help: 'Seconds the CPUs spent in each mode.', type: 'counter', samples: seconds },
      {
        name: 'node_cpu_guest_seconds_total',
        help: 'Seconds the CPUs spent in guests (VMs) for each mode.',
        type: 'counter',
        samples: guest,
      },
    ];
  },
};
