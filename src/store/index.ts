/**
 * The only code that touches the state file. lowdb (JSON, atomic temp-file + rename writes)
 * with an explicit file adapter — JSONFilePreset switches to memory under NODE_ENV=test —
 * and a lock file so a second promedic on the same data dir is refused.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Low } from 'lowdb';
import { JSONFile } from 'lowdb/node';
import { ConfigError, errorMessage } from '../errors.js';

export interface State {
  version: 1;
  /** Every start of the service, newest last (bounded). */
  starts: Array<{ at: string; pid: number; version: string }>;
  /** Clean stops, newest last (bounded); a start without a matching stop was a crash. */
  stops: Array<{ at: string; pid: number }>;
}

const MAX_HISTORY = 50;

function emptyState(): State {
  return { version: 1, starts: [], stops: [] };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class Store {
  readonly dir: string;
  readonly file: string;
  readonly lockFile: string;
  private db: Low<State> | null = null;
  private locked = false;
  private pending: Promise<void> = Promise.resolve();

  constructor(dir: string) {
    this.dir = dir;
    this.file = join(dir, 'state.json');
    this.lockFile = join(dir, 'promedic.lock');
  }

  /** Creates the data dir, takes the lock, reads the state. Problems are ConfigErrors naming data_dir. */
  async open(version: string): Promise<void> {
    if (existsSync(this.dir) && !statSync(this.dir).isDirectory()) {
      throw new ConfigError([`data_dir: ${this.dir} is not a directory`]);
    }
    try {
      mkdirSync(this.dir, { recursive: true });
    } catch (err) {
      throw new ConfigError([`data_dir: cannot create ${this.dir}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`]);
    }
    this.lock();
    const db = new Low<State>(new JSONFile<State>(this.file), emptyState());
    try {
      await db.read();
    } catch (err) {
      this.unlock();
      throw new ConfigError([`data_dir: cannot read ${this.file}: ${errorMessage(err)}`]);
    }
    db.data ??= emptyState();
    this.db = db;
    db.data.starts.push({ at: new Date().toISOString(), pid: process.pid, version });
    db.data.starts = db.data.starts.slice(-MAX_HISTORY);
    try {
      await db.write();
    } catch (err) {
      this.unlock();
      throw new ConfigError([`data_dir: ${this.dir} is not writable: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`]);
    }
  }

  private lock(): void {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(this.lockFile, 'wx', 0o644);
        writeSync(fd, `${process.pid}\n`);
        closeSync(fd);
        this.locked = true;
        return;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EEXIST') {
          throw new ConfigError([`data_dir: ${this.dir} is not writable: ${code ?? errorMessage(err)}`]);
        }
        const pid = Number.parseInt(readFileSync(this.lockFile, 'utf8'), 10);
        if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
          throw new ConfigError([`data_dir: ${this.dir} is in use by another promedic (pid ${pid}); one process per data dir`]);
        }
        // A stale lock from a process that died: take it over.
        rmSync(this.lockFile, { force: true });
      }
    }
    throw new ConfigError([`data_dir: cannot take the lock ${this.lockFile}`]);
  }

  private unlock(): void {
    if (!this.locked) return;
    rmSync(this.lockFile, { force: true });
    this.locked = false;
  }

  get data(): State {
    if (!this.db) throw new Error('store is not open');
    return this.db.data;
  }

  /** Applies a change and writes it; writes are serialised so the file always holds a whole state. */
  update(change: (s: State) => void): Promise<void> {
    change(this.data);
    const db = this.db as Low<State>;
    this.pending = this.pending.then(() => db.write());
    return this.pending;
  }

  /** Waits for pending writes, records the clean stop, and releases the lock. */
  async close(): Promise<void> {
    if (!this.db) return;
    try {
      await this.update((s) => {
        s.stops.push({ at: new Date().toISOString(), pid: process.pid });
        s.stops = s.stops.slice(-MAX_HISTORY);
      });
    } finally {
      this.db = null;
      this.unlock();
    }
  }
}
