import { checkTemplate, checkUrlTemplate, render, renderDeep, renderHeader, renderUrl, templateStrings, type TemplateVars } from '../rules/template.js';
import { ActionError, type ActionType, type Problem, checkKeys, excerpt, isObject } from './types.js';

interface HttpArgs {
  method?: string;
  url: string;
  headers?: Record<string, string>;
  body?: unknown;
  expect_status?: number[] | number;
  follow_redirects?: number;
}

export interface RenderedHttp {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
  expect: number[];
  /** Redirects to follow, same origin only; absent: none (a 3xx is an unexpected status). */
  follow_redirects?: number;
}

/** At most this many redirects even when a playbook asks for more (fetch's own limit is 20). */
export const MAX_REDIRECTS = 10;

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'];

export function checkHttpArgs(a: unknown, extra: string[] = []): Problem[] {
  const p = checkKeys(a, ['method', 'url', 'headers', 'body', 'expect_status', 'follow_redirects', ...extra], ['url']);
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
  const fr = a.follow_redirects;
  if (fr !== undefined && !(Number.isInteger(fr) && (fr as number) >= 0 && (fr as number) <= MAX_REDIRECTS)) {
    p.push({ path: ['follow_redirects'], message: `must be a whole number of redirects from 0 to ${MAX_REDIRECTS} (to the same scheme, host and port only)` });
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
    ...(a.follow_redirects ? { follow_redirects: a.follow_redirects } : {}),
  };
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** A URL for an error message: a long one (a 1 MB label in its path) is shortened. */
function shown(url: string): string {
  return url.length > 300 ? `${url.slice(0, 300)}…(${url.length} characters)` : url;
}


/**
 * Sends a rendered request; a 5xx or network error may be retried, a 4xx not (as Alertmanager
 * treats webhooks). Redirects are followed only when the step allows them (`follow_redirects`),
 * and only to the origin the playbook names: a Location elsewhere fails the step, so no response
 * can send a step to another host.
 */
export async function send(r: RenderedHttp, signal: AbortSignal): Promise<{ status: number; text: string }> {
  let url = r.url;
  let method = r.method;
  let body = r.body;
  let res: Response;
  for (let hops = 0; ; hops++) {
    try {
      res = await fetch(url, { method, headers: r.headers, body: body ?? null, signal, redirect: 'manual' });
    } catch (err) {
      if (signal.aborted) throw err;
      throw new ActionError(`${method} ${shown(url)}: ${(err as Error).cause ? String((err as Error & { cause: unknown }).cause) : (err as Error).message}`, {
        retryable: true,
        cause: err,
      });
    }
    const location = res.headers.get('location');
    if (!r.follow_redirects || !REDIRECTS.has(res.status) || location === null || r.expect.includes(res.status)) break;
    await res.body?.cancel().catch(() => undefined);
    if (hops >= r.follow_redirects) {
      throw new ActionError(`${r.method} ${shown(r.url)}: more than ${r.follow_redirects} redirects (follow_redirects)`, { retryable: false });
    }
    let next: URL;
    try {
      next = new URL(location, url);
    } catch {
      throw new ActionError(`${method} ${shown(url)}: redirect to an invalid location ${JSON.stringify(excerpt(location))}`, { retryable: false });
    }
    if (next.origin !== new URL(r.url).origin) {
      throw new ActionError(`${method} ${shown(url)}: redirect to another origin refused (${excerpt(next.origin)}); redirects are followed within ${new URL(r.url).origin} only`, {
        retryable: false,
      });
    }
    // As browsers and fetch do: 303, and 301/302 after a POST, continue as GET without a body.
    if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
      method = method === 'HEAD' ? 'HEAD' : 'GET';
      body = undefined;
    }
    url = next.toString();
  }
  const text = await res.text().catch(() => '');
  const ok = r.expect.length > 0 ? r.expect.includes(res.status) : res.status >= 200 && res.status < 300;
  if (!ok) {
    throw new ActionError(`${method} ${shown(url)}: unexpected status ${res.status}`, {
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

