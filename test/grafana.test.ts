/**
 * The Grafana bundle in grafana/: every dashboard keeps the conventions a shared dashboard
 * needs (a datasource variable used everywhere, units, thresholds, descriptions, no hard-coded
 * instance or job, a valid layout), every panel query is valid PromQL, the provisioning files
 * point at the dashboards; every dashboard narrows promedic's series to the chosen hosts of a
 * fleet (the `instance` variable) and Automation's Fleet row shows them per host; and, with
 * Debian's prometheus, every query runs against a real Prometheus scraping two promedic hosts
 * after a few playbook runs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../src/config.js';
import { type Service, startService } from '../src/main.js';
import {
  type GrafanaDashboard,
  type GrafanaPanel,
  DASHBOARD_DIR,
  allPanels,
  dashboardFiles,
  dataRequires,
  labelMatchers,
  loadDashboard,
  metricNames,
  panelQueries,
  promqlErrors,
  substituteBuiltins,
  toPromql,
  variablesIn,
} from './helpers/grafana.js';
import { ROOT, amPayload, rawRequest, requireBinary, tempDir, waitFor } from './helpers/index.js';
import { DEMO_APP, freePort } from './helpers/stack.js';

const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };
/** Panel types that show no query result, and so need no datasource, unit or thresholds. */
const LAYOUT_ONLY = new Set(['row', 'text']);
const BUILTIN_VARIABLES = new Set(['__rate_interval', '__interval', '__interval_ms', '__range', '__range_s', '__range_ms']);
/** Labels that identify a target: a dashboard must select them through a variable. */
const TARGET_LABELS = new Set(['instance', 'job', 'service']);

const files = dashboardFiles();
const dashboards = files.map((f) => ({ file: f, name: basename(f), d: loadDashboard(f) }));

/** All TypeScript under src/, to check that the promedic_* metrics the dashboards read exist. */
function sourceText(dir: string): string {
  let text = '';
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) text += sourceText(p);
    else if (e.name.endsWith('.ts')) text += readFileSync(p, 'utf8');
  }
  return text;
}

interface Matcher {
  label: string;
  op: string;
  value: string;
}

/**
 * Each vector selector of a query: its metric name (or, for `{__name__=~"a|b"}`, that matcher's
 * value), the labels it matches on, and its matchers as written.
 */
function selectors(promql: string): Array<{ metric: string; labels: string[]; matchers: Matcher[] }> {
  const out: Array<{ metric: string; labels: string[]; matchers: Matcher[] }> = [];
  parser.parse(promql).iterate({
    enter(node) {
      if (node.name !== 'VectorSelector') return;
      const id = node.node.getChild('Identifier');
      const labels: string[] = [];
      const matchers: Matcher[] = [];
      for (const m of node.node.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher') ?? []) {
        const name = m.getChild('LabelName');
        const op = m.getChild('MatchOp');
        const str = m.getChild('StringLiteral');
        if (!name) continue;
        labels.push(promql.slice(name.from, name.to));
        if (op && str) matchers.push({ label: promql.slice(name.from, name.to), op: promql.slice(op.from, op.to), value: promql.slice(str.from + 1, str.to - 1) });
      }
      const byName = matchers.find((m) => m.label === '__name__')?.value ?? '';
      out.push({ metric: id ? promql.slice(id.from, id.to) : byName, labels, matchers });
    },
  });
  return out;
}

/** Whether a selector reads promedic's own series (`promedic_x`, or `{__name__=~"promedic_a|promedic_b"}`). */
const readsPromedic = (s: { metric: string }) => s.metric !== '' && s.metric.split('|').every((n) => n.startsWith('promedic_'));
/** The matcher every promedic series of a dashboard carries: the hosts chosen in `$instance`. */
const onChosenHosts = (s: { matchers: Matcher[] }) => s.matchers.some((m) => m.label === 'instance' && m.op === '=~' && m.value === '$instance');

/** Every aggregation of a query: its operator and its `by` (or `without`) labels. */
function aggregations(promql: string): Array<{ op: string; modifier: string; labels: string[] }> {
  const out: Array<{ op: string; modifier: string; labels: string[] }> = [];
  parser.parse(promql).iterate({
    enter(node) {
      if (node.name !== 'AggregateExpr') return;
      const op = node.node.getChild('AggregateOp');
      const mod = node.node.getChild('AggregateModifier');
      const modifier = mod?.firstChild ? promql.slice(mod.firstChild.from, mod.firstChild.to) : '';
      const labels = (mod?.getChild('GroupingLabels')?.getChildren('LabelName') ?? []).map((l) => promql.slice(l.from, l.to));
      out.push({ op: op ? promql.slice(op.from, op.to) : '', modifier, labels });
    },
  });
  return out;
}

/** The comparisons of a query against a number (`x == 1`, `x > 0`), as "== 1", "> 0". */
function comparisons(promql: string): string[] {
  const out: string[] = [];
  const ops = new Set(['Eql', 'Neq', 'Gtr', 'Gte', 'Lss', 'Lte']);
  parser.parse(promql).iterate({
    enter(node) {
      if (node.name !== 'BinaryExpr') return;
      const kids: Array<{ name: string; text: string }> = [];
      for (let c = node.node.firstChild; c; c = c.nextSibling) kids.push({ name: c.name, text: promql.slice(c.from, c.to) });
      const op = kids.find((k) => ops.has(k.name));
      const last = kids[kids.length - 1];
      if (op && last?.name === 'NumberDurationLiteral') out.push(`${op.text} ${last.text}`);
    },
  });
  return out;
}

/** The selector of a `label_values(selector, label)` variable query ('' for other queries). */
const variableSelector = (q: string) => /^label_values\((.+),\s*[a-zA-Z_]\w*\)$/.exec(q)?.[1] ?? '';

function overlaps(a: GrafanaPanel, b: GrafanaPanel): boolean {
  const p = a.gridPos as NonNullable<GrafanaPanel['gridPos']>;
  const q = b.gridPos as NonNullable<GrafanaPanel['gridPos']>;
  return p.x < q.x + q.w && q.x < p.x + p.w && p.y < q.y + q.h && q.y < p.y + p.h;
}

