/**
 * Playbooks: YAML files under <rules_dir>/playbooks, validated against the published schema
 * (schema/playbook.schema.json) plus each action's own checks, compiled into plain values
 * the engine runs. Every problem is reported as `file:line: path: message`.
 */
import type { Scope } from '../scope.js';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { type Document, parseDocument } from 'yaml';
import { ACTIONS } from '../actions/index.js';
import { isObject } from '../actions/types.js';
import { parseDuration } from '../util/duration.js';
import { createAjv, describeSchemaError } from '../util/schema.js';
import { lineOf, toData } from '../util/yaml.js';
import { CATALOG, type CatalogParams } from './catalog.js';
import { type Matcher, parseMatcher } from './matcher.js';
import { type TuningPlaybook, compileTuning } from './tuning.js';
import schema from '../../schema/playbook.schema.json' with { type: 'json' };

import type { Mode } from '../mode.js';

export type { Mode };

export interface Retry {
  attempts: number;
  backoff: 'exponential' | 'constant';
  initialMs: number;
  maxMs: number;
}

export interface Step {
  name: string;
  type: string;
  args: unknown;
  retry: Retry;
  timeoutMs: number;
  undo?: Step;
}

export interface Strategy {
  name: string;
  risk: 'low' | 'medium' | 'high';
  steps: Step[];
}

export interface Playbook {
  name: string;
  description: string;
  /** `file:line` where it is defined. */
  source: string;
  matchers: Matcher[];
  category?: string;
  /** Its own mode; undefined: as automation.mode. */
  mode?: Mode;
  labelRules: Array<{ name: string; re: RegExp }>;
  /** Labels identifying what is fixed; null: all of the alert's labels (the alert itself). */
  target: string[] | null;
  /** Which alerts it acts on in a fleet (src/scope.ts); undefined: the global scope. */
  scope?: Scope;
  cooldownMs: number;
  maxConcurrent: number;
  maxRuns?: { count: number; windowMs: number };
  onResolved: 'finish' | 'cancel';
  strategyPolicy: 'try_next' | 'first_only';
  strategies: Strategy[];
  verify: { withinMs: number; resolved: boolean; query?: Step };
  flap: { failures: number; windowMs: number; suspendMs: number; maxSuspendMs: number };
  onFailure: Step[];
  emergency: boolean;
  /** Learn the strategy order per signature from verified outcomes (`learning: off`: never). */
  learning: boolean;
  /** A preventive playbook to start when this playbook's signature turns chronic. */
  onChronic?: { playbook: string };
}

export interface RuleSet {
  playbooks: Playbook[];
  /** `kind: tuning` playbooks (src/tuning). */
  tuning: TuningPlaybook[];
  files: string[];
}

export interface LoadResult {
  rules: RuleSet;
  errors: string[];
}

const ajv = createAjv();
ajv.addSchema(schema, 'playbook.schema.json');
const validatePlaybook = ajv.getSchema('playbook.schema.json#/definitions/playbook') as ReturnType<typeof ajv.compile>;

const DEFAULT_RETRY: Retry = { attempts: 1, backoff: 'exponential', initialMs: 1000, maxMs: 30_000 };
const STEP_META = ['name', 'retry', 'timeout', 'undo'];

type Raw = Record<string, unknown>;

class Problems {
  list: string[] = [];
  constructor(
    private readonly file: string,
    private readonly doc: Document,
    private readonly text: string,
  ) {}
  add(path: Array<string | number>, message: string): void {
    // A problem with the whole document is on its first line.
    const line = lineOf(this.doc, this.text, path) ?? (path.length === 0 ? 1 : undefined);
    const where = path.length ? `${path.join('.')}: ` : '';
    this.list.push(`${this.file}${line ? `:${line}` : ''}: ${where}${message}`);
  }
}

function compileStep(raw: Raw, path: Array<string | number>, p: Problems, allowUndo = true): Step | null {
  const types = Object.keys(raw).filter((k) => !STEP_META.includes(k));
  if (types.length !== 1) {
    p.add(path, `a step needs exactly one action (${[...ACTIONS.keys()].join(', ')}); found ${types.length ? types.join(', ') : 'none'}`);
    return null;
  }
  const type = types[0] as string;
  const action = ACTIONS.get(type);
  if (!action) {
    p.add([...path, type], `unknown action (known: ${[...ACTIONS.keys()].join(', ')})`);
    return null;
  }
  const before = p.list.length;
  for (const prob of action.check(raw[type])) p.add([...path, type, ...prob.path], prob.message);
  const r = (raw.retry ?? {}) as Raw;
  const retry: Retry = {
    attempts: (r.attempts as number | undefined) ?? DEFAULT_RETRY.attempts,
    backoff: (r.backoff as Retry['backoff'] | undefined) ?? DEFAULT_RETRY.backoff,
    initialMs: r.initial ? parseDuration(r.initial as string) : DEFAULT_RETRY.initialMs,
    maxMs: r.max ? parseDuration(r.max as string) : DEFAULT_RETRY.maxMs,
  };
  let undo: Step | undefined;
  if (raw.undo !== undefined) {
    if (!allowUndo) p.add([...path, 'undo'], 'an undo step cannot have its own undo');
    else undo = compileStep(raw.undo as Raw, [...path, 'undo'], p, false) ?? undefined;
  }
  if (p.list.length > before) return null;
  return {
    name: (raw.name as string | undefined) ?? type,
    type,
    args: raw[type],
    retry,
    timeoutMs: raw.timeout ? parseDuration(raw.timeout as string) : type === 'wait' ? parseDuration(raw.wait as string) + 5000 : 30_000,
    ...(undo ? { undo } : {}),
  };
}

