/**
 * Strategy choice: Thompson sampling learns the better strategy for a signature yet keeps
 * exploring while evidence is thin, old evidence fades, the configured order holds while
 * learning is off or trials are few, and a seed fixes every decision.
 */
import { describe, expect, it } from 'vitest';
import { chooseStrategies, createLearningState, createRng, describeEvidence, type PlaybookView, recordOutcome, wilsonInterval } from '../../src/learning/index.js';
import { DAY, HOUR, T0, runAlerts, seed, world } from './world.js';

const AB: PlaybookView = { name: 'checkout-errors', strategies: [{ name: 'A' }, { name: 'B' }] };

describe('learning which strategy fixes a signature', () => {
  // B fixes 90 % of these alerts, A (listed first) 20 %. 20 seeded worlds, 230 alerts an hour apart each.
  const worlds = Array.from({ length: 20 }, (_, i) => runAlerts(world({ seed: i + 1, playbook: AB, fixes: { A: 0.2, B: 0.9 } }), 230));

  it('puts B first in at least 95 % of the runs after the first 30, in every world', () => {
    for (const ds of worlds) {
      const later = ds.slice(30);
      const bFirst = later.filter((d) => d.order[0] === 'B').length;
      expect(bFirst / later.length).toBeGreaterThanOrEqual(0.95);
      expect(later.every((d) => d.learned)).toBe(true);
    }
  });

  it('starts with the configured order and still tries A first now and then while evidence is thin', () => {
    for (const ds of worlds) expect(ds[0]).toMatchObject({ order: ['A', 'B'], learned: false, reason: 'as configured: 0 of 3 trials needed before reordering' });
    const learnedEarly = worlds.flatMap((ds) => ds.slice(0, 30).filter((d) => d.learned));
    const learnedLate = worlds.flatMap((ds) => ds.slice(30));
    const aFirstEarly = learnedEarly.filter((d) => d.order[0] === 'A').length;
    const aFirstLate = learnedLate.filter((d) => d.order[0] === 'A').length;
    // Exploration: A drawn ahead of B in runs the sampler decided, in several of the worlds...
    expect(aFirstEarly).toBeGreaterThan(0);
    expect(worlds.filter((ds) => ds.slice(0, 30).some((d) => d.learned && d.order[0] === 'A')).length).toBeGreaterThanOrEqual(3);
    // ...and less and less often as evidence grows.
    expect(aFirstLate / learnedLate.length).toBeLessThan(aFirstEarly / learnedEarly.length);
  });

  it('explains the choice with the evidence', () => {
    const d = worlds[0]?.at(-1);
    expect(d?.reason).toMatch(/^B first: \d+\/\d+ verified successes$/);
    const b = d?.strategies[0];
    expect(b?.name).toBe('B');
    expect(b?.successRate).toBeGreaterThan(0.8);
    expect(b?.interval?.[0]).toBeLessThan(b?.successRate as number);
    expect(b?.interval?.[1]).toBeGreaterThan(b?.successRate as number);
    expect(b?.medianRecoverySeconds).toBeGreaterThan(0);
    expect(d?.strategies.map((s) => s.sample)).toEqual([expect.any(Number), expect.any(Number)]);
  });
});

