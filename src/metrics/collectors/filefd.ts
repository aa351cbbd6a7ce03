import { type CycleContext, type HostCollector, fields } from '../collector.js';
import { type Family, family } from '../exposition.js';

export const filefd: HostCollector = {
  name: 'filefd',
  async collect(ctx: CycleContext): Promise<Family[]> {
    const f = fields(await ctx.read(ctx.proc('sys/fs/file-nr')));
    return [
      family('node_filefd_allocated', 'File descriptor statistics: allocated.', 'gauge', Number(f[0])),
      family('node_filefd_maximum', 'File descriptor statistics: maximum.', 'gauge', Number(f[2])),
    ];
  },
};
