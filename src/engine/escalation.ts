/**
 * Escalation to people through the routing they already have: when a playbook cannot fix an
 * alert (every strategy failed, or the playbook is suspended for the target), promedic raises
 * its own alert, `PromedicRemediationFailed`, in the configured Alertmanager (API v2), the way
 * Prometheus does: re-sent while the original alert keeps firing, with `endsAt` a few resend
 * intervals ahead so it resolves by itself if promedic goes away, and resolved at once
 * (`endsAt` = now) when the original alert resolves.
 *
 * The Alertmanager URL comes from promedic's config, never from an alert.
 */
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { send } from '../actions/http.js';
import { errorMessage } from '../errors.js';

export const ESCALATION_ALERTNAME = 'PromedicRemediationFailed';
export const CHRONIC_ALERTNAME = 'PromedicChronicProblem';

export interface EscalationOptions {
  /** Alertmanager base URL, e.g. http://127.0.0.1:9093. */
  url: string;
  logger: Logger;
  registry: Registry;
  /** How often an active escalation is re-sent (Prometheus' --rules.alert.resend-delay). Default 60 s. */
  resendMs?: number;
  /** Where a person finds the details, e.g. promedic's /api/v1/runs/<id>. */
  generatorUrl?: (runId: string) => string;
}

export interface EscalationInput {
  episode: string;
  playbook: string;
  /** The labels the playbook identifies its target by (alertname, service, instance, ...). */
  target: Record<string, string>;
  severity: string;
  reason: 'failed' | 'suspended';
  /** One line per strategy tried: "reset-connection: verification failed; rolled back". */
  summary: string;
  runId: string;
}

export interface ChronicInput {
  /** Identifies this escalation until it is resolved. */
  key: string;
  playbook: string;
  target: Record<string, string>;
  severity: string;
  /** Firings within the window. */
  count: number;
  windowMs: number;
}

interface Active {
  alert: AmAlert;
}

interface AmAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL?: string;
}

/**
 * Labels of an escalation alert: the target's labels identify what it is about, `alertname` is
 * promedic's own and `<originalLabel>` names the original; `what` is the same for people.
 */
function escalationLabels(alertname: string, originalLabel: string, target: Record<string, string>, playbook: string, severity: string) {
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(target)) if (k !== 'alertname') labels[k] = v;
  Object.assign(labels, {
    alertname,
    [originalLabel]: target.alertname ?? '',
    playbook,
    severity: severity === 'critical' ? 'critical' : 'warning',
    source: 'promedic',
  });
  const what = [target.alertname, ...Object.entries(target).filter(([k]) => k !== 'alertname').map(([k, v]) => `${k}=${v}`)].join(' ');
  return { labels, what };
}

export class Escalator {
  private readonly o: EscalationOptions;
  private readonly log: Logger;
  private readonly active = new Map<string, Active>();
  private readonly resendMs: number;
  private timer: NodeJS.Timeout | null = null;
  private readonly sent: Counter<'playbook' | 'reason'>;
  private readonly errors: Counter;

  constructor(o: EscalationOptions) {
    this.o = o;
    this.log = o.logger.child({ component: 'escalation' });
    this.resendMs = o.resendMs ?? 60_000;
    this.sent = new Counter({
      name: 'promedic_escalations_total',
      help: `Escalations raised in Alertmanager: ${ESCALATION_ALERTNAME} (reason failed or suspended) and ${CHRONIC_ALERTNAME} (reason chronic).`,
      labelNames: ['playbook', 'reason'],
      registers: [o.registry],
    });
    this.errors = new Counter({
      name: 'promedic_escalation_send_failures_total',
      help: 'Failed deliveries of escalation alerts to Alertmanager (each is retried at the next resend).',
      registers: [o.registry],
    });
  }

  /** Raise (or refresh) the escalation for an episode. Never throws. */
  async escalate(e: EscalationInput): Promise<void> {
    const now = new Date();
    const { labels, what } = escalationLabels(ESCALATION_ALERTNAME, 'failed_alertname', e.target, e.playbook, e.severity);
    const alert: AmAlert = {
      labels,
      annotations: {
        summary: `promedic could not fix ${what}`,
        description: `Playbook ${e.playbook} ${e.reason === 'suspended' ? 'failed repeatedly and is suspended for this target' : 'tried every strategy and none worked'}: ${e.summary}`,
        run_id: e.runId,
      },
      startsAt: (this.active.get(e.episode)?.alert.startsAt ?? now.toISOString()),
      endsAt: this.endsAt(now),
      ...(this.o.generatorUrl ? { generatorURL: this.o.generatorUrl(e.runId) } : {}),
    };
    this.active.set(e.episode, { alert });
    this.sent.inc({ playbook: e.playbook, reason: e.reason });
    this.log.warn({ playbook: e.playbook, episode: e.episode, reason: e.reason }, `escalated as ${ESCALATION_ALERTNAME}`);
    this.schedule();
    await this.post([alert]);
  }

  /**
   * A signature that keeps coming back (chronic): raised once as PromedicChronicProblem, so the
   * cause gets looked at, not only the symptom; resolved when it goes quiet.
   */
  async escalateChronic(c: ChronicInput): Promise<void> {
    if (this.active.has(c.key)) return;
    const now = new Date();
    const { labels, what } = escalationLabels(CHRONIC_ALERTNAME, 'chronic_alertname', c.target, c.playbook, c.severity);
    const minutes = Math.round(c.windowMs / 60_000);
    const alert: AmAlert = {
      labels,
      annotations: {
        summary: `${what} keeps coming back: ${c.count} times within ${minutes} min`,
        description: `Playbook ${c.playbook} treats the symptom each time; the cause needs attention (or an on_chronic preventive playbook).`,
      },
      startsAt: now.toISOString(),
      endsAt: this.endsAt(now),
    };
    this.active.set(c.key, { alert });
    this.sent.inc({ playbook: c.playbook, reason: 'chronic' });
    this.log.warn({ playbook: c.playbook, key: c.key }, `escalated as ${CHRONIC_ALERTNAME}`);
    this.schedule();
    await this.post([alert]);
  }

  /** The original alert resolved (or the chronic signature went quiet): resolve its escalation now. */
  async resolve(episode: string): Promise<void> {
    const a = this.active.get(episode);
    if (!a) return;
    this.active.delete(episode);
    a.alert.endsAt = new Date().toISOString();
    if (this.active.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
    await this.post([a.alert]);
  }

  get activeCount(): number {
    return this.active.size;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private endsAt(now: Date): string {
    return new Date(now.getTime() + 4 * this.resendMs).toISOString();
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      const now = new Date();
      const alerts = [...this.active.values()].map((a) => {
        a.alert.endsAt = this.endsAt(now);
        return a.alert;
      });
      if (alerts.length) void this.post(alerts);
    }, this.resendMs);
    this.timer.unref();
  }

  private async post(alerts: AmAlert[]): Promise<void> {
    const url = `${this.o.url.replace(/\/+$/, '')}/api/v2/alerts`;
    try {
      await send(
        { method: 'POST', url, headers: { 'content-type': 'application/json' }, body: JSON.stringify(alerts), expect: [] },
        AbortSignal.timeout(10_000),
      );
    } catch (err) {
      this.errors.inc();
      this.log.error({ url, err: errorMessage(err) }, 'could not send the escalation to Alertmanager');
    }
  }
}
