/**
 * The contract every host collector implements, one file each under ./collectors,
 * listed in ./collectors/index.ts. A collector reads the host (procfs, sysfs, statfs)
 * and returns plain metric families; it never spawns a process and never blocks.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Family } from './exposition.js';
import { PseudoFiles, type ReadOptions } from './files.js';

export interface CollectorOptions {
  procfs: string;
  sysfs: string;
  rootfs: string;
  filesystem: { mountPointsExclude: RegExp; fsTypesExclude: RegExp; timeoutMs: number };
  diskstats: { deviceExclude: RegExp };
  netdev: { deviceExclude: RegExp };
  /** Directory of *.prom files for the textfile collector; null when not configured. */
  textfileDirectory: string | null;
}

/** Per-cycle view of the host. Files read by several collectors (e.g. /proc/stat) are read once a cycle. */
export class CycleContext {
  private readonly cache = new Map<string, Promise<string>>();
  /**
   * @param files the reader that keeps procfs/sysfs files open between cycles (HostMetrics
   *   owns one); without it, every file is opened and closed on each read.
   */
  constructor(
    readonly opts: CollectorOptions,
    private readonly files: PseudoFiles = new PseudoFiles(opts, 0),
  ) {}

  proc(...parts: string[]): string {
    return join(this.opts.procfs, ...parts);
  }

  sys(...parts: string[]): string {
    return join(this.opts.sysfs, ...parts);
  }

  /**
   * Reads a text file once per cycle; a rejection is shared by every caller in the cycle.
   * procfs and sysfs files are generated in memory by the kernel and never wait on a disk,
   * so they are read synchronously: a few microseconds of CPU each, against ~100 µs for the
   * thread-pool round trips of an async read. Anything else (textfiles) is read
   * asynchronously, and so are the pseudo files whose generation costs the kernel real time
   * (`offload`): /proc/net/tcp walks the whole socket hash table, 0.5-7 ms here, which a
   * thread-pool read keeps off the loop.
   */
  read(path: string, opts: { offload?: boolean } & ReadOptions = {}): Promise<string> {
    let p = this.cache.get(path);
    if (!p) {
      if (!this.isPseudo(path)) {
        p = readFile(path, 'utf8');
      } else if (opts.offload) {
        p = this.files.readAsync(path, opts);
      } else {
        try {
          p = Promise.resolve(this.files.read(path, opts));
        } catch (err) {
          p = Promise.reject(err);
        }
      }
      // Avoid an unhandled rejection when the first caller is gone before it settles.
      p.catch(() => undefined);
      this.cache.set(path, p);
    }
    return p;
  }

  private isPseudo(path: string): boolean {
    const { procfs, sysfs } = this.opts;
    return path.startsWith(`${procfs}/`) || path.startsWith(`${sysfs}/`);
  }

  /**
   * Reads a procfs/sysfs file synchronously, or returns null when it does not exist or cannot
   * be read. Not shared through the cycle's cache: for files that only one collector reads, many
   * of them (one per device, per process), where a promise per read was most of the garbage.
   */
  readNow(path: string, opts: ReadOptions = {}): string | null {
    try {
      return this.isPseudo(path) ? this.files.read(path, opts) : readFileSync(path, 'utf8');
    } catch {
      return null;
    }
  }

  /** Reads a file, or returns null when it does not exist or cannot be read (optional kernel features). */
  async readOptional(path: string, opts: { offload?: boolean } & ReadOptions = {}): Promise<string | null> {
    try {
      return await this.read(path, opts);
    } catch {
      return null;
    }
  }

  /**
   * Lets the event loop run other work (a scrape, a webhook) before continuing: collectors
   * that read one file per process or per device call it every few dozen files, so the loop
   * is never held for the whole set.
   */
  yield(): Promise<void> {
    return new Promise<void>((resolve) => setImmediate(resolve));
  }
}

export interface HostCollector {
  /** node_exporter's collector name, used in `collector` labels and in config `collection.disable`. */
  readonly name: string;
  collect(ctx: CycleContext): Promise<Family[]>;
  /**
   * Starts the thread-pool reads collect() will want (ctx.read with `offload`), at the start of
   * the cycle: they complete while the other collectors run, so the loop does not go to sleep
   * and wake up again for each of them.
   */
  prefetch?(ctx: CycleContext): void;
  /**
   * Families that must be fresh at scrape time rather than from the last cycle
   * (node_time_seconds). Must be cheap and synchronous.
   */
  scrape?(): Family[];
}

/**
 * Calls fn with the bounds of each line of text (end is the newline's index or text.length),
 * without making a string per line: for files parsed every cycle.
 */
export function eachLine(text: string, fn: (start: number, end: number) => void): void {
  let pos = 0;
  while (pos < text.length) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    fn(pos, end);
    pos = end + 1;
  }
}

/** Splits text into non-empty trimmed lines. */
export function lines(text: string): string[] {
  const out: string[] = [];
  for (const l of text.split('\n')) {
    const t = l.trim();
    if (t) out.push(t);
  }
  return out;
}

export function fields(line: string): string[] {
  return line.trim().split(/\s+/);
}

/** Returns true when an error means "this kernel/platform does not have it", not a failure. */
export function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EACCES' || code === 'EPERM' || code === 'EINVAL';
}
