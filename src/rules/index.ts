/**
 * The live rule set, with hot reload: an invalid rules dir keeps the last good rules running,
 * logs every problem with file:line, and sets promedic_rules_last_reload_successful 0.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import { parseDocument } from 'yaml';
import type { ClassificationRule } from '../engine/classify.js';
import { lineOf, toData } from '../util/yaml.js';
import { parseMatcher } from './matcher.js';
import { type MonitorRule, type Override, loadMonitors } from '../monitor/rules.js';
import { type Playbook, loadRules } from './playbook.js';
import type { TuningPlaybook } from './tuning.js';

export interface Rules {
  playbooks: Playbook[];
  tuning: TuningPlaybook[];
  classification: ClassificationRule[];
  monitors: MonitorRule[];
}

/** <rules_dir>/classification.yml: `- match: [...]  category: database` entries. Optional. */
export function loadClassification(rulesDir: string): { rules: ClassificationRule[]; errors: string[] } {
  const file = join(rulesDir, 'classification.yml');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return { rules: [], errors: [] };
  }
  const doc = parseDocument(text);
  const errors: string[] = [];
  const where = (path: Array<string | number>) => `${file}:${lineOf(doc, text, path) ?? 1}`;
  if (doc.errors.length) return { rules: [], errors: [`${file}: invalid YAML: ${doc.errors[0]?.message.split('\n')[0]}`] };
  const parsed = toData(doc, text);
  if (!parsed.ok) return { rules: [], errors: [`${file}:${parsed.line}: invalid YAML: ${parsed.message}`] };
  const data = parsed.data;
  if (data === null || data === undefined) return { rules: [], errors: [] };
  if (!Array.isArray(data)) return { rules: [], errors: [`${file}:1: must be a list of {match, category}`] };
  const rules: ClassificationRule[] = [];
  data.forEach((r: unknown, i) => {
    const e = r as { match?: unknown; category?: unknown };
    if (!Array.isArray(e?.match) || typeof e.category !== 'string') {
      errors.push(`${where([i])}: each entry needs match (a list of matchers) and category (a string)`);
      return;
    }
    try {
      rules.push({ matchers: e.match.map((m) => parseMatcher(String(m))), category: e.category });
    } catch (err) {
      errors.push(`${where([i, 'match'])}: ${(err as Error).message}`);
    }
  });
  return { rules, errors };
}

export class RuleManager {
  current: Rules = { playbooks: [], tuning: [], classification: [], monitors: [] };
  /** Called after every successful (re)load. */
  onReload: ((rules: Rules) => void) | null = null;
  /** Further checks against the configuration (fleet scopes); a problem keeps the previous rules, as any other. */
  check: ((rules: Rules) => string[]) | null = null;
  lastErrors: string[] = [];
  private readonly ok: Gauge;
  private readonly ts: Gauge;
  private readonly log: Logger;

  constructor(
    private readonly rulesDir: string,
    logger: Logger,
    registry: Registry,
    private readonly monitorOverrides: Record<string, Override> = {},
  ) {
    this.log = logger.child({ component: 'rules' });
    this.ok = new Gauge({ name: 'promedic_rules_last_reload_successful', help: 'Whether the last rules (re)load succeeded (1) or kept the previous rules (0).', registers: [registry] });
    this.ts = new Gauge({ name: 'promedic_rules_last_reload_success_timestamp_seconds', help: 'When rules were last loaded successfully.', registers: [registry] });
    const self = this;
    new Gauge({ name: 'promedic_playbooks', help: 'Playbooks loaded.', registers: [registry], collect() { this.set(self.current.playbooks.length); } });
  }

  /** Loads the rules; on any error keeps the current ones. Returns the problems (empty on success). */
  reload(): string[] {
    const pb = loadRules(this.rulesDir);
    const cl = loadClassification(this.rulesDir);
    const mo = loadMonitors(join(this.rulesDir, 'monitors'), this.monitorOverrides);
    const errors = [...pb.errors, ...cl.errors, ...mo.errors];
    const next: Rules = { playbooks: pb.rules.playbooks, tuning: pb.rules.tuning, classification: cl.rules, monitors: mo.rules };
    if (!errors.length && this.check) errors.push(...this.check(next));
    if (errors.length) {
      this.ok.set(0);
      this.lastErrors = errors;
      for (const e of errors) this.log.error({ problem: e }, 'invalid rules; keeping the previous rules');
      return errors;
    }
    this.current = next;
    this.onReload?.(this.current);
    this.lastErrors = [];
    this.ok.set(1);
    this.ts.set(Date.now() / 1000);
    this.log.info({ playbooks: this.current.playbooks.map((p) => p.name), tuning: this.current.tuning.map((t) => t.name), monitors: this.current.monitors.map((m) => m.alert), dir: this.rulesDir }, 'rules loaded');
    return [];
  }
}
