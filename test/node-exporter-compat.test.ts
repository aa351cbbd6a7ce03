/**
 * promedic as a node_exporter replacement, checked against the real programs:
 * promtool's linter on a real scrape, and Debian's prometheus-node-exporter side by side
 * with the metric names the "Node Exporter Full" dashboard (grafana.com 1860) uses.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { type Service, startService } from '../src/main.js';
import { ROOT, get, parseExposition, requireBinary, tempDir } from './helpers/index.js';

const DASHBOARD = join(ROOT, 'test/fixtures/node-exporter-full');
const dashboardNames = readFileSync(join(DASHBOARD, 'metric-names.txt'), 'utf8')
  .split('\n')
  .filter((l) => l && !l.startsWith('#'));
const rows = JSON.parse(readFileSync(join(DASHBOARD, 'rows.json'), 'utf8')) as { rows: Record<string, string[]> };

/**
 * promtool lints node_exporter's own names (node_memory_MemTotal_bytes is camelCase, entropy
 * is in bits). promedic keeps those names on purpose — dashboards and alert rules depend on
 * them — so exactly these findings are expected, and nothing else.
 */
function inheritedFromNodeExporter(line: string): boolean {
  return (
    /^node_(memory|netstat)_\w+ metric names should be written in 'snake_case' not 'camelCase'$/.test(line) ||
    /^node_entropy_(available|pool_size)_bits use base unit "bytes" instead of "bits"$/.test(line)
  );
}

let dir: { path: string; cleanup: () => void };
let svc: Service;
let scrape: string;

beforeAll(async () => {
  dir = tempDir();
  const config = loadConfig({ cwd: dir.path, env: {}, flags: { port: '0', 'log-level': 'silent' } });
  svc = await startService(config, pino({ level: 'silent' }));
  await get(`${svc.url}/-/ready`);
  scrape = (await get(`${svc.url}/metrics`)).body;
});
afterAll(async () => {
  await svc?.stop();
  dir.cleanup();
});

describe('promtool check metrics on a real scrape', () => {
  const promtool = requireBinary('promtool', 'prometheus');

  it.runIf(promtool)('reports nothing about promedic\'s own metrics, and only node_exporter\'s inherited names otherwise', () => {
    const r = spawnSync(promtool as string, ['check', 'metrics'], { input: scrape, encoding: 'utf8' });
    const findings = `${r.stdout}${r.stderr}`.split('\n').filter(Boolean);
    expect(findings.filter((l) => !inheritedFromNodeExporter(l))).toEqual([]);

    // Without the inherited node_exporter families the scrape is clean and promtool exits 0.
    const own = scrape
      .split('\n')
      .filter((l) => !/^(# (HELP|TYPE) )?node_(memory|netstat|entropy)_/.test(l))
      .join('\n');
    const clean = spawnSync(promtool as string, ['check', 'metrics'], { input: own, encoding: 'utf8' });
    expect(`${clean.stdout}${clean.stderr}`).toBe('');
    expect(clean.status).toBe(0);
  });
});

describe('side by side with prometheus-node-exporter', () => {
  const bin = requireBinary('prometheus-node-exporter', 'prometheus-node-exporter');
  let ne: ChildProcess | null = null;
  let neText = '';

  beforeAll(async () => {
    if (!bin) return;
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    ne = spawn(bin, ['--no-collector.systemd', `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !neText; i++) {
      try {
        neText = (await get(`http://127.0.0.1:${port}/metrics`)).body;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    scrape = (await get(`${svc.url}/metrics`)).body;
  });
  afterAll(() => {
    ne?.kill('SIGTERM');
  });

  it.runIf(bin)('serves at least as many of the dashboard\'s metric names as node_exporter does', () => {
    const ours = new Set(parseExposition(scrape).keys());
    const theirs = new Set(parseExposition(neText).keys());
    const usedByUs = dashboardNames.filter((n) => ours.has(n));
    const usedByThem = dashboardNames.filter((n) => theirs.has(n));
    const missing = usedByThem.filter((n) => !ours.has(n));
    console.info(
      `Node Exporter Full names served: promedic ${usedByUs.length}, node_exporter ${usedByThem.length} of ${dashboardNames.length}; node_exporter-only: ${missing.join(' ') || 'none'}`,
    );
    expect(usedByUs.length).toBeGreaterThanOrEqual(usedByThem.length);
  });

  it.runIf(bin)('reports the same MemTotal, boot time, CPU count, uname and filesystem sizes', () => {
    const ours = parseExposition(scrape);
    const theirs = parseExposition(neText);
    const one = (m: Map<string, Array<{ labels: string; value: number }>>, n: string) => m.get(n)?.[0]?.value;
    expect(one(ours, 'node_memory_MemTotal_bytes')).toBe(one(theirs, 'node_memory_MemTotal_bytes'));
    expect(one(ours, 'node_boot_time_seconds')).toBe(one(theirs, 'node_boot_time_seconds'));
    const cpuSet = (m: typeof ours) => new Set(m.get('node_cpu_seconds_total')?.map((s) => /cpu="(\d+)"/.exec(s.labels)?.[1]));
    expect(cpuSet(ours)).toEqual(cpuSet(theirs));
    expect(ours.get('node_uname_info')?.[0]?.labels).toBe(theirs.get('node_uname_info')?.[0]?.labels);
    const sizes = (m: typeof ours) => new Map(m.get('node_filesystem_size_bytes')?.map((s) => [s.labels, s.value]));
    const ourSizes = sizes(ours);
    const theirSizes = sizes(theirs);
    expect(theirSizes.size).toBeGreaterThan(0);
    for (const [labels, v] of theirSizes) expect(ourSizes.get(labels), labels).toBe(v);
  });
});

describe('the Node Exporter Full dashboard on promedic alone', () => {
  it('has data for its host selector and every metric of its Quick and Basic rows', () => {
    const ours = new Set(parseExposition(scrape).keys());
    expect(ours.has('node_uname_info')).toBe(true);
    const needed = [...(rows.rows['Quick CPU / Mem / Disk'] ?? []), ...(rows.rows['Basic CPU / Mem / Net / Disk'] ?? [])];
    expect(needed.length).toBeGreaterThan(20);
    expect(needed.filter((n) => !ours.has(n))).toEqual([]);
  });
});
