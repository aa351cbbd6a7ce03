/**
 * The state: bounded by the cap (least recently seen forgotten first), aggregates only, and
 * a JSON round trip that gives the same decisions under the same seed.
 */
import { describe, expect, it } from 'vitest';
import {
  chooseStrategies,
  createLearningState,
  createRng,
  learningFromJSON,
  LearningStateError,
  learningToJSON,
  type PlaybookView,
  recordFiring,
  recordOutcome,
  resolveOptions,
  sweepChronic,
} from '../../src/learning/index.js';
import { DAY, HOUR, MINUTE, T0, runAlert, world } from './world.js';

const PB: PlaybookView = { name: 'pb', strategies: [{ name: 'A' }, { name: 'B', risk: 'medium' }, { name: 'C', risk: 'high' }] };

describe('cardinality cap', () => {
  it('holds at maxSignatures, forgetting the least recently seen', () => {
    const state = createLearningState({ maxSignatures: 100 });
    for (let i = 0; i < 1000; i++) {
      recordOutcome(state, { playbook: 'pb', signature: `alertname=X,service=s${i}`, strategy: 'A', at: T0 + i * MINUTE, success: true });
      // s0 keeps firing, so it is never the least recently seen.
      recordFiring(state, { playbook: 'pb', signature: 'alertname=X,service=s0', at: T0 + i * MINUTE });
      expect(state.entries.size).toBeLessThanOrEqual(100);
    }
    expect(state.entries.size).toBe(100);
    expect(state.evicted).toBe(900);
    const kept = [...state.entries.values()].map((e) => e.signature);
    expect(kept).toContain('alertname=X,service=s0');
    expect(kept).toContain('alertname=X,service=s999');
    expect(kept).toContain('alertname=X,service=s901');
    expect(kept).not.toContain('alertname=X,service=s900');
    // Forgotten: back to the configured order.
    expect(chooseStrategies(state, PB, 'alertname=X,service=s5', T0 + DAY, createRng(1))).toMatchObject({ learned: false, trials: 0 });
  });

  it('counts (playbook, signature) pairs: one signature under two playbooks takes two places', () => {
    const state = createLearningState({ maxSignatures: 2 });
    for (const playbook of ['p1', 'p2', 'p3']) recordFiring(state, { playbook, signature: 'alertname=X', at: T0 });
    expect([...state.entries.values()].map((e) => e.playbook)).toEqual(['p2', 'p3']);
  });

  it('keeps a bounded summary per strategy: counts and the newest 9 recovery times', () => {
    const state = createLearningState();
    for (let i = 0; i < 1000; i++) recordOutcome(state, { playbook: 'pb', signature: 'alertname=X', strategy: 'A', at: T0 + i * HOUR, success: true, recoverySeconds: i + 0.0004, rolledBack: i % 10 === 0 });
    const s = [...state.entries.values()][0]?.strategies.get('A');
    expect(s?.recoveries).toEqual(Array.from({ length: 9 }, (_, k) => 991 + k));
    expect(s).toMatchObject({ successes: 1000, failures: 0, rollbacks: 100 });
    expect(chooseStrategies(state, PB, 'alertname=X', T0 + 1000 * HOUR, createRng(1)).strategies.find((e) => e.name === 'A')?.medianRecoverySeconds).toBe(995);
  });

  it('weighs an outcome that arrives late by its age', () => {
    const state = createLearningState();
    recordOutcome(state, { playbook: 'pb', signature: 'alertname=X', strategy: 'A', at: T0 + 7 * DAY, success: true });
    recordOutcome(state, { playbook: 'pb', signature: 'alertname=X', strategy: 'A', at: T0, success: false });
    const s = [...state.entries.values()][0]?.strategies.get('A');
    expect(s).toMatchObject({ at: T0 + 7 * DAY, weightedSuccesses: 1, weightedFailures: 0.5, successes: 1, failures: 1 });
  });
});

