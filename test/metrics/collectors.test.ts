/**
 * Every collector against the real /proc and /sys of this machine: the values must be
 * plausible and counters must not go backwards between two cycles.
 */
import { cpus } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { type CollectorOptions, CycleContext, type HostCollector } from '../../src/metrics/collector.js';
import { COLLECTORS } from '../../src/metrics/collectors/index.js';
import { parseTextfile } from '../../src/metrics/collectors/textfile.js';
import type { Family } from '../../src/metrics/exposition.js';
import { collectorOptions } from '../../src/metrics/host.js';
import { tempDir } from '../helpers/index.js';

const opts: CollectorOptions = collectorOptions(loadConfig({ env: {} }));
const byName = new Map(COLLECTORS.map((c) => [c.name, c]));

async function run(name: string, o: CollectorOptions = opts): Promise<Map<string, Family>> {
  const c = byName.get(name) as HostCollector;
  const fams = await c.collect(new CycleContext(o));
  if (c.scrape) fams.push(...c.scrape());
  return new Map(fams.map((f) => [f.name, f]));
}

function value(fams: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const f = fams.get(name);
  if (!f) throw new Error(`missing family ${name}; have ${[...fams.keys()].join(', ')}`);
  const s = f.samples.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
  if (!s) throw new Error(`no sample of ${name} with ${JSON.stringify(labels)}`);
  return s.value;
}

function sampleKey(labels: Record<string, string> | undefined): string {
  return JSON.stringify(Object.entries(labels ?? {}).sort());
}

/** Every sample of every counter family in `b` is >= the same sample in `a`. */
function expectMonotonic(a: Map<string, Family>, b: Map<string, Family>): void {
  for (const [name, fb] of b) {
    if (fb.type !== 'counter') continue;
    const fa = a.get(name);
    if (!fa) continue;
    const before = new Map(fa.samples.map((s) => [sampleKey(s.labels), s.value]));
    for (const s of fb.samples) {
      const prev = before.get(sampleKey(s.labels));
      if (prev !== undefined) expect(s.value, `${name}${sampleKey(s.labels)}`).toBeGreaterThanOrEqual(prev);
    }
  }
}

