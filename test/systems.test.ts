/**
 * promedic's parts as systems: started in dependency order and stopped in reverse (a failed
 * start stops what already started), turned off by `systems:`, and supervised: a part that
 * stops making progress is reported in /-/ready, the status and promedic_system_up, and is
 * restarted with a backoff that doubles while it keeps stalling, each restart counted.
 */
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type Promedic, createPromedic } from '../src/index.js';
import { type System, type SystemName, Systems } from '../src/systems.js';
import { parseExposition, rawRequest, tempDir, waitFor } from './helpers/index.js';

const log = pino({ level: 'silent' });

function fake(name: SystemName, calls: string[], over: Partial<System> = {}): System {
  return {
    name,
    start: async () => void calls.push(`start ${name}`),
    stop: async () => void calls.push(`stop ${name}`),
    status: () => ({ state: 'up', detail: '' }),
    ...over,
  };
}

describe('Systems', () => {
  it('starts in order, stops in reverse, skips disabled ones, and keeps stopping past a failing stop', async () => {
    const calls: string[] = [];
    const s = new Systems({ logger: log, registry: new Registry() })
      .add(fake('store', calls))
      .add(fake('collector', calls), false)
      .add(fake('engine', calls, { stop: async () => { calls.push('stop engine'); throw new Error('boom'); } }))
      .add(fake('tuner', calls));
    await s.startAll();
    await s.stopAll();
    expect(calls).toEqual(['start store', 'start engine', 'start tuner', 'stop tuner', 'stop engine', 'stop store']);
    expect(s.statuses().collector).toEqual({ state: 'disabled', detail: 'turned off (systems.collector: false)', restarts: 0 });
  });

  it('stops what already started when a start fails, and throws', async () => {
    const calls: string[] = [];
    const s = new Systems({ logger: log, registry: new Registry() })
      .add(fake('store', calls))
      .add(fake('engine', calls, { start: async () => { throw new Error('cannot recover'); } }))
      .add(fake('tuner', calls));
    await expect(s.startAll()).rejects.toThrow('cannot recover');
    expect(calls).toEqual(['start store', 'stop store']);
  });

  it('restarts a stalled system with a doubling backoff, counts each restart, and exports which parts are up', async () => {
    let stalled = true;
    let restarts = 0;
    const registry = new Registry();
    const s = new Systems({ logger: log, registry, backoff: { initialMs: 1000, maxMs: 4000 } }).add(
      fake('collector', [], {
        status: () => ({ state: stalled ? 'down' : 'up', detail: '' }),
        stalled: () => (stalled ? 'no collection cycle for 20 s' : null),
        restart: async () => void restarts++,
      }),
    );
    await s.startAll();
    const t = 1_000_000;
    const up = async () => (parseExposition(await registry.metrics()).get('promedic_system_up') ?? [])[0]?.value;
    expect(await up()).toBe(0);
    await s.check(t); // restart 1; next not before t + 1 s
    await s.check(t + 500); // within the backoff: nothing
    await s.check(t + 1000); // restart 2; next not before + 2 s
    await s.check(t + 2500); // nothing
    await s.check(t + 3000); // restart 3; next not before + 4 s (the cap)
    await s.check(t + 7000); // restart 4; still + 4 s
    expect(restarts).toBe(4);
    stalled = false;
    await s.check(t + 20_000);
    expect(restarts).toBe(4);
    expect(await up()).toBe(1);
    expect(parseExposition(await registry.metrics()).get('promedic_system_restarts_total')?.[0]?.value).toBe(4);
    expect(s.statuses().collector?.restarts).toBe(4);
    await s.stopAll();
  });
});