function compileStrategy(raw: Raw, path: Array<string | number>, p: Problems, index: number): Strategy | null {
  let steps: Raw[];
  let name = raw.name as string | undefined;
  if (raw.catalog !== undefined) {
    const entry = CATALOG[raw.catalog as string];
    if (!entry) {
      p.add([...path, 'catalog'], `unknown catalog strategy (known: ${Object.keys(CATALOG).join(', ')})`);
      return null;
    }
    if (raw.steps !== undefined) p.add([...path, 'steps'], 'give either catalog or steps, not both');
    const params = (raw.with ?? {}) as Raw;
    if (!isObject(params) || typeof params.base_url !== 'string') {
      p.add([...path, 'with', 'base_url'], 'is required: the app\'s literal origin, e.g. http://127.0.0.1:8080');
      return null;
    }
    for (const k of Object.keys(params)) if (!entry.params.includes(k)) p.add([...path, 'with', k], `unknown parameter (known: ${entry.params.join(', ')})`);
    steps = entry.steps(params as CatalogParams);
    name ??= raw.catalog as string;
  } else if (Array.isArray(raw.steps)) {
    steps = raw.steps as Raw[];
  } else {
    p.add(path, 'a strategy needs steps or catalog');
    return null;
  }
  const compiled = steps.map((s, i) => compileStep(s, raw.catalog !== undefined ? [...path, 'catalog'] : [...path, 'steps', i], p));
  if (compiled.some((s) => s === null)) return null;
  return { name: name ?? `strategy-${index + 1}`, risk: (raw.risk as Strategy['risk'] | undefined) ?? 'low', steps: compiled as Step[] };
}

function compilePlaybook(raw: Raw, base: Array<string | number>, p: Problems, source: string): Playbook | null {
  const before = p.list.length;
  if (!validatePlaybook(raw)) {
    for (const e of validatePlaybook.errors ?? []) {
      const { path, message } = describeSchemaError(e);
      p.add([...base, ...path], message);
    }
    return null;
  }
  const matchers: Matcher[] = [];
  (raw.match as string[]).forEach((m, i) => {
    try {
      matchers.push(parseMatcher(m));
    } catch (err) {
      p.add([...base, 'match', i], (err as Error).message);
    }
  });
  const strategies = (raw.strategies as Raw[]).map((s, i) => compileStrategy(s, [...base, 'strategies', i], p, i));
  const names = new Set<string>();
  strategies.forEach((s, i) => {
    if (!s) return;
    if (names.has(s.name)) p.add([...base, 'strategies', i, 'name'], `duplicate strategy name "${s.name}"`);
    names.add(s.name);
  });
  const v = (raw.verify ?? {}) as Raw;
  let verifyQuery: Step | undefined;
  if (v.query !== undefined) verifyQuery = compileStep({ name: 'verify', query: v.query }, [...base, 'verify'], p) ?? undefined;
  const onFailure = ((raw.on_failure ?? []) as Raw[]).map((s, i) => compileStep(s, [...base, 'on_failure', i], p));
  if (v.resolved === false && !verifyQuery) p.add([...base, 'verify'], 'needs resolved: true or a query, or there is nothing to verify');
  const f = (raw.flap ?? {}) as Raw;
  const mr = raw.max_runs as { count: number; window: string } | undefined;
  if (p.list.length > before) return null;
  return {
    name: raw.name as string,
    description: (raw.description as string | undefined) ?? '',
    source,
    matchers,
    ...(raw.category ? { category: raw.category as string } : {}),
    ...(raw.mode ? { mode: raw.mode as Mode } : {}),
    labelRules: Object.entries((raw.labels ?? {}) as Record<string, string>).map(([name, re]) => ({ name, re: new RegExp(`^(?:${re})$`) })),
    target: (raw.target as string[] | undefined) ?? null,
    ...(raw.scope !== undefined ? { scope: raw.scope as Scope } : {}),
    cooldownMs: parseDuration((raw.cooldown as string | undefined) ?? '5m'),
    maxConcurrent: (raw.max_concurrent as number | undefined) ?? 4,
    ...(mr ? { maxRuns: { count: mr.count, windowMs: parseDuration(mr.window) } } : {}),
    onResolved: (raw.on_resolved as 'finish' | 'cancel' | undefined) ?? 'finish',
    strategyPolicy: (raw.strategy_policy as 'try_next' | 'first_only' | undefined) ?? 'try_next',
    strategies: strategies as Strategy[],
    verify: {
      withinMs: parseDuration((v.within as string | undefined) ?? '5m'),
      resolved: (v.resolved as boolean | undefined) ?? true,
      ...(verifyQuery ? { query: verifyQuery } : {}),
    },
    flap: {
      failures: (f.failures as number | undefined) ?? 3,
      windowMs: parseDuration((f.window as string | undefined) ?? '1h'),
      suspendMs: parseDuration((f.suspend as string | undefined) ?? '15m'),
      maxSuspendMs: parseDuration((f.max_suspend as string | undefined) ?? '24h'),
    },
    onFailure: onFailure as Step[],
    emergency: (raw.emergency as boolean | undefined) ?? false,
    // YAML 1.2 reads `off` as a string; both spellings are accepted.
    learning: raw.learning === undefined ? true : raw.learning === true || raw.learning === 'on',
    ...(raw.on_chronic ? { onChronic: { playbook: (raw.on_chronic as { playbook: string }).playbook } } : {}),
  };
}

