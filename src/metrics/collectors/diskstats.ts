import { type CycleContext, type HostCollector, fields, lines } from '../collector.js';
import type { Family, MetricType, Sample } from '../exposition.js';

/** /proc/diskstats always counts 512-byte sectors, whatever the device's block size. */
const SECTOR = 512;

/** Column (0-based, after major/minor/name) -> node_exporter metric; `scale` converts ms and sectors. */
const COLUMNS: Array<{ col: number; name: string; help: string; type: MetricType; scale: number }> = [
  { col: 0, name: 'node_disk_reads_completed_total', help: 'The total number of reads completed successfully.', type: 'counter', scale: 1 },
  { col: 1, name: 'node_disk_reads_merged_total', help: 'The total number of reads merged.', type: 'counter', scale: 1 },
  { col: 2, name: 'node_disk_read_bytes_total', help: 'The total number of bytes read successfully.', type: 'counter', scale: SECTOR },
  { col: 3, name: 'node_disk_read_time_seconds_total', help: 'The total number of seconds spent by all reads.', type: 'counter', scale: 0.001 },
  { col: 4, name: 'node_disk_writes_completed_total', help: 'The total number of writes completed successfully.', type: 'counter', scale: 1 },
  { col: 5, name: 'node_disk_writes_merged_total', help: 'The number of writes merged.', type: 'counter', scale: 1 },
  { col: 6, name: 'node_disk_written_bytes_total', help: 'The total number of bytes written successfully.', type: 'counter', scale: SECTOR },
  { col: 7, name: 'node_disk_write_time_seconds_total', help: 'This is the total number of seconds spent by all writes.', type: 'counter', scale: 0.001 },
  { col: 8, name: 'node_disk_io_now', help: 'The number of I/Os currently in progress.', type: 'gauge', scale: 1 },
  { col: 9, name: 'node_disk_io_time_seconds_total', help: 'Total seconds spent doing I/Os.', type: 'counter', scale: 0.001 },
  { col: 10, name: 'node_disk_io_time_weighted_seconds_total', help: 'The weighted # of seconds spent doing I/Os.', type: 'counter', scale: 0.001 },
  { col: 11, name: 'node_disk_discards_completed_total', help: 'The total number of discards completed successfully.', type: 'counter', scale: 1 },
  { col: 12, name: 'node_disk_discards_merged_total', help: 'The total number of discards merged.', type: 'counter', scale: 1 },
  { col: 13, name: 'node_disk_discarded_sectors_total', help: 'The total number of sectors discarded successfully.', type: 'counter', scale: 1 },
  { col: 14, name: 'node_disk_discard_time_seconds_total', help: 'This is the total number of seconds spent by all discards.', type: 'counter', scale: 0.001 },
  { col: 15, name: 'node_disk_flush_requests_total', help: 'The total number of flush requests completed successfully.', type: 'counter', scale: 1 },
  { col: 16, name: 'node_disk_flush_requests_time_seconds_total', help: 'This is the total number of seconds spent by all flush requests.', type: 'counter', scale: 0.001 },
];

/** udev's view of a device (model, serial...), when /run/udev/data is readable. */
function udevProps(text: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  if (!text) return out;
  for (const line of lines(text)) {
    if (!line.startsWith('E:')) continue;
    const eq = line.indexOf('=');
    if (eq > 2) out[line.slice(2, eq)] = line.slice(eq + 1);
  }
  return out;
}

export const diskstats: HostCollector = {
  name: 'diskstats',
  async collect(ctx: CycleContext): Promise<Family[]> {
    const text = await ctx.read(ctx.proc('diskstats'));
    const samples = COLUMNS.map(() => [] as Sample[]);
    const info: Sample[] = [];
    const pending: Array<Promise<void>> = [];
    for (const line of lines(text)) {
      const f = fields(line);
      const device = f[2];
      if (!device || ctx.opts.diskstats.deviceExclude.test(device)) continue;
      const stats = f.slice(3);
      const labels = { device };
      COLUMNS.forEach((c, i) => {
        const raw = stats[c.col];
        if (raw !== undefined) (samples[i] as Sample[]).push({ labels, value: Number(raw) * c.scale });
      });
      const major = f[0] as string;
      const minor = f[1] as string;
      pending.push(
        ctx.readOptional(`${ctx.opts.rootfs.replace(/\/$/, '')}/run/udev/data/b${major}:${minor}`).then((u) => {
          const p = udevProps(u);
          info.push({
            labels: {
              device,
              major,
              minor,
              path: p.ID_PATH ?? '',
              wwn: p.ID_WWN ?? '',
              model: p.ID_MODEL ?? '',
              serial: p.ID_SERIAL_SHORT ?? '',
              revision: p.ID_REVISION ?? '',
            },
            value: 1,
          });
        }),
      );
    }
    await Promise.all(pending);
    const out: Family[] = COLUMNS.map((c, i) => ({ name: c.name, help: c.help, type: c.type, samples: samples[i] as Sample[] }));
    out.push({ name: 'node_disk_info', help: 'Info of /sys/block/<block_device>.', type: 'gauge', samples: info });
    return out;
  },
};
