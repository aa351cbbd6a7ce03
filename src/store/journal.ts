/**
 * Append-only journal with group commit: every append waits for an fdatasync, and all the
 * appends that arrive while one sync is in flight share the next one. This is what makes
 * "answer 2xx only after the alert is durable" cheap under load.
 */
import { type FileHandle, open } from 'node:fs/promises';

interface Pending {
  data: string;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class Journal {
  private fh: FileHandle | null = null;
  private queue: Pending[] = [];
  private flushing: Promise<void> | null = null;
  /** Bytes known to be whole, synced entries; a failed write is cut back to here. */
  private size = 0;

  /** Bytes in the current file. */
  get bytes(): number {
    return this.size;
  }

  constructor(readonly path: string) {}

  async open(): Promise<void> {
    this.fh = await open(this.path, 'a', 0o600);
    this.size = (await this.fh.stat()).size;
  }

  append(line: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ data: `${line}\n`, resolve, reject });
      this.flushing ??= this.flush();
    });
  }

  private async flush(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        const data = batch.map((p) => p.data).join('');
        try {
          if (!this.fh) throw new Error(`journal ${this.path} is closed`);
          // write(2) may write part of the buffer (a nearly full disk) without an error: loop
          // until all of it is written, so the error, if any, surfaces here.
          const buf = Buffer.from(data, 'utf8');
          for (let off = 0; off < buf.length; ) {
            const { bytesWritten } = await this.fh.write(buf, off, buf.length - off);
            if (bytesWritten <= 0) throw new Error(`journal ${this.path}: write made no progress`);
            off += bytesWritten;
          }
          await this.fh.datasync();
          this.size += buf.length;
          for (const p of batch) p.resolve();
        } catch (err) {
          // A partial write (disk full) must not leave half a line for the next append to extend.
          await this.fh?.truncate(this.size).catch(() => undefined);
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      this.flushing = null;
    }
  }

  /** Waits for every queued append to be synced. */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  async close(): Promise<void> {
    await this.drain();
    await this.fh?.close();
    this.fh = null;
  }
}
