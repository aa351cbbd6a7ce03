import type { CycleContext, HostCollector } from '../collector.js';
import { type Family, family } from '../exposition.js';

/** total= of a "some" or "full" line in /proc/pressure/<resource>, in seconds. */
export function psiTotal(text: string, kind: 'some' | 'full'): number | null {
  const m = new RegExp(`^${kind} .*total=(\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) / 1e6 : null;
}

const SPECS: Array<{ res: string; kind: 'some' | 'full'; name: string; help: string }> = [
  { res: 'cpu', kind: 'some', name: 'node_pressure_cpu_waiting_seconds_total', help: 'Total time in seconds that processes have waited for CPU time' },
  { res: 'io', kind: 'some', name: 'node_pressure_io_waiting_seconds_total', help: 'Total time in seconds that processes have waited due to IO congestion' },
  { res: 'io', kind: 'full', name: 'node_pressure_io_stalled_seconds_total', help: 'Total time in seconds no process could make progress due to IO congestion' },
  { res: 'memory', kind: 'some', name: 'node_pressure_memory_waiting_seconds_total', help: 'Total time in seconds that processes have waited for memory' },
  { res: 'memory', kind: 'full', name: 'node_pressure_memory_stalled_seconds_total', help: 'Total time in seconds no process could make progress due to memory congestion' },
  { res: 'irq', kind: 'full', name: 'node_pressure_irq_stalled_seconds_total', help: 'Total time in seconds no process could make progress due to IRQ congestion' },
];

/** Pressure stall information (PSI); absent on kernels without CONFIG_PSI, which is not an error. */
export const pressure: HostCollector = {
  name: 'pressure',
  async collect(ctx: CycleContext): Promise<Family[]> {
    const texts = new Map<string, string | null>();
    for (const res of ['cpu', 'io', 'memory', 'irq']) texts.set(res, await ctx.readOptional(ctx.proc('pressure', res)));
    if ([...texts.values()].every((t) => t === null)) return [];
    const out: Family[] = [];
    for (const s of SPECS) {
      const t = texts.get(s.res);
      const v = t ? psiTotal(t, s.kind) : null;
      if (v !== null) out.push(family(s.name, s.help, 'counter', v));
    }
    return out;
  },
};
