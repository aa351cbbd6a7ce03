/**
 * Learning: which strategy to try first for each kind of alert, from the outcomes of earlier
 * runs, and which problems keep coming back. Plain functions over a plain state: no I/O, no
 * timers, no clock (every call takes the time), and randomness only from a seeded generator
 * passed in, so everything here is reproducible.
 *
 * ## API
 *
 *   signatureOf(labels, targetLabels)            -> 'alertname=HighErrorRate,service=checkout'
 *   createLearningState(options?)                -> LearningState (empty)
 *   recordOutcome(state, outcome)                   one verified run of one strategy
 *   chooseStrategies(state, playbook, sig, now, rng) -> Decision (order + evidence + reason)
 *   describeEvidence(state, playbook, sig, now)  -> StrategyEvidence[] (nothing drawn)
 *   recordFiring(state, firing)                  -> Recurrence (chronic? transition once)
 *   sweepChronic(state, now)                     -> ChronicChange[] (clears; call periodically)
 *   recurrenceOf(state, playbook, sig, now), chronicSignatures(state)   read-only views
 *   learningToJSON(state) / learningFromJSON(json, options?)            persistence
 *   createRng(seed), wilsonInterval(successes, trials)                  building blocks
 *
 * A Decision holds `order` (names) and `indices` (positions in the playbook's list), `learned`
 * (false: the configured order as is), a one-line `reason`, the signature's weighted `trials`,
 * and per strategy in that order its lifetime and recency-weighted counts, rollbacks,
 * success rate with its 95 % interval, posterior mean, the draw, median time to recover,
 * and whether it has failed here or was held back by the risk rule.
 *
 * Times are ms since the epoch; recovery times are seconds. Only recordOutcome, recordFiring
 * and sweepChronic change the state, and they draw no random numbers: replaying the same
 * calls in the same order rebuilds the same state. chooseStrategies changes nothing.
 *
 * Per alert, for each playbook that will run:
 *
 *   const sig = signatureOf(alert.labels, pb.target);
 *   const r = recordFiring(state, { playbook: pb.name, signature: sig, at: receivedMs });
 *   if (r.transition === 'chronic') ...escalate once; maybe start a preventive playbook
 *   const d = chooseStrategies(state, pb, sig, Date.now(), rng);  // d.indices -> pb.strategies
 *   for each strategy run that ended verified-fixed or failed (not cancelled, not interrupted,
 *   not dry-run/observe):
 *     recordOutcome(state, { playbook, signature: sig, strategy, at, success, recoverySeconds, rolledBack })
 *
 * and every minute or so `sweepChronic(state, Date.now())` for the signatures that went quiet.
 * One generator for the process, `createRng(seed)`, seeded from the configuration or at
 * random, serves every choice.
 *
 * ## Decisions
 *
 * - Signature: alertname plus the playbook's `target` label values, sorted by name, values
 *   backslash-escaped (`\` `,` `=` newline) so the key is injective. A playbook without
 *   target labels gets the alertname alone: "all labels" would let per-pod or per-request
 *   labels multiply the keys. Missing and empty labels are the same (as in Prometheus).
 *
 * - State: per (playbook, signature) and strategy, recency-weighted successes and failures,
 *   lifetime counts, rollbacks and the newest `recoverySamples` (9) recovery times; per
 *   (playbook, signature) the newest `chronicOccurrences` firing times. No raw history.
 *
 * - Cap (`maxSignatures`, 10 000 (playbook, signature) pairs): the least recently seen pair is
 *   forgotten, not folded into an "(other)" bucket. A bucket would pool unrelated services'
 *   evidence into one misleading record, and once the cap is reached every new signature
 *   would land there for good while stale pairs keep their slots; forgetting the least recently seen keeps what
 *   is active, and a forgotten pair simply starts over at the configured order, the safe
 *   default. "Seen" is a recorded firing or outcome; choosing does not count. `state.evicted`
 *   counts forgotten pairs; a chronic pair forgotten is reported cleared by the next sweep.
 *
 * - Thompson sampling over a Beta posterior, not UCB. It randomises, so a strategy with thin
 *   evidence still goes first now and then, in proportion to the chance that it is the best,
 *   and that chance shrinks by itself as evidence grows. It needs no exploration constant and
 *   no global trial count, which UCB does and which decayed counts make murky, and the prior
 *   enters as plain pseudo-counts. One draw per strategy from Beta(alpha + weighted
 *   successes, beta + weighted failures); prior 1, 1 (uniform). Draws come from a seeded
 *   xoshiro128** (Beta = X / (X + Y) of two Marsaglia–Tsang Gamma draws), so a seed fixes
 *   every decision.
 *
 * - Decay: evidence `t` old weighs 2^(-t / halfLifeMs) (7 days). Applied lazily: each
 *   strategy stores its weighted counts and the time they are as of; a read multiplies by the
 *   factor for the time since, an update folds it in. No timers.
 *
 * - minTrials (3): until a signature's recency-weighted trials, rounded to a whole trial,
 *   reach it, the order is the configured one and nothing is drawn. Counting weighted trials
 *   also means that a signature whose evidence has faded goes back to the configured order
 *   rather than to a coin toss between strategies at the prior.
 *
 * - Risk rule: a strategy may not be placed ahead of a lower-risk one (low < medium < high)
 *   listed before it in the playbook unless that one has *failed here*: it has been tried at
 *   least minTrials (weighted, rounded) times on this signature and its whole 95 % interval
 *   lies below `failedBelow` (0.5), i.e. with confidence it fixes this alert less often than
 *   not. Comparing with the riskier strategy's own record would promote `restart` over a
 *   `reset-connection` that works 80 % of the time; a streak rule would promote it after one
 *   unlucky run of failures and, since the held-back strategy is then rarely tried, keep it
 *   there. Under this rule 0 of 4 fails; 1 of 3 does not. As evidence fades the interval
 *   widens, so a failed strategy is eventually tried first again. Among the strategies the
 *   rule allows at each place, the best draw goes first (equal risks compete on draws
 *   alone). An order the operator chose (a riskier strategy listed first) is kept, never
 *   counted as a promotion.
 *
 * - 95 % interval: Wilson score (closed form, valid for fractional weighted counts, good
 *   coverage at few trials), on the weighted counts; 14/15 gives 0.702 to 0.988.
 *
 * - Median time to recover: exact median of the newest 9 recovery times (a sliding window
 *   rather than a histogram: exact, small, and recent like the decayed counts; an odd number,
 *   so the median is a recovery that happened). Recovery times are kept to the ms and
 *   weighted counts to 6 decimals, so the saved state stays compact: about 0.7 KB per
 *   (playbook, signature) with three strategies and full windows, 7 MB at the 10 000 cap.
 *
 * - Recurrence: the N-th firing (5) within the window (1 h, left-open: a firing exactly one
 *   window old is out) makes a signature chronic; the call that does so returns
 *   `transition: 'chronic'`, later ones `null`. It clears (transition `'cleared'`, once)
 *   when its firings within the window drop below `chronicClearBelow`, default 1, i.e.
 *   after a whole window without a firing. That is a quiet period, with hysteresis: a
 *   problem that slows from 5 to 4 an hour is still chronic, and one hovering at the
 *   threshold does not escalate again every window. chronicClearBelow = N clears as soon as
 *   the rate no longer holds. Firings are counted per episode (one per new firing).
 *
 * - Persistence: learningToJSON gives plain data (entries least recently seen first);
 *   learningFromJSON checks it field by field (LearningStateError) and applies the current
 *   settings (a lower cap forgets the oldest). The settings are not saved with the state.
 *   A restored state gives the same decisions as the original under the same seed.
 */
export { chooseStrategies, describeEvidence, type Decision, type PlaybookView, type StrategyEvidence, type StrategyView } from './choose.js';
export { wilsonInterval, Z95 } from './interval.js';
export { DEFAULTS, type LearningOptions, type ResolvedOptions, type Risk, resolveOptions } from './options.js';
export { chronicSignatures, type ChronicChange, type Firing, recordFiring, type Recurrence, recurrenceOf, sweepChronic } from './recurrence.js';
export { beta, createRng, gamma, normal, type Rng } from './rng.js';
export { signatureOf } from './signature.js';
export {
  createLearningState,
  type EntryJSON,
  type LearningState,
  LearningStateError,
  type LearningStateJSON,
  learningFromJSON,
  learningToJSON,
  type Outcome,
  recordOutcome,
} from './state.js';
