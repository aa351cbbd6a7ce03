/**
 * Reads procfs and sysfs files the way long-running collectors do (Netdata's procfile,
 * for one): each file stays open between cycles and is read again from offset 0 with
 * pread(2), which makes the kernel generate it afresh. A fresh open/fstat/read/read/close
 * costs five system calls per file; a kept file costs one or two. On the virtual machines
 * promedic was measured on, a system call costs several microseconds, and a cycle reads
 * about two hundred files, so this is most of a cycle's system time.
 *
 * Only files on a real procfs or sysfs are kept open (a test fixture directory of regular
 * files is read the ordinary way), at most `maxOpen` of them plus `maxOpen` files of
 * processes, and a file not read in a cycle is closed at the end of it (`sweep`), so vanished
 * devices and processes do not hold descriptors. A kept /proc/<pid>/stat refers to that
 * process, not to its number: once it has exited the read fails (ESRCH) and the path is
 * opened again, which finds the process now holding the number, if any.
 */
import { closeSync, openSync, read as readCb, readSync, statfsSync } from 'node:fs';

const PROC_SUPER_MAGIC = 0x9fa0;
const SYSFS_MAGIC = 0x62656572;
/** The smallest page size: a seq_file read returns at most a page unless one record is larger. */
const PAGE = 4096;

function fsType(path: string): number | null {
  try {
    return statfsSync(path).type;
  } catch {
    return null;
  }
}

export interface ReadOptions {
  /**
   * A file of one process (/proc/<pid>/stat): kept within a budget of its own, so that many
   * processes cannot take the descriptors of the host files, and never remembered as missing
   * (a number comes back as another process).
   */
  perProcess?: boolean;
  /** The kernel produces the file in one go (single_open, /proc/<pid>/stat): one short read is all of it. */
  single?: boolean;
  /**
   * The longest record of a seq_file table (/proc/net/tcp). A read that returns less than a
   * page minus this is the end of the table, which spares a second read; for the socket
   * tables that second read walks the kernel's whole hash table again.
   */
  maxRecordBytes?: number;
}

/** Errors that mean the file under a kept descriptor is gone (a removed device or process). */
const GONE = new Set(['ENODEV', 'ENOENT', 'ESTALE', 'EBADF', 'ESRCH']);
/** How long a missing optional file (cpufreq on a VM, /proc/pressure/irq) is not looked for again. */
const MISSING_MS = 60_000;

export class PseudoFiles {
  private readonly kept = new Map<string, number>();
  /** The kept files that are files of a process. */
  private readonly keptPerProcess = new Set<string>();
  /** Files found missing, with the error to throw again until `until`. */
  private readonly missing = new Map<string, { err: unknown; until: number }>();
  private touched = new Set<string>();
  private buf = Buffer.allocUnsafe(64 * 1024);
  /** Buffers of finished thread-pool reads, for the next ones (a read in flight has its own). */
  private readonly spare: Buffer[] = [];
  private readonly procfs: string | null;
  private readonly sysfs: string | null;

  constructor(
    roots: { procfs: string; sysfs: string },
    private readonly maxOpen = 256,
  ) {
    this.procfs = fsType(roots.procfs) === PROC_SUPER_MAGIC ? `${roots.procfs}/` : null;
    this.sysfs = fsType(roots.sysfs) === SYSFS_MAGIC ? `${roots.sysfs}/` : null;
  }

  /** Open descriptors, for tests and the status of the process. */
  get size(): number {
    return this.kept.size;
  }

  /** On a real procfs or sysfs (not a fixture directory of regular files). */
  private pseudo(path: string): boolean {
    return (this.procfs !== null && path.startsWith(this.procfs)) || (this.sysfs !== null && path.startsWith(this.sysfs));
  }

  private keepable(path: string, opts: ReadOptions): boolean {
    if (opts.perProcess) return this.keptPerProcess.size < this.maxOpen && this.procfs !== null && path.startsWith(this.procfs);
    return this.kept.size - this.keptPerProcess.size < this.maxOpen && this.pseudo(path);
  }

  private keep(path: string, fd: number, opts: ReadOptions): void {
    this.kept.set(path, fd);
    if (opts.perProcess) this.keptPerProcess.add(path);
  }

  /** A sysfs attribute is produced whole by one show() call of at most a page: one read is all of it. */
  private single(path: string): boolean {
    return this.sysfs !== null && path.startsWith(this.sysfs);
  }

