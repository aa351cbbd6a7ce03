import fc from 'fast-check';
import { Counter, Gauge, Histogram, Registry, Summary } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { OwnExposition } from '../../src/metrics/own.js';
import { createRegistry } from '../../src/metrics/registry.js';

const text = async (own: OwnExposition): Promise<string> => {
  const r = await own.render();
  const s = r.body.toString('utf8');
  r.release();
  return s;
};

/** Label values that need escaping, and some that do not. */
const labelValue = fc.oneof(
  fc.constantFrom('', 'a', 'with "quotes"', 'back\\slash', 'new\nline', 'ünïcødé ✓', '0', 'x,y:z'),
  fc.string({ maxLength: 8 }),
);
const value = fc.oneof(
  fc.double({ noNaN: false }),
  fc.integer({ min: -1000, max: 1_000_000 }).map(Number),
  fc.constantFrom(0, -0, 0.1, 1e21, 1e-7, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
);

type Op =
  | { kind: 'inc'; a: string; b: string; v: number }
  | { kind: 'set'; a: string; v: number }
  | { kind: 'setPlain'; v: number }
  | { kind: 'observe'; a: string; v: number }
  | { kind: 'observePlain'; v: number }
  | { kind: 'remove'; a: string }
  | { kind: 'reset'; which: 'counter' | 'gauge' | 'histogram' }
  | { kind: 'render' };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('inc' as const), a: labelValue, b: labelValue, v: fc.integer({ min: 0, max: 5 }) }),
  fc.record({ kind: fc.constant('set' as const), a: labelValue, v: value }),
  fc.record({ kind: fc.constant('setPlain' as const), v: value }),
  fc.record({ kind: fc.constant('observe' as const), a: labelValue, v: fc.double({ min: 0, max: 20, noNaN: true }) }),
  fc.record({ kind: fc.constant('observePlain' as const), v: fc.double({ min: -1, max: 20, noNaN: true }) }),
  fc.record({ kind: fc.constant('remove' as const), a: labelValue }),
  fc.record({ kind: fc.constant('reset' as const), which: fc.constantFrom('counter' as const, 'gauge' as const, 'histogram' as const) }),
  fc.constant({ kind: 'render' as const }),
);

