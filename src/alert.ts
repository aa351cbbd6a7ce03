/**
 * The one value every alert becomes, from Alertmanager or from the embedded monitor.
 * Everything after intake works on this shape only.
 */
export type AlertStatus = 'firing' | 'resolved';

export interface Alert {
  status: AlertStatus;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
  /** `fingerprint@startsAt`: one firing of one alert. Repeats of the same episode start nothing new. */
  episode: string;
  source: 'alertmanager' | 'promedic';
  receiver: string;
  receivedAt: string;
  category: string;
  severity: string;
}

/** Alertmanager's fingerprint: FNV-1a 64 over sorted label names and values, 0xff separated. */
export function fingerprintOf(labels: Record<string, string>): string {
  let h = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n;
  const mask = 0xffffffffffffffffn;
  const feed = (bytes: Iterable<number>) => {
    for (const b of bytes) {
      h ^= BigInt(b);
      h = (h * prime) & mask;
    }
  };
  // The separator is the single byte 0xff (not the UTF-8 encoding of U+00FF).
  const SEP = [0xff];
  for (const name of Object.keys(labels).sort()) {
    feed(Buffer.from(name, 'utf8'));
    feed(SEP);
    feed(Buffer.from(labels[name] as string, 'utf8'));
    feed(SEP);
  }
  return h.toString(16).padStart(16, '0');
}

export function episodeKey(fingerprint: string, startsAt: string): string {
  return `${fingerprint}@${startsAt}`;
}

/** Categories promedic knows; any other value from a label or rule is kept as given. */
export const KNOWN_CATEGORIES = ['database', 'api', 'memory', 'performance', 'validation', 'host', 'tuning', 'other'] as const;
export const SEVERITIES = ['critical', 'warning', 'info'] as const;

/** Bounded label values for metrics: anything unexpected becomes "other", never raw alert data. */
export function boundedCategory(c: string): string {
  return (KNOWN_CATEGORIES as readonly string[]).includes(c) ? c : 'other';
}
export function boundedSeverity(s: string): string {
  return (SEVERITIES as readonly string[]).includes(s) ? s : 'other';
}
