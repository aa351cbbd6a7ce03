/**
 * Where the longest event-loop delays of the collection cycle come from.
 *
 *   npm run bench:gaps -- [--cycles 600] [--pause-ms 100] [--min-ms 1.5] [--top 20] [--perf]
 *
 * Runs the built HostMetrics on the real /proc and /sys with the service's V8 flags, `--cycles`
 * cycles `--pause-ms` apart, with the loop kept awake by the same probe as `bench:exporter`
 * (a 20 µs busy turn queued again with setImmediate). Every gap of at least `--min-ms` between
 * the probe's turns is kept with the collector in progress (or "between cycles") and the GC
 * events that overlap it.
 *
 * With --perf (Linux, `perf` on PATH, allowed to sample every CPU: root or a low
 * perf_event_paranoid), `perf record -a -e cpu-clock` runs alongside and each gap is split by
 * what the CPUs ran during it:
 *   - held: the main thread was sampled for most of the gap: its own work (a collector, GC);
 *   - preempted: another task was sampled on the main thread's CPU;
 *   - waited: the main thread was off its CPU and the CPU idle: the thread was blocked (on a
 *     lock, in the kernel, on a page to come in);
 *   - host: the main thread's CPU took no samples at all for most of the gap although the
 *     thread was busy: the virtual CPU was not running (a guest cannot see this as steal time
 *     on every hypervisor), or the kernel held it with interrupts off.
 *
 * Prints one line per gap, longest first, then a summary.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { applyServiceV8Flags } from '../src/cli/v8.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import type { CycleContext, HostCollector } from '../src/metrics/collector.js';
import { COLLECTORS } from '../src/metrics/collectors/index.js';
import { HostMetrics, collectorOptions } from '../src/metrics/host.js';
import { createRegistry } from '../src/metrics/registry.js';

const { values } = parseArgs({
  options: {
    cycles: { type: 'string' },
    'pause-ms': { type: 'string' },
    'min-ms': { type: 'string' },
    top: { type: 'string' },
    perf: { type: 'boolean' },
    help: { type: 'boolean' },
  },
});
if (values.help) {
  console.log('usage: npm run bench:gaps -- [--cycles 600] [--pause-ms 100] [--min-ms 1.5] [--top 20] [--perf]');
  process.exit(0);
}
const num = (v: string | undefined, d: number): number => {
  const n = v === undefined ? d : Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`bad number: ${v}`);
  return n;
};
const CYCLES = num(values.cycles, 600);
const PAUSE_MS = num(values['pause-ms'], 100);
const MIN_MS = num(values['min-ms'], 1.5);
const TOP = num(values.top, 20);
const PERF_HZ = 2000;

applyServiceV8Flags();

interface Gap {
  /** CLOCK_MONOTONIC of the turn before the gap, in ns (perf's -k CLOCK_MONOTONIC clock). */
  startNs: bigint;
  ms: number;
  where: string;
  gc: string[];
}

/** What the CPUs did during one gap, from perf's samples. */
interface Split {
  verdict: 'held' | 'preempted' | 'waited' | 'host' | 'unclear';
  mainOnCpuMs: number;
  detail: string;
}

interface PerfSample {
  tid: number;
  comm: string;
  cpu: number;
  t: number;
  /** What the sample was doing, for the main thread: see `label`. */
  what: string;
}

/**
 * A short name for what a stack was doing: the first frame, from the leaf, that says more
 * than "some code": a collector, a GC phase, the compiler, a system call, or a JS function
 * (named with --perf-basic-prof).
 */
const TELLING = /(collectors\/\w+)|(Scaveng\w*|MarkCompact\w*|IncrementalMarking\w*|ConcurrentMarking|Sweeper\w*|MemoryReducer)|(Compiler|Turbofan|Maglev|Deoptimizer)|(__x64_sys_\w+)|(JS:[*~^]?\S+)/;
function label(frames: string[]): string {
  for (const f of frames) {
    const m = TELLING.exec(f);
    if (m) return (m[1] ?? m[2] ?? (m[3] ? 'compile' : undefined) ?? m[4] ?? m[5] ?? f).replace('__x64_sys_', 'syscall ');
  }
  return frames[0] ?? '?';
}

