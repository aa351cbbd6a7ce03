/**
 * `promedic fleet-config --hosts FILE`: the hosts file's rules (parseHosts), the files it renders,
 * and the built CLI end to end, its output checked by the real tools that read it: amtool and
 * promtool, a real Prometheus discovering the targets, and a real Alertmanager fanning one alert
 * out to three webhook servers with the token.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { type FleetHost, parseHosts, renderFleet } from '../src/cli/fleet.js';
import { recordingServer, requireBinary, runCli, tempDir, waitFor } from './helpers/index.js';
import { type Proc, startAlertmanager, startPrometheus, tail } from './helpers/stack.js';

const amtool = requireBinary('amtool', 'prometheus-alertmanager');
const promtool = requireBinary('promtool', 'prometheus');
const alertmanager = requireBinary('prometheus-alertmanager', 'prometheus-alertmanager');
const prometheus = requireBinary('prometheus', 'prometheus');

const TOKEN = 'fleet-config-test-token-0123456789';

interface AmConfig {
  route: { receiver: string; group_by: string[]; group_wait: string; group_interval: string; repeat_interval: string };
  receivers: Array<{
    name: string;
    webhook_configs: Array<{ url: string; send_resolved: boolean; max_alerts: number; http_config: { authorization: { type: string; credentials_file: string } } }>;
  }>;
}
interface PromConfig {
  global: { scrape_interval: string };
  alerting: { alertmanagers: Array<{ static_configs: Array<{ targets: string[] }> }> };
  scrape_configs: Array<{ job_name: string; scrape_interval: string; scheme: string; file_sd_configs: Array<{ files: string[] }> }>;
}
type TargetGroups = Array<{ targets: string[]; labels: Record<string, string> }>;

function tool(bin: string, args: string[], home: string) {
  // HOME: no amtool config of the user's may change what amtool does.
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 60_000, env: { ...process.env, HOME: home } });
  if (r.error) throw r.error;
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

const OPTIONS = { receiver: 'promedic-fleet', scheme: 'http' as const, tokenFile: '/etc/alertmanager/promedic.token' };

describe('parseHosts', () => {
  it('reads ADDRESS[:PORT] and key=value labels, skipping comments and blank lines', () => {
    const text = [
      '# the fleet',
      '',
      'db1.example.com role=db region=eu',
      '   db2.example.com:9478   region=eu role=db   # its own port',
      '10.0.0.7 role=web',
      '[2001:db8::1]:9500',
      '[::1]',
      'host_x path=a=b',
      '\t',
    ].join('\r\n');
    const { hosts, problems } = parseHosts(text, 'hosts.txt');
    expect(problems).toEqual([]);
    expect(hosts).toEqual<FleetHost[]>([
      { address: 'db1.example.com', port: 9477, target: 'db1.example.com:9477', labels: { role: 'db', region: 'eu' }, line: 3 },
      { address: 'db2.example.com', port: 9478, target: 'db2.example.com:9478', labels: { region: 'eu', role: 'db' }, line: 4 },
      { address: '10.0.0.7', port: 9477, target: '10.0.0.7:9477', labels: { role: 'web' }, line: 5 },
      { address: '[2001:db8::1]', port: 9500, target: '[2001:db8::1]:9500', labels: {}, line: 6 },
      { address: '[::1]', port: 9477, target: '[::1]:9477', labels: {}, line: 7 },
      { address: 'host_x', port: 9477, target: 'host_x:9477', labels: { path: 'a=b' }, line: 8 },
    ]);
  });

  it('takes the default port from the option', () => {
    const { hosts } = parseHosts('a\nb:1\n', 'h', { defaultPort: 9500 });
    expect(hosts.map((h) => h.target)).toEqual(['a:9500', 'b:1']);
  });

  it('reports every problem of every line together, as FILE:LINE: message, and keeps only the good lines', () => {
    const text = [
      'good1 role=db', // 1
      'bad:0', // 2
      'bad:65536 role=x', // 3
      'bad:x9', // 4
      'bad: role=x', // 5
      '2001:db8::1', // 6
      '[not-ipv6]:9477', // 7
      'http://web1:9477', // 8
      'role=db web2', // 9
      'web3 db', // 10
      'web4 __meta_x=1 instance=a job=b 9lives=1 bad-name=1', // 11
      'web5 a=1 a=2 b=', // 12
      'GOOD1:9477', // 13: the same host as line 1
      'good1:9478', // 14: another port is another promedic
      'host..name', // 15
      'good2 role=web', // 16
    ].join('\n');
    const { hosts, problems } = parseHosts(text, 'fleet/hosts');
    expect(problems).toEqual([
      'fleet/hosts:2: "bad:0": port must be a number from 1 to 65535',
      'fleet/hosts:3: "bad:65536": port must be a number from 1 to 65535',
      'fleet/hosts:4: "bad:x9": port must be a number from 1 to 65535',
      'fleet/hosts:5: "bad:": port must be a number from 1 to 65535',
      'fleet/hosts:6: "2001:db8::1": an IPv6 address needs brackets: [2001:db8::1]:PORT',
      'fleet/hosts:7: "[not-ipv6]:9477": not an IPv6 address in brackets ([2001:db8::1]:9477)',
      'fleet/hosts:8: "http://web1:9477": write ADDRESS[:PORT], without a scheme or path (--scheme sets the scheme)',
      'fleet/hosts:9: "role=db": a line starts with the host (ADDRESS[:PORT]), then its labels',
      'fleet/hosts:9: "web2": labels are key=value (one host per line)',
      'fleet/hosts:10: "db": labels are key=value (one host per line)',
      'fleet/hosts:11: label "__meta_x": names starting with __ are reserved for Prometheus',
      'fleet/hosts:11: label "instance": not allowed, Prometheus sets it to the ADDRESS:PORT of the host',
      'fleet/hosts:11: label "job": not allowed, it would replace the scrape job\'s name (promedic)',
      'fleet/hosts:11: label "9lives": not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)',
      'fleet/hosts:11: label "bad-name": not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)',
      'fleet/hosts:12: label "a" given twice',
      'fleet/hosts:12: label "b": empty value (Prometheus drops empty labels)',
      'fleet/hosts:13: duplicate host GOOD1:9477 (first on line 1)',
      'fleet/hosts:15: "host..name": "host..name" is not a host name or IPv4 address',
    ]);
    expect(hosts.map((h) => `${h.line} ${h.target}`)).toEqual(['1 good1:9477', '14 good1:9478', '16 good2:9477']);
  });

  it('counts a host listed without its port and with the default port as the same host', () => {
    expect(parseHosts('a\na:9477\n', 'h').problems).toEqual(['h:2: duplicate host a:9477 (first on line 1)']);
    expect(parseHosts('a\na:9477\n', 'h', { defaultPort: 1 }).problems).toEqual([]);
  });
});

describe('renderFleet', () => {
  const { hosts } = parseHosts('web1 role=web\ndb1 role=db region=eu\nweb2:9500 role=web\ndb2 region=eu role=db\nlonely\n', 'hosts');
  const files = renderFleet(hosts, { ...OPTIONS, hostsFile: '/some/where/hosts' });

  it('renders the three files, the same every time, in the hosts file order', () => {
    expect(Object.keys(files)).toEqual(['alertmanager.yml', 'promedic-targets.json', 'prometheus.yml']);
    expect(renderFleet(hosts, { ...OPTIONS, hostsFile: '/else/where/hosts' })).toEqual(files);
    const am = parse(files['alertmanager.yml'] as string) as AmConfig;
    expect(am.receivers[0]?.webhook_configs.map((w) => w.url)).toEqual([
      'http://web1:9477/webhook/alertmanager',
      'http://db1:9477/webhook/alertmanager',
      'http://web2:9500/webhook/alertmanager',
      'http://db2:9477/webhook/alertmanager',
      'http://lonely:9477/webhook/alertmanager',
    ]);
  });

  it('groups targets by distinct label set, in order of first appearance, labels sorted', () => {
    expect(JSON.parse(files['promedic-targets.json'] as string)).toEqual([
      { targets: ['web1:9477', 'web2:9500'], labels: { role: 'web' } },
      { targets: ['db1:9477', 'db2:9477'], labels: { region: 'eu', role: 'db' } },
      { targets: ['lonely:9477'], labels: {} },
    ]);
    expect(files['promedic-targets.json']).toContain('"labels": {\n      "region": "eu",\n      "role": "db"\n    }');
  });

  it('documents the hosts file format and the merge in the YAML headers, naming the hosts file by its base name', () => {
    for (const name of ['alertmanager.yml', 'prometheus.yml']) {
      const text = files[name] as string;
      expect(text).toMatch(/^# .*generated by `promedic fleet-config` from hosts \(5 hosts\)/);
      expect(text).toContain('# Hosts file: one host per line, ADDRESS[:PORT] [key=value ...]');
      expect(text).not.toContain('/some/where');
    }
    expect(files['alertmanager.yml']).toMatch(/# To merge into an existing alertmanager\.yml/);
    expect(files['alertmanager.yml']).toMatch(/retries each\n# webhook_config on its own/);
    // The inline alternative to file_sd, commented out, is valid YAML once uncommented.
    const commented = (files['prometheus.yml'] as string).split('\n').filter((l) => l.startsWith('    # '));
    const block = commented.slice(commented.findIndex((l) => l === '    # static_configs:'));
    expect(parse(block.map((l) => l.slice(6)).join('\n'))).toEqual({
      static_configs: [
        { targets: ['web1:9477', 'web2:9500'], labels: { role: 'web' } },
        { targets: ['db1:9477', 'db2:9477'], labels: { region: 'eu', role: 'db' } },
        { targets: ['lonely:9477'] },
      ],
    });
  });

  it('uses the scheme for webhooks and scrapes, and the receiver name and token file given', () => {
    const f = renderFleet(hosts.slice(0, 1), { receiver: 'fleet', scheme: 'https', tokenFile: '/run/secrets/tok en' });
    const am = parse(f['alertmanager.yml'] as string) as AmConfig;
    expect(am.route.receiver).toBe('fleet');
    expect(am.receivers[0]).toMatchObject({
      name: 'fleet',
      webhook_configs: [{ url: 'https://web1:9477/webhook/alertmanager', http_config: { authorization: { credentials_file: '/run/secrets/tok en' } } }],
    });
    expect((parse(f['prometheus.yml'] as string) as PromConfig).scrape_configs[0]?.scheme).toBe('https');
  });
});

describe('promedic fleet-config, built, with the real tools', () => {
  let dir: { path: string; cleanup: () => void };
  const procs: Proc[] = [];
  const servers: Array<Awaited<ReturnType<typeof recordingServer>>> = [];
  beforeEach(() => {
    dir = tempDir('promedic-fleet-');
  });
  afterEach(async () => {
    for (const p of procs.splice(0)) await p.stop();
    for (const s of servers.splice(0)) await s.close();
    dir.cleanup();
  });

  const hostsFile = () => {
    const file = join(dir.path, 'hosts.txt');
    writeFileSync(
      file,
      `# three promedics
db1.example.com role=db region=eu
db2.example.com:9478 region=eu role=db   # same labels, another port

10.0.0.7:9500 role=web
`,
    );
    return file;
  };

  it('writes an Alertmanager config amtool accepts and a Prometheus config promtool accepts, with the hosts, labels and token file', () => {
    const out = join(dir.path, 'out');
    const r = runCli(['fleet-config', '--hosts', hostsFile(), '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual([
      `promedic: wrote ${join(out, 'alertmanager.yml')}: receiver promedic-fleet with 3 webhooks, token from /etc/alertmanager/promedic.token`,
      `promedic: wrote ${join(out, 'promedic-targets.json')}: 3 targets in 2 label sets`,
      `promedic: wrote ${join(out, 'prometheus.yml')}: job promedic scraping promedic-targets.json; alertmanager localhost:9093 (a placeholder)`,
    ]);
    // Only the three files: no temp file is left behind.
    expect(readdirSync(out).sort()).toEqual(['alertmanager.yml', 'promedic-targets.json', 'prometheus.yml']);

    const am = parse(readFileSync(join(out, 'alertmanager.yml'), 'utf8')) as AmConfig;
    expect(am.route).toMatchObject({ receiver: 'promedic-fleet', group_by: ['alertname', 'instance'] });
    expect(am.receivers).toHaveLength(1);
    expect(am.receivers[0]?.name).toBe('promedic-fleet');
    expect(am.receivers[0]?.webhook_configs).toEqual(
      ['http://db1.example.com:9477', 'http://db2.example.com:9478', 'http://10.0.0.7:9500'].map((u) => ({
        url: `${u}/webhook/alertmanager`,
        send_resolved: true,
        max_alerts: 0,
        http_config: { authorization: { type: 'Bearer', credentials_file: '/etc/alertmanager/promedic.token' } },
      })),
    );
    expect(JSON.parse(readFileSync(join(out, 'promedic-targets.json'), 'utf8'))).toEqual([
      { targets: ['db1.example.com:9477', 'db2.example.com:9478'], labels: { region: 'eu', role: 'db' } },
      { targets: ['10.0.0.7:9500'], labels: { role: 'web' } },
    ]);
    const prom = parse(readFileSync(join(out, 'prometheus.yml'), 'utf8')) as PromConfig;
    expect(prom.scrape_configs).toEqual([
      { job_name: 'promedic', scrape_interval: '15s', scheme: 'http', metrics_path: '/metrics', file_sd_configs: [{ files: ['promedic-targets.json'] }] },
    ]);
    expect(prom.alerting.alertmanagers[0]?.static_configs[0]?.targets).toEqual(['localhost:9093']);

    // Run again: the same bytes (deterministic, fit to commit).
    const before = readdirSync(out).map((n) => readFileSync(join(out, n), 'utf8'));
    expect(runCli(['fleet-config', '--hosts', hostsFile(), '--out', out]).code).toBe(0);
    expect(readdirSync(out).map((n) => readFileSync(join(out, n), 'utf8'))).toEqual(before);

    if (!amtool || !promtool) return;
    const am1 = tool(amtool, ['check-config', join(out, 'alertmanager.yml')], dir.path);
    expect(am1.code, am1.out).toBe(0);
    // promtool also reads the file_sd file the config names, relative to the config's directory.
    const prom1 = tool(promtool, ['check', 'config', join(out, 'prometheus.yml')], dir.path);
    expect(prom1.code, prom1.out).toBe(0);
  });

  it('prints the files to stdout with separators when there is no --out', () => {
    const r = runCli(['fleet-config', '--hosts', hostsFile(), '--port', '9600', '--scheme', 'https', '--receiver', 'fleet', '--token-file', '/run/t']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const parts = r.stdout.split(/^# --- file: (\S+) ---\n/m);
    expect(parts[0]).toBe('');
    const files = Object.fromEntries([1, 3, 5].map((i) => [parts[i], parts[i + 1]]));
    expect(Object.keys(files)).toEqual(['alertmanager.yml', 'promedic-targets.json', 'prometheus.yml']);
    const am = parse(files['alertmanager.yml'] as string) as AmConfig;
    expect(am.route.receiver).toBe('fleet');
    expect(am.receivers[0]?.webhook_configs.map((w) => [w.url, w.http_config.authorization.credentials_file])).toEqual([
      ['https://db1.example.com:9600/webhook/alertmanager', '/run/t'],
      ['https://db2.example.com:9478/webhook/alertmanager', '/run/t'],
      ['https://10.0.0.7:9500/webhook/alertmanager', '/run/t'],
    ]);
    expect((JSON.parse(files['promedic-targets.json'] as string) as TargetGroups)[0]?.targets).toEqual(['db1.example.com:9600', 'db2.example.com:9478']);
    expect((parse(files['prometheus.yml'] as string) as PromConfig).scrape_configs[0]?.scheme).toBe('https');
  });

  it('exits 2 with every bad line as FILE:LINE: message and writes nothing', () => {
    const file = join(dir.path, 'hosts.txt');
    writeFileSync(file, 'db1 role=db\ndb2:99999 role=db\n\nweb1 instance=web1\n');
    const out = join(dir.path, 'out');
    const r = runCli(['fleet-config', '--hosts', file, '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual([
      `promedic: ${file}:2: "db2:99999": port must be a number from 1 to 65535`,
      `promedic: ${file}:4: label "instance": not allowed, Prometheus sets it to the ADDRESS:PORT of the host`,
      `promedic: 2 problems in ${file}; nothing written`,
    ]);
    expect(r.stderr).not.toMatch(/\bat .*\.js:\d+/);
    expect(existsSync(out)).toBe(false);
  });

  it('exits 2 on bad usage: no --hosts, a missing or empty hosts file, bad flags, flags of other commands', () => {
    expect(runCli(['fleet-config'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/fleet-config needs --hosts FILE/) });
    expect(runCli(['fleet-config', '--hosts', join(dir.path, 'nope')])).toMatchObject({ code: 2, stderr: expect.stringMatching(/nope: cannot read: ENOENT/) });
    const empty = join(dir.path, 'empty');
    writeFileSync(empty, '# nobody yet\n\n');
    expect(runCli(['fleet-config', '--hosts', empty])).toMatchObject({ code: 2, stderr: expect.stringMatching(/empty: no hosts/) });
    const r = runCli(['fleet-config', '--hosts', hostsFile(), '--port', '0', '--scheme', 'ftp', '--data-dir', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      'promedic: flag --data-dir: does not apply to fleet-config (see promedic --help)',
      'promedic: flag --port: must be a number from 1 to 65535, not "0"',
      'promedic: flag --scheme: must be http or https, not "ftp"',
    ]);
    expect(runCli(['start', '--hosts', 'x'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/flag --hosts: applies only to fleet-config/) });
    expect(runCli(['launch'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/commands: start, check, simulate, status, fleet-config/) });
    const help = runCli(['--help']);
    expect(help.stdout).toMatch(/promedic fleet-config --hosts FILE/);
    expect(help.stdout).toMatch(/Hosts file: one host per line, ADDRESS\[:PORT\] \[key=value \.\.\.\]/);
  });

  it.runIf(prometheus)('real Prometheus finds the targets in promedic-targets.json next to prometheus.yml, with their labels', async () => {
    const out = join(dir.path, 'out');
    expect(runCli(['fleet-config', '--hosts', hostsFile(), '--out', out]).code).toBe(0);
    const promDir = join(dir.path, 'prom');
    // startPrometheus writes prometheus.yml into promDir; the targets file goes next to it.
    mkdirSync(promDir);
    copyFileSync(join(out, 'promedic-targets.json'), join(promDir, 'promedic-targets.json'));
    const prom = await startPrometheus(prometheus as string, promDir, readFileSync(join(out, 'prometheus.yml'), 'utf8'));
    procs.push(prom);
    const targets = await waitFor(
      async () => {
        const body = (await (await fetch(`${prom.url}/api/v1/targets`)).json()) as { data: { activeTargets: Array<{ labels: Record<string, string> }> } };
        return body.data.activeTargets.length === 3 ? body.data.activeTargets : null;
      },
      20_000,
      'three targets',
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${tail(prom.output())}`);
    });
    expect(targets.map((t) => t.labels).sort((a, b) => (a.instance as string).localeCompare(b.instance as string))).toEqual([
      { instance: '10.0.0.7:9500', job: 'promedic', role: 'web' },
      { instance: 'db1.example.com:9477', job: 'promedic', role: 'db', region: 'eu' },
      { instance: 'db2.example.com:9478', job: 'promedic', role: 'db', region: 'eu' },
    ]);
  });

  it.runIf(alertmanager)('real Alertmanager running the generated config sends one alert to all three hosts, each with the bearer token', async () => {
    for (let i = 0; i < 3; i++) servers.push(await recordingServer(() => 200));
    const file = join(dir.path, 'hosts.txt');
    const roles = ['db', 'db', 'web'];
    writeFileSync(file, servers.map((s, i) => `${new URL(s.url).host} role=${roles[i]}\n`).join(''));
    const tokenFile = join(dir.path, 'promedic.token');
    writeFileSync(tokenFile, `${TOKEN}\n`);
    const out = join(dir.path, 'out');
    const r = runCli(['fleet-config', '--hosts', file, '--out', out, '--token-file', tokenFile]);
    expect(r.code, r.stderr).toBe(0);
    // Only the timing changes, so the test need not wait 10 s for the first notification.
    const config = parse(readFileSync(join(out, 'alertmanager.yml'), 'utf8')) as AmConfig;
    config.route.group_wait = '0s';
    config.route.group_interval = '1s';
    const am = await startAlertmanager(alertmanager as string, join(dir.path, 'am'), stringify(config));
    procs.push(am);

    const res = await fetch(`${am.url}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ labels: { alertname: 'FleetFanOut', instance: 'db1:9477', severity: 'warning' }, annotations: {}, startsAt: new Date().toISOString() }]),
    });
    expect(res.status).toBe(200);
    await waitFor(() => servers.every((s) => s.calls.length > 0), 20_000, 'all three hosts to get the alert').catch((err: Error) => {
      throw new Error(`${err.message}\n${tail(am.output())}`);
    });
    for (const s of servers) {
      const call = s.calls[0];
      expect(call).toMatchObject({ method: 'POST', url: '/webhook/alertmanager' });
      expect(call?.headers.authorization).toBe(`Bearer ${TOKEN}`);
      const payload = JSON.parse(call?.body ?? '{}') as { version: string; receiver: string; alerts: Array<{ status: string; labels: Record<string, string> }> };
      expect(payload).toMatchObject({ version: '4', receiver: 'promedic-fleet' });
      expect(payload.alerts).toEqual([expect.objectContaining({ status: 'firing', labels: { alertname: 'FleetFanOut', instance: 'db1:9477', severity: 'warning' } })]);
    }
  });
});
