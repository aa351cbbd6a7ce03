/**
 * Property-based tests (fast-check) over what comes from outside: Alertmanager payloads sent
 * to the real webhook, playbook YAML given to the loader, and label values given to the
 * templates. Random and mutated inputs never crash the process or hang it, bad input always
 * gets a 4xx naming the bad field (never a 5xx), every rules problem names file:line, and a
 * rendered value never escapes its slot. Seeded, so a failure reproduces; the seed and the
 * number of runs are printed by fast-check when a property fails.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTIONS } from '../../src/actions/index.js';
import type { RenderedHttp } from '../../src/actions/http.js';
import type { Promedic } from '../../src/index.js';
import { loadPlaybookFile } from '../../src/rules/playbook.js';
import { type TemplateVars, TemplateError } from '../../src/rules/template.js';
import { inProcess, rawRequest, tempDir } from '../helpers/index.js';

const TOKEN = 'fuzz-token-0123456789abcdef';
const SEED = 20261128;

/** A valid payload to mutate. */
const valid = () => ({
  version: '4',
  status: 'firing',
  receiver: 'promedic',
  groupKey: '{}:{}',
  alerts: [{ status: 'firing', labels: { alertname: 'Fuzz', instance: 'a:1' }, annotations: {}, startsAt: '2026-11-28T00:00:00Z', endsAt: '0001-01-01T00:00:00Z' }],
});

/** Replaces the value at a random path of a JSON value with a random one. */
function mutate(value: unknown, path: number[], replacement: unknown): unknown {
  if (path.length === 0 || value === null || typeof value !== 'object') return replacement;
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
  if (entries.length === 0) return replacement;
  const [k, v] = entries[(path[0] as number) % entries.length] as readonly [string, unknown];
  const next = mutate(v, path.slice(1), replacement);
  if (Array.isArray(value)) return value.map((x, i) => (String(i) === k ? next : x));
  return { ...value, [k]: next };
}

describe('the webhook, under random and mutated payloads', () => {
  let p: Promedic;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ p, close } = await inProcess({ auth: { token: TOKEN } }));
  });
  afterAll(() => close());

  const post = (body: string, type = 'application/json') =>
    rawRequest(`${p.url}/webhook/alertmanager`, { method: 'POST', headers: { 'content-type': type, authorization: `Bearer ${TOKEN}` }, body });

  function expectSane(r: { status: number; body: string }): void {
    expect([202, 400, 413, 415]).toContain(r.status);
    if (r.status !== 202) {
      const e = (JSON.parse(r.body) as { error: { code: string; message: string } }).error;
      expect(e.code).toMatch(/^[a-z_]+$/);
      expect(e.message.length).toBeGreaterThan(0);
    }
  }

  it('answers 202 or a 4xx with a message to any JSON value', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 4 }), async (v) => {
        expectSane(await post(JSON.stringify(v)));
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('answers 202 or a 4xx naming the field to a valid payload with one value replaced', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat(20), { minLength: 1, maxLength: 5 }), fc.jsonValue({ maxDepth: 2 }), async (path, replacement) => {
        const r = await post(JSON.stringify(mutate(valid(), path, replacement)));
        expectSane(r);
        if (r.status === 400) expect((JSON.parse(r.body) as { error: { message: string } }).error.message).toMatch(/^(version|status|alerts|receiver|groupKey|truncatedAlerts|groupLabels|commonLabels|commonAnnotations|externalURL|\(root\)|request body)/);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('answers a 4xx to bytes that are not JSON, and stays up', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 200 }), async (s) => {
        const r = await post(s);
        expectSane(r);
      }),
      { seed: SEED, numRuns: 200 },
    );
    expect((await rawRequest(`${p.url}/-/healthy`, {})).status).toBe(200);
  });
});

