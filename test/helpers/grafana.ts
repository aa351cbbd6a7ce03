/**
 * The Grafana dashboards in grafana/dashboards/, read as data: their panels, and each panel
 * query turned into plain PromQL that runs against any Prometheus (Grafana's built-in
 * interval variables become durations; dashboard variables in label matchers match any value).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { ROOT } from './index.js';

export const DASHBOARD_DIR = join(ROOT, 'grafana/dashboards');

export interface GrafanaDatasourceRef {
  type?: string;
  uid?: string;
}

export interface GrafanaTarget {
  refId?: string;
  expr?: string;
  legendFormat?: string;
  instant?: boolean;
  range?: boolean;
  datasource?: GrafanaDatasourceRef | null;
}

export interface GrafanaPanel {
  id?: number;
  type: string;
  title?: string;
  description?: string;
  collapsed?: boolean;
  datasource?: GrafanaDatasourceRef | null;
  gridPos?: { h: number; w: number; x: number; y: number };
  fieldConfig?: {
    defaults?: { unit?: string; thresholds?: { mode?: string; steps?: Array<{ color: string; value: number | null }> } };
    overrides?: unknown[];
  };
  targets?: GrafanaTarget[];
  panels?: GrafanaPanel[];
}

export interface GrafanaVariable {
  name: string;
  type: string;
  query?: string | { query?: string };
  definition?: string;
  datasource?: GrafanaDatasourceRef | null;
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string;
}

export interface GrafanaAnnotation {
  name: string;
  builtIn?: number;
  expr?: string;
  datasource?: GrafanaDatasourceRef | null;
}

export interface GrafanaDashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: GrafanaPanel[];
  templating: { list: GrafanaVariable[] };
  annotations?: { list: GrafanaAnnotation[] };
  [key: string]: unknown;
}

export interface PanelQuery {
  /** The dashboard's title. */
  dashboard: string;
  /** The panel's title. */
  panel: string;
  refId: string;
  /** The query as written in the dashboard, with Grafana variables. */
  expr: string;
  /** The same query as plain PromQL (see toPromql). */
  promql: string;
}

/** Absolute paths of the dashboard JSON files, sorted. */
export function dashboardFiles(): string[] {
  return readdirSync(DASHBOARD_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => join(DASHBOARD_DIR, f));
}

/** Reads a dashboard: a path, or a file name in grafana/dashboards/ ("promedic-host.json"). */
export function loadDashboard(file: string): GrafanaDashboard {
  const path = isAbsolute(file) || existsSync(file) ? file : join(DASHBOARD_DIR, file);
  return JSON.parse(readFileSync(path, 'utf8')) as GrafanaDashboard;
}

/** Every panel, rows included, with the panels inside collapsed rows after their row. */
export function allPanels(d: GrafanaDashboard): GrafanaPanel[] {
  const out: GrafanaPanel[] = [];
  for (const p of d.panels) {
    out.push(p);
    for (const inner of p.panels ?? []) out.push(inner);
  }
  return out;
}

/** Every query of every panel (collapsed rows included), with its plain-PromQL form. */
export function panelQueries(file: string): PanelQuery[] {
  const d = loadDashboard(file);
  const out: PanelQuery[] = [];
  for (const p of allPanels(d)) {
    for (const t of p.targets ?? []) {
      if (typeof t.expr !== 'string') continue;
      out.push({ dashboard: d.title, panel: p.title ?? `panel ${p.id ?? '?'}`, refId: t.refId ?? '', expr: t.expr, promql: toPromql(t.expr) });
    }
  }
  return out;
}

/** Grafana's built-in variables and the value each gets in plain PromQL. */
const BUILTINS: Record<string, string> = {
  __rate_interval: '1m',
  __interval: '1m',
  __interval_ms: '60000',
  __range: '1h',
  __range_s: '3600',
  __range_ms: '3600000',
};

/** `$name`, `${name}`, `${name:format}` or the deprecated `[[name]]`. */
const VARIABLE = /\$([A-Za-z_]\w*)|\$\{([A-Za-z_]\w*)(?::[^}]*)?\}|\[\[([A-Za-z_]\w*)(?::[^\]]*)?\]\]/g;

/** Names of the variables an expression refers to (built-ins included). */
export function variablesIn(expr: string): string[] {
  return [...expr.matchAll(VARIABLE)].map((m) => (m[1] ?? m[2] ?? m[3]) as string);
}

/** Replaces Grafana's built-in interval and range variables with fixed durations. */
export function substituteBuiltins(expr: string): string {
  return expr.replace(VARIABLE, (whole, a?: string, b?: string, c?: string) => {
    const name = (a ?? b ?? c) as string;
    return BUILTINS[name] ?? whole;
  });
}

const REGEX_SPECIAL = /[.*+?^${}()|[\]\\]/g;

/**
 * The query as plain PromQL: built-in variables become durations (`$__rate_interval` -> 1m,
 * `$__range` -> 1h), and every label matcher whose value holds a dashboard variable becomes a
 * regex matcher on any value (`instance="$instance"` -> `instance=~".+"`, `x=~"$x"` ->
 * `x=~".+"`, `x!="$x"` -> `x!~".+"`), literal text around the variable kept and escaped.
 * Throws when a dashboard variable is used anywhere else, which no plain value could stand for.
 */
