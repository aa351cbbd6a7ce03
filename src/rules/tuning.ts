/**
 * Tuning playbooks (`kind: tuning` in rules/playbooks/*.yml): which knobs of which app to try,
 * against which objective and guards, with which statistical rule, triggered by an alert or a
 * schedule. Validated against schema/playbook.schema.json#/definitions/tuning, then each part
 * on its own (knob steps and bounds, URLs and templates through the action layer's checks,
 * PromQL syntax, monitor expressions), every problem as `file:line: path: message`.
 */
import { ACTIONS } from '../actions/index.js';
import type { Mode } from '../mode.js';
import type { Expr } from '../monitor/expr.js';
import { compileMonitorExpr } from '../monitor/rules.js';
import type { Guard } from '../tuning/decide.js';
import { type KnobSpec, type KnobType, checkKnob } from '../tuning/knob.js';
import { parseDuration } from '../util/duration.js';
import { createAjv, describeSchemaError } from '../util/schema.js';
import { type Matcher, parseMatcher } from './matcher.js';
import { checkPromql } from './promql.js';
import schema from '../../schema/playbook.schema.json' with { type: 'json' };

export type KnobAccess =
  | { kind: 'http'; url: string; key: string; method: string; headers: Record<string, string> }
  | { kind: 'file'; path: string; key: string }
  | { kind: 'command'; read: string[]; write: string[]; env: Record<string, string> };

export interface TuningKnob extends KnobSpec {
  direction: 'up' | 'down';
  access: KnobAccess;
}

/** Where an objective or guard is read: PromQL with a Prometheus, the embedded monitor without. */
export interface MetricDef {
  name: string;
  query?: string;
  monitor?: Expr;
  /** The value when the query finds no series (0 for an error ratio before the first error). */
  absent?: number;
}

export interface TuningPlaybook {
  kind: 'tuning';
  name: string;
  description: string;
  /** `file:line` where it is defined. */
  source: string;
  /** Alert matchers that trigger it; empty when only the schedule does. */
  matchers: Matcher[];
  scheduleMs: number | null;
  target: string;
  /** Alerts whose healing runs concern the target (they abort its experiment). */
  targetMatchers: Matcher[];
  /** Its own mode; undefined: as automation.mode. */
  mode?: Mode;
  knobs: TuningKnob[];
  objective: MetricDef & { direction: 'minimize' | 'maximize' };
  guards: Array<MetricDef & Guard>;
  experiment: { windowMs: number; intervalMs: number; settleMs: number; minSamples: number; alpha: number; minImprovement: number; maxSteps: number };
  cooldownMs: number;
  forgetRejectedMs: number;
}

const ajv = createAjv();
ajv.addSchema(schema, 'playbook.schema.json');
const validateTuning = ajv.getSchema('playbook.schema.json#/definitions/tuning') as ReturnType<typeof ajv.compile>;

type Raw = Record<string, unknown>;
type Path = Array<string | number>;
type Add = (path: Path, message: string) => void;

/** The template references a knob's write command may use, besides the usual env.X. */
const KNOB_REF = /\{\{\s*knob\.(value|name|target)\s*\}\}/g;

/** Fills the knob references of a command element: the value as plain text, one argv element. */
export function fillKnobRefs(arg: string, knob: { name: string; target: string; value: string | number }): string {
  return arg.replace(KNOB_REF, (_, f: string) => String(f === 'value' ? knob.value : f === 'name' ? knob.name : knob.target));
}

function checkAction(type: string, args: unknown, path: Path, add: Add): void {
  for (const p of (ACTIONS.get(type) as { check: (a: unknown) => Array<{ path: string[]; message: string }> }).check(args)) add([...path, ...p.path], p.message);
}

