/**
 * The deploy bundle: docker-compose.yml, the Dockerfile and deploy/. No Docker engine runs here,
 * so each file is checked by the tool that reads it (promtool, amtool, docker-compose config,
 * promedic check, the real Alertmanager), and the wiring between them is checked by reading the
 * compose file the way Docker would: every mounted path exists, every address one service uses
 * reaches a port another listens on, and promedic and Alertmanager read the same token file.
 * The fleet profile's second promedic (promedic-2) is part of every check: both hosts run in
 * fleet mode, Prometheus scrapes each under its identity, and the real Alertmanager fans an
 * alert out to both, of which only the host it names acts.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, posix, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { loadConfig } from '../src/config.js';
import { loadRules } from '../src/rules/playbook.js';
import { type Scope, fleetProblems, hostOf, outOfScope } from '../src/scope.js';
import { ROOT, type Running, amPayload, killAll, recordingServer, requireBinary, runCli, startCli, tempDir, waitFor } from './helpers/index.js';
import { type RelabelRule as Relabel, freePort, relabel, startPrometheus } from './helpers/stack.js';

const COMPOSE_FILE = join(ROOT, 'docker-compose.yml');
const PROMETHEUS_CONFIG = join(ROOT, 'deploy/prometheus/prometheus.yml');
const ALERTMANAGER_CONFIG = join(ROOT, 'deploy/alertmanager/alertmanager.yml');
const PROMEDIC_CONFIG = join(ROOT, 'deploy/promedic/promedic.yml');
const DEMO_APP_MAIN = 'dist/examples/demo-app/src/main.js';

const promtool = requireBinary('promtool', 'prometheus');
const amtool = requireBinary('amtool', 'prometheus-alertmanager');
const prometheusBin = requireBinary('prometheus', 'prometheus');
const alertmanager = requireBinary('prometheus-alertmanager', 'prometheus-alertmanager');
const dockerCompose = requireBinary('docker-compose', 'docker-compose');

// ---- the compose file, read as Docker reads it ----

interface Service {
  image?: string;
  build?: unknown;
  profiles?: string[];
  depends_on?: string[] | Record<string, unknown>;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  network_mode?: string;
  networks?: Record<string, { aliases?: string[] } | null>;
  healthcheck?: { test: string[] };
  expose?: string[];
}
// `merge`: the file shares the image's build settings through a YAML merge key (<<).
const compose = parse(readFileSync(COMPOSE_FILE, 'utf8'), { merge: true }) as { services: Record<string, Service>; volumes?: Record<string, unknown> };
const services = compose.services;
const promedicConfig = parse(readFileSync(PROMEDIC_CONFIG, 'utf8')) as {
  listen: { port: number };
  rules_dir: string;
  data_dir: string;
  auth: { token_file: string };
  prometheus: { url: string };
  alertmanager: { url: string };
  instance: string;
  fleet: { enabled: boolean };
  scope: Scope;
};

function service(name: string): Service {
  const s = services[name];
  if (!s) throw new Error(`docker-compose.yml has no service ${name}`);
  return s;
}

/** The promedic hosts of the stack: services running the image's default command (promedic start). */
const PROMEDIC_SERVICES = Object.keys(services).filter((n) => service(n).build && !service(n).command);
/** A promedic host's identity: its PROMEDIC_INSTANCE, else the config file's `instance`. */
const identityOf = (name: string): string => service(name).environment?.PROMEDIC_INSTANCE ?? promedicConfig.instance;

interface Mount {
  source: string;
  target: string;
  bind: boolean;
}
/** Short volume syntax `source:target[:mode]`; a source starting with . or / is a bind mount. */
function mounts(name: string): Mount[] {
  return (service(name).volumes ?? []).map((v) => {
    const [source = '', target = ''] = v.split(':');
    const bind = /^[./]/.test(source);
    return { source: bind ? resolve(ROOT, source) : source, target, bind };
  });
}

