/**
 * The risk rule: a riskier strategy is never drawn ahead of a lower-risk one listed before it
 * unless that one has failed here (tried at least minTrials times on this signature, and its
 * whole 95 % interval below 50 %). Medium sits between low and high.
 */
import { describe, expect, it } from 'vitest';
import { chooseStrategies, createRng, type PlaybookView } from '../../src/learning/index.js';
import { HOUR, T0, runAlerts, seed, world } from './world.js';

const DB: PlaybookView = { name: 'db-connections', strategies: [{ name: 'reset-connection', risk: 'low' }, { name: 'restart', risk: 'high' }] };

describe('a high-risk strategy', () => {
  it('is not promoted over a working low-risk one, even with a perfect record', () => {
    const w = world({ seed: 1, playbook: DB, fixes: {} });
    seed(w, 'reset-connection', 14, 6, T0);
    seed(w, 'restart', 40, 0, T0);
    const ds = Array.from({ length: 1000 }, (_, s) => chooseStrategies(w.state, DB, w.signature, T0, createRng(s)));
    expect(ds.every((d) => d.order[0] === 'reset-connection' && d.learned)).toBe(true);
    // The draws wanted restart first nearly every time; the reason says why it is not.
    const held = ds.filter((d) => d.strategies[1]?.heldBack);
    expect(held.length).toBeGreaterThan(900);
    expect(held[0]?.reason).toBe('restart held back: high risk, reset-connection has not failed here');
    expect(held[0]?.strategies[0]).toMatchObject({ name: 'reset-connection', failedHere: false });
  });

  it('stays behind a 90 % low-risk strategy over 300 alerts in a seeded world, though it never fails', () => {
    for (let s = 1; s <= 5; s++) {
      const ds = runAlerts(world({ seed: s, playbook: DB, fixes: { 'reset-connection': 0.9, restart: 1 } }), 300);
      expect(ds.every((d) => d.order[0] === 'reset-connection')).toBe(true);
    }
  });

  it('is promoted once the low-risk one has failed here', () => {
    const w = world({ seed: 2, playbook: DB, fixes: { 'reset-connection': 0, restart: 1 } });
    const ds = runAlerts(w, 40);
    // Three failures: the interval of 0/3 still reaches 56 %; the fourth makes it 0–49 %.
    expect(ds.slice(0, 4).every((d) => d.order[0] === 'reset-connection')).toBe(true);
    const later = ds.slice(4);
    expect(later.filter((d) => d.order[0] === 'restart').length).toBeGreaterThanOrEqual(later.length - 2);
    const promoted = later.find((d) => d.order[0] === 'restart');
    expect(promoted?.reason).toMatch(/^restart first: \d+\/\d+ verified successes; reset-connection \(0\/4\) failed here$/);
    expect(promoted?.strategies.find((e) => e.name === 'reset-connection')?.failedHere).toBe(true);
  });

  it('0 of 3 has not failed yet, 0 of 4 has; 1 of 3 has not, 1 of 8 has', () => {
    const failed = (successes: number, failures: number) => {
      const w = world({ seed: 1, playbook: DB, fixes: {} });
      seed(w, 'reset-connection', successes, failures, T0);
      seed(w, 'restart', 5, 0, T0);
      return chooseStrategies(w.state, DB, w.signature, T0, w.rng).strategies.find((e) => e.name === 'reset-connection')?.failedHere;
    };
    expect(failed(0, 3)).toBe(false);
    expect(failed(0, 4)).toBe(true);
    expect(failed(1, 2)).toBe(false);
    expect(failed(1, 7)).toBe(true);
    expect(failed(5, 5)).toBe(false);
  });

  it('is held back again once the failures have faded, so the low-risk one is tried again', () => {
    const w = world({ seed: 3, playbook: DB, fixes: {} });
    seed(w, 'reset-connection', 0, 4, T0);
    seed(w, 'restart', 10, 0, T0);
    expect(chooseStrategies(w.state, DB, w.signature, T0, w.rng).order[0]).toBe('restart');
    // Two weeks on, 0/4 weighs 0/1: its interval reaches above 50 % again.
    const d = chooseStrategies(w.state, DB, w.signature, T0 + 14 * 24 * HOUR, w.rng);
    expect(d.order[0]).toBe('reset-connection');
    expect(d.strategies.find((e) => e.name === 'reset-connection')?.failedHere).toBe(false);
  });

  it('listed first by the operator stays first: keeping the configured order is no promotion', () => {
    const pb: PlaybookView = { name: 'db', strategies: [{ name: 'restart', risk: 'high' }, { name: 'reset-connection', risk: 'low' }] };
    const w = world({ seed: 4, playbook: pb, fixes: {} });
    seed(w, 'restart', 30, 0, T0);
    seed(w, 'reset-connection', 3, 0, T0);
    const ds = Array.from({ length: 200 }, (_, s) => chooseStrategies(w.state, pb, w.signature, T0, createRng(s)));
    expect(ds.filter((d) => d.order[0] === 'restart').length).toBeGreaterThan(100);
    expect(ds.every((d) => d.strategies.every((e) => !e.heldBack))).toBe(true);
  });
});

describe('three levels', () => {
  const pb: PlaybookView = {
    name: 'api',
    strategies: [
      { name: 'clear-cache', risk: 'low' },
      { name: 'flush-queue' },
      { name: 'scale-out', risk: 'medium' },
      { name: 'restart', risk: 'high' },
    ],
  };

  it('equal risks compete on draws; medium waits for the working lows, high for every working lower one', () => {
    const w = world({ seed: 1, playbook: pb, fixes: {} });
    seed(w, 'clear-cache', 6, 4, T0);
    seed(w, 'flush-queue', 9, 1, T0);
    seed(w, 'scale-out', 20, 0, T0);
    seed(w, 'restart', 20, 0, T0);
    const ds = Array.from({ length: 500 }, (_, s) => chooseStrategies(w.state, pb, w.signature, T0, createRng(s)));
    for (const d of ds) expect(d.order.slice(2)).toEqual(['scale-out', 'restart']);
    const flushFirst = ds.filter((d) => d.order[0] === 'flush-queue').length;
    // Two low-risk strategies, ordered by their draws: both go first sometimes.
    expect(flushFirst).toBeGreaterThan(250);
    expect(flushFirst).toBeLessThan(500);
    expect(ds.find((d) => d.reason.startsWith('scale-out held back'))?.reason).toBe('scale-out held back: medium risk, clear-cache and flush-queue have not failed here');
  });

  it('medium goes ahead of the lows once they have failed here, high still waits for medium', () => {
    const w = world({ seed: 2, playbook: pb, fixes: {} });
    seed(w, 'clear-cache', 0, 6, T0);
    seed(w, 'flush-queue', 1, 9, T0);
    seed(w, 'scale-out', 8, 2, T0);
    seed(w, 'restart', 20, 0, T0);
    const ds = Array.from({ length: 300 }, (_, s) => chooseStrategies(w.state, pb, w.signature, T0, createRng(s)));
    for (const d of ds) expect(d.order.indexOf('scale-out')).toBeLessThan(d.order.indexOf('restart'));
    expect(ds.filter((d) => d.order[0] === 'scale-out').length).toBeGreaterThan(280);
    expect(ds.find((d) => d.order[0] === 'scale-out' && !d.strategies[1]?.heldBack)?.reason).toMatch(/; clear-cache \(0\/6\) and flush-queue \(1\/10\) failed here$/);
  });
});
