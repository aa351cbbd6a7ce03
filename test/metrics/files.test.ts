/**
 * The procfs/sysfs reader that keeps files open between cycles, against the real /proc and
 * /sys of this machine, and against a fixture directory of regular files (which it must read
 * the ordinary way, so a rewritten fixture is seen).
 */
import { readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { CycleContext } from '../../src/metrics/collector.js';
import { COLLECTORS } from '../../src/metrics/collectors/index.js';
import { render } from '../../src/metrics/exposition.js';
import { PseudoFiles } from '../../src/metrics/files.js';
import { collectorOptions } from '../../src/metrics/host.js';
import { tempDir } from '../helpers/index.js';

const roots = { procfs: '/proc', sysfs: '/sys' };
const fdCount = (): number => readdirSync('/proc/self/fd').length;

describe('PseudoFiles', () => {
  it('keeps procfs and sysfs files open and reads them afresh each time', () => {
    const files = new PseudoFiles(roots);
    const before = fdCount();
    const a = files.read('/proc/self/stat');
    const uptime1 = files.read('/proc/uptime');
    expect(files.size).toBe(2);
    expect(fdCount()).toBe(before + 2);
    // /proc/self/stat of this process: field 1 is our pid, whoever reads it.
    expect(a.split(' ')[0]).toBe(String(process.pid));
    const end = Date.now() + 30;
    while (Date.now() < end) {
      // let the uptime move on
    }
    const uptime2 = files.read('/proc/uptime');
    expect(Number(uptime2.split(' ')[0])).toBeGreaterThan(Number(uptime1.split(' ')[0]));
    expect(files.size).toBe(2);
    expect(files.read('/sys/class/net/lo/mtu').trim()).toBe(readFileSync('/sys/class/net/lo/mtu', 'utf8').trim());
    expect(files.size).toBe(3);
    files.close();
    expect(files.size).toBe(0);
    expect(fdCount()).toBe(before);
  });

  it('reads files of many pages whole, the same as readFileSync', () => {
    const files = new PseudoFiles(roots);
    // Over a page, and over the 64 KiB first buffer when the kernel lists its symbols.
    for (const path of ['/proc/self/mountinfo', '/proc/kallsyms']) {
      const expected = readFileSync(path, 'utf8');
      expect(files.read(path), path).toBe(expected);
      expect(files.read(path), `${path} again`).toBe(expected);
    }
    files.close();
  });

  it('reads a socket table in one pread when it is short, and whole when it is long', async () => {
    const files = new PseudoFiles(roots);
    const text = await files.readAsync('/proc/net/tcp', { maxRecordBytes: 256 });
    expect(text.split('\n')[0]).toMatch(/^\s+sl\s+local_address/);
    expect(text.endsWith('\n')).toBe(true);
    // The same table read the ordinary way has the same header and about as many sockets.
    const plain = readFileSync('/proc/net/tcp', 'utf8');
    expect(Math.abs(text.split('\n').length - plain.split('\n').length)).toBeLessThan(50);
    // A long file read with the shortcut still comes whole (its records are short).
    const maps = await files.readAsync('/proc/self/mountinfo', { maxRecordBytes: 4096 });
    expect(maps).toBe(readFileSync('/proc/self/mountinfo', 'utf8'));
    files.close();
  });

  it('closes at the sweep what was not read since the last one', () => {
    const files = new PseudoFiles(roots);
    files.read('/proc/loadavg');
    files.read('/proc/meminfo');
    files.read(`/proc/${process.pid}/stat`, { perProcess: true });
    expect(files.size).toBe(3);
    files.sweep();
    expect(files.size).toBe(3);
    files.read('/proc/loadavg');
    files.sweep();
    expect(files.size).toBe(1);
    files.close();
  });

  it('keeps at most maxOpen host files and maxOpen process files, and reads the rest the ordinary way', () => {
    const files = new PseudoFiles(roots, 1);
    const before = fdCount();
    files.read('/proc/loadavg');
    expect(files.read('/proc/uptime')).toMatch(/^\d+\.\d+ \d+\.\d+\n$/);
    expect(files.size).toBe(1);
    files.read(`/proc/${process.pid}/stat`, { perProcess: true });
    files.read(`/proc/${process.ppid}/stat`, { perProcess: true });
    expect(files.size).toBe(2);
    expect(fdCount()).toBe(before + 2);
    files.close();
  });

  it('reads a process file kept open for as long as the process lives, then opens the number afresh', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    await new Promise((r) => child.once('spawn', r));
    const files = new PseudoFiles(roots);
    const path = `/proc/${child.pid}/stat`;
    expect(files.read(path, { perProcess: true, single: true })).toMatch(new RegExp(`^${child.pid} \\(node\\) [RSD] `));
    expect(files.size).toBe(1);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // Reaped: the kept descriptor fails, the path is opened again, and it is gone.
    expect(() => files.read(path, { perProcess: true, single: true })).toThrow(/ENOENT|ESRCH/);
    expect(files.size).toBe(0);
    files.close();
  });

  it('reads a fixture directory of regular files afresh, without keeping them', () => {
    const { path: dir, cleanup } = tempDir();
    const files = new PseudoFiles({ procfs: dir, sysfs: dir });
    const f = join(dir, 'loadavg');
    writeFileSync(f, 'first\n');
    expect(files.read(f)).toBe('first\n');
    writeFileSync(`${f}.new`, 'second, replaced\n');
    // A rename gives a new inode: a kept descriptor would still read "first".
    renameSync(`${f}.new`, f);
    expect(files.read(f)).toBe('second, replaced\n');
    expect(files.size).toBe(0);
    cleanup();
  });

  it('remembers a missing file for a while instead of opening it every cycle', () => {
    const files = new PseudoFiles(roots);
    const path = '/sys/class/net/lo/no-such-attribute';
    let first: unknown;
    let second: unknown;
    try {
      files.read(path);
    } catch (err) {
      first = err;
    }
    try {
      files.read(path);
    } catch (err) {
      second = err;
    }
    expect((first as NodeJS.ErrnoException).code).toBe('ENOENT');
    // The same error again, not a new failed open (which would make a new error object).
    expect(second).toBe(first);
    // Files of a process are not remembered: a pid comes back as another process.
    const gone = '/proc/999999999/stat';
    const errs: unknown[] = [];
    for (let i = 0; i < 2; i++) {
      try {
        files.read(gone, { perProcess: true });
      } catch (err) {
        errs.push(err);
      }
    }
    expect(errs).toHaveLength(2);
    expect(errs[0]).not.toBe(errs[1]);
  });

  it('gives every collector the same families, cycle after cycle, as fresh reads do', async () => {
    const opts = collectorOptions(loadConfig({ env: {} }));
    const files = new PseudoFiles(opts);
    // Values move between reads; names and label sets do not.
    const shape = (text: string): string[] =>
      text
        .split('\n')
        .filter((l) => l && !l.startsWith('#') && !/^node_(processes_(pids|state|threads)|tcp_connection_states|udp_queues|sockstat|netstat_(Tcp|Udp)|filefd)/.test(l))
        .map((l) => l.replace(/ \S+$/, ''))
        .sort();
    for (let cycle = 0; cycle < 3; cycle++) {
      const kept = new CycleContext(opts, files);
      const fresh = new CycleContext(opts);
      for (const c of COLLECTORS) {
        const a = shape(render(await c.collect(kept)));
        const b = shape(render(await c.collect(fresh)));
        expect(a, `${c.name}, cycle ${cycle}`).toEqual(b);
      }
      files.sweep();
    }
    expect(files.size).toBeGreaterThan(20);
    files.close();
  });
});