/** Loads one playbook file: a playbook, or `playbooks: [...]`. */
export function loadPlaybookFile(file: string, display = file): { playbooks: Playbook[]; tuning: TuningPlaybook[]; errors: string[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { playbooks: [], tuning: [], errors: [`${display}: cannot read: ${(err as NodeJS.ErrnoException).code}`] };
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length) {
    return { playbooks: [], tuning: [], errors: doc.errors.map((e) => `${display}:${e.linePos?.[0]?.line ?? 1}: invalid YAML: ${e.message.split('\n')[0]}`) };
  }
  const p = new Problems(display, doc, text);
  const parsed = toData(doc, text);
  if (!parsed.ok) return { playbooks: [], tuning: [], errors: [`${display}:${parsed.line}: invalid YAML: ${parsed.message}`] };
  const data = parsed.data;
  const out: Playbook[] = [];
  const tuning: TuningPlaybook[] = [];
  if (data === null || data === undefined) return { playbooks: [], tuning: [], errors: [] };
  if (!isObject(data)) {
    p.add([], 'a playbook file must be a mapping (a playbook, or playbooks: [...])');
    return { playbooks: [], tuning: [], errors: p.list };
  }
  // kind: tuning goes to its own compiler; anything else is a healing playbook.
  const compile = (raw: Raw, base: Array<string | number>, source: string): void => {
    if (raw.kind === 'tuning') {
      const t = compileTuning(raw, base, (path, message) => p.add(path, message), source);
      if (t) tuning.push(t);
      return;
    }
    const pb = compilePlaybook(raw, base, p, source);
    if (pb) out.push(pb);
  };
  if ('playbooks' in data) {
    const extra = Object.keys(data).filter((k) => k !== 'playbooks');
    for (const k of extra) p.add([k], 'unknown key beside playbooks');
    if (!Array.isArray(data.playbooks)) p.add(['playbooks'], 'must be a list of playbooks');
    else
      data.playbooks.forEach((raw, i) => {
        if (isObject(raw)) compile(raw, ['playbooks', i], `${display}:${lineOf(doc, text, ['playbooks', i]) ?? 1}`);
        else p.add(['playbooks', i], 'must be a mapping');
      });
  } else {
    compile(data, [], `${display}:1`);
  }
  return { playbooks: out, tuning, errors: p.list };
}

function yamlFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => /\.ya?ml$/.test(n) && statSync(join(dir, n)).isFile())
    .sort()
    .map((n) => join(dir, n));
}

/** Loads every playbook under <rulesDir>/playbooks (or the given files). Names must be unique across files. */
export function loadRules(rulesDir: string, files?: string[]): LoadResult {
  const list = files ?? yamlFiles(join(rulesDir, 'playbooks'));
  const errors: string[] = [];
  const playbooks: Playbook[] = [];
  const tuning: TuningPlaybook[] = [];
  const seen = new Map<string, string>();
  for (const f of list) {
    const display = relative(process.cwd(), f) || f;
    const r = loadPlaybookFile(f, display.startsWith('..') ? f : display);
    errors.push(...r.errors);
    // Names are unique across healing and tuning playbooks.
    const unique = <T extends { name: string; source: string }>(pb: T): boolean => {
      const prev = seen.get(pb.name);
      if (prev) errors.push(`${pb.source}: name: playbook "${pb.name}" is already defined at ${prev}`);
      else seen.set(pb.name, pb.source);
      return !prev;
    };
    tuning.push(...r.tuning.filter(unique));
    playbooks.push(...r.playbooks.filter(unique));
  }
  for (const pb of playbooks) {
    const target = pb.onChronic?.playbook;
    if (target === undefined) continue;
    if (!seen.has(target)) errors.push(`${pb.source}: on_chronic.playbook: no playbook named "${target}" (known: ${[...seen.keys()].join(', ')})`);
    else if (target === pb.name) errors.push(`${pb.source}: on_chronic.playbook: a playbook cannot start itself`);
  }
  return { rules: { playbooks, tuning, files: list }, errors };
}
