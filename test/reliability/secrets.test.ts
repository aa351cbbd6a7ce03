/**
 * Secrets stay secret: a token a playbook takes from promedic's environment ({{ env.X }}) is
 * sent to the app it is meant for, in the step and in its undo (also when the undo runs after a
 * kill -9), and appears nowhere else: not in the run history, the API, the status, the metrics,
 * the logs or the files in the data dir, and not in an output or error that echoes it back.
 * promedic's own credentials are never logged either.
 */
import { readFileSync, readdirSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Promedic, createPromedic } from '../../src/index.js';
import { amPayload, killAll, rawRequest, recordingServer, startCli, tempDir, waitFor } from '../helpers/index.js';

const TOKEN = 'promedic-api-token-9f8e7d6c5b4a';
const SECRET = 's3cr3t-app-admin-token-0a1b2c3d';
const PASSWORD = 'basic-auth-password-77aa88bb';

let dir: { path: string; cleanup: () => void };
let app: Awaited<ReturnType<typeof recordingServer>>;
let p: Promedic | null = null;

beforeEach(async () => {
  dir = tempDir();
  app = await recordingServer((r) => (r.url === '/restart' ? 500 : 200));
  process.env.APP_SECRET = SECRET;
});
afterEach(async () => {
  await p?.stop();
  p = null;
  await killAll();
  await app.close();
  delete process.env.APP_SECRET;
  dir.cleanup();
});

function playbook(extraStep = ''): string {
  return `
name: reset-cache
match: ['alertname = "CacheStale"']
strategies:
  - name: reset
    steps:
      - name: flush
        http:
          method: POST
          url: "${app.url}/flush?key={{ env.APP_SECRET }}"
          headers: { authorization: "Bearer {{ env.APP_SECRET }}" }
        undo:
          http:
            method: POST
            url: "${app.url}/unflush"
            headers: { authorization: "Bearer {{ env.APP_SECRET }}" }
            body: { token: "{{ env.APP_SECRET }}" }
${extraStep}
verify: { within: 300ms }
`;
}

function allFiles(d: string): string {
  return readdirSync(d)
    .map((f) => readFileSync(join(d, f), 'utf8'))
    .join('\n');
}

