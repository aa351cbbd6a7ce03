/**
 * Tuning playbooks (`kind: tuning`) as `promedic check` and the loader see them: the five
 * bundled ones compile as written, and every mistake is reported as file:line: path: message,
 * with the service keeping its last good rules.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRules } from '../../src/rules/playbook.js';
import { ROOT, runCli, tempDir } from '../helpers/index.js';

describe('the bundled tuning playbooks', () => {
  const { rules, errors } = loadRules(join(ROOT, 'rules'));
  it('are the five original tuning rules against the demo app, and compile', () => {
    expect(errors).toEqual([]);
    const byName = Object.fromEntries(rules.tuning.map((t) => [t.name, t]));
    const summary = (n: string) => {
      const t = byName[n];
      return t && { alert: t.matchers.find((m) => m.name === 'alertname')?.value, knobs: t.knobs.map((k) => `${k.name} ${k.direction}`), objective: `${t.objective.direction} ${t.objective.name}`, target: t.target };
    };
    expect(summary('tune-response-time')).toEqual({ alert: 'SlowResponses', knobs: ['batch_size down', 'timeout_ms down'], objective: 'minimize p99 latency', target: 'demo-app' });
    expect(summary('tune-error-rate')).toEqual({ alert: 'ElevatedErrorRate', knobs: ['retries up'], objective: 'minimize error ratio', target: 'demo-app' });
    expect(summary('tune-memory')).toEqual({ alert: 'AppMemoryPressure', knobs: ['cache_size_mb down', 'cleanup_interval_ms down'], objective: 'minimize memory used ratio', target: 'demo-app' });
    expect(summary('tune-cpu')).toEqual({ alert: 'CPUPressure', knobs: ['concurrency down', 'batch_size down'], objective: 'minimize cpu busy ratio', target: 'demo-app' });
    expect(summary('tune-throughput')).toEqual({ alert: 'LowThroughput', knobs: ['pool_size up', 'batch_size up'], objective: 'maximize throughput', target: 'demo-app' });
    for (const t of rules.tuning) {
      // Both sources, so each works with Prometheus and with the embedded monitor alone.
      for (const d of [t.objective, ...t.guards]) {
        expect(d.query, `${t.name} ${d.name}`).toBeTruthy();
        expect(d.monitor, `${t.name} ${d.name}`).toBeTruthy();
      }
      expect(t.guards.length).toBeGreaterThan(0);
      expect(t.targetMatchers.map((m) => m.text)).toEqual(['service = "demo-app"']);
      // Knob bounds stay inside what the demo app accepts (examples/demo-app/src/config.ts).
      for (const k of t.knobs) expect(k.access).toMatchObject({ kind: 'http', url: 'http://127.0.0.1:8080/admin/config', key: k.name });
    }
  });
});

const GOOD = `kind: tuning
name: t
match: ['alertname = "Slow"']
target: app
knobs:
  - name: workers
    min: 1
    max: 64
    step: "*2"
    direction: down
    http: { url: "http://127.0.0.1:9/admin", key: workers }
objective:
  name: p99
  direction: minimize
  query: 'histogram_quantile(0.99, sum by (le) (rate(x_bucket[30s])))'
guards:
  - name: errors
    query: 'sum(rate(errors_total[30s]))'
    max: 1
experiment: { window: 1m, interval: 10s }
`;

function check(text: string): { code: number; lines: string[] } {
  const dir = tempDir();
  try {
    const f = join(dir.path, 'tune.yml');
    writeFileSync(f, text);
    const r = runCli(['check', f]);
    return { code: r.code ?? -1, lines: r.stderr.trim().split('\n').filter(Boolean) };
  } finally {
    dir.cleanup();
  }
}

describe('promedic check on a tuning playbook', () => {
  it('accepts a good one', () => {
    expect(check(GOOD)).toEqual({ code: 0, lines: [] });
  });

  it('names the file, the line and the field of each mistake', () => {
    const cases: Array<[string, RegExp]> = [
      [GOOD.replace('    direction: down\n', ''), /tune\.yml:6: knobs\.0\.direction: is required: up or down/],
      [GOOD.replace('    min: 1\n', ''), /tune\.yml:6: knobs\.0: a numeric knob stepping by "\*2" needs min and max/],
      [GOOD.replace('step: "*2"', 'step: "*0.5"'), /tune\.yml:9: knobs\.0\.step: must match pattern|f must be above 1/],
      [GOOD.replace('http: { url: "http://127.0.0.1:9/admin", key: workers }', 'http: { url: "http://{{ labels.host }}:9/admin", key: workers }'), /tune\.yml:11: knobs\.0\.http\.url: .*host and port must be literal/],
      [GOOD.replace('    http: { url: "http://127.0.0.1:9/admin", key: workers }', '    http: { url: "http://127.0.0.1:9/admin", key: workers }\n    file: { path: /etc/app.yml, key: workers }'), /tune\.yml:6: knobs\.0: give exactly one way to read and write the knob \(http, file or command\); found http, file/],
      [GOOD.replace('    http: { url: "http://127.0.0.1:9/admin", key: workers }', '    command: { read: [app-ctl, get, workers], write: [app-ctl, set, workers] }'), /tune\.yml:11: knobs\.0\.command\.write: needs \{\{ knob\.value \}\}/],
      [GOOD.replace("sum(rate(errors_total[30s]))'\n    max: 1", "sum(rate(errors_total[30s]))'"), /tune\.yml:17: guards\.0: needs a limit: max, min or max_increase/],
      [GOOD.replace("query: 'histogram_quantile(0.99, sum by (le) (rate(x_bucket[30s])))'", "query: 'histogram_quantile(0.99, sum by (le) (rate(x_bucket[30s]))'"), /tune\.yml:15: objective\.query: PromQL syntax error/],
      [GOOD.replace("query: 'histogram_quantile(0.99, sum by (le) (rate(x_bucket[30s])))'", 'monitor: { rate: { metric: x_total } }'), /tune\.yml:15: objective\.monitor\.rate\.window: is required/],
      [GOOD.replace('{ window: 1m, interval: 10s }', '{ window: 30s, interval: 10s }'), /tune\.yml:20: experiment\.window: 30s at one sample per 10s gives 3 samples; min_samples 6 needs a window of at least 60s/],
      [GOOD.replace("match: ['alertname = \"Slow\"']\n", ''), /tune\.yml:1: needs a trigger: match \(alert matchers\), schedule \(a duration\), or both/],
      [GOOD.replace('target: app', 'target: app\ncooldown: soon'), /tune\.yml:5: cooldown: must be a duration/],
      [GOOD.replace('    direction: down', '    direction: sideways'), /tune\.yml:10: knobs\.0\.direction: must be one of: up, down/],
    ];
    for (const [text, re] of cases) {
      const r = check(text);
      expect(r.code, re.source).toBe(1);
      expect(r.lines.some((l) => re.test(l)), `${re}\n${r.lines.join('\n')}`).toBe(true);
    }
  });

  it('refuses a second playbook of the same name, whichever its kind', () => {
    const { errors } = (() => {
      const dir = tempDir();
      try {
        writeFileSync(join(dir.path, 'a.yml'), GOOD);
        writeFileSync(join(dir.path, 'b.yml'), GOOD);
        return loadRules(dir.path, [join(dir.path, 'a.yml'), join(dir.path, 'b.yml')]);
      } finally {
        dir.cleanup();
      }
    })();
    expect(errors).toEqual([expect.stringMatching(/b\.yml:1: name: playbook "t" is already defined at .*a\.yml:1/)]);
  });
});
