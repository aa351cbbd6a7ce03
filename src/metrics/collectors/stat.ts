import { type CycleContext, type HostCollector, fields, lines } from '../collector.js';
import { type Family, family } from '../exposition.js';

export const stat: HostCollector = {
  name: 'stat',
  async collect(ctx: CycleContext): Promise<Family[]> {
    const out: Family[] = [];
    for (const line of lines(await ctx.read(ctx.proc('stat')))) {
      const f = fields(line);
      const v = Number(f[1]);
      switch (f[0]) {
        case 'intr':
          out.push(family('node_intr_total', 'Total number of interrupts serviced.', 'counter', v));
          break;
        case 'ctxt':
          out.push(family('node_context_switches_total', 'Total number of context switches.', 'counter', v));
          break;
        case 'btime':
          out.push(family('node_boot_time_seconds', 'Node boot time, in unixtime.', 'gauge', v));
          break;
        case 'processes':
          out.push(family('node_forks_total', 'Total number of forks.', 'counter', v));
          break;
        case 'procs_running':
          out.push(family('node_procs_running', 'Number of processes in runnable state.', 'gauge', v));
          break;
        case 'procs_blocked':
          out.push(family('node_procs_blocked', 'Number of processes blocked waiting for I/O to complete.', 'gauge', v));
          break;
      }
    }
    return out;
  },
};
