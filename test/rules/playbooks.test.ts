/** The bundled playbooks, and `promedic check` / `promedic simulate` on them, run as users run them. */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRules } from '../../src/rules/playbook.js';
import { ROOT, runCli, tempDir } from '../helpers/index.js';

const RULES = join(ROOT, 'rules');

describe('promedic check', () => {
  it('passes the bundled rules/ with a one-line summary', () => {
    const r = runCli(['check', RULES]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ok: \d+ playbooks and 5 tuning playbooks in \d+ files\n$/);
  });

  it('exits 1 with file:line: message for every problem', () => {
    const dir = tempDir();
    try {
      const f = join(dir.path, 'bad.yml');
      writeFileSync(f, badPlaybook('Bad Name', 'soon'));
      const r = runCli(['check', f]);
      expect(r.code).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/bad\.yml:1: name: must match pattern/),
          expect.stringMatching(/bad\.yml:3: cooldown: must be a duration/),
        ]),
      );
      // Schema errors stop compilation of the playbook; fix them and the step problems show.
      writeFileSync(f, badPlaybook('bad', '5m'));
      const r2 = runCli(['check', f]);
      expect(r2.code).toBe(1);
      const l2 = r2.stderr.trim().split('\n');
      expect(l2).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/bad\.yml:2: match\.0: invalid matcher "alertname"/),
          expect.stringMatching(/bad\.yml:6: strategies\.0\.steps\.0\.http\.url: .*host and port must be literal/),
          expect.stringMatching(/bad\.yml:7: strategies\.0\.steps\.1\.query\.expr: PromQL syntax error/),
          expect.stringMatching(/bad\.yml:8: strategies\.0\.steps\.2\.exec\.argv\.1: unknown template root "secrets"/),
          expect.stringMatching(/bad\.yml:9: strategies\.0\.steps\.3\.teleport: unknown action \(known: http, exec/),
        ]),
      );
      expect(l2.at(-1)).toMatch(/^\d+ problems in 1 file$/);
    } finally {
      dir.cleanup();
    }
  });
});

/** A playbook with problems in every step; `name` and `cooldown` decide whether the schema passes. */
function badPlaybook(name: string, cooldown: string): string {
  return [
    `name: ${name}`,
    'match: ["alertname"]',
    `cooldown: ${cooldown}`,
    'strategies:',
    '  - steps:',
    '      - http: { url: "http://{{ labels.host }}/x" }',
    '      - query: { expr: "rate(x[5m]" }',
    '      - exec: { argv: [rm, "{{ secrets.x }}"] }',
    '      - teleport: {}',
    '',
  ].join('\n');
}

describe('promedic simulate on every bundled playbook', () => {
  const { rules, errors } = loadRules(RULES);
  it('loads the bundled playbooks without problems', () => {
    expect(errors).toEqual([]);
    // api.yml holds two healing playbooks; tuning.yml holds the five tuning playbooks (test/rules/tuning.test.ts).
    expect(rules.playbooks.length).toBe(readdirSync(join(RULES, 'playbooks')).length - 1 + 1);
    expect(rules.tuning.length).toBe(5);
  });

  // One alert per bundled playbook that it must match.
  const ALERTS: Record<string, Record<string, string>> = {
    'database-connection': { alertname: 'DatabaseConnectionErrors', service: 'demo-app', severity: 'warning' },
    'memory-clear-caches': { alertname: 'AppHighMemoryUsage', service: 'demo-app' },
    'connections-close-idle': { alertname: 'TooManyConnections', service: 'demo-app' },
    'performance-reduce-concurrency': { alertname: 'HighLatency', service: 'demo-app' },
    'api-errors': { alertname: 'HighErrorRate', service: 'demo-app' },
    'validation-errors': { alertname: 'ValidationErrors', service: 'demo-app' },
    'host-filesystem-cleanup': { alertname: 'NodeFilesystemAlmostFull', instance: 'h1:9477', mountpoint: '/var' },
  };

  it('has a simulate case for each bundled playbook', () => {
    expect(Object.keys(ALERTS).sort()).toEqual(rules.playbooks.map((p) => p.name).sort());
  });

  for (const [name, labels] of Object.entries(ALERTS)) {
    it(`${name}: matches its alert, renders every step, executes nothing`, () => {
      const dir = tempDir();
      try {
        const f = join(dir.path, 'alert.json');
        writeFileSync(f, JSON.stringify({ labels }));
        const r = runCli(['simulate', '--alert', f, '--json', '--rules', RULES, '--data-dir', join(dir.path, 'data')]);
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        const [sim] = JSON.parse(r.stdout);
        const mine = sim.playbooks.find((p: { playbook: string }) => p.playbook === name);
        expect(mine.matched).toBe(true);
        expect(sim.playbooks.filter((p: { matched: boolean }) => p.matched)).toHaveLength(1);
        expect(mine.steps.length).toBeGreaterThan(0);
        for (const s of mine.steps) expect(s.error).toBeUndefined();
        expect(mine.would).toMatch(/^(run|record the plan only)/);
        // Secrets are named, never printed.
        expect(r.stdout).not.toMatch(/Bearer [^<]/);
      } finally {
        dir.cleanup();
      }
    });
  }

  it('explains why a playbook does not match, in the human format', () => {
    const dir = tempDir();
    try {
      const f = join(dir.path, 'alert.json');
      writeFileSync(f, JSON.stringify({ labels: { alertname: 'DatabaseConnectionErrors', service: 'Bad Service!' } }));
      const r = runCli(['simulate', '--alert', f, '--rules', RULES, '--data-dir', join(dir.path, 'data')]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/database-connection: no match: refused: label service="Bad Service!" does not fit/);
      expect(r.stdout).toMatch(/no playbook matches: the alert would be recorded only/);
    } finally {
      dir.cleanup();
    }
  });
});
