/**
 * Monitor rules: rules/monitors/*.yml (`monitors: [...]`), validated with file:line errors.
 * Thresholds can be overridden per alert in promedic.yml (`monitor.overrides`).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { parseMatcher } from '../rules/matcher.js';
import { DURATION_PATTERN, parseDuration } from '../util/duration.js';
import { createAjv, describeSchemaError } from '../util/schema.js';
import { lineOf, toData } from '../util/yaml.js';
import type { Agg, Expr } from './expr.js';

export interface MonitorRule {
  alert: string;
  source: string;
  expr: Expr;
  op: 'above' | 'below';
  threshold: number;
  /** The level at which a firing alert resolves (hysteresis); defaults to the threshold. */
  clear: number;
  forMs: number;
  severity: string;
  category: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Window of the exported least-squares slope (promedic_monitor_trend_slope); null: no trend. */
  trendWindowMs: number | null;
  forecast?: { windowMs: number; horizonMs: number };
  /** Fire even inside the cooldown of the emergency playbooks' targets (see emergency handling). */
  emergency: boolean;
}

const dur = { type: 'string', pattern: DURATION_PATTERN };
const selector = {
  type: 'object',
  additionalProperties: false,
  required: ['metric'],
  properties: {
    metric: { type: 'string', pattern: '^[a-zA-Z_:][a-zA-Z0-9_:]*$' },
    match: { type: 'array', items: { type: 'string' } },
    agg: { enum: ['sum', 'avg', 'max', 'min'] },
    by: { type: 'array', items: { type: 'string' } },
    window: dur,
    q: { type: 'number', minimum: 0, maximum: 1 },
  },
};
const exprSchema = {
  $id: 'expr',
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  maxProperties: 1,
  properties: {
    value: selector,
    rate: { ...selector, required: ['metric', 'window'] },
    quantile: { ...selector, required: ['metric', 'window', 'q'] },
    ratio: {
      type: 'object',
      additionalProperties: false,
      required: ['numerator', 'denominator'],
      properties: { numerator: { $ref: 'expr' }, denominator: { $ref: 'expr' }, complement: { type: 'boolean' } },
    },
  },
};
export const MONITOR_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['alert', 'expr'],
  properties: {
    alert: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9_]*$' },
    expr: { $ref: 'expr' },
    above: { type: 'number' },
    below: { type: 'number' },
    clear: { type: 'number' },
    for: dur,
    severity: { enum: ['critical', 'warning', 'info'] },
    category: { type: 'string' },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    annotations: { type: 'object', additionalProperties: { type: 'string' } },
    trend: { type: 'object', additionalProperties: false, properties: { window: dur } },
    forecast: { type: 'object', additionalProperties: false, required: ['window', 'horizon'], properties: { window: dur, horizon: dur } },
    emergency: { type: 'boolean' },
  },
};

const ajv = createAjv();
ajv.addSchema(exprSchema);
const validate = ajv.compile(MONITOR_SCHEMA);
const validateExpr = ajv.getSchema('expr') as ReturnType<typeof ajv.compile>;

export interface Override {
  above?: number;
  below?: number;
  clear?: number;
  for?: string;
  severity?: string;
  disabled?: boolean;
}

type Raw = Record<string, unknown>;

function compileExpr(raw: Raw, path: Array<string | number>, problems: Array<[Array<string | number>, string]>): Expr {
  const [kind, body] = Object.entries(raw)[0] as [string, Raw];
  if (kind === 'ratio') {
    return {
      kind: 'ratio',
      numerator: compileExpr(body.numerator as Raw, [...path, 'ratio', 'numerator'], problems),
      denominator: compileExpr(body.denominator as Raw, [...path, 'ratio', 'denominator'], problems),
      complement: (body.complement as boolean | undefined) ?? false,
    };
  }
  const matchers = ((body.match ?? []) as string[]).flatMap((m, i) => {
    try {
      return [parseMatcher(m)];
    } catch (err) {
      problems.push([[...path, kind, 'match', i], (err as Error).message]);
      return [];
    }
  });
  const base = {
    metric: body.metric as string,
    matchers,
    ...(body.agg ? { agg: body.agg as Agg } : {}),
    ...(body.by ? { by: body.by as string[] } : {}),
  };
  if (body.by && !body.agg && kind !== 'quantile') problems.push([[...path, kind, 'by'], 'needs agg (sum, avg, max or min)']);
  if (kind === 'value') return { kind: 'value', ...base };
  if (kind === 'rate') return { kind: 'rate', windowMs: parseDuration(body.window as string), ...base };
  return { kind: 'quantile', q: body.q as number, windowMs: parseDuration(body.window as string), ...base };
}

/**
 * A monitor expression outside a monitor rule (a tuning objective or guard): the expression,
 * or every problem with its path below the expression.
 */
