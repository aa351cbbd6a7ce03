/**
 * When the scrapers of /metrics will come next, so that the collectors whose metrics only a
 * scrape reads run once per scrape, in the cycle just before it, rather than every cycle.
 *
 * Prometheus scrapes a target at a fixed interval and a fixed offset within it, so the last
 * scrape plus the interval predicts the next one to within milliseconds. A scraper is known
 * by its address; a client seen once (a person with curl) predicts nothing and changes
 * nothing. With no scraper to follow, every cycle collects everything, as it would without
 * this clock.
 */
interface Scraper {
  last: number;
  interval: number | null;
  previous: number | null;
}

/** The pace to expect: the shorter of the last two intervals, so a scraper whose pace changes is met early, never late. */
function pace(c: Scraper): number | null {
  if (c.interval === null) return null;
  return c.previous === null ? c.interval : Math.min(c.interval, c.previous);
}

export class ScrapeClock {
  private readonly clients = new Map<string, Scraper>();

  constructor(private readonly maxClients = 32) {}

  /** Records a scrape by `client` at `now` (milliseconds on a monotonic clock). */
  note(client: string, now: number): void {
    const c = this.clients.get(client);
    if (c) this.clients.delete(client);
    else if (this.clients.size >= this.maxClients) {
      const oldest = this.clients.keys().next().value;
      if (oldest !== undefined) this.clients.delete(oldest);
    }
    const interval = c ? now - c.last : null;
    // Re-inserted, so the map's order is least recently seen first.
    this.clients.set(client, { last: now, interval, previous: c?.interval ?? null });
  }

  /**
   * Whether a cycle starting at `now`, the next one being `cycleMs` later, should collect for
   * a scrape: yes when a scraper that keeps an interval is due before the next cycle (or is
   * late), when one scrapes about as often as the cycle runs, and when there is none to
   * follow. The margin of a fifth of a cycle takes a scrape expected just after the next
   * cycle starts as one that may come just before it.
   */
  due(now: number, cycleMs: number): boolean {
    let following = false;
    for (const [key, c] of this.clients) {
      const interval = pace(c);
      if (interval === null) continue;
      if (now - c.last > 2 * interval + cycleMs) {
        // Two scrapes missed: it has stopped (or its pace was a coincidence).
        this.clients.delete(key);
        continue;
      }
      if (interval < 1.5 * cycleMs) return true;
      following = true;
      if (c.last + interval < now + cycleMs + cycleMs / 5) return true;
    }
    return !following;
  }

  /** The scrapers followed now: address and interval in milliseconds. */
  scrapers(): Array<{ client: string; intervalMs: number }> {
    const out: Array<{ client: string; intervalMs: number }> = [];
    for (const [client, c] of this.clients) {
      const intervalMs = pace(c);
      if (intervalMs !== null) out.push({ client, intervalMs });
    }
    return out;
  }
}
