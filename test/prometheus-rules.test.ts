/**
 * The Prometheus side of promedic's default monitors (rules/prometheus/): promtool (Debian's
 * `prometheus` package) checks every rules file and runs every unit-test file in tests/; every
 * rule carries the labels and annotations promedic classifies and reports by; and a copy with
 * a broken expression or a moved threshold makes promtool fail, so these checks can fail.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseDocument } from 'yaml';
import { KNOWN_CATEGORIES, SEVERITIES } from '../src/alert.js';
import { ROOT, requireBinary, tempDir } from './helpers/index.js';

const DIR = join(ROOT, 'rules/prometheus');
const TESTS = join(DIR, 'tests');
const isYaml = (f: string) => /\.ya?ml$/.test(f);
const RULE_FILES = readdirSync(DIR).filter(isYaml).sort().map((f) => join(DIR, f));
const TEST_FILES = readdirSync(TESTS).filter(isYaml).sort().map((f) => join(TESTS, f));

/** The alerts the bundled playbooks and promedic's embedded monitors are named after. */
const EXPECTED_ALERTS = [
  'AppHighMemoryUsage',
  'AppMemoryPressure',
  'CPUPressure',
  'DatabaseConnectionErrors',
  'ElevatedErrorRate',
  'HighCPUUsage',
  'HighErrorRate',
  'HighLatency',
  'HighMemoryUsage',
  'LowThroughput',
  'MemoryExhaustionImminent',
  'NodeFilesystemAlmostFull',
  'NodeFilesystemFillingUp',
  'SlowResponses',
  'TooManyConnections',
  'ValidationErrors',
];

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, unknown>;
  annotations?: Record<string, unknown>;
}
interface RuleFile {
  groups: Array<{ name: string; rules: Rule[] }>;
}
interface TestFile {
  rule_files: string[];
  tests: Array<{ name?: string; alert_rule_test?: Array<{ eval_time: string; alertname: string; exp_alerts?: unknown[] }> }>;
}

function rulesOf(file: string): Array<{ group: string; rule: Rule }> {
  const doc = parse(readFileSync(file, 'utf8')) as RuleFile;
  return doc.groups.flatMap((g) => g.rules.map((rule) => ({ group: g.name, rule })));
}

const promtool = requireBinary('promtool', 'prometheus');