export function compileMonitorExpr(raw: unknown): { expr: Expr | null; problems: Array<[Array<string | number>, string]> } {
  if (!validateExpr(raw)) {
    return { expr: null, problems: (validateExpr.errors ?? []).map((e) => { const d = describeSchemaError(e); return [d.path, d.message]; }) };
  }
  const problems: Array<[Array<string | number>, string]> = [];
  const expr = compileExpr(raw as Raw, [], problems);
  return { expr: problems.length ? null : expr, problems };
}

/** Loads every monitor file; returns the rules and every problem as `file:line: path: message`. */
export function loadMonitors(dir: string, overrides: Record<string, Override> = {}): { rules: MonitorRule[]; errors: string[] } {
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => join(dir, f));
  } catch {
    return { rules: [], errors: [] };
  }
  const rules: MonitorRule[] = [];
  const errors: string[] = [];
  const seen = new Set<string>();
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const doc = parseDocument(text, { prettyErrors: true });
    if (doc.errors.length) {
      errors.push(`${file}:${doc.errors[0]?.linePos?.[0]?.line ?? 1}: invalid YAML: ${doc.errors[0]?.message.split('\n')[0]}`);
      continue;
    }
    const parsed = toData(doc, text);
    if (!parsed.ok) {
      errors.push(`${file}:${parsed.line}: invalid YAML: ${parsed.message}`);
      continue;
    }
    const data = parsed.data as { monitors?: unknown } | null;
    const at = (path: Array<string | number>) => `${file}:${lineOf(doc, text, path) ?? 1}`;
    if (!data || !Array.isArray(data.monitors)) {
      errors.push(`${file}:1: expected monitors: [...]`);
      continue;
    }
    data.monitors.forEach((raw: unknown, i: number) => {
      const base = ['monitors', i];
      if (!validate(raw)) {
        for (const e of validate.errors ?? []) {
          const { path, message } = describeSchemaError(e);
          errors.push(`${at([...base, ...path])}: ${[...base, ...path].join('.')}: ${message}`);
        }
        return;
      }
      const r = raw as Raw;
      const problems: Array<[Array<string | number>, string]> = [];
      const expr = compileExpr(r.expr as Raw, [...base, 'expr'], problems);
      const o = overrides[r.alert as string] ?? {};
      if (o.disabled) {
        seen.add(r.alert as string);
        return;
      }
      const above = o.above ?? (o.below === undefined ? (r.above as number | undefined) : undefined);
      const below = o.below ?? (o.above === undefined ? (r.below as number | undefined) : undefined);
      if ((above === undefined) === (below === undefined)) problems.push([base, 'needs exactly one of above or below']);
      if (seen.has(r.alert as string)) problems.push([[...base, 'alert'], `monitor "${r.alert}" is defined twice`]);
      seen.add(r.alert as string);
      for (const [path, message] of problems) errors.push(`${at(path)}: ${path.join('.')}: ${message}`);
      if (problems.length) return;
      const op = above !== undefined ? 'above' : 'below';
      const threshold = (above ?? below) as number;
      // An overridden threshold keeps the file's clear level only if it is still on the safe side.
      const fileClear = r.clear as number | undefined;
      const fileClearFits = fileClear !== undefined && (op === 'above' ? fileClear <= threshold : fileClear >= threshold);
      const clear = o.clear ?? (fileClearFits ? fileClear : threshold);
      if ((op === 'above' && clear > threshold) || (op === 'below' && clear < threshold)) {
        errors.push(`${at([...base, 'clear'])}: ${base.join('.')}.clear: must be on the safe side of the threshold (${op} ${threshold})`);
        return;
      }
      const fc = r.forecast as { window: string; horizon: string } | undefined;
      rules.push({
        alert: r.alert as string,
        source: at(base),
        expr,
        op,
        threshold,
        clear,
        forMs: parseDuration(o.for ?? (r.for as string | undefined) ?? '0s'),
        severity: o.severity ?? (r.severity as string | undefined) ?? 'warning',
        category: (r.category as string | undefined) ?? 'host',
        labels: (r.labels as Record<string, string> | undefined) ?? {},
        annotations: (r.annotations as Record<string, string> | undefined) ?? {},
        trendWindowMs: r.trend ? parseDuration((r.trend as { window?: string }).window ?? '10m') : fc ? parseDuration(fc.window) : null,
        ...(fc ? { forecast: { windowMs: parseDuration(fc.window), horizonMs: parseDuration(fc.horizon) } } : {}),
        emergency: (r.emergency as boolean | undefined) ?? false,
      });
    });
  }
  for (const name of Object.keys(overrides)) {
    if (!seen.has(name)) errors.push(`config: monitor.overrides.${name}: no monitor of that name (known: ${[...seen].join(', ')})`);
  }
  return { rules, errors };
}
