/**
 * `npm run demo` (dist/examples/demo-app/src/demo.js): the demo app and promedic on their
 * default ports, no Prometheus. A memory fault is raised by the embedded monitor and fixed by
 * the bundled playbook; SIGTERM stops both, exit 0. Needs ports 8080 and 9477 free: elsewhere
 * the test is skipped with a hint, under CI=true a busy port fails it.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, tempDir, waitFor } from './helpers/index.js';

async function free(port: number): Promise<boolean> {
  const srv = createServer();
  return new Promise((resolve) => {
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

const portsFree = (await free(8080)) && (await free(9477));
if (!portsFree) {
  if (process.env.CI === 'true') throw new Error('ports 8080 and 9477 must be free for the npm run demo test');
  console.warn('skipping the npm run demo test: port 8080 or 9477 is in use');
}

let cleanup: (() => void) | null = null;
afterEach(() => cleanup?.());

describe.runIf(portsFree)('npm run demo', () => {
  it('starts both, heals an injected memory fault, and stops both on SIGTERM', async () => {
    const dir = tempDir();
    const child = spawn(process.execPath, [join(ROOT, 'dist/examples/demo-app/src/demo.js')], {
      cwd: ROOT,
      env: { ...process.env, PROMEDIC_DATA_DIR: dir.path, DEMO_ADMIN_TOKEN: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    cleanup = () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      dir.cleanup();
    };

    await waitFor(() => out.includes('demo: try'), 40_000, `the "what to try" line\n${out}`);
    expect(out).toMatch(/demo: try {3}curl -X POST http:\/\/127\.0\.0\.1:8080\/fault\/memory/);

    const fault = await fetch('http://127.0.0.1:8080/fault/memory', { method: 'POST' });
    expect(fault.status).toBe(200);
    const run = await waitFor(
      async () => {
        const body = (await (await fetch('http://127.0.0.1:9477/api/v1/runs')).json()) as { runs: Array<{ playbook: string; status: string }> };
        return body.runs.find((r) => r.playbook === 'memory-clear-caches' && r.status === 'succeeded');
      },
      60_000,
      'the memory playbook to fix the leak',
    );
    expect(run.status).toBe('succeeded');

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toMatch(/"msg":"stopped"/);
    expect(await free(8080)).toBe(true);
    expect(await free(9477)).toBe(true);
  }, 120_000);
});
