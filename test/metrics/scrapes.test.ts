/**
 * collection.follow_scrapes: the collectors whose metrics only a scrape reads run in the cycle
 * before each expected scrape of a regular scraper; those the monitor reads run every cycle.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import type { HostCollector } from '../../src/metrics/collector.js';
import { family } from '../../src/metrics/exposition.js';
import { HostMetrics, collectorOptions } from '../../src/metrics/host.js';
import { ScrapeClock } from '../../src/metrics/scrapes.js';

const S = 1000;

describe('ScrapeClock', () => {
  it('collects every cycle while there is no scraper to follow', () => {
    const c = new ScrapeClock();
    expect(c.due(0, 5 * S)).toBe(true);
    c.note('10.0.0.1', 0); // seen once: no interval yet
    expect(c.due(1 * S, 5 * S)).toBe(true);
    expect(c.scrapers()).toEqual([]);
  });

  it('follows a scraper every 15 s: only the cycle before each scrape collects for it', () => {
    const c = new ScrapeClock();
    c.note('10.0.0.1', 0);
    c.note('10.0.0.1', 15 * S);
    expect(c.scrapers()).toEqual([{ client: '10.0.0.1', intervalMs: 15 * S }]);
    // Cycles every 5 s from 16 s; the next scrape is expected at 30 s.
    expect(c.due(16 * S, 5 * S)).toBe(false);
    expect(c.due(21 * S, 5 * S)).toBe(false);
    expect(c.due(26 * S, 5 * S)).toBe(true); // 30 s comes before the next cycle (31 s)
    c.note('10.0.0.1', 30 * S);
    expect(c.due(31 * S, 5 * S)).toBe(false);
  });

  it('takes a scrape expected just after the next cycle as one that may come before it', () => {
    const c = new ScrapeClock();
    c.note('a', 0);
    c.note('a', 15 * S);
    // Next scrape 30 s; a cycle at 24.5 s is followed by one at 29.5 s, within the margin.
    expect(c.due(24.5 * S, 5 * S)).toBe(true);
    expect(c.due(23 * S, 5 * S)).toBe(false);
  });

  it('collects every cycle for a late scraper, and forgets one that has stopped', () => {
    const c = new ScrapeClock();
    c.note('a', 0);
    c.note('a', 15 * S);
    expect(c.due(31 * S, 5 * S)).toBe(true); // late
    expect(c.due(52 * S, 5 * S)).toBe(true); // more than two intervals and a cycle without a scrape: forgotten
    expect(c.scrapers()).toEqual([]);
  });

  it('collects every cycle for a scraper about as fast as the cycle', () => {
    const c = new ScrapeClock();
    c.note('a', 0);
    c.note('a', 6 * S);
    expect(c.due(7 * S, 5 * S)).toBe(true);
    expect(c.due(8 * S, 5 * S)).toBe(true);
  });

  it('meets a scraper whose pace shortens with the shorter of its last two intervals', () => {
    const c = new ScrapeClock();
    c.note('a', 0);
    c.note('a', 30 * S);
    c.note('a', 60 * S);
    c.note('a', 80 * S); // now every 20 s? expected by 80 + 20
    expect(c.due(90 * S, 5 * S)).toBe(false);
    expect(c.due(95 * S, 5 * S)).toBe(true);
  });

  it('follows two scrapers (an HA pair) and collects before the sooner of them', () => {
    const c = new ScrapeClock();
    c.note('p1', 0);
    c.note('p2', 7 * S);
    c.note('p1', 30 * S);
    c.note('p2', 37 * S);
    expect(c.due(41 * S, 5 * S)).toBe(false); // next: 60 s and 67 s
    expect(c.due(56 * S, 5 * S)).toBe(true); // p1 at 60 s
    c.note('p1', 60 * S);
    expect(c.due(61 * S, 5 * S)).toBe(false); // p2 at 67 s: the cycle at 66 s collects for it
    expect(c.due(66 * S, 5 * S)).toBe(true);
  });

  it('keeps at most maxClients scrapers, forgetting the least recently seen', () => {
    const c = new ScrapeClock(2);
    for (const k of ['a', 'b']) c.note(k, 0);
    for (const k of ['a', 'b']) c.note(k, 20 * S);
    c.note('c', 21 * S); // a is forgotten
    c.note('c', 41 * S);
    expect(c.scrapers().map((s) => s.client)).toEqual(['b', 'c']);
  });
});

describe('HostMetrics with follow_scrapes', () => {
  function setup(opts: { wanted: string[] }) {
    let now = 0;
    const runs = { hot: 0, cold: 0 };
    const collectors: HostCollector[] = [
      { name: 'hot', collect: async () => [family('test_hot', 'read by the monitor', 'counter', ++runs.hot)] },
      { name: 'cold', collect: async () => [family('test_cold', 'read by scrapes only', 'counter', ++runs.cold)] },
    ];
    const config = loadConfig({ env: {}, cwd: '/', flags: { 'data-dir': '/tmp' } });
    const registry = new Registry();
    const host = new HostMetrics({
      collectors,
      options: collectorOptions(config),
      intervalMs: 5 * S,
      timeoutMs: 4 * S,
      logger: createLogger('silent'),
      registry,
      followScrapes: true,
      wanted: (n) => opts.wanted.includes(n),
      now: () => now,
    });
    const text = () => Buffer.concat(host.exposition()).toString('utf8');
    const at = (t: number) => {
      now = t;
    };
    return { host, runs, text, at, registry };
  }

  it('runs the collectors no one else reads only before expected scrapes, and serves their last values between', async () => {
    const { host, runs, text, at, registry } = setup({ wanted: ['test_hot'] });
    at(0);
    await host.cycle(); // the first cycle runs everything: nothing is known yet
    host.noteScrape('127.0.0.1');
    at(15 * S);
    host.noteScrape('127.0.0.1');
    expect(runs).toEqual({ hot: 1, cold: 1 });

    at(16 * S);
    await host.cycle();
    at(21 * S);
    await host.cycle();
    expect(runs).toEqual({ hot: 3, cold: 1 });
    // The cold collector's families are still served, with its last values.
    expect(text()).toMatch(/^test_cold 1$/m);
    expect(text()).toMatch(/^test_hot 3$/m);
    expect(text()).toMatch(/^node_scrape_collector_success\{collector="cold"\} 1$/m);

    at(26 * S); // the scrape expected at 30 s comes before the next cycle
    await host.cycle();
    expect(runs).toEqual({ hot: 4, cold: 2 });
    expect(text()).toMatch(/^test_cold 2$/m);
    const cycles = await registry.getSingleMetricAsString('promedic_collection_cycles_total');
    expect(cycles).toMatch(/collectors="all"} 2/);
    expect(cycles).toMatch(/collectors="every-cycle"} 2/);
    await host.stop();
  });

  it('runs every collector every cycle while no scraper keeps a regular interval', async () => {
    const { host, runs, at } = setup({ wanted: [] });
    for (let i = 0; i < 3; i++) {
      at(i * 5 * S);
      await host.cycle();
    }
    expect(runs).toEqual({ hot: 3, cold: 3 });
    await host.stop();
  });
});
