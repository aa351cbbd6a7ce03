/**
 * Hostile values at the extremes, end to end: alerts posted to the webhook whose label value is
 * (a) shell and template syntax, option prefixes, CR/LF, quotes, `..`, right-to-left unicode,
 * (b) the same with a NUL byte in it, and (c) a 1,000,000-character string of all of that (1.05 MB
 * of UTF-8), each run through every action type that takes alert data: http (path and
 * query, header, JSON body), exec (argv, env), config, notify and query. (signal and wait take
 * no alert data.) Every value either arrives byte for byte in its one slot, or the step fails
 * with a non-retryable error that names the slot and runs nothing; promedic stays up and its
 * history stays readable.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Promedic, createPromedic } from '../../src/index.js';
import type { RunRecord } from '../../src/store/types.js';
import { fakePrometheus, type FakePrometheus } from '../actions/parts.js';
import { amPayload, rawRequest, recordingServer, tempDir, waitFor } from '../helpers/index.js';

const MILD = `x; rm -rf / $(id) \`id\` | & > /tmp/p {{ env.HOME }} {{ labels.alertname }} --help -rf ' " \\ \r\n ../../etc/passwd %2e%2e ?a=b#c ü 日本 \u202eevil`;
const NUL = `before\u0000after ${MILD}`;
const BIG = (MILD.replace(/\r|\n/g, ' ') + ' ').repeat(Math.ceil(1_000_000 / (MILD.length + 1))).slice(0, 1_000_000);
const PLAIN = `x; rm -rf / $(id) {{ env.HOME }} --help ' " \\ ../`;
const VALUES = { mild: MILD, nul: NUL, big: BIG } as const;
type Kind = keyof typeof VALUES;

let dir: { path: string; cleanup: () => void };
let app: Awaited<ReturnType<typeof recordingServer>>;
let prom: FakePrometheus;
let p: Promedic;
const out = (name: string, kind: Kind) => join(dir.path, `${name}-${kind}.out`);
const cfgFile = (kind: Kind) => join(dir.path, `app-${kind}.yml`);

function playbooks(): string {
  // One playbook per slot, so a refused value in one slot does not hide what another did.
  // Each matches one kind (label k), so files and calls can be told apart.
  const pb = (name: string, step: string) => `
  - name: ${name}
    match: ['alertname = "Hostile"']
    target: [k]
    strategies:
      - steps:
${step}
    verify: { within: 60s }`;
  const node = process.execPath;
  return `playbooks:${[
    pb('http-path', `          - http: { method: POST, url: "${app.url}/p/{{ labels.k }}/{{ labels.v }}?q={{ labels.v }}" }`),
    pb('http-header', `          - http: { method: POST, url: "${app.url}/h/{{ labels.k }}", headers: { x-v: "{{ labels.v }}" } }`),
    pb('http-body', `          - http: { method: POST, url: "${app.url}/b/{{ labels.k }}", body: { v: "{{ labels.v }}", n: 1 } }`),
    pb(
      'exec-argv',
      `          - exec: { argv: ["${node}", "-e", "require('fs').writeFileSync(process.env.OUT, process.argv[1])", "{{ labels.v }}"], env: { OUT: "${dir.path}/exec-argv-{{ labels.k }}.out" } }`,
    ),
    pb(
      'exec-env',
      `          - exec: { argv: ["${node}", "-e", "require('fs').writeFileSync(process.env.OUT, process.env.V)"], env: { OUT: "${dir.path}/exec-env-{{ labels.k }}.out", V: "{{ labels.v }}" } }`,
    ),
    ...(['mild', 'nul', 'big'] as Kind[]).map((k) =>
      pb(`config-${k}`, `          - config: { file: "${cfgFile(k)}", key: app.value, value: "{{ labels.v }}" }`).replace(
        `['alertname = "Hostile"']`,
        `['alertname = "Hostile"', 'k = "${k}"']`,
      ),
    ),
    pb('notify', `          - notify: { url: "${app.url}/chat/{{ labels.k }}", text: "alert: {{ labels.v }}" }`),
    pb('query', `          - query: { expr: 'up{job="{{ labels.v }}"}', condition: { empty: true } }`),
  ].join('')}
`;
}

const allRuns = (): RunRecord[] => [...(p.service?.ctx.store.mem.runs.values() ?? [])];
const runsFor = (kind: Kind): RunRecord[] => allRuns().filter((r) => r.target.k === kind);
const runOf = (kind: Kind, playbook: string) => runsFor(kind).find((r) => r.playbook === playbook);
const callsTo = (prefix: string) => app.calls.filter((c) => c.url.startsWith(prefix));

beforeAll(async () => {
  dir = tempDir();
  app = await recordingServer(() => 200);
  prom = await fakePrometheus();
  prom.answer({ values: [] });
  for (const k of Object.keys(VALUES)) writeFileSync(cfgFile(k as Kind), '# the app reads this\napp:\n  value: original # keep this comment\n');
  mkdirSync(join(dir.path, 'rules', 'playbooks'), { recursive: true });
  writeFileSync(join(dir.path, 'rules', 'playbooks', 'hostile.yml'), playbooks());
  p = await createPromedic({
    config: {
      listen: { port: 0, address: '127.0.0.1' },
      data_dir: join(dir.path, 'data'),
      rules_dir: join(dir.path, 'rules'),
      monitor: { enabled: false },
      prometheus: { url: prom.url },
      // A 1 MB label needs a body limit above the 1 MiB default (which answers 413).
      http: { body_limit_bytes: 8 * 1024 * 1024 },
      engine: { max_runs_per_minute: 100, max_in_flight: 64 },
    },
    env: {},
    logger: pino({ level: 'silent' }),
  });
  await p.start();
  for (const [k, v] of Object.entries(VALUES)) {
    const res = await rawRequest(`${p.url}/webhook/alertmanager`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(amPayload([{ labels: { alertname: 'Hostile', k, v } }])),
    });
    expect(res.status, `the ${k} alert is accepted`).toBe(202);
  }
  await rawRequest(`${p.url}/webhook/alertmanager`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(amPayload([{ labels: { alertname: 'Hostile', k: 'plain', v: PLAIN } }])),
  });
  // Every run has acted: it is verifying (steps done) or has failed.
  await waitFor(
    () =>
      (['mild', 'nul', 'big', 'plain'] as const).every((k) => {
        const rs = allRuns().filter((r) => r.target.k === k);
        return rs.length === (k === 'plain' ? 7 : 8) && rs.every((r) => r.status === 'verifying' || r.status === 'failed');
      }),
    30_000,
    'every run to act',
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}; runs: ${JSON.stringify(allRuns().map((r) => [r.target.k, r.playbook, r.status, r.steps[0]?.attempts, r.steps[0]?.error?.slice(0, 120)]))}`);
  });
}, 60_000);

afterAll(async () => {
  await p?.stop();
  await app.close();
  await prom.close();
  dir.cleanup();
});

describe('hostile label values through the webhook into every action', () => {
  it('http: path segment and query value arrive percent-encoded and decode to the exact value; a 1 MB one is refused by the server (431), not retried', () => {
    for (const k of ['mild', 'nul'] as const) {
      const [call] = callsTo(`/p/${k}/`);
      expect(call).toBeDefined();
      const u = new URL(call?.url as string, 'http://x');
      expect(decodeURIComponent(u.pathname.slice(`/p/${k}/`.length))).toBe(VALUES[k]);
      expect(u.searchParams.get('q')).toBe(VALUES[k]);
      expect(runOf(k, 'http-path')?.status).toBe('verifying');
    }
    expect(callsTo('/p/big/')).toHaveLength(0);
    const big = runOf('big', 'http-path');
    expect(big?.status).toBe('failed');
    expect(big?.steps[0]?.error).toMatch(/unexpected status 431/);
    expect(big?.steps[0]?.attempts).toBe(1);
  });

  it('http: a header value with CR/LF, NUL or non-ASCII is refused before sending (not retried); a plain one arrives exactly', () => {
    for (const k of ['mild', 'nul', 'big'] as const) {
      const run = runOf(k, 'http-header');
      expect(run?.status).toBe('failed');
      expect(run?.steps[0]?.error).toMatch(/a header cannot carry/);
      expect(callsTo(`/h/${k}`)).toHaveLength(0);
    }
    // The same playbook with a value a header can carry (shell and template syntax included).
    expect(callsTo('/h/plain')[0]?.headers['x-v']).toBe(PLAIN);
  });

  it('http: a JSON body carries every value, 1 MB and NUL included, as one JSON string', () => {
    for (const k of ['mild', 'nul', 'big'] as const) {
      const [call] = callsTo(`/b/${k}`);
      expect(JSON.parse(call?.body ?? '{}')).toEqual({ v: VALUES[k], n: 1 });
      expect(runOf(k, 'http-body')?.status).toBe('verifying');
    }
  });

  it('exec: argv element and env value get the exact value; a NUL or a value over 128 KiB fails the step, naming the slot, and runs nothing', () => {
    expect(readFileSync(out('exec-argv', 'mild'), 'utf8')).toBe(MILD);
    expect(readFileSync(out('exec-env', 'mild'), 'utf8')).toBe(MILD);
    const expectations: Array<[string, Kind, RegExp]> = [
      ['exec-argv', 'nul', /argv\[3\] contains a NUL byte/],
      ['exec-env', 'nul', /env\.V contains a NUL byte/],
      ['exec-argv', 'big', /argv\[3\] is \d+ bytes, over the 131072-byte limit/],
      ['exec-env', 'big', /env\.V is \d+ bytes, over the 131072-byte limit/],
    ];
    for (const [pb, k, re] of expectations) {
      const run = runOf(k, pb);
      expect(run?.status).toBe('failed');
      expect(run?.steps[0]?.error).toMatch(re);
      expect(run?.steps[0]?.attempts).toBe(1);
      expect(() => readFileSync(out(pb, k))).toThrow(/ENOENT/);
    }
  });

  it('config: the value is written as one YAML string scalar, comments kept, for every kind', () => {
    for (const k of ['mild', 'nul', 'big'] as const) {
      const text = readFileSync(cfgFile(k), 'utf8');
      expect(parseYaml(text)).toEqual({ app: { value: VALUES[k] } });
      expect(text).toContain('# the app reads this');
      expect(text).toContain('# keep this comment');
      expect(runOf(k, `config-${k}`)?.status).toBe('verifying');
    }
  });

  it('notify: the text carries the exact value', () => {
    for (const k of ['mild', 'nul', 'big'] as const) {
      const [call] = callsTo(`/chat/${k}`);
      expect((JSON.parse(call?.body ?? '{}') as { text: string }).text).toBe(`alert: ${VALUES[k]}`);
    }
  });

  it('query: the value stays inside its PromQL string literal (escaped), 1 MB included (sent as a POST body)', () => {
    const expected = (v: string) =>
      `up{job="${v
        .replace(/\\/g, '\\\\')
        .replace(/"/g, '\\"')
        .replace(/\n/g, '\\n')
        .replace(/[\x00-\x09\x0b-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}"}`;
    for (const k of ['mild', 'nul', 'big'] as const) {
      expect(prom.queries).toContain(expected(VALUES[k]));
      expect(runOf(k, 'query')?.status).toBe('verifying');
    }
    expect(prom.queries.every((q) => !/[\x00\r]/.test(q))).toBe(true);
  });

  it('promedic stays up; the history keeps every run, answers the API, and stays small (long values shortened there)', async () => {
    expect((await rawRequest(`${p.url}/-/healthy`, {})).status).toBe(200);
    const res = await rawRequest(`${p.url}/api/v1/runs?limit=100`, {});
    expect(res.status).toBe(200);
    const listed = (JSON.parse(res.body) as { runs: RunRecord[] }).runs;
    expect(listed.length).toBe(31);
    // A run record does not hold the 1 MB value once per slot: the rendered steps shorten it.
    const sizes = runsFor('big').map((r) => JSON.stringify(r).length);
    for (const [i, r] of runsFor('big').entries()) expect(sizes[i], r.playbook).toBeLessThan(64 * 1024);
    console.log(
      `hostile: 3 values (${MILD.length} chars; with NUL; ${BIG.length} chars = ${Buffer.byteLength(BIG)} bytes) x 9 slots; largest run record with the 1 MB value: ${Math.max(...sizes)} bytes`,
    );
    // The verifying runs succeed when the alerts resolve.
    const verifying = allRuns().filter((r) => r.status === 'verifying').map((r) => r.id);
    expect(verifying.length).toBe(7 + 5 + 4 + 7); // mild, nul, big, plain: every run not refused
    for (const [k, v] of [...Object.entries(VALUES), ['plain', PLAIN] as const]) {
      await rawRequest(`${p.url}/webhook/alertmanager`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(amPayload([{ labels: { alertname: 'Hostile', k, v }, status: 'resolved' }], 'resolved')),
      });
    }
    await waitFor(() => allRuns().every((r) => r.status === 'succeeded' || r.status === 'failed'), 10_000, 'every run to end');
    expect(allRuns().filter((r) => r.status === 'succeeded').map((r) => r.id).sort()).toEqual(verifying.sort());
  });
});
