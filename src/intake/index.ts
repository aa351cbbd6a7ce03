/**
 * Intake: every alert becomes an episode record, made durable before it is acknowledged;
 * only then does the engine hear of it. Repeats of an episode (repeat_interval, HA pairs,
 * a group re-sent because another alert joined it) are counted and start nothing.
 */
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { type Alert, boundedCategory, boundedSeverity } from '../alert.js';
import type { Engine } from '../engine/engine.js';
import { type ClassificationRule, classify } from '../engine/classify.js';
import { matchingPlaybooks } from '../engine/plan.js';
import type { Playbook } from '../rules/playbook.js';
import { type Identity, type Scope, outOfScope } from '../scope.js';
import type { Store } from '../store/index.js';
import type { EpisodeRecord, JournalEntry } from '../store/types.js';
import type { IncomingAlert } from './alertmanager.js';

export type IntakeOutcome = 'new' | 'duplicate' | 'resolved' | 'resolved_unknown' | 'out_of_scope';

export interface IntakeResult {
  received: number;
  outcomes: Record<IntakeOutcome, number>;
}

export class Intake {
  private readonly counter: Counter<'status' | 'category' | 'severity' | 'outcome'>;
  private readonly log: Logger;
  /** Episodes whose commit is in flight, so concurrent deliveries of one episode are decided in turn. */
  private readonly pending = new Map<string, Promise<unknown>>();

  constructor(
    private readonly store: Store,
    private readonly engine: Engine,
    private readonly rules: () => { playbooks: Playbook[]; classification: ClassificationRule[] },
    logger: Logger,
    registry: Registry,
    /** Fleet scope (src/scope.ts): this promedic's identity and the global scope. */
    private readonly scope: { identity: Identity; global?: Scope | undefined } | null = null,
  ) {
    this.log = logger.child({ component: 'intake' });
    this.counter = new Counter({
      name: 'promedic_alerts_received_total',
      help: 'Alerts received, by status, category, severity and what intake did with them (new episode, duplicate, resolved...).',
      labelNames: ['status', 'category', 'severity', 'outcome'],
      registers: [registry],
    });
  }

  /** Classifies, dedupes and durably records alerts; resolves once they are on disk, then notifies the engine. */
  async receive(incoming: IncomingAlert[]): Promise<IntakeResult> {
    // Another request may be committing the same episode right now (an HA pair delivers
    // twice at once): wait for it, then decide against what is durable. The decision below
    // runs without an await, so two requests can never both see an episode as new.
    const keys = incoming.map((a) => a.episode);
    for (;;) {
      const waits = keys.map((k) => this.pending.get(k)).filter((p): p is Promise<unknown> => p !== undefined);
      if (waits.length === 0) break;
      await Promise.allSettled(waits);
    }
    const { playbooks, classification } = this.rules();
    const entries: JournalEntry[] = [];
    const fire: Alert[] = [];
    const resolved: string[] = [];
    const outcomes: Record<IntakeOutcome, number> = { new: 0, duplicate: 0, resolved: 0, resolved_unknown: 0, out_of_scope: 0 };
    // Within one payload the same episode can appear twice (hand-made payloads): track what this batch changed.
    const batch = new Map<string, EpisodeRecord>();
    for (const a of incoming) {
      const matching = matchingPlaybooks(playbooks, a.labels);
      const pb = matching[0];
      const { category, severity } = classify(a.labels, { playbookCategory: pb?.category, rules: classification });
      const alert: Alert = { ...a, category, severity };
      const prev = batch.get(a.episode) ?? this.store.mem.episodes.get(a.episode);
      let outcome: IntakeOutcome;
      let rec: EpisodeRecord;
      if (a.status === 'firing') {
        // A repeat, or a late re-send of an episode that has already resolved: nothing new either way.
        const away = prev ? null : this.outOfScope(matching, a.labels);
        outcome = prev ? 'duplicate' : away ? 'out_of_scope' : 'new';
        rec = prev
          ? { ...prev, lastSeen: a.receivedAt, deliveries: prev.deliveries + 1, annotations: a.annotations }
          : { ...this.newEpisode(alert), ...(away ? { outOfScope: away } : {}) };
        if (outcome === 'new') fire.push(alert);
      } else {
        if (!prev) {
          outcome = 'resolved_unknown';
          rec = { ...this.newEpisode(alert), status: 'resolved', resolvedAt: a.receivedAt };
        } else if (prev.status === 'resolved') {
          outcome = 'duplicate';
          rec = { ...prev, lastSeen: a.receivedAt, deliveries: prev.deliveries + 1 };
        } else {
          outcome = 'resolved';
          rec = { ...prev, status: 'resolved', resolvedAt: a.receivedAt, lastSeen: a.receivedAt, deliveries: prev.deliveries + 1 };
          resolved.push(a.episode);
        }
      }
      batch.set(a.episode, rec);
      entries.push({ op: 'episode', v: rec });
      outcomes[outcome]++;
      this.counter.inc({ status: a.status, category: boundedCategory(category), severity: boundedSeverity(severity), outcome });
    }
    // Durable first (throws when the disk refuses: the caller answers 503 and Alertmanager retries).
    const commit = this.store.commit(entries);
    for (const k of batch.keys()) this.pending.set(k, commit);
    try {
      await commit;
    } finally {
      for (const k of batch.keys()) if (this.pending.get(k) === commit) this.pending.delete(k);
    }
    if (outcomes.out_of_scope) this.log.debug({ out_of_scope: outcomes.out_of_scope }, 'alerts outside this promedic\'s scope recorded; nothing acts');
    for (const ep of resolved) this.engine.onResolved(ep);
    for (const a of fire) this.engine.onFiring(a);
    // Debug: at a storm's rate, one info line per delivery would cost more than the delivery.
    if (fire.length || resolved.length) this.log.debug({ new: outcomes.new, resolved: outcomes.resolved, duplicate: outcomes.duplicate }, 'alerts recorded');
    return { received: incoming.length, outcomes };
  }

  /**
   * Why a new alert is outside this promedic's scope (src/scope.ts), or null: every playbook it
   * matches is out of scope, or it matches none and the global scope excludes it. Such an
   * episode is recorded (with the reason) and reaches no playbook, learning or emergency.
   */
  private outOfScope(matching: Playbook[], labels: Record<string, string>): string | null {
    if (!this.scope) return null;
    const { identity, global } = this.scope;
    if (matching.length === 0) return outOfScope(global, labels, identity);
    let first: string | null = null;
    for (const pb of matching) {
      const why = outOfScope(pb.scope ?? global, labels, identity);
      if (!why) return null;
      first ??= `${pb.name}: ${why}`;
    }
    return first;
  }

  private newEpisode(a: Alert): EpisodeRecord {
    return {
      key: a.episode,
      fingerprint: a.fingerprint,
      alertname: a.labels.alertname ?? '',
      labels: a.labels,
      annotations: a.annotations,
      startsAt: a.startsAt,
      status: 'firing',
      source: a.source,
      category: a.category,
      severity: a.severity,
      firstSeen: a.receivedAt,
      lastSeen: a.receivedAt,
      deliveries: 1,
    };
  }
}
