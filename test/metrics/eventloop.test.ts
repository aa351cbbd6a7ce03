/**
 * The event-loop delay gauges measure how late the loop ran its sampling timer: a 150 ms block
 * (longer than the 100 ms sampling period, so the timer falls due inside it) shows in the next
 * scrape's max and not in the one after; an idle loop reads close to 0, not the period.
 */
import { describe, expect, it } from 'vitest';
import { createRegistry } from '../../src/metrics/registry.js';
import { parseExposition } from '../helpers/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// The service samples every 5 s; the behaviour does not depend on the period.
const EVENT_LOOP_SAMPLE_MS = 100;

describe('nodejs_eventloop_lag_*_seconds', () => {
  it('report the delay since the last scrape, beyond the sampling period', async () => {
    const registry = createRegistry({ eventLoopSampleMs: EVENT_LOOP_SAMPLE_MS });
    const value = async (name: string) => parseExposition(await registry.metrics()).get(name)?.[0]?.value ?? Number.NaN;
    await registry.metrics();
    const blockMs = EVENT_LOOP_SAMPLE_MS + 50;
    await new Promise<void>((resolve) =>
      setTimeout(() => {
        const end = performance.now() + blockMs;
        while (performance.now() < end) {
          // block the event loop
        }
        resolve();
      }, 20),
    );
    await sleep(2 * EVENT_LOOP_SAMPLE_MS);
    const text = await registry.metrics();
    const m = parseExposition(text);
    // The timer fell due during the block, at least blockMs - period before its end.
    expect(m.get('nodejs_eventloop_lag_max_seconds')?.[0]?.value).toBeGreaterThanOrEqual((blockMs - EVENT_LOOP_SAMPLE_MS) / 1000);
    for (const s of ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99']) expect(text).toContain(`# TYPE nodejs_eventloop_lag_${s}_seconds gauge`);
    // Reset at each scrape: the next one does not see the block, and an idle loop's figures are
    // its lateness, well under the period (which an unadjusted histogram would report).
    await sleep(3 * EVENT_LOOP_SAMPLE_MS);
    expect(await value('nodejs_eventloop_lag_max_seconds')).toBeLessThan((blockMs - EVENT_LOOP_SAMPLE_MS) / 1000);
    expect(await value('nodejs_eventloop_lag_min_seconds')).toBeLessThan(EVENT_LOOP_SAMPLE_MS / 2000);
  });
});
