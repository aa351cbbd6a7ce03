/**
 * The tuning decision rule and its statistics: Mann-Whitney U against published values, the
 * keep / reject / insufficient rule, guard limits, and knob steps.
 */
import { describe, expect, it } from 'vitest';
import { decide, guardBreach } from '../../src/tuning/decide.js';
import { checkKnob, nextValue, parseStep } from '../../src/tuning/knob.js';
import { createRng } from '../../src/learning/index.js';
import { mannWhitney, median } from '../../src/tuning/stats.js';

describe('Mann-Whitney U', () => {
  it('gives the exact permutation p-value for small tie-free samples', () => {
    // All of a below all of b: U = 0, one arrangement in C(6,3) = 20.
    const r = mannWhitney([1, 2, 3], [4, 5, 6]);
    expect(r).toMatchObject({ u: 0, method: 'exact' });
    expect(r.pLess).toBeCloseTo(1 / 20, 12);
    expect(r.pGreater).toBe(1);
    expect(r.pTwoSided).toBeCloseTo(0.1, 12);
    // C(10,5) = 252 arrangements; U <= 2 in 1 + 1 + 2 = 4 of them (scipy, method='exact': 0.015873).
    expect(mannWhitney([1, 2, 3, 5, 6], [4, 7, 8, 9, 10]).pLess).toBeCloseTo(4 / 252, 12);
  });

  it('is symmetric: swapping the samples swaps the one-sided p-values', () => {
    const a = [12, 15, 11, 19, 14, 13];
    const b = [18, 22, 17, 25, 16, 21];
    const ab = mannWhitney(a, b);
    const ba = mannWhitney(b, a);
    expect(ab.u + ba.u).toBe(36);
    expect(ab.pLess).toBeCloseTo(ba.pGreater, 12);
    expect(ab.pTwoSided).toBeCloseTo(ba.pTwoSided, 12);
  });

  it('uses the normal approximation with tie correction for larger or tied samples, as scipy does', () => {
    // scipy.stats.mannwhitneyu(a, b, alternative='less', method='asymptotic', use_continuity=True)
    //   -> statistic 32.0, pvalue 0.003783775756834776
    const r = mannWhitney([1, 2, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]);
    expect(r.method).toBe('normal');
    expect(r.u).toBe(32);
    expect(r.pLess).toBeCloseTo(0.0037838, 6);
  });

  it('finds no evidence in identical samples', () => {
    expect(mannWhitney([3, 3, 3, 3], [3, 3, 3, 3]).pTwoSided).toBe(1);
  });

  it('refuses empty or non-finite samples', () => {
    expect(() => mannWhitney([], [1])).toThrow(/at least one value/);
    expect(() => mannWhitney([1, Number.NaN], [1])).toThrow(/finite/);
  });
});

describe('the decision rule', () => {
  const r = createRng(42);
  const around = (center: number, spread: number, n: number) => Array.from({ length: n }, () => center + (r.next() - 0.5) * 2 * spread);

  it('keeps a change that lowers p99 latency clearly and by enough', () => {
    const d = decide(around(1.0, 0.1, 12), around(0.7, 0.1, 12), { direction: 'minimize' });
    expect(d.decision).toBe('keep');
    expect(d.reason).toMatch(/^better: median 1\.\d+ -> 0\.\d+ \(\d+\.\d %\), p = .* < 0.05$/);
    expect(d.relativeChange).toBeLessThan(-0.2);
  });

  it('rejects a change that makes things worse, and says so', () => {
    const d = decide(around(1.0, 0.1, 12), around(1.4, 0.1, 12), { direction: 'minimize' });
    expect(d.decision).toBe('reject');
    expect(d.reason).toMatch(/^worse: /);
  });

  it('rejects a change that makes no clear difference', () => {
    const d = decide(around(1.0, 0.2, 10), around(1.0, 0.2, 10), { direction: 'minimize' });
    expect(d.decision).toBe('reject');
    expect(d.reason).toMatch(/^not better: .*no significant difference/);
  });

  it('rejects a real but too small improvement', () => {
    const base = around(100, 0.5, 20);
    const d = decide(base, base.map((x) => x - 2), { direction: 'minimize', minImprovement: 0.05 });
    expect(d.decision).toBe('reject');
    expect(d.reason).toMatch(/improvement 2\.\d % below the 5\.0 % needed/);
  });

  it('maximises when asked: higher throughput is better', () => {
    expect(decide(around(40, 3, 10), around(60, 3, 10), { direction: 'maximize' }).decision).toBe('keep');
    expect(decide(around(40, 3, 10), around(60, 3, 10), { direction: 'minimize' }).decision).toBe('reject');
  });

  it('decides nothing with too few samples', () => {
    const d = decide([1, 1.1, 0.9, 1], [0.5, 0.4, 0.5, 0.45], { direction: 'minimize', minSamples: 5 });
    expect(d).toMatchObject({ decision: 'insufficient', p: null });
    expect(d.reason).toBe('too few samples to decide: 4 baseline and 4 candidate intervals, 5 needed on each side');
  });
});

