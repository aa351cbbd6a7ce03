/**
 * Host exporter benchmark: promedic against prometheus-node-exporter, side by side in one run.
 *
 *   npm run bench:exporter -- [--idle-seconds 60] [--rss-seconds 600] [--json FILE] ...
 *
 * Phases, in this order (each exporter is a child process on a loopback port, in a fresh temp dir):
 *   1. Event-loop blocking, in a child process started with the service's V8 flags: the built
 *      HostMetrics with the real /proc, cycles with a pause between them under
 *      monitorEventLoopDelay({ resolution: 1 }), in --passes passes. Each pass measures three
 *      ways: with the loop kept awake (blocking alone; the goal's figure is the delays within
 *      each cycle's own window, the whole pass is shown beside it), with the plain histogram
 *      (blocking plus the machine's wake-up latency, shown beside an idle Node.js process
 *      measured at the same time), and with no cycles. Runs before the exporters start.
 *   2. Idle CPU and steady RSS, both exporters at once on freshly started processes: one scrape
 *      of each every 15 s (as Prometheus would); CPU of each process tree from /proc/<pid>/stat
 *      (utime+stime+cutime+cstime) over the first --idle-seconds, VmRSS every 15 s for
 *      --rss-seconds; promedic must spawn no child process.
 *   3. /metrics scrape latency with sequential scrapes (autocannon, one connection), the two
 *      exporters alternately for --rounds rounds; the medians of the per-round p50/p99 are reported.
 *
 * Progress and the result table go to stdout; the raw figures are the last line of stdout (JSON)
 * and, with --json FILE, also written to FILE. Options may also be set by environment variables
 * (BENCH_IDLE_SECONDS, BENCH_RSS_SECONDS, ...; flags win).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { createHistogram, monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.js';
import { errorMessage } from '../src/errors.js';
import { createLogger } from '../src/logger.js';
import { COLLECTORS } from '../src/metrics/collectors/index.js';
import { HostMetrics, collectorOptions } from '../src/metrics/host.js';
import { SERVICE_V8_FLAGS, applyServiceV8Flags } from '../src/cli/v8.js';
import { createRegistry } from '../src/metrics/registry.js';
import { VERSION } from '../src/version.js';

// ---------------------------------------------------------------------------------------------
// autocannon ships no type declarations (and @types/autocannon is not a dependency): the few
// parts used here are typed locally and the CommonJS module is loaded through createRequire.

interface AutocannonHistogram {
  p50: number;
  p99: number;
  average: number;
  max: number;
  min: number;
}

interface AutocannonResult {
  latency: AutocannonHistogram;
  requests: AutocannonHistogram & { total: number; sent: number };
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
}

interface AutocannonInstance {
  on(event: 'response', listener: (client: unknown, statusCode: number, resBytes: number, responseTime: number) => void): this;
  stop(): void;
}

interface AutocannonOptions {
  url: string;
  connections: number;
  pipelining: number;
  duration: number;
  timeout: number;
  headers: Record<string, string>;
}

type Autocannon = (opts: AutocannonOptions, cb: (err: Error | null, result: AutocannonResult) => void) => AutocannonInstance;

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

// ---------------------------------------------------------------------------------------------
// Options

interface Options {
  idleSeconds: number;
  rssSeconds: number;
  settleSeconds: number;
  scrapeIntervalSeconds: number;
  latencySeconds: number;
  warmupSeconds: number;
  rounds: number;
  passes: number;
  cycles: number;
  pauseMs: number;
  nodeExporter: string;
  json: string | null;
}

const HELP = `Usage: npm run bench:exporter -- [options]

  --idle-seconds N        idle-CPU window (default 60; env BENCH_IDLE_SECONDS)
  --rss-seconds N         steady-RSS run, which starts with the idle window (default 600; env BENCH_RSS_SECONDS)
  --settle-seconds N      wait after start-up and the first scrape before the window (default 10; env BENCH_SETTLE_SECONDS)
  --scrape-interval N     seconds between scrapes during the idle/RSS run (default 15; env BENCH_SCRAPE_INTERVAL)
  --latency-seconds N     length of each sequential-scrape run (default 20; env BENCH_LATENCY_SECONDS)
  --warmup-seconds N      unmeasured sequential scrapes before the rounds (default 3; env BENCH_WARMUP_SECONDS)
  --rounds N              alternating latency rounds (default 3; env BENCH_ROUNDS)
  --passes N              passes of the event-loop test, each measured three ways (default 5; env BENCH_PASSES)
  --cycles N              collection cycles per pass (default 60; env BENCH_CYCLES)
  --pause-ms N            pause between those cycles (default 100; env BENCH_PAUSE_MS)
  --node-exporter PATH    node_exporter binary (default /usr/bin/prometheus-node-exporter; env BENCH_NODE_EXPORTER)
  --json FILE             also write the raw figures as JSON to FILE (they are always stdout's last line)
`;

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      'idle-seconds': { type: 'string' },
      'rss-seconds': { type: 'string' },
      'settle-seconds': { type: 'string' },
      'scrape-interval': { type: 'string' },
      'latency-seconds': { type: 'string' },
      'warmup-seconds': { type: 'string' },
      rounds: { type: 'string' },
      passes: { type: 'string' },
      cycles: { type: 'string' },
      'pause-ms': { type: 'string' },
      'node-exporter': { type: 'string' },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const num = (flag: string, flagValue: string | undefined, env: string, def: number, min: number): number => {
    const raw = flagValue ?? process.env[env];
    if (raw === undefined || raw === '') return def;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${flag} (or ${env}) must be a number >= ${min}, got "${raw}"`);
    return n;
  };
  return {
    idleSeconds: num('idle-seconds', values['idle-seconds'], 'BENCH_IDLE_SECONDS', 60, 1),
    rssSeconds: num('rss-seconds', values['rss-seconds'], 'BENCH_RSS_SECONDS', 600, 1),
    settleSeconds: num('settle-seconds', values['settle-seconds'], 'BENCH_SETTLE_SECONDS', 10, 0),
    scrapeIntervalSeconds: num('scrape-interval', values['scrape-interval'], 'BENCH_SCRAPE_INTERVAL', 15, 1),
    latencySeconds: num('latency-seconds', values['latency-seconds'], 'BENCH_LATENCY_SECONDS', 20, 1),
    warmupSeconds: num('warmup-seconds', values['warmup-seconds'], 'BENCH_WARMUP_SECONDS', 3, 0),
    rounds: Math.round(num('rounds', values.rounds, 'BENCH_ROUNDS', 3, 1)),
    passes: Math.round(num('passes', values.passes, 'BENCH_PASSES', 5, 1)),
    cycles: Math.round(num('cycles', values.cycles, 'BENCH_CYCLES', 60, 1)),
    pauseMs: num('pause-ms', values['pause-ms'], 'BENCH_PAUSE_MS', 100, 0),
    nodeExporter: values['node-exporter'] ?? process.env.BENCH_NODE_EXPORTER ?? '/usr/bin/prometheus-node-exporter',
    json: values.json ?? null,
  };
}

// ---------------------------------------------------------------------------------------------
// Small helpers

const log = (msg: string): void => {
  process.stdout.write(`${msg}\n`);
};

function sorted(xs: readonly number[]): number[] {
  return [...xs].sort((a, b) => a - b);
}

/** Nearest-rank percentile of an ascending array. */
function percentile(asc: readonly number[], p: number): number {
  if (asc.length === 0) return Number.NaN;
  const i = Math.min(asc.length - 1, Math.max(0, Math.ceil((p / 100) * asc.length) - 1));
  return asc[i] as number;
}

