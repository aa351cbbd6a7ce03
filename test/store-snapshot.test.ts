/**
 * When the store folds its journal into state.json: snapshotIntervalMs after the last snapshot
 * once something was committed, at once when the journal outgrows journalMaxBytes, and never
 * while nothing changes.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Store } from '../src/store/index.js';
import { tempDir, waitFor } from './helpers/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const journals = (dir: string) => readdirSync(dir).filter((f) => /^journal\.\d+\.jsonl$/.test(f));
const paused = (dir: string): boolean => (JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { paused: boolean }).paused;

describe('store snapshots', () => {
  const open: Array<{ store: Store; cleanup: () => void }> = [];
  afterEach(async () => {
    for (const o of open.splice(0)) {
      await o.store.close();
      o.cleanup();
    }
  });

  async function start(opts: ConstructorParameters<typeof Store>[1]): Promise<{ store: Store; dir: string }> {
    const { path: dir, cleanup } = tempDir();
    const store = new Store(dir, opts);
    await store.open('test');
    open.push({ store, cleanup });
    return { store, dir };
  }

  it('folds a commit into state.json one interval after the last snapshot, and not before', async () => {
    const { store, dir } = await start({ snapshotIntervalMs: 1500 });
    const first = journals(dir);
    await sleep(1600);
    // Nothing committed: no new snapshot (the journal is the one opened at start).
    expect(journals(dir)).toEqual(first);
    await store.commit([{ op: 'paused', v: true }]);
    // Due at once: the last snapshot is older than the interval.
    await waitFor(() => paused(dir), 10_000, 'the first snapshot');
    await store.commit([{ op: 'paused', v: false }]);
    // Within the interval of the last snapshot: in the journal only, for now.
    expect(paused(dir)).toBe(true);
    await waitFor(() => !paused(dir), 10_000, 'the second snapshot');
    expect(journals(dir)).not.toEqual(first);
  });

  it('snapshots at once when the journal outgrows journalMaxBytes', async () => {
    const { store, dir } = await start({ snapshotIntervalMs: 3_600_000, journalMaxBytes: 10 });
    await store.commit([{ op: 'paused', v: true }]);
    await waitFor(() => paused(dir), 10_000, 'the snapshot');
  });
});