describe('host collectors on the real /proc', () => {
  it('every registered collector has a unique name and returns valid families', async () => {
    expect(new Set(COLLECTORS.map((c) => c.name)).size).toBe(COLLECTORS.length);
    for (const c of COLLECTORS) {
      const fams = await c.collect(new CycleContext(opts));
      for (const f of fams) {
        expect(f.name, c.name).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/);
        for (const s of f.samples) expect(Number.isNaN(s.value), `${f.name} is NaN`).toBe(false);
      }
    }
  });

  it('cpu: one idle counter per CPU, monotonic across two cycles', async () => {
    const a = await run('cpu');
    await new Promise((r) => setTimeout(r, 200));
    const b = await run('cpu');
    const idle = (b.get('node_cpu_seconds_total') as Family).samples.filter((s) => s.labels?.mode === 'idle');
    expect(idle).toHaveLength(cpus().length);
    expectMonotonic(a, b);
    const total = (b.get('node_cpu_seconds_total') as Family).samples.reduce((n, s) => n + s.value, 0);
    expect(total).toBeGreaterThan(0);
  });

  it('stat: boot time in the past, forks and context switches counting up', async () => {
    const a = await run('stat');
    const b = await run('stat');
    const boot = value(b, 'node_boot_time_seconds');
    expect(boot).toBeLessThan(Date.now() / 1000);
    expect(boot).toBeGreaterThan(Date.now() / 1000 - 10 * 365 * 86400);
    expect(value(b, 'node_procs_running')).toBeGreaterThanOrEqual(1);
    expect(value(b, 'node_forks_total')).toBeGreaterThan(0);
    expectMonotonic(a, b);
  });

  it('loadavg: three non-negative averages', async () => {
    const f = await run('loadavg');
    for (const n of ['node_load1', 'node_load5', 'node_load15']) expect(value(f, n)).toBeGreaterThanOrEqual(0);
  });

  it('meminfo: MemAvailable <= MemTotal, kB converted to bytes, counts left unitless', async () => {
    const f = await run('meminfo');
    const total = value(f, 'node_memory_MemTotal_bytes');
    expect(total).toBeGreaterThan(64 * 1024 * 1024);
    expect(total % 1024).toBe(0);
    expect(value(f, 'node_memory_MemAvailable_bytes')).toBeLessThanOrEqual(total);
    expect(value(f, 'node_memory_MemFree_bytes')).toBeLessThanOrEqual(total);
    expect(f.has('node_memory_HugePages_Total')).toBe(true);
    expect(f.has('node_memory_Active_anon_bytes')).toBe(true);
  });

  it('filesystem: the root filesystem with avail <= free <= size, pseudo filesystems filtered', async () => {
    const f = await run('filesystem');
    const size = f.get('node_filesystem_size_bytes') as Family;
    const root = size.samples.find((s) => s.labels?.mountpoint === '/');
    expect(root, 'root filesystem').toBeDefined();
    const labels = root?.labels as Record<string, string>;
    expect(value(f, 'node_filesystem_avail_bytes', labels)).toBeLessThanOrEqual(value(f, 'node_filesystem_free_bytes', labels));
    expect(value(f, 'node_filesystem_free_bytes', labels)).toBeLessThanOrEqual(value(f, 'node_filesystem_size_bytes', labels));
    expect(value(f, 'node_filesystem_device_error', labels)).toBe(0);
    for (const s of size.samples) {
      expect(s.labels?.fstype).not.toMatch(/^(proc|sysfs|cgroup2?|devpts|devtmpfs)$/);
      expect(s.labels?.mountpoint).not.toMatch(/^\/(proc|sys|dev)($|\/)/);
    }
  });

  it('diskstats: bytes are whole sectors and counters are monotonic', async () => {
    const a = await run('diskstats');
    const b = await run('diskstats');
    const read = b.get('node_disk_read_bytes_total') as Family;
    expect(read.samples.length).toBeGreaterThan(0);
    for (const s of read.samples) expect(s.value % 512).toBe(0);
    expect((b.get('node_disk_info') as Family).samples.length).toBe(read.samples.length);
    expectMonotonic(a, b);
  });

  it('netdev and netclass: every interface has traffic counters and link properties', async () => {
    const a = await run('netdev');
    const b = await run('netdev');
    expect((b.get('node_network_receive_bytes_total') as Family).samples.length).toBeGreaterThan(0);
    expect((b.get('node_network_transmit_errs_total') as Family).samples.length).toBeGreaterThan(0);
    expect((b.get('node_network_receive_drop_total') as Family).samples.length).toBeGreaterThan(0);
    expect((b.get('node_network_receive_bytes_total') as Family).samples.some((s) => s.labels?.device === 'lo')).toBe(false);
    expectMonotonic(a, b);
    const c = await run('netclass');
    expect((c.get('node_network_info') as Family).samples.some((s) => s.labels?.device === 'lo')).toBe(true);
    expect(value(c, 'node_network_mtu_bytes', { device: 'lo' })).toBeGreaterThan(0);
  });

  it('uname, os and time: identity labels and a current clock', async () => {
    const u = (await run('uname')).get('node_uname_info') as Family;
    expect(u.samples[0]?.labels).toMatchObject({ sysname: 'Linux', nodename: expect.any(String), release: expect.any(String) });
    const o = await run('os');
    expect((o.get('node_os_info') as Family).samples[0]?.labels?.id).toMatch(/\w+/);
    const t = await run('time');
    expect(Math.abs(value(t, 'node_time_seconds') - Date.now() / 1000)).toBeLessThan(5);
  });

  it('os: reads os-release again only when the file changes, and falls back to /usr/lib/os-release', async () => {
    const dir = tempDir('os-release-');
    const root = dir.path;
    mkdirSync(join(root, 'etc'), { recursive: true });
    mkdirSync(join(root, 'usr/lib'), { recursive: true });
    const o = { ...opts, rootfs: root };
    const info = async (): Promise<Record<string, string> | undefined> => ((await run('os', o)).get('node_os_info') as Family).samples[0]?.labels;
    writeFileSync(join(root, 'usr/lib/os-release'), 'ID=fallback\nVERSION_ID="1"\n');
    expect((await info())?.id).toBe('fallback');
    writeFileSync(join(root, 'etc/os-release'), 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n');
    expect(await info()).toMatchObject({ id: 'debian', version_id: '12', pretty_name: 'Debian GNU/Linux 12 (bookworm)' });
    const first = await run('os', o);
    expect(await run('os', o)).toEqual(first);
    // An upgrade replaces the file: a new size and time.
    writeFileSync(join(root, 'etc/os-release'), 'ID=debian\nVERSION_ID="13"\nPRETTY_NAME="Debian GNU/Linux 13 (trixie)"\n');
    expect(await info()).toMatchObject({ version_id: '13', pretty_name: 'Debian GNU/Linux 13 (trixie)' });
    expect(value(await run('os', o), 'node_os_version', { id: 'debian' })).toBe(13);
    dir.cleanup();
  });

  it('pressure, tcpstat, netstat, sockstat, filefd: plausible socket and file figures', async () => {
    const p = await run('pressure');
    if (p.size > 0) expect(value(p, 'node_pressure_cpu_waiting_seconds_total')).toBeGreaterThanOrEqual(0);
    const t = await run('tcpstat');
    expect((t.get('node_tcp_connection_states') as Family).samples.map((s) => s.labels?.state)).toContain('listen');
    const n = await run('netstat');
    expect(value(n, 'node_netstat_Tcp_CurrEstab')).toBeGreaterThanOrEqual(0);
    const s = await run('sockstat');
    expect(value(s, 'node_sockstat_sockets_used')).toBeGreaterThan(0);
    expect(value(s, 'node_sockstat_TCP_mem_bytes') % 1024).toBe(0);
    const f = await run('filefd');
    expect(value(f, 'node_filefd_allocated')).toBeLessThanOrEqual(value(f, 'node_filefd_maximum'));
  });

  it('processes: counts this very process and its threads', async () => {
    const p = await run('processes');
    expect(value(p, 'node_processes_pids')).toBeGreaterThanOrEqual(1);
    expect(value(p, 'node_processes_threads')).toBeGreaterThanOrEqual(value(p, 'node_processes_pids'));
    expect(value(p, 'node_processes_max_processes')).toBeGreaterThan(1);
  });

  it('vmstat, softnet, interrupts, entropy, udp_queues, arp: counters present', async () => {
    expect(value(await run('vmstat'), 'node_vmstat_pgfault')).toBeGreaterThan(0);
    expect((await run('softnet')).get('node_softnet_processed_total')?.samples.length).toBe(cpus().length);
    expect((await run('interrupts')).get('node_interrupts_total')?.samples.length).toBeGreaterThan(0);
    expect(value(await run('entropy'), 'node_entropy_available_bits')).toBeGreaterThanOrEqual(0);
    expect((await run('udp_queues')).get('node_udp_queues')?.samples.length).toBeGreaterThanOrEqual(2);
    expect((await run('arp')).has('node_arp_entries')).toBe(true);
  });

  it('optional kernel features (schedstat, cpufreq, conntrack, selinux) give data or nothing, never an error', async () => {
    for (const n of ['schedstat', 'cpufreq', 'conntrack', 'selinux']) await expect(run(n)).resolves.toBeInstanceOf(Map);
  });

  it('a collector reports failure, not garbage, when its source is missing', async () => {
    const dir = tempDir();
    try {
      await expect(run('meminfo', { ...opts, procfs: dir.path })).rejects.toThrow(/ENOENT/);
      await expect(run('cpu', { ...opts, procfs: dir.path })).rejects.toThrow();
    } finally {
      dir.cleanup();
    }
  });
});

