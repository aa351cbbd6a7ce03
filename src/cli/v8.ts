/**
 * V8 settings for the service process, applied by the command line before any command runs
 * (flags given to node, like --max-semi-space-size, stay in the bin's shebang and npm start).
 *
 * A 5 s collection cycle makes most of promedic's code warm rather than hot: each collector runs
 * 12 times a minute. With V8's default interrupt budget, TurboFan kept optimizing such functions
 * one after another for minutes after start (about 100 ms of compile time in the first minute,
 * seen with --trace-opt), which was most of what separated the first idle minute (31 ticks of
 * CPU in 60 s) from the later ones (22). Four times the budget leaves warm code in the baseline
 * tiers and still optimizes what is really hot (a scrape under load, parsing of large /proc files)
 * within a fraction of a second: side by side, 26 against 31 ticks in the first minute and 39
 * against 47 over the next two (BENCHMARKS.md).
 *
 * Young-generation collections run on the main thread alone (--no-parallel-scavenge). A parallel
 * scavenge hands parts of the work to helper threads and waits for them; on a small, shared
 * machine a helper that is not scheduled holds the main thread: 4-7 ms scavenges, the largest
 * event-loop delays a collection cycle showed. On one thread the median scavenge of the cycle's
 * garbage took 0.24 ms against 0.47 ms and the longest 1.0-1.8 ms against 2.6-7.3 ms (four runs
 * of 300 cycles each way, loop kept awake). Concurrent marking stays on (--single-threaded-gc
 * moved all marking onto the main thread: longer mark-compact pauses).
 *
 * The memory reducer does one mark-compact, not three (--memory-reducer-single-gc). Some 25 s
 * after start, once the allocation rate falls, V8 shrinks the heap start-up left behind with up
 * to three full collections half a second apart; on the VMs measured each cost 40-60 ms of CPU
 * across the main and helper threads, 0.2 % of a core over the first idle minute. One of them
 * reclaims what the three did: RSS after 10 minutes 76.9 against 76.8 MB (no reducer at all:
 * 79.1 MB), CPU from 10 to 70 s after start 351 against 421 ms (side by side, BENCHMARKS.md).
 */
import v8 from 'node:v8';

/** V8's default interrupt budget (67584 bytes of bytecode between tier-up checks) times four, one-thread scavenges, one memory-reducer GC. */
export const SERVICE_V8_FLAGS = ['--interrupt-budget=270336', '--no-parallel-scavenge', '--memory-reducer-single-gc'] as const;

export function applyServiceV8Flags(): void {
  for (const flag of SERVICE_V8_FLAGS) v8.setFlagsFromString(flag);
}
