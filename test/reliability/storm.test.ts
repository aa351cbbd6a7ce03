/**
 * An alert storm: 1,000 distinct alerts over 200 instances, each delivered 3 times (as an HA
 * pair of Alertmanagers and a group re-send do), in batches of 10 with 10 requests in flight,
 * then 100 of them resolved. Every episode is recorded exactly once, duplicates are counted
 * and start nothing, runs start exactly as the limits allow (30 a minute, the rest counted as
 * rate_limited), nothing is lost, and afterwards the API, the metrics and the store agree.
 * Prints the webhook's p50/p99 and the heap growth; asserts no timing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Promedic } from '../../src/index.js';
import { amPayload, inProcess, parseExposition, rawRequest, tempDir } from '../helpers/index.js';

const TOKEN = 'storm-token-0123456789abcdef';
const ALERTS = 1000;
const INSTANCES = 200;
const DELIVERIES = 3;
const RESOLVES = 100;

describe('an alert storm', () => {
  const rules = tempDir();
  let p: Promedic;
  let close: () => Promise<void>;
  beforeAll(async () => {
    mkdirSync(join(rules.path, 'playbooks'), { recursive: true });
    writeFileSync(
      join(rules.path, 'playbooks', 'storm.yml'),
      `
name: storm-restart
match: ['alertname =~ "Storm.*"']
target: [instance]
mode: dry-run
cooldown: 10m
strategies:
  - name: restart
    steps:
      - http: { method: POST, url: "http://127.0.0.1:9/restart/{{ labels.instance }}" }
`,
    );
    ({ p, close } = await inProcess({ rules_dir: rules.path, auth: { token: TOKEN } }));
  });
  afterAll(async () => {
    await close();
    rules.cleanup();
  });

  it('records every episode once, starts runs exactly as the limits allow, and its API, metrics and store agree', async () => {
    const url = p.url as string;
    const alerts = Array.from({ length: ALERTS }, (_, i) => ({
      labels: { alertname: `Storm${i % 7}`, instance: `host-${i % INSTANCES}:9100`, shard: String(i) },
      startsAt: '2026-11-28T00:00:00Z',
    }));
    // Each alert 3 times, the copies spread over the storm, in notifications of 10.
    const batches: string[] = [];
    for (let d = 0; d < DELIVERIES; d++) for (let i = 0; i < ALERTS; i += 10) batches.push(JSON.stringify(amPayload(alerts.slice(i, i + 10))));
    const heapBefore = process.memoryUsage().heapUsed;
    const latencies: number[] = [];
    const t0 = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < batches.length) {
        const body = batches[next++] as string;
        const s = performance.now();
        const r = await rawRequest(`${url}/webhook/alertmanager`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body });
        latencies.push(performance.now() - s);
        expect(r.status).toBe(202);
      }
    };
    await Promise.all(Array.from({ length: 10 }, worker));
    const seconds = (performance.now() - t0) / 1000;
    // 100 of them resolve.
    for (let i = 0; i < RESOLVES; i += 10) {
      const r = await rawRequest(`${url}/webhook/alertmanager`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(amPayload(alerts.slice(i, i + 10), 'resolved')),
      });
      expect(r.status).toBe(202);
    }
    await p.service?.ctx.engine.idle();
    const heapAfter = process.memoryUsage().heapUsed;
    latencies.sort((a, b) => a - b);
    const q = (x: number) => (latencies[Math.min(latencies.length - 1, Math.floor(x * latencies.length))] as number).toFixed(1);
    console.log(
      `storm: ${ALERTS * DELIVERIES} deliveries of ${ALERTS} alerts in ${batches.length} requests, ${seconds.toFixed(2)} s (${((ALERTS * DELIVERIES) / seconds).toFixed(0)} alerts/s); webhook p50 ${q(0.5)} ms, p99 ${q(0.99)} ms; heap +${((heapAfter - heapBefore) / 2 ** 20).toFixed(1)} MiB (service and test in one process)`,
    );

    // The store: every episode once, 100 resolved.
    const ctx = p.service?.ctx;
    if (!ctx) throw new Error('not started');
    const episodes = [...ctx.store.mem.episodes.values()];
    expect(episodes.length).toBe(ALERTS);
    expect(episodes.filter((e) => e.status === 'resolved').length).toBe(RESOLVES);
    const deliveries = episodes.map((e) => e.deliveries);
    expect(Math.min(...deliveries), JSON.stringify([...new Set(deliveries)])).toBe(DELIVERIES);

    // Runs: the first 30 new episodes within the minute (engine.max_runs_per_minute), one per
    // instance at most (target: [instance], cooldown 10m); everything else counted as skipped.
    const runs = [...ctx.store.mem.runs.values()];
    expect(runs.length).toBe(30);
    expect(new Set(runs.map((r) => r.target.instance)).size).toBe(30);
    expect(runs.every((r) => r.status === 'planned')).toBe(true);

    // The API and the metrics say the same.
    const api = JSON.parse((await rawRequest(`${url}/api/v1/runs?limit=500`, { headers: { authorization: `Bearer ${TOKEN}` } })).body) as { total: number };
    expect(api.total).toBe(30);
    const m = parseExposition((await rawRequest(`${url}/metrics`, {})).body);
    const sum = (name: string, ...labels: string[]) => (m.get(name) ?? []).filter((s) => labels.every((l) => s.labels.includes(l))).reduce((a, s) => a + s.value, 0);
    expect(sum('promedic_alerts_received_total', 'outcome="new"')).toBe(ALERTS);
    expect(sum('promedic_alerts_received_total', 'outcome="duplicate"')).toBe(ALERTS * (DELIVERIES - 1));
    expect(sum('promedic_alerts_received_total', 'outcome="resolved"')).toBe(RESOLVES);
    expect(sum('promedic_playbook_runs_total', 'outcome="planned"')).toBe(30);
    // Each new episode either ran or was skipped, with its reason.
    const skipped = sum('promedic_runs_skipped_total', 'playbook="storm-restart"');
    expect(skipped + 30).toBe(ALERTS);
    // rate_limited: past 30 a minute; cooldown: the instance had its run; duplicate: its run was still in flight.
    expect(sum('promedic_runs_skipped_total', 'reason="rate_limited"') + sum('promedic_runs_skipped_total', 'reason="duplicate"') + sum('promedic_runs_skipped_total', 'reason="cooldown"')).toBe(skipped);
    expect(sum('promedic_runs_skipped_total', 'reason="rate_limited"')).toBeGreaterThan(0);
    expect(p.status().last_hour).toMatchObject({ alerts: ALERTS, runs: 30 });
  }, 120_000);
});