function compileKnob(raw: Raw, path: Path, add: Add, target: string): TuningKnob | null {
  const type = (raw.type as KnobType | undefined) ?? 'integer';
  const spec: KnobSpec = {
    name: raw.name as string,
    type,
    ...(raw.min !== undefined ? { min: raw.min as number } : {}),
    ...(raw.max !== undefined ? { max: raw.max as number } : {}),
    ...(raw.step !== undefined ? { step: raw.step as string } : {}),
    ...(raw.values !== undefined ? { values: raw.values as Array<number | string> } : {}),
  };
  const before: string[] = [];
  for (const m of checkKnob(spec)) before.push(m);
  for (const m of before) add(path, m);
  let ok = before.length === 0;
  if (raw.direction === undefined) {
    add([...path, 'direction'], 'is required: up or down, the way to move the knob');
    ok = false;
  }
  if (type !== 'enum' && !spec.values && (spec.min === undefined || spec.max === undefined)) {
    add(path, `a numeric knob stepping by "${spec.step ?? '?'}" needs min and max: tuning never leaves the range you allow`);
    ok = false;
  }
  if (spec.values) {
    spec.values.forEach((v, i) => {
      if (type !== 'enum' && typeof v !== 'number') add([...path, 'values', i], `must be a number for a ${type} knob`);
      if (type === 'integer' && typeof v === 'number' && !Number.isInteger(v)) add([...path, 'values', i], 'must be an integer');
      if (typeof v === 'string' && /\{\{|\}\}/.test(v)) add([...path, 'values', i], 'must not contain template braces');
    });
  }
  const ways = ['http', 'file', 'command'].filter((k) => raw[k] !== undefined);
  if (ways.length !== 1) {
    add(path, `give exactly one way to read and write the knob (http, file or command); found ${ways.length ? ways.join(', ') : 'none'}`);
    return null;
  }
  let access: KnobAccess;
  if (raw.http) {
    const h = raw.http as Raw;
    checkAction('http', { method: 'GET', url: h.url, ...(h.headers ? { headers: h.headers } : {}) }, [...path, 'http'], add);
    access = { kind: 'http', url: h.url as string, key: h.key as string, method: (h.method as string | undefined) ?? 'PUT', headers: (h.headers as Record<string, string> | undefined) ?? {} };
  } else if (raw.file) {
    const f = raw.file as Raw;
    checkAction('config', { file: f.path, key: f.key, value: 0 }, [...path, 'file'], add);
    access = { kind: 'file', path: f.path as string, key: f.key as string };
  } else {
    const c = raw.command as Raw;
    const env = (c.env as Record<string, string> | undefined) ?? {};
    const write = c.write as string[];
    checkAction('exec', { argv: c.read, ...(c.env ? { env } : {}) }, [...path, 'command', 'read'], add);
    checkAction('exec', { argv: write.map((a) => fillKnobRefs(a, { name: 'n', target, value: '0' })), ...(c.env ? { env } : {}) }, [...path, 'command', 'write'], add);
    if (!write.some((a) => /\{\{\s*knob\.value\s*\}\}/.test(a))) add([...path, 'command', 'write'], 'needs {{ knob.value }} as (part of) an argument: the value to set');
    access = { kind: 'command', read: c.read as string[], write, env };
  }
  return ok ? { ...spec, direction: raw.direction as 'up' | 'down', access } : null;
}

function compileMetric(raw: Raw, path: Path, add: Add): MetricDef | null {
  const out: MetricDef = { name: raw.name as string, ...(raw.absent_value !== undefined ? { absent: raw.absent_value as number } : {}) };
  let ok = true;
  if (raw.query === undefined && raw.monitor === undefined) {
    add(path, 'needs query (PromQL, with prometheus.url) or monitor (an embedded monitor expression), or both');
    return null;
  }
  if (typeof raw.query === 'string') {
    const e = checkPromql(raw.query);
    if (e) {
      add([...path, 'query'], e);
      ok = false;
    } else out.query = raw.query;
  }
  if (raw.monitor !== undefined) {
    const { expr, problems } = compileMonitorExpr(raw.monitor);
    for (const [p, m] of problems) add([...path, 'monitor', ...p], m);
    if (expr) out.monitor = expr;
    else ok = false;
  }
  return ok ? out : null;
}