function median(xs: readonly number[]): number {
  const s = sorted(xs);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function round(n: number, digits = 3): number {
  return Number.isFinite(n) ? Number(n.toFixed(digits)) : n;
}

const KB = 1024;
const MB = 1e6; // goals and tables use MB = 10^6 bytes (the stricter reading of "80 MB")

async function until(t: number): Promise<void> {
  const ms = t - performance.now();
  if (ms > 0) await sleep(ms);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// /proc readers

const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isInteger(n) && n > 0 ? n : 100;
})();

interface StatTicks {
  utime: number;
  stime: number;
  cutime: number;
  cstime: number;
}

/** utime, stime, cutime, cstime (fields 14-17 of /proc/<pid>/stat), or null when the process is gone. */
function statTicks(pid: number): StatTicks | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm (field 2) may contain spaces and parentheses: the fields after it start at the last ')'.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state), so field N is f[N - 3].
  return { utime: Number(f[11]), stime: Number(f[12]), cutime: Number(f[13]), cstime: Number(f[14]) };
}

function ticksTotal(t: StatTicks): number {
  return t.utime + t.stime + t.cutime + t.cstime;
}

/** Direct children of every thread of a process (/proc/<pid>/task/<tid>/children). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(/\s+/)) if (c) out.push(Number(c));
    } catch {
      // the thread exited meanwhile
    }
  }
  return out;
}

function descendants(pid: number): number[] {
  const out: number[] = [];
  const queue = childrenOf(pid);
  while (queue.length) {
    const p = queue.shift() as number;
    out.push(p);
    queue.push(...childrenOf(p));
  }
  return out;
}

function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

function statusField(pid: number, field: string): number | null {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

interface TreeSnapshot {
  /** Seconds since the start of the idle/RSS run. */
  t: number;
  /** Sum of utime+stime+cutime+cstime over the process and its descendants. A child that exits and
   * is reaped moves its ticks into its parent's cutime/cstime, so this sum is cumulative. */
  treeTicks: number;
  root: StatTicks;
  descendants: number[];
  rssKb: number;
  treeRssKb: number;
}

function snapshotTree(pid: number, t: number): TreeSnapshot {
  const root = statTicks(pid);
  if (!root) throw new Error(`process ${pid} is gone`);
  const desc = descendants(pid);
  let treeTicks = ticksTotal(root);
  let treeRssKb = statusField(pid, 'VmRSS') ?? 0;
  const rssKb = treeRssKb;
  for (const d of desc) {
    const s = statTicks(d);
    if (s) treeTicks += ticksTotal(s);
    treeRssKb += statusField(d, 'VmRSS') ?? 0;
  }
  return { t, treeTicks, root, descendants: desc, rssKb, treeRssKb };
}

/** Whole-machine CPU counters from the first line of /proc/stat, in ticks. */
function machineTicks(): { total: number; idle: number; steal: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice; guest* are already in user/nice.
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { total, idle: (f[3] ?? 0) + (f[4] ?? 0), steal: f[7] ?? 0 };
}

// ---------------------------------------------------------------------------------------------
// Exporters as child processes

interface Exporter {
  name: 'promedic' | 'node_exporter';
  port: number;
  url: string;
  dir: string;
  child: ChildProcess;
  pid: number;
  exited: Promise<void>;
  agent: http.Agent;
}

