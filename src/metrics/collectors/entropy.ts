import type { CycleContext, HostCollector } from '../collector.js';
import { type Family, family } from '../exposition.js';

export const entropy: HostCollector = {
  name: 'entropy',
  async collect(ctx: CycleContext): Promise<Family[]> {
    const avail = await ctx.read(ctx.proc('sys/kernel/random/entropy_avail'));
    const out = [family('node_entropy_available_bits', 'Bits of available entropy.', 'gauge', Number(avail.trim()))];
    const pool = await ctx.readOptional(ctx.proc('sys/kernel/random/poolsize'));
    if (pool !== null) out.push(family('node_entropy_pool_size_bits', 'Bits of entropy pool.', 'gauge', Number(pool.trim())));
    return out;
  },
};
