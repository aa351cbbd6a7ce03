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
 */
import v8 from 'node:v8';

/** V8's own default (67584 bytes of bytecode executed between tier-up checks), times four. */
export const SERVICE_V8_FLAGS = ['--interrupt-budget=270336'] as const;

export function applyServiceV8Flags(): void {
  for (const flag of SERVICE_V8_FLAGS) v8.setFlagsFromString(flag);
}