describe('textfile collector', () => {
  let dir: { path: string; cleanup: () => void };
  beforeAll(() => {
    dir = tempDir();
  });
  afterAll(() => dir.cleanup());

  it('exports *.prom files with their mtime, and flags a broken file without dropping the good ones', async () => {
    const d = join(dir.path, 'textfile');
    mkdirSync(d);
    writeFileSync(
      join(d, 'backup.prom'),
      '# HELP backup_last_success_timestamp_seconds Last good backup.\n# TYPE backup_last_success_timestamp_seconds gauge\nbackup_last_success_timestamp_seconds{job="db",path="a \\"b\\""} 1.7e9\n',
    );
    writeFileSync(join(d, 'ignored.txt'), 'not_read 1\n');
    const good = await run('textfile', { ...opts, textfileDirectory: d });
    expect(value(good, 'node_textfile_scrape_error')).toBe(0);
    expect(value(good, 'backup_last_success_timestamp_seconds', { job: 'db', path: 'a "b"' })).toBe(1.7e9);
    expect(good.get('backup_last_success_timestamp_seconds')?.type).toBe('gauge');
    expect(good.has('not_read')).toBe(false);
    expect((good.get('node_textfile_mtime_seconds') as Family).samples).toHaveLength(1);

    writeFileSync(join(d, 'broken.prom'), 'this is { not a metric\n');
    const bad = await run('textfile', { ...opts, textfileDirectory: d });
    expect(value(bad, 'node_textfile_scrape_error')).toBe(1);
    expect(bad.has('backup_last_success_timestamp_seconds')).toBe(true);
  });

  it('rejects timestamps and bad names with the line number', () => {
    expect(() => parseTextfile('a 1\nb 2 1700000000000\n')).toThrow(/line 2: timestamps/);
    expect(() => parseTextfile('# TYPE 9bad gauge\n')).toThrow(/line 1: invalid metric name/);
    expect(() => parseTextfile('h{le="1"} 1\n# TYPE h histogram\n')).toThrow(/unsupported type/);
  });

  it('without a directory it reports no error, as node_exporter does', async () => {
    expect(value(await run('textfile'), 'node_textfile_scrape_error')).toBe(0);
  });
});
