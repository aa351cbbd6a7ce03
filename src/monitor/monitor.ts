/**
 * The embedded monitor: evaluates rules after every collection cycle over host metrics and
 * scraped targets, with `for` durations, hysteresis, trends and forecasts, and raises the
 * same Alert values as the Alertmanager path (labels alertname, severity, category,
 * source="promedic", instance), so the same playbooks handle both.
 */
import type { Logger } from 'pino';
import { Gauge, Histogram, type Registry } from 'prom-client';
import { fingerprintOf, episodeKey } from '../alert.js';
import { errorMessage } from '../errors.js';
import type { IncomingAlert } from '../intake/alertmanager.js';
import { type Expr, type Sample, SeriesStore, evaluate, labelKey, reads } from './expr.js';
import type { MonitorRule } from './rules.js';
import { type Point, linearFit, predictLinear } from './stats.js';

export interface MonitorOptions {
  rules: MonitorRule[];
  instance: string;
  logger: Logger;
  registry: Registry;
  intervalMs: number;
  /** Records alerts durably and hands them to the engine (Intake.receive). */
  send: (alerts: IncomingAlert[]) => Promise<unknown>;
  /** When true, a firing alert is not raised while Alertmanager already reports the same alertname for this host. */
  deferTo?: (labels: Record<string, string>) => boolean;
}

export interface ActiveAlert {
  alertname: string;
  state: 'pending' | 'firing';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  value: number;
  since: string;
  startsAt?: string;
  forecast?: number;
}

interface State {
  rule: MonitorRule;
  labels: Record<string, string>;
  state: 'pending' | 'firing';
  since: number;
  startsAt?: string;
  value: number;
  forecast?: number;
  /** The firing notification was recorded (false: retry on the next evaluation). */
  sent: boolean;
  annotations: Record<string, string>;
}

/** A readable, stable `series` label value: k="v" pairs, sorted ("" for a single series). */
function seriesLabel(labels: Record<string, string>): string {
  const keys = Object.keys(labels).sort();
  return keys.length ? keys.map((k) => `${k}=${JSON.stringify(labels[k])}`).join(',') : 'all';
}

function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(3);
  return String(Math.round(v * 1000) / 1000);
}

function renderAnnotation(tpl: string, vars: { value: number; threshold: number; forecast?: number; labels: Record<string, string> }): string {
  return tpl.replace(/\{\{\s*(value|threshold|forecast|labels\.([a-zA-Z_][a-zA-Z0-9_]*))\s*(\|\s*percent\s*)?\}\}/g, (_m, what: string, label: string | undefined, pct: string | undefined) => {
    if (label) return vars.labels[label] ?? '';
    const v = what === 'value' ? vars.value : what === 'threshold' ? vars.threshold : vars.forecast;
    if (v === undefined) return '';
    return pct ? `${formatValue(v * 100)}%` : formatValue(v);
  });
}

export class Monitor {
  readonly store = new SeriesStore();
  private rules: MonitorRule[] = [];
  private readonly history = new Map<string, Point[]>();
  private readonly states = new Map<string, State>();
  private readonly log: Logger;
  private readonly m;
  private evaluating: Promise<void> | null = null;

  /** The `instance` label of raised alerts (settable once the listen port is known). */
  instance: string;