describe('guards', () => {
  it('abort on an absolute limit or on a rise over the baseline', () => {
    expect(guardBreach({ name: 'error ratio', max: 0.05 }, 0.04)).toBeNull();
    expect(guardBreach({ name: 'error ratio', max: 0.05 }, 0.08)).toBe('error ratio 0.0800 above its limit 0.0500');
    expect(guardBreach({ name: 'memory', maxIncrease: 0.2 }, 130, 100)).toBe('memory 130 more than 20 % above its baseline 100');
    expect(guardBreach({ name: 'memory', maxIncrease: 0.2 }, 115, 100)).toBeNull();
    expect(guardBreach({ name: 'throughput', min: 10 }, 4)).toBe('throughput 4 below its limit 10');
    expect(guardBreach({ name: 'memory', max: 1 }, Number.NaN)).toBe('memory: no value (NaN)');
  });
});

describe('knob steps', () => {
  it('adds and multiplies within bounds, rounding integer knobs', () => {
    const k = { name: 'concurrency', type: 'integer' as const, min: 1, max: 64, step: '*2' };
    expect(nextValue(k, 16, 'down')).toBe(8);
    expect(nextValue(k, 16, 'up')).toBe(32);
    expect(nextValue(k, 40, 'up')).toBe(64); // clamped to max
    expect(nextValue(k, 64, 'up')).toBeNull(); // pinned
    expect(nextValue(k, 1, 'down')).toBeNull();
    expect(nextValue({ name: 'batch_size', type: 'integer', min: 1, max: 1000, step: '*1.5' }, 3, 'down')).toBe(2);
    expect(nextValue({ name: 'timeout', type: 'number', min: 0.5, max: 30, step: '+0.5' }, 2, 'down')).toBe(1.5);
  });

  it('skips values rejected recently, and walks lists (enum knobs)', () => {
    const k = { name: 'concurrency', type: 'integer' as const, min: 1, max: 64, step: '*2' };
    expect(nextValue(k, 16, 'down', new Set([8]))).toBe(4);
    const e = { name: 'validation', type: 'enum' as const, values: ['off', 'normal', 'strict'] };
    expect(nextValue(e, 'normal', 'up')).toBe('strict');
    expect(nextValue(e, 'strict', 'up')).toBeNull();
    expect(nextValue(e, 'normal', 'down', new Set(['off']))).toBeNull();
  });

  it('names what is wrong with a knob definition', () => {
    expect(checkKnob({ name: 'x', type: 'enum' })).toEqual(['values: an enum knob needs its list of values']);
    expect(checkKnob({ name: 'x', type: 'integer' })).toEqual(['step: a numeric knob needs a step ("+n", "*f") or a list of values']);
    expect(checkKnob({ name: 'x', type: 'integer', step: '*1', min: 5, max: 1 })).toEqual(['step "*1": f must be above 1', 'min 5 is above max 1']);
    expect(() => parseStep('-2')).toThrow(/use "\+n"/);
  });
});

it('median', () => {
  expect(median([3, 1, 2])).toBe(2);
  expect(median([4, 1, 2, 3])).toBe(2.5);
  expect(median([])).toBeNaN();
});