describe('evidence and reasons', () => {
  const pb: PlaybookView = { name: 'cache', strategies: [{ name: 'restart-pods' }, { name: 'clear-caches' }] };

  it('reports raw and weighted counts, the Wilson interval and the median time to recover', () => {
    const w = world({ seed: 1, playbook: pb, fixes: {} });
    for (let i = 0; i < 15; i++) recordOutcome(w.state, { playbook: 'cache', signature: w.signature, strategy: 'clear-caches', at: T0, success: i !== 7, recoverySeconds: 10 * (i + 1) });
    seed(w, 'restart-pods', 1, 4, T0);
    const d = chooseStrategies(w.state, pb, w.signature, T0, createRng(7));
    expect(d.reason).toBe('clear-caches first: 14/15 verified successes');
    const c = d.strategies[0];
    expect(c).toMatchObject({ name: 'clear-caches', successes: 14, failures: 1, rollbacks: 0, weightedSuccesses: 14, weightedFailures: 1, failedHere: false, heldBack: false });
    expect(c?.successRate).toBeCloseTo(14 / 15, 12);
    expect(c?.interval?.[0]).toBeCloseTo(0.70183, 5);
    expect(c?.interval?.[1]).toBeCloseTo(0.98813, 5);
    expect(c?.posteriorMean).toBeCloseTo(15 / 17, 12);
    // The newest 9 successes kept: 70, 90, 100, ..., 150 s (the 80 s run failed).
    expect(c?.medianRecoverySeconds).toBe(110);
    // A day later the same record weighs 2^(-1/7) as much; the interval follows the weighted counts.
    const later = describeEvidence(w.state, pb, w.signature, T0 + DAY).find((e) => e.name === 'clear-caches');
    const f = 2 ** (-1 / 7);
    expect(later?.weightedSuccesses).toBeCloseTo(14 * f, 12);
    const expected = wilsonInterval(14 * f, 15 * f) as [number, number];
    expect(later?.interval?.[0]).toBeCloseTo(expected[0], 12);
    expect(later?.interval?.[1]).toBeCloseTo(expected[1], 12);
    expect(later?.successes).toBe(14);
  });

  it('says when a strategy goes first untried, and when decay has moved its rate', () => {
    const w = world({ seed: 3, playbook: pb, fixes: {} });
    seed(w, 'restart-pods', 0, 3, T0);
    const untried = Array.from({ length: 50 }, () => chooseStrategies(w.state, pb, w.signature, T0, w.rng)).find((d) => d.order[0] === 'clear-caches');
    expect(untried?.reason).toBe('clear-caches first: not yet tried here (exploring)');

    const v = world({ seed: 4, playbook: pb, fixes: {} });
    seed(v, 'clear-caches', 10, 0, T0);
    seed(v, 'clear-caches', 0, 5, T0 + 14 * DAY);
    seed(v, 'restart-pods', 0, 10, T0 + 14 * DAY);
    const d = chooseStrategies(v.state, pb, v.signature, T0 + 14 * DAY, v.rng);
    // 10 successes two half-lives ago weigh 2.5: 2.5 / 7.5 recently.
    expect(d.reason).toBe('clear-caches first: 10/15 verified successes, 33 % recently');
  });
});

describe('the configured order', () => {
  it('always, with learning off, whatever the evidence (which is still reported)', () => {
    const off: PlaybookView = { ...AB, learning: false };
    const w = world({ seed: 1, playbook: off, fixes: {} });
    seed(w, 'A', 0, 20, T0);
    seed(w, 'B', 20, 0, T0);
    for (let s = 0; s < 100; s++) {
      const d = chooseStrategies(w.state, off, w.signature, T0 + s * HOUR, createRng(s));
      expect(d).toMatchObject({ order: ['A', 'B'], indices: [0, 1], learned: false, reason: 'as configured: learning is off for this playbook' });
      expect(d.strategies.map((e) => e.sample)).toEqual([null, null]);
      expect(d.strategies[1]).toMatchObject({ name: 'B', successes: 20 });
    }
    // The same evidence with learning on: B first.
    expect(chooseStrategies(w.state, AB, w.signature, T0, createRng(1)).order).toEqual(['B', 'A']);
  });

  it('until the signature has minTrials trials, then the draws decide', () => {
    const w = world({ seed: 1, playbook: AB, fixes: {} });
    seed(w, 'A', 0, 2, T0);
    for (let s = 0; s < 200; s++) {
      const d = chooseStrategies(w.state, AB, w.signature, T0, createRng(s));
      expect(d).toMatchObject({ order: ['A', 'B'], learned: false, trials: 2, reason: 'as configured: 2 of 3 trials needed before reordering' });
    }
    seed(w, 'A', 0, 1, T0);
    const ds = Array.from({ length: 200 }, (_, s) => chooseStrategies(w.state, AB, w.signature, T0, createRng(s)));
    expect(ds.every((d) => d.learned && d.trials === 3)).toBe(true);
    // Beta(1, 4) against the uniform prior: B wins 4 draws in 5.
    const bFirst = ds.filter((d) => d.order[0] === 'B').length;
    expect(bFirst).toBeGreaterThan(140);
    expect(bFirst).toBeLessThan(190);
  });

  it('per signature: another signature of the same playbook starts over', () => {
    const w = world({ seed: 1, playbook: AB, fixes: {} });
    seed(w, 'A', 0, 10, T0);
    seed(w, 'B', 10, 0, T0);
    expect(chooseStrategies(w.state, AB, w.signature, T0, w.rng).order).toEqual(['B', 'A']);
    expect(chooseStrategies(w.state, AB, 'alertname=HighErrorRate,service=cart', T0, w.rng)).toMatchObject({ order: ['A', 'B'], learned: false });
  });

  it('for a single strategy, and with no state at all', () => {
    const one: PlaybookView = { name: 'one', strategies: [{ name: 'only' }] };
    expect(chooseStrategies(createLearningState(), one, 'alertname=X', T0, createRng(1))).toMatchObject({ order: ['only'], learned: false, reason: 'as configured: the only strategy' });
    expect(chooseStrategies(createLearningState({ minTrials: 0 }), AB, 'alertname=X', T0, createRng(1)).learned).toBe(true);
  });
});

