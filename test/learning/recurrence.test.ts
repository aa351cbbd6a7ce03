/**
 * Recurrence: the N-th firing of a signature within the window makes it chronic, reported
 * once; firings outside the window do not count; it clears, once, after the firings within
 * the window drop below chronicClearBelow (default: a whole quiet window).
 */
import { describe, expect, it } from 'vitest';
import { chronicSignatures, createLearningState, type LearningOptions, recordFiring, recurrenceOf, sweepChronic } from '../../src/learning/index.js';
import { HOUR, MINUTE, T0 } from './world.js';

const SIG = 'alertname=HighErrorRate,service=checkout';
const fire = (state: ReturnType<typeof createLearningState>, minutes: number, signature = SIG) => recordFiring(state, { playbook: 'pb', signature, at: T0 + minutes * MINUTE });

describe('chronic detection (5 within 1 h)', () => {
  it('fires at exactly the 5th firing within the window, not at the 4th, and reports it once', () => {
    const state = createLearningState();
    const r = [0, 10, 20, 30, 40, 50, 55].map((m) => fire(state, m));
    expect(r.slice(0, 4).map((x) => [x.chronic, x.transition, x.count])).toEqual([
      [false, null, 1],
      [false, null, 2],
      [false, null, 3],
      [false, null, 4],
    ]);
    expect(r[4]).toEqual({ chronic: true, transition: 'chronic', count: 5, since: T0 + 40 * MINUTE });
    expect(r[5]).toEqual({ chronic: true, transition: null, count: 5, since: T0 + 40 * MINUTE });
    expect(r[6]?.transition).toBeNull();
    expect(chronicSignatures(state)).toEqual([{ playbook: 'pb', signature: SIG, since: T0 + 40 * MINUTE }]);
  });

  it('does not count firings outside the window (exactly one window old is outside)', () => {
    const state = createLearningState();
    const r = [0, 15, 30, 45, 60].map((m) => fire(state, m));
    expect(r.every((x) => !x.chronic && x.transition === null)).toBe(true);
    expect(r[4]?.count).toBe(4);
    // 20 firings 20 minutes apart: never more than 3 within an hour.
    const slow = createLearningState();
    for (let i = 0; i < 20; i++) expect(fire(slow, i * 20).chronic).toBe(false);
    // One minute sooner, the first is still inside.
    const fast = createLearningState();
    const q = [0, 15, 30, 45, 59].map((m) => fire(fast, m));
    expect(q[4]).toMatchObject({ chronic: true, transition: 'chronic', count: 5 });
  });

  it('is per playbook and signature', () => {
    const state = createLearningState();
    for (const m of [0, 1, 2, 3]) fire(state, m);
    expect(fire(state, 4, 'alertname=HighErrorRate,service=cart').chronic).toBe(false);
    expect(recordFiring(state, { playbook: 'other', signature: SIG, at: T0 + 4 * MINUTE }).chronic).toBe(false);
    expect(fire(state, 4).transition).toBe('chronic');
  });

  it('keeps at most N firing times per signature', () => {
    const state = createLearningState();
    for (let i = 0; i < 100; i++) fire(state, i);
    expect([...state.entries.values()][0]?.firings).toHaveLength(5);
  });

  it('takes a late firing in time order', () => {
    const state = createLearningState();
    for (const m of [0, 10, 30, 40]) fire(state, m);
    expect(fire(state, 20)).toMatchObject({ chronic: true, transition: 'chronic', count: 5, since: T0 + 40 * MINUTE });
  });
});

describe('clearing', () => {
  function chronicAt40(options?: LearningOptions) {
    const state = createLearningState(options);
    for (const m of [0, 10, 20, 30, 40]) fire(state, m);
    return state;
  }

  it('after a whole window without a firing, reported once by the sweep', () => {
    const state = chronicAt40();
    // Still firing, though slower: stays chronic.
    expect(fire(state, 90)).toMatchObject({ chronic: true, transition: null, count: 2 });
    expect(sweepChronic(state, T0 + 149 * MINUTE)).toEqual([]);
    expect(recurrenceOf(state, 'pb', SIG, T0 + 149 * MINUTE)).toEqual({ chronic: true, transition: null, count: 1, since: T0 + 40 * MINUTE });
    expect(sweepChronic(state, T0 + 150 * MINUTE)).toEqual([{ playbook: 'pb', signature: SIG, at: T0 + 150 * MINUTE, transition: 'cleared', reason: 'quiet' }]);
    expect(sweepChronic(state, T0 + 151 * MINUTE)).toEqual([]);
    expect(recurrenceOf(state, 'pb', SIG, T0 + 151 * MINUTE)).toEqual({ chronic: false, transition: null, count: 0, since: null });
    expect(chronicSignatures(state)).toEqual([]);
    // Chronic again only at 5 firings within a window again, reported again once.
    const again = [200, 201, 202, 203, 204].map((m) => fire(state, m).transition);
    expect(again).toEqual([null, null, null, null, 'chronic']);
  });

  it('with chronicClearBelow = N, as soon as the rate no longer holds', () => {
    const state = chronicAt40({ chronicClearBelow: 5 });
    expect(sweepChronic(state, T0 + 59 * MINUTE)).toEqual([]);
    expect(sweepChronic(state, T0 + 60 * MINUTE)).toEqual([expect.objectContaining({ transition: 'cleared', reason: 'quiet' })]);
    // A firing that finds the rate gone clears it as well (when no sweep ran first).
    const other = chronicAt40({ chronicClearBelow: 5 });
    expect(fire(other, 75)).toEqual({ chronic: false, transition: 'cleared', count: 4, since: null });
  });

  it('reports a chronic signature forgotten by the cap as cleared', () => {
    const state = chronicAt40({ maxSignatures: 2 });
    fire(state, 41, 'alertname=A');
    expect(sweepChronic(state, T0 + 42 * MINUTE)).toEqual([]);
    fire(state, 42, 'alertname=B');
    expect(state.entries.size).toBe(2);
    expect(sweepChronic(state, T0 + 43 * MINUTE)).toEqual([{ playbook: 'pb', signature: SIG, at: T0 + 42 * MINUTE, transition: 'cleared', reason: 'forgotten' }]);
    expect(sweepChronic(state, T0 + 44 * MINUTE)).toEqual([]);
  });

  it('costs nothing for signatures that are not chronic', () => {
    const state = createLearningState();
    for (let i = 0; i < 1000; i++) fire(state, i % 60, `alertname=X,service=s${i}`);
    expect(state.chronic.size).toBe(0);
    expect(sweepChronic(state, T0 + 10 * HOUR)).toEqual([]);
  });
});
