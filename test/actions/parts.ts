/**
 * Real parts for the action tests: tiny HTTP servers on 127.0.0.1 (a fake Prometheus query
 * API, a server that never answers), a port nothing listens on, template variables, and a
 * settle-with-deadline helper. No mocks: every action talks to a real socket, file or process.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import type { ActionContext } from '../../src/actions/index.js';
import type { TemplateVars } from '../../src/rules/template.js';

/** A secret in the (fake) environment of promedic: a label value must never be able to reach it. */
export const SECRET_ENV = { PROMEDIC_TOKEN: 'tok-SECRET-0123456789', HOME: '/home/promedic' };

export function varsFor(labels: Record<string, string> = {}): TemplateVars {
  return {
    labels: { alertname: 'HighLatency', instance: 'web-1:9100', job: 'api', ...labels },
    annotations: { summary: 'latency is high' },
    alert: { status: 'firing', fingerprint: '0123456789abcdef', severity: 'critical', alertname: 'HighLatency' },
    run: { id: 'run-1', strategy: 'restart', mode: 'enforce' },
    playbook: { name: 'latency', category: 'latency' },
    env: { ...SECRET_ENV },
  };
}

const silent = pino({ level: 'silent' });

export function ctxWith(signal: AbortSignal = new AbortController().signal, prometheusUrl: string | null = null): ActionContext {
  return { signal, logger: silent, prometheusUrl };
}

interface Listening {
  url: string;
  port: number;
  close: () => Promise<void>;
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<Listening> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => handler(req, res, body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Accepts requests and never answers them (until closed): for abort tests. */
export async function hangingServer(): Promise<Listening & { received: () => number }> {
  let n = 0;
  const s = await listen(() => {
    n++;
  });
  return { ...s, received: () => n };
}

/** A port on 127.0.0.1 that nothing listens on (bound once, then released). */
export async function closedPort(): Promise<number> {
  const s = await listen(() => undefined);
  await s.close();
  return s.port;
}

export interface FakePrometheus extends Listening {
  /** Every `query` parameter received, exactly as Prometheus would have parsed it. */
  queries: string[];
  /** Sets the answer: sample values of an instant vector, or a Prometheus error. */
  answer: (a: { values: string[] } | { error: string; status?: number }) => void;
}

/**
 * A tiny stand-in for Prometheus' HTTP API: GET/POST {prefix}/api/v1/query answered in
 * Prometheus' JSON format ({"status":"success","data":{"resultType":"vector",...}}).
 */
export async function fakePrometheus(prefix = ''): Promise<FakePrometheus> {
  const queries: string[] = [];
  let current: { values: string[] } | { error: string; status?: number } = { values: ['1'] };
  const s = await listen((req, res, body) => {
    const u = new URL(req.url ?? '/', 'http://x');
    res.setHeader('content-type', 'application/json');
    if (u.pathname !== `${prefix}/api/v1/query`) {
      res.statusCode = 404;
      return res.end('404 page not found\n');
    }
    const params = req.method === 'POST' ? new URLSearchParams(body) : u.searchParams;
    const q = params.get('query');
    if (q === null) {
      res.statusCode = 400;
      return res.end(JSON.stringify({ status: 'error', errorType: 'bad_data', error: 'invalid parameter "query": no query' }));
    }
    queries.push(q);
    const a = current;
    if ('error' in a) {
      res.statusCode = a.status ?? 400;
      return res.end(JSON.stringify({ status: 'error', errorType: 'bad_data', error: a.error }));
    }
    const now = Date.now() / 1000;
    res.end(
      JSON.stringify({
        status: 'success',
        data: { resultType: 'vector', result: a.values.map((v, i) => ({ metric: { __name__: 'up', instance: `i${i}` }, value: [now, v] })) },
      }),
    );
  });
  return { ...s, queries, answer: (a) => (current = a) };
}

export type Settled = { settled: false } | { settled: true; ok: true; value: unknown; ms: number } | { settled: true; ok: false; error: unknown; ms: number };

/** Waits for p at most `limitMs` (measured from `from`); never leaves a rejection unhandled. */
export async function settleWithin(p: Promise<unknown>, limitMs: number, from = Date.now()): Promise<Settled> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<Settled>((r) => {
    timer = setTimeout(() => r({ settled: false }), Math.max(0, from + limitMs - Date.now()));
  });
  const outcome = p.then(
    (value): Settled => ({ settled: true, ok: true, value, ms: Date.now() - from }),
    (error: unknown): Settled => ({ settled: true, ok: false, error, ms: Date.now() - from }),
  );
  try {
    return await Promise.race([outcome, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
