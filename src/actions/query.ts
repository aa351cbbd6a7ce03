import { checkPromql } from '../rules/promql.js';
import { checkTemplate, render, type TemplateVars } from '../rules/template.js';
import { ActionError, type ActionType, type Problem, checkKeys, excerpt, isObject } from './types.js';

const OPS = ['>', '>=', '<', '<=', '==', '!='] as const;
type Op = (typeof OPS)[number];

interface QueryArgs {
  expr: string;
  /** Holds when every sample satisfies `op value`; with `empty: true`, when the result is empty. */
  condition?: { op: Op; value: number } | { empty: boolean };
}

/** Escapes a value for a PromQL double-quoted string, so a label value cannot leave its literal. */
export function promqlString(s: string): string {
  // Other control characters (CR, NUL...) as \xHH, which PromQL's string lexer reads back.
  return s
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')
    .replace(/\n/g, '\\n')
    .replace(/[\x00-\x09\x0b-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * True when every {{ ... }} reference is inside a double-quoted PromQL string (the only
 * literal promqlString escapes for); false for references in '...', `...` or bare code.
 */
export function referencesOnlyInDoubleQuotes(expr: string): boolean {
  let quote: string | null = null;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i] as string;
    if (quote) {
      if (c === '\\' && quote !== '`') i++;
      else if (c === quote) quote = null;
      else if (quote !== '"' && expr.startsWith('{{', i)) return false;
      continue;
    }
    if (expr.startsWith('{{', i)) return false;
    if (c === '"' || c === "'" || c === '`') quote = c;
  }
  return true;
}

function holds(op: Op, a: number, b: number): boolean {
  switch (op) {
    case '>':
      return a > b;
    case '>=':
      return a >= b;
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '==':
      return a === b;
    case '!=':
      return a !== b;
  }
}

/**
 * `query: {expr: 'up{job="api"}', condition: {op: '==', value: 1}}` — an instant PromQL query
 * against the configured Prometheus (`prometheus.url`). References inside the expression are
 * escaped for PromQL string literals.
 */
export const query: ActionType = {
  type: 'query',
  check(args) {
    const p: Problem[] = checkKeys(args, ['expr', 'condition'], ['expr']);
    if (!isObject(args)) return p;
    if (typeof args.expr !== 'string' || !args.expr.trim()) p.push({ path: ['expr'], message: 'must be a PromQL expression' });
    else {
      for (const m of checkTemplate(args.expr)) p.push({ path: ['expr'], message: m });
      const syntax = checkPromql(args.expr);
      if (syntax) p.push({ path: ['expr'], message: syntax });
      if (!referencesOnlyInDoubleQuotes(args.expr)) {
        p.push({ path: ['expr'], message: 'template references must sit inside double-quoted strings, e.g. {job="{{ labels.job }}"}: alert data is never PromQL code' });
      }
    }
    const c = args.condition;
    if (c !== undefined) {
      if (!isObject(c)) p.push({ path: ['condition'], message: 'must be {op, value} or {empty: true|false}' });
      else if ('empty' in c) {
        if (typeof c.empty !== 'boolean') p.push({ path: ['condition', 'empty'], message: 'must be true or false' });
      } else {
        if (!OPS.includes(c.op as Op)) p.push({ path: ['condition', 'op'], message: `must be one of ${OPS.join(' ')}` });
        if (typeof c.value !== 'number') p.push({ path: ['condition', 'value'], message: 'must be a number' });
      }
    }
    return p;
  },
  render(args: unknown, vars: TemplateVars) {
    const a = args as QueryArgs;
    return { expr: render(a.expr, vars, promqlString), condition: a.condition ?? { empty: false } };
  },
  async run(rendered, ctx) {
    const r = rendered as Required<QueryArgs>;
    if (!ctx.prometheusUrl) throw new ActionError('query: no Prometheus configured (prometheus.url)', { retryable: false });
    // Keep a path prefix (Prometheus behind a proxy at /prometheus).
    const url = new URL(`${ctx.prometheusUrl.replace(/\/+$/, '')}/api/v1/query`);
    let body: { status: string; error?: string; data?: { resultType: string; result: Array<{ value?: [number, string] }> } };
    try {
      // POST (form-encoded), as Grafana does: a query holding a long label value fits no URL.
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ query: r.expr }).toString(),
        signal: ctx.signal,
      });
      body = (await res.json()) as typeof body;
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      throw new ActionError(`query ${excerpt(r.expr)}: ${(err as Error).message}`, { retryable: true });
    }
    if (body.status !== 'success') throw new ActionError(`query ${excerpt(r.expr)}: ${excerpt(body.error ?? 'failed')}`, { retryable: false });
    const values =
      body.data?.resultType === 'scalar'
        ? [Number((body.data.result as unknown as [number, string])[1])]
        : (body.data?.result ?? []).map((s) => Number(s.value?.[1]));
    const c = r.condition;
    const ok = 'empty' in c ? (values.length === 0) === c.empty : values.length > 0 && values.every((v) => holds(c.op, v, c.value));
    const summary = excerpt(`${r.expr} -> [${values.slice(0, 10).join(', ')}${values.length > 10 ? ', …' : ''}]`);
    if (!ok) throw new ActionError(`query condition not met: ${summary}`, { retryable: true, output: summary });
    return { output: summary };
  },
};
