import type { CycleContext, HostCollector } from '../collector.js';
import { type Family, family } from '../exposition.js';

function zoneName(d: Date): string {
  // Go's time.Zone() abbreviation; Intl gives the same short name ("UTC", "CET", "PST").
  const part = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' })
    .formatToParts(d)
    .find((p) => p.type === 'timeZoneName');
  return part?.value ?? 'UTC';
}

/**
 * node_time_seconds is rendered at scrape time (not from the last cycle), because
 * dashboards compute uptime and clock skew from it.
 */
export const time: HostCollector = {
  name: 'time',
  async collect(ctx: CycleContext): Promise<Family[]> {
    const base = ctx.sys('devices/system/clocksource');
    const out: Family[] = [];
    const avail: Array<{ labels: Record<string, string>; value: number }> = [];
    const current: Array<{ labels: Record<string, string>; value: number }> = [];
    for (let i = 0; ; i++) {
      const a = await ctx.readOptional(`${base}/clocksource${i}/available_clocksource`);
      if (a === null) break;
      for (const cs of a.trim().split(/\s+/).filter(Boolean)) avail.push({ labels: { clocksource: cs, device: String(i) }, value: 1 });
      const c = await ctx.readOptional(`${base}/clocksource${i}/current_clocksource`);
      if (c) current.push({ labels: { clocksource: c.trim(), device: String(i) }, value: 1 });
    }
    out.push(family('node_time_clocksource_available_info', 'Available clocksources read from \'/sys/devices/system/clocksource\'.', 'gauge', avail));
    out.push(family('node_time_clocksource_current_info', 'Current clocksource read from \'/sys/devices/system/clocksource\'.', 'gauge', current));
    return out;
  },
  scrape(): Family[] {
    const now = new Date();
    return [
      family('node_time_seconds', 'System time in seconds since epoch (1970).', 'gauge', now.getTime() / 1000),
      family('node_time_zone_offset_seconds', 'System time zone offset in seconds.', 'gauge', [
        { labels: { time_zone: zoneName(now) }, value: -now.getTimezoneOffset() * 60 },
      ]),
    ];
  },
};