/** What a path inside a container is: `bind:<host path>`, `volume:<name>/<rest>`, or `image:<path>`. */
function origin(name: string, containerPath: string): string {
  const p = posix.normalize(containerPath);
  const m = mounts(name)
    .filter((mt) => p === mt.target || p.startsWith(`${mt.target}/`))
    .sort((a, b) => b.target.length - a.target.length)[0];
  if (!m) return `image:${p}`;
  const rest = p.slice(m.target.length).replace(/^\//, '');
  return m.bind ? `bind:${join(m.source, rest)}` : `volume:${m.source}/${rest}`;
}

function flag(args: string[], name: string): string | undefined {
  const eq = args.find((a) => a.startsWith(`${name}=`));
  if (eq) return eq.slice(name.length + 1);
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

/** The network namespace a service's processes live in: its own, or another's (network_mode). */
function namespaceOf(name: string): string {
  return /^service:(.+)$/.exec(service(name).network_mode ?? '')?.[1] ?? name;
}

const IMAGE_PORTS: Record<string, number[]> = { 'prom/prometheus': [9090], 'prom/alertmanager': [9093], 'grafana/grafana': [3000] };
/** The ports a service's own process listens on. */
function listensOn(name: string): number[] {
  const s = service(name);
  if (s.expose) return s.expose.map(Number);
  if (s.build) {
    if (!s.command) return [promedicConfig.listen.port];
    if (s.command.includes(DEMO_APP_MAIN)) return [Number(flag(s.command, '--port') ?? s.environment?.DEMO_PORT ?? 8080)];
  }
  return IMAGE_PORTS[(s.image ?? '').replace(/:.*$/, '')] ?? [];
}

/** host:port as seen from service `from`: which namespace that host is, and whether a process there listens. */
function reach(from: string, url: string): string | null {
  const u = new URL(url.includes('://') ? url : `http://${url}`);
  const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  let ns: string | undefined;
  if (['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) ns = namespaceOf(from);
  else if (services[u.hostname] && !services[u.hostname]?.network_mode) ns = u.hostname;
  else ns = Object.keys(services).find((n) => Object.values(service(n).networks ?? {}).some((net) => net?.aliases?.includes(u.hostname)));
  if (!ns) return `${from} -> ${url}: no service or network alias ${u.hostname}`;
  const listening = Object.keys(services).filter((n) => namespaceOf(n) === ns).flatMap(listensOn);
  return listening.includes(port) ? null : `${from} -> ${url}: nothing listens on port ${port} in ${ns}'s network (${listening.join(', ') || 'no ports'})`;
}

/** Every string under a key named `key` (the value, or the items of a list), at any depth. */
function valuesOf(data: unknown, key: string): string[] {
  if (Array.isArray(data)) return data.flatMap((d) => valuesOf(d, key));
  if (data && typeof data === 'object') {
    return Object.entries(data).flatMap(([k, v]) => {
      if (k !== key) return valuesOf(v, key);
      return (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string');
    });
  }
  return [];
}

const alertmanagerConfig = parse(readFileSync(ALERTMANAGER_CONFIG, 'utf8')) as {
  route: { receiver: string; group_by: string[]; routes: Array<{ receiver: string; matchers: string[] }> };
  inhibit_rules: Array<{ source_matchers: string[]; target_matchers: string[]; equal: string[] }>;
  receivers: Array<{
    name: string;
    webhook_configs?: Array<{ url: string; send_resolved: boolean; max_alerts?: number; http_config?: { authorization: { type: string; credentials_file: string } } }>;
  }>;
};
/** The receivers that call promedic: all but `people`, where promedic's escalations go. */
const PROMEDIC_RECEIVERS = ['promedic', 'promedic-critical'];
const webhooks = alertmanagerConfig.receivers.filter((r) => PROMEDIC_RECEIVERS.includes(r.name)).flatMap((r) => r.webhook_configs ?? []);
const credentialFiles = [...new Set(webhooks.map((w) => w.http_config?.authorization.credentials_file ?? '(none)'))];

const yamlFilesIn = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).map((f) => join(dir, f)) : []);

// ---- the Dockerfile ----

interface Instruction {
  op: string;
  args: string;
  stage: number;
}
const dockerfile: Instruction[] = (() => {
  const out: Instruction[] = [];
  let stage = -1;
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m || line.trim().startsWith('#')) continue;
    const op = (m[1] as string).toUpperCase();
    if (op === 'FROM') stage++;
    out.push({ op, args: (m[2] as string).trim(), stage });
  }
  return out;
})();
const finalStage = Math.max(...dockerfile.map((i) => i.stage));
const workdir = dockerfile.filter((i) => i.op === 'WORKDIR' && i.stage === finalStage).at(-1)?.args ?? '/';

/** .dockerignore's patterns, matched as Docker does: against the path and each of its parent dirs. */
function dockerIgnored(path: string): boolean {
  const patterns = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const parts = posix.normalize(path).split('/');
  return patterns.some((p) => {
    const re = new RegExp(`^${p.replace(/^\//, '').replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
    return parts.some((_, i) => re.test(parts.slice(0, i + 1).join('/')));
  });
}

/** Runs a healthcheck's command (`node -e ...`) with this node. */
function runHealthcheck(argv: string[], env: Record<string, string> = {}): number | null {
  const [cmd, ...args] = argv[0] === 'CMD' ? argv.slice(1) : argv;
  expect(cmd).toBe('node');
  return spawnSync(process.execPath, args, { env: { ...process.env, ...env }, timeout: 15_000 }).status;
}

function run(bin: string, args: string[], env: Record<string, string> = {}): { code: number | null; out: string; stderr: string } {
  const r = spawnSync(bin, args, { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });
  if (r.error) throw r.error;
  return { code: r.status, out: `${r.stdout}${r.stderr}`, stderr: r.stderr };
}

// ---- Prometheus ----

interface ScrapeConfig {
  job_name: string;
  static_configs?: Array<{ targets: string[]; labels?: Record<string, string> }>;
  dns_sd_configs?: Array<{ names: string[]; type?: string; port?: number }>;
  relabel_configs?: Relabel[];
}
const prometheusConfig = parse(readFileSync(PROMETHEUS_CONFIG, 'utf8')) as {
  global: Record<string, string>;
  rule_files: string[];
  alerting: { alertmanagers: Array<{ static_configs: Array<{ targets: string[] }> }>; alert_relabel_configs?: Relabel[] };
  scrape_configs: ScrapeConfig[];
};
const scrapeJob = (name: string): ScrapeConfig => {
  const j = prometheusConfig.scrape_configs.find((c) => c.job_name === name);
  if (!j) throw new Error(`prometheus.yml has no job ${name}`);
  return j;
};
/** host:port of every DNS name a job looks up (what Docker's DNS must answer for). */
const dnsTargets = (j: ScrapeConfig): string[] => (j.dns_sd_configs ?? []).flatMap((d) => d.names.map((n) => `${n}:${d.port}`));
/**
 * The `instance` of each target of a job, as Prometheus labels it: relabel_configs over the
 * discovered labels, then instance defaults to the address. A DNS target's address is an IP.
 */
function scrapedInstances(j: ScrapeConfig): string[] {
  const discovered = [
    ...(j.static_configs ?? []).flatMap((s) => s.targets.map((t) => ({ __address__: t }))),
    ...(j.dns_sd_configs ?? []).flatMap((d) => d.names.map((n) => ({ __address__: `172.18.0.9:${d.port}`, __meta_dns_name: n }))),
  ];
  return discovered.map((labels) => {
    const l = relabel(labels, j.relabel_configs);
    return l.instance ?? (l.__address__ as string);
  });
}

describe('deploy/prometheus/prometheus.yml', () => {
  const config = prometheusConfig;
  const job = (name: string) => scrapeJob(name).static_configs ?? [];

  it.runIf(promtool)('passes promtool check config, rules files included', () => {
    const r = run(promtool as string, ['check', 'config', 'deploy/prometheus/prometheus.yml']);
    expect(r.out).toMatch(/SUCCESS: [1-9]\d* rule files found/);
    expect(r.out).toContain('Checking rules/prometheus/promedic.rules.yml');
    expect(r.out).not.toMatch(/FAILED|warning/i);
    expect(r.code).toBe(0);
  });

  it('scrapes and evaluates every 15s, and sends alerts to alertmanager:9093', () => {
    expect(config.global).toMatchObject({ scrape_interval: '15s', evaluation_interval: '15s' });
    expect(config.alerting.alertmanagers.flatMap((a) => a.static_configs.flatMap((s) => s.targets))).toEqual(['alertmanager:9093']);
  });

  it('scrapes promedic, and the demo app with the service label the app rules group by', () => {
    expect(job('promedic')).toEqual([{ targets: ['promedic:9477'] }]);
    expect(job('demo-app')).toEqual([{ targets: ['demo-app:8080'], labels: { service: 'demo-app' } }]);
  });

  it("scrapes every promedic host under its own identity, so that its host alerts are in its scope; the fleet profile's by DNS", () => {
    expect([...PROMEDIC_SERVICES].sort()).toEqual(['promedic', 'promedic-2']);
    expect(scrapedInstances(scrapeJob('promedic')).sort()).toEqual(PROMEDIC_SERVICES.map(identityOf).sort());
    // Only the profile's host is looked up by DNS: the default stack's is always there.
    expect(dnsTargets(scrapeJob('promedic'))).toEqual(['promedic-2:9477']);
    expect(service('promedic-2').profiles).toEqual(['fleet']);
    // The relabeling leaves the static target alone.
    expect(relabel({ __address__: 'promedic:9477' }, scrapeJob('promedic').relabel_configs).instance).toBeUndefined();
  });

  it("names the demo app's host in its alerts, the one whose network it shares, and leaves alerts with an instance alone", () => {
    const rules = config.alerting.alert_relabel_configs ?? [];
    const app = relabel({ alertname: 'HighErrorRate', service: 'demo-app', severity: 'warning' }, rules);
    expect(app.instance).toBe(identityOf(namespaceOf('demo-app')));
    expect(relabel({ alertname: 'HighCPUUsage', instance: 'promedic-2:9477' }, rules)).toEqual({ alertname: 'HighCPUUsage', instance: 'promedic-2:9477' });
    expect(relabel({ alertname: 'HighErrorRate', service: 'other' }, rules)).toEqual({ alertname: 'HighErrorRate', service: 'other' });
  });

  it.runIf(prometheusBin)('sends alerts to Alertmanager relabeled as the emulation above says (the real Prometheus, the deploy alerting section)', async () => {
    const dir = tempDir('promedic-deploy-prometheus-');
    const am = await recordingServer(() => 200);
    let prom: Awaited<ReturnType<typeof startPrometheus>> | null = null;
    try {
      writeFileSync(
        join(dir.path, 'rules.yml'),
        stringify({
          groups: [
            {
              name: 'deploy-check',
              rules: [
                { alert: 'AppCheck', expr: 'vector(1)', labels: { service: 'demo-app' } },
                { alert: 'HostCheck', expr: 'vector(1)', labels: { instance: 'promedic-2:9477' } },
                { alert: 'OtherAppCheck', expr: 'vector(1)', labels: { service: 'other' } },
              ],
            },
          ],
        }),
      );
      const cfg = {
        global: { evaluation_interval: '1s' },
        rule_files: [join(dir.path, 'rules.yml')],
        alerting: { ...config.alerting, alertmanagers: [{ static_configs: [{ targets: [new URL(am.url).host] }] }] },
      };
      // The first evaluation may come before the Alertmanager is known: resend soon.
      prom = await startPrometheus(prometheusBin as string, join(dir.path, 'prometheus'), stringify(cfg), ['--rules.alert.resend-delay=1s']);
      const sent = () =>
        new Map(
          am.calls.flatMap((c) => (JSON.parse(c.body) as Array<{ labels: Record<string, string> }>).map((a) => [a.labels.alertname as string, a.labels] as const)),
        );
      await waitFor(() => sent().size === 3, 20_000, 'three alerts at the recording Alertmanager').catch((err: Error) => {
        throw new Error(`${err.message}\n${prom?.output()}`);
      });
      const alerts = sent();
      expect(alerts.get('AppCheck')).toEqual(relabel({ alertname: 'AppCheck', service: 'demo-app' }, config.alerting.alert_relabel_configs));
      expect(alerts.get('AppCheck')?.instance).toBe('promedic:9477');
      expect(alerts.get('HostCheck')).toEqual({ alertname: 'HostCheck', instance: 'promedic-2:9477' });
      expect(alerts.get('OtherAppCheck')).toEqual({ alertname: 'OtherAppCheck', service: 'other' });
    } finally {
      await prom?.stop();
      await am.close();
      dir.cleanup();
    }
  });

  it('reads the same files in the container as in the repository: config and rule_files mounted in the repository layout', () => {
    const args = service('prometheus').command ?? [];
    expect(args).toContain('--web.enable-lifecycle');
    const inContainer = flag(args, '--config.file') as string;
    expect(origin('prometheus', inContainer)).toBe(`bind:${PROMETHEUS_CONFIG}`);
    expect(config.rule_files.length).toBeGreaterThan(0);
    for (const glob of config.rule_files) {
      // Prometheus (and promtool) resolve rule_files against the config file's directory.
      const containerGlob = posix.resolve(posix.dirname(inContainer), glob);
      const hostDir = resolve(dirname(PROMETHEUS_CONFIG), dirname(glob));
      expect(origin('prometheus', posix.dirname(containerGlob))).toBe(`bind:${hostDir}`);
      expect(hostDir).toBe(join(ROOT, 'rules/prometheus'));
      const re = new RegExp(`^${posix.basename(glob).replace(/\./g, '\\.').replace(/\*/g, '[^/]*')}$`);
      expect(readdirSync(hostDir).filter((f) => re.test(f))).toContain('promedic.rules.yml');
    }
  });
});

// ---- Alertmanager ----

describe('deploy/alertmanager/alertmanager.yml', () => {
  const config = alertmanagerConfig;
  const home = tempDir('promedic-deploy-amtool-');
  afterAll(() => home.cleanup());
  // No ~/.config/amtool/config.yml of the user's may change what amtool does.
  const am = (args: string[]) => run(amtool as string, args, { HOME: home.path });
  const routesTo = (receiver: string, labels: string[]) =>
    am(['config', 'routes', 'test', `--config.file=${ALERTMANAGER_CONFIG}`, `--verify.receivers=${receiver}`, ...labels]);

  it.runIf(amtool)('passes amtool check-config', () => {
    const r = am(['check-config', ALERTMANAGER_CONFIG]);
    expect(r.out).toContain('SUCCESS');
    expect(r.code).toBe(0);
  });

  it.runIf(amtool)("routes a warning to promedic, a critical alert through the critical route, and promedic's escalations to people", () => {
    const warning = routesTo('promedic', ['alertname=HighErrorRate', 'service=demo-app', 'severity=warning']);
    expect(warning.out).not.toMatch(/WARNING/);
    expect(warning.code).toBe(0);
    const critical = routesTo('promedic-critical', ['alertname=MemoryExhaustionImminent', 'instance=promedic:9477', 'severity=critical']);
    expect(critical.out).not.toMatch(/WARNING/);
    expect(critical.code).toBe(0);
    const escalation = routesTo('people', ['alertname=PromedicRemediationFailed', 'failed_alertname=HighErrorRate', 'service=demo-app', 'severity=critical', 'source=promedic']);
    expect(escalation.out).not.toMatch(/WARNING/);
    expect(escalation.code).toBe(0);
    const chronic = routesTo('people', ['alertname=PromedicChronicProblem', 'chronic_alertname=HighErrorRate', 'service=demo-app', 'severity=warning', 'source=promedic']);
    expect(chronic.out).not.toMatch(/WARNING/);
    expect(chronic.code).toBe(0);
    // --verify.receivers does fail on a mismatch, so the checks above mean something.
    const wrong = routesTo('promedic', ['alertname=MemoryExhaustionImminent', 'severity=critical']);
    expect(wrong.out).toContain('Expected receivers did not match');
    expect(wrong.code).not.toBe(0);
  });

  it('groups by alertname, service and instance; critical inhibits the same warning', () => {
    expect(config.route.group_by).toEqual(['alertname', 'service', 'instance']);
    expect(config.route.routes).toContainEqual(expect.objectContaining({ matchers: ['severity="critical"'], receiver: 'promedic-critical' }));
    expect(config.inhibit_rules).toContainEqual(
      expect.objectContaining({ source_matchers: ['severity="critical"'], target_matchers: ['severity="warning"'], equal: expect.arrayContaining(['alertname', 'service']) }),
    );
  });

  it("sends every notification but promedic's escalations to every promedic host's webhook, resolved ones too, with a bearer token file", () => {
    expect(config.receivers.map((r) => r.name).sort()).toEqual([...PROMEDIC_RECEIVERS, 'people'].sort());
    // One webhook per promedic service of docker-compose.yml, the fleet profile's included.
    const urls = PROMEDIC_SERVICES.map((n) => `http://${n}:${promedicConfig.listen.port}/webhook/alertmanager`);
    for (const name of PROMEDIC_RECEIVERS) expect(config.receivers.find((r) => r.name === name)?.webhook_configs?.map((w) => w.url)).toEqual(urls);
    for (const w of webhooks) {
      expect(w).toMatchObject({ send_resolved: true, http_config: { authorization: { type: 'Bearer' } } });
      expect(w.max_alerts).toBeGreaterThan(0);
      // The same settings for every host: only the address differs.
      expect({ ...w, url: '' }).toEqual({ ...webhooks[0], url: '' });
    }
  });

  it('calls each promedic host by the name its identity gives, so the host that an alert names is the one that acts', () => {
    for (const n of PROMEDIC_SERVICES) {
      expect(hostOf(identityOf(n))).toBe(n);
      expect(identityOf(n)).toBe(`${n}:${promedicConfig.listen.port}`);
    }
  });

  it('is the file Alertmanager reads in the stack, and its token is the file every promedic host checks', () => {
    const args = service('alertmanager').command ?? [];
    expect(origin('alertmanager', flag(args, '--config.file') as string)).toBe(`bind:${ALERTMANAGER_CONFIG}`);
    const promedicToken = origin('promedic', posix.resolve(workdir, promedicConfig.auth.token_file));
    expect(promedicToken).toMatch(/^volume:/);
    for (const file of credentialFiles) expect(origin('alertmanager', file)).toBe(promedicToken);
    for (const n of PROMEDIC_SERVICES) expect(origin(n, posix.resolve(workdir, promedicConfig.auth.token_file)), n).toBe(promedicToken);
  });
});

// ---- docker-compose.yml and the Dockerfile ----

describe('docker-compose.yml', () => {
  it.runIf(dockerCompose)('passes docker-compose config, every variable defaulted, with and without the fleet profile', () => {
    for (const profile of [[], ['--profile', 'fleet']]) {
      const r = run(dockerCompose as string, ['-f', 'docker-compose.yml', ...profile, 'config', '-q']);
      expect(r.stderr, profile.join(' ')).not.toMatch(/WARNING|ERROR/);
      expect(r.code, profile.join(' ')).toBe(0);
    }
  });

  it('starts promedic-2 only with the fleet profile, and nothing of the default stack depends on a profile', () => {
    const profiled = Object.keys(services).filter((n) => service(n).profiles?.length);
    expect(profiled).toEqual(['promedic-2']);
    expect(service('promedic-2').profiles).toEqual(['fleet']);
    const problems = Object.keys(services)
      .filter((n) => !profiled.includes(n))
      .flatMap((n) => {
        const s = service(n);
        const deps = Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {});
        const ns = /^service:(.+)$/.exec(s.network_mode ?? '')?.[1];
        return [...deps, ...(ns ? [ns] : [])].filter((d) => profiled.includes(d)).map((d) => `${n} needs ${d}`);
      });
    expect(problems).toEqual([]);
  });

  it('mounts only files and directories that exist in the repository, and declares its named volumes', () => {
    const missing: string[] = [];
    for (const name of Object.keys(services)) {
      for (const m of mounts(name)) {
        if (m.bind && !existsSync(m.source)) missing.push(`${name}: ${m.source}`);
        if (!m.bind && !(m.source in (compose.volumes ?? {}))) missing.push(`${name}: volume ${m.source} not declared`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('nests no mount inside another of the same container (a read-only one would refuse the mount point)', () => {
    const nested = Object.keys(services).flatMap((name) =>
      mounts(name).flatMap((a) => mounts(name).filter((b) => b !== a && b.target.startsWith(`${a.target}/`)).map((b) => `${name}: ${b.target} inside ${a.target}`)),
    );
    expect(nested).toEqual([]);
  });

  it('pins every image it pulls to a version', () => {
    const unpinned = Object.entries(services)
      .filter(([, s]) => !s.build)
      .filter(([, s]) => !/:[^:]*\d[^:]*$/.test(s.image ?? '') || /:latest$/.test(s.image ?? ''))
      .map(([n, s]) => `${n}: ${s.image}`);
    expect(unpinned).toEqual([]);
  });

  it('gives each promedic host its config, the repository rules and a data volume of its own', () => {
    const data = PROMEDIC_SERVICES.map((n) => {
      const env = service(n).environment ?? {};
      expect(origin(n, env.PROMEDIC_CONFIG as string), n).toBe(`bind:${PROMEDIC_CONFIG}`);
      expect(origin(n, posix.resolve(workdir, promedicConfig.rules_dir)), n).toBe(`bind:${join(ROOT, 'rules')}`);
      expect(promedicConfig.data_dir).toBe('/var/lib/promedic');
      return origin(n, promedicConfig.data_dir);
    });
    expect(data).toEqual(['volume:promedic-data/', 'volume:promedic-2-data/']);
    // Two promedic hosts have two identities.
    expect(new Set(PROMEDIC_SERVICES.map(identityOf)).size).toBe(PROMEDIC_SERVICES.length);
  });

  it('runs each promedic host in fleet mode with a scope that covers every playbook, acting on its own host alone', () => {
    const dir = tempDir('promedic-deploy-fleet-');
    try {
      const tokenFile = join(dir.path, 'token');
      writeFileSync(tokenFile, 'deploy-fleet-token-0123456789abcdef\n');
      for (const n of PROMEDIC_SERVICES) {
        // The service's environment, its paths as they are in the repository (cwd: /app).
        const env = { ...service(n).environment, PROMEDIC_CONFIG: PROMEDIC_CONFIG, PROMEDIC_TOKEN_FILE: tokenFile };
        const config = loadConfig({ env, cwd: ROOT });
        expect(config.fleet.enabled, n).toBe(true);
        expect(config.scope, n).toEqual({ instance: 'self' });
        expect(config.instance, n).toBe(identityOf(n));
        const rules = loadRules(config.rules_dir);
        expect(rules.errors).toEqual([]);
        expect(rules.rules.playbooks.length).toBeGreaterThan(0);
        // What `promedic start` refuses in fleet mode: a host-acting playbook without a scope.
        const identity = { instance: config.instance as string, labels: config.instance_labels };
        expect(fleetProblems(rules.rules.playbooks, { identity, scope: config.scope, fleet: config.fleet.enabled }), n).toEqual([]);
        // Each acts on the alerts about its host, and on no other's.
        for (const other of PROMEDIC_SERVICES) {
          const why = outOfScope(config.scope, { alertname: 'HighCPUUsage', instance: identityOf(other) }, identity);
          if (other === n) expect(why, `${n} on its own alert`).toBeNull();
          else expect(why, `${n} on ${other}'s alert`).toMatch(/is not this host/);
        }
      }
    } finally {
      dir.cleanup();
    }
  });

  it('runs Grafana with anonymous viewers and the grafana/ provisioning and dashboards', () => {
    expect(service('grafana').environment).toMatchObject({ GF_AUTH_ANONYMOUS_ENABLED: 'true', GF_AUTH_ANONYMOUS_ORG_ROLE: 'Viewer' });
    expect(origin('grafana', '/etc/grafana/provisioning')).toBe(`bind:${join(ROOT, 'grafana/provisioning')}`);
    expect(origin('grafana', '/var/lib/grafana/dashboards')).toBe(`bind:${join(ROOT, 'grafana/dashboards')}`);
  });

  it('connects every address a service uses to a port a process listens on', () => {
    const prometheus = parse(readFileSync(PROMETHEUS_CONFIG, 'utf8')) as { scrape_configs: unknown; alerting: unknown };
    const from = (name: string, urls: string[]) => urls.map((u) => reach(name, u));
    const inFiles = (dir: string, key: string) => yamlFilesIn(join(ROOT, dir)).flatMap((f) => valuesOf(parse(readFileSync(f, 'utf8')), key));
    const playbookUrls = inFiles('rules/playbooks', 'base_url');
    expect(playbookUrls.length).toBeGreaterThan(0);
    const problems = [
      ...from('prometheus', valuesOf([prometheus.scrape_configs, prometheus.alerting], 'targets')),
      // The names Prometheus looks up in Docker's DNS (the fleet profile's host).
      ...from('prometheus', prometheusConfig.scrape_configs.flatMap(dnsTargets)),
      ...from('alertmanager', valuesOf(alertmanagerConfig.receivers, 'url')),
      ...from('promedic', [promedicConfig.prometheus.url, promedicConfig.alertmanager.url]),
      // The bundled playbooks call the demo app; promedic runs them.
      ...from('promedic', playbookUrls),
      ...from('grafana', inFiles('grafana/provisioning/datasources', 'url')),
      // A published port reaches a process in the service's network.
      ...Object.entries(services).flatMap(([n, s]) => from(n, (s.ports ?? []).map((p) => `127.0.0.1:${p.split(':').at(-1)}`))),
    ].filter(Boolean);
    expect([...new Set(problems)]).toEqual([]);
  });

  it("gives the demo app's admin token to promedic's playbooks and the demo app alike", () => {
    const names = yamlFilesIn(join(ROOT, 'rules/playbooks')).flatMap((f) => valuesOf(parse(readFileSync(f, 'utf8')), 'token_env'));
    expect(names.length).toBeGreaterThan(0);
    for (const n of new Set(names)) {
      expect(service('promedic').environment?.[n], n).toBeTruthy();
      expect(service('demo-app').environment?.[n], n).toBe(service('promedic').environment?.[n]);
    }
  });

  it("runs the demo app from the image's build of examples/", () => {
    const command = service('demo-app').command ?? [];
    expect(command.slice(0, 2)).toEqual(['node', DEMO_APP_MAIN]);
    expect(service('demo-app').build).toEqual(service('promedic').build);
    const source = DEMO_APP_MAIN.replace(/^dist\//, '').replace(/\.js$/, '.ts');
    expect(existsSync(join(ROOT, source)), source).toBe(true);
    expect(dockerIgnored(source)).toBe(false);
    // The suite's global setup builds as the image does (tsconfig.build.json).
    expect(existsSync(join(ROOT, DEMO_APP_MAIN)), DEMO_APP_MAIN).toBe(true);
  });
});

describe('Dockerfile', () => {
  it('copies only sources that exist and that .dockerignore lets into the build context', () => {
    const copies = dockerfile.filter((i) => i.op === 'COPY' && !/--from=/.test(i.args));
    expect(copies.length).toBeGreaterThan(0);
    const problems: string[] = [];
    for (const c of copies) {
      const sources = c.args.split(/\s+/).filter((a) => !a.startsWith('--')).slice(0, -1);
      for (const s of sources) {
        if (!existsSync(join(ROOT, s))) problems.push(`${s}: no such file`);
        else if (s !== '.' && dockerIgnored(s)) problems.push(`${s}: excluded by .dockerignore`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('sends the build what npm run build compiles, and no local build output or dependencies', () => {
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src', 'schema', 'rules', 'examples']) {
      expect(dockerIgnored(f), f).toBe(false);
    }
    for (const f of ['node_modules', 'dist', 'data', '.git']) expect(dockerIgnored(f), f).toBe(true);
  });

  it('installs without package scripts (prepare would run tsc), only production dependencies at runtime, and runs as node on 9477', () => {
    const installs = dockerfile.filter((i) => i.op === 'RUN' && /npm ci/.test(i.args));
    expect(installs.length).toBe(2);
    for (const i of installs) expect(i.args).toContain('--ignore-scripts');
    expect(installs.find((i) => i.stage === finalStage)?.args).toContain('--omit=dev');
    expect(dockerfile.filter((i) => i.stage === finalStage && i.op === 'USER').at(-1)?.args).toBe('node');
    expect(dockerfile.find((i) => i.op === 'EXPOSE')?.args).toBe('9477');
  });
});

// ---- the stack's promedic, for real: config, token generation, health checks, Alertmanager ----

describe('promedic as the stack runs it', () => {
  const dir = tempDir('promedic-deploy-');
  let tokenFile = '';
  let promedic: Running | null = null;
  /** Every promedic host of the compose file, the fleet profile's included, as it runs there. */
  const hosts: Record<string, Running> = {};

  /** The secrets-init service's command, run here with the output dir swapped for a temp one. */
  function secretsInit(outDir: string) {
    const command = service('secrets-init').command ?? [];
    expect(command.slice(0, 2)).toEqual(['node', '-e']);
    return spawnSync(process.execPath, ['-e', command[2] as string, outDir], { encoding: 'utf8', timeout: 15_000 });
  }

  beforeAll(async () => {
    const secrets = join(dir.path, 'secrets');
    mkdirSync(secrets);
    const r = secretsInit(secrets);
    expect(r.status, r.stderr).toBe(0);
    tokenFile = join(secrets, 'promedic.token');
    for (const n of PROMEDIC_SERVICES) {
      // The service's own PROMEDIC_* settings (promedic-2's identity), but the file from the repository.
      const own = Object.fromEntries(Object.entries(service(n).environment ?? {}).filter(([k]) => k.startsWith('PROMEDIC_') && k !== 'PROMEDIC_CONFIG'));
      hosts[n] = await startCli(['--config', PROMEDIC_CONFIG, '--data-dir', join(dir.path, `data-${n}`), '--listen-address', '127.0.0.1'], {
        env: { ...own, PROMEDIC_TOKEN_FILE: tokenFile },
      });
    }
    promedic = hosts.promedic ?? null;
  });

  afterAll(async () => {
    await killAll();
    dir.cleanup();
  });

  it('secrets-init writes a random token once, readable by the other containers, where promedic and Alertmanager read it', () => {
    const token = readFileSync(tokenFile, 'utf8');
    expect(token).toMatch(/^[0-9a-f]{64}\n$/);
    expect(statSync(tokenFile).mode & 0o777).toBe(0o444);
    // A restart keeps it: Alertmanager and promedic must go on agreeing.
    expect(secretsInit(dirname(tokenFile)).status).toBe(0);
    expect(readFileSync(tokenFile, 'utf8')).toBe(token);
    const command = service('secrets-init').command ?? [];
    expect(origin('secrets-init', posix.join(command[3] as string, 'promedic.token'))).toBe(origin('promedic', promedicConfig.auth.token_file));
  });

  it('validates deploy/promedic/promedic.yml and the rules it names with promedic check', () => {
    const r = runCli(['check', '--config', PROMEDIC_CONFIG], { env: { PROMEDIC_TOKEN_FILE: tokenFile } });
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^ok: [1-9]\d* playbooks? (and [1-9]\d* tuning playbooks? )?in/);
    expect(r.code).toBe(0);
    // Without the token promedic refuses the config: it listens on 0.0.0.0.
    const without = runCli(['check', '--config', PROMEDIC_CONFIG], { env: { PROMEDIC_TOKEN_FILE: join(dir.path, 'missing.token') } });
    expect(without.stderr).toContain('auth.token_file');
    expect(without.code).toBe(2);
  });

  it("passes the image's and the compose file's health checks, which fail when nothing answers", async () => {
    const port = new URL((promedic as Running).url).port;
    const image = dockerfile.find((i) => i.op === 'HEALTHCHECK')?.args ?? '';
    const imageCheck = JSON.parse(image.replace(/^.*?\bCMD\s+/, '')) as string[];
    const composeCheck = service('promedic').healthcheck?.test ?? [];
    for (const n of PROMEDIC_SERVICES) expect(service(n).healthcheck, n).toEqual(service('promedic').healthcheck);
    await waitFor(async () => (await fetch(`${(promedic as Running).url}/-/ready`)).status === 200, 20_000, 'promedic /-/ready');
    expect(runHealthcheck(imageCheck, { PROMEDIC_PORT: port })).toBe(0);
    expect(runHealthcheck(composeCheck, { PROMEDIC_PORT: port })).toBe(0);
    const closed = String(await freePort());
    expect(runHealthcheck(imageCheck, { PROMEDIC_PORT: closed })).not.toBe(0);
    expect(runHealthcheck(composeCheck, { PROMEDIC_PORT: closed })).not.toBe(0);
  });

  it('refuses a webhook without the token', async () => {
    const res = await fetch(`${(promedic as Running).url}/webhook/alertmanager`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(amPayload([{ labels: { alertname: 'X' } }])),
    });
    expect(res.status).toBe(401);
  });

  it.runIf(Boolean(alertmanager && amtool))(
    'fans a critical alert out to every promedic host from the real Alertmanager running the deploy config, authenticated by the token file; only the host it names acts',
    async () => {
      // Only the container addresses change: each promedic's URL and the token file's path.
      const text = readFileSync(ALERTMANAGER_CONFIG, 'utf8');
      let local = text;
      for (const n of PROMEDIC_SERVICES) {
        const address = `http://${n}:${promedicConfig.listen.port}/`;
        expect(text).toContain(address);
        local = local.replaceAll(address, `${(hosts[n] as Running).url}/`);
      }
      for (const c of credentialFiles) local = local.replaceAll(`credentials_file: ${c}`, `credentials_file: ${tokenFile}`);
      for (const c of credentialFiles) expect(local).not.toContain(c);
      const amDir = join(dir.path, 'alertmanager');
      mkdirSync(amDir);
      writeFileSync(join(amDir, 'alertmanager.yml'), local);
      const port = await freePort();
      let out = '';
      const child: ChildProcess = spawn(
        alertmanager as string,
        [`--config.file=${join(amDir, 'alertmanager.yml')}`, `--storage.path=${amDir}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address='],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise((r) => child.once('exit', r));
      try {
        await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/-/ready`)).status === 200, 20_000, 'alertmanager ready').catch((err: Error) => {
          throw new Error(`${err.message}\n${out}`);
        });
        // One alert about each host, as Prometheus labels them (instance: the host's identity).
        for (const n of PROMEDIC_SERVICES) {
          const add = run(
            amtool as string,
            ['alert', 'add', 'PromedicDeployCheck', 'severity=critical', 'service=deploy-check', `instance=${identityOf(n)}`, `--alertmanager.url=http://127.0.0.1:${port}`],
            { HOME: dir.path },
          );
          expect(add.code, add.out).toBe(0);
        }
        // The critical route has no group_wait: delivery follows at once.
        const token = readFileSync(tokenFile, 'utf8').trim();
        type Episode = { alertname: string; source: string; severity: string; labels: Record<string, string>; outOfScope?: string };
        for (const n of PROMEDIC_SERVICES) {
          const host = hosts[n] as Running;
          const episodes = await waitFor(
            async () => {
              const res = await fetch(`${host.url}/api/v1/alerts`, { headers: { authorization: `Bearer ${token}` } });
              const body = (await res.json()) as { firing_episodes: Episode[] };
              const found = body.firing_episodes.filter((e) => e.alertname === 'PromedicDeployCheck');
              return found.length === PROMEDIC_SERVICES.length ? found : null;
            },
            15_000,
            `every host's alert in ${n}`,
          ).catch((err: Error) => {
            throw new Error(`${err.message}\n--- alertmanager ---\n${out}\n--- ${n} ---\n${host.output()}`);
          });
          for (const e of episodes) {
            expect(e).toMatchObject({ source: 'alertmanager', severity: 'critical' });
            if (e.labels.instance === identityOf(n)) expect(e.outOfScope, `${n}: its own host's alert`).toBeUndefined();
            else expect(e.outOfScope, `${n}: ${e.labels.instance}'s alert`).toMatch(/is not this host/);
          }
        }
      } finally {
        child.kill('SIGTERM');
        await exited;
      }
    },
  );
});

describe('the demo app as the stack runs it', () => {
  let child: ChildProcess | null = null;
  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child?.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    }
  });

  it('passes the compose health check on its port, which fails when nothing answers', async () => {
    const port = await freePort();
    const [, ...args] = service('demo-app').command ?? [];
    child = spawn(process.execPath, [...args.map((a) => (a === '0.0.0.0' ? '127.0.0.1' : a)), '--port', String(port)], {
      cwd: ROOT,
      env: { ...process.env, DEMO_ADMIN_TOKEN: 'deploy-test-admin-token-0123456789' },
      stdio: 'ignore',
    });
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200, 20_000, 'demo app /healthz');
    const test = service('demo-app').healthcheck?.test ?? [];
    expect(runHealthcheck(test, { DEMO_PORT: String(port) })).toBe(0);
    expect(runHealthcheck(test, { DEMO_PORT: String(await freePort()) })).not.toBe(0);
  });
});

describe('the people service as the stack runs it', () => {
  it("prints each notification Alertmanager sends it, one line per alert, on the port it exposes", async () => {
    const command = service('people').command ?? [];
    expect(command.slice(0, 2)).toEqual(['node', '-e']);
    expect(command.slice(3)).toEqual(service('people').expose);
    const port = await freePort();
    const child = spawn(process.execPath, ['-e', command[2] as string, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise((r) => child.once('exit', r));
    try {
      const payload = amPayload([{ labels: { alertname: 'PromedicRemediationFailed', service: 'demo-app' }, annotations: { summary: 'promedic could not fix HighErrorRate' } }]);
      const res = await waitFor(
        () => fetch(`http://127.0.0.1:${port}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) }),
        10_000,
        'the people service',
      );
      expect(res.status).toBe(200);
      await waitFor(() => out.includes('\n'), 5_000, 'a line of output');
      expect(out).toBe('FIRING PromedicRemediationFailed {"alertname":"PromedicRemediationFailed","service":"demo-app"} promedic could not fix HighErrorRate\n');
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});
