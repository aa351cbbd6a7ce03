import { statfsSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { type CycleContext, type HostCollector, fields, lines } from '../collector.js';
import type { Family, Sample } from '../exposition.js';

/** /proc/mounts escapes space, tab, newline and backslash as octal. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}

interface Mount {
  device: string;
  mountpoint: string;
  fstype: string;
  readonly: boolean;
}

export function parseMounts(text: string): Mount[] {
  const out: Mount[] = [];
  for (const line of lines(text)) {
    const f = fields(line);
    if (f.length < 4) continue;
    const opts = (f[3] as string).split(',');
    out.push({
      device: unescapeMount(f[0] as string),
      mountpoint: unescapeMount(f[1] as string),
      fstype: f[2] as string,
      readonly: opts.includes('ro'),
    });
  }
  return out;
}

/**
 * Filesystems whose statfs(2) answers from counters in memory, never waiting on a device or a
 * server: read synchronously. Anything else (nfs, cifs, fuse...) can hang when its server does,
 * so it is read on the thread pool with a timeout, as node_exporter does with its stuck-mount
 * tracking.
 */
const LOCAL = /^(ext[234]|xfs|btrfs|tmpfs|ramfs|vfat|exfat|f2fs|zfs|jfs|reiserfs|ntfs3?|hfsplus|udf|nilfs2|bcachefs|erofs)$/;

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`statfs timed out after ${ms}ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

/**
 * Sizes of mounted filesystems via statfs(2) — no `df` child process. Mounts are read from
 * PID 1's view (as node_exporter does) so a containerised promedic with the host's /proc
 * reports the host's filesystems.
 */
export const filesystem: HostCollector = {
  name: 'filesystem',
  async collect(ctx: CycleContext): Promise<Family[]> {
    const text = (await ctx.readOptional(ctx.proc('1/mounts'))) ?? (await ctx.read(ctx.proc('mounts')));
    const { mountPointsExclude, fsTypesExclude, timeoutMs } = ctx.opts.filesystem;
    const seen = new Set<string>();
    const mounts = parseMounts(text).filter((m) => {
      if (mountPointsExclude.test(m.mountpoint) || fsTypesExclude.test(m.fstype)) return false;
      const key = `${m.device}\0${m.mountpoint}\0${m.fstype}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    const size: Sample[] = [];
    const free: Sample[] = [];
    const avail: Sample[] = [];
    const files: Sample[] = [];
    const filesFree: Sample[] = [];
    const ro: Sample[] = [];
    const deviceError: Sample[] = [];
    await Promise.all(
      mounts.map(async (m) => {
        const labels = { device: m.device, fstype: m.fstype, mountpoint: m.mountpoint };
        ro.push({ labels, value: m.readonly ? 1 : 0 });
        try {
          const path = join(ctx.opts.rootfs, m.mountpoint);
          const s = LOCAL.test(m.fstype) ? statfsSync(path) : await withTimeout(statfs(path), timeoutMs);
          size.push({ labels, value: s.blocks * s.bsize });
          free.push({ labels, value: s.bfree * s.bsize });
          avail.push({ labels, value: s.bavail * s.bsize });
          files.push({ labels, value: s.files });
          filesFree.push({ labels, value: s.ffree });
          deviceError.push({ labels, value: 0 });
        } catch {
          deviceError.push({ labels, value: 1 });
        }
      }),
    );
    return [
      { name: 'node_filesystem_size_bytes', help: 'Filesystem size in bytes.', type: 'gauge', samples: size },
      { name: 'node_filesystem_free_bytes', help: 'Filesystem free space in bytes.', type: 'gauge', samples: free },
      {
        name: 'node_filesystem_avail_bytes',
        help: 'Filesystem space available to non-root users in bytes.',
        type: 'gauge',
        samples: avail,
      },
      { name: 'node_filesystem_files', help: 'Filesystem total file nodes.', type: 'gauge', samples: files },
      { name: 'node_filesystem_files_free', help: 'Filesystem total free file nodes.', type: 'gauge', samples: filesFree },
      { name: 'node_filesystem_readonly', help: 'Filesystem read-only status.', type: 'gauge', samples: ro },
      {
        name: 'node_filesystem_device_error',
        help: 'Whether an error occurred while getting statistics for the given device.',
        type: 'gauge',
        samples: deviceError,
      },
    ];
  },
};