describe('the rules loader, under random YAML', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());
  const good = YAML.parse(`
name: fuzzed
match: ['alertname = "X"']
strategies:
  - name: s
    steps:
      - http: { method: POST, url: "http://127.0.0.1:9/x/{{ labels.service }}" }
verify: { within: 1m }
`) as unknown;

  it('reports an alias to a missing anchor (found by this test) with its line, not a crash', () => {
    const file = join(dir.path, 'alias.yml');
    writeFileSync(file, 'name: x\nmatch:\n  - *nope\n');
    expect(loadPlaybookFile(file, 'alias.yml').errors).toEqual([expect.stringMatching(/^alias\.yml:3: invalid YAML: Unresolved alias/)]);
  });

  it('never throws; every problem is "file:line: ..."', () => {
    mkdirSync(dir.path, { recursive: true });
    const file = join(dir.path, 'p.yml');
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue({ maxDepth: 4 }).map((v) => YAML.stringify(v)),
          fc.tuple(fc.array(fc.nat(20), { minLength: 1, maxLength: 5 }), fc.jsonValue({ maxDepth: 2 })).map(([path, r]) => YAML.stringify(mutate(good, path, r))),
          fc.string({ maxLength: 300 }),
        ),
        (text) => {
          writeFileSync(file, text);
          const r = loadPlaybookFile(file, 'p.yml');
          for (const e of r.errors) expect(e).toMatch(/^p\.yml(:\d+)?: /);
          if (r.errors.length === 0) expect(r.playbooks.length + r.tuning.length).toBeLessThanOrEqual(1);
        },
      ),
      { seed: SEED, numRuns: 500 },
    );
  });
});

describe('templates, under random label values', () => {
  const vars = (v: string): TemplateVars => ({ labels: { v }, annotations: {}, alert: {}, run: { id: 'r', strategy: 's', mode: 'enforce' }, playbook: { name: 'p', category: 'c' }, env: {} });
  const value = fc.string({ unit: 'grapheme', maxLength: 200 });

  it('an exec argv element and env value are exactly the label value', () => {
    const exec = ACTIONS.get('exec');
    fc.assert(
      fc.property(value, (v) => {
        const r = exec?.render({ argv: ['prog', '{{ labels.v }}', '--x={{ labels.v }}'], env: { E: '{{ labels.v }}' } }, vars(v)) as { argv: string[]; env: Record<string, string> };
        expect(r.argv).toEqual(['prog', v, `--x=${v}`]);
        expect(r.env).toEqual({ E: v });
      }),
      { seed: SEED, numRuns: 1000 },
    );
  });

  it('a URL keeps its literal host, and the value is one path segment and one query value, or refused', () => {
    const http = ACTIONS.get('http');
    fc.assert(
      fc.property(value, (v) => {
        let r: RenderedHttp;
        try {
          r = http?.render({ url: 'http://127.0.0.1:9/items/{{ labels.v }}?q={{ labels.v }}', body: { v: '{{ labels.v }}' } }, vars(v)) as RenderedHttp;
        } catch (err) {
          expect(err).toBeInstanceOf(TemplateError);
          return;
        }
        const u = new URL(r.url);
        expect(u.host).toBe('127.0.0.1:9');
        const segs = u.pathname.split('/');
        expect(segs.length).toBe(3);
        expect(decodeURIComponent(segs[2] as string)).toBe(v);
        expect(u.searchParams.get('q')).toBe(v);
        expect(JSON.parse(r.body as string)).toEqual({ v });
      }),
      { seed: SEED, numRuns: 1000 },
    );
  });

  it('a header value is the label value, or refused when it holds a line break, NUL, another control character or non-ASCII', () => {
    const http = ACTIONS.get('http');
    fc.assert(
      fc.property(fc.oneof(value, value.map((v) => `${v}\r\nX-Injected: 1`), value.map((v) => `${v}\u0000`)), (v) => {
        try {
          const r = http?.render({ url: 'http://127.0.0.1:9/', headers: { 'x-v': '{{ labels.v }}' } }, vars(v)) as RenderedHttp;
          expect(/^[\t\x20-\x7e]*$/.test(v)).toBe(true);
          expect(r.headers['x-v']).toBe(v);
        } catch (err) {
          expect(err).toBeInstanceOf(TemplateError);
          expect(/^[\t\x20-\x7e]*$/.test(v)).toBe(false);
        }
      }),
      { seed: SEED, numRuns: 1000 },
    );
  });
});
