/** The event-loop delay gauges measure: a 60 ms block shows in the next scrape's max and not in the one after. */
import { describe, expect, it } from 'vitest';
import { createRegistry } from '../../src/metrics/registry.js';
import { parseExposition } from '../helpers/index.js';

describe('nodejs_eventloop_lag_*_seconds', () => {
  it('report the delay since the last scrape', async () => {
    const registry = createRegistry();
    const value = async (name: string) => parseExposition(await registry.metrics()).get(name)?.[0]?.value ?? Number.NaN;
    await registry.metrics();
    await new Promise<void>((resolve) =>
      setTimeout(() => {
        const end = performance.now() + 60;
        while (performance.now() < end) {
          // block the event loop
        }
        resolve();
      }, 20),
    );
    await new Promise((r) => setTimeout(r, 50));
    const text = await registry.metrics();
    const m = parseExposition(text);
    expect(m.get('nodejs_eventloop_lag_max_seconds')?.[0]?.value).toBeGreaterThanOrEqual(0.05);
    expect(m.get('nodejs_eventloop_lag_p50_seconds')?.[0]?.value).toBeGreaterThan(0);
    for (const s of ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99']) expect(text).toContain(`# TYPE nodejs_eventloop_lag_${s}_seconds gauge`);
    // Reset at each scrape: the next one does not see the block.
    await new Promise((r) => setTimeout(r, 50));
    expect(await value('nodejs_eventloop_lag_max_seconds')).toBeLessThan(0.05);
  });
});
