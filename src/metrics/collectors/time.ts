import { readFileSync } from 'node:fs';
import type { CycleContext, HostCollector } from '../collector.js';
import { type Family, family } from '../exposition.js';

interface PosixTz {
  std: string;
  stdOffsetSeconds: number;
  dst: string | null;
}

/**
 * The POSIX TZ rule in the footer of a TZif (v2+) file, e.g. "CET-1CEST,M3.5.0,M10.5.0/3".
 * POSIX offsets count west of UTC, so "CET-1" is UTC+1.
 */
export function parsePosixTz(rule: string): PosixTz | null {
  const m = /^(<[^>]+>|[A-Za-z]{3,})([+-]?\d{1,2}(?::\d{2}){0,2})(<[^>]+>|[A-Za-z]{3,})?/.exec(rule.trim());
  if (!m) return null;
  const [h = '0', min = '0', sec = '0'] = (m[2] as string).replace(/^[+-]/, '').split(':');
  const sign = (m[2] as string).startsWith('-') ? 1 : -1;
  const strip = (n: string) => n.replace(/^<|>$/g, '');
  return {
    std: strip(m[1] as string),
    stdOffsetSeconds: sign * (Number(h) * 3600 + Number(min) * 60 + Number(sec)),
    dst: m[3] ? strip(m[3]) : null,
  };
}

let tzRule: PosixTz | null | undefined;

/**
 * Go's time.Zone() abbreviation ("UTC", "CET", "CEST"), from the TZif footer of the local
 * zone file. Not Intl: its ICU data costs about 7 MB of resident memory once touched.
 */
function zoneName(d: Date): string {
  if (tzRule === undefined) {
    tzRule = null;
    const tz = process.env.TZ;
    const file = tz && !tz.includes('..') ? (tz.startsWith('/') ? tz : `/usr/share/zoneinfo/${tz.replace(/^:/, '')}`) : '/etc/localtime';
    try {
      const text = readFileSync(file, 'latin1');
      const footer = text.slice(text.lastIndexOf('\n', text.length - 2) + 1);
      tzRule = parsePosixTz(footer);
    } catch {
      tzRule = tz === 'UTC' || tz === '' ? { std: 'UTC', stdOffsetSeconds: 0, dst: null } : null;
    }
  }
  const offset = -d.getTimezoneOffset() * 60;
  if (tzRule) return tzRule.dst && offset !== tzRule.stdOffsetSeconds ? tzRule.dst : tzRule.std;
  return offset === 0 ? 'UTC' : `UTC${offset > 0 ? '+' : '-'}${Math.abs(offset / 3600)}`;
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