/** A tuning playbook from its raw mapping; null (with problems added) when it is invalid. */
export function compileTuning(raw: Raw, base: Path, add: Add, source: string): TuningPlaybook | null {
  if (!validateTuning(raw)) {
    for (const e of validateTuning.errors ?? []) {
      const { path, message } = describeSchemaError(e);
      add([...base, ...path], message);
    }
    return null;
  }
  let ok = true;
  const bad: Add = (p, m) => {
    ok = false;
    add(p, m);
  };
  const matchersOf = (list: unknown, key: string): Matcher[] =>
    ((list ?? []) as string[]).flatMap((m, i) => {
      try {
        return [parseMatcher(m)];
      } catch (err) {
        bad([...base, key, i], (err as Error).message);
        return [];
      }
    });
  const matchers = matchersOf(raw.match, 'match');
  const targetMatchers = raw.target_match ? matchersOf(raw.target_match, 'target_match') : [parseMatcher(`service = ${JSON.stringify(raw.target)}`)];
  if (raw.match === undefined && raw.schedule === undefined) bad(base, 'needs a trigger: match (alert matchers), schedule (a duration), or both');
  const target = raw.target as string;
  const knobs = (raw.knobs as Raw[]).map((k, i) => compileKnob(k, [...base, 'knobs', i], bad, target));
  const names = new Set<string>();
  (raw.knobs as Raw[]).forEach((k, i) => {
    if (names.has(k.name as string)) bad([...base, 'knobs', i, 'name'], `knob "${k.name}" is listed twice`);
    names.add(k.name as string);
  });
  const o = raw.objective as Raw;
  const objective = compileMetric(o, [...base, 'objective'], bad);
  const guards = ((raw.guards ?? []) as Raw[]).map((g, i) => {
    const m = compileMetric(g, [...base, 'guards', i], bad);
    if (g.max === undefined && g.min === undefined && g.max_increase === undefined) bad([...base, 'guards', i], 'needs a limit: max, min or max_increase');
    return m ? { ...m, ...(g.max !== undefined ? { max: g.max as number } : {}), ...(g.min !== undefined ? { min: g.min as number } : {}), ...(g.max_increase !== undefined ? { maxIncrease: g.max_increase as number } : {}) } : null;
  });
  const x = (raw.experiment ?? {}) as Raw;
  const experiment = {
    windowMs: parseDuration((x.window as string | undefined) ?? '2m'),
    intervalMs: parseDuration((x.interval as string | undefined) ?? '10s'),
    settleMs: parseDuration((x.settle as string | undefined) ?? '30s'),
    minSamples: (x.min_samples as number | undefined) ?? 6,
    alpha: (x.alpha as number | undefined) ?? 0.05,
    minImprovement: (x.min_improvement as number | undefined) ?? 0.05,
    maxSteps: (x.max_steps as number | undefined) ?? 3,
  };
  if (experiment.intervalMs <= 0) bad([...base, 'experiment', 'interval'], 'must be above 0');
  else {
    const samples = Math.max(1, Math.round(experiment.windowMs / experiment.intervalMs));
    if (samples < experiment.minSamples) {
      bad([...base, 'experiment', 'window'], `${x.window ?? '2m'} at one sample per ${x.interval ?? '10s'} gives ${samples} samples; min_samples ${experiment.minSamples} needs a window of at least ${(experiment.minSamples * experiment.intervalMs) / 1000}s, or nothing could ever be decided`);
    }
  }
  if (!ok || !objective || knobs.some((k) => k === null) || guards.some((g) => g === null)) return null;
  return {
    kind: 'tuning',
    name: raw.name as string,
    description: (raw.description as string | undefined) ?? '',
    source,
    matchers,
    scheduleMs: raw.schedule ? parseDuration(raw.schedule as string) : null,
    target,
    targetMatchers,
    ...(raw.mode ? { mode: raw.mode as Mode } : {}),
    knobs: knobs as TuningKnob[],
    objective: { ...objective, direction: o.direction as 'minimize' | 'maximize' },
    guards: guards as Array<MetricDef & Guard>,
    experiment,
    cooldownMs: parseDuration((raw.cooldown as string | undefined) ?? '30m'),
    forgetRejectedMs: parseDuration((raw.forget_rejected as string | undefined) ?? '24h'),
  };
}
