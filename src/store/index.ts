/**
 * The only code that touches the data dir.
 *
 * - `state.json`: a lowdb snapshot (atomic temp-file + rename writes), bounded by retention
 *   so each write stays small. lowdb's adapter is explicit: JSONFilePreset switches to an
 *   in-memory adapter under NODE_ENV=test.
 * - `journal.<n>.jsonl`: every change since the snapshot, appended and fdatasync'ed (group
 *   commit) before the change is acknowledged. At start the snapshot is read and the journal
 *   replayed; a snapshot rotates the journal first, so nothing appended meanwhile is lost.
 * - `promedic.lock`: one process per data dir.
 */
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Low } from 'lowdb';
import { SlicedJSONFile } from './adapter.js';
import { ConfigError, errorMessage } from '../errors.js';
import { Journal } from './journal.js';
import {
  type LearningOptions,
  type LearningState,
  type Recurrence,
  type ChronicChange,
  createLearningState,
  learningFromJSON,
  learningToJSON,
  recordFiring,
  recordOutcome,
  sweepChronic,
} from '../learning/index.js';
import { type TuningState, createTuningState, recordExperiment, tuningFromJSON, tuningToJSON } from '../tuning/state.js';
import type { EpisodeRecord, JournalEntry, PersistedState, RunRecord, Suspension } from './types.js';

export type * from './types.js';

const MAX_STARTS = 50;

export interface StoreOptions {
  /** Runs kept in the state file; older ones are dropped (and counted). */
  maxRuns?: number;
  /** How long a resolved episode is remembered for dedupe. */
  episodeRetentionMs?: number;
  /** How often changes are folded into the snapshot (sooner when the journal grows past journalMaxBytes). */
  snapshotIntervalMs?: number;
  journalMaxBytes?: number;
  /** Episodes kept for de-duplication; beyond it the oldest (first seen) are forgotten. */
  maxEpisodes?: number;
  /** Settings of the learning state (src/learning). */
  learning?: LearningOptions;
}

