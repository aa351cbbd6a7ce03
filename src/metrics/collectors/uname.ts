import { machine, release, type, version, hostname } from 'node:os';
import type { CycleContext, HostCollector } from '../collector.js';
import { type Family, family } from '../exposition.js';

/** node_uname_info: the label set community dashboards use to pick a host. */
export const uname: HostCollector = {
  name: 'uname',
  async collect(ctx: CycleContext): Promise<Family[]> {
    const domain = (await ctx.readOptional(ctx.proc('sys/kernel/domainname')))?.trim() ?? '(none)';
    return [
      family('node_uname_info', 'Labeled system information as provided by the uname system call.', 'gauge', [
        {
          labels: {
            sysname: type(),
            release: release(),
            version: version(),
            machine: machine(),
            nodename: hostname(),
            domainname: domain,
          },
          value: 1,
        },
      ]),
    ];
  },
};
