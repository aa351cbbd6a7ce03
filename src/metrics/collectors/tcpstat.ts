import type { CycleContext, HostCollector } from '../collector.js';
import { type Family, family } from '../exposition.js';

/** Kernel TCP state numbers (include/net/tcp_states.h) -> node_exporter's state names. */
const STATES: Record<number, string> = {
  1: 'established',
  2: 'syn_sent',
  3: 'syn_recv',
  4: 'fin_wait1',
  5: 'fin_wait2',
  6: 'time_wait',
  7: 'close',
  8: 'close_wait',
  9: 'last_ack',
  10: 'listen',
  11: 'closing',
};

/** Counts sockets by state in a /proc/net/tcp{,6} table without splitting every line into fields. */
export function countStates(text: string, counts: Map<string, number>): void {
  let pos = text.indexOf('\n') + 1; // skip the header
  while (pos > 0 && pos < text.length) {
    const end = text.indexOf('\n', pos);
    const line = text.slice(pos, end < 0 ? undefined : end);
    // "  sl  local_address rem_address   st ..." -> the 4th whitespace-separated field.
    const m = /^\s*\d+:\s+\S+\s+\S+\s+([0-9A-Fa-f]{2})/.exec(line);
    if (m) {
      const name = STATES[Number.parseInt(m[1] as string, 16)];
      if (name) counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    if (end < 0) break;
    pos = end + 1;
  }
}

// A line is 150 bytes (tcp6: 178): a short read is the end of the table.
const READ = { offload: true, maxRecordBytes: 256 } as const;

export const tcpstat: HostCollector = {
  name: 'tcpstat',
  prefetch(ctx: CycleContext): void {
    void ctx.readOptional(ctx.proc('net/tcp'), READ);
    void ctx.readOptional(ctx.proc('net/tcp6'), READ);
  },
  async collect(ctx: CycleContext): Promise<Family[]> {
    const counts = new Map<string, number>(Object.values(STATES).map((s) => [s, 0]));
    // Generating each table costs the kernel 0.5-7 ms (it walks the whole socket hash table,
    // sized by memory, not by sockets): read on the thread pool, off the event loop.
    const [v4, v6] = await Promise.all([ctx.read(ctx.proc('net/tcp'), READ), ctx.readOptional(ctx.proc('net/tcp6'), READ)]);
    countStates(v4, counts);
    if (v6) countStates(v6, counts);
    return [
      family(
        'node_tcp_connection_states',
        'Number of connection states.',
        'gauge',
        [...counts].map(([state, value]) => ({ labels: { state }, value })),
      ),
    ];
  },
};