describe('serialisation', () => {
  function busyState() {
    const w = world({ seed: 9, playbook: PB, fixes: { A: 0.3, B: 0.7, C: 0.9 }, options: { maxSignatures: 50 } });
    for (let i = 0; i < 600; i++) {
      w.signature = `alertname=HighErrorRate,service=s${i % 60}`;
      recordFiring(w.state, { playbook: PB.name, signature: w.signature, at: T0 + i * 10 * MINUTE });
      runAlert(w, T0 + i * 10 * MINUTE);
    }
    // Three chronic signatures.
    for (const k of [2, 0, 1]) for (let i = 0; i < 5; i++) recordFiring(w.state, { playbook: PB.name, signature: `alertname=Burst,service=b${k}`, at: T0 + 6000 * MINUTE + i * MINUTE });
    expect(w.state.chronic.size).toBe(3);
    return w.state;
  }

  it('survives JSON: the same decisions under the same seed, now and after more outcomes', () => {
    const a = busyState();
    const b = learningFromJSON(JSON.parse(JSON.stringify(learningToJSON(a))), { maxSignatures: 50 });
    expect(learningToJSON(b)).toEqual(learningToJSON(a));
    expect(b.chronic).toEqual(a.chronic);
    const now = T0 + 101 * HOUR;
    const sigs = [...a.entries.values()].map((e) => e.signature);
    expect(sigs).toHaveLength(50);
    expect(b.chronic.size).toBe(3);
    const ra = createRng(77);
    const rb = createRng(77);
    for (const sig of sigs) expect(chooseStrategies(b, PB, sig, now, rb)).toEqual(chooseStrategies(a, PB, sig, now, ra));
    for (const s of [a, b]) {
      for (let i = 0; i < 100; i++) recordOutcome(s, { playbook: PB.name, signature: sigs[i % 50] as string, strategy: 'B', at: now + i * MINUTE, success: i % 3 > 0, recoverySeconds: i });
      recordFiring(s, { playbook: PB.name, signature: 'alertname=New', at: now + HOUR });
    }
    expect(learningToJSON(b)).toEqual(learningToJSON(a));
    const later = now + 2 * DAY;
    const ra2 = createRng(78);
    const rb2 = createRng(78);
    for (const sig of sigs) expect(chooseStrategies(b, PB, sig, later, rb2)).toEqual(chooseStrategies(a, PB, sig, later, ra2));
    const cleared = sweepChronic(a, later);
    expect(cleared.map((c) => c.signature)).toEqual(['alertname=Burst,service=b0', 'alertname=Burst,service=b1', 'alertname=Burst,service=b2']);
    expect(sweepChronic(b, later)).toEqual(cleared);
  });

  it('is plain data, small enough to keep in the store', () => {
    const json = learningToJSON(busyState());
    const text = JSON.stringify(json);
    expect(JSON.parse(text)).toEqual(json);
    expect(text.length / json.entries.length).toBeLessThan(1000);
  });

  it('applies a lower cap on load, forgetting the least recently seen', () => {
    const a = busyState();
    const b = learningFromJSON(learningToJSON(a), { maxSignatures: 10 });
    expect(b.entries.size).toBe(10);
    expect([...b.entries.keys()]).toEqual([...a.entries.keys()].slice(-10));
    expect(b.evicted).toBe(a.evicted + 40);
  });

  it('refuses what is not a learning state, saying where', () => {
    const good = learningToJSON(busyState());
    expect(() => learningFromJSON(null)).toThrow(LearningStateError);
    expect(() => learningFromJSON({ ...good, version: 2 })).toThrow('learning.version: expected 1 (got 2)');
    const bad = structuredClone(good);
    (bad.entries[3]?.strategies[0] as unknown as Record<string, unknown>).weightedSuccesses = 'x';
    expect(() => learningFromJSON(bad)).toThrow('learning.entries[3].strategies[0].weightedSuccesses: expected a finite number of at least 0');
    const neg = structuredClone(good);
    (neg.entries[0] as unknown as Record<string, unknown>).firings = [1, null];
    expect(() => learningFromJSON(neg)).toThrow('learning.entries[0].firings[1]: expected a finite number');
  });
});

describe('settings', () => {
  it('has documented defaults', () => {
    expect(resolveOptions()).toEqual({
      prior: { alpha: 1, beta: 1 },
      halfLifeMs: 7 * DAY,
      minTrials: 3,
      failedBelow: 0.5,
      maxSignatures: 10_000,
      recoverySamples: 9,
      chronicOccurrences: 5,
      chronicWindowMs: HOUR,
      chronicClearBelow: 1,
    });
  });

  it('refuses nonsense, naming the setting', () => {
    expect(() => createLearningState({ prior: { alpha: 0, beta: 1 } })).toThrow('prior.alpha');
    expect(() => createLearningState({ halfLifeMs: 0 })).toThrow('halfLifeMs');
    expect(() => createLearningState({ minTrials: 1.5 })).toThrow('minTrials');
    expect(() => createLearningState({ maxSignatures: 0 })).toThrow('maxSignatures');
    expect(() => createLearningState({ failedBelow: 1.5 })).toThrow('failedBelow');
    expect(() => createLearningState({ chronicClearBelow: 6 })).toThrow('chronicClearBelow (6) cannot exceed chronicOccurrences (5)');
    expect(() => createLearningState({ chronicWindowMs: Number.POSITIVE_INFINITY })).toThrow('chronicWindowMs');
    expect(() => recordOutcome(createLearningState(), { playbook: 'p', signature: 's', strategy: 'A', at: Number.NaN, success: true })).toThrow(RangeError);
  });

  it('takes another prior', () => {
    const state = createLearningState({ prior: { alpha: 0.5, beta: 0.5 }, minTrials: 0 });
    const d = chooseStrategies(state, PB, 'alertname=X', T0, createRng(1));
    expect(d.strategies.every((e) => e.posteriorMean === 0.5 && typeof e.sample === 'number')).toBe(true);
  });
});
