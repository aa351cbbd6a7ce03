import { type CycleContext, type HostCollector, fields, lines } from '../collector.js';
import { type Family, family } from '../exposition.js';
import type { Sample } from '../exposition.js';

/** /proc/interrupts: per CPU and interrupt, with node_exporter's type/info/devices labels. */
export function parseInterrupts(text: string): Sample[] {
  const ls = text.split('\n').filter((l) => l.trim());
  const cpus = fields(ls[0] ?? '').length;
  const out: Sample[] = [];
  for (const line of ls.slice(1)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const type = line.slice(0, colon).trim();
    const rest = fields(line.slice(colon + 1));
    const counts = rest.slice(0, cpus);
    if (counts.some((c) => !/^\d+$/.test(c))) continue; // ERR/MIS lines have one total, not per CPU
    const tail = rest.slice(cpus);
    // Numbered IRQs: "<chip> <hwirq-trigger> <devices...>"; named ones (NMI, LOC): a description.
    const numbered = /^\d+$/.test(type);
    const info = numbered ? tail.slice(0, 2).join(' ') : tail.join(' ');
    const devices = numbered ? tail.slice(2).join(' ') : '';
    counts.forEach((c, i) => out.push({ labels: { cpu: String(i), type, info, devices }, value: Number(c) }));
  }
  return out;
}

export const interrupts: HostCollector = {
  name: 'interrupts',
  async collect(ctx: CycleContext): Promise<Family[]> {
    return [family('node_interrupts_total', 'Interrupt details.', 'counter', parseInterrupts(await ctx.read(ctx.proc('interrupts'))))];
  },
};
