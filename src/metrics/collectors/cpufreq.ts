import { readdirSync } from 'node:fs';
import type { CycleContext, HostCollector } from '../collector.js';
import type { Family, Sample } from '../exposition.js';

/** sysfs cpufreq file (kHz) -> metric (Hz). Virtual machines usually have none: no data, not an error. */
const FILES: Array<[string, string, string]> = [
  ['cpuinfo_cur_freq', 'node_cpu_frequency_hertz', 'Current CPU thread frequency in hertz.'],
  ['cpuinfo_max_freq', 'node_cpu_frequency_max_hertz', 'Maximum CPU thread frequency in hertz.'],
  ['cpuinfo_min_freq', 'node_cpu_frequency_min_hertz', 'Minimum CPU thread frequency in hertz.'],
  ['scaling_cur_freq', 'node_cpu_scaling_frequency_hertz', 'Current scaled CPU thread frequency in hertz.'],
  ['scaling_max_freq', 'node_cpu_scaling_frequency_max_hertz', 'Maximum scaled CPU thread frequency in hertz.'],
  ['scaling_min_freq', 'node_cpu_scaling_frequency_min_hertz', 'Minimum scaled CPU thread frequency in hertz.'],
];

export const cpufreq: HostCollector = {
  name: 'cpufreq',
  async collect(ctx: CycleContext): Promise<Family[]> {
    const base = ctx.sys('devices/system/cpu');
    const cpus = readdirSync(base).filter((d) => /^cpu\d+$/.test(d));
    const samples = FILES.map(() => [] as Sample[]);
    for (const c of cpus) {
      const labels = { cpu: c.slice(3) };
      for (let i = 0; i < FILES.length; i++) {
        const v = ctx.readNow(`${base}/${c}/cpufreq/${(FILES[i] as (typeof FILES)[number])[0]}`);
        if (v !== null && v.trim() !== '') (samples[i] as Sample[]).push({ labels, value: Number(v.trim()) * 1000 });
      }
    }
    return FILES.map(([, name, help], i) => ({ name, help, type: 'gauge' as const, samples: samples[i] as Sample[] }));
  },
};
