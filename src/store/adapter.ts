/**
 * A lowdb adapter for the state snapshot that never holds the event loop for long: the JSON is
 * produced in slices (one large array element group at a time, yielding between them), written
 * to a temp file, fsync'ed, and renamed over the old one — atomic and durable like steno's
 * write, but a 10 MB state no longer blocks every request for the whole serialisation.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Adapter } from 'lowdb';

const SLICE = 500;

function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

type Handle = Awaited<ReturnType<typeof open>>;

/**
 * Writes `value` as JSON: arrays longer than SLICE a slice at a time, with a yield between
 * slices; objects key by key, looking `depth` levels down for such arrays (the snapshot's
 * runs and episodes, and the learning state's entries).
 */
async function writeValue(fh: Handle, value: unknown, depth: number): Promise<void> {
  if (Array.isArray(value) && value.length > SLICE) {
    await fh.write('[');
    for (let i = 0; i < value.length; i += SLICE) {
      const part = JSON.stringify(value.slice(i, i + SLICE));
      await fh.write(`${i > 0 ? ',' : ''}${part.slice(1, -1)}`);
      await tick();
    }
    await fh.write(']');
  } else if (depth > 0 && value !== null && typeof value === 'object' && !Array.isArray(value)) {
    await fh.write('{');
    let first = true;
    for (const [key, v] of Object.entries(value)) {
      if (v === undefined) continue;
      await fh.write(`${first ? '' : ','}${JSON.stringify(key)}:`);
      first = false;
      await writeValue(fh, v, depth - 1);
    }
    await fh.write('}');
  } else {
    await fh.write(JSON.stringify(value) ?? 'null');
  }
}

export class SlicedJSONFile<T extends object> implements Adapter<T> {
  constructor(private readonly file: string) {}

  async read(): Promise<T | null> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    return JSON.parse(text) as T;
  }

  async write(data: T): Promise<void> {
    const tmp = `${this.file}.${randomBytes(4).toString('hex')}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await writeValue(fh, data, 2);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.file);
    // Make the rename itself durable.
    const dir = await open(dirname(this.file), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}