describe("promedic's own exposition", () => {
  it('renders exactly the bytes prom-client renders, through any sequence of updates', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
        const registry = new Registry();
        const counter = new Counter({ name: 'c_total', help: 'a counter with \\ and\nnewline in its help', labelNames: ['a', 'b'], registers: [registry] });
        const plainCounter = new Counter({ name: 'plain_total', help: 'no labels', registers: [registry] });
        const gauge = new Gauge({ name: 'g', help: 'a gauge', labelNames: ['a'], registers: [registry] });
        const plainGauge = new Gauge({ name: 'plain', help: 'a plain gauge', registers: [registry] });
        const histogram = new Histogram({ name: 'h_seconds', help: 'a histogram', labelNames: ['a'], buckets: [0.005, 0.1, 1, 10], registers: [registry] });
        const plainHistogram = new Histogram({ name: 'ph', help: 'a plain histogram', buckets: [1, 2.5], registers: [registry] });
        // Each check renders both sides in the same round; collect() reads the round.
        let round = 0;
        new Gauge({
          name: 'collected',
          help: 'set by collect(), in a new order each round',
          labelNames: ['n'],
          registers: [registry],
          collect() {
            this.reset();
            const n = round % 8 < 4 ? 3 : 2;
            for (let i = 0; i < n; i++) this.set({ n: String(round % 2 ? n - 1 - i : i) }, 1);
            this.set({ n: 'round' }, round >> 2);
          },
        });
        new Gauge({
          name: 'collected_async',
          help: 'set by an async collect()',
          registers: [registry],
          async collect() {
            await new Promise((r) => setImmediate(r));
            this.set(round);
          },
        });
        // Not read by the renderer itself: prom-client renders it.
        const summary = new Summary({ name: 's', help: 'a summary', percentiles: [0.5], registers: [registry] });
        const own = new OwnExposition(registry);
        const check = async () => {
          round++;
          const mine = await text(own);
          expect(mine).toBe(await registry.metrics());
        };
        await check();
        for (const o of ops) {
          switch (o.kind) {
            case 'inc':
              counter.inc({ a: o.a, b: o.b }, o.v);
              plainCounter.inc(o.v);
              break;
            case 'set':
              gauge.set({ a: o.a }, o.v);
              break;
            case 'setPlain':
              plainGauge.set(o.v);
              summary.observe(Number.isFinite(o.v) ? o.v : 0);
              break;
            case 'observe':
              histogram.observe({ a: o.a }, o.v);
              break;
            case 'observePlain':
              plainHistogram.observe(o.v);
              break;
            case 'remove':
              gauge.remove({ a: o.a });
              counter.remove({ a: o.a, b: o.a });
              histogram.remove({ a: o.a });
              break;
            case 'reset':
              ({ counter, gauge, histogram })[o.which].reset();
              break;
            case 'render':
              await check();
              break;
          }
        }
        await check();
      }),
      { numRuns: 150 },
    );
  });

  it("renders promedic's registry with the same series as prom-client, and follows metrics added and removed", async () => {
    const registry = createRegistry();
    const own = new OwnExposition(registry);
    const series = (s: string) =>
      s
        .split('\n')
        .map((l) => (l.startsWith('#') ? l : l.replace(/ \S+$/, '')))
        .join('\n');
    expect(series(await text(own))).toBe(series(await registry.metrics()));
    const late = new Gauge({ name: 'late', help: 'registered after the first render', registers: [registry] });
    late.set(3);
    let mine = await text(own);
    expect(mine).toContain('\n# HELP late registered after the first render\n# TYPE late gauge\nlate 3\n');
    expect(series(mine)).toBe(series(await registry.metrics()));
    registry.removeSingleMetric('late');
    mine = await text(own);
    expect(mine).not.toContain('late');
    expect(series(mine)).toBe(series(await registry.metrics()));
  });

  it('reuses its buffer once released, and never while a response still holds it', async () => {
    const registry = new Registry();
    const g = new Gauge({ name: 'g', help: 'h', registers: [registry] });
    const own = new OwnExposition(registry);
    g.set(1);
    const a = await own.render();
    g.set(2);
    const b = await own.render();
    // a is still held: b was written elsewhere, and a still reads as it was.
    expect(b.body.buffer).not.toBe(a.body.buffer);
    expect(a.body.toString()).toContain('g 1\n');
    expect(b.body.toString()).toContain('g 2\n');
    a.release();
    a.release();
    g.set(3);
    const c = await own.render();
    expect(c.body.buffer).toBe(a.body.buffer);
    expect(c.body.toString()).toBe(await registry.metrics());
    b.release();
    c.release();
  });

  it("leaves a registry with default labels to prom-client's own rendering", async () => {
    const registry = new Registry();
    new Gauge({ name: 'g', help: 'h', labelNames: ['a'], registers: [registry] }).set({ a: '1' }, 1);
    new Histogram({ name: 'h', help: 'h', buckets: [1], registers: [registry] }).observe(0.5);
    const own = new OwnExposition(registry);
    expect(await text(own)).toBe(await registry.metrics());
    registry.setDefaultLabels({ host: 'x"y' });
    const mine = await text(own);
    expect(mine).toContain('g{a="1",host="x\\"y"} 1\n');
    expect(mine).toBe(await registry.metrics());
  });

  it('grows its buffer for a large exposition and keeps the bytes intact', async () => {
    const registry = new Registry();
    const g = new Gauge({ name: 'wide', help: 'many series', labelNames: ['i', 'text'], registers: [registry] });
    for (let i = 0; i < 3000; i++) g.set({ i: String(i), text: `ünïcødé ${'x'.repeat(i % 50)}` }, i);
    const own = new OwnExposition(registry);
    const r = await own.render();
    expect(r.body.length).toBeGreaterThan(64 * 1024);
    expect(r.body.toString('utf8')).toBe(await registry.metrics());
    r.release();
  });
});
