import { readFile } from 'node:fs/promises';
import { type CycleContext, type HostCollector, fields, lines } from '../collector.js';
import { type Family, family } from '../exposition.js';

let pageSize: number | null = null;

/** The kernel page size, read once from our own smaps (no getconf child process). */
async function getPageSize(procfs: string): Promise<number> {
  if (pageSize !== null) return pageSize;
  try {
    const text = await readFile(`${procfs}/self/smaps`, 'utf8');
    const m = /^KernelPageSize:\s+(\d+) kB/m.exec(text);
    pageSize = m ? Number(m[1]) * 1024 : 4096;
  } catch {
    pageSize = 4096;
  }
  return pageSize;
}

/** Parses "TCP: inuse 4 orphan 0 tw 2 alloc 4 mem 194" style lines into node_sockstat_* families. */
export function parseSockstat(text: string, page: number): Family[] {
  const out: Family[] = [];
  for (const line of lines(text)) {
    const f = fields(line);
    const proto = (f[0] ?? '').replace(/:$/, '');
    if (!proto) continue;
    for (let i = 1; i + 1 < f.length; i += 2) {
      const key = f[i] as string;
      const value = Number(f[i + 1]);
      if (proto === 'sockets' && key === 'used') {
        out.push(family('node_sockstat_sockets_used', 'Number of IPv4 sockets in use.', 'gauge', value));
        continue;
      }
      out.push(family(`node_sockstat_${proto}_${key}`, `Number of ${proto} sockets in state ${key}.`, 'gauge', value));
      if (key === 'mem') {
        out.push(family(`node_sockstat_${proto}_mem_bytes`, `Number of ${proto} sockets in state mem_bytes.`, 'gauge', value * page));
      }
    }
  }
  return out;
}

export const sockstat: HostCollector = {
  name: 'sockstat',
  async collect(ctx: CycleContext): Promise<Family[]> {
    const page = await getPageSize(ctx.opts.procfs);
    const out = parseSockstat(await ctx.read(ctx.proc('net/sockstat')), page);
    const v6 = await ctx.readOptional(ctx.proc('net/sockstat6'));
    if (v6) out.push(...parseSockstat(v6, page));
    return out;
  },
};