export function toPromql(expr: string): string {
  let text = substituteBuiltins(expr);
  const edits: Array<{ from: number; to: number; insert: string }> = [];
  parser.parse(text).iterate({
    enter(node) {
      if (node.name !== 'UnquotedLabelMatcher') return;
      const op = node.node.getChild('MatchOp');
      const str = node.node.getChild('StringLiteral');
      if (!op || !str) return;
      const literal = text.slice(str.from, str.to);
      const quote = literal[0] as string;
      const body = literal.slice(1, -1);
      if (body.search(VARIABLE) < 0) return;
      const opText = text.slice(op.from, op.to);
      const isRegex = opText === '=~' || opText === '!~';
      // Literal text around the variable: already a regex for =~ and !~; escaped for = and != (a
      // backslash doubled, as a PromQL string needs, except inside a raw backtick string).
      const escape = (s: string) => (isRegex ? s : s.replace(REGEX_SPECIAL, (c) => (quote === '`' ? `\\${c}` : `\\\\${c}`)));
      let value = '';
      let last = 0;
      for (const m of body.matchAll(VARIABLE)) {
        value += escape(body.slice(last, m.index)) + '.+';
        last = (m.index as number) + m[0].length;
      }
      value += escape(body.slice(last));
      const newOp = opText.startsWith('!') ? '!~' : '=~';
      edits.push({ from: op.from, to: str.to, insert: `${newOp}${quote}${value}${quote}` });
    },
  });
  for (const e of edits.sort((x, y) => y.from - x.from)) text = text.slice(0, e.from) + e.insert + text.slice(e.to);
  const left = variablesIn(text);
  if (left.length > 0) throw new Error(`dashboard variable $${left[0]} used outside a label matcher: ${expr}`);
  return text;
}

/** Syntax errors the Prometheus grammar finds in a query, as "column N near ..." messages. */
export function promqlErrors(promql: string): string[] {
  const errors: string[] = [];
  if (!promql.trim()) return ['empty query'];
  parser.parse(promql).iterate({
    enter(node) {
      if (node.type.isError) errors.push(`column ${node.from + 1} near ${JSON.stringify(promql.slice(Math.max(0, node.from - 10), node.from + 10))}`);
    },
  });
  return errors;
}

/** Metric names a query selects (vector and range selectors). */
export function metricNames(promql: string): string[] {
  const names = new Set<string>();
  parser.parse(promql).iterate({
    enter(node) {
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') names.add(promql.slice(node.from, node.to));
    },
  });
  return [...names];
}

/** Label matchers of a query, as written (before substitution). */
export function labelMatchers(expr: string): Array<{ label: string; op: string; value: string }> {
  const text = substituteBuiltins(expr);
  const out: Array<{ label: string; op: string; value: string }> = [];
  parser.parse(text).iterate({
    enter(node) {
      if (node.name !== 'UnquotedLabelMatcher') return;
      const name = node.node.getChild('LabelName');
      const op = node.node.getChild('MatchOp');
      const str = node.node.getChild('StringLiteral');
      if (!name || !op || !str) return;
      out.push({ label: text.slice(name.from, name.to), op: text.slice(op.from, op.to), value: text.slice(str.from + 1, str.to - 1) });
    },
  });
  return out;
}

/**
 * What a query needs, beyond Prometheus having scraped promedic twice, before it returns data:
 * - `alerts`: an alert received (webhook or monitor);
 * - `runs`: a playbook run (for the run and action counters and histograms);
 * - `recoveries`: a fix verified (time to recover);
 * - `rollbacks`: a rollback (a failed step or verification after a step with an undo);
 * - `skips`: a run skipped (cooldown, duplicate, paused, suspended, rate_limited);
 * - `webhook`: a webhook delivery;
 * - `monitors`: monitor rules loaded (the bundled rules/monitors/default.yml);
 * - `alertmanager`: alertmanager.url set (escalation delivery failures);
 * - `escalations`: alertmanager.url set and a remediation that fails;
 * - `application`: the healed application scraped with a `service` target label.
 * Host queries need nothing (pressure stall needs a kernel with PSI).
 */
export function dataRequires(promql: string): string[] {
  const needs = new Set<string>();
  for (const m of metricNames(promql)) {
    if (m === 'promedic_alerts_received_total') needs.add('alerts');
    if (/^promedic_(playbook_runs_total|playbook_run_duration_seconds_|action_duration_seconds_)/.test(m)) needs.add('runs');
    if (m.startsWith('promedic_time_to_recover_seconds')) needs.add('recoveries');
    if (m === 'promedic_strategy_success_ratio' || m === 'promedic_strategy_selected_total') needs.add('runs');
    if (m === 'promedic_rollbacks_total') needs.add('rollbacks');
    if (m === 'promedic_runs_skipped_total') needs.add('skips');
    if (m.startsWith('promedic_http_request_duration_seconds') && promql.includes('/webhook/')) needs.add('webhook');
    if (m === 'promedic_monitor_alerts' || m.startsWith('promedic_monitor_trend_slope') || m.startsWith('promedic_monitor_value')) needs.add('monitors');
    if (m === 'promedic_escalations_total') needs.add('escalations');
    if (m === 'promedic_escalation_send_failures_total') needs.add('alertmanager');
    if (m.startsWith('app_') || m.startsWith('http_request')) needs.add('application');
  }
  return [...needs].sort();
}
