/**
 * Who can reach what. Every route the service has (walked from its own router, plus the two
 * fast paths in front of it) is either on the short public list (metrics, health, readiness,
 * the status page's static files) or answers 401 without credentials, with wrong ones (a wrong
 * token of the same length, a longer one, the wrong scheme, a wrong basic password), always
 * with the same body and no detail; with the right credentials it is served.
 */
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/http/app.js';
import { type Promedic, createPromedic } from '../../src/index.js';
import { rawRequest, tempDir } from '../helpers/index.js';

const TOKEN = 'auth-test-token-0123456789abcdef';
const PUBLIC = new Set(['GET /', 'GET /status.css', 'GET /status.js', 'GET /-/healthy', 'GET /-/ready', 'GET /metrics']);
const UNAUTHORIZED = '{"error":{"code":"unauthorized","message":"missing or invalid credentials (Authorization: Bearer <token> or basic auth)"}}';

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
}

function walk(stack: Layer[], out: string[] = []): string[] {
  for (const l of stack) {
    if (l.route) for (const m of Object.keys(l.route.methods)) out.push(`${m.toUpperCase()} ${l.route.path}`);
    else if (l.handle?.stack) walk(l.handle.stack, out);
  }
  return out;
}

describe('authentication', () => {
  let dir: { path: string; cleanup: () => void };
  let p: Promedic;
  let routes: string[];

  beforeAll(async () => {
    dir = tempDir();
    p = await createPromedic({
      config: { listen: { port: 0, address: '127.0.0.1' }, data_dir: join(dir.path, 'data'), rules_dir: join(dir.path, 'none'), auth: { token: TOKEN, basic: { username: 'alertmanager', password: 'basic-password-0123456789' } } },
      env: {},
      logger: pino({ level: 'silent' }),
    });
    await p.start();
    const app = createApp(p.service?.ctx as NonNullable<Promedic['service']>['ctx'], { ready: () => [], track: () => undefined });
    // The two fast paths are served in front of express (src/main.ts).
    routes = [...walk((app as unknown as { router: { stack: Layer[] } }).router.stack), 'POST /webhook/alertmanager', 'GET /metrics'];
  });
  afterAll(async () => {
    await p.stop();
    dir.cleanup();
  });

  const url = (route: string) => `${p.url}${route.split(' ')[1]?.replace(':id', 'x').replace(':playbook', 'x')}`;
  const call = (route: string, authorization?: string) =>
    rawRequest(url(route), {
      method: route.split(' ')[0] as string,
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      ...(route.startsWith('GET') ? {} : { body: '{}' }),
    });

  it('knows every route, and only the public ones are open', () => {
    expect(routes.length).toBeGreaterThan(15);
    const closed = routes.filter((r) => !PUBLIC.has(r));
    expect(closed).toEqual(expect.arrayContaining(['POST /webhook/alertmanager', 'GET /api/v1/status', 'POST /api/v1/pause', 'POST /api/v1/resume', 'POST /-/reload', 'GET /api/v1/runs', 'POST /api/v1/tuning/:playbook/run']));
  });

  it('answers 401, with the same body and no detail, to missing or wrong credentials on every closed route', async () => {
    const wrong = [
      undefined,
      `Bearer ${TOKEN.slice(0, -1)}x`,
      `Bearer ${TOKEN}x`,
      'Bearer ',
      `Token ${TOKEN}`,
      `Basic ${Buffer.from('alertmanager:wrong-password-012345').toString('base64')}`,
      `Basic ${Buffer.from(`${TOKEN}`).toString('base64')}`,
      'Basic !!!not-base64!!!',
    ];
    for (const route of routes.filter((r) => !PUBLIC.has(r))) {
      for (const w of wrong) {
        const r = await call(route, w);
        expect(r.status, `${route} with ${w ?? 'no credentials'}`).toBe(401);
        expect(r.body).toBe(UNAUTHORIZED);
      }
    }
    expect(p.status().automation.paused).toBe(false);
  });

  it('serves every closed route with the token or the basic credentials, and the public ones without', async () => {
    const basic = `Basic ${Buffer.from('alertmanager:basic-password-0123456789').toString('base64')}`;
    for (const route of routes) {
      if (route === 'POST /api/v1/pause') continue; // tested last
      const r = await call(route, PUBLIC.has(route) ? undefined : `Bearer ${TOKEN}`);
      expect(r.status, route).not.toBe(401);
      if (!PUBLIC.has(route)) expect((await call(route, basic)).status, `${route} (basic)`).not.toBe(401);
    }
    expect((await call('POST /api/v1/pause', `Bearer ${TOKEN}`)).status).toBe(200);
    expect(p.status().automation.paused).toBe(true);
  });
});
