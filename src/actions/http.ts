import { checkTemplate, checkUrlTemplate, render, renderDeep, renderHeader, renderUrl, templateStrings, type TemplateVars } from '../rules/template.js';
import { ActionError, type ActionType, type Problem, checkKeys, excerpt, isObject } from './types.js';

interface HttpArgs {
  method?: string;
  url: string;
  headers?: Record<string, string>;
  body?: unknown;
  expect_status?: number[] | number;
}

export interface RenderedHttp {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
  expect: number[];
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'];

export function checkHttpArgs(a: unknown, extra: string[] = []): Problem[] {
  const p = checkKeys(a, ['method', 'url', 'headers', 'body', 'expect_status', ...extra], ['url']);
  if (!isObject(a)) return p;
  if (typeof a.url !== 'string') p.push({ path: ['url'], message: 'must be a string' });
  else for (const m of checkUrlTemplate(a.url)) p.push({ path: ['url'], message: m });
  if (a.method !== undefined && (typeof a.method !== 'string' || !METHODS.includes(a.method.toUpperCase()))) {
    p.push({ path: ['method'], message: `must be one of ${METHODS.join(', ')}` });
  }
  if (a.headers !== undefined) {
    if (!isObject(a.headers)) p.push({ path: ['headers'], message: 'must be a mapping of strings' });
    else
      for (const [k, v] of Object.entries(a.headers)) {
        if (typeof v !== 'string') p.push({ path: ['headers', k], message: 'must be a string' });
        else for (const m of checkTemplate(v)) p.push({ path: ['headers', k], message: m });
      }
  }
  for (const t of templateStrings(a.body)) for (const m of checkTemplate(t.text)) p.push({ path: ['body', ...t.path], message: m });
  const es = a.expect_status;
  if (es !== undefined && !(Number.isInteger(es) || (Array.isArray(es) && es.every((x) => Number.isInteger(x))))) {
    p.push({ path: ['expect_status'], message: 'must be a status code or a list of them' });
  }
  return p;
}

export function renderHttp(args: unknown, vars: TemplateVars): RenderedHttp {
  const a = args as HttpArgs;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(a.headers ?? {})) headers[k.toLowerCase()] = renderHeader(v, vars);
  let body: string | undefined;
  if (a.body !== undefined) {
    if (typeof a.body === 'string') body = render(a.body, vars);
    else {
      body = JSON.stringify(renderDeep(a.body, vars));
      headers['content-type'] ??= 'application/json';
    }
  }
  const es = a.expect_status;
  return {
    method: (a.method ?? (body === undefined ? 'GET' : 'POST')).toUpperCase(),
    url: renderUrl(a.url, vars).toString(),
    headers,
    ...(body === undefined ? {} : { body }),
    expect: es === undefined ? [] : Array.isArray(es) ? es : [es],
  };
}

/** Sends a rendered request; a 5xx or network error may be retried, a 4xx not (as Alertmanager treats webhooks). */
export async function send(r: RenderedHttp, signal: AbortSignal): Promise<{ status: number; text: string }> {
  let res: Response;
  try {
    res = await fetch(r.url, { method: r.method, headers: r.headers, body: r.body ?? null, signal, redirect: 'manual' });
  } catch (err) {
    if (signal.aborted) throw err;
    throw new ActionError(`${r.method} ${r.url}: ${(err as Error).cause ? String((err as Error & { cause: unknown }).cause) : (err as Error).message}`, {
      retryable: true,
      cause: err,
    });
  }
  const text = await res.text().catch(() => '');
  const ok = r.expect.length > 0 ? r.expect.includes(res.status) : res.status >= 200 && res.status < 300;
  if (!ok) {
    throw new ActionError(`${r.method} ${r.url}: unexpected status ${res.status}`, {
      retryable: res.status >= 500 || res.status === 429,
      output: excerpt(text),
    });
  }
  return { status: res.status, text };
}

export const http: ActionType = {
  type: 'http',
  check: (args) => checkHttpArgs(args),
  render: renderHttp,
  async run(rendered, ctx) {
    const r = rendered as RenderedHttp;
    const { status, text } = await send(r, ctx.signal);
    return { output: excerpt(`${status} ${text}`.trim()), changed: r.method !== 'GET' && r.method !== 'HEAD' };
  },
};

