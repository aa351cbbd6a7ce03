/**
 * Prometheus-style durations ("500ms", "5s", "1m30s", "2h", "1d", "1w").
 * The same grammar users already write in prometheus.yml and alert rules.
 */
const UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  y: 31_536_000_000,
};

export const DURATION_PATTERN = '^([0-9]+(ms|s|m|h|d|w|y))+$';
const WHOLE = new RegExp(DURATION_PATTERN);
const PART = /([0-9]+)(ms|s|m|h|d|w|y)/g;

/** Parses a duration into milliseconds; throws a RangeError naming the bad value. */
export function parseDuration(text: string): number {
  if (!WHOLE.test(text)) {
    throw new RangeError(`invalid duration "${text}": expected e.g. 500ms, 5s, 1m30s, 2h`);
  }
  let total = 0;
  for (const m of text.matchAll(PART)) {
    total += Number(m[1]) * (UNITS[m[2] as string] as number);
  }
  return total;
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
