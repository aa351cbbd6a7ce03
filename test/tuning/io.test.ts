/**
 * A tuning knob read and written through the action layer, for each way an app exposes one:
 * a JSON key behind an admin endpoint (a real HTTP server on 127.0.0.1, with a bearer token
 * from the environment), a key of a YAML or JSON file the app watches (comments kept, atomic
 * write), and a command (argv, no shell: the value is one argv element).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KnobAccess, TuningKnob } from '../../src/rules/tuning.js';
import { knobIO } from '../../src/tuning/io.js';
import { tempDir } from '../helpers/index.js';

const log = pino({ level: 'silent' });
const signal = () => AbortSignal.timeout(10_000);
const knob = (access: KnobAccess, over: Partial<TuningKnob> = {}): TuningKnob => ({ name: 'workers', type: 'integer', min: 1, max: 64, step: '*2', direction: 'down', access, ...over });

let dir: { path: string; cleanup: () => void };
beforeEach(() => {
  dir = tempDir();
});
afterEach(() => dir.cleanup());

describe('an http knob', () => {
  let server: Server;
  let url = '';
  let state: Record<string, unknown> = {};
  const seen: Array<{ method: string; auth: string | undefined; body: string }> = [];
  beforeEach(async () => {
    state = { pool: { workers: 16 }, mode: 'fast' };
    seen.length = 0;
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', auth: req.headers.authorization, body });
        if (req.method === 'PATCH') state = { ...state, pool: { ...(state.pool as object), ...(JSON.parse(body) as { pool: object }).pool } };
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(state));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/admin/config`;
    process.env.KNOB_TEST_TOKEN = 'secret-token';
  });
  afterEach(async () => {
    delete process.env.KNOB_TEST_TOKEN;
    await new Promise((r) => server.close(r));
  });

  it('reads a nested JSON key and writes {key: value} with the method and the templated header', async () => {
    const io = knobIO('p', 'app', knob({ kind: 'http', url, key: 'pool.workers', method: 'PATCH', headers: { authorization: 'Bearer {{ env.KNOB_TEST_TOKEN }}' } }), log);
    expect(await io.read(signal())).toBe(16);
    await io.write(8, signal());
    expect(await io.read(signal())).toBe(8);
    expect(seen.map((s) => s.method)).toEqual(['GET', 'PATCH', 'GET']);
    expect(seen.every((s) => s.auth === 'Bearer secret-token')).toBe(true);
    expect(JSON.parse(seen[1]?.body ?? '')).toEqual({ pool: { workers: 8 } });
  });

  it('says what is wrong when the key is not a number', async () => {
    const io = knobIO('p', 'app', knob({ kind: 'http', url, key: 'mode', method: 'PUT', headers: {} }), log);
    await expect(io.read(signal())).rejects.toThrow(/"mode": workers is "fast", not a number/);
  });
});

describe('a file knob', () => {
  it('reads and writes a YAML key, keeping the comments', async () => {
    const file = join(dir.path, 'app.yml');
    writeFileSync(file, '# the app watches this file\npool:\n  workers: 16 # per CPU\n  queue: 100\n');
    const io = knobIO('p', 'app', knob({ kind: 'file', path: file, key: 'pool.workers' }), log);
    expect(await io.read(signal())).toBe(16);
    await io.write(8, signal());
    expect(await io.read(signal())).toBe(8);
    expect(readFileSync(file, 'utf8')).toBe('# the app watches this file\npool:\n  workers: 8 # per CPU\n  queue: 100\n');
  });

  it('reads and writes a JSON key', async () => {
    const file = join(dir.path, 'app.json');
    writeFileSync(file, JSON.stringify({ cache: { mb: 64 } }));
    const io = knobIO('p', 'app', knob({ kind: 'file', path: file, key: 'cache.mb' }, { type: 'number' }), log);
    await io.write(32, signal());
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ cache: { mb: 32 } });
    expect(await io.read(signal())).toBe(32);
  });
});

describe('a command knob', () => {
  it('reads the last line the read command prints, and passes the value as one argv element', async () => {
    const file = join(dir.path, 'workers');
    writeFileSync(file, '16\n');
    const write = ['node', '-e', 'require("node:fs").writeFileSync(process.argv[1], process.argv[2] + "\\n")', file, '{{ knob.value }}'];
    const io = knobIO('p', 'app', knob({ kind: 'command', read: ['cat', file], write, env: {} }), log);
    expect(await io.read(signal())).toBe(16);
    await io.write(8, signal());
    expect(readFileSync(file, 'utf8')).toBe('8\n');
    expect(await io.read(signal())).toBe(8);
  });

  it('reads an enum value as text', async () => {
    const file = join(dir.path, 'mode');
    writeFileSync(file, 'fast\n');
    const io = knobIO('p', 'app', knob({ kind: 'command', read: ['cat', file], write: ['true', '{{ knob.value }}'], env: {} }, { type: 'enum', values: ['slow', 'fast'] }), log);
    expect(await io.read(signal())).toBe('fast');
  });
});