describe('a secret from the environment', () => {
  it('reaches the app in the step and its undo, and nothing else', async () => {
    mkdirSync(join(dir.path, 'rules', 'playbooks'), { recursive: true });
    // An app whose error page echoes the token it was sent.
    const echo = createServer((req, res) => {
      res.statusCode = 500;
      res.end(`invalid token ${String(req.headers['x-token'])} for ${req.url}`);
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const echoUrl = `http://127.0.0.1:${(echo.address() as { port: number }).port}`;
    writeFileSync(join(dir.path, 'rules', 'playbooks', 'cache.yml'), playbook(`      - name: restart
        http: { method: POST, url: "${echoUrl}/restart", headers: { x-token: "{{ env.APP_SECRET }}" } }`));
    const logs: string[] = [];
    p = await createPromedic({
      config: {
        listen: { port: 0, address: '127.0.0.1' },
        data_dir: join(dir.path, 'data'),
        rules_dir: join(dir.path, 'rules'),
        auth: { token: TOKEN },
        log: { level: 'debug' },
        monitor: { enabled: false },
      },
      env: {},
      logger: pino({ level: 'debug' }, { write: (l: string) => void logs.push(l) }),
    });
    await p.start();
    const url = p.url as string;
    const auth = { authorization: `Bearer ${TOKEN}` };
    await rawRequest(`${url}/webhook/alertmanager`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify(amPayload([{ labels: { alertname: 'CacheStale' } }])) });
    await waitFor(() => app.calls.some((c) => c.url === '/unflush'), 10_000, 'the undo');
    await waitFor(() => p?.status().runs.recent[0]?.status === 'failed', 5000, 'the run to end');

    // The app got the real secret, in the step and in the undo.
    const flush = app.calls.find((c) => c.url.startsWith('/flush'));
    expect(flush?.url).toBe(`/flush?key=${SECRET}`);
    expect(flush?.headers.authorization).toBe(`Bearer ${SECRET}`);
    const unflush = app.calls.find((c) => c.url === '/unflush');
    expect(unflush?.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(JSON.parse(unflush?.body ?? '{}')).toEqual({ token: SECRET });

    // Everywhere promedic shows or keeps the run, the secret is shown by name.
    const runs = (await rawRequest(`${url}/api/v1/runs`, { headers: auth })).body;
    expect(runs).toContain('Bearer <env APP_SECRET>');
    // The echoed token is replaced by its name in the step's output.
    expect(runs).toContain('invalid token <env APP_SECRET> for /restart');
    expect(runs).toContain('/flush?key=%3Cenv%20APP_SECRET%3E');
    const answers = [
      runs,
      (await rawRequest(`${url}/api/v1/status`, { headers: auth })).body,
      (await rawRequest(`${url}/api/v1/playbooks`, { headers: auth })).body,
      (await rawRequest(`${url}/metrics`, {})).body,
    ];
    await p.stop();
    p = null;
    echo.close();
    for (const text of [...answers, logs.join(''), allFiles(join(dir.path, 'data'))]) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(TOKEN);
    }
  });

  it('reaches the app in the undo run after a kill -9, and is not in the data dir', async () => {
    mkdirSync(join(dir.path, 'rules', 'playbooks'), { recursive: true });
    writeFileSync(join(dir.path, 'rules', 'playbooks', 'cache.yml'), playbook(`      - name: wait for warm-up
        exec: { argv: [sleep, "30"] }
        timeout: 1m`));
    const env = { PROMEDIC_TOKEN: TOKEN, PROMEDIC_LISTEN_ADDRESS: '127.0.0.1', APP_SECRET: SECRET };
    const args = ['--data-dir', join(dir.path, 'data'), '--rules', join(dir.path, 'rules')];
    const first = await startCli(args, { env });
    await rawRequest(`${first.url}/webhook/alertmanager`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(amPayload([{ labels: { alertname: 'CacheStale' } }])),
    });
    await waitFor(() => app.calls.some((c) => c.url.startsWith('/flush')), 10_000, 'the first step');
    await new Promise((r) => setTimeout(r, 300));
    first.child.kill('SIGKILL');
    await first.exited;
    expect(allFiles(join(dir.path, 'data'))).not.toContain(SECRET);

    const second = await startCli(args, { env });
    await waitFor(() => app.calls.some((c) => c.url === '/unflush'), 10_000, 'the undo after the restart');
    const unflush = app.calls.find((c) => c.url === '/unflush');
    expect(unflush?.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(JSON.parse(unflush?.body ?? '{}')).toEqual({ token: SECRET });
    const runs = (await rawRequest(`${second.url}/api/v1/runs`, { headers: { authorization: `Bearer ${TOKEN}` } })).body;
    expect(runs).toContain('"status":"interrupted"');
    expect(runs).not.toContain(SECRET);
    expect(second.output()).not.toContain(SECRET);
    expect(second.output()).not.toContain(TOKEN);
  });

  it("promedic's own credentials are not logged, even at debug level with a bad request", async () => {
    const logs: string[] = [];
    p = await createPromedic({
      config: { listen: { port: 0, address: '127.0.0.1' }, data_dir: join(dir.path, 'data'), rules_dir: join(dir.path, 'none'), auth: { basic: { username: 'am', password: PASSWORD } }, log: { level: 'debug' } },
      env: {},
      logger: pino({ level: 'debug' }, { write: (l: string) => void logs.push(l) }),
    });
    await p.start();
    const basic = `Basic ${Buffer.from(`am:${PASSWORD}`).toString('base64')}`;
    await rawRequest(`${p.url}/api/v1/runs`, { headers: { authorization: basic } });
    await rawRequest(`${p.url}/webhook/alertmanager`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: basic }, body: '{"version": "3"}' });
    await rawRequest(`${p.url}/api/v1/runs`, { headers: { authorization: `Basic ${Buffer.from('am:wrong-password-1234').toString('base64')}` } });
    await p.stop();
    p = null;
    const text = logs.join('');
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(Buffer.from(`am:${PASSWORD}`).toString('base64'));
    expect(text).not.toContain('wrong-password-1234');
  });
});
