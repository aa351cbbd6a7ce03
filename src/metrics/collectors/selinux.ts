import type { CycleContext, HostCollector } from '../collector.js';
import { type Family, family } from '../exposition.js';

export const selinux: HostCollector = {
  name: 'selinux',
  async collect(ctx: CycleContext): Promise<Family[]> {
    const enforce = await ctx.readOptional(ctx.sys('fs/selinux/enforce'));
    if (enforce === null) return [family('node_selinux_enabled', 'SELinux is enabled, 1 is true, 0 is false', 'gauge', 0)];
    return [
      family('node_selinux_enabled', 'SELinux is enabled, 1 is true, 0 is false', 'gauge', 1),
      family('node_selinux_current_mode', 'SELinux current mode: 1 enforcing, 0 permissive', 'gauge', Number(enforce.trim())),
    ];
  },
};