describe('decay', () => {
  // B fixed 95 % for 1000 hourly alerts (six weeks), then stops working; A fixes half.
  function afterBreak(seedNo: number, halfLifeMs: number): string[] {
    const w = world({ seed: seedNo, playbook: AB, fixes: { A: 0.5, B: 0.95 }, options: { halfLifeMs } });
    runAlerts(w, 1000);
    w.fixes.B = 0;
    return runAlerts(w, 400, T0 + 1000 * HOUR).map((d) => d.order[0] as string);
  }
  /** The first run from which B goes first in at most 1 of 20 runs in a row; -1: never. */
  const lostAt = (firsts: string[]) => firsts.findIndex((_, i) => i + 20 <= firsts.length && firsts.slice(i, i + 20).filter((f) => f === 'B').length <= 1);

  it('a strategy that starts failing loses first place within 300 runs (12.5 days) at a 7-day half-life', () => {
    for (let s = 1; s <= 10; s++) {
      const firsts = afterBreak(s, 7 * DAY);
      const at = lostAt(firsts);
      expect(at).toBeGreaterThanOrEqual(0);
      expect(at).toBeLessThan(300);
      // And stays behind: B first in at most 1 of the last 50 runs.
      expect(firsts.slice(-50).filter((f) => f === 'B').length).toBeLessThanOrEqual(1);
    }
  });

  it('without decay, six weeks of successes hold it in first place far longer', () => {
    for (let s = 1; s <= 5; s++) {
      const firsts = afterBreak(s, Number.POSITIVE_INFINITY);
      expect(lostAt(firsts.slice(0, 320))).toBe(-1);
      expect(firsts.slice(0, 300).filter((f) => f === 'B').length).toBeGreaterThan(240);
    }
  });

  it('evidence that has faded gives the configured order back (no timers: decay is applied when read)', () => {
    const w = world({ seed: 1, playbook: AB, fixes: {} });
    seed(w, 'A', 0, 5, T0);
    seed(w, 'B', 20, 0, T0);
    expect(chooseStrategies(w.state, AB, w.signature, T0 + DAY, w.rng)).toMatchObject({ order: ['B', 'A'], learned: true, trials: 23 });
    // 25 trials, 60 days (8.6 half-lives) on: 0.07 of a trial.
    const d = chooseStrategies(w.state, AB, w.signature, T0 + 60 * DAY, w.rng);
    expect(d).toMatchObject({ order: ['A', 'B'], learned: false, trials: 0, reason: 'as configured: 0 of 3 trials needed before reordering' });
    expect(d.strategies[1]).toMatchObject({ name: 'B', successes: 20 });
    expect(d.strategies[1]?.weightedSuccesses).toBeCloseTo(20 * 2 ** (-60 / 7), 12);
  });
});

describe('determinism', () => {
  it('the same seed gives the same sequence of decisions; another seed another one', () => {
    const run = (s: number) => runAlerts(world({ seed: s, playbook: AB, fixes: { A: 0.4, B: 0.6 } }), 200);
    const a = run(11);
    expect(run(11)).toEqual(a);
    const b = run(12);
    expect(b.map((d) => d.order.join())).not.toEqual(a.map((d) => d.order.join()));
  });

  it('choosing changes nothing in the state', () => {
    const w = world({ seed: 5, playbook: AB, fixes: { A: 0.4, B: 0.6 } });
    runAlerts(w, 50);
    const before = structuredClone(w.state.entries);
    for (let i = 0; i < 100; i++) chooseStrategies(w.state, AB, w.signature, T0 + 100 * HOUR, w.rng);
    expect(w.state.entries).toEqual(before);
  });
});
