/**
 * Tuning experiments against a real HTTP app on 127.0.0.1 whose latency and errors respond to
 * its `concurrency` knob through a deterministic model: a beneficial change is kept, a harmful
 * one rolled back and read back, a guard breach aborts mid-experiment, an abort from outside
 * rolls back, a change that does not take is undone, and too few samples decide nothing.
 */
import { type Server, createServer } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ExperimentSpec, httpKnob, runExperiment } from '../../src/tuning/experiment.js';
import type { KnobSpec } from '../../src/tuning/knob.js';

const KNOB: KnobSpec = { name: 'concurrency', type: 'integer', min: 1, max: 64, step: '*2' };

let server: Server;
let url = '';
let concurrency = 16;
/** When true, PUT answers 200 but changes nothing (a knob that does not take). */
let sticky = false;
const puts: number[] = [];
let tick = 0;

/** p99 latency (s) of one interval: flat up to 8, then 50 ms per extra slot, plus a small deterministic wobble. */
function latency(c: number): number {
  tick++;
  const wobble = ((tick * 7919) % 13) / 13 - 0.5; // in [-0.5, 0.5)
  return 0.2 + Math.max(0, c - 8) * 0.05 + wobble * 0.04;
}
/** Error ratio of one interval: the pool gives out above 24. */
function errors(c: number): number {
  return c > 24 ? 0.2 : 0.01;
}

beforeEach(async () => {
  concurrency = 16;
  sticky = false;
  puts.length = 0;
  tick = 0;
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/admin/config' && req.method === 'GET') return res.end(JSON.stringify({ concurrency, batch_size: 200 }));
      if (req.url === '/admin/config' && req.method === 'PUT') {
        const v = (JSON.parse(body) as { concurrency: number }).concurrency;
        puts.push(v);
        if (!sticky) concurrency = v;
        return res.end(JSON.stringify({ concurrency }));
      }
      if (req.url === '/stats/latency') return res.end(JSON.stringify({ value: latency(concurrency) }));
      if (req.url === '/stats/errors') return res.end(JSON.stringify({ value: errors(concurrency) }));
      res.statusCode = 404;
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterEach(async () => {
  await new Promise((r) => server.close(r));
});

const stat = (path: string) => async (signal: AbortSignal) => ((await (await fetch(`${url}${path}`, { signal })).json()) as { value: number }).value;

function spec(candidate: number, over: Partial<ExperimentSpec> = {}): ExperimentSpec {
  return {
    target: 'demo-app',
    knob: KNOB,
    io: httpKnob(`${url}/admin/config`, 'concurrency'),
    candidate,
    objective: { name: 'p99 latency', source: stat('/stats/latency') },
    guards: [{ guard: { name: 'error ratio', max: 0.05 }, source: stat('/stats/errors') }],
    rule: { direction: 'minimize', minSamples: 6, minImprovement: 0.1 },
    windowMs: 240,
    intervalMs: 30,
    settleMs: 30,
    ...over,
  };
}

describe('tuning experiments', () => {
  it('keeps a beneficial change', async () => {
    const r = await runExperiment(spec(8));
    expect(r.outcome, r.reason).toBe('kept');
    expect(concurrency).toBe(8);
    expect(r).toMatchObject({ from: 16, to: 8, readBack: { applied: 8 } });
    expect(r.objective.baseline).toHaveLength(8);
    expect(r.objective.candidate).toHaveLength(8);
    expect(r.decision?.decision).toBe('keep');
    expect(r.reason).toMatch(/^p99 latency better: median 0\.[56]\d* -> 0\.[12]\d* \(6\d\.\d %\), p = .* < 0\.05; concurrency stays 8$/);
  });

  it('rolls a harmful change back and reads the old value back', async () => {
    const r = await runExperiment(spec(24));
    expect(r.outcome, r.reason).toBe('rolled_back');
    expect(r.decision?.decision).toBe('reject');
    expect(r.reason).toMatch(/^p99 latency worse: .*; concurrency restored to 16 \(read back\)$/);
    expect(puts).toEqual([24, 16]);
    expect(concurrency).toBe(16);
    expect(r.readBack).toEqual({ applied: 24, restored: 16 });
  });

  it('aborts at once when a guard breaks, mid-experiment', async () => {
    const r = await runExperiment(spec(32));
    expect(r.outcome).toBe('aborted');
    expect(r.reason).toBe('guard broken in interval 1: error ratio 0.200 above its limit 0.0500; concurrency restored to 16 (read back)');
    expect(r.objective.candidate).toHaveLength(1);
    expect(r.decision).toBeUndefined();
    expect(concurrency).toBe(16);
  });

  it('rolls back when aborted from outside (a healing run on the target, an emergency, the pause)', async () => {
    const controller = new AbortController();
    const running = runExperiment(spec(8, { signal: controller.signal, onPhase: (rec) => {
      if (rec.phase === 'measuring') controller.abort('a healing run started on demo-app');
    } }));
    const r = await running;
    expect(r.outcome).toBe('aborted');
    expect(r.reason).toBe('aborted: a healing run started on demo-app; concurrency restored to 16 (read back)');
    expect(concurrency).toBe(16);
  });

  it('undoes a change that does not take (the knob reads back its old value)', async () => {
    sticky = true;
    const r = await runExperiment(spec(8));
    expect(r.outcome).toBe('rolled_back');
    expect(r.reason).toMatch(/^the change did not take: concurrency reads 16 after writing 8; concurrency restored to 16/);
  });

  it('decides nothing on too few samples, and keeps nothing', async () => {
    const r = await runExperiment(spec(8, { windowMs: 90 }));
    expect(r.decision?.decision).toBe('insufficient');
    expect(r.outcome).toBe('rolled_back');
    expect(r.reason).toMatch(/too few samples to decide: 3 baseline and 3 candidate intervals, 6 needed on each side; concurrency restored to 16/);
    expect(concurrency).toBe(16);
  });

  it('refuses a candidate outside the knob, changing nothing', async () => {
    const r = await runExperiment(spec(100));
    expect(r).toMatchObject({ outcome: 'failed', reason: 'candidate 100 is not an allowed value of concurrency' });
    expect(puts).toEqual([]);
  });
});