const exporters: Exporter[] = [];
const tempDirs: string[] = [];

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function startExporter(name: Exporter['name'], command: string, args: (port: number, dir: string) => string[]): Promise<Exporter> {
  const dir = mkdtempSync(join(os.tmpdir(), `bench-${name}-`));
  tempDirs.push(dir);
  const port = await freePort();
  const logFile = join(dir, 'output.log');
  const fd = openSync(logFile, 'a');
  // No PROMEDIC_* from the caller's environment, so both run on their defaults plus the flags given.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PROMEDIC_')));
  const child = spawn(command, args(port, dir), { cwd: dir, env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const spawned = await new Promise<number>((resolve, reject) => {
    child.once('spawn', () => resolve(child.pid as number));
    child.once('error', (err) => reject(new Error(`cannot start ${name} (${command}): ${err.message}`)));
  });
  const ex: Exporter = {
    name,
    port,
    url: `http://127.0.0.1:${port}`,
    dir,
    child,
    pid: spawned,
    exited,
    agent: new http.Agent({ keepAlive: true, maxSockets: 1 }),
  };
  exporters.push(ex);
  // Ready: promedic once /-/ready says so (first collection cycle done), node_exporter once /metrics answers.
  const readyPath = name === 'promedic' ? '/-/ready' : '/metrics';
  const deadline = performance.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${name} exited during start-up (${child.exitCode ?? child.signalCode}); its output:\n${tail(logFile)}`);
    }
    try {
      const r = await get(`${ex.url}${readyPath}`, undefined);
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (performance.now() > deadline) throw new Error(`${name} not ready after 30 s; its output:\n${tail(logFile)}`);
    await sleep(100);
  }
  return ex;
}

async function stopExporter(ex: Exporter): Promise<void> {
  ex.agent.destroy();
  if (ex.child.exitCode !== null || ex.child.signalCode !== null) return;
  ex.child.kill('SIGTERM');
  const killed = await Promise.race([ex.exited.then(() => true), sleep(10_000).then(() => false)]);
  if (!killed) {
    ex.child.kill('SIGKILL');
    await ex.exited;
  }
}

let cleaning: Promise<void> | null = null;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await Promise.all(exporters.map((ex) => stopExporter(ex).catch(() => undefined)));
    for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  })();
  return cleaning;
}

process.on('exit', () => {
  // Last resort (e.g. process.exit from elsewhere): never leave an exporter behind.
  for (const ex of exporters) if (ex.child.exitCode === null && ex.child.signalCode === null) ex.child.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    process.stderr.write(`\n${sig}: stopping the exporters\n`);
    void cleanup().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  });
}

// ---------------------------------------------------------------------------------------------
// HTTP

/** The request both exporters get, in every phase: plain text, no compression (promedic has none). */
const SCRAPE_HEADERS = { Accept: 'text/plain;version=0.0.4', 'User-Agent': 'promedic-bench' };

interface Response {
  status: number;
  body: string;
  ms: number;
}

function get(url: string, agent: http.Agent | undefined): Promise<Response> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const req = http.get(url, { agent: agent ?? false, headers: SCRAPE_HEADERS, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - start }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

async function scrape(ex: Exporter): Promise<Response> {
  const r = await get(`${ex.url}/metrics`, ex.agent);
  if (r.status !== 200) throw new Error(`${ex.name} /metrics answered ${r.status}`);
  return r;
}

function sampleCount(body: string): number {
  let n = 0;
  for (const line of body.split('\n')) if (line && !line.startsWith('#')) n++;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Phase 1: event-loop blocking by the collection cycle (in a child process run like the service)

interface PassFigures {
  maxMs: number;
  p99Ms: number;
  p50Ms: number;
  samples: number;
}

function passFigures(h: ReturnType<typeof monitorEventLoopDelay>): PassFigures {
  return { maxMs: round(h.max / 1e6), p99Ms: round(h.percentile(99) / 1e6), p50Ms: round(h.percentile(50) / 1e6), samples: h.count };
}

/** One kind of measurement over all passes. */
interface ModeFigures {
  passes: PassFigures[];
  /** The largest delay of all passes. */
  maxMs: number;
  /** The median of the passes' maxima (passes are measured one after another, so this is the figure least moved by one stall of the machine). */
  medianOfMaxMs: number;
  medianP99Ms: number;
}

function modeFigures(passes: PassFigures[]): ModeFigures {
  return {
    passes,
    maxMs: round(Math.max(...passes.map((p) => p.maxMs))),
    medianOfMaxMs: round(median(passes.map((p) => p.maxMs))),
    medianP99Ms: round(median(passes.map((p) => p.p99Ms))),
  };
}

interface EventLoopResult {
  nodeFlags: string[];
  collectors: number;
  warmupCycles: number;
  passes: number;
  cycles: number;
  pauseMs: number;
  cycleWallMs: { median: number; p90: number; max: number };
  cycleCpuMs: { median: number; p90: number; max: number };
  /**
   * The loop kept awake: a turn that busy-waits 20 µs and queues itself again with setImmediate
   * keeps libuv from sleeping in epoll, so a late timer means the loop was held (by a collector,
   * the render, a GC pause on this thread, or the thread losing its CPU), never that a sleeping
   * thread was woken late. Over the whole pass: the cycles and the pauses between them.
   */
  awake: ModeFigures;
  /**
   * The same kept-awake runs, with the delays of each cycle's own window only (from
   * CYCLE_LEAD_MS before the cycle to CYCLE_TAIL_MS after it): what the cycle blocks, without
   * the nine tenths of a pass that are pauses between cycles, where a delay is the machine's or
   * the probe's. This is the blocking the goal limits; `awake` is shown beside it.
   */
  cycleWindows: ModeFigures;
  /**
   * Per pass, from the gaps between turns of the kept-awake loop: the longest gap, how much of
   * it the main thread spent runnable but waiting for a CPU (run_delay of
   * /proc/thread-self/schedstat: another thread or process had the CPU), and the longest gap
   * less that wait, which is how long the thread held the loop while it had a CPU (its own
   * work, a GC pause, or a stall of the virtual CPU, which a guest cannot see).
   */
  awakeGaps: Array<{ longestMs: number; longestQueuedMs: number; heldMs: number; inCycleMs: number; betweenCyclesMs: number }>;
  /** The plain histogram: the loop sleeps between events, so the machine's wake-up latency counts too. */
  raw: ModeFigures;
  /** A separate, idle Node.js process with the same histogram, over the same windows as `raw`. */
  bystander: ModeFigures;
  /** The plain histogram over windows as long as a raw pass with no cycles. */
  idle: ModeFigures;
  failingCollectors: string[];
}

function spread(xs: readonly number[]): { median: number; p90: number; max: number } {
  const s = sorted(xs);
  return { median: round(median(s)), p90: round(percentile(s, 90)), max: round(s[s.length - 1] ?? Number.NaN) };
}

/** V8 flags the service runs with (`npm start` and the promedic bin pass them); phases 1 and 2 use them too. */
const SERVICE_NODE_FLAGS = ['--max-semi-space-size=4'];

/** A cycle's window opens this long before it, so the histogram has ticked once when it starts. */
const CYCLE_LEAD_MS = 2;
/** ...and closes this long after it, taking in a GC that its garbage set off just after it ended. */
const CYCLE_TAIL_MS = 3;

/**
 * The calling thread's time runnable but not running, in ms (field 2 of
 * /proc/thread-self/schedstat, updated when the thread gets a CPU back), or NaN where there is none.
 */
let schedstatFd: number | null | undefined;
const schedstatBuf = Buffer.alloc(128);
function runQueueWaitMs(): number {
  if (schedstatFd === undefined) {
    try {
      schedstatFd = openSync('/proc/thread-self/schedstat', 'r');
    } catch {
      schedstatFd = null;
    }
  }
  if (schedstatFd === null) return Number.NaN;
  const n = readSync(schedstatFd, schedstatBuf, 0, schedstatBuf.length, 0);
  const text = schedstatBuf.toString('latin1', 0, n);
  const a = text.indexOf(' ');
  return Number(text.slice(a + 1, text.indexOf(' ', a + 1))) / 1e6;
}

/** An idle Node.js process that reports its own event-loop delay between "mark" lines on stdin. */
async function bystanderHere(): Promise<void> {
  let h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (line !== 'mark') continue;
    h.disable();
    process.stdout.write(`${JSON.stringify(passFigures(h))}\n`);
    h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
  }
}

/** Starts the bystander; mark() ends its current window and returns that window's figures. */
async function startBystander(): Promise<{ mark: () => Promise<PassFigures>; stop: () => void }> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--bystander-child'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  const mark = async (): Promise<PassFigures> => {
    child.stdin?.write('mark\n');
    const next = await lines.next();
    if (next.done) throw new Error('the bystander process ended early');
    return JSON.parse(next.value) as PassFigures;
  };
  await mark(); // it is running once it answers
  return { mark, stop: () => child.stdin?.end() };
}

async function eventLoopHere(opts: Options): Promise<EventLoopResult> {
  const dir = mkdtempSync(join(os.tmpdir(), 'bench-inprocess-'));
  try {
    // Exactly as src/main.ts builds it, from the default configuration and the real /proc and /sys.
    const config = loadConfig({ env: {}, cwd: dir, flags: { 'data-dir': dir } });
    const logger = createLogger('warn', process.stderr);
    const registry = createRegistry();
    const disabled = new Set(config.collection.disable);
    const collectors = COLLECTORS.filter((c) => !disabled.has(c.name));
    const host = new HostMetrics({
      collectors,
      options: collectorOptions(config),
      intervalMs: config.intervalMs,
      timeoutMs: config.timeoutMs,
      logger,
      registry,
    });
    // Warm-up, as the service does one cycle before it is ready; also lets V8 compile the collectors.
    const warmupCycles = 3;
    for (let i = 0; i < warmupCycles; i++) await host.cycle();

    const wall: number[] = [];
    const cpu: number[] = [];
    // Whether a cycle is running, and how many have ended: a gap of the kept-awake loop that
    // overlaps a cycle is the cycle's to answer for; one between cycles is not.
    let cycling = false;
    let cyclesEnded = 0;
    const runCycles = async (record: boolean, around?: (cycle: () => Promise<void>) => Promise<void>): Promise<void> => {
      const cycle = async (): Promise<void> => {
        cycling = true;
        await host.cycle();
        cycling = false;
        cyclesEnded++;
      };
      for (let i = 0; i < opts.cycles; i++) {
        const c0 = process.cpuUsage();
        const w0 = performance.now();
        await (around ? around(cycle) : cycle());
        if (record) {
          wall.push(performance.now() - w0);
          const c = process.cpuUsage(c0);
          cpu.push((c.user + c.system) / 1000);
        }
        await sleep(opts.pauseMs);
      }
    };
    const measure = async (body: () => Promise<void>): Promise<PassFigures> => {
      const h = monitorEventLoopDelay({ resolution: 1 });
      h.enable();
      await body();
      h.disable();
      return passFigures(h);
    };
    // The cycle's own windows: a histogram of its own for each cycle, from CYCLE_LEAD_MS before
    // it starts (its first tick only sets the histogram's clock: a delay is timed from a tick)
    // to CYCLE_TAIL_MS after it ends (a GC that the cycle's allocation set off, run as a task
    // just after it). A histogram cannot be paused: enabled again, its first delay would be the
    // whole pause. The pass's figures are the largest delay of all windows, and the median and
    // 99th percentile of the windows' largest delays.
    const perCycle = createHistogram();
    let windowSamples = 0;
    const inWindow = async (cycle: () => Promise<void>): Promise<void> => {
      const h = monitorEventLoopDelay({ resolution: 1 });
      h.enable();
      await sleep(CYCLE_LEAD_MS);
      await cycle();
      await sleep(CYCLE_TAIL_MS);
      h.disable();
      if (h.count > 0) perCycle.record(Math.max(1, h.max));
      windowSamples += h.count;
    };
    const windowFigures = (): PassFigures => {
      const f = {
        maxMs: round(perCycle.max / 1e6),
        p99Ms: round(perCycle.percentile(99) / 1e6),
        p50Ms: round(perCycle.percentile(50) / 1e6),
        samples: windowSamples,
      };
      perCycle.reset();
      windowSamples = 0;
      return f;
    };

    const bystander = await startBystander();
    const raw: PassFigures[] = [];
    const awake: PassFigures[] = [];
    const cycleWindows: PassFigures[] = [];
    const awakeGaps: EventLoopResult['awakeGaps'] = [];
    const idle: PassFigures[] = [];
    const by: PassFigures[] = [];
    // The three kinds take turns within each pass, so a change in the machine's load touches all.
    for (let p = 0; p < opts.passes; p++) {
      await bystander.mark();
      const t0 = performance.now();
      raw.push(await measure(() => runCycles(true)));
      by.push(await bystander.mark());
      const span = performance.now() - t0;

      let keepAwake = true;
      // Gaps run from the start of one turn to the start of the next, so a GC set off by an
      // allocation in the turn itself counts as well.
      const gaps = { longestMs: 0, longestQueuedMs: 0, heldMs: 0, inCycleMs: 0, betweenCyclesMs: 0 };
      let prevWall = performance.now();
      let prevQueued = runQueueWaitMs();
      let prevEnded = cyclesEnded;
      // The deadline is kept with hrtime.bigint(), which optimized code calls without
      // allocating: a performance.now() busy-wait allocates about 30 bytes a call, which made
      // this probe, not the cycle, the source of most scavenges in the process it measures
      // (about 340 a second, against about 19 with this loop).
      const spin = (): void => {
        const now = performance.now();
        const queued = runQueueWaitMs();
        const gap = now - prevWall;
        if (gap > 1) {
          const wait = Math.min(gap, queued - prevQueued);
          if (gap > gaps.longestMs) Object.assign(gaps, { longestMs: gap, longestQueuedMs: wait });
          if (gap - wait > gaps.heldMs) gaps.heldMs = gap - wait;
          if (cycling || cyclesEnded !== prevEnded) gaps.inCycleMs = Math.max(gaps.inCycleMs, gap);
          else gaps.betweenCyclesMs = Math.max(gaps.betweenCyclesMs, gap);
        }
        prevEnded = cyclesEnded;
        prevWall = now;
        prevQueued = queued;
        const until = process.hrtime.bigint() + 20_000n;
        while (process.hrtime.bigint() < until);
        if (keepAwake) setImmediate(spin);
      };
      spin();
      awake.push(await measure(() => runCycles(false, inWindow)));
      cycleWindows.push(windowFigures());
      keepAwake = false;
      awakeGaps.push({
        longestMs: round(gaps.longestMs),
        longestQueuedMs: round(gaps.longestQueuedMs),
        heldMs: round(gaps.heldMs),
        inCycleMs: round(gaps.inCycleMs),
        betweenCyclesMs: round(gaps.betweenCyclesMs),
      });
      await sleep(opts.pauseMs);

      idle.push(await measure(() => sleep(span)));
    }
    bystander.stop();

    // Which collectors failed on this host (their time still counts; their metrics are left out).
    const own = await registry.getSingleMetricAsString('promedic_collector_success');
    const failingCollectors = own
      .split('\n')
      .filter((l) => !l.startsWith('#') && / 0$/.test(l))
      .map((l) => /collector="([^"]+)"/.exec(l)?.[1] ?? l);
    await host.stop();
    registry.clear();
    return {
      nodeFlags: [...process.execArgv, ...SERVICE_V8_FLAGS],
      collectors: collectors.length,
      warmupCycles,
      passes: opts.passes,
      cycles: opts.cycles,
      pauseMs: opts.pauseMs,
      cycleWallMs: spread(wall),
      cycleCpuMs: spread(cpu),
      awake: modeFigures(awake),
      cycleWindows: modeFigures(cycleWindows),
      awakeGaps,
      raw: modeFigures(raw),
      bystander: modeFigures(by),
      idle: modeFigures(idle),
      failingCollectors,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs this script again as a child with `args` (after any node flags) and parses the JSON it prints. */
function childJson<T>(nodeFlags: string[], args: string[], what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeFlags, fileURLToPath(import.meta.url), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    child.stdout?.on('data', (c: Buffer) => chunks.push(c));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`${what} exited with ${code}`));
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as T);
      } catch (err) {
        reject(err);
      }
    });
  });
}

/** Phase 1 in a child process started with the service's V8 flags, so its heap and GC behave as the service's do. */
function eventLoopPhase(opts: Options): Promise<EventLoopResult> {
  return childJson<EventLoopResult>(SERVICE_NODE_FLAGS, ['--eventloop-child', JSON.stringify(opts)], 'the event-loop measurement');
}

// ---------------------------------------------------------------------------------------------
// Phase 2: idle CPU and steady RSS under a 15 s scrape

interface IdleResult {
  name: Exporter['name'];
  idleWindowSeconds: number;
  idleTicks: number;
  idleCpuPercent: number;
  idleScrapes: number;
  /** cutime+cstime delta of the root process over the idle window. */
  idleChildTicks: number;
  /** Descendants seen in the window (polled every second, and at the window's ends). */
  idleChildrenSeen: string[];
  runSeconds: number;
  runCpuPercent: number;
  runChildTicks: number;
  runChildrenSeen: string[];
  rssFinalBytes: number;
  rssMaxBytes: number;
  rssSamples: { t: number; rssBytes: number; treeRssBytes: number }[];
  cpuSeries: { t: number; treeTicks: number }[];
  scrapeMs: { median: number; p90: number; max: number };
  scrapes: number;
  threads: number | null;
}

interface IdlePhase {
  exporters: IdleResult[];
  machine: { busyPercentOfAllCores: number; stealPercent: number; loadavgStart: string; loadavgEnd: string };
}

async function idlePhase(targets: Exporter[], opts: Options): Promise<IdlePhase> {
  const interval = opts.scrapeIntervalSeconds;
  const idleS = opts.idleSeconds;
  const totalS = Math.max(opts.idleSeconds, opts.rssSeconds);
  // One scrape each right away (Prometheus scrapes a new target at once), then let start-up settle.
  await Promise.all(targets.map(scrape));
  log(`  settling ${opts.settleSeconds} s`);
  await sleep(opts.settleSeconds * 1000);

  const seen = new Map<string, Map<number, { comm: string; t: number }>>(targets.map((t) => [t.name, new Map()]));
  const t0 = performance.now();
  const now = (): number => (performance.now() - t0) / 1000;
  const pollChildren = (): void => {
    for (const ex of targets) {
      const m = seen.get(ex.name) as Map<number, { comm: string; t: number }>;
      for (const d of descendants(ex.pid)) if (!m.has(d)) m.set(d, { comm: commOf(d), t: now() });
    }
  };
  const poller = setInterval(pollChildren, 1000);

  const loadavgStart = readFileSync('/proc/loadavg', 'utf8').trim();
  const m0 = machineTicks();
  const start = new Map(targets.map((ex) => [ex.name, snapshotTree(ex.pid, 0)]));
  pollChildren();
  const idleEnd = new Map<string, TreeSnapshot>();
  let mIdle = m0;
  const rss = new Map<string, TreeSnapshot[]>(targets.map((t) => [t.name, []]));
  const series = new Map<string, { t: number; treeTicks: number }[]>(targets.map((t) => [t.name, []]));
  const scrapeMs = new Map<string, number[]>(targets.map((t) => [t.name, []]));
  const scrapeTimes: number[] = [];
  let lastReport = 0;

  for (let k = 0; ; k++) {
    const tick = k * interval;
    if (idleEnd.size === 0 && idleS <= tick) {
      await until(t0 + idleS * 1000);
      pollChildren();
      for (const ex of targets) idleEnd.set(ex.name, snapshotTree(ex.pid, idleS));
      mIdle = machineTicks();
    }
    if (tick >= totalS) break;
    await until(t0 + tick * 1000);
    for (const ex of targets) {
      const s = snapshotTree(ex.pid, now());
      (series.get(ex.name) as { t: number; treeTicks: number }[]).push({ t: round(s.t, 2), treeTicks: s.treeTicks });
    }
    scrapeTimes.push(tick);
    // One after the other, in alternating order, so neither scrape competes with the other for the CPUs.
    for (const ex of k % 2 ? [...targets].reverse() : targets) (scrapeMs.get(ex.name) as number[]).push((await scrape(ex)).ms);
    for (const ex of targets) (rss.get(ex.name) as TreeSnapshot[]).push(snapshotTree(ex.pid, now()));
    if (tick - lastReport >= 60 || k === 0) {
      lastReport = tick;
      log(
        `  t=${tick}s ` +
          targets
            .map((ex) => {
              const last = (rss.get(ex.name) as TreeSnapshot[]).at(-1) as TreeSnapshot;
              const cpu = ((last.treeTicks - (start.get(ex.name) as TreeSnapshot).treeTicks) / CLK_TCK / Math.max(last.t, 1)) * 100;
              return `${ex.name} rss ${((last.rssKb * KB) / MB).toFixed(1)} MB` + (k > 0 ? ` cpu so far ${cpu.toFixed(2)} %` : '');
            })
            .join(', '),
      );
    }
  }
  await until(t0 + totalS * 1000);
  pollChildren();
  clearInterval(poller);
  const end = new Map(targets.map((ex) => [ex.name, snapshotTree(ex.pid, totalS)]));
  for (const ex of targets) (rss.get(ex.name) as TreeSnapshot[]).push(end.get(ex.name) as TreeSnapshot);
  const m1 = machineTicks();
  const loadavgEnd = readFileSync('/proc/loadavg', 'utf8').trim();

  const results = targets.map((ex): IdleResult => {
    const s0 = start.get(ex.name) as TreeSnapshot;
    const si = idleEnd.get(ex.name) as TreeSnapshot;
    const s1 = end.get(ex.name) as TreeSnapshot;
    const children = [...(seen.get(ex.name) as Map<number, { comm: string; t: number }>).entries()];
    const fmt = ([pid, c]: [number, { comm: string; t: number }]): string => `${pid} ${c.comm} (t=${c.t.toFixed(0)}s)`;
    const samples = rss.get(ex.name) as TreeSnapshot[];
    const idleTicks = si.treeTicks - s0.treeTicks;
    return {
      name: ex.name,
      idleWindowSeconds: idleS,
      idleTicks,
      idleCpuPercent: round((idleTicks / CLK_TCK / idleS) * 100),
      idleScrapes: scrapeTimes.filter((t) => t < idleS).length,
      idleChildTicks: si.root.cutime + si.root.cstime - (s0.root.cutime + s0.root.cstime),
      idleChildrenSeen: children.filter(([, c]) => c.t <= idleS).map(fmt),
      runSeconds: totalS,
      runCpuPercent: round(((s1.treeTicks - s0.treeTicks) / CLK_TCK / totalS) * 100),
      runChildTicks: s1.root.cutime + s1.root.cstime - (s0.root.cutime + s0.root.cstime),
      runChildrenSeen: children.map(fmt),
      rssFinalBytes: s1.treeRssKb * KB,
      rssMaxBytes: Math.max(...samples.map((s) => s.treeRssKb)) * KB,
      rssSamples: samples.map((s) => ({ t: round(s.t, 1), rssBytes: s.rssKb * KB, treeRssBytes: s.treeRssKb * KB })),
      cpuSeries: series.get(ex.name) as { t: number; treeTicks: number }[],
      scrapeMs: spread(scrapeMs.get(ex.name) as number[]),
      scrapes: scrapeTimes.length,
      threads: statusField(ex.pid, 'Threads'),
    };
  });
  const dTotal = m1.total - m0.total;
  return {
    exporters: results,
    machine: {
      busyPercentOfAllCores: round((100 * (dTotal - (m1.idle - m0.idle))) / dTotal, 2),
      stealPercent: round((100 * (m1.steal - m0.steal)) / dTotal, 2),
      loadavgStart,
      loadavgEnd,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Phase 3: sequential scrape latency

interface LatencyRun {
  round: number;
  name: Exporter['name'];
  requests: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  /** autocannon's own histogram, which keeps whole milliseconds. */
  autocannonP50Ms: number;
  autocannonP99Ms: number;
  errors: number;
  non2xx: number;
}

/** One sequential-scrape run with autocannon, in this process. */
function cannonHere(url: string, seconds: number): Promise<{ latencies: number[]; result: AutocannonResult }> {
  return new Promise((resolve, reject) => {
    const latencies: number[] = [];
    const instance = autocannon(
      { url, connections: 1, pipelining: 1, duration: seconds, timeout: 10, headers: SCRAPE_HEADERS },
      (err, result) => (err ? reject(err) : resolve({ latencies, result })),
    );
    // Sub-millisecond latencies come from the response events (autocannon's histogram keeps integers).
    instance.on('response', (_client, status, _bytes, ms) => {
      if (status === 200) latencies.push(ms);
    });
  });
}

/**
 * One run, measured by a fresh child process (this script with --cannon-child): the client's
 * own heap and GC start the same for every run, so a run late in the benchmark does not pay
 * for the garbage of the runs before it (measured otherwise: both exporters' p99 rose 1.5-4 ms
 * from the second round on, client-side).
 */
function cannon(ex: Exporter, seconds: number): Promise<{ latencies: number[]; result: AutocannonResult }> {
  return childJson([], ['--cannon-child', `${ex.url}/metrics`, String(seconds)], `the scrape client for ${ex.name}`);
}

interface LatencyPhase {
  runs: LatencyRun[];
  summary: Record<Exporter['name'], { p50Ms: number; p99Ms: number; pooledP50Ms: number; pooledP99Ms: number; requests: number }>;
}

async function latencyPhase(pm: Exporter, ne: Exporter, opts: Options): Promise<LatencyPhase> {
  if (opts.warmupSeconds > 0) {
    for (const ex of [ne, pm]) await cannon(ex, opts.warmupSeconds);
  }
  const runs: LatencyRun[] = [];
  const pooled = new Map<string, number[]>([
    [pm.name, []],
    [ne.name, []],
  ]);
  for (let r = 1; r <= opts.rounds; r++) {
    // Alternate which goes first, so a drift in machine load does not favour either.
    const order = r % 2 ? [ne, pm] : [pm, ne];
    for (const ex of order) {
      const { latencies, result } = await cannon(ex, opts.latencySeconds);
      const s = sorted(latencies);
      (pooled.get(ex.name) as number[]).push(...latencies);
      const run: LatencyRun = {
        round: r,
        name: ex.name,
        requests: s.length,
        p50Ms: round(percentile(s, 50)),
        p99Ms: round(percentile(s, 99)),
        maxMs: round(s[s.length - 1] ?? Number.NaN),
        meanMs: round(s.reduce((a, b) => a + b, 0) / s.length),
        autocannonP50Ms: result.latency.p50,
        autocannonP99Ms: result.latency.p99,
        errors: result.errors,
        non2xx: result.non2xx,
      };
      runs.push(run);
      log(
        `  round ${r} ${ex.name.padEnd(13)} ${String(run.requests).padStart(6)} scrapes  p50 ${run.p50Ms.toFixed(2)} ms  p99 ${run.p99Ms.toFixed(2)} ms  max ${run.maxMs.toFixed(1)} ms` +
          (run.errors || run.non2xx ? `  errors ${run.errors} non2xx ${run.non2xx}` : ''),
      );
      if (run.requests === 0) throw new Error(`${ex.name}: no successful scrape in round ${r}`);
    }
  }
  const summarize = (name: Exporter['name']) => {
    const mine = runs.filter((x) => x.name === name);
    const all = sorted(pooled.get(name) as number[]);
    return {
      p50Ms: round(median(mine.map((x) => x.p50Ms))),
      p99Ms: round(median(mine.map((x) => x.p99Ms))),
      pooledP50Ms: round(percentile(all, 50)),
      pooledP99Ms: round(percentile(all, 99)),
      requests: all.length,
    };
  };
  return { runs, summary: { promedic: summarize('promedic'), node_exporter: summarize('node_exporter') } };
}

// ---------------------------------------------------------------------------------------------
// Machine facts

interface Facts {
  date: string;
  nproc: number;
  cpuModel: string;
  memTotalBytes: number;
  kernel: string;
  node: string;
  promedic: string;
  nodeExporter: string;
  clockTicksPerSecond: number;
  /** The commit the run was built from, and the files under src/ that differed from it. */
  gitCommit: string | null;
  gitDirtySrc: string[];
}

function git(args: string[]): string | null {
  const r = spawnSync('git', args, { cwd: fileURLToPath(new URL('../..', import.meta.url)), encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

function machineFacts(nodeExporter: string): Facts {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const memKb = Number(/^MemTotal:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? Number.NaN);
  const v = spawnSync(nodeExporter, ['--version'], { encoding: 'utf8' });
  if (v.error) throw new Error(`cannot run ${nodeExporter}: ${v.error.message} (set --node-exporter)`);
  const vText = `${v.stdout ?? ''}${v.stderr ?? ''}`;
  return {
    date: new Date().toISOString(),
    nproc: os.availableParallelism(),
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown',
    memTotalBytes: memKb * KB,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    promedic: VERSION,
    nodeExporter: /version (\S+)/.exec(vText)?.[1] ?? vText.split('\n')[0] ?? 'unknown',
    clockTicksPerSecond: CLK_TCK,
    gitCommit: git(['rev-parse', 'HEAD']),
    gitDirtySrc: (git(['status', '--porcelain', '--', 'src']) ?? '').split('\n').filter(Boolean),
  };
}

// ---------------------------------------------------------------------------------------------
// Report

interface Row {
  figure: string;
  promedic: string;
  nodeExporter: string;
  goal: string;
  result: string;
}

function table(rows: Row[]): string {
  const head: Row = { figure: 'figure', promedic: 'promedic', nodeExporter: 'node_exporter', goal: 'goal', result: 'pass/fail' };
  const all = [head, ...rows];
  const keys = ['figure', 'promedic', 'nodeExporter', 'goal', 'result'] as const;
  const width = keys.map((k) => Math.max(...all.map((r) => r[k].length)));
  const line = (r: Row): string => `| ${keys.map((k, i) => r[k].padEnd(width[i] as number)).join(' | ')} |`;
  const sep = `|${width.map((w) => '-'.repeat(w + 2)).join('|')}|`;
  return [line(head), sep, ...rows.map(line)].join('\n');
}

const ms = (n: number): string => `${n.toFixed(2)} ms`;
const pct = (n: number): string => `${n.toFixed(2)} %`;
const mb = (bytes: number): string => `${(bytes / MB).toFixed(1)} MB`;
const verdict = (ok: boolean): string => (ok ? 'PASS' : 'FAIL');

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const facts = machineFacts(opts.nodeExporter);
  log(`promedic ${facts.promedic} vs node_exporter ${facts.nodeExporter} — ${facts.date}`);
  log(
    `machine: ${facts.nproc} CPUs (${facts.cpuModel}), ${(facts.memTotalBytes / 2 ** 30).toFixed(1)} GiB RAM, ${facts.kernel}, node ${facts.node}, CLK_TCK ${facts.clockTicksPerSecond}`,
  );
  log(`commit ${facts.gitCommit ?? 'unknown'}${facts.gitDirtySrc.length ? ` with uncommitted changes under src/: ${facts.gitDirtySrc.join(', ')}` : ''}`);
  log(`options: ${JSON.stringify(opts)}`);

  log(
    `\n[1/3] event-loop delay during collection cycles (child process with ${SERVICE_NODE_FLAGS.join(' ')} and the command line's ${SERVICE_V8_FLAGS.join(' ')}; ${opts.passes} passes of ${opts.cycles} cycles, ${opts.pauseMs} ms apart)`,
  );
  const eventLoop = await eventLoopPhase(opts);
  log(
    `  cycle wall median ${ms(eventLoop.cycleWallMs.median)}, cpu median ${ms(eventLoop.cycleCpuMs.median)}\n` +
      `  loop kept awake, each cycle's window: max per pass ${eventLoop.cycleWindows.passes.map((p) => ms(p.maxMs)).join(', ')}\n` +
      `  loop kept awake, whole pass: max per pass ${eventLoop.awake.passes.map((p) => ms(p.maxMs)).join(', ')}\n` +
      `    longest gap between its turns during a cycle / between cycles: ${eventLoop.awakeGaps.map((g) => `${ms(g.inCycleMs)} / ${ms(g.betweenCyclesMs)}`).join(', ')}\n` +
      `    longest gap between its turns (of which waiting for a CPU): ${eventLoop.awakeGaps.map((g) => `${ms(g.longestMs)} (${ms(g.longestQueuedMs)})`).join(', ')}\n` +
      `    longest gap less the CPU wait: ${eventLoop.awakeGaps.map((g) => ms(g.heldMs)).join(', ')}\n` +
      `  plain histogram: max per pass ${eventLoop.raw.passes.map((p) => ms(p.maxMs)).join(', ')}\n` +
      `  idle bystander process, same windows: ${eventLoop.bystander.passes.map((p) => ms(p.maxMs)).join(', ')}\n` +
      `  no cycles (idle windows): ${eventLoop.idle.passes.map((p) => ms(p.maxMs)).join(', ')}`,
  );
  if (eventLoop.failingCollectors.length) log(`  collectors failing on this host: ${eventLoop.failingCollectors.join(', ')}`);

  log('\nstarting the exporters');
  const ne = await startExporter('node_exporter', opts.nodeExporter, (port) => [
    '--no-collector.systemd',
    `--web.listen-address=127.0.0.1:${port}`,
  ]);
  const cli = fileURLToPath(new URL('../src/cli/index.js', import.meta.url));
  // With the V8 flag that `npm start` and the promedic bin's shebang pass.
  const pm = await startExporter('promedic', process.execPath, (port, dir) => [
    ...SERVICE_NODE_FLAGS,
    cli,
    'start',
    '--port',
    String(port),
    '--data-dir',
    join(dir, 'data'),
    '--log-level',
    'warn',
  ]);
  const first = await Promise.all([scrape(pm), scrape(ne)]);
  const exposition = {
    promedic: { bytes: Buffer.byteLength(first[0].body), samples: sampleCount(first[0].body) },
    node_exporter: { bytes: Buffer.byteLength(first[1].body), samples: sampleCount(first[1].body) },
  };
  log(`  promedic pid ${pm.pid} on ${pm.url}: ${exposition.promedic.samples} samples, ${exposition.promedic.bytes} bytes`);
  log(`  node_exporter pid ${ne.pid} on ${ne.url}: ${exposition.node_exporter.samples} samples, ${exposition.node_exporter.bytes} bytes`);

  const totalS = Math.max(opts.idleSeconds, opts.rssSeconds);
  log(
    `\n[2/3] idle CPU (first ${opts.idleSeconds} s) and RSS (${totalS} s), one scrape each every ${opts.scrapeIntervalSeconds} s, both exporters at once`,
  );
  const idle = await idlePhase([pm, ne], opts);
  const ipm = idle.exporters.find((x) => x.name === 'promedic') as IdleResult;
  const ine = idle.exporters.find((x) => x.name === 'node_exporter') as IdleResult;

  log(`\n[3/3] sequential scrape latency: ${opts.rounds} rounds of ${opts.latencySeconds} s each, alternating (warm-up ${opts.warmupSeconds} s each)`);
  const latency = await latencyPhase(pm, ne, opts);
  const afterLoad = { promedic: (statusField(pm.pid, 'VmRSS') ?? 0) * KB, node_exporter: (statusField(ne.pid, 'VmRSS') ?? 0) * KB };

  await cleanup();

  // ----- figures and goals
  const lpm = latency.summary.promedic;
  const lne = latency.summary.node_exporter;
  const ratio = lpm.p99Ms / lne.p99Ms;
  const noChildren = ipm.idleChildTicks === 0 && ipm.idleChildrenSeen.length === 0;
  const goals = {
    scrapeP99: { goal: 'promedic p99 <= 1/4 of node_exporter p99', ratio: round(ratio, 4), met: ratio <= 0.25 },
    idleCpu: { goal: 'promedic <= 0.5 % of one core', percent: ipm.idleCpuPercent, met: ipm.idleCpuPercent <= 0.5 },
    noChildProcess: { goal: 'promedic spawns no child process', met: noChildren },
    steadyRss: { goal: 'promedic <= 80 MB (10^6 B)', bytes: ipm.rssFinalBytes, met: ipm.rssFinalBytes <= 80 * MB },
    eventLoopMax: {
      goal: 'the cycle blocks the event loop <= 5 ms (max delay in the cycles\' windows, loop kept awake, all passes)',
      ms: eventLoop.cycleWindows.maxMs,
      met: eventLoop.cycleWindows.maxMs <= 5,
    },
  };

  const rows: Row[] = [
    { figure: `scrape latency p50 (median of ${opts.rounds} rounds)`, promedic: ms(lpm.p50Ms), nodeExporter: ms(lne.p50Ms), goal: '', result: '' },
    {
      figure: `scrape latency p99 (median of ${opts.rounds} rounds)`,
      promedic: ms(lpm.p99Ms),
      nodeExporter: ms(lne.p99Ms),
      goal: `<= ${ms(lne.p99Ms / 4)} (1/4)`,
      result: verdict(goals.scrapeP99.met),
    },
    { figure: 'scrape p99 ratio promedic / node_exporter', promedic: ratio.toFixed(3), nodeExporter: '1', goal: '<= 0.250', result: verdict(goals.scrapeP99.met) },
    { figure: 'scrape latency p50 / p99, all rounds pooled', promedic: `${ms(lpm.pooledP50Ms)} / ${ms(lpm.pooledP99Ms)}`, nodeExporter: `${ms(lne.pooledP50Ms)} / ${ms(lne.pooledP99Ms)}`, goal: '', result: '' },
    { figure: 'sequential scrapes measured', promedic: String(lpm.requests), nodeExporter: String(lne.requests), goal: '', result: '' },
    {
      figure: `idle CPU, ${opts.idleSeconds} s window, % of one core`,
      promedic: pct(ipm.idleCpuPercent),
      nodeExporter: pct(ine.idleCpuPercent),
      goal: '<= 0.50 %',
      result: verdict(goals.idleCpu.met),
    },
    { figure: `  (ticks in the window, ${CLK_TCK}/s; scrapes)`, promedic: `${ipm.idleTicks}; ${ipm.idleScrapes}`, nodeExporter: `${ine.idleTicks}; ${ine.idleScrapes}`, goal: '', result: '' },
    {
      figure: `idle CPU over the whole ${totalS} s run`,
      promedic: pct(ipm.runCpuPercent),
      nodeExporter: pct(ine.runCpuPercent),
      goal: '(info)',
      result: '',
    },
    {
      figure: 'child processes in the idle window',
      promedic: `${ipm.idleChildrenSeen.length} seen, cutime+cstime +${ipm.idleChildTicks}`,
      nodeExporter: `${ine.idleChildrenSeen.length} seen, cutime+cstime +${ine.idleChildTicks}`,
      goal: 'none',
      result: verdict(goals.noChildProcess.met),
    },
    { figure: `steady RSS after ${totalS} s`, promedic: mb(ipm.rssFinalBytes), nodeExporter: mb(ine.rssFinalBytes), goal: '<= 80 MB', result: verdict(goals.steadyRss.met) },
    { figure: `max RSS over ${totalS} s (every ${opts.scrapeIntervalSeconds} s)`, promedic: mb(ipm.rssMaxBytes), nodeExporter: mb(ine.rssMaxBytes), goal: '(info)', result: '' },
    { figure: 'RSS after the latency rounds', promedic: mb(afterLoad.promedic), nodeExporter: mb(afterLoad.node_exporter), goal: '(info)', result: '' },
    { figure: `scrape time at ${opts.scrapeIntervalSeconds} s spacing, median / max`, promedic: `${ms(ipm.scrapeMs.median)} / ${ms(ipm.scrapeMs.max)}`, nodeExporter: `${ms(ine.scrapeMs.median)} / ${ms(ine.scrapeMs.max)}`, goal: '', result: '' },
    { figure: 'exposition size (samples, bytes)', promedic: `${exposition.promedic.samples}, ${exposition.promedic.bytes}`, nodeExporter: `${exposition.node_exporter.samples}, ${exposition.node_exporter.bytes}`, goal: '', result: '' },
    {
      figure: `event-loop blocking: delay during the cycles, loop kept awake, max of ${opts.passes} passes`,
      promedic: ms(eventLoop.cycleWindows.maxMs),
      nodeExporter: 'n/a',
      goal: '<= 5 ms',
      result: verdict(goals.eventLoopMax.met),
    },
    {
      figure: '  median of the passes\' maxima; median p99 of the cycles\' maxima',
      promedic: `${ms(eventLoop.cycleWindows.medianOfMaxMs)}; ${ms(eventLoop.cycleWindows.medianP99Ms)}`,
      nodeExporter: 'n/a',
      goal: '',
      result: '',
    },
    {
      figure: '  whole passes (cycles and the pauses between them): max; median of maxima; median p99',
      promedic: `${ms(eventLoop.awake.maxMs)}; ${ms(eventLoop.awake.medianOfMaxMs)}; ${ms(eventLoop.awake.medianP99Ms)}`,
      nodeExporter: 'n/a',
      goal: '(info)',
      result: '',
    },
    {
      figure: '  longest gap between the probe\'s turns during a cycle / between cycles',
      promedic: `${ms(Math.max(...eventLoop.awakeGaps.map((g) => g.inCycleMs)))} / ${ms(Math.max(...eventLoop.awakeGaps.map((g) => g.betweenCyclesMs)))}`,
      nodeExporter: 'n/a',
      goal: '(info)',
      result: '',
    },
    {
      figure: '  longest gap between turns, less the time the thread waited for a CPU',
      promedic: ms(Math.max(...eventLoop.awakeGaps.map((g) => g.heldMs))),
      nodeExporter: 'n/a',
      goal: '(info)',
      result: '',
    },
    {
      figure: '  plain histogram (loop sleeps between events): max; median of maxima; median p99',
      promedic: `${ms(eventLoop.raw.maxMs)}; ${ms(eventLoop.raw.medianOfMaxMs)}; ${ms(eventLoop.raw.medianP99Ms)}`,
      nodeExporter: 'n/a',
      goal: '(info)',
      result: '',
    },
    {
      figure: '  an idle Node.js process beside it, same windows: max; median of maxima',
      promedic: `${ms(eventLoop.bystander.maxMs)}; ${ms(eventLoop.bystander.medianOfMaxMs)}`,
      nodeExporter: 'n/a',
      goal: '(info)',
      result: '',
    },
    {
      figure: '  plain histogram with no cycles: max; median of maxima',
      promedic: `${ms(eventLoop.idle.maxMs)}; ${ms(eventLoop.idle.medianOfMaxMs)}`,
      nodeExporter: 'n/a',
      goal: '(info)',
      result: '',
    },
    { figure: 'collection cycle wall time, median', promedic: ms(eventLoop.cycleWallMs.median), nodeExporter: 'n/a', goal: '', result: '' },
    { figure: 'collection cycle CPU time, median', promedic: ms(eventLoop.cycleCpuMs.median), nodeExporter: 'n/a', goal: '', result: '' },
  ];

  log('\nResults');
  log(`commit ${facts.gitCommit ?? 'unknown'}${facts.gitDirtySrc.length ? ' (src/ had uncommitted changes)' : ''}`);
  log(`machine: ${facts.nproc} × ${facts.cpuModel}, ${(facts.memTotalBytes / 2 ** 30).toFixed(1)} GiB, ${facts.kernel}; node ${facts.node}; node_exporter ${facts.nodeExporter}`);
  log(
    `during the idle/RSS run the whole machine was ${idle.machine.busyPercentOfAllCores} % busy (all cores), steal ${idle.machine.stealPercent} %; ` +
      `loadavg ${idle.machine.loadavgStart} -> ${idle.machine.loadavgEnd}`,
  );
  log(table(rows));
  log('');
  for (const [key, g] of Object.entries(goals)) log(`goal ${key}: ${g.goal}: ${g.met ? 'met' : 'MISSED'}`);

  const report = { facts, options: opts, exposition, eventLoop, idle, latency, rssAfterLatencyBytes: afterLoad, goals };
  const json = JSON.stringify(report);
  if (opts.json) writeFileSync(opts.json, `${JSON.stringify(report, null, 2)}\n`);
  log(json);
}

if (process.argv[2] === '--bystander-child') {
  bystanderHere().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`bystander: ${errorMessage(err)}\n`);
      process.exit(1);
    },
  );
} else if (process.argv[2] === '--eventloop-child') {
  // The V8 settings the promedic command line applies, so the cycles run as in the service.
  applyServiceV8Flags();
  eventLoopHere(JSON.parse(process.argv[3] as string) as Options).then(
    (result) => process.stdout.write(JSON.stringify(result), () => process.exit(0)),
    (err: unknown) => {
      process.stderr.write(`event-loop measurement: ${err instanceof Error ? (err.stack ?? err.message) : errorMessage(err)}\n`);
      process.exit(1);
    },
  );
} else if (process.argv[2] === '--cannon-child') {
  const [, , , url, seconds] = process.argv;
  cannonHere(url as string, Number(seconds)).then(
    ({ latencies, result }) => {
      const { latency, requests, duration, errors, timeouts, non2xx } = result;
      process.stdout.write(JSON.stringify({ latencies, result: { latency, requests, duration, errors, timeouts, non2xx } }), () => process.exit(0));
    },
    (err: unknown) => {
      process.stderr.write(`scrape client: ${errorMessage(err)}\n`);
      process.exit(1);
    },
  );
} else main().then(
  () => process.exit(0),
  async (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : errorMessage(err)}\n`);
    await cleanup();
    process.exit(1);
  },
);
