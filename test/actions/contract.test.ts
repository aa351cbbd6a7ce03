/**
 * All seven action types against the shared contract (./contract.ts), with real parts: HTTP
 * servers on 127.0.0.1 (a tiny fake of Prometheus' /api/v1/query for `query`), real files in
 * temp dirs, real child processes and signals. Then what is specific to each action.
 *
 * A test named "[KNOWN BUG: ...]" runs with it.fails: it documents a bug in src/ and will turn
 * red once it is fixed (then drop the knownBugs entry / the `.fails`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTIONS, ActionError, type ActionResult } from '../../src/actions/index.js';
import type { RenderedHttp } from '../../src/actions/http.js';
import { TemplateError } from '../../src/rules/template.js';
import { type Recorded, recordingServer, tempDir, waitFor } from '../helpers/index.js';
import { actionContract, contracted, EVIL, type Example, expectActionError, expectActionResult, HOSTILE } from './contract.js';
import { closedPort, ctxWith, type FakePrometheus, fakePrometheus, hangingServer, SECRET_ENV, settleWithin, varsFor } from './parts.js';

const act = (type: string) => {
  const a = ACTIONS.get(type);
  if (!a) throw new Error(`no action ${type}`);
  return a;
};

/** render + run, as the engine does; rejections are returned, not thrown. */
async function runAction(type: string, args: unknown, labels: Record<string, string> = {}, prometheusUrl: string | null = null) {
  const rendered = act(type).render(args, varsFor(labels));
  return act(type)
    .run(rendered, ctxWith(undefined, prometheusUrl))
    .then(
      (res) => ({ ok: true as const, res }),
      (err: unknown) => ({ ok: false as const, err }),
    );
}

async function failure(type: string, args: unknown, labels: Record<string, string> = {}, prometheusUrl: string | null = null): Promise<ActionError> {
  const r = await runAction(type, args, labels, prometheusUrl);
  expect(r.ok, `${type} run should fail`).toBe(false);
  const err = (r as { err: unknown }).err;
  expectActionError(err);
  return err;
}

let tmp: { path: string; cleanup: () => void };
let seq = 0;
const tmpFile = (name: string) => join(tmp.path, `${seq++}-${name}`);

beforeAll(() => {
  tmp = tempDir('promedic-actions-');
});
afterAll(() => tmp.cleanup());

it('every registered action type is run through the contract', () => {
  expect([...contracted].sort()).toEqual([...ACTIONS.keys()].sort());
});

// ---------------------------------------------------------------------------------------------
// http

/** The app answers /status/NNN with NNN, everything else with 200. */
const statusFor = (r: Recorded) => Number(/^\/status\/(\d{3})/.exec(r.url)?.[1] ?? 200);

const httpFrame = (rendered: unknown) => {
  const r = rendered as RenderedHttp;
  const u = new URL(r.url);
  const segs = u.pathname.split('/');
  const body = JSON.parse(r.body ?? 'null') as Record<string, unknown>;
  return { method: r.method, origin: u.origin, segs: segs.length, first: segs[1], last: segs[3], params: [...u.searchParams.keys()], hash: u.hash, headers: r.headers, body: { ...body, msg: null }, expect: r.expect };
};
const httpSlots = (rendered: unknown) => {
  const r = rendered as RenderedHttp;
  const u = new URL(r.url);
  return [decodeURIComponent(u.pathname.split('/')[2] ?? ''), u.searchParams.get('who') ?? '', String((JSON.parse(r.body ?? '{}') as { msg: unknown }).msg)];
};