  constructor(private readonly o: MonitorOptions) {
    this.instance = o.instance;
    this.log = o.logger.child({ component: 'monitor' });
    const r = [o.registry];
    const self = this;
    let seen = -1;
    this.m = {
      duration: new Histogram({ name: 'promedic_monitor_evaluation_duration_seconds', help: 'Time to evaluate all monitor rules once.', buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1], registers: r }),
      slope: new Gauge({ name: 'promedic_monitor_trend_slope', help: 'Least-squares slope per second of each monitored value over its trend window.', labelNames: ['alertname', 'series'], registers: r }),
      value: new Gauge({ name: 'promedic_monitor_value', help: 'The current value of each monitored expression.', labelNames: ['alertname', 'series'], registers: r }),
    };
    new Gauge({
      name: 'promedic_monitor_alerts',
      help: 'Embedded monitor alerts by state (pending: waiting for `for`; firing).',
      labelNames: ['alertname', 'state'],
      registers: r,
      collect() {
        // Rebuilt only when a rule or a state changed since the last scrape: sixty label sets
        // hashed on every scrape were most of what a scrape allocated.
        if (seen === self.statesVersion) return;
        seen = self.statesVersion;
        this.reset();
        for (const rule of self.rules) {
          this.set({ alertname: rule.alert, state: 'pending' }, 0);
          this.set({ alertname: rule.alert, state: 'firing' }, 0);
        }
        for (const s of self.states.values()) this.inc({ alertname: s.rule.alert, state: s.state });
      },
    });
    this.setRules(o.rules);
  }

  setRules(rules: MonitorRule[]): void {
    this.rules = rules;
    this.statesVersion++;
    for (const rule of rules) {
      for (const r of reads(rule.expr)) this.store.want(r.metric, r.windowMs + 2 * this.o.intervalMs, r.counter);
    }
  }

  /** Monitor rules evaluated now. */
  get ruleCount(): number {
    return this.rules.length;
  }

  /** Keeps the series an expression outside the rules reads (a tuning objective or guard). */
  want(expr: Expr): void {
    for (const r of reads(expr)) this.store.want(r.metric, r.windowMs + 2 * this.o.intervalMs, r.counter);
  }

  /** How old the newest point of a series may be and still count (three collection cycles). */
  get staleMs(): number {
    return 3 * this.o.intervalMs;
  }

  /** Adds a collection cycle's (or a target scrape's) samples; only metrics that rules read are kept. */
  ingest(families: Array<{ name: string; samples: Array<{ labels?: Record<string, string>; value: number; raw?: string }> }>, t: number, extra?: Record<string, string>): void {
    const extraKey = extra ? labelKey(extra) : '';
    for (const f of families) {
      if (!this.store.wants(f.name)) continue;
      for (const s of f.samples) this.store.add(f.name, s.labels ?? {}, t, s.value, extra, s.raw === undefined ? undefined : `${s.raw}\u0003${extraKey}`);
    }
  }

  active(): ActiveAlert[] {
    return [...this.states.values()].map((s) => ({
      alertname: s.rule.alert,
      state: s.state,
      labels: s.labels,
      annotations: s.annotations,
      value: s.value,
      since: new Date(s.since).toISOString(),
      ...(s.startsAt ? { startsAt: s.startsAt } : {}),
      ...(s.forecast !== undefined ? { forecast: s.forecast } : {}),
    }));
  }

  /** Evaluates every rule at `now`; transitions are sent (durably recorded) before this resolves. */
  evaluate(now: number): Promise<void> {
    if (this.evaluating) {
      // The previous evaluation has not finished: this one is skipped (the monitor is behind).
      this.skipped++;
      return this.evaluating;
    }
    this.evaluationStartedAt = Date.now();
    this.evaluating = this.run(now).finally(() => {
      this.evaluating = null;
      this.evaluationStartedAt = null;
      this.lastEvaluatedAt = Date.now();
    });
    return this.evaluating;
  }

  /** Evaluations skipped because the one before had not finished. */
  skipped = 0;
  /** When the running evaluation started (ms), or null. */
  evaluationStartedAt: number | null = null;
  /** When the last evaluation ended (ms), 0 before the first. */
  lastEvaluatedAt = 0;

  get intervalMs(): number {
    return this.o.intervalMs;
  }

  private alertLabels(rule: MonitorRule, series: Record<string, string>): Record<string, string> {
    return {
      ...series,
      ...rule.labels,
      alertname: rule.alert,
      severity: rule.severity,
      category: rule.category,
      source: 'promedic',
      instance: series.instance ?? this.instance,
    };
  }

  private toAlert(s: State, status: 'firing' | 'resolved', now: number): IncomingAlert {
    const fingerprint = fingerprintOf(s.labels);
    const startsAt = s.startsAt as string;
    return {
      status,
      labels: s.labels,
      annotations: s.annotations,
      startsAt,
      endsAt: status === 'resolved' ? new Date(now).toISOString() : '0001-01-01T00:00:00Z',
      generatorURL: '',
      fingerprint,
      episode: episodeKey(fingerprint, startsAt),
      source: 'promedic',
      receiver: 'embedded-monitor',
      receivedAt: new Date(now).toISOString(),
    };
  }

  private async run(now: number): Promise<void> {
    const t0 = performance.now();
    const staleMs = 3 * this.o.intervalMs;
    const outgoing: IncomingAlert[] = [];
    /** States whose firing notification is in `outgoing`: marked sent once it is recorded. */
    const firing: State[] = [];
    const resolvedKeys: string[] = [];
    const seen = new Set<string>();
    const memo = new Map<string, Sample[]>();
    for (const rule of this.rules) {
      let samples: Sample[];
      try {
        samples = evaluate(rule.expr, this.store, now, staleMs, memo);
      } catch (err) {
        this.log.error({ alert: rule.alert, err: errorMessage(err) }, 'monitor rule failed to evaluate');
        continue;
      }
      const keep = Math.max(rule.trendWindowMs ?? 0, rule.forecast?.windowMs ?? 0);
      for (const sample of samples) {
        // The common case, first and without building keys: a rule with no history, no
        // pending or firing series, and no breach.
        if (keep === 0 && !this.perRule.get(rule.alert) && !(rule.op === 'above' ? sample.value > rule.threshold : sample.value < rule.threshold)) {
          continue;
        }
        sample.key ??= labelKey(sample.labels);
        const seriesKey = sample.key;
        const key = `${rule.alert}|${seriesKey}`;
        seen.add(key);
        let observed = sample.value;
        let forecast: number | undefined;
        if (keep > 0) {
          const hist = this.history.get(key) ?? [];
          hist.push({ t: now, v: sample.value });
          let drop = 0;
          while (drop + 1 < hist.length && (hist[drop] as Point).t < now - keep) drop++;
          if (drop) hist.splice(0, drop);
          this.history.set(key, hist);
          const series = seriesLabel(sample.labels);
          if (rule.trendWindowMs !== null) {
            const fit = linearFit(hist, now, now - rule.trendWindowMs);
            if (fit) this.m.slope.set({ alertname: rule.alert, series }, fit.slope);
            this.m.value.set({ alertname: rule.alert, series }, sample.value);
          }
          if (rule.forecast) {
            // A forecast needs a quarter of its window of data before it may fire.
            const since = now - rule.forecast.windowMs;
            const first = hist.find((p) => p.t >= since);
            const predicted = first && now - first.t >= rule.forecast.windowMs / 4 ? predictLinear(hist, now, rule.forecast.horizonMs / 1000, since) : null;
            if (predicted === null) continue;
            forecast = predicted;
            observed = predicted;
          }
        }
        const breach = rule.op === 'above' ? observed > rule.threshold : observed < rule.threshold;
        const st = this.states.get(key);
        if (!st && !breach) continue;
        // Resolves at the clear level (the threshold itself without hysteresis: "above: 0" resolves at 0).
        const cleared = rule.op === 'above' ? observed <= rule.clear : observed >= rule.clear;
        // Labels and annotations only for series that are, or become, pending or firing.
        const labels = st?.labels ?? this.alertLabels(rule, sample.labels);
        const annotations = this.annotate(rule, sample.value, labels, forecast);

        if (!st) {
          const s: State = { rule, labels, state: 'pending', since: now, value: sample.value, sent: false, annotations, ...(forecast !== undefined ? { forecast } : {}) };
          this.setState(key, s);
          if (rule.forMs === 0) this.fire(s, now, outgoing, firing);
          continue;
        }
        st.value = sample.value;
        st.annotations = annotations;
        if (forecast !== undefined) st.forecast = forecast;
        if (st.state === 'pending') {
          if (!breach) this.deleteState(key);
          else if (now - st.since >= rule.forMs) this.fire(st, now, outgoing, firing);
        } else if (cleared) {
          if (st.sent) outgoing.push(this.toAlert(st, 'resolved', now));
          resolvedKeys.push(key);
        } else if (!st.sent && !this.o.deferTo?.(st.labels)) {
          outgoing.push(this.toAlert(st, 'firing', now)); // retry an unrecorded firing
          firing.push(st);
        }
      }
    }
    // Series that vanished (a target gone, a filesystem unmounted) resolve, as in Prometheus.
    for (const [key, st] of this.states) {
      if (seen.has(key)) continue;
      if (st.state === 'firing' && st.sent) outgoing.push(this.toAlert(st, 'resolved', now));
      resolvedKeys.push(key);
    }
    for (const key of this.history.keys()) if (!seen.has(key)) this.history.delete(key);
    this.store.prune(now - staleMs * 4);
    this.m.duration.observe((performance.now() - t0) / 1000);

    if (outgoing.length) {
      try {
        await this.o.send(outgoing);
        for (const st of firing) st.sent = true;
        for (const a of outgoing) {
          this.log.info({ alertname: a.labels.alertname, status: a.status, value: a.annotations.value }, a.status === 'firing' ? 'monitor alert firing' : 'monitor alert resolved');
        }
      } catch (err) {
        // Not recorded: firing alerts are retried next evaluation; resolved ones too (their state stays).
        this.log.error({ err: errorMessage(err) }, 'monitor could not record alerts; retrying next cycle');
        return;
      }
    }
    for (const key of resolvedKeys) this.deleteState(key);
  }

  /** Pending or firing series per rule, so rules with none skip their quiet series cheaply. */
  private readonly perRule = new Map<string, number>();

  /** Bumped whenever the rules or an alert's state change (promedic_monitor_alerts follows it). */
  private statesVersion = 0;

  private setState(key: string, st: State): void {
    this.statesVersion++;
    if (!this.states.has(key)) this.perRule.set(st.rule.alert, (this.perRule.get(st.rule.alert) ?? 0) + 1);
    this.states.set(key, st);
  }

  private deleteState(key: string): void {
    const st = this.states.get(key);
    if (!st) return;
    this.statesVersion++;
    this.states.delete(key);
    this.perRule.set(st.rule.alert, (this.perRule.get(st.rule.alert) ?? 1) - 1);
  }

  private annotate(rule: MonitorRule, value: number, labels: Record<string, string>, forecast: number | undefined): Record<string, string> {
    const vars = { value, threshold: rule.threshold, ...(forecast !== undefined ? { forecast } : {}), labels };
    const annotations: Record<string, string> = {};
    for (const [k, v] of Object.entries(rule.annotations)) annotations[k] = renderAnnotation(v, vars);
    annotations.value = formatValue(value);
    if (rule.emergency) annotations.emergency = 'true';
    if (forecast !== undefined && rule.forecast) {
      annotations.forecast = `${formatValue(forecast)} in ${rule.forecast.horizonMs / 1000}s (linear fit over ${rule.forecast.windowMs / 1000}s)`;
    }
    return annotations;
  }

  private fire(s: State, now: number, outgoing: IncomingAlert[], firing: State[]): void {
    s.state = 'firing';
    this.statesVersion++;
    s.startsAt = new Date(now).toISOString();
    if (this.o.deferTo?.(s.labels)) {
      this.log.info({ alertname: s.rule.alert }, 'monitor alert deferred: Alertmanager already reports it');
      return;
    }
    outgoing.push(this.toAlert(s, 'firing', now));
    firing.push(s);
  }
}