  /**
   * Opens a file, remembering for a minute that a kept-kind file does not exist: the optional
   * files a kernel lacks would otherwise cost a failed open and an exception every cycle.
   */
  private open(path: string, opts: ReadOptions): number {
    const miss = this.missing.get(path);
    if (miss) {
      if (Date.now() < miss.until) throw miss.err;
      this.missing.delete(path);
    }
    try {
      return openSync(path, 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code === 'ENOENT' || code === 'ENOTDIR') && !opts.perProcess && this.missing.size < 1024 && this.pseudo(path)) {
        this.missing.set(path, { err, until: Date.now() + MISSING_MS });
      }
      throw err;
    }
  }

  /** Reads the whole file synchronously; throws what open(2) or read(2) throws. */
  read(path: string, opts: ReadOptions = {}): string {
    let fd = this.kept.get(path);
    if (fd !== undefined) {
      this.touched.add(path);
      try {
        return this.fill(fd, path, opts);
      } catch (err) {
        // A read error of a file that is still there (EINVAL from a link's speed when it is
        // down) is the answer; a file gone under the descriptor is opened again.
        if (!GONE.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
        this.drop(path);
      }
    }
    fd = this.open(path, opts);
    const keep = this.keepable(path, opts);
    if (keep) {
      this.keep(path, fd, opts);
      this.touched.add(path);
    }
    try {
      return this.fill(fd, path, opts);
    } catch (err) {
      // Kept even so when the read failed but the file is there: it fails the same way next
      // cycle without another open.
      if (keep && GONE.has((err as NodeJS.ErrnoException).code ?? '')) this.drop(path);
      throw err;
    } finally {
      if (!keep) closeSync(fd);
    }
  }

  private fill(fd: number, path: string, opts: ReadOptions): string {
    const single = opts.single === true || this.single(path);
    const tail = PAGE - (opts.maxRecordBytes ?? PAGE);
    let n = 0;
    for (;;) {
      if (n === this.buf.length) {
        const bigger = Buffer.allocUnsafe(this.buf.length * 2);
        this.buf.copy(bigger, 0, 0, n);
        this.buf = bigger;
      }
      const r = readSync(fd, this.buf, n, this.buf.length - n, n);
      if (r === 0) break;
      n += r;
      if ((single && n < this.buf.length) || r < tail) break;
    }
    return this.buf.toString('utf8', 0, n);
  }

  /**
   * Reads the whole file on the thread pool (files whose generation costs the kernel real
   * time): one pread per round trip into a buffer of its own.
   */
  async readAsync(path: string, opts: ReadOptions = {}): Promise<string> {
    let fd = this.kept.get(path);
    let fresh = false;
    if (fd === undefined) {
      fd = this.open(path, opts);
      fresh = true;
      if (this.keepable(path, opts)) this.keep(path, fd, opts);
    }
    this.touched.add(path);
    const keep = this.kept.get(path) === fd;
    try {
      return await this.fillAsync(fd, opts);
    } catch (err) {
      if (fresh || !GONE.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
      this.drop(path);
      return this.readAsync(path, opts);
    } finally {
      if (!keep) closeSync(fd);
    }
  }

  private async fillAsync(fd: number, opts: ReadOptions): Promise<string> {
    const tail = PAGE - (opts.maxRecordBytes ?? PAGE);
    let buf = this.spare.pop() ?? Buffer.allocUnsafe(64 * 1024);
    try {
      let n = 0;
      for (;;) {
        if (n === buf.length) {
          const bigger = Buffer.allocUnsafe(buf.length * 2);
          buf.copy(bigger, 0, 0, n);
          buf = bigger;
        }
        const r = await new Promise<number>((resolve, reject) => {
          readCb(fd, buf, n, buf.length - n, n, (err, bytes) => (err ? reject(err) : resolve(bytes)));
        });
        if (r === 0) break;
        n += r;
        if (r < tail) break;
      }
      return buf.toString('utf8', 0, n);
    } finally {
      if (this.spare.length < 4 && buf.length <= 256 * 1024) this.spare.push(buf);
    }
  }

  private drop(path: string): void {
    const fd = this.kept.get(path);
    this.kept.delete(path);
    this.keptPerProcess.delete(path);
    this.touched.delete(path);
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
  }

  /** Closes the files not read since the last sweep (called after each cycle). */
  sweep(): void {
    for (const path of [...this.kept.keys()]) if (!this.touched.has(path)) this.drop(path);
    this.touched = new Set();
  }

  close(): void {
    for (const path of [...this.kept.keys()]) this.drop(path);
  }
}
