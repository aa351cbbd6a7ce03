import { type CycleContext, type HostCollector, fields, lines } from '../collector.js';
import { type Family, family } from '../exposition.js';

const STAT_FIELDS = ['found', 'invalid', 'ignore', 'insert', 'insert_failed', 'drop', 'early_drop', 'search_restart'];

/** Connection tracking table usage; no data (not an error) when the nf_conntrack module is not loaded. */
export const conntrack: HostCollector = {
  name: 'conntrack',
  async collect(ctx: CycleContext): Promise<Family[]> {
    const count = await ctx.readOptional(ctx.proc('sys/net/netfilter/nf_conntrack_count'));
    const max = await ctx.readOptional(ctx.proc('sys/net/netfilter/nf_conntrack_max'));
    if (count === null || max === null) return [];
    const out = [
      family('node_nf_conntrack_entries', 'Number of currently allocated flow entries for connection tracking.', 'gauge', Number(count.trim())),
      family('node_nf_conntrack_entries_limit', 'Maximum size of connection tracking table.', 'gauge', Number(max.trim())),
    ];
    const stat = await ctx.readOptional(ctx.proc('net/stat/nf_conntrack'));
    if (stat) {
      const ls = lines(stat);
      const header = fields(ls[0] ?? '');
      const sums = new Map<string, number>();
      for (const l of ls.slice(1)) {
        const v = fields(l);
        header.forEach((h, i) => sums.set(h, (sums.get(h) ?? 0) + Number.parseInt(v[i] ?? '0', 16)));
      }
      for (const f of STAT_FIELDS) {
        const v = sums.get(f);
        if (v !== undefined) out.push(family(`node_nf_conntrack_stat_${f}`, `Number of conntrack ${f} events.`, 'gauge', v));
      }
    }
    return out;
  },
};
