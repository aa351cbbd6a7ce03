/**
 * Alert data never becomes a metric label: 10,000 distinct alerts (random names, instances,
 * categories and severities, hostile label values) leave promedic's /metrics with as many
 * series as 100 did, and no label value from an alert appears in it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Promedic } from '../../src/index.js';
import { amPayload, inProcess, rawRequest } from '../helpers/index.js';

const TOKEN = 'cardinality-token-0123456789abcdef';

describe('metric cardinality under 10,000 distinct alerts', () => {
  let p: Promedic;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ p, close } = await inProcess({ auth: { token: TOKEN } }));
  });
  afterAll(() => close());

  const own = async () =>
    (await rawRequest(`${p.url}/metrics`, {})).body
      .split('\n')
      // (The HTTP histogram gains the /metrics route at the first scrape: left out of the comparison.)
      .filter((l) => l.startsWith('promedic_') && !l.startsWith('promedic_http_request_duration_seconds'));

  async function send(from: number, n: number): Promise<void> {
    for (let i = from; i < from + n; i += 500) {
      const alerts = Array.from({ length: Math.min(500, from + n - i) }, (_, k) => {
        const j = i + k;
        return {
          labels: {
            alertname: `Alert_${j}_\${jndi:ldap://x}`,
            instance: `host-${j}.example:9100`,
            category: `cat-${j}`,
            severity: j % 2 ? `sev-${j}` : 'critical"} 1\nfake_metric{a="b',
            service: `svc-${j}`,
          },
          annotations: { summary: `summary ${j}` },
          startsAt: new Date(Date.UTC(2026, 0, 1, 0, 0, j % 60)).toISOString(),
        };
      });
      const r = await rawRequest(`${p.url}/webhook/alertmanager`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(amPayload(alerts)),
      });
      expect(r.status).toBe(202);
    }
  }

  it('keeps the number of series flat and lets no alert label value in', async () => {
    await send(0, 100);
    const after100 = await own();
    await send(100, 9900);
    const after10k = await own();
    // The same series (values differ: counts went up).
    const names = (lines: string[]) => lines.filter((l) => !l.startsWith('#')).map((l) => l.slice(0, l.lastIndexOf(' ')));
    expect(new Set(names(after10k))).toEqual(new Set(names(after100)));
    const text = after10k.join('\n');
    for (const bad of ['Alert_', 'host-', 'cat-', 'sev-', 'svc-', 'jndi', 'fake_metric']) expect(text).not.toContain(bad);
    expect(p.status().last_hour.alerts).toBeGreaterThanOrEqual(10_000);
  }, 120_000);
});
