/**
 * The demo app (examples/demo-app) the bundled playbooks heal: its metrics, each fault and
 * the admin call that fixes it, its knobs and admin authentication, in process on a real HTTP
 * server on 127.0.0.1; and the built command line, started and stopped as a user does.
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningDemo, startDemoApp } from '../examples/demo-app/src/server.js';
import { ROOT, get, parseExposition, requireBinary, waitFor } from './helpers/index.js';

const TOKEN = 'demo-test-token';
const MiB = 1024 * 1024;
const AUTH = { authorization: `Bearer ${TOKEN}` };

let demo: RunningDemo;

beforeAll(async () => {
  demo = await startDemoApp({ port: 0, host: '127.0.0.1', load: 20, adminToken: TOKEN, seed: 7 });
});
afterAll(async () => {
  await demo?.stop();
});

// Response bodies are read loosely (`any`): each test asserts the fields it cares about.
type Json = any;

/** One request to the in-process app; `body` is sent as JSON, `raw` as is (with a JSON content type). */
async function call(
  method: string,
  path: string,
  opts: { body?: unknown; raw?: string; auth?: boolean; headers?: Record<string, string> } = {},
): Promise<{ status: number; json: Json; ms: number }> {
  const headers: Record<string, string> = { ...(opts.auth ? AUTH : {}), ...opts.headers };
  const body = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
  if (body !== undefined) headers['content-type'] = 'application/json';
  const start = performance.now();
  const res = await fetch(`${demo.url}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  let json: Json = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json, ms: performance.now() - start };
}

async function scrape(): Promise<Map<string, Array<{ labels: string; value: number }>>> {
  const r = await get(`${demo.url}/metrics`);
  expect(r.status).toBe(200);
  return parseExposition(r.body);
}

/** The value of one sample: the only one of the family, or the one whose labels contain `labels`. */
async function metric(name: string, labels = ''): Promise<number> {
  const samples = (await scrape()).get(name) ?? [];
  const s = labels ? samples.find((x) => x.labels.includes(labels)) : samples[0];
  if (!s) throw new Error(`no sample ${name}${labels}`);
  return s.value;
}

/** Sum of a family's samples whose labels contain every given fragment. */
async function total(name: string, ...fragments: string[]): Promise<number> {
  const samples = (await scrape()).get(name) ?? [];
  return samples.filter((s) => fragments.every((f) => s.labels.includes(f))).reduce((n, s) => n + s.value, 0);
}

/** Item lists the load generator never asks for (it uses n from 1 to 500), so never cached. */
let uncached = 600;
const freshItems = () => `/api/items?n=${uncached++}`;

describe('metrics', () => {
  it('exports every metric of the contract once traffic has flowed', async () => {
    await waitFor(async () => (await total('http_requests_total', 'route="/api/orders"')) > 0, 20_000, 'load generator traffic');
    const m = await scrape();
    for (const name of [
      'http_request_duration_seconds_bucket', 'http_request_duration_seconds_sum', 'http_request_duration_seconds_count',
      'http_requests_total', 'app_active_connections', 'app_in_flight_requests', 'app_concurrency_limit',
      'app_cache_size_bytes', 'app_cache_entries', 'app_cache_max_bytes', 'app_memory_used_bytes', 'app_memory_limit_bytes',
      'app_db_pool_size', 'app_db_connected', 'app_db_connection_errors_total', 'app_db_query_duration_seconds_bucket',
      'app_upstream_errors_total', 'app_validation_errors_total', 'app_requests_rejected_total', 'app_config',
      'app_fault_active', 'process_cpu_seconds_total', 'nodejs_heap_size_used_bytes',
    ]) {
      expect(m.has(name), name).toBe(true);
    }
    const buckets = (m.get('http_request_duration_seconds_bucket') ?? []).filter((s) => s.labels.includes('route="/api/items"'));
    expect(buckets.map((s) => /le="([^"]+)"/.exec(s.labels)?.[1])).toEqual(
      expect.arrayContaining(['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf']),
    );
    expect(m.get('app_concurrency_limit')?.[0]?.value).toBe(16);
    expect(m.get('app_memory_limit_bytes')?.[0]?.value).toBe(256 * MiB);
    expect(m.get('app_db_connected')?.[0]?.value).toBe(1);
    expect(m.get('app_config')?.map((s) => s.labels).sort()).toEqual(
      ['batch_size', 'cache_size_mb', 'cleanup_interval_ms', 'concurrency', 'pool_size', 'retries', 'sanitize', 'timeout_ms', 'validation_strict']
        .map((k) => `{knob="${k}"}`),
    );
    expect(m.get('app_fault_active')?.map((s) => s.labels).sort()).toEqual(
      ['connections', 'db', 'errors', 'latency', 'memory', 'validation'].map((k) => `{fault="${k}"}`),
    );
    expect(m.get('app_fault_active')?.every((s) => s.value === 0)).toBe(true);
    expect(demo.demo.state.load?.sent).toBeGreaterThan(0);
  });

  it('labels requests with the route pattern and status code, never the raw URL', async () => {
    await call('GET', '/api/items?n=3&x=1');
    await call('GET', '/no/such/path');
    const body = (await get(`${demo.url}/metrics`)).body;
    expect(body).toMatch(/http_requests_total\{method="GET",route="\/api\/items",status_code="200"\} \d+/);
    expect(body).toMatch(/http_requests_total\{method="GET",route="unmatched",status_code="404"\} \d+/);
    expect(body).not.toContain('?n=');
    expect(body).not.toContain('x=1');
    expect(body).not.toContain('/no/such/path');
  });

  const promtool = requireBinary('promtool', 'prometheus');
  it.runIf(promtool)('passes promtool check metrics on a real scrape', async () => {
    await waitFor(async () => (await total('app_db_query_duration_seconds_count')) > 0, 20_000, 'a DB query');
    const text = (await get(`${demo.url}/metrics`)).body;
    const r = spawnSync(promtool as string, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('request path', () => {
  it('serves item lists through the cache and accepts valid orders', async () => {
    const path = freshItems();
    const first = await call('GET', path);
    expect(first.status).toBe(200);
    expect(first.json.items).toHaveLength(uncached - 1);
    const hits = demo.demo.state.cache.hits;
    expect((await call('GET', path)).status).toBe(200);
    expect(demo.demo.state.cache.hits).toBeGreaterThan(hits);
    expect((await call('GET', '/api/items?n=0')).status).toBe(400);

    const order = await call('POST', '/api/orders', { body: { item: 'widget-1', quantity: 2 } });
    expect(order.status).toBe(201);
    expect(order.json).toMatchObject({ item: 'widget-1', quantity: 2 });
  });

  it('fails invalid orders in processing (500) under normal validation', async () => {
    const before = await metric('app_validation_errors_total');
    const r = await call('POST', '/api/orders', { body: { item: 'widget-1', quantity: -3 } });
    expect(r.status).toBe(500);
    expect(await metric('app_validation_errors_total')).toBe(before + 1);
  });
});

describe('faults and their fixes', () => {
  it('lists, validates and clears faults', async () => {
    expect((await call('POST', '/fault/nonsense')).status).toBe(404);
    const bad = await call('POST', '/fault/errors', { body: { ratio: 2 } });
    expect(bad.status).toBe(400);
    expect(bad.json.error.message).toContain('ratio');
    expect((await call('POST', '/fault/latency', { body: { ms: 10, speed: 1 } })).json.error.field).toBe('speed');

    expect((await call('POST', '/fault/validation', { body: { ratio: 0 } })).status).toBe(200);
    expect((await call('POST', '/fault/latency', { body: { ms: 1 } })).status).toBe(200);
    expect((await call('GET', '/fault')).json.active).toEqual({
      validation: { ratio: 0 },
      latency: { ms: 1, above_concurrency: 4, in_effect: true },
    });
    expect(await metric('app_fault_active', 'fault="latency"')).toBe(1);
    expect((await call('DELETE', '/fault/latency')).json).toEqual({ fault: 'latency', cleared: true });
    expect((await call('DELETE', '/fault')).json).toEqual({ cleared: ['validation'] });
    expect((await call('GET', '/fault')).json.active).toEqual({});
    expect(await total('app_fault_active')).toBe(0);
  });

  it('latency: DB queries take the extra time until concurrency is lowered to 4', async () => {
    expect((await call('POST', '/fault/latency', { body: { ms: 3000 } })).json).toMatchObject({ ms: 3000, above_concurrency: 4, in_effect: true });
    const slowBefore = (await total('http_request_duration_seconds_count', 'route="/api/items"')) -
      (await total('http_request_duration_seconds_bucket', 'route="/api/items"', 'le="2.5"'));
    const slow = await call('GET', freshItems());
    expect(slow.status).toBe(200);
    expect(slow.ms).toBeGreaterThanOrEqual(3000);
    expect(await total('app_db_query_duration_seconds_bucket', 'le="+Inf"')).toBeGreaterThan(
      await total('app_db_query_duration_seconds_bucket', 'le="2.5"'),
    );
    const slowAfter = (await total('http_request_duration_seconds_count', 'route="/api/items"')) -
      (await total('http_request_duration_seconds_bucket', 'route="/api/items"', 'le="2.5"'));
    expect(slowAfter).toBeGreaterThan(slowBefore);

    // The bundled "reduce concurrency" playbook's fix.
    const put = await call('PUT', '/admin/config', { auth: true, body: { concurrency: 4 } });
    expect(put.status).toBe(200);
    expect(put.json.concurrency).toBe(4);
    expect(await metric('app_concurrency_limit')).toBe(4);
    const fast = await call('GET', freshItems());
    expect(fast.status).toBe(200);
    expect(fast.ms).toBeLessThan(3000);
    // Still active, no longer in effect.
    expect((await call('GET', '/fault')).json.active.latency.in_effect).toBe(false);
    expect(await metric('app_fault_active', 'fault="latency"')).toBe(1);

    await call('DELETE', '/fault/latency');
    await call('PUT', '/admin/config', { auth: true, body: { concurrency: 16 } });
  });

  it('latency: lowering concurrency releases queries already waiting', async () => {
    await call('POST', '/fault/latency', { body: { ms: 20_000 } });
    const pending = call('GET', freshItems());
    await waitFor(() => demo.demo.state.db.pool_in_use > 0, 10_000, 'a query in progress');
    await call('PUT', '/admin/config', { auth: true, body: { concurrency: 4 } });
    const r = await pending;
    expect(r.status).toBe(200);
    expect(r.ms).toBeLessThan(20_000);
    await call('DELETE', '/fault/latency');
    await call('PUT', '/admin/config', { auth: true, body: { concurrency: 16 } });
  });

  it('errors (transient): upstream calls fail with 502 until /admin/retry reconnects', async () => {
    const errors = await metric('app_upstream_errors_total');
    await call('POST', '/fault/errors', { body: { ratio: 1, mode: 'transient' } });
    const failed = await call('GET', '/api/items?n=2');
    expect(failed.status).toBe(502);
    expect(failed.json.error.code).toBe('upstream_failed');
    // One attempt and `retries` (1) more.
    expect(await metric('app_upstream_errors_total')).toBeGreaterThanOrEqual(errors + 2);
    expect(await metric('app_fault_active', 'fault="errors"')).toBe(1);
    expect((await call('GET', '/admin/health', { auth: true })).json).toMatchObject({ status: 'ok', upstream: 'degraded' });

    expect((await call('POST', '/admin/retry', { auth: true })).json).toEqual({ upstream: 'ok', reconnected: true });
    expect((await call('GET', '/api/items?n=2')).status).toBe(200);
    expect(await metric('app_fault_active', 'fault="errors"')).toBe(0);
  });

  it('errors (permanent): /admin/retry answers 503 and the errors continue', async () => {
    await call('POST', '/fault/errors', { body: { ratio: 1, mode: 'permanent' } });
    const retry = await call('POST', '/admin/retry', { auth: true });
    expect(retry.status).toBe(503);
    expect(retry.json.error.code).toBe('upstream_unavailable');
    expect((await call('GET', '/api/items?n=2')).status).toBe(502);
    expect(await metric('app_fault_active', 'fault="errors"')).toBe(1);
    await call('DELETE', '/fault/errors');
    expect((await call('GET', '/api/items?n=2')).status).toBe(200);
  });

  it('memory: the leak bypasses the cache limit, and clearing the cache drops app_memory_used_bytes at once', async () => {
    const usedBefore = await metric('app_memory_used_bytes');
    const leak = await call('POST', '/fault/memory', { body: { mb: 96 } });
    expect(leak.json).toMatchObject({ fault: 'memory', mb: 96 });
    const cacheBytes = await metric('app_cache_size_bytes');
    expect(cacheBytes).toBeGreaterThanOrEqual(96 * MiB);
    expect(cacheBytes).toBeGreaterThan(await metric('app_cache_max_bytes'));
    const usedLeaking = await metric('app_memory_used_bytes');
    expect(usedLeaking - usedBefore).toBeGreaterThan(80 * MiB);

    const clear = await call('POST', '/admin/cache/clear', { auth: true });
    expect(clear.status).toBe(200);
    expect(clear.json.cleared_bytes).toBeGreaterThanOrEqual(96 * MiB);
    expect(clear.json.cleared_entries).toBeGreaterThanOrEqual(96);
    // Read right away: no waiting for the garbage collector.
    const usedAfter = await metric('app_memory_used_bytes');
    expect(usedLeaking - usedAfter).toBeGreaterThan(80 * MiB);
    expect(await metric('app_cache_size_bytes')).toBeLessThan(MiB);
    expect(await metric('app_fault_active', 'fault="memory"')).toBe(0);

    const gc = await call('POST', '/admin/gc', { auth: true });
    expect(gc.status).toBe(200);
    expect(typeof gc.json.gc).toBe('boolean');
  });

  it('connections: held idle connections raise app_active_connections until released or closed as idle', async () => {
    const held = await call('POST', '/fault/connections', { body: { count: 120 } });
    expect(held.json).toMatchObject({ fault: 'connections', count: 120 });
    expect(await metric('app_active_connections')).toBeGreaterThanOrEqual(120);
    expect(await metric('app_fault_active', 'fault="connections"')).toBe(1);
    expect((await call('DELETE', '/fault/connections')).json.cleared).toBe(true);
    await waitFor(async () => (await metric('app_active_connections')) < 60, 10_000, 'connections released');

    await call('POST', '/fault/connections', { body: { count: 120 } });
    expect(await metric('app_active_connections')).toBeGreaterThanOrEqual(120);
    const closed = await call('POST', '/admin/connections/close-idle', { auth: true });
    expect(closed.status).toBe(200);
    expect(closed.json.closed).toBeGreaterThanOrEqual(120);
    await waitFor(async () => (await metric('app_active_connections')) < 60, 10_000, 'idle connections closed');
    await waitFor(async () => (await metric('app_fault_active', 'fault="connections"')) === 0, 10_000, 'fault over');
  });

  it('db broken: queries fail until /admin/db/reset, or /admin/health, reconnects', async () => {
    const errors = await metric('app_db_connection_errors_total');
    await call('POST', '/fault/db', { body: { mode: 'broken' } });
    expect(await metric('app_db_connected')).toBe(0);
    const failed = await call('GET', freshItems());
    expect(failed.status).toBe(500);
    expect(failed.json.error.code).toBe('db_connection_lost');
    expect(await metric('app_db_connection_errors_total')).toBeGreaterThan(errors);

    expect((await call('POST', '/admin/db/reset', { auth: true })).json).toMatchObject({ connected: true });
    expect(await metric('app_db_connected')).toBe(1);
    expect((await call('GET', freshItems())).status).toBe(200);

    await call('POST', '/fault/db');
    expect(await metric('app_db_connected')).toBe(0);
    const health = await call('GET', '/admin/health', { auth: true });
    expect(health.status).toBe(200);
    expect(health.json).toMatchObject({ status: 'ok', db: 'up', upstream: 'ok' });
    expect(await metric('app_db_connected')).toBe(1);
    expect(await metric('app_fault_active', 'fault="db"')).toBe(0);
  });

  it('db down: reset and health answer 503 and queries keep failing', async () => {
    await call('POST', '/fault/db', { body: { mode: 'down' } });
    const reset = await call('POST', '/admin/db/reset', { auth: true });
    expect(reset.status).toBe(503);
    expect(reset.json.connected).toBe(false);
    const health = await call('GET', '/admin/health', { auth: true });
    expect(health.status).toBe(503);
    expect(health.json).toMatchObject({ status: 'unhealthy', db: 'down' });
    expect((await call('GET', freshItems())).status).toBe(500);
    expect(await metric('app_db_connected')).toBe(0);
    await call('DELETE', '/fault/db');
    expect(await metric('app_db_connected')).toBe(1);
    expect((await call('GET', freshItems())).status).toBe(200);
  });

  it('validation: invalid generated orders fail with 500; strict validation turns them into 400s; sanitisation repairs the fixable', async () => {
    const fiveHundreds = () => total('http_requests_total', 'route="/api/orders"', 'status_code="500"');
    const start500 = await fiveHundreds();
    const startErrors = await metric('app_validation_errors_total');
    await call('POST', '/fault/validation', { body: { ratio: 1 } });
    await waitFor(async () => (await metric('app_validation_errors_total')) >= startErrors + 3, 30_000, 'validation errors');
    expect(await fiveHundreds()).toBeGreaterThanOrEqual(start500 + 3);

    // The bundled validation playbook: strict validation first.
    await call('PUT', '/admin/config', { auth: true, body: { validation: 'strict' } });
    const errorsStrict = await metric('app_validation_errors_total');
    const rejected = await metric('app_requests_rejected_total', 'reason="validation"');
    await waitFor(
      async () => (await metric('app_requests_rejected_total', 'reason="validation"')) >= rejected + 3,
      30_000,
      'strict rejections',
    );
    expect(await total('http_requests_total', 'route="/api/orders"', 'status_code="400"')).toBeGreaterThanOrEqual(3);
    expect(await metric('app_validation_errors_total')).toBe(errorsStrict);

    // Then sanitisation: the fixable ones are accepted.
    await call('PUT', '/admin/config', { auth: true, body: { sanitize: true } });
    const sanitized = await metric('app_requests_rejected_total', 'reason="sanitized"');
    await waitFor(
      async () => (await metric('app_requests_rejected_total', 'reason="sanitized"')) >= sanitized + 2,
      30_000,
      'sanitised orders',
    );
    const fixed = await call('POST', '/api/orders', { body: { item: '  WIDGET-9 ', quantity: ' 4 ' } });
    expect(fixed.status).toBe(201);
    expect(fixed.json).toMatchObject({ item: 'widget-9', quantity: 4 });
    const unfixable = await call('POST', '/api/orders', { body: { item: 'widget-9', quantity: 'lots' } });
    expect(unfixable.status).toBe(400);
    expect(unfixable.json.error).toMatchObject({ code: 'invalid_order', field: 'quantity' });
    expect(await metric('app_validation_errors_total')).toBe(errorsStrict);

    // Sanitisation alone, under normal validation: the unfixable still fail in processing.
    await call('PUT', '/admin/config', { auth: true, body: { validation: 'normal' } });
    expect((await call('POST', '/api/orders', { body: { item: ' widget-9', quantity: '2' } })).status).toBe(201);
    expect((await call('POST', '/api/orders', { body: { item: 'widget-9', quantity: 0 } })).status).toBe(500);

    await call('DELETE', '/fault/validation');
    await call('PUT', '/admin/config', { auth: true, body: { sanitize: false } });
  });
});

describe('knobs', () => {
  it('answers the full config, and applies a valid subset at once', async () => {
    const r = await call('GET', '/admin/config', { auth: true });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      timeout_ms: 10_000, retries: 1, cache_size_mb: 32, cleanup_interval_ms: 10_000,
      concurrency: 16, batch_size: 200, pool_size: 20, validation: 'normal', sanitize: false,
    });
    const put = await call('PUT', '/admin/config', { auth: true, body: { batch_size: 50, pool_size: 8, cache_size_mb: 0.1, cleanup_interval_ms: 500 } });
    expect(put.status).toBe(200);
    expect(put.json).toEqual({ ...r.json, batch_size: 50, pool_size: 8, cache_size_mb: 0.1, cleanup_interval_ms: 500 });
    const m = await scrape();
    const knob = (k: string) => m.get('app_config')?.find((s) => s.labels === `{knob="${k}"}`)?.value;
    expect(knob('batch_size')).toBe(50);
    expect(knob('cache_size_mb')).toBe(0.1);
    expect(m.get('app_db_pool_size')?.[0]?.value).toBe(8);
    expect(m.get('app_cache_max_bytes')?.[0]?.value).toBeCloseTo(0.1 * MiB);
    // The cache was trimmed to the new limit.
    expect(m.get('app_cache_size_bytes')?.[0]?.value).toBeLessThanOrEqual(0.1 * MiB);
    expect(demo.demo.state.db.pool_size).toBe(8);

    expect((await call('PUT', '/admin/config', { auth: true, body: r.json })).json).toEqual(r.json);
  });

  it('rejects an unknown knob or a bad value with 400 naming the field, and changes nothing', async () => {
    const before = (await call('GET', '/admin/config', { auth: true })).json;
    const cases: Array<[unknown, string]> = [
      [{ concurrency: 8, batch_size: 0 }, 'batch_size'],
      [{ concurrency: 8, colour: 'blue' }, 'colour'],
      [{ timeout_ms: '100' }, 'timeout_ms'],
      [{ concurrency: 2.5 }, 'concurrency'],
      [{ validation: 'lenient' }, 'validation'],
      [{ sanitize: 'yes' }, 'sanitize'],
      [{ pool_size: 100_000 }, 'pool_size'],
    ];
    for (const [body, field] of cases) {
      const r = await call('PUT', '/admin/config', { auth: true, body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json.error.code).toBe('invalid_config');
      expect(r.json.error.message).toContain(field);
      expect(r.json.error.field).toBe(field);
    }
    const notObject = await call('PUT', '/admin/config', { auth: true, body: [1, 2] });
    expect(notObject.status).toBe(400);
    const noBody = await call('PUT', '/admin/config', { auth: true });
    expect(noBody.status).toBe(400);
    const badJson = await call('PUT', '/admin/config', { auth: true, raw: '{"concurrency":' });
    expect(badJson.status).toBe(400);
    expect(badJson.json.error.code).toBe('invalid_json');
    expect((await call('GET', '/admin/config', { auth: true })).json).toEqual(before);
    expect(await metric('app_concurrency_limit')).toBe(before.concurrency);
  });
});

describe('admin authentication', () => {
  it('answers 401 without the bearer token or with a wrong one', async () => {
    const attempts: Array<Record<string, string>> = [{}, { authorization: 'Bearer wrong' }, { authorization: `Basic ${TOKEN}` }];
    for (const headers of attempts) {
      const r = await call('POST', '/admin/cache/clear', { headers });
      expect(r.status).toBe(401);
      expect(r.json.error.code).toBe('unauthorized');
    }
    expect((await call('GET', '/admin/config')).status).toBe(401);
    expect((await call('POST', '/admin/cache/clear', { auth: true })).status).toBe(200);
    // Liveness, metrics and faults need none.
    expect((await call('GET', '/healthz')).status).toBe(200);
    expect((await call('GET', '/fault')).status).toBe(200);
  });

  it('answers 503 on every admin endpoint when DEMO_ADMIN_TOKEN is unset', async () => {
    const off = await startDemoApp({ port: 0, host: '127.0.0.1', load: 0, adminToken: null });
    try {
      for (const [method, path] of [
        ['GET', '/admin/config'], ['PUT', '/admin/config'], ['POST', '/admin/cache/clear'], ['POST', '/admin/db/reset'],
        ['GET', '/admin/health'], ['POST', '/admin/gc'], ['POST', '/admin/retry'], ['POST', '/admin/connections/close-idle'],
      ] as const) {
        const res = await fetch(`${off.url}${path}`, { method, headers: AUTH });
        expect(res.status, `${method} ${path}`).toBe(503);
        expect(((await res.json()) as { error: { message: string } }).error.message).toBe('admin disabled: set DEMO_ADMIN_TOKEN');
      }
    } finally {
      await off.stop();
    }
  });
});

describe('the built command line', () => {
  const MAIN = join(ROOT, 'dist/examples/demo-app/src/main.js');

  it('prints its URL, generates load, fills its memory budget on the default leak, and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, [MAIN, '--port', '0', '--load', '20', '--memory-limit-mb', '128'], {
      env: { ...process.env, DEMO_ADMIN_TOKEN: TOKEN, DEMO_PORT: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    try {
      const url = await waitFor(() => /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out)?.[1], 20_000, `its URL in:\n${out}`);
      expect(out.split('\n').filter((l) => l.includes(url))).toHaveLength(1);
      expect((await get(`${url}/healthz`)).status).toBe(200);
      const requests = async () =>
        (parseExposition((await get(`${url}/metrics`)).body).get('http_requests_total') ?? [])
          .filter((s) => s.labels.includes('/api/'))
          .reduce((n, s) => n + s.value, 0);
      await waitFor(async () => (await requests()) >= 10, 20_000, 'load generator requests');

      // Without `mb`, the leak brings the app to 95% of its budget: above the 0.9 alert threshold.
      const ratio = async () => {
        const m = parseExposition((await get(`${url}/metrics`)).body);
        return (m.get('app_memory_used_bytes')?.[0]?.value ?? 0) / (m.get('app_memory_limit_bytes')?.[0]?.value ?? 1);
      };
      expect((await fetch(`${url}/fault/memory`, { method: 'POST' })).status).toBe(200);
      expect(await ratio()).toBeGreaterThan(0.9);
      expect((await fetch(`${url}/admin/cache/clear`, { method: 'POST', headers: AUTH })).status).toBe(200);
      expect(await ratio()).toBeLessThan(0.5);

      child.kill('SIGTERM');
      expect(await exited).toEqual({ code: 0, signal: null });
      expect(out).toContain('"msg":"stopped"');
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  it('prints usage and exits 2 on a bad flag', () => {
    const r = spawnSync(process.execPath, [MAIN, '--load', 'lots'], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--load');
    expect(r.stderr).toContain('usage: demo-app');
  });
});