function emptyState(): PersistedState {
  return {
    version: 2,
    starts: [],
    stops: [],
    episodes: [],
    runs: [],
    cooldowns: {},
    failures: {},
    suspensions: {},
    paused: false,
    droppedRuns: 0,
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The live state: maps for O(1) updates; serialised to PersistedState for the snapshot. */
export class Memory {
  /**
   * Episodes in first-seen order, capped as they arrive (oldest forgotten first), so a storm
   * cannot grow memory or make the next snapshot slow.
   */
  episodes = new Map<string, EpisodeRecord>();
  /** Learning aggregates; changed only through journal entries, so replay rebuilds them exactly. */
  learning: LearningState;
  /** Tuning experiments and knob memory; changed only through journal entries, like learning. */
  tuning: TuningState = createTuningState();
  constructor(
    private readonly maxEpisodes = Number.POSITIVE_INFINITY,
    readonly learningOptions: LearningOptions = {},
  ) {
    this.learning = createLearningState(learningOptions);
  }
  runs = new Map<string, RunRecord>();
  cooldowns = new Map<string, number>();
  failures = new Map<string, number[]>();
  suspensions = new Map<string, Suspension>();
  paused = false;
  droppedRuns = 0;

  /** Applies one change. Returns what a learning entry changed (a chronic transition, cleared signatures). */
  apply(e: JournalEntry): Recurrence | ChronicChange[] | undefined {
    switch (e.op) {
      case 'outcome':
        recordOutcome(this.learning, e.v);
        break;
      case 'firing':
        return recordFiring(this.learning, e.v);
      case 'sweep':
        return sweepChronic(this.learning, e.at);
      case 'experiment':
        recordExperiment(this.tuning, e.v);
        break;
      case 'episode':
        this.episodes.set(e.v.key, e.v);
        // Evict in batches of a tenth: one iterator pass, and repeated first-entry deletes
        // would walk an ever longer run of deleted slots.
        if (this.episodes.size > this.maxEpisodes * 1.1) {
          let excess = this.episodes.size - this.maxEpisodes;
          for (const k of this.episodes.keys()) {
            if (excess-- <= 0) break;
            this.episodes.delete(k);
          }
        }
        break;
      case 'run':
        // Map order is insertion order: an update keeps a run's place, so runs stay in start order.
        this.runs.set(e.v.id, e.v);
        break;
      case 'cooldown':
        this.cooldowns.set(e.k, e.until);
        break;
      case 'failures':
        if (e.v.length === 0) this.failures.delete(e.k);
        else this.failures.set(e.k, e.v);
        break;
      case 'suspension':
        if (e.v === null) this.suspensions.delete(e.k);
        else this.suspensions.set(e.k, e.v);
        break;
      case 'paused':
        this.paused = e.v;
        break;
    }
    return undefined;
  }
}

export class Store {
  readonly dir: string;
  readonly file: string;
  readonly lockFile: string;
  readonly mem: Memory;
  private readonly opts: Required<StoreOptions>;
  private db: Low<PersistedState> | null = null;
  private meta: Pick<PersistedState, 'starts' | 'stops'> = { starts: [], stops: [] };
  private journal: Journal | null = null;
  private journalSeq = 0;
  private locked = false;
  private snapshotTimer: NodeJS.Timeout | null = null;
  private snapshotting: Promise<void> | null = null;
  private dirty = false;
  private closing = false;
  private lastSnapshotAt = 0;
  /** Set when the last journal write failed (disk full, read-only): the webhook answers 503. */
  lastWriteError: string | null = null;
  /** Commits the disk refused since start. */
  writeFailures = 0;
  /** Problems found while opening (a corrupt snapshot moved aside...), for the start-up log. */
  readonly notices: string[] = [];

  constructor(dir: string, opts: StoreOptions = {}) {
    this.dir = dir;
    this.file = join(dir, 'state.json');
    this.lockFile = join(dir, 'promedic.lock');
    this.opts = {
      maxRuns: opts.maxRuns ?? 1000,
      episodeRetentionMs: opts.episodeRetentionMs ?? 24 * 3600_000,
      snapshotIntervalMs: opts.snapshotIntervalMs ?? 60_000,
      journalMaxBytes: opts.journalMaxBytes ?? 256 * 1024 * 1024,
      maxEpisodes: opts.maxEpisodes ?? 20_000,
      learning: opts.learning ?? {},
    };
    this.mem = new Memory(this.opts.maxEpisodes, opts.learning ?? {});
  }

  /** Creates the data dir, takes the lock, reads the snapshot and replays the journal. */
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
    this.closing = false;
    // Temp files of a snapshot interrupted by a crash: the previous state.json is intact.
    for (const f of readdirSync(this.dir)) if (/^state\.json\.[0-9a-f]+\.tmp$/.test(f)) rmSync(join(this.dir, f), { force: true });
    try {
      await this.load();
      this.meta.starts.push({ at: new Date().toISOString(), pid: process.pid, version });
      this.meta.starts = this.meta.starts.slice(-MAX_STARTS);
      await this.openJournal();
      await this.snapshot();
    } catch (err) {
      await this.journal?.close().catch(() => undefined);
      this.unlock();
      if (err instanceof ConfigError) throw err;
      throw new ConfigError([`data_dir: ${this.dir} is not writable: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`]);
    }
    this.lastSnapshotAt = Date.now();
  }

  /**
   * The journal makes every change durable; the snapshot only bounds replay time and disk use,
   * so it is taken rarely (a full write of the state blocks the event loop while it serialises):
   * snapshotIntervalMs after the last one, or at once when the journal has grown past
   * journalMaxBytes. Armed by a commit, so an idle store sets no timer at all.
   */
  private scheduleSnapshot(): void {
    if (!this.db || this.closing) return;
    if ((this.journal?.bytes ?? 0) >= this.opts.journalMaxBytes) {
      if (this.snapshotTimer) clearTimeout(this.snapshotTimer);
      this.snapshotTimer = null;
      this.lastSnapshotAt = Date.now();
      void this.snapshot().catch(() => undefined);
      return;
    }
    if (this.snapshotTimer) return;
    const delay = Math.max(0, this.lastSnapshotAt + this.opts.snapshotIntervalMs - Date.now());
    this.snapshotTimer = setTimeout(() => {
      this.snapshotTimer = null;
      if (!this.dirty || this.closing) return;
      this.lastSnapshotAt = Date.now();
      void this.snapshot().catch(() => undefined);
    }, delay);
    this.snapshotTimer.unref();
  }

  private async load(): Promise<void> {
    // Compact JSON written in slices (SlicedJSONFile): lowdb's JSONFile pretty-prints the whole
    // state in one blocking call, which under load held every request for tens of milliseconds.
    const db = new Low<PersistedState>(new SlicedJSONFile<PersistedState>(this.file), emptyState());
    try {
      await db.read();
    } catch (err) {
      // A corrupt snapshot is moved aside and reported, never silently replaced.
      const aside = `${this.file}.corrupt-${Date.now()}`;
      renameSync(this.file, aside);
      this.notices.push(`state file ${this.file} could not be parsed (${errorMessage(err)}); moved aside to ${aside}`);
      db.data = emptyState();
    }
    const data = db.data ?? emptyState();
    this.db = db;
    this.meta = { starts: data.starts ?? [], stops: data.stops ?? [] };
    for (const e of data.episodes ?? []) this.mem.episodes.set(e.key, e);
    for (const r of data.runs ?? []) this.mem.runs.set(r.id, r);
    for (const [k, v] of Object.entries(data.cooldowns ?? {})) this.mem.cooldowns.set(k, v);
    for (const [k, v] of Object.entries(data.failures ?? {})) this.mem.failures.set(k, v);
    for (const [k, v] of Object.entries(data.suspensions ?? {})) this.mem.suspensions.set(k, v);
    this.mem.paused = data.paused ?? false;
    this.mem.droppedRuns = data.droppedRuns ?? 0;
    if (data.learning !== undefined) {
      try {
        this.mem.learning = learningFromJSON(data.learning, this.mem.learningOptions);
      } catch (err) {
        // Bad learning aggregates cost the learned orders, never the service: start them over.
        this.notices.push(`learning state in ${this.file} is invalid (${errorMessage(err)}); starting with no learned evidence`);
        this.mem.learning = createLearningState(this.mem.learningOptions);
      }
    }
    if (data.tuning !== undefined) {
      try {
        this.mem.tuning = tuningFromJSON(data.tuning);
      } catch (err) {
        this.notices.push(`tuning state in ${this.file} is invalid (${errorMessage(err)}); starting with no tuning history`);
        this.mem.tuning = createTuningState();
      }
    }

    // Replay journals in order. A torn last line (crash mid-write) is skipped: it was never acknowledged.
    const journals = readdirSync(this.dir)
      .map((f) => /^journal\.(\d+)\.jsonl$/.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    for (const seq of journals) {
      // Line by line: a journal can hold hundreds of MB after a storm and a crash.
      const lines = createInterface({ input: createReadStream(join(this.dir, `journal.${seq}.jsonl`), 'utf8'), crlfDelay: Number.POSITIVE_INFINITY });
      for await (const line of lines) {
        if (!line) continue;
        try {
          this.mem.apply(JSON.parse(line) as JournalEntry);
        } catch {
          this.notices.push(`skipped a torn journal line in journal.${seq}.jsonl`);
        }
      }
      this.journalSeq = Math.max(this.journalSeq, seq);
    }
  }

  private async openJournal(): Promise<void> {
    this.journalSeq++;
    const j = new Journal(join(this.dir, `journal.${this.journalSeq}.jsonl`));
    await j.open();
    this.journal = j;
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

  get isOpen(): boolean {
    return this.db !== null;
  }

  /**
   * Makes changes durable, then applies them in memory. Resolves once they are fdatasync'ed;
   * rejects (and sets lastWriteError) when the disk refuses them, leaving memory unchanged,
   * so what memory says always survives a crash.
   */
  async commit(entries: JournalEntry[]): Promise<Array<ReturnType<Memory['apply']>>> {
    if (!this.journal) throw new Error('store is not open');
    try {
      await this.journal.append(entries.map((e) => JSON.stringify(e)).join('\n'));
      this.lastWriteError = null;
    } catch (err) {
      this.lastWriteError = (err as NodeJS.ErrnoException).code ?? errorMessage(err);
      this.writeFailures++;
      throw err;
    }
    const results = entries.map((e) => this.mem.apply(e));
    this.dirty = true;
    this.scheduleSnapshot();
    return results;
  }

  private serialise(): PersistedState {
    const now = Date.now();
    const m = this.mem;
    // Retention: bounded runs and episodes keep every snapshot small and fast.
    while (m.runs.size > this.opts.maxRuns) {
      const oldest = m.runs.keys().next().value as string;
      m.runs.delete(oldest);
      m.droppedRuns++;
    }
    for (const [k, e] of m.episodes) {
      const last = Date.parse(e.resolvedAt ?? e.lastSeen);
      const keep = e.status === 'resolved' ? this.opts.episodeRetentionMs : 7 * this.opts.episodeRetentionMs;
      if (now - last > keep) m.episodes.delete(k);
    }
    for (const [k, until] of m.cooldowns) if (until < now) m.cooldowns.delete(k);
    return {
      version: 2,
      starts: this.meta.starts,
      stops: this.meta.stops,
      episodes: [...m.episodes.values()],
      runs: [...m.runs.values()],
      cooldowns: Object.fromEntries(m.cooldowns),
      failures: Object.fromEntries(m.failures),
      suspensions: Object.fromEntries(m.suspensions),
      paused: m.paused,
      droppedRuns: m.droppedRuns,
      learning: learningToJSON(m.learning),
      tuning: tuningToJSON(m.tuning),
    };
  }

  /** Folds the journal into state.json: rotate the journal, write the snapshot, drop old journals. */
  snapshot(): Promise<void> {
    this.snapshotting ??= (async () => {
      try {
        const db = this.db as Low<PersistedState>;
        const old = this.journal;
        const oldSeq = this.journalSeq;
        await this.openJournal();
        await old?.close();
        this.dirty = false;
        db.data = this.serialise();
        await db.write();
        for (const f of readdirSync(this.dir)) {
          const m = /^journal\.(\d+)\.jsonl$/.exec(f);
          if (m && Number(m[1]) <= oldSeq) rmSync(join(this.dir, f), { force: true });
        }
      } finally {
        this.snapshotting = null;
      }
    })();
    return this.snapshotting;
  }

  /** Waits for pending writes, records the clean stop, writes the snapshot, releases the lock. */
  async close(): Promise<void> {
    if (!this.db) return;
    this.closing = true;
    if (this.snapshotTimer) clearTimeout(this.snapshotTimer);
    this.snapshotTimer = null;
    try {
      await this.snapshotting;
      await this.journal?.drain();
      this.meta.stops.push({ at: new Date().toISOString(), pid: process.pid });
      this.meta.stops = this.meta.stops.slice(-MAX_STARTS);
      await this.snapshot();
      await this.journal?.close();
      // The fresh journal opened by the last snapshot is empty: remove it.
      if (this.journal) rmSync(this.journal.path, { force: true });
    } finally {
      this.journal = null;
      this.db = null;
      this.unlock();
    }
  }
}
