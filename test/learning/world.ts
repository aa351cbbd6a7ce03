/**
 * A simulated world for the learning tests: one playbook, one signature, and a chance per
 * strategy that it fixes the alert. Each run asks for an order, tries the strategies in it
 * until one fixes the alert (try_next), and records every outcome, as the engine does.
 */
import { chooseStrategies, createLearningState, createRng, type Decision, type LearningOptions, type LearningState, type PlaybookView, recordOutcome, type Rng } from '../../src/learning/index.js';

export const MINUTE = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;
export const T0 = Date.parse('2026-03-01T00:00:00Z');

export interface World {
  state: LearningState;
  playbook: PlaybookView;
  signature: string;
  /** Draws of the choice. */
  rng: Rng;
  /** Draws of the world (whether a strategy fixes the alert), apart from the choice's. */
  nature: Rng;
  /** Chance that each strategy fixes the alert; change it to change the world. */
  fixes: Record<string, number>;
}

export function world(opts: { seed: number; playbook: PlaybookView; fixes: Record<string, number>; options?: LearningOptions; signature?: string }): World {
  return {
    state: createLearningState(opts.options),
    playbook: opts.playbook,
    signature: opts.signature ?? 'alertname=HighErrorRate,service=checkout',
    rng: createRng(opts.seed),
    nature: createRng(opts.seed + 1_000_003),
    fixes: { ...opts.fixes },
  };
}

/** One alert at `at`: the decision, then the strategies in its order until one fixes it. */
export function runAlert(w: World, at: number): Decision {
  const d = chooseStrategies(w.state, w.playbook, w.signature, at, w.rng);
  let t = at;
  for (const name of d.order) {
    t += MINUTE;
    const fixed = w.nature.next() < (w.fixes[name] ?? 0);
    recordOutcome(w.state, { playbook: w.playbook.name, signature: w.signature, strategy: name, at: t, success: fixed, recoverySeconds: (t - at) / 1000, rolledBack: !fixed });
    if (fixed) break;
  }
  return d;
}

/** `runs` alerts an hour apart from `from`; returns the decisions. */
export function runAlerts(w: World, runs: number, from = T0): Decision[] {
  const out: Decision[] = [];
  for (let r = 0; r < runs; r++) out.push(runAlert(w, from + r * HOUR));
  return out;
}

/** Records `successes` and `failures` of `strategy` at `at` directly. */
export function seed(w: World, strategy: string, successes: number, failures: number, at: number): void {
  for (let i = 0; i < successes; i++) recordOutcome(w.state, { playbook: w.playbook.name, signature: w.signature, strategy, at, success: true, recoverySeconds: 30 });
  for (let i = 0; i < failures; i++) recordOutcome(w.state, { playbook: w.playbook.name, signature: w.signature, strategy, at, success: false });
}
