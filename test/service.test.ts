/** The running service, in process, on a real HTTP server on 127.0.0.1. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { type Service, startService } from '../src/main.js';
import { get, parseExposition, rawRequest, tempDir } from './helpers/index.js';

let dir: { path: string; cleanup: () => void };
let svc: Service;

beforeAll(async () => {
  dir = tempDir();
  const config = loadConfig({ cwd: dir.path, env: {}, flags: { port: '0', 'log-level': 'silent', 'collection-interval': '1h' } });
  svc = await startService(config, pino({ level: 'silent' }));
});
afterAll(async () => {
  await svc?.stop();
  dir.cleanup();
});

describe('the service', () => {
  it('listens on loopback only when no credentials are configured', () => {
    expect(svc.address.address).toBe('127.0.0.1');
  });

  it('serves host metrics under node_exporter names and its own app metrics on /metrics', async () => {
    await get(`${svc.url}/-/healthy`);
    const r = await get(`${svc.url}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const m = parseExposition(r.body);
    for (const name of [
      'node_cpu_seconds_total', 'node_load1', 'node_load5', 'node_load15', 'node_memory_MemTotal_bytes',
      'node_memory_MemAvailable_bytes', 'node_filesystem_size_bytes', 'node_filesystem_avail_bytes',
      'node_filesystem_free_bytes', 'node_disk_read_bytes_total', 'node_disk_written_bytes_total',
      'node_network_receive_bytes_total', 'node_network_transmit_bytes_total', 'node_network_receive_errs_total',
      'node_network_transmit_drop_total', 'node_procs_running', 'node_boot_time_seconds', 'node_uname_info',
      'node_time_seconds', 'node_tcp_connection_states', 'node_netstat_Tcp_CurrEstab', 'node_sockstat_sockets_used',
      'node_filefd_allocated', 'promedic_collector_duration_seconds', 'promedic_collector_success', 'promedic_build_info',
      'process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes',
      'promedic_http_request_duration_seconds_bucket', 'promedic_http_requests_in_flight',
    ]) {
      expect(m.has(name), name).toBe(true);
    }
    expect(m.get('promedic_collector_success')?.every((s) => s.value === 1 || s.labels.includes('collector'))).toBe(true);
  });

  it('labels request metrics with the route pattern, never the raw URL', async () => {
    await get(`${svc.url}/no/such/path?x=1`);
    await get(`${svc.url}/-/ready`);
    const body = (await get(`${svc.url}/metrics`)).body;
    expect(body).toMatch(/promedic_http_request_duration_seconds_count\{route="\/-\/ready",method="GET",code="200"\} \d+/);
    expect(body).toMatch(/route="unmatched",method="GET",code="404"/);
    expect(body).not.toContain('/no/such/path');
  });

  it('is healthy and ready once the first collection cycle is done', async () => {
    expect(await get(`${svc.url}/-/healthy`)).toMatchObject({ status: 200, body: 'promedic is Healthy.\n' });
    expect(await get(`${svc.url}/-/ready`)).toMatchObject({ status: 200, body: 'promedic is Ready.\n' });
  });

  it('answers unknown routes with a JSON 404', async () => {
    const r = await get(`${svc.url}/api/v9/nothing`);
    expect(r.status).toBe(404);
    expect(JSON.parse(r.body)).toEqual({ error: { code: 'not_found', message: 'no route for GET /api/v9/nothing' } });
  });

  it('refuses a body over the limit with 413 and malformed JSON with 400, as JSON', async () => {
    const big = await rawRequest(`${svc.url}/anything`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ x: 'a'.repeat(2 * 1024 * 1024) }),
    });
    expect(big.status).toBe(413);
    expect(JSON.parse(big.body).error.message).toMatch(/http.body_limit_bytes/);
    const bad = await rawRequest(`${svc.url}/anything`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":',
    });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error.code).toBe('invalid_json');
  });

  it('holds the data dir lock while running', () => {
    expect(existsSync(join(dir.path, 'data', 'promedic.lock'))).toBe(true);
    expect(readFileSync(join(dir.path, 'data', 'promedic.lock'), 'utf8').trim()).toBe(String(process.pid));
  });

  it('serves scrapes from the cache: a scrape does not run a collection cycle', async () => {
    const cycles = svc.ctx.host.cycles;
    await Promise.all(Array.from({ length: 5 }, () => get(`${svc.url}/metrics`)));
    expect(svc.ctx.host.cycles).toBe(cycles);
  });
});
