import { readdirSync } from 'node:fs';
import type { CycleContext, HostCollector } from '../collector.js';
import { type Family, family } from '../exposition.js';

/** state letter (proc(5)) -> node_exporter's label value is the letter itself. */
export function parsePidStat(text: string): { state: string; threads: number } | null {
  // comm may contain spaces and parentheses: fields start after the last ')'. Found by
  // scanning for spaces rather than splitting, which made ~50 strings per process.
  const close = text.lastIndexOf(')');
  if (close < 0 || text.charCodeAt(close + 1) !== 32) return null;
  const start = close + 2;
  const state = text[start];
  if (state === undefined || state === ' ') return null;
  // num_threads is the 18th field after the state (field 20 of proc(5)).
  let pos = start;
  for (let i = 0; i < 17 && pos >= 0; i++) pos = text.indexOf(' ', pos + 1);
  if (pos < 0) return null;
  const end = text.indexOf(' ', pos + 1);
  const threads = Number(text.slice(pos + 1, end < 0 ? undefined : end));
  if (!Number.isFinite(threads) || pos + 1 === end) return null;
  return { state, threads };
}

const CHUNK = 16;

/** Process and thread counts by state, from /proc/<pid>/stat; no `ps` child process. */
export const processes: HostCollector = {
  name: 'processes',
  async collect(ctx: CycleContext): Promise<Family[]> {
    const procfs = ctx.opts.procfs;
    const pids = readdirSync(procfs).filter((d) => /^\d+$/.test(d));
    const states = new Map<string, number>();
    let threads = 0;
    let seen = 0;
    for (let i = 0; i < pids.length; i++) {
      // One file per process: let other work in every CHUNK files.
      if (i > 0 && i % CHUNK === 0) await ctx.yield();
      // A process can exit between readdir and read: that is not an error.
      const text = ctx.readNow(`${procfs}/${pids[i] as string}/stat`, { perProcess: true, single: true });
      const p = text ? parsePidStat(text) : null;
      if (!p) continue;
      seen++;
      threads += p.threads;
      states.set(p.state, (states.get(p.state) ?? 0) + 1);
    }
    const maxThreads = await ctx.readOptional(ctx.proc('sys/kernel/threads-max'));
    const maxPids = await ctx.readOptional(ctx.proc('sys/kernel/pid_max'));
    const out = [
      family('node_processes_pids', 'Number of PIDs', 'gauge', seen),
      family('node_processes_threads', 'Allocated threads in system', 'gauge', threads),
      family('node_processes_state', 'Number of processes in each state.', 'gauge', [...states].map(([state, value]) => ({ labels: { state }, value }))),
    ];
    if (maxThreads) out.push(family('node_processes_max_threads', 'Limit of threads in the system', 'gauge', Number(maxThreads.trim())));
    if (maxPids) out.push(family('node_processes_max_processes', 'Number of max PIDs limit', 'gauge', Number(maxPids.trim())));
    return out;
  },
};
