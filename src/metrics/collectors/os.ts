import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { CycleContext, HostCollector } from '../collector.js';
import { type Family, family } from '../exposition.js';

/** Parses os-release(5): KEY=value lines, values optionally quoted. */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(raw.trim());
    if (!m) continue;
    let v = m[2] as string;
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1);
    out[m[1] as string] = v.replace(/\\(["'$`\\])/g, '$1');
  }
  return out;
}

/**
 * The file's identity and the families made from it. os-release changes with an upgrade, not
 * between cycles: like node_exporter's os collector, the file is parsed again only when its
 * modification time (or size, or inode: a package replaces it by rename) changes, and a cycle
 * costs one stat(2) instead of a thread-pool read.
 */
let cached: { path: string; stamp: string; families: Family[] } | null = null;

function stampOf(path: string): string | null {
  try {
    const st = statSync(path, { bigint: true });
    return `${st.ino}:${st.size}:${st.mtimeNs}`;
  } catch {
    return null;
  }
}

export const os: HostCollector = {
  name: 'os',
  async collect(ctx: CycleContext): Promise<Family[]> {
    const primary = join(ctx.opts.rootfs, 'etc/os-release');
    const fallback = join(ctx.opts.rootfs, 'usr/lib/os-release');
    let path = primary;
    let stamp = stampOf(primary);
    if (stamp === null) {
      path = fallback;
      stamp = stampOf(fallback);
    }
    if (stamp !== null && cached?.path === path && cached.stamp === stamp) return cached.families;
    const text = (await ctx.readOptional(primary)) ?? (await ctx.read(fallback));
    const families = osFamilies(parseOsRelease(text));
    cached = stamp === null ? null : { path, stamp, families };
    return families;
  },
};

function osFamilies(r: Record<string, string>): Family[] {
  const g = (k: string) => r[k] ?? '';
  const versionId = Number.parseFloat(g('VERSION_ID'));
  const out = [
    family('node_os_info', 'A metric with a constant \'1\' value labeled by build_id, id, id_like, image_id, image_version, name, pretty_name, variant, variant_id, version, version_codename, version_id.', 'gauge', [
      {
        labels: {
          build_id: g('BUILD_ID'),
          id: g('ID'),
          id_like: g('ID_LIKE'),
          image_id: g('IMAGE_ID'),
          image_version: g('IMAGE_VERSION'),
          name: g('NAME'),
          pretty_name: g('PRETTY_NAME'),
          variant: g('VARIANT'),
          variant_id: g('VARIANT_ID'),
          version: g('VERSION'),
          version_codename: g('VERSION_CODENAME'),
          version_id: g('VERSION_ID'),
        },
        value: 1,
      },
    ]),
  ];
  if (Number.isFinite(versionId)) {
    out.push(
      family('node_os_version', 'Metric containing the major.minor part of the OS version.', 'gauge', [
        { labels: { id: g('ID'), id_like: g('ID_LIKE'), name: g('NAME') }, value: versionId },
      ]),
    );
  }
  return out;
}