function startPerf(file: string): ChildProcess | null {
  const probe = spawnSync('perf', ['--version'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    console.log('perf is not on PATH: gaps are not split by CPU');
    return null;
  }
  return spawn('perf', ['record', '-q', '-g', '-k', 'CLOCK_MONOTONIC', '-e', 'cpu-clock', '-F', String(PERF_HZ), '-a', '-o', file], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

async function stopPerf(perf: ChildProcess, file: string, mainTid: number): Promise<PerfSample[]> {
  const exited = new Promise<void>((resolve) => perf.once('exit', () => resolve()));
  perf.kill('SIGINT');
  await exited;
  const out = spawnSync('perf', ['script', '-i', file, '-F', 'comm,tid,cpu,time,ip,sym', '--ns'], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (out.status !== 0) {
    console.log(`perf script failed: ${out.stderr.trim().split('\n').at(-1) ?? ''}`);
    return [];
  }
  const samples: PerfSample[] = [];
  // "node  12345 [001] 60575.687455742:"; comm may contain spaces.
  const re = /^\s*(.*?)\s+(\d+)\s+\[(\d+)\]\s+(\d+\.\d+):/;
  for (const block of out.stdout.split('\n\n')) {
    const lines = block.split('\n').filter((l) => l.trim() !== '');
    const m = re.exec(lines[0] ?? '');
    if (!m) continue;
    const tid = Number(m[2]);
    // "    7faec00eb416 JS:^read node:fs:616:14": the address, then the symbol.
    const what = tid === mainTid ? label(lines.slice(1).map((l) => l.trim().replace(/^\S+\s+/, ''))) : '';
    samples.push({ comm: m[1] as string, tid, cpu: Number(m[3]), t: Number(m[4]), what });
  }
  return samples;
}

function split(gap: Gap, samples: PerfSample[], mainTid: number): Split {
  const s = Number(gap.startNs) / 1e9;
  const e = s + gap.ms / 1000;
  const period = 1 / PERF_HZ;
  // Binary search for the first sample at or after s (perf script prints in time order).
  let lo = 0;
  let hi = samples.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((samples[mid] as PerfSample).t < s) lo = mid + 1;
    else hi = mid;
  }
  // The main thread's CPU: where it was last sampled before the gap.
  let cpu = -1;
  for (let i = lo - 1; i >= 0 && i > lo - 5000; i--) {
    const x = samples[i] as PerfSample;
    if (x.tid === mainTid) {
      cpu = x.cpu;
      break;
    }
  }
  let main = 0;
  let idle = 0;
  const doing = new Map<string, number>();
  const others = new Map<string, number>();
  let onCpu = 0;
  for (let i = lo; i < samples.length && (samples[i] as PerfSample).t <= e; i++) {
    const x = samples[i] as PerfSample;
    if (x.tid === mainTid) {
      main++;
      doing.set(x.what, (doing.get(x.what) ?? 0) + 1);
    } else if (x.tid === 0 && x.cpu === cpu) {
      idle++;
    } else if (x.cpu === cpu || cpu < 0) {
      others.set(`${x.comm}/${x.tid}`, (others.get(`${x.comm}/${x.tid}`) ?? 0) + 1);
    }
    if (x.cpu === cpu) onCpu++;
  }
  const expected = gap.ms / 1000 / period;
  const mainOnCpuMs = main * period * 1000;
  const otherCount = [...others.values()].reduce((a, b) => a + b, 0);
  const detail =
    `main ${main}/${expected.toFixed(0)} samples` +
    (doing.size
      ? ` (${[...doing]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 3)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')})`
      : '') +
    (others.size ? `; on its CPU: ${[...others].map(([k, v]) => `${k} ${v}`).join(', ')}` : '') +
    (cpu >= 0 && onCpu < expected / 2 ? `; its CPU ${cpu} took ${onCpu} samples` : '');
  if (main >= expected * 0.6) return { verdict: 'held', mainOnCpuMs, detail };
  if (otherCount >= expected * 0.4) return { verdict: 'preempted', mainOnCpuMs, detail };
  if (idle >= expected * 0.4) return { verdict: 'waited', mainOnCpuMs, detail: `${detail}; its CPU idle ${idle}` };
  if (cpu >= 0 && onCpu < expected * 0.5) return { verdict: 'host', mainOnCpuMs, detail };
  return { verdict: 'unclear', mainOnCpuMs, detail };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(os.tmpdir(), 'bench-gaps-'));
  try {
    const config = loadConfig({ env: {}, cwd: dir, flags: { 'data-dir': dir } });
    let where = 'between cycles';
    const disabled = new Set(config.collection.disable);
    // Each collector marks itself as the one in progress while its own code runs.
    const collectors: HostCollector[] = COLLECTORS.filter((c) => !disabled.has(c.name)).map((c) => ({
      name: c.name,
      ...(c.prefetch ? { prefetch: (ctx: CycleContext) => c.prefetch?.(ctx) } : {}),
      ...(c.scrape ? { scrape: () => c.scrape?.() ?? [] } : {}),
      collect: (ctx: CycleContext) => {
        where = c.name;
        const p = c.collect(ctx);
        where = `${c.name} (after its first turn)`;
        return p;
      },
    }));
    const registry = createRegistry();
    const host = new HostMetrics({
      collectors,
      options: collectorOptions(config),
      intervalMs: config.intervalMs,
      timeoutMs: config.timeoutMs,
      logger: createLogger('warn', process.stderr),
      registry,
    });
    for (let i = 0; i < 3; i++) await host.cycle();

    const gcs: Array<{ start: number; ms: number; kind: string }> = [];
    const kinds: Record<number, string> = { 1: 'scavenge', 2: 'minor-ms', 4: 'mark-compact', 8: 'incremental', 16: 'weak-callbacks' };
    const obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const kind = (e as { detail?: { kind?: number } }).detail?.kind ?? 0;
        gcs.push({ start: e.startTime, ms: e.duration, kind: kinds[kind] ?? `gc${kind}` });
      }
    });
    obs.observe({ entryTypes: ['gc'] });

    const perfFile = join(dir, 'perf.data');
    const perf = values.perf ? startPerf(perfFile) : null;
    if (perf) await sleep(1500); // perf's own start-up holds the CPUs for a moment

    const gaps: Array<Gap & { startMs: number }> = [];
    let keepAwake = true;
    let recording = true;
    let prevNs = process.hrtime.bigint();
    let prevMs = performance.now();
    const minNs = BigInt(Math.round(MIN_MS * 1e6));
    const spin = (): void => {
      const nowNs = process.hrtime.bigint();
      const nowMs = performance.now();
      if (recording && nowNs - prevNs >= minNs) gaps.push({ startNs: prevNs, startMs: prevMs, ms: Number(nowNs - prevNs) / 1e6, where, gc: [] });
      prevNs = nowNs;
      prevMs = nowMs;
      const until = nowNs + 20_000n;
      while (process.hrtime.bigint() < until);
      if (keepAwake) setImmediate(spin);
    };
    spin();
    const t0 = performance.now();
    for (let i = 0; i < CYCLES; i++) {
      where = 'cycle start';
      await host.cycle();
      where = 'between cycles';
      await sleep(PAUSE_MS);
    }
    // The probe's last turn comes after the code below: its gap is not the cycles'.
    keepAwake = false;
    recording = false;
    const seconds = (performance.now() - t0) / 1000;
    obs.disconnect();
    await host.stop();

    for (const g of gaps) {
      g.gc = gcs.filter((x) => x.start < g.startMs + g.ms && x.start + x.ms > g.startMs).map((x) => `${x.kind} ${x.ms.toFixed(2)} ms`);
    }
    const samples = perf ? await stopPerf(perf, perfFile, process.pid) : [];
    const splits = new Map<Gap, Split>();
    if (samples.length) for (const g of gaps) splits.set(g, split(g, samples, process.pid));

    console.log(`${CYCLES} cycles ${PAUSE_MS} ms apart over ${seconds.toFixed(0)} s; ${gaps.length} gaps of the kept-awake loop >= ${MIN_MS} ms`);
    for (const g of [...gaps].sort((a, b) => b.ms - a.ms).slice(0, TOP)) {
      const sp = splits.get(g);
      console.log(
        `${g.ms.toFixed(2).padStart(7)} ms  ${g.where.padEnd(34)} ${g.gc.join(', ').padEnd(24)}` +
          (sp ? ` ${sp.verdict.padEnd(9)} ${sp.detail}` : ''),
      );
    }
    const inCycle = gaps.filter((g) => g.where !== 'between cycles');
    const max = (xs: Gap[]): string => (xs.length ? `${Math.max(...xs.map((g) => g.ms)).toFixed(2)} ms` : '-');
    console.log(`\nduring a cycle: ${inCycle.length} gaps, longest ${max(inCycle)}; between cycles: ${gaps.length - inCycle.length}, longest ${max(gaps.filter((g) => g.where === 'between cycles'))}`);
    console.log(`with a GC event in them: ${gaps.filter((g) => g.gc.length).length}`);
    if (splits.size) {
      for (const v of ['held', 'preempted', 'waited', 'host', 'unclear'] as const) {
        const xs = gaps.filter((g) => splits.get(g)?.verdict === v);
        console.log(`${v.padEnd(9)} ${String(xs.length).padStart(4)} gaps, longest ${max(xs)}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