/** Panels laid out together: the top level (rows included), and the inside of each collapsed row. */
function layers(d: GrafanaDashboard): GrafanaPanel[][] {
  return [d.panels, ...d.panels.filter((p) => p.type === 'row' && p.collapsed).map((r) => r.panels ?? [])];
}

/** The panels of the Fleet row: below it and above the next row, in reading order. */
function fleetPanels(d: GrafanaDashboard): GrafanaPanel[] {
  const rows = d.panels.filter((p) => p.type === 'row').sort((a, b) => (a.gridPos?.y ?? 0) - (b.gridPos?.y ?? 0));
  const i = rows.findIndex((r) => r.title === 'Fleet');
  if (i < 0) return [];
  const from = rows[i]?.gridPos?.y ?? 0;
  const to = rows[i + 1]?.gridPos?.y ?? Number.POSITIVE_INFINITY;
  return d.panels
    .filter((p) => p.type !== 'row' && (p.gridPos?.y ?? -1) > from && (p.gridPos?.y ?? -1) < to)
    .sort((a, b) => (a.gridPos?.y ?? 0) - (b.gridPos?.y ?? 0) || (a.gridPos?.x ?? 0) - (b.gridPos?.x ?? 0));
}

function variableQuery(v: { query?: string | { query?: string }; definition?: string }): string {
  return typeof v.query === 'string' ? v.query : (v.query?.query ?? v.definition ?? '');
}

it('finds the three dashboards', () => {
  expect(dashboards.map((x) => x.name)).toEqual(['promedic-automation.json', 'promedic-host.json', 'promedic-tuning.json']);
});