/** promtool with argv, no shell; stdout and stderr together (promtool splits them oddly). */
function run(args: string[]): { code: number | null; out: string } {
  const r = spawnSync(promtool as string, args, { encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** Fails on lint findings too (duplicate rules...): "no warnings" is part of passing. */
const checkRules = (files: string[]) => run(['check', 'rules', '--lint=all', '--lint-fatal', ...files]);
const testRules = (files: string[]) => run(['test', 'rules', ...files]);

/** Copies rules/prometheus/ (rules files and tests/) to a temp dir, the rules file edited by `edit`. */
function copyWith(file: string, edit: (doc: ReturnType<typeof parseDocument>, find: (alert: string) => (string | number)[]) => void) {
  const dir = tempDir('promedic-rules-');
  mkdirSync(join(dir.path, 'tests'));
  for (const f of RULE_FILES) writeFileSync(join(dir.path, basename(f)), readFileSync(f));
  for (const f of TEST_FILES) writeFileSync(join(dir.path, 'tests', basename(f)), readFileSync(f));
  const doc = parseDocument(readFileSync(file, 'utf8'));
  const find = (alert: string): (string | number)[] => {
    const groups = (doc.toJS() as RuleFile).groups;
    for (const [gi, g] of groups.entries()) {
      const ri = g.rules.findIndex((r) => r.alert === alert);
      if (ri >= 0) return ['groups', gi, 'rules', ri];
    }
    throw new Error(`no rule ${alert} in ${file}`);
  };
  edit(doc, find);
  const copy = join(dir.path, basename(file));
  writeFileSync(copy, doc.toString());
  return { ...dir, rulesFile: copy, testFiles: TEST_FILES.map((f) => join(dir.path, 'tests', basename(f))) };
}

describe('rules/prometheus/ structure', () => {
  it('has rules files and unit-test files', () => {
    expect(RULE_FILES.length).toBeGreaterThan(0);
    expect(TEST_FILES.length).toBeGreaterThan(0);
  });

  it('defines exactly the default monitors, each once, as alerting rules', () => {
    const names = RULE_FILES.flatMap((f) => rulesOf(f).map(({ rule }) => rule.alert ?? `(record ${rule.record})`));
    expect([...names].sort()).toEqual(EXPECTED_ALERTS);
  });

  it('gives every rule severity and category labels and summary and description annotations', () => {
    const problems: string[] = [];
    for (const f of RULE_FILES) {
      for (const { group, rule } of rulesOf(f)) {
        const where = `${basename(f)}: ${group}/${rule.alert ?? rule.record}`;
        const { severity, category } = rule.labels ?? {};
        const { summary, description } = rule.annotations ?? {};
        if (!(SEVERITIES as readonly unknown[]).includes(severity)) problems.push(`${where}: labels.severity ${String(severity)} not one of ${SEVERITIES.join(', ')}`);
        if (!(KNOWN_CATEGORIES as readonly unknown[]).includes(category) || category === 'other') problems.push(`${where}: labels.category ${String(category)} not a promedic category`);
        if (typeof summary !== 'string' || !summary.trim()) problems.push(`${where}: annotations.summary missing`);
        if (typeof description !== 'string' || !description.trim()) problems.push(`${where}: annotations.description missing`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('unit-tests every alert both firing and silent (below threshold or within its for)', () => {
    const firing = new Set<string>();
    const silent = new Set<string>();
    for (const f of TEST_FILES) {
      const doc = parse(readFileSync(f, 'utf8')) as TestFile;
      for (const t of doc.tests) {
        for (const a of t.alert_rule_test ?? []) (a.exp_alerts?.length ? firing : silent).add(a.alertname);
      }
    }
    const missing = EXPECTED_ALERTS.flatMap((n) => [...(firing.has(n) ? [] : [`${n}: never expected firing`]), ...(silent.has(n) ? [] : [`${n}: never expected silent`])]);
    expect(missing).toEqual([]);
  });
});

describe.runIf(promtool)('promtool on rules/prometheus/', () => {
  it.each(RULE_FILES.map((f) => [basename(f), f]))('check rules %s: valid, no lint findings', (_name, file) => {
    const r = checkRules([file]);
    expect(r.out).toMatch(/SUCCESS: \d+ rules found/);
    expect(r.out).not.toMatch(/warning|FAILED/i);
    expect(r.code).toBe(0);
  });

  it.each(TEST_FILES.map((f) => [basename(f), f]))('test rules %s: SUCCESS', (_name, file) => {
    const r = testRules([file]);
    expect(r.out).toMatch(/^\s+SUCCESS$/m);
    expect(r.out).not.toMatch(/FAILED/);
    expect(r.code).toBe(0);
  });

  it('check rules fails on a copy with a PromQL syntax error, naming the rule', () => {
    const file = RULE_FILES[0] as string;
    const alert = rulesOf(file)[0]?.rule.alert as string;
    // The unchanged copy passes: the failure below is the broken expression's alone.
    const ok = copyWith(file, () => {});
    const broken = copyWith(file, (doc, find) => {
      const at = [...find(alert), 'expr'];
      doc.setIn(at, `${String(doc.getIn(at))} )`);
    });
    try {
      expect(checkRules([ok.rulesFile]).code).toBe(0);
      const r = checkRules([broken.rulesFile]);
      expect(r.code).not.toBe(0);
      expect(r.out).toContain('FAILED');
      expect(r.out).toContain(`"${alert}": could not parse expression`);
    } finally {
      ok.cleanup();
      broken.cleanup();
    }
  });

  it('test rules fails when a threshold moves: the unit tests pin the rules down', () => {
    const file = join(DIR, 'promedic.rules.yml');
    const copy = copyWith(file, (doc, find) => {
      const at = [...find('HighMemoryUsage'), 'expr'];
      const expr = String(doc.getIn(at));
      expect(expr).toContain('> 0.90');
      doc.setIn(at, expr.replace('> 0.90', '> 0.95'));
    });
    try {
      expect(checkRules([copy.rulesFile]).code).toBe(0);
      const r = testRules(copy.testFiles);
      expect(r.code).not.toBe(0);
      expect(r.out).toContain('FAILED');
      expect(r.out).toMatch(/alertname: HighMemoryUsage/);
    } finally {
      copy.cleanup();
    }
  });
});