describe('http', () => {
  let app: Awaited<ReturnType<typeof recordingServer>>;
  let hang: Awaited<ReturnType<typeof hangingServer>>;
  beforeAll(async () => {
    app = await recordingServer(statusFor);
    hang = await hangingServer();
  });
  afterAll(async () => {
    await app.close();
    await hang.close();
  });

  actionContract('http', {
    valid: () => ({ args: { method: 'POST', url: `${app.url}/api/{{ labels.job }}/restart`, headers: { 'X-Alert': '{{ labels.alertname }}' }, body: { instance: '{{ labels.instance }}' } } }),
    afterRun: (res) => {
      expect(res.changed).toBe(true);
      const last = app.calls.at(-1) as Recorded;
      expect(last.method).toBe('POST');
      expect(last.url).toBe('/api/api/restart');
      expect(last.headers['x-alert']).toBe('HighLatency');
      expect(JSON.parse(last.body)).toEqual({ instance: 'web-1:9100' });
    },
    failing: () => ({ args: { url: `${app.url}/status/503` }, retryable: true }),
    slow: () => ({ args: { url: `${hang.url}/slow` } }),
    invalid: [
      { args: { url: 42 }, path: ['url'] },
      { args: { url: 'ftp://example.com/x' }, path: ['url'] },
      { args: { url: 'http://127.0.0.1/x', method: 'TRACE' }, path: ['method'] },
      { args: { url: 'http://127.0.0.1/x', headers: { a: 1 } }, path: ['headers', 'a'] },
      { args: { url: 'http://127.0.0.1/x', expect_status: 'ok' }, path: ['expect_status'] },
      { args: { url: 'http://127.0.0.1/x', body: { deep: ['{{ nope.x }}'] } }, path: ['body', 'deep', '0'] },
      { args: { url: 'http://127.0.0.1/x', extra: 1 }, path: ['extra'] },
      { args: { method: 'GET' }, path: ['url'] },
    ],
    literal: [
      { url: 'http://{{ labels.host }}/x' },
      { url: 'http://127.0.0.1:{{ labels.port }}/x' },
      { url: 'http://user@{{ labels.host }}/x' },
      { url: '{{ labels.url }}' },
      { url: 'https://{{ labels.host }}' },
    ],
    hostile: {
      args: { method: 'POST', url: `http://127.0.0.1:9/api/${EVIL}/restart?who=${EVIL}`, headers: { 'x-static': 'yes' }, body: { msg: EVIL, n: 1 } },
      slots: httpSlots,
      frame: httpFrame,
      refused: ['dot-dot segment'],
    },
  });

  it('refuses a URL whose host or port is templated at check()', () => {
    for (const url of ['http://{{ labels.host }}/x', 'http://127.0.0.1:{{ labels.port }}/x']) {
      const problems = act('http').check({ url });
      expect(problems.map((p) => p.path)).toContainEqual(['url']);
      expect(problems.map((p) => p.message).join('\n')).toMatch(/literal/);
    }
  });

  it('sends a label value containing /../ or ?a=b# percent-encoded inside its path segment and query value', async () => {
    const target = '/../admin?a=b#frag';
    const before = app.calls.length;
    const r = await runAction('http', { url: `${app.url}/api/{{ labels.target }}/restart?who={{ labels.target }}` }, { target });
    expect(r.ok).toBe(true);
    expect(app.calls.length).toBe(before + 1);
    expect(app.calls.at(-1)?.url).toBe('/api/%2F..%2Fadmin%3Fa%3Db%23frag/restart?who=%2F..%2Fadmin%3Fa%3Db%23frag');
  });

  it('refuses a label value that would make a "." or ".." path segment, and sends nothing', async () => {
    for (const target of ['..', '.']) {
      const before = app.calls.length;
      expect(() => act('http').render({ url: `${app.url}/api/{{ labels.target }}/restart` }, varsFor({ target }))).toThrow(/"\." or "\.\." segment/);
      expect(app.calls.length).toBe(before);
    }
    // Dots inside a segment are fine.
    const r = await runAction('http', { url: `${app.url}/api/{{ labels.target }}/restart` }, { target: 'v1..2' });
    expect(r.ok).toBe(true);
    expect(app.calls.at(-1)?.url).toBe('/api/v1..2/restart');
  });

  it('refuses a header value containing CR/LF at render (check() cannot know the value)', async () => {
    const args = { url: `${app.url}/x`, headers: { 'X-Instance': '{{ labels.instance }}' } };
    expect(act('http').check(args)).toEqual([]);
    for (const instance of ['a\r\nX-Injected: 1', 'a\nb', 'a\rb', 'a\0b']) {
      expect(() => act('http').render(args, varsFor({ instance }))).toThrow(TemplateError);
    }
    expect((act('http').render(args, varsFor({ instance: 'web-1 "quoted"' })) as RenderedHttp).headers['x-instance']).toBe('web-1 "quoted"');
  });

  it('puts hostile values into a JSON body as JSON strings, verbatim', async () => {
    const labels = Object.fromEntries(Object.entries(HOSTILE).map(([, v], i) => [`h${i}`, v]));
    const body = Object.fromEntries(Object.keys(labels).map((k) => [k, `{{ labels.${k} }}`]));
    const r = await runAction('http', { method: 'PUT', url: `${app.url}/json`, body }, labels);
    expect(r.ok).toBe(true);
    const last = app.calls.at(-1) as Recorded;
    expect(last.method).toBe('PUT');
    expect(last.headers['content-type']).toBe('application/json');
    expect(JSON.parse(last.body)).toEqual(labels);
  });

  it('a 5xx or 429 is retryable, a 4xx is not, and the response excerpt is kept', async () => {
    for (const [status, retryable] of [
      [500, true],
      [503, true],
      [429, true],
      [400, false],
      [404, false],
      [409, false],
    ] as const) {
      const err = await failure('http', { url: `${app.url}/status/${status}` });
      expect(err.retryable, `status ${status}`).toBe(retryable);
      expect(err.message).toContain(String(status));
      expect(err.output).toContain('"ok":false');
    }
  });

  it('expect_status decides what counts as success', async () => {
    const r = await runAction('http', { url: `${app.url}/status/404`, expect_status: [404, 410] });
    expect(r.ok).toBe(true);
    const err = await failure('http', { url: `${app.url}/x`, expect_status: 204 });
    expect(err.retryable).toBe(false);
  });

  it('a network error (nothing listening) is retryable', async () => {
    const port = await closedPort();
    const err = await failure('http', { url: `http://127.0.0.1:${port}/x` });
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/ECONNREFUSED/);
  });

  it('a GET is not reported as a change', async () => {
    const r = await runAction('http', { url: `${app.url}/health` });
    expect(r.ok && r.res.changed).toBe(false);
  });

  describe('redirects', () => {
    // A server that redirects by path: /to/<status>/<location...>, and records every request.
    let redir: { url: string; calls: Array<{ method: string; url: string; body: string }>; close: () => Promise<void> };
    let other: Awaited<ReturnType<typeof recordingServer>>;
    beforeAll(async () => {
      other = await recordingServer(() => 200);
      const { createServer } = await import('node:http');
      const calls: Array<{ method: string; url: string; body: string }> = [];
      const server = createServer((req, res) => {
        let body = '';
        req.on('data', (d: Buffer) => (body += d.toString()));
        req.on('end', () => {
          calls.push({ method: req.method ?? '', url: req.url ?? '', body });
          const m = /^\/to\/(\d{3})\/(.*)$/.exec(req.url ?? '');
          if (m) {
            res.writeHead(Number(m[1]), { location: decodeURIComponent(m[2] as string) });
            res.end();
          } else res.end('landed');
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      redir = { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, calls, close: () => new Promise<void>((r) => server.close(() => r())) };
    });
    afterAll(async () => {
      await redir.close();
      await other.close();
    });
    const to = (status: number, location: string) => `/to/${status}/${encodeURIComponent(location)}`;

    it('are not followed by default: a 3xx is an unexpected, non-retryable status and the Location is not visited', async () => {
      const before = other.calls.length;
      const err = await failure('http', { method: 'POST', url: `${redir.url}${to(302, `${other.url}/steal`)}` });
      expect(err.retryable).toBe(false);
      expect(err.message).toMatch(/unexpected status 302/);
      expect(other.calls.length).toBe(before);
    });

    it('follow_redirects: N follows up to N hops within the same origin, keeping method and body on 307/308', async () => {
      redir.calls.length = 0;
      const start = `${redir.url}${to(307, to(308, '/final'))}`;
      const r = await runAction('http', { method: 'PUT', url: start, body: { v: 1 }, follow_redirects: 2 });
      expect(r.ok).toBe(true);
      expect(redir.calls.map((c) => [c.method, c.url.startsWith('/to/') ? 'hop' : c.url, c.body])).toEqual([
        ['PUT', 'hop', '{"v":1}'],
        ['PUT', 'hop', '{"v":1}'],
        ['PUT', '/final', '{"v":1}'],
      ]);
    });

    it('a 303 (and a 302 after a POST) continues as a GET without the body, as fetch does', async () => {
      redir.calls.length = 0;
      expect((await runAction('http', { method: 'POST', url: `${redir.url}${to(303, '/after')}`, body: 'x', follow_redirects: 1 })).ok).toBe(true);
      expect((await runAction('http', { method: 'POST', url: `${redir.url}${to(302, '/after2')}`, body: 'x', follow_redirects: 1 })).ok).toBe(true);
      expect(redir.calls.filter((c) => !c.url.startsWith('/to/')).map((c) => [c.method, c.url, c.body])).toEqual([
        ['GET', '/after', ''],
        ['GET', '/after2', ''],
      ]);
    });

    it('more hops than allowed fail the step, naming the limit', async () => {
      const err = await failure('http', { url: `${redir.url}${to(302, to(302, '/final'))}`, follow_redirects: 1 });
      expect(err.retryable).toBe(false);
      expect(err.message).toMatch(/more than 1 redirects/);
    });

    it('never to another origin (another port counts), even when allowed: the step fails and the other host is not called', async () => {
      const before = other.calls.length;
      for (const loc of [`${other.url}/steal`, `//127.0.0.1:${new URL(other.url).port}/steal`, 'https://127.0.0.1/x']) {
        const err = await failure('http', { url: `${redir.url}${to(301, loc)}`, follow_redirects: 5 });
        expect(err.retryable).toBe(false);
        expect(err.message).toMatch(/another origin refused/);
      }
      expect(other.calls.length).toBe(before);
    });

    it('check() bounds follow_redirects', () => {
      for (const v of [-1, 1.5, 11, 'yes', true]) {
        expect(act('http').check({ url: 'http://127.0.0.1/x', follow_redirects: v }).map((p) => p.path)).toEqual([['follow_redirects']]);
      }
      expect(act('http').check({ url: 'http://127.0.0.1/x', follow_redirects: 3 })).toEqual([]);
    });

    it('an expected 3xx is not followed', async () => {
      const r = await runAction('http', { url: `${redir.url}${to(302, '/final')}`, follow_redirects: 3, expect_status: 302 });
      expect(r.ok).toBe(true);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// notify

describe('notify', () => {
  let hook: Awaited<ReturnType<typeof recordingServer>>;
  let hang: Awaited<ReturnType<typeof hangingServer>>;
  beforeAll(async () => {
    hook = await recordingServer(statusFor);
    hang = await hangingServer();
  });
  afterAll(async () => {
    await hook.close();
    await hang.close();
  });

  actionContract('notify', {
    valid: () => ({ args: { url: `${hook.url}/services/T000/B000`, text: '{{ labels.alertname }} on {{ labels.instance }}: restarting' } }),
    afterRun: (res) => {
      expect(res.output).toContain('200');
      const last = hook.calls.at(-1) as Recorded;
      expect(last.method).toBe('POST');
      expect(last.url).toBe('/services/T000/B000');
      expect(last.headers['content-type']).toBe('application/json');
      expect(JSON.parse(last.body)).toEqual({ text: 'HighLatency on web-1:9100: restarting' });
    },
    failing: () => ({ args: { url: `${hook.url}/status/502`, text: 'x' }, retryable: true }),
    slow: () => ({ args: { url: `${hang.url}/hook`, text: 'x' } }),
    invalid: [
      { args: { url: 'http://127.0.0.1/hook' }, path: ['text'] },
      { args: { url: 'http://127.0.0.1/hook', text: 5 }, path: ['text'] },
      { args: { url: 'http://127.0.0.1/hook', text: '{{ secrets.x }}' }, path: ['text'] },
      { args: { text: 'x' }, path: ['url'] },
    ],
    literal: [{ url: 'http://{{ labels.host }}/hook', text: 'x' }],
    hostile: {
      args: { url: 'http://127.0.0.1:9/hook', text: `alert ${EVIL} fired` },
      slots: (r) => [(JSON.parse((r as RenderedHttp).body ?? '{}') as { text: string }).text],
      frame: (r) => {
        const { method, url, headers, expect: e, body } = r as RenderedHttp;
        return { method, url, headers, expect: e, keys: Object.keys(JSON.parse(body ?? '{}') as object) };
      },
    },
  });

  it('POSTs a Slack-compatible {"text": ...} body with hostile values kept verbatim', async () => {
    const text = HOSTILE.newlines + HOSTILE.quotes;
    const r = await runAction('notify', { url: `${hook.url}/slack`, text: 'from {{ labels.instance }}' }, { instance: text });
    expect(r.ok).toBe(true);
    const last = hook.calls.at(-1) as Recorded;
    expect(last.method).toBe('POST');
    expect(JSON.parse(last.body)).toEqual({ text: `from ${text}` });
  });

  it('a body replaces the default message (other chat tools)', async () => {
    const r = await runAction('notify', { url: `${hook.url}/teams`, body: { title: '{{ labels.alertname }}', n: 1 } });
    expect(r.ok).toBe(true);
    expect(JSON.parse((hook.calls.at(-1) as Recorded).body)).toEqual({ title: 'HighLatency', n: 1 });
  });

  it('a 4xx from the webhook is not retryable', async () => {
    expect((await failure('notify', { url: `${hook.url}/status/403`, text: 'x' })).retryable).toBe(false);
  });

  it('never expands a template that arrives inside a label value', async () => {
    const r = await runAction('notify', { url: `${hook.url}/slack`, text: 'alert {{ labels.instance }}' }, { instance: '{{ env.PROMEDIC_TOKEN }}' });
    expect(r.ok).toBe(true);
    // Today the webhook receives {"text":"alert tok-SECRET-0123456789"}.
    expect(JSON.parse((hook.calls.at(-1) as Recorded).body)).toEqual({ text: 'alert {{ env.PROMEDIC_TOKEN }}' });
    expect((hook.calls.at(-1) as Recorded).body).not.toContain(SECRET_ENV.PROMEDIC_TOKEN);
  });
});

// ---------------------------------------------------------------------------------------------
// exec

/** A script that prints the argv and env it received, so the test sees exactly what reached the child. */
let printer = '';

function pidOf(file: string): number | null {
  if (!existsSync(file)) return null;
  const pid = Number.parseInt(readFileSync(file, 'utf8'), 10);
  return Number.isInteger(pid) && pid > 1 ? pid : null;
}

/** Whether pid is a live process (a zombie waiting for its reaper counts as dead). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function killGroup(pid: number | null): void {
  if (!pid) return;
  for (const p of [-pid, pid]) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

describe('exec', () => {
  beforeAll(() => {
    printer = tmpFile('printer.mjs');
    writeFileSync(
      printer,
      [
        "const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(H\\d+|PROMEDIC_TOKEN|PATH)$/.test(k)));",
        'process.stdout.write(JSON.stringify({ argv: process.argv.slice(2), env, cwd: process.cwd() }));',
      ].join('\n'),
    );
  });

  actionContract('exec', {
    valid: () => ({ args: { argv: ['sh', '-c', 'echo "restarted $1"', 'sh', '{{ labels.instance }}'], env: { ALERT: '{{ labels.alertname }}' } } }),
    afterRun: (res) => {
      expect(res.output).toBe('restarted web-1:9100');
      expect(res.changed).toBe(true);
    },
    failing: () => ({ args: { argv: ['sh', '-c', 'echo cannot restart; exit 3'] }, retryable: true }),
    slow: () => {
      const pidfile = tmpFile('exec.pid');
      return {
        args: { argv: ['sh', '-c', 'echo $$ > "$1"; exec sleep 30', 'sh', pidfile] },
        // The child writes its pid; if run() left it running, kill its process group.
        cleanup: () => killGroup(pidOf(pidfile)),
      };
    },
    invalid: [
      { args: { argv: [] }, path: ['argv'] },
      { args: { argv: 'rm -rf /' }, path: ['argv'] },
      { args: { argv: ['ls', 1] }, path: ['argv'] },
      { args: { argv: ['ls'], env: { 'BAD-NAME': 'x' } }, path: ['env', 'BAD-NAME'] },
      { args: { argv: ['ls'], env: { A: 1 } }, path: ['env', 'A'] },
      { args: { argv: ['ls', '{{ nope.x }}'] }, path: ['argv', '1'] },
      { args: { argv: ['ls'], shell: true }, path: ['shell'] },
    ],
    literal: [{ argv: ['{{ labels.program }}', '-x'] }, { argv: ['/usr/bin/{{ labels.program }}'] }, { argv: ['ls'], cwd: '/srv/{{ labels.dir }}' }],
    hostile: {
      args: { argv: ['/usr/bin/ssh', EVIL, `--name=${EVIL}`, 'literal'], env: { TARGET: EVIL, FIXED: 'x' }, cwd: '/tmp' },
      slots: (r) => {
        const { argv, env } = r as { argv: string[]; env: Record<string, string> };
        return [argv[1] as string, argv[2] as string, env.TARGET as string];
      },
      frame: (r) => {
        const { argv, env, cwd } = r as { argv: string[]; env: Record<string, string>; cwd?: string };
        return { program: argv[0], argc: argv.length, last: argv[3], envKeys: Object.keys(env), fixed: env.FIXED, cwd };
      },
    },
  });

  it('passes each rendered template as exactly one literal argv element and env value (no shell)', async () => {
    const marker = tmpFile('pwned');
    const values = [...Object.values(HOSTILE), `$(touch ${marker})`, `; touch ${marker}`, `\`touch ${marker}\``];
    const labels = Object.fromEntries(values.map((v, i) => [`h${i}`, v]));
    const argv = [process.execPath, printer, ...values.map((_, i) => `{{ labels.h${i} }}`), '--opt={{ labels.h0 }}'];
    const env = Object.fromEntries(values.map((_, i) => [`H${i}`, `{{ labels.h${i} }}`]));
    const saved = process.env.PROMEDIC_TOKEN;
    process.env.PROMEDIC_TOKEN = 'parent-secret';
    try {
      const r = await runAction('exec', { argv, env }, labels);
      expect(r.ok, r.ok ? '' : String((r as { err: unknown }).err)).toBe(true);
      const out = JSON.parse((r as { res: ActionResult }).res.output ?? '') as { argv: string[]; env: Record<string, string> };
      expect(out.argv).toEqual([...values, `--opt=${values[0]}`]);
      for (const [i, v] of values.entries()) expect(out.env[`H${i}`]).toBe(v);
      // Only an allow-list of promedic's own environment reaches the child: never its token.
      expect(out.env.PROMEDIC_TOKEN).toBeUndefined();
      expect(out.env.PATH).toBe(process.env.PATH);
    } finally {
      if (saved === undefined) delete process.env.PROMEDIC_TOKEN;
      else process.env.PROMEDIC_TOKEN = saved;
    }
    expect(existsSync(marker)).toBe(false);
  });

  it('runs in the literal cwd', async () => {
    const r = await runAction('exec', { argv: [process.execPath, printer], cwd: tmp.path });
    expect(r.ok).toBe(true);
    expect((JSON.parse((r as { res: ActionResult }).res.output ?? '') as { cwd: string }).cwd).toBe(realpathSync(tmp.path));
  });

  it('a non-zero exit is a retryable ActionError with an excerpt of stdout and stderr', async () => {
    const err = await failure('exec', { argv: ['sh', '-c', 'echo out-line; echo err-line >&2; exit 7'] });
    expect(err.retryable).toBe(true);
    expect(err.message).toContain('exit code 7');
    expect(err.output).toContain('out-line');
    expect(err.output).toContain('err-line');
  });

  it('caps the output excerpt', async () => {
    const err = await failure('exec', { argv: [process.execPath, '-e', "process.stdout.write('x'.repeat(10000)); process.exit(1)"] });
    expect(err.output?.length).toBeLessThan(2100);
    expect(err.output).toMatch(/more bytes\)$/);
  });

  it('a missing program is a non-retryable ActionError', async () => {
    const err = await failure('exec', { argv: [join(tmp.path, 'no-such-program'), '--help'] });
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/ENOENT/);
  });

  it('an abort kills the whole process group (the child and what it started)', async () => {
    const pidfile = tmpFile('group.pid');
    const ac = new AbortController();
    const p = act('exec').run(
      act('exec').render({ argv: ['sh', '-c', 'sleep 30 & echo "$$ $!" > "$1"; wait', 'sh', pidfile] }, varsFor()),
      ctxWith(ac.signal),
    );
    const pids = await waitFor(() => {
      const t = existsSync(pidfile) ? readFileSync(pidfile, 'utf8').trim().split(' ').map(Number) : [];
      return t.length === 2 ? t : null;
    }, 5000, 'pidfile');
    try {
      ac.abort(new Error('cancelled by test'));
      const r = await settleWithin(p, 2000);
      expect(r.settled && !r.ok).toBe(true);
      await waitFor(() => pids.every((pid) => !alive(pid)), 2000, 'shell and its sleep to die');
    } finally {
      for (const pid of pids) killGroup(pid);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// signal

interface SleepExample extends Example {
  child: ChildProcess;
  exited: Promise<NodeJS.Signals | null>;
}

function sleeper(pidfileText?: (pid: number) => string): SleepExample {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_code, sig) => r(sig)));
  const pidfile = tmpFile('app.pid');
  writeFileSync(pidfile, pidfileText ? pidfileText(child.pid as number) : `${child.pid}\n`);
  return { args: { pidfile, signal: 'SIGTERM' }, child, exited, cleanup: () => child.kill('SIGKILL') };
}

describe('signal', () => {
  actionContract<SleepExample>('signal', {
    valid: () => sleeper(),
    afterRun: async (res, ex) => {
      expect(res.output).toBe(`sent SIGTERM to ${ex.child.pid}`);
      expect(await ex.exited).toBe('SIGTERM');
    },
    failing: () => {
      const pidfile = tmpFile('garbage.pid');
      writeFileSync(pidfile, 'not a pid\n');
      return { args: { pidfile, signal: 'SIGTERM' }, retryable: false };
    },
    invalid: [
      { args: { signal: 'SIGHUP' }, path: [] },
      { args: { pid: 1234, pidfile: '/run/x.pid', signal: 'SIGHUP' }, path: [] },
      { args: { pid: 1, signal: 'SIGHUP' }, path: ['pid'] },
      { args: { pid: 'self', signal: 'SIGHUP' }, path: ['pid'] },
      { args: { pid: 1234, signal: 'SIGNOPE' }, path: ['signal'] },
      { args: { pid: 1234, signal: 'constructor' }, path: ['signal'] },
      { args: { pid: 1234 }, path: ['signal'] },
    ],
    literal: [
      { pidfile: '/run/{{ labels.service }}.pid', signal: 'SIGHUP' },
      { pid: '{{ labels.pid }}', signal: 'SIGHUP' },
    ],
  });

  it('sends the signal to the process named by the pidfile, and it dies', async () => {
    const ex = sleeper();
    try {
      const r = await runAction('signal', ex.args);
      expect(r.ok).toBe(true);
      expect(await ex.exited).toBe('SIGTERM');
    } finally {
      ex.cleanup?.();
    }
  });

  it('a pidfile with garbage is a non-retryable error and signals nothing', async () => {
    for (const text of ['garbage', '', '0', '1', '-42']) {
      const pidfile = tmpFile('bad.pid');
      writeFileSync(pidfile, text);
      const err = await failure('signal', { pidfile, signal: 'SIGTERM' });
      expect(err.retryable, JSON.stringify(text)).toBe(false);
      expect(err.message).toContain(pidfile);
    }
  });

  it('refuses a pidfile with a number followed by garbage', async () => {
    const ex = sleeper((pid) => `${pid}junk\n`);
    try {
      const r = await runAction('signal', ex.args);
      expect(r.ok).toBe(false);
      expect(alive(ex.child.pid as number)).toBe(true);
    } finally {
      ex.cleanup?.();
    }
  });

  it('a missing pidfile is retryable (the app may be restarting); a gone pid is not', async () => {
    expect((await failure('signal', { pidfile: tmpFile('missing.pid'), signal: 'SIGHUP' })).retryable).toBe(true);
    const gone = await failure('signal', { pid: 2_147_483_646, signal: 'SIGHUP' });
    expect(gone.retryable).toBe(false);
    expect(gone.message).toMatch(/ESRCH/);
  });
});

// ---------------------------------------------------------------------------------------------
// config

const YAML_WITH_COMMENTS = `# app settings (comments must survive)
cache:
  size: 128 # MB
  ttl: 30s
# logging
log:
  level: info # one of debug, info, warn
`;

describe('config', () => {
  const yamlFile = (text = YAML_WITH_COMMENTS) => {
    const f = tmpFile('app.yml');
    writeFileSync(f, text);
    return f;
  };
  const jsonFile = (data: unknown = { cache: { size: 128 }, name: 'app' }) => {
    const f = tmpFile('app.json');
    writeFileSync(f, `${JSON.stringify(data, null, 2)}\n`);
    return f;
  };
  const undo = (res: ActionResult) => {
    expect(res.undo?.type).toBe('config');
    return act('config').run(res.undo?.args, ctxWith());
  };
  const ok = async (args: unknown, labels: Record<string, string> = {}) => {
    const r = await runAction('config', args, labels);
    if (!r.ok) throw r.err;
    return r.res;
  };

  actionContract('config', {
    valid: () => ({ args: { file: yamlFile(), key: 'cache.size', value: 256 } }),
    afterRun: (res, ex) => {
      const { file } = ex.args as { file: string };
      expect(res.changed).toBe(true);
      expect(res.undo).toEqual({ type: 'config', args: { file, key: ['cache', 'size'], value: 128, yaml: '128' } });
      expect(readFileSync(file, 'utf8')).toBe(YAML_WITH_COMMENTS.replace('size: 128', 'size: 256'));
    },
    failing: () => ({ args: { file: tmpFile('missing.yml'), key: 'a', value: 1 }, retryable: false }),
    invalid: [
      { args: { file: '/etc/app.yml', key: 'a' }, path: ['value'] },
      { args: { file: '/etc/app.yml', key: 'a..b', value: 1 }, path: ['key'] },
      { args: { file: '/etc/app.yml', key: 'a b', value: 1 }, path: ['key'] },
      { args: { file: 3, key: 'a', value: 1 }, path: ['file'] },
      { args: { key: 'a', value: 1 }, path: ['file'] },
      { args: { file: '/etc/app.yml', key: 'a', value: '{{ nope.x }}' }, path: ['value'] },
    ],
    literal: [
      { file: '/etc/{{ labels.app }}.yml', key: 'a', value: 1 },
      { file: '/etc/app.yml', key: '{{ labels.key }}', value: 1 },
    ],
    hostile: {
      args: { file: '/etc/app.yml', key: 'app.motd', value: `motd: ${EVIL}` },
      slots: (r) => [(r as { value: string }).value],
      frame: (r) => {
        const { file, key } = r as { file: string; key: string[] };
        return { file, key };
      },
    },
  });

  it('YAML: sets a key keeping every comment; the undo restores the old value exactly (byte for byte)', async () => {
    const f = yamlFile();
    const res = await ok({ file: f, key: 'log.level', value: '{{ labels.level }}' }, { level: 'debug' });
    const changed = readFileSync(f, 'utf8');
    expect(changed).toBe(YAML_WITH_COMMENTS.replace('level: info', 'level: debug'));
    for (const c of ['# app settings (comments must survive)', '# MB', '# logging', '# one of debug, info, warn']) expect(changed).toContain(c);
    expect(res.output).toBe('log.level: "info" -> "debug"');
    await undo(res);
    expect(readFileSync(f, 'utf8')).toBe(YAML_WITH_COMMENTS);
  });

  it('YAML: a key that did not exist is created, and the undo deletes it', async () => {
    const f = yamlFile();
    const res = await ok({ file: f, key: 'feature', value: true });
    expect(parseYaml(readFileSync(f, 'utf8'))).toMatchObject({ feature: true });
    expect(res.undo?.args).toEqual({ file: f, key: ['feature'] });
    await undo(res);
    expect(readFileSync(f, 'utf8')).toBe(YAML_WITH_COMMENTS);
  });

  it('YAML: a new key in an existing mapping is removed again by the undo', async () => {
    const f = yamlFile();
    await undo(await ok({ file: f, key: 'cache.mode', value: 'lru' }));
    expect(readFileSync(f, 'utf8')).toBe(YAML_WITH_COMMENTS);
  });

  it('YAML: undo of a key whose parents did not exist restores the file', async () => {
    const f = yamlFile();
    await undo(await ok({ file: f, key: 'feature.flags.fast', value: true }));
    expect(readFileSync(f, 'utf8')).toBe(YAML_WITH_COMMENTS);
  });

  it('YAML: undo restores a float written as 1.0 as a float', async () => {
    const text = 'ratio: 1.0 # sampling\n';
    const f = yamlFile(text);
    await undo(await ok({ file: f, key: 'ratio', value: 0.5 }));
    expect(readFileSync(f, 'utf8')).toBe(text);
  });

  it('YAML: a hostile value is written as one string scalar, never as YAML structure', async () => {
    const f = yamlFile();
    for (const v of Object.values(HOSTILE)) {
      await ok({ file: f, key: 'app.motd', value: '{{ labels.motd }}' }, { motd: v });
      const data = parseYaml(readFileSync(f, 'utf8')) as Record<string, unknown>;
      expect(data.app).toEqual({ motd: v });
      expect(Object.keys(data)).toEqual(['cache', 'log', 'app']);
      expect(data.cache).toEqual({ size: 128, ttl: '30s' });
    }
  });

  it('JSON: sets a key; the undo restores the old value, and deletes a key that did not exist', async () => {
    const f = jsonFile();
    const a = await ok({ file: f, key: 'cache.size', value: 512 });
    const b = await ok({ file: f, key: 'cache.mode', value: '{{ labels.mode }}' }, { mode: 'lru "fast"' });
    expect(JSON.parse(readFileSync(f, 'utf8'))).toEqual({ cache: { size: 512, mode: 'lru "fast"' }, name: 'app' });
    expect(b.undo?.args).toEqual({ file: f, key: ['cache', 'mode'] });
    await undo(b);
    await undo(a);
    expect(JSON.parse(readFileSync(f, 'utf8'))).toEqual({ cache: { size: 128 }, name: 'app' });
  });

  it('delete: true removes a key, and the undo puts it back', async () => {
    const f = yamlFile();
    const res = await ok({ file: f, key: 'cache.ttl', delete: true });
    expect(parseYaml(readFileSync(f, 'utf8'))).toEqual({ cache: { size: 128 }, log: { level: 'info' } });
    await undo(res);
    expect(parseYaml(readFileSync(f, 'utf8'))).toEqual({ cache: { size: 128, ttl: '30s' }, log: { level: 'info' } });
  });

  it('writes atomically (no temp files left) and refuses invalid YAML without touching it', async () => {
    const f = yamlFile('a: [1, 2\nb: }\n');
    const err = await failure('config', { file: f, key: 'a', value: 1 });
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/invalid YAML/);
    expect(readFileSync(f, 'utf8')).toBe('a: [1, 2\nb: }\n');
    expect(readdirSync(tmp.path).filter((n) => n.includes('.promedic-'))).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// wait

describe('wait', () => {
  actionContract('wait', {
    valid: () => ({ args: '20ms' }),
    afterRun: (res) => expect(res.output).toBe('waited 20ms'),
    slow: () => ({ args: '1h' }),
    literal: ['{{ labels.duration }}'],
    invalid: [
      { args: '10 seconds', path: [] },
      { args: '-1s', path: [] },
      { args: 10, path: [] },
    ],
  });

  it('waits about as long as asked', async () => {
    const t0 = Date.now();
    const r = await runAction('wait', '100ms');
    expect(r.ok).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(95);
  });

  it('renders Prometheus-style durations', () => {
    expect(act('wait').render('1m30s', varsFor())).toEqual({ ms: 90_000 });
  });
});

// ---------------------------------------------------------------------------------------------
// query

/** The string literals of a PromQL expression, decoded. */
function promqlStrings(expr: string): string[] {
  const out: string[] = [];
  parser.parse(expr).iterate({
    enter(n) {
      if (n.name !== 'StringLiteral') return;
      const lit = expr.slice(n.from, n.to);
      const body = lit.slice(1, -1);
      out.push(
        // Unescaped as Prometheus' lexer does (Go string escapes: \n, \r, \t, \xHH, \", \\).
        lit.startsWith('`')
          ? body
          : body.replace(/\\(x[0-9a-fA-F]{2}|.)/gs, (_, c: string) =>
              c.length === 3 ? String.fromCharCode(parseInt(c.slice(1), 16)) : (({ n: '\n', r: '\r', t: '\t' })[c as 'n' | 'r' | 't'] ?? c),
            ),
      );
    },
  });
  return out;
}

/** The syntax tree of a PromQL expression without the text of its literals (and whether it has errors). */
function promqlShape(expr: string): string[] {
  const out: string[] = [];
  parser.parse(expr).iterate({
    enter(n) {
      out.push(n.type.isError ? 'ERROR' : n.name);
    },
  });
  return out;
}

describe('query', () => {
  let prom: FakePrometheus;
  let hang: Awaited<ReturnType<typeof hangingServer>>;
  beforeAll(async () => {
    prom = await fakePrometheus();
    hang = await hangingServer();
  });
  afterAll(async () => {
    await prom.close();
    await hang.close();
  });

  actionContract('query', {
    valid: () => {
      prom.answer({ values: ['1'] });
      return { args: { expr: 'up{job="{{ labels.job }}", instance="{{ labels.instance }}"}', condition: { op: '==', value: 1 } }, prometheusUrl: prom.url };
    },
    afterRun: (res) => {
      expect(prom.queries.at(-1)).toBe('up{job="api", instance="web-1:9100"}');
      expect(res.output).toBe('up{job="api", instance="web-1:9100"} -> [1]');
    },
    failing: () => {
      prom.answer({ values: ['0', '1'] });
      return { args: { expr: 'up', condition: { op: '==', value: 1 } }, prometheusUrl: prom.url, retryable: true };
    },
    slow: () => ({ args: { expr: 'up' }, prometheusUrl: hang.url }),
    invalid: [
      { args: { expr: 'rate(x[5m]' }, path: ['expr'] },
      { args: { expr: '' }, path: ['expr'] },
      { args: { expr: 'up', condition: { op: '=~', value: 1 } }, path: ['condition', 'op'] },
      { args: { expr: 'up', condition: { op: '>', value: '1' } }, path: ['condition', 'value'] },
      { args: { expr: 'up', condition: { empty: 'yes' } }, path: ['condition', 'empty'] },
      { args: { expr: 'up', condition: 1 }, path: ['condition'] },
    ],
    hostile: {
      args: { expr: `sum(up{job="${EVIL}", instance=~"${EVIL}.*"}) == 1`, condition: { op: '>', value: 0 } },
      slots: (r) => promqlStrings((r as { expr: string }).expr),
      frame: (r) => ({ shape: promqlShape((r as { expr: string }).expr), condition: (r as { condition: unknown }).condition }),
    },
  });

  it('check() rejects PromQL syntax errors, with the column', () => {
    for (const expr of ['rate(x[5m]', 'sum(up', 'up{job="a"', 'up ==', 'rate(x[5m]) by']) {
      const problems = act('query').check({ expr });
      expect(problems.map((p) => p.path), expr).toContainEqual(['expr']);
      expect(problems.map((p) => p.message).join('\n'), expr).toMatch(/PromQL syntax error at column \d+/);
    }
    expect(act('query').check({ expr: 'rate(http_requests_total{job="{{ labels.job }}"}[5m]) > 0' })).toEqual([]);
  });

  it('escapes " \\ and newlines in label values so they stay inside the string literal (exact expr received)', async () => {
    prom.answer({ values: ['1'] });
    const instance = 'x"} or vector(1) or up{a="\\\nb';
    const r = await runAction('query', { expr: 'up{instance="{{ labels.instance }}"}' }, { instance }, prom.url);
    expect(r.ok).toBe(true);
    expect(prom.queries.at(-1)).toBe('up{instance="x\\"} or vector(1) or up{a=\\"\\\\\\nb"}');
    expect(promqlStrings(prom.queries.at(-1) as string)).toEqual([instance]);
    expect(promqlShape(prom.queries.at(-1) as string)).toEqual(promqlShape('up{instance="x"}'));
  });

  it('a condition that is not met is a retryable ActionError with the values', async () => {
    prom.answer({ values: ['0.2', '3'] });
    const err = await failure('query', { expr: 'errors_ratio', condition: { op: '<', value: 1 } }, {}, prom.url);
    expect(err.retryable).toBe(true);
    expect(err.output).toBe('errors_ratio -> [0.2, 3]');
  });

  it('conditions: comparisons against every sample, and empty / non-empty results', async () => {
    prom.answer({ values: ['2', '5'] });
    expect((await runAction('query', { expr: 'x', condition: { op: '>=', value: 2 } }, {}, prom.url)).ok).toBe(true);
    expect((await runAction('query', { expr: 'x', condition: { op: '>', value: 2 } }, {}, prom.url)).ok).toBe(false);
    prom.answer({ values: [] });
    expect((await runAction('query', { expr: 'x', condition: { empty: true } }, {}, prom.url)).ok).toBe(true);
    expect((await failure('query', { expr: 'x' }, {}, prom.url)).retryable).toBe(true);
    expect((await failure('query', { expr: 'x', condition: { op: '==', value: 0 } }, {}, prom.url)).retryable).toBe(true);
  });

  it('a Prometheus error is not retryable; Prometheus unreachable is; no Prometheus configured is not', async () => {
    prom.answer({ error: '1:1: parse error: unexpected end of input', status: 400 });
    const bad = await failure('query', { expr: 'up' }, {}, prom.url);
    expect(bad.retryable).toBe(false);
    expect(bad.message).toContain('parse error');
    const port = await closedPort();
    expect((await failure('query', { expr: 'up' }, {}, `http://127.0.0.1:${port}`)).retryable).toBe(true);
    expect((await failure('query', { expr: 'up' }, {}, null)).retryable).toBe(false);
  });

  describe('injection and addressing', () => {
    it("refuses references in single-quoted or backtick PromQL strings, which promqlString cannot escape for", () => {
      for (const expr of ["up{job='{{ labels.job }}'}", 'up{job=`{{ labels.job }}`}']) {
        expect(act('query').check({ expr }).map((p) => p.message).join('\n')).toMatch(/inside double-quoted strings/);
      }
      expect(act('query').check({ expr: 'up{job="{{ labels.job }}"}' })).toEqual([]);
    });

    it('check() refuses a reference outside a string literal', () => {
      expect(act('query').check({ expr: 'up > {{ labels.threshold }}' })).not.toEqual([]);
    });

    it('queries a Prometheus served under a path prefix', async () => {
      const prefixed = await fakePrometheus('/prometheus');
      try {
        const r = await runAction('query', { expr: 'up' }, {}, `${prefixed.url}/prometheus`);
        expect(prefixed.queries).toEqual(['up']);
        expect(r.ok).toBe(true);
      } finally {
        await prefixed.close();
      }
    });
  });
});

// Sanity: the hostile list really is hostile for the slots the contract checks.
it('the hostile values cover shell, option, newline, quote, path, query and template injection', () => {
  const all = Object.values(HOSTILE).join('\u0000');
  for (const needle of ['$(', '`', ';', '-o', '\n', '\r', '"', "'", '/../', '?', '#', '{{', '..']) expect(all).toContain(needle);
});
