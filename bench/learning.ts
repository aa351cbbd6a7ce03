/**
 * Learning benchmark (npm run bench:learning): the cost of one learning update and one
 * strategy choice with 10 000 signatures in the state (the default cap). Each operation is
 * timed on its own (process.hrtime.bigint, whose own cost is included); the figures are the
 * medians over rounds of the per-round median and p99. Goal: under 50 µs each.
 *
 *   npm run bench:learning -- [--signatures 10000] [--rounds 5] [--ops 20000]
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import {
  chooseStrategies,
  createLearningState,
  createRng,
  learningFromJSON,
  learningToJSON,
  type PlaybookView,
  recordFiring,
  recordOutcome,
  signatureOf,
  sweepChronic,
} from '../src/learning/index.js';

const { values } = parseArgs({
  options: {
    signatures: { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '5' },
    ops: { type: 'string', default: '20000' },
  },
});
const SIGNATURES = Number(values.signatures);
const ROUNDS = Number(values.rounds);
const OPS = Number(values.ops);
const H = 3_600_000;
const T0 = Date.parse('2026-01-01T00:00:00Z');

// Four playbooks with three strategies each (low, medium, high), the signatures spread over them.
const playbooks: PlaybookView[] = ['api', 'db', 'cache', 'disk'].map((name) => ({
  name,
  strategies: [
    { name: `${name}-reset`, risk: 'low' },
    { name: `${name}-scale`, risk: 'medium' },
    { name: `${name}-restart`, risk: 'high' },
  ],
}));
const sigs = Array.from({ length: SIGNATURES }, (_, i) => ({
  pb: playbooks[i % playbooks.length] as PlaybookView,
  sig: signatureOf({ alertname: `Alert${i % 40}`, service: `svc-${i}`, namespace: `ns-${i % 7}` }, ['service', 'namespace']),
}));

const state = createLearningState({ maxSignatures: SIGNATURES });
const world = createRng(1);
const rng = createRng(2);
let now = T0;

/** One alert's worth of learning: the firing, the choice, then the outcomes in that order until one succeeds. */
function alertRun(i: number): void {
  const { pb, sig } = sigs[i] as (typeof sigs)[number];
  recordFiring(state, { playbook: pb.name, signature: sig, at: now });
  const d = chooseStrategies(state, pb, sig, now, rng);
  for (const name of d.order) {
    const ok = world.next() < 0.6;
    recordOutcome(state, { playbook: pb.name, signature: sig, strategy: name, at: now + 30_000, success: ok, recoverySeconds: 30 + world.next() * 300, rolledBack: !ok && world.next() < 0.3 });
    if (ok) break;
  }
}

// Fill: every signature gets 8 alerts' worth of history over two weeks, so all have evidence past minTrials.
for (let pass = 0; pass < 8; pass++) {
  for (let i = 0; i < SIGNATURES; i++) {
    now += Math.floor((14 * 24 * H) / (8 * SIGNATURES));
    alertRun(i);
  }
}
if (state.entries.size !== SIGNATURES) throw new Error(`expected ${SIGNATURES} signatures, have ${state.entries.size}`);

const ns = () => process.hrtime.bigint();
const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] as number;
const med = (xs: number[]) => q(xs, 0.5);

interface Figures {
  median: number;
  p99: number;
  mean: number;
}
function measure(op: (k: number) => void): Figures {
  const medians: number[] = [];
  const p99s: number[] = [];
  const means: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const us: number[] = new Array(OPS);
    const start = ns();
    for (let k = 0; k < OPS; k++) {
      const t0 = ns();
      op(k);
      us[k] = Number(ns() - t0) / 1000;
    }
    means.push(Number(ns() - start) / 1000 / OPS);
    medians.push(med(us));
    p99s.push(q(us, 0.99));
  }
  return { median: med(medians), p99: med(p99s), mean: med(means) };
}

const pick = createRng(3);
const randomSig = () => sigs[Math.floor(pick.next() * SIGNATURES)] as (typeof sigs)[number];

const update = measure(() => {
  const { pb, sig } = randomSig();
  now += 1000;
  const s = pb.strategies[Math.floor(pick.next() * 3)] as { name: string };
  recordOutcome(state, { playbook: pb.name, signature: sig, strategy: s.name, at: now, success: pick.next() < 0.6, recoverySeconds: 42 });
});
const choice = measure(() => {
  const { pb, sig } = randomSig();
  chooseStrategies(state, pb, sig, now, rng);
});
const firing = measure(() => {
  const { pb, sig } = randomSig();
  now += 1000;
  recordFiring(state, { playbook: pb.name, signature: sig, at: now });
});

// Once each, on the filled state: a sweep, and the state to JSON text and back.
const chronicBefore = state.chronic.size;
const s0 = performance.now();
const changes = sweepChronic(state, now);
const sweepMs = performance.now() - s0;
const j0 = performance.now();
const text = JSON.stringify(learningToJSON(state));
const j1 = performance.now();
learningFromJSON(JSON.parse(text), { maxSignatures: SIGNATURES });
const j2 = performance.now();

// New signatures at the cap: every update forgets the least recently seen one.
let fresh = 0;
const evicting = measure(() => {
  now += 1000;
  recordOutcome(state, { playbook: 'api', signature: `alertname=New,service=n-${fresh++}`, strategy: 'api-reset', at: now, success: true, recoverySeconds: 10 });
});
if (state.entries.size !== SIGNATURES) throw new Error(`cap broken: ${state.entries.size} signatures`);

const f = (x: number) => x.toFixed(2);
const line = (name: string, x: Figures) => console.log(`${name}: median ${f(x.median)} µs, p99 ${f(x.p99)} µs, mean ${f(x.mean)} µs (goal < 50 µs)`);
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}`);
console.log(`${state.entries.size} signatures over ${playbooks.length} playbooks, 3 strategies each; ${ROUNDS} rounds of ${OPS} operations; medians over rounds`);
line('update (recordOutcome)', update);
line('choice (chooseStrategies)', choice);
line('firing (recordFiring)', firing);
line('update forgetting the oldest signature', evicting);
console.log(`sweepChronic over ${chronicBefore} chronic: ${f(sweepMs)} ms, ${changes.length} cleared; state JSON ${(text.length / 1e6).toFixed(2)} MB, toJSON+stringify ${f(j1 - j0)} ms, parse+fromJSON ${f(j2 - j1)} ms`);
console.log(JSON.stringify({ signatures: state.entries.size, rounds: ROUNDS, ops: OPS, updateUs: update, choiceUs: choice, firingUs: firing, evictingUpdateUs: evicting, sweepMs, jsonBytes: text.length, toJsonMs: j1 - j0, fromJsonMs: j2 - j1 }));