describe('in the running service', () => {
  let p: Promedic | null = null;
  const dir = tempDir();
  afterEach(async () => {
    await p?.stop();
    p = null;
  });
  afterAll(() => dir.cleanup());

  async function start(config: Parameters<typeof createPromedic>[0] extends infer O ? O extends { config?: infer C } ? C : never : never): Promise<Promedic> {
    p = await createPromedic({ config: { listen: { port: 0, address: '127.0.0.1' }, data_dir: `${dir.path}/data-${Math.random()}`, rules_dir: `${dir.path}/none`, ...config }, env: {}, logger: log });
    await p.start();
    return p;
  }

  it('starts the parts in dependency order and stops them in reverse', async () => {
    const s = await start({});
    const systems = s.service?.ctx.systems;
    expect(systems?.history).toEqual(['start:store', 'start:collector', 'start:targets', 'start:monitor', 'start:intake', 'start:engine', 'start:tuner', 'start:learner']);
    await s.stop();
    expect(systems?.history.slice(8)).toEqual(['stop:learner', 'stop:tuner', 'stop:engine', 'stop:intake', 'stop:monitor', 'stop:targets', 'stop:collector', 'stop:store']);
  });

  it('turns parts off with systems:', async () => {
    const s = await start({ systems: { collector: false, tuner: false, learner: false } });
    const st = s.status();
    expect(st.systems.collector.state).toBe('disabled');
    expect(st.systems.tuner.state).toBe('disabled');
    expect(st.systems.learner.state).toBe('disabled');
    expect(s.config.learning.enabled).toBe(false);
    // Ready without a collection cycle: there is no collector to wait for.
    expect((await rawRequest(`${s.url}/-/ready`, {})).status).toBe(200);
    const scrape = (await rawRequest(`${s.url}/metrics`, {})).body;
    expect(scrape).not.toMatch(/^node_cpu_seconds_total/m);
    expect(scrape).toMatch(/^promedic_system_up\{system="engine"\} 1$/m);
    expect(scrape).not.toMatch(/promedic_system_up\{system="collector"\}/);
  });

  it('reports a collector that stopped cycling in /-/ready and promedic_system_up, and restarts it', async () => {
    const s = await start({});
    const ctx = s.service?.ctx;
    if (!ctx) throw new Error('not started');
    // The loop stalls: its last cycle is a minute old.
    ctx.host.lastCycleEnd = Date.now() - 60_000;
    const ready = await rawRequest(`${s.url}/-/ready`, {});
    expect(ready.status).toBe(503);
    expect(ready.body).toMatch(/^promedic is not ready\.\ncollector: no collection cycle for 60 s \(interval 5 s\)\n$/);
    expect((await rawRequest(`${s.url}/metrics`, {})).body).toMatch(/^promedic_system_up\{system="collector"\} 0$/m);
    const cycles = ctx.host.cycles;
    await ctx.systems.check();
    await waitFor(() => ctx.host.cycles > cycles, 5000, 'a new cycle');
    expect((await rawRequest(`${s.url}/-/ready`, {})).status).toBe(200);
    const scrape = (await rawRequest(`${s.url}/metrics`, {})).body;
    expect(scrape).toMatch(/^promedic_system_up\{system="collector"\} 1$/m);
    expect(scrape).toMatch(/^promedic_system_restarts_total\{system="collector"\} 1$/m);
    expect(s.status().systems.collector).toMatchObject({ state: 'up', restarts: 1 });
  });
});

describe('the monitor behind schedule', () => {
  it('is degraded while one evaluation runs for more than two intervals, and counts the evaluations it skipped', async () => {
    const dir = tempDir();
    const p = await createPromedic({ config: { listen: { port: 0, address: '127.0.0.1' }, data_dir: `${dir.path}/data`, rules_dir: `${dir.path}/none` }, env: {}, logger: log });
    try {
      await p.start();
      const ctx = p.service?.ctx;
      if (!ctx) throw new Error('not started');
      expect(p.status().systems.monitor).toMatchObject({ state: 'up', errors: 0 });
      // An evaluation that started 20 s ago and has not finished.
      ctx.monitor.evaluationStartedAt = Date.now() - 20_000;
      expect(p.status().systems.monitor).toMatchObject({ state: 'degraded', detail: 'behind schedule: one evaluation has run for 20 s (interval 5 s)' });
      ctx.monitor.evaluationStartedAt = null;
      // Evaluations asked for while one still runs are skipped and counted.
      const slow = ctx.monitor.evaluate(Date.now());
      void ctx.monitor.evaluate(Date.now());
      await slow;
      expect(p.status().systems.monitor.errors).toBe(1);
    } finally {
      await p.stop();
      dir.cleanup();
    }
  });
});
