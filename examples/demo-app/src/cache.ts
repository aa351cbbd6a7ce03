/**
 * The read-through item cache: payloads kept as Buffers, least recently used evicted beyond
 * the size limit, entries older than the TTL treated as misses and dropped by a periodic sweep.
 *
 * The memory fault leaks into it: pinned Buffers that bypass the size limit and are never
 * evicted or expired, only dropped by clear(). What clear() drops stays in Node's external
 * memory figure until the garbage collector has reclaimed it and V8 has swept the backing
 * stores; ReleaseTracker says how much of it the figure still counts, so the app can report
 * its memory as it is once the cache is cleared, whenever the collector happens to run.
 */

export const MiB = 1024 * 1024;

interface Entry {
  buf: Buffer;
  expires: number;
}

/** A Buffer with its own backing store (never a slice of Node's shared pool), so dropping it frees exactly its size. */
export function ownBuffer(text: string): Buffer {
  const buf = Buffer.allocUnsafeSlow(Buffer.byteLength(text));
  buf.write(text);
  return buf;
}

interface Batch {
  bytes: number;
  /** Node's external memory just before the release. */
  externalBefore: number;
  refs: Array<WeakRef<Buffer>>;
  collectedAt: number | null;
}

/** How long after its Buffers are collected a released batch is still accounted for (V8 sweeps backing stores concurrently). */
const SWEEP_GRACE_MS = 5000;

/** Bulk releases of Buffers, followed until Node's external memory figure no longer counts them. */
export class ReleaseTracker {
  private batches: Batch[] = [];

  constructor(
    private readonly external: () => number = () => process.memoryUsage().external,
    private readonly now: () => number = Date.now,
  ) {}

  /** Call before dropping the references to `buffers`. */
  release(buffers: Buffer[]): void {
    if (buffers.length === 0) return;
    this.batches.push({
      bytes: buffers.reduce((n, b) => n + b.buffer.byteLength, 0),
      externalBefore: this.external(),
      refs: buffers.map((b) => new WeakRef(b)),
      collectedAt: null,
    });
  }

  /**
   * Bytes released that the external memory figure still counts: for each batch, how far the
   * figure is above where it would be without the batch, at most the batch's size.
   */
  pending(external: number = this.external()): number {
    if (this.batches.length === 0) return 0;
    const now = this.now();
    let total = 0;
    this.batches = this.batches.filter((b) => {
      if (b.collectedAt === null && b.refs.every((r) => r.deref() === undefined)) b.collectedAt = now;
      if (b.collectedAt !== null && now - b.collectedAt > SWEEP_GRACE_MS) return false;
      total += Math.min(b.bytes, Math.max(0, external - (b.externalBefore - b.bytes)));
      return true;
    });
    return Math.min(total, external);
  }
}

export class ItemCache {
  private readonly entries = new Map<string, Entry>();
  private entryBytes = 0;
  private readonly leaked: Buffer[] = [];
  private leakedTotal = 0;
  readonly released = new ReleaseTracker();
  private hitCount = 0;
  private missCount = 0;

  constructor(
    private maxBytes: number,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get sizeBytes(): number {
    return this.entryBytes + this.leakedTotal;
  }

  get entryCount(): number {
    return this.entries.size + this.leaked.length;
  }

  get limitBytes(): number {
    return this.maxBytes;
  }

  get leakedBytes(): number {
    return this.leakedTotal;
  }

  get stats(): { hits: number; misses: number } {
    return { hits: this.hitCount, misses: this.missCount };
  }

  get(key: string): Buffer | undefined {
    const e = this.entries.get(key);
    if (!e) {
      this.missCount++;
      return undefined;
    }
    if (e.expires <= this.now()) {
      this.drop(key, e);
      this.missCount++;
      return undefined;
    }
    // Most recently used last: eviction walks the Map from the front.
    this.entries.delete(key);
    this.entries.set(key, e);
    this.hitCount++;
    return e.buf;
  }

  set(key: string, buf: Buffer): void {
    const old = this.entries.get(key);
    if (old) this.drop(key, old);
    if (buf.length > this.maxBytes) return;
    this.entries.set(key, { buf, expires: this.now() + this.ttlMs });
    this.entryBytes += buf.length;
    this.trim();
  }

  /** A new size limit, applied at once. */
  setMaxBytes(bytes: number): void {
    this.maxBytes = bytes;
    this.trim();
  }

  /** Drops expired entries; returns how many. */
  sweep(): number {
    this.released.pending();
    const now = this.now();
    let n = 0;
    for (const [key, e] of this.entries) {
      if (e.expires <= now) {
        this.drop(key, e);
        n++;
      }
    }
    return n;
  }

  /** Drops everything, leaked Buffers included. */
  clear(): { bytes: number; entries: number } {
    const cleared = { bytes: this.sizeBytes, entries: this.entryCount };
    this.released.release([...[...this.entries.values()].map((e) => e.buf), ...this.leaked]);
    this.entries.clear();
    this.entryBytes = 0;
    this.leaked.length = 0;
    this.leakedTotal = 0;
    return cleared;
  }

  /**
   * Grows or shrinks the leak to `bytes` of real, written memory (1 MiB Buffers), outside the
   * size limit.
   */
  setLeak(bytes: number): void {
    let target = Math.max(0, Math.floor(bytes));
    const dropped: Buffer[] = [];
    while (this.leakedTotal > target) {
      const buf = this.leaked.pop() as Buffer;
      this.leakedTotal -= buf.length;
      dropped.push(buf);
    }
    this.released.release(dropped);
    target -= this.leakedTotal;
    while (target > 0) {
      const size = Math.min(MiB, target);
      // Written, not just reserved, so the pages are really resident.
      const buf = Buffer.allocUnsafeSlow(size).fill((this.leaked.length * 31 + 7) & 0xff);
      this.leaked.push(buf);
      this.leakedTotal += size;
      target -= size;
    }
  }

  private trim(): void {
    for (const [key, e] of this.entries) {
      if (this.entryBytes <= this.maxBytes) break;
      this.drop(key, e);
    }
  }

  private drop(key: string, e: Entry): void {
    this.entries.delete(key);
    this.entryBytes -= e.buf.length;
  }
}