describe.each(dashboards)('$name', ({ file, d }) => {
  const panels = allPanels(d);
  const data = panels.filter((p) => !LAYOUT_ONLY.has(p.type));
  const queries = panelQueries(file);
  const variables = d.templating.list;

  it('is a current-schema dashboard with a stable uid', () => {
    expect(d.schemaVersion).toBeGreaterThanOrEqual(39);
    expect(d.uid).toMatch(/^promedic-[a-z0-9-]+$/);
    expect(d.uid.length).toBeLessThanOrEqual(40);
    expect(d.title).toMatch(/^promedic \/ /);
    expect(d.id ?? null).toBeNull();
    expect(typeof d.description).toBe('string');
  });

  it('has a Prometheus datasource variable, used by every panel and every target', () => {
    const ds = variables.find((v) => v.name === 'datasource');
    expect(ds).toMatchObject({ type: 'datasource', query: 'prometheus' });
    const wrong: string[] = [];
    for (const p of data) {
      if (JSON.stringify(p.datasource) !== JSON.stringify(DATASOURCE)) wrong.push(`panel "${p.title}": ${JSON.stringify(p.datasource)}`);
      if (!p.targets?.length) wrong.push(`panel "${p.title}": no targets`);
      for (const t of p.targets ?? []) {
        if (JSON.stringify(t.datasource) !== JSON.stringify(DATASOURCE)) wrong.push(`panel "${p.title}" ${t.refId}: ${JSON.stringify(t.datasource)}`);
      }
    }
    for (const v of variables.filter((x) => x.type === 'query')) {
      if (JSON.stringify(v.datasource) !== JSON.stringify(DATASOURCE)) wrong.push(`variable ${v.name}: ${JSON.stringify(v.datasource)}`);
    }
    for (const a of d.annotations?.list ?? []) {
      if (!a.builtIn && JSON.stringify(a.datasource) !== JSON.stringify(DATASOURCE)) wrong.push(`annotation ${a.name}: ${JSON.stringify(a.datasource)}`);
    }
    expect(wrong).toEqual([]);
  });

  it('sets a unit, thresholds and a description on every panel that shows data', () => {
    const wrong: string[] = [];
    for (const p of data) {
      const defaults = p.fieldConfig?.defaults;
      if (typeof defaults?.unit !== 'string' || !defaults.unit) wrong.push(`"${p.title}": no unit`);
      const steps = defaults?.thresholds?.steps ?? [];
      if (steps.length === 0 || steps[0]?.value !== null) wrong.push(`"${p.title}": thresholds must start with a base step (value null)`);
      for (let i = 2; i < steps.length; i++) {
        if ((steps[i]?.value as number) <= (steps[i - 1]?.value as number)) wrong.push(`"${p.title}": threshold steps not ascending`);
      }
      if (!p.description?.trim()) wrong.push(`"${p.title}": no description`);
      if (!p.title?.trim()) wrong.push(`panel ${p.id}: no title`);
    }
    expect(wrong).toEqual([]);
  });

  it('has unique panel ids and a valid, non-overlapping grid layout', () => {
    const ids = panels.map((p) => p.id);
    expect(ids.every((id) => Number.isInteger(id) && (id as number) > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    const wrong: string[] = [];
    for (const p of panels) {
      const g = p.gridPos;
      if (!g || ![g.h, g.w, g.x, g.y].every(Number.isInteger)) {
        wrong.push(`"${p.title}": gridPos ${JSON.stringify(g)}`);
        continue;
      }
      if (g.w < 1 || g.h < 1 || g.x < 0 || g.y < 0 || g.x + g.w > 24) wrong.push(`"${p.title}": outside the grid ${JSON.stringify(g)}`);
    }
    expect(wrong).toEqual([]);
    for (const layer of layers(d)) {
      for (let i = 0; i < layer.length; i++) {
        for (let j = i + 1; j < layer.length; j++) {
          if (overlaps(layer[i] as GrafanaPanel, layer[j] as GrafanaPanel)) wrong.push(`"${layer[i]?.title}" overlaps "${layer[j]?.title}"`);
        }
      }
    }
    expect(wrong).toEqual([]);
    // Rows that are not collapsed hold no panels of their own (Grafana puts them after the row).
    expect(panels.filter((p) => p.type === 'row' && !p.collapsed && (p.panels?.length ?? 0) > 0)).toEqual([]);
  });

  it('gives every target a unique refId and an expression', () => {
    for (const p of data) {
      const refs = (p.targets ?? []).map((t) => t.refId);
      expect(new Set(refs).size, `"${p.title}"`).toBe(refs.length);
      for (const t of p.targets ?? []) expect(t.expr?.trim(), `"${p.title}" ${t.refId}`).toBeTruthy();
    }
  });

  it('parses every panel query with the Prometheus grammar', () => {
    expect(queries.length).toBeGreaterThan(20);
    const bad = queries
      .map((q) => ({ q, errors: promqlErrors(q.promql) }))
      .filter((x) => x.errors.length > 0)
      .map(({ q, errors }) => `${q.dashboard} / ${q.panel} / ${q.refId}: ${errors.join('; ')}\n  ${q.expr}`);
    expect(bad).toEqual([]);
    for (const a of (d.annotations?.list ?? []).filter((x) => x.expr)) {
      expect(promqlErrors(toPromql(a.expr as string)), `annotation ${a.name}`).toEqual([]);
    }
  });

  it('uses only variables it defines', () => {
    const defined = new Set(variables.map((v) => v.name));
    const exprs = [...queries.map((q) => q.expr), ...variables.map(variableQuery), ...(d.annotations?.list ?? []).map((a) => a.expr ?? '')];
    const unknown = exprs.flatMap(variablesIn).filter((v) => !defined.has(v) && !BUILTIN_VARIABLES.has(v));
    expect(unknown).toEqual([]);
  });

  it('selects targets through variables, never a hard-coded instance, job or service', () => {
    const wrong: string[] = [];
    for (const q of queries) {
      for (const m of labelMatchers(q.expr)) {
        if (TARGET_LABELS.has(m.label) && variablesIn(m.value).length === 0) wrong.push(`${q.panel} / ${q.refId}: ${m.label}${m.op}"${m.value}"`);
      }
      // Every series a panel reads is narrowed to the chosen targets.
      for (const s of selectors(substituteBuiltins(q.expr))) {
        if (!s.labels.some((l) => TARGET_LABELS.has(l))) wrong.push(`${q.panel} / ${q.refId}: ${s.metric} is not filtered by instance or service`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('has query variables from label_values() over a valid selector', () => {
    for (const v of variables.filter((x) => x.type === 'query')) {
      const q = variableQuery(v);
      const m = /^label_values\((.+),\s*([a-zA-Z_]\w*)\)$/.exec(q);
      expect(m, `variable ${v.name}: ${q}`).not.toBeNull();
      expect(promqlErrors(toPromql((m as RegExpExecArray)[1] as string)), `variable ${v.name}`).toEqual([]);
      if (v.multi) expect(v.allValue, `variable ${v.name}`).toBe('.+');
    }
  });

  // Fleet mode: one promedic per host, all scraped by one Prometheus, each named by its target's
  // `instance` label. A dashboard over promedic's own series picks any set of hosts (All: the
  // whole fleet added up, as with one host); Host shows one machine at a time.
  it('has an instance variable, and narrows every promedic_* series to the hosts it picks', () => {
    const v = variables.find((x) => x.name === 'instance');
    expect(v, 'no instance variable').toBeDefined();
    // Refreshed on time range change, so a host that joined the fleet shows up.
    expect(v).toMatchObject({ type: 'query', refresh: 2, hide: 0 });
    const panelsReadPromedic = queries.some((q) => selectors(substituteBuiltins(q.expr)).some(readsPromedic));
    if (panelsReadPromedic) {
      expect(variableQuery(v as NonNullable<typeof v>)).toBe('label_values(promedic_build_info, instance)');
      expect(v).toMatchObject({ multi: true, includeAll: true, allValue: '.+' });
    }
    const exprs = [
      ...queries.map((q) => ({ where: `${q.panel} / ${q.refId}`, expr: q.expr })),
      ...(d.annotations?.list ?? []).flatMap((a) => (a.expr ? [{ where: `annotation ${a.name}`, expr: a.expr }] : [])),
      ...variables.filter((x) => x.type === 'query' && x.name !== 'instance').map((x) => ({ where: `variable ${x.name}`, expr: variableSelector(variableQuery(x)) })),
    ];
    const wrong: string[] = [];
    let checked = 0;
    for (const { where, expr } of exprs) {
      for (const s of selectors(substituteBuiltins(expr)).filter(readsPromedic)) {
        checked++;
        if (!onChosenHosts(s)) wrong.push(`${where}: ${s.metric} has no instance=~"$instance" (${JSON.stringify(s.matchers)})`);
      }
    }
    expect(wrong).toEqual([]);
    if (panelsReadPromedic) expect(checked).toBeGreaterThan(10);
  });
});

describe('promedic / Host', () => {
  const host = dashboards.find((x) => x.d.uid === 'promedic-host') as (typeof dashboards)[number];

  it('picks the instance from node_uname_info and filters every series by it', () => {
    const v = host.d.templating.list.find((x) => x.name === 'instance');
    expect(v && variableQuery(v)).toBe('label_values(node_uname_info, instance)');
    // One machine at a time: its panels (CPU count, memory size, busiest core) describe one host.
    expect(v?.multi ?? false).toBe(false);
    expect(v?.includeAll ?? false).toBe(false);
    for (const q of panelQueries(host.file)) {
      for (const s of selectors(substituteBuiltins(q.expr))) {
        expect(s.labels, `${q.panel}: ${s.metric}`).toContain('instance');
        const m = s.matchers.find((x) => x.label === 'instance');
        expect(m && ['=', '=~'].includes(m.op) && m.value === '$instance', `${q.panel}: ${s.metric} ${JSON.stringify(m)}`).toBe(true);
      }
    }
  });

  it('covers what the host needs watched', () => {
    const all = panelQueries(host.file).map((q) => q.expr).join('\n');
    for (const needle of [
      'node_cpu_seconds_total', 'node_memory_MemAvailable_bytes', 'node_filesystem_avail_bytes', 'predict_linear(',
      'node_disk_read_bytes_total', 'node_network_receive_bytes_total', 'node_network_receive_errs_total', 'node_network_receive_drop_total',
      'node_load1', 'node_load5', 'node_load15', 'node_netstat_Tcp_CurrEstab', 'node_tcp_connection_states',
      'node_pressure_', 'node_procs_running', 'node_processes_state', 'node_filefd_allocated',
    ]) {
      expect(all, needle).toContain(needle);
    }
  });
});

describe('promedic / Automation', () => {
  const automation = dashboards.find((x) => x.d.uid === 'promedic-automation') as (typeof dashboards)[number];
  const src = sourceText(join(ROOT, 'src'));

  it('reads only promedic_* metrics that promedic defines', () => {
    const names = new Set(panelQueries(automation.file).flatMap((q) => metricNames(q.promql)));
    const missing = [...names]
      .filter((n) => n.startsWith('promedic_'))
      .filter((n) => !src.includes(`'${n}'`) && !src.includes(`'${n.replace(/_(bucket|sum|count)$/, '')}'`));
    expect(missing).toEqual([]);
    expect([...names].filter((n) => n.startsWith('promedic_')).length).toBeGreaterThanOrEqual(25);
  });

  const demoMetrics = join(ROOT, 'examples/demo-app/src/metrics.ts');
  it.runIf(existsSync(demoMetrics))('reads only application metrics that the demo app exports', () => {
    const defined = readFileSync(demoMetrics, 'utf8');
    const names = new Set(panelQueries(automation.file).flatMap((q) => metricNames(q.promql)));
    const missing = [...names]
      .filter((n) => n.startsWith('app_') || n.startsWith('http_'))
      .filter((n) => !defined.includes(`'${n}'`) && !defined.includes(`'${n.replace(/_(bucket|sum|count)$/, '')}'`));
    expect(missing).toEqual([]);
  });

  it('keeps the application panels in a collapsed "Application" row', () => {
    const app = automation.d.panels.find((p) => p.type === 'row' && p.title === 'Application');
    expect(app?.collapsed).toBe(true);
    expect(app?.panels?.length).toBeGreaterThan(0);
    for (const p of app?.panels ?? []) {
      for (const t of p.targets ?? []) expect(labelMatchers(t.expr ?? '').map((m) => `${m.label}${m.op}${m.value}`), p.title).toContain('service=~$service');
    }
  });

  describe('Fleet row', () => {
    const row = automation.d.panels.find((p) => p.type === 'row' && p.title === 'Fleet');
    const panel = (title: string) => fleetPanels(automation.d).find((p) => p.title === title);
    const expr = (title: string) => substituteBuiltins(panel(title)?.targets?.[0]?.expr ?? '');
    /** Every selector of a Fleet query, with its matchers as "label op value". */
    const matchersOf = (title: string) => selectors(expr(title)).map((s) => ({ metric: s.metric, m: s.matchers.map((x) => `${x.label}${x.op}${x.value}`) }));

    it('is an open row, right after State, holding the four fleet panels', () => {
      expect(row?.collapsed).toBe(false);
      const state = automation.d.panels.find((p) => p.type === 'row' && p.title === 'State');
      const rows = automation.d.panels.filter((p) => p.type === 'row').sort((a, b) => (a.gridPos?.y ?? 0) - (b.gridPos?.y ?? 0));
      expect(rows.indexOf(row as GrafanaPanel)).toBe(rows.indexOf(state as GrafanaPanel) + 1);
      expect(fleetPanels(automation.d).map((p) => [p.title, p.type])).toEqual([
        ['Runs in range by host', 'bargauge'],
        ['Success ratio by host', 'bargauge'],
        ['Emergency by host', 'table'],
        ['Suspended playbooks by host', 'bargauge'],
      ]);
    });

    it('gives one entry per host: one instant query, grouped by instance only, legend {{instance}}', () => {
      for (const p of fleetPanels(automation.d)) {
        expect(p.targets?.length, p.title).toBe(1);
        const t = p.targets?.[0];
        expect(t, p.title).toMatchObject({ instant: true, range: false, legendFormat: '{{instance}}' });
        const aggs = aggregations(substituteBuiltins(t?.expr ?? ''));
        expect(aggs.length, p.title).toBeGreaterThan(0);
        for (const a of aggs) expect(a, p.title).toMatchObject({ modifier: 'by', labels: ['instance'] });
        // Every series is narrowed to the chosen hosts (and, where it has one, the chosen playbooks).
        for (const s of selectors(substituteBuiltins(t?.expr ?? ''))) {
          expect(onChosenHosts(s), `${p.title}: ${s.metric}`).toBe(true);
          if (s.metric !== 'promedic_emergency_active') expect(s.matchers, `${p.title}: ${s.metric}`).toContainEqual({ label: 'playbook', op: '=~', value: '$playbook' });
        }
      }
    });

    it('counts runs per host over the time range', () => {
      expect(metricNames(toPromql(expr('Runs in range by host')))).toEqual(['promedic_playbook_runs_total']);
      expect(aggregations(expr('Runs in range by host')).map((a) => a.op)).toEqual(['sum']);
      expect(expr('Runs in range by host')).toContain('increase(promedic_playbook_runs_total{');
      expect(expr('Runs in range by host')).toContain('[1h]'); // $__range
      // Every outcome counts.
      expect(matchersOf('Runs in range by host').flatMap((s) => s.m).filter((m) => m.startsWith('outcome'))).toEqual([]);
      expect(panel('Runs in range by host')?.fieldConfig?.defaults?.unit).toBe('short');
    });

    it('divides verified runs by every run that acted, per host, as a ratio 0-1', () => {
      const sel = matchersOf('Success ratio by host');
      expect(new Set(sel.map((s) => s.metric))).toEqual(new Set(['promedic_playbook_runs_total']));
      const outcomes = sel.map((s) => s.m.filter((m) => m.startsWith('outcome')));
      // Numerator, its zero for hosts without a success, denominator: outcome values that
      // promedic's engine sets (succeeded, failed, cancelled, interrupted, and planned for dry runs).
      expect(outcomes).toEqual([['outcome=succeeded'], ['outcome!=planned'], ['outcome!=planned']]);
      const src = readFileSync(join(ROOT, 'src/engine/engine.ts'), 'utf8');
      expect(src).toContain("outcome: 'planned'");
      expect(src).toContain("run.status = 'succeeded'");
      // Hosts without runs in range are left out rather than shown as 0/0.
      expect(comparisons(expr('Success ratio by host'))).toEqual(['> 0']);
      expect(panel('Success ratio by host')?.fieldConfig?.defaults).toMatchObject({ unit: 'percentunit', min: 0, max: 1 });
    });

    it('lists every host with its emergency state, emergency first, and adds up the hosts in emergency', () => {
      expect(matchersOf('Emergency by host').map((s) => s.metric)).toEqual(['promedic_emergency_active']);
      // Every host is listed (0 or 1), so the panel shows the fleet even when all is well.
      expect(comparisons(expr('Emergency by host'))).toEqual([]);
      expect(expr('Emergency by host')).toMatch(/^sort_desc\(max by \(instance\)/);
      const p = panel('Emergency by host') as GrafanaPanel & {
        options?: { footer?: { show?: boolean; reducer?: string[]; countRows?: boolean } };
        fieldConfig?: { defaults?: { mappings?: Array<{ type: string; options: Record<string, { text: string }> }> } };
      };
      expect(p.targets?.[0]).toMatchObject({ format: 'table' });
      expect(p.options?.footer).toMatchObject({ show: true, reducer: ['sum'], countRows: false });
      const mapped = p.fieldConfig?.defaults?.mappings?.find((m) => m.type === 'value')?.options ?? {};
      expect(mapped['0']?.text).toBe('normal');
      expect(mapped['1']?.text).toBe('EMERGENCY');
    });

    it('counts the suspended playbooks of each host, 0 for a host with none', () => {
      const sel = matchersOf('Suspended playbooks by host');
      expect(sel.map((s) => s.metric)).toEqual(['promedic_playbook_suspended', 'promedic_playbook_suspended']);
      expect(aggregations(expr('Suspended playbooks by host')).map((a) => a.op)).toEqual(['count', 'count']);
      expect(comparisons(expr('Suspended playbooks by host'))).toEqual(['> 0']);
      expect(expr('Suspended playbooks by host')).toMatch(/\bor 0 \* count by \(instance\)/);
    });
  });
});

describe('promedic / Tuning', () => {
  const tuning = dashboards.find((x) => x.d.uid === 'promedic-tuning') as (typeof dashboards)[number];
  const src = sourceText(join(ROOT, 'src'));
  const annotationExprs = (tuning.d.annotations?.list ?? []).flatMap((a) => (a.expr ? [toPromql(a.expr)] : []));

  it('reads only promedic_* metrics that promedic defines, in its panels and annotations', () => {
    const names = new Set([...panelQueries(tuning.file).map((q) => q.promql), ...annotationExprs].flatMap(metricNames));
    const missing = [...names].filter((n) => n.startsWith('promedic_')).filter((n) => !src.includes(`'${n}'`));
    expect(missing).toEqual([]);
    const tuningMetrics = [
      'promedic_knob_value', 'promedic_tuning_experiment_active', 'promedic_tuning_experiments_total',
      'promedic_tuning_rollbacks_total', 'promedic_tuning_sample', 'promedic_tuning_skipped_total',
    ];
    for (const n of tuningMetrics) expect(names.has(n), n).toBe(true);
  });

  it('narrows every per-knob series to the chosen targets and knobs', () => {
    const exprs = [
      ...panelQueries(tuning.file).map((q) => ({ where: `${q.panel} / ${q.refId}`, expr: q.expr })),
      ...(tuning.d.annotations?.list ?? []).flatMap((a) => (a.expr ? [{ where: `annotation ${a.name}`, expr: a.expr }] : [])),
    ];
    const wrong: string[] = [];
    for (const { where, expr } of exprs) {
      for (const s of selectors(substituteBuiltins(expr))) {
        if (!/^promedic_(knob_value|tuning_(experiment_active|experiments_total|rollbacks_total|sample))$/.test(s.metric)) continue;
        for (const l of ['instance', 'target', 'knob']) if (!s.labels.includes(l)) wrong.push(`${where}: ${s.metric} not filtered by ${l}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});

describe('provisioning', () => {
  const PROVISIONING = join(ROOT, 'grafana/provisioning');
  /** Where the bundle is mounted in the Grafana container when no compose file says otherwise. */
  const DEFAULT_MOUNTS: Array<{ source: string; target: string }> = [
    { source: join(ROOT, 'grafana/provisioning'), target: '/etc/grafana/provisioning' },
    { source: join(ROOT, 'grafana/dashboards'), target: '/var/lib/grafana/dashboards' },
  ];

  const yamlFiles = (dir: string) =>
    readdirSync(dir)
      .filter((f) => /\.ya?ml$/.test(f))
      .map((f) => join(dir, f));

  /** Grafana's bind mounts in the repository's compose files, resolved to absolute host paths. */
  function composeMounts(): Array<{ file: string; mounts: Array<{ source: string; target: string }> }> {
    const found: string[] = [];
    const walk = (dir: string, depth: number) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) {
          if (depth < 3 && !['node_modules', '.git', 'dist', 'data'].includes(e.name)) walk(join(dir, e.name), depth + 1);
        } else if (/^(docker-)?compose(\.[\w-]+)?\.ya?ml$/.test(e.name)) {
          found.push(join(dir, e.name));
        }
      }
    };
    walk(ROOT, 0);
    const out: Array<{ file: string; mounts: Array<{ source: string; target: string }> }> = [];
    for (const file of found) {
      const doc = parseYaml(readFileSync(file, 'utf8')) as { services?: Record<string, { image?: string; volumes?: unknown[] }> } | null;
      for (const svc of Object.values(doc?.services ?? {})) {
        if (!/(^|\/)grafana(-\w+)?(:|$)/.test(svc.image ?? '')) continue;
        const mounts: Array<{ source: string; target: string }> = [];
        for (const v of svc.volumes ?? []) {
          let source: string | undefined;
          let target: string | undefined;
          if (typeof v === 'string') [source, target] = v.split(':');
          else if (v && typeof v === 'object') ({ source, target } = v as { source?: string; target?: string });
          if (source && target && /^[./]/.test(source)) mounts.push({ source: resolve(dirname(file), source), target });
        }
        out.push({ file, mounts });
      }
    }
    return out;
  }

  /** The host directory a container path comes from, through the longest mount above it. */
  function hostPath(containerPath: string, mounts: Array<{ source: string; target: string }>): string | null {
    const norm = (p: string) => p.replace(/\/+$/, '');
    const m = mounts
      .filter((x) => norm(containerPath) === norm(x.target) || norm(containerPath).startsWith(`${norm(x.target)}/`))
      .sort((a, b) => b.target.length - a.target.length)[0];
    return m ? join(m.source, norm(containerPath).slice(norm(m.target).length)) : null;
  }

  it('provisions the Prometheus datasource the dashboards default to', () => {
    const sources = yamlFiles(join(PROVISIONING, 'datasources')).flatMap((f) => {
      const doc = parseYaml(readFileSync(f, 'utf8')) as { apiVersion: number; datasources: Array<Record<string, unknown>> };
      expect(doc.apiVersion, f).toBe(1);
      return doc.datasources;
    });
    expect(sources.filter((s) => s.isDefault === true)).toHaveLength(1);
    expect(sources.find((s) => s.uid === 'prometheus')).toMatchObject({
      type: 'prometheus',
      uid: 'prometheus',
      url: 'http://prometheus:9090',
      access: 'proxy',
      isDefault: true,
    });
  });

  it('loads every dashboard through a file provider whose path is mounted from grafana/dashboards', () => {
    const providers = yamlFiles(join(PROVISIONING, 'dashboards')).flatMap((f) => {
      const doc = parseYaml(readFileSync(f, 'utf8')) as { apiVersion: number; providers: Array<{ type: string; options: { path: string } }> };
      expect(doc.apiVersion, f).toBe(1);
      return doc.providers;
    });
    expect(providers.length).toBeGreaterThan(0);
    const compose = composeMounts();
    const setups = compose.length > 0 ? compose : [{ file: '(default mounts, see grafana/README.md)', mounts: DEFAULT_MOUNTS }];
    for (const { file, mounts } of setups) {
      const where = relative(ROOT, file) || file;
      for (const dir of ['datasources', 'dashboards']) {
        expect(hostPath(`/etc/grafana/provisioning/${dir}`, mounts), `${where}: /etc/grafana/provisioning/${dir}`).toBe(join(PROVISIONING, dir));
      }
      for (const p of providers) {
        expect(p.type).toBe('file');
        const dir = hostPath(p.options.path, mounts);
        expect(dir, `${where}: nothing mounted at ${p.options.path}`).toBe(DASHBOARD_DIR);
        expect(existsSync(dir as string) && statSync(dir as string).isDirectory()).toBe(true);
      }
    }
    // Each dashboard is a file the provider loads, and nothing else is in its directory.
    expect(readdirSync(DASHBOARD_DIR).sort()).toEqual(files.map((f) => basename(f)));
  });
});

const bin = requireBinary('prometheus', 'prometheus');

/** What the run below provides (see dataRequires): everything but Alertmanager and escalations. */
const PROVIDED = new Set(['alerts', 'runs', 'recoveries', 'rollbacks', 'skips', 'webhook', 'monitors', ...(existsSync(DEMO_APP) ? ['application'] : [])]);

/** A series of an instant query's result. */
interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

describe.runIf(bin)('every panel query against a real Prometheus scraping promedic', () => {
  const TOKEN = 'grafana-e2e-token-0123456789abcdef';
  let dir: { path: string; cleanup: () => void };
  let prom: ChildProcess | null = null;
  let promUrl = '';
  let promLog = '';
  /** The first host of a two-host fleet, the one the single-host checks scrape. */
  let svc: Service;
  /** The second host: a playbook run and a critical alert (emergency mode), nothing else. */
  let svcB: Service | null = null;
  /** Their `instance` labels in Prometheus. */
  let hostA = '';
  let hostB = '';
  let scrape = '';
  let demo: ChildProcess | null = null;

  const query = async (promql: string) => {
    const r = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
    return (await r.json()) as { status: string; error?: string; data?: { result?: Sample[] } };
  };
  const post = (labels: Record<string, string>, startsAt = '2026-01-01T00:00:00Z', to: Service = svc) =>
    rawRequest(`${to.url}/webhook/alertmanager`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(amPayload([{ labels, startsAt }])),
    });
  const runStatus = (playbook: string) => [...svc.ctx.store.mem.runs.values()].find((r) => r.playbook === playbook)?.status;
  /** How many runs of a playbook a host has finished with that status. */
  const finished = (on: Service, playbook: string, status: string) => [...on.ctx.store.mem.runs.values()].filter((r) => r.playbook === playbook && r.status === status).length;

  beforeAll(async () => {
    dir = tempDir();
    // The bundled monitors, and two playbooks: one whose verification never holds (a failed run
    // and a rollback), one that succeeds and then cools down (a skipped run for the next episode).
    mkdirSync(join(dir.path, 'rules', 'playbooks'), { recursive: true });
    mkdirSync(join(dir.path, 'rules', 'monitors'), { recursive: true });
    copyFileSync(join(ROOT, 'rules', 'monitors', 'default.yml'), join(dir.path, 'rules', 'monitors', 'default.yml'));
    writeFileSync(
      join(dir.path, 'rules', 'playbooks', 'grafana.yml'),
      `playbooks:
  - name: grafana-fails
    match: ['alertname = "GrafanaFails"']
    category: database
    target: [alertname, service]
    strategies:
      - name: change
        steps:
          - { name: change, wait: 10ms, undo: { wait: 10ms } }
    verify: { resolved: false, within: 1s, query: { expr: 'vector(0)', condition: { op: '==', value: 1 } } }
  - name: grafana-works
    match: ['alertname = "GrafanaWorks"']
    category: api
    target: [alertname, service]
    cooldown: 1h
    strategies:
      - name: change
        steps:
          - { name: change, wait: 10ms }
    verify: { resolved: false, within: 10s, query: { expr: 'vector(1)', condition: { op: '==', value: 1 } } }
`,
    );
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    const config = loadConfig({
      cwd: dir.path,
      env: { PROMEDIC_TOKEN: TOKEN, PROMEDIC_LISTEN_ADDRESS: '127.0.0.1', PROMEDIC_PROMETHEUS_URL: promUrl },
      flags: { port: '0', 'log-level': 'silent', 'collection-interval': '1s' },
    });
    svc = await startService(config, pino({ level: 'silent' }));
    // The second host of the fleet: the same playbooks, its own data, no monitors.
    const cwdB = join(dir.path, 'host-b');
    mkdirSync(join(cwdB, 'rules', 'playbooks'), { recursive: true });
    copyFileSync(join(dir.path, 'rules', 'playbooks', 'grafana.yml'), join(cwdB, 'rules', 'playbooks', 'grafana.yml'));
    const configB = loadConfig({
      cwd: cwdB,
      env: { PROMEDIC_TOKEN: TOKEN, PROMEDIC_LISTEN_ADDRESS: '127.0.0.1', PROMEDIC_PROMETHEUS_URL: promUrl },
      flags: { port: '0', 'log-level': 'silent', 'collection-interval': '1s' },
    });
    svcB = await startService(configB, pino({ level: 'silent' }));
    hostA = `127.0.0.1:${svc.address.port}`;
    hostB = `127.0.0.1:${svcB.address.port}`;

    let demoTarget = '';
    if (PROVIDED.has('application')) {
      demo = spawn(process.execPath, [DEMO_APP, '--port', '0', '--load', '20', '--seed', '1'], { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, DEMO_ADMIN_TOKEN: '' } });
      let out = '';
      demo.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      demoTarget = await waitFor(() => /"url":"http:\/\/([^"]+)"/.exec(out)?.[1], 20_000, 'the demo app to start');
    }
    const cfg = join(dir.path, 'prometheus.yml');
    writeFileSync(
      cfg,
      `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['${hostA}', '${hostB}']\n` +
        (demoTarget ? `  - job_name: demo-app\n    static_configs:\n      - targets: ['${demoTarget}']\n        labels: { service: demo-app }\n` : ''),
    );
    prom = spawn(bin as string, [`--config.file=${cfg}`, `--storage.tsdb.path=${join(dir.path, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    prom.stderr?.on('data', (d: Buffer) => (promLog += d.toString()));
    const scraped = async (promql: string, what: string) =>
      waitFor(async () => ((await query(promql)).data?.result?.length ?? 0) > 0, 30_000, what).catch((err: unknown) => {
        throw new Error(`${String(err)}\n${promLog.slice(-2000)}`);
      });
    await scraped('count(promedic_build_info) == 2', 'Prometheus to scrape both promedic hosts');

    expect((await post({ alertname: 'GrafanaFails', service: 'a' })).status).toBe(202);
    expect((await post({ alertname: 'GrafanaWorks', service: 'b' })).status).toBe(202);
    await waitFor(() => runStatus('grafana-fails') === 'failed' && runStatus('grafana-works') === 'succeeded', 20_000, 'both runs to finish');
    // A new episode for the same target while it cools down: skipped.
    expect((await post({ alertname: 'GrafanaWorks', service: 'b' }, '2026-01-01T01:00:00Z')).status).toBe(202);
    // Two samples of every counter after the runs, so rate() and increase() have something to say.
    await scraped('count_over_time(promedic_runs_skipped_total[1m]) >= 2', 'two scrapes after the runs');
    await scraped('count_over_time(promedic_rollbacks_total[1m]) >= 2', 'two scrapes after the rollback');
    if (demoTarget) await scraped('count_over_time(app_config[1m]) >= 2', 'two scrapes of the demo app');

    // The second host: a run that succeeds, and a critical alert that puts it in emergency mode.
    const b = svcB;
    expect((await post({ alertname: 'GrafanaWorks', service: 'b', severity: 'critical' }, undefined, b)).status).toBe(202);
    await waitFor(() => finished(b, 'grafana-works', 'succeeded') === 1, 20_000, 'the run on the second host');
    await scraped(`count_over_time(promedic_playbook_runs_total{instance="${hostB}"}[1m]) >= 2`, 'two scrapes of the second host after its run');
    // A counter is born at its first increment, so increase() sees nothing until it moves again:
    // one more episode each (a failure and a success on the first host, a success on the second).
    expect((await post({ alertname: 'GrafanaFails', service: 'c' })).status).toBe(202);
    expect((await post({ alertname: 'GrafanaWorks', service: 'c' })).status).toBe(202);
    expect((await post({ alertname: 'GrafanaWorks', service: 'c' }, undefined, b)).status).toBe(202);
    await waitFor(
      () => finished(svc, 'grafana-fails', 'failed') === 2 && finished(svc, 'grafana-works', 'succeeded') === 2 && finished(b, 'grafana-works', 'succeeded') === 2,
      20_000,
      'the second runs on both hosts',
    );
    await scraped(`count(sum by (instance) (increase(promedic_playbook_runs_total{outcome="succeeded"}[1m])) > 0) == 2`, 'Prometheus to see a new success on both hosts');
    await scraped(`increase(promedic_playbook_runs_total{instance="${hostA}",outcome="failed"}[1m]) > 0`, 'Prometheus to see the new failure');
    scrape = await (await fetch(`${svc.url}/metrics`)).text();
  }, 60_000);

  afterAll(async () => {
    await svc?.stop();
    await svcB?.stop();
    if (demo && demo.exitCode === null) {
      const exited = new Promise((r) => demo?.once('exit', r));
      demo.kill('SIGTERM');
      await exited;
    }
    if (prom && prom.exitCode === null) {
      const exited = new Promise((r) => prom?.once('exit', r));
      prom.kill('SIGTERM');
      await exited;
    }
    dir?.cleanup();
  });

  /** Names of the series in promedic's scrape (histograms as _bucket, _sum and _count). */
  const scrapedNames = () => new Set(scrape.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => (/^[a-zA-Z_:][\w:]*/.exec(l) as RegExpExecArray)[0]));

  it('resolves the dashboard variables to the scraped promedic', async () => {
    const values = async (label: string, match: string) => {
      const r = await fetch(`${promUrl}/api/v1/label/${label}/values?match[]=${encodeURIComponent(match)}`);
      return ((await r.json()) as { data: string[] }).data;
    };
    const fleet = [hostA, hostB].sort();
    expect(await values('instance', 'node_uname_info')).toEqual(fleet);
    expect(await values('instance', 'promedic_build_info')).toEqual(fleet);
    expect(await values('playbook', `promedic_playbook_suspended{instance=~"${hostA}"}`)).toEqual(['grafana-fails', 'grafana-works']);
  });

  /** A Fleet panel's query as Grafana sends it: `$instance` as chosen (a regex), the rest as All. */
  const fleetQuery = (title: string, instance?: string) => {
    const automation = dashboards.find((x) => x.d.uid === 'promedic-automation') as (typeof dashboards)[number];
    const expr = fleetPanels(automation.d).find((p) => p.title === title)?.targets?.[0]?.expr ?? '';
    return toPromql(instance === undefined ? expr : expr.replaceAll('$instance', instance.replace(/[.*+?^${}()|[\]\\]/g, '\\\\$&')));
  };
  const byHost = async (promql: string) => {
    const r = await query(promql);
    expect(r.status, `${r.error}\n${promql}`).toBe('success');
    const result = r.data?.result ?? [];
    return { hosts: result.map((s) => s.metric.instance).sort(), value: (host: string) => Number(result.find((s) => s.metric.instance === host)?.value[1]) };
  };

  it('shows each host of the fleet once in the Fleet row, and one host when one is chosen', async () => {
    const fleet = [hostA, hostB].sort();
    const runs = await byHost(fleetQuery('Runs in range by host'));
    expect(runs.hosts).toEqual(fleet);
    for (const h of fleet) expect(runs.value(h), h).toBeGreaterThan(0);

    // The first host failed once and succeeded once since the counters were born; the second only succeeded.
    const ratio = await byHost(fleetQuery('Success ratio by host'));
    expect(ratio.hosts).toEqual(fleet);
    expect(ratio.value(hostA)).toBeGreaterThan(0);
    expect(ratio.value(hostA)).toBeLessThan(1);
    expect(ratio.value(hostB)).toBe(1);

    const emergency = await byHost(fleetQuery('Emergency by host'));
    expect(emergency.hosts).toEqual(fleet);
    expect(emergency.value(hostA)).toBe(0);
    expect(emergency.value(hostB)).toBe(1);

    const suspended = await byHost(fleetQuery('Suspended playbooks by host'));
    expect(suspended.hosts).toEqual(fleet);
    for (const h of fleet) expect(suspended.value(h), h).toBe(0);

    // One host chosen: the same panels, that host only.
    for (const title of ['Runs in range by host', 'Success ratio by host', 'Emergency by host', 'Suspended playbooks by host']) {
      expect((await byHost(fleetQuery(title, hostA))).hosts, title).toEqual([hostA]);
    }
    expect((await byHost(fleetQuery('Emergency by host', hostA))).hosts).toEqual([hostA]);
  });

  it('adds the fleet up when All is chosen: the State row counts both hosts', async () => {
    const automation = dashboards.find((x) => x.d.uid === 'promedic-automation') as (typeof dashboards)[number];
    const stat = (title: string) => toPromql(automation.d.panels.find((p) => p.title === title)?.targets?.[0]?.expr ?? '');
    const one = async (promql: string) => Number((await query(promql)).data?.result?.[0]?.value[1]);
    expect(await one(stat('Playbooks loaded'))).toBe(4);
    expect(await one(stat('Emergency mode'))).toBe(1);
  });

  it('gets data for every Host panel query', async () => {
    const host = panelQueries(dashboards.find((x) => x.d.uid === 'promedic-host')?.file as string);
    const names = scrapedNames();
    // Pressure stall information needs a kernel with PSI; without /proc/pressure there is nothing to show.
    const optional = (m: string) => m.startsWith('node_pressure_') && !existsSync('/proc/pressure');
    // The filesystem panels leave out tmpfs and ramfs; a machine with nothing else has nothing to show.
    const diskless = !/^node_filesystem_avail_bytes\{[^}]*fstype="(?!tmpfs"|ramfs")[^"]+"/m.test(scrape);
    const problems: string[] = [];
    for (const q of host) {
      if (dataRequires(q.promql).length > 0) problems.push(`${q.panel} / ${q.refId}: needs ${dataRequires(q.promql).join(', ')}`);
      const absent = metricNames(q.promql).filter((m) => !names.has(m));
      if (absent.some((m) => !optional(m))) problems.push(`${q.panel} / ${q.refId}: ${absent.join(', ')} not in promedic's scrape`);
      if (absent.length > 0) continue;
      const r = await query(q.promql);
      if (r.status !== 'success') problems.push(`${q.panel} / ${q.refId}: ${r.error}\n  ${q.promql}`);
      else if (!r.data?.result?.length && !(diskless && q.promql.includes('node_filesystem_'))) problems.push(`${q.panel} / ${q.refId}: no data\n  ${q.promql}`);
    }
    expect(problems).toEqual([]);
  });

  // No tuning playbook runs here: the Tuning queries must run, but most have no data before an
  // experiment (see grafana/README.md), so only their validity is checked against Prometheus.
  it('runs every Tuning panel and annotation query', async () => {
    const tuning = dashboards.find((x) => x.d.uid === 'promedic-tuning') as (typeof dashboards)[number];
    const exprs = [
      ...panelQueries(tuning.file).map((q) => ({ key: `${q.panel} / ${q.refId}`, promql: q.promql })),
      ...(tuning.d.annotations?.list ?? []).flatMap((a) => (a.expr ? [{ key: `annotation ${a.name}`, promql: toPromql(a.expr) }] : [])),
    ];
    const problems: string[] = [];
    for (const { key, promql } of exprs) {
      const r = await query(promql);
      if (r.status !== 'success') problems.push(`${key}: ${r.error}\n  ${promql}`);
    }
    expect(problems).toEqual([]);
  });

  it('runs every Automation panel query, with data unless it needs Alertmanager or an escalation', async () => {
    const automation = panelQueries(dashboards.find((x) => x.d.uid === 'promedic-automation')?.file as string);
    const problems: string[] = [];
    for (const q of automation) {
      const r = await query(q.promql);
      const key = `${q.panel} / ${q.refId}`;
      const missing = dataRequires(q.promql).filter((n) => !PROVIDED.has(n));
      const has = (r.data?.result?.length ?? 0) > 0;
      if (r.status !== 'success') problems.push(`${key}: ${r.error}\n  ${q.promql}`);
      else if (missing.length === 0 && !has) problems.push(`${key}: no data\n  ${q.promql}`);
      // Empty here only for what this run does not provide: this keeps dataRequires honest.
      else if (missing.length > 0 && has) problems.push(`${key}: has data without ${missing.join(', ')}`);
    }
    expect(problems).toEqual([]);
    // Alertmanager and escalations (and the application, when the demo app is not built) are the only gaps.
    const gaps = new Set(automation.flatMap((q) => dataRequires(q.promql)).filter((n) => !PROVIDED.has(n)));
    expect([...gaps].sort()).toEqual([...(PROVIDED.has('application') ? [] : ['application']), 'alertmanager', 'escalations']);
  });
});
