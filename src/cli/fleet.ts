/**
 * `promedic fleet-config --hosts FILE`: turns a hosts file (one promedic per line) into the
 * Alertmanager receiver that fans every alert out to every host's promedic, and the Prometheus
 * scrape targets of those promedics. parseHosts and renderFleet are pure; writeFleet writes the
 * files atomically. Output depends only on the hosts file and the options (no time, no paths
 * other than the hosts file's name), so it can be committed and diffed.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { isIP } from 'node:net';
import { basename, join } from 'node:path';
import { Document, isMap, isPair, isScalar, isSeq, type Pair, type Scalar, type YAMLMap, stringify } from 'yaml';

export const DEFAULT_FLEET_PORT = 9477;
export const DEFAULT_TOKEN_FILE = '/etc/alertmanager/promedic.token';
export const DEFAULT_RECEIVER = 'promedic-fleet';

export const FLEET_FILES = {
  alertmanager: 'alertmanager.yml',
  targets: 'promedic-targets.json',
  prometheus: 'prometheus.yml',
} as const;

/** The hosts file format, for --help and the generated files' header (no leading `# `). */
export const HOSTS_FORMAT = `Hosts file: one host per line, ADDRESS[:PORT] [key=value ...]
  ADDRESS    host name or IPv4 address; an IPv6 address in brackets: [2001:db8::1]:9477
  PORT       the host's promedic port (default 9477, or --port N)
  key=value  static labels of the host (role=db region=eu): Prometheus label names,
             not starting with __, not instance or job; values without spaces or #
  # starts a comment; blank lines are ignored; each ADDRESS:PORT once.
Example:
  db1.example.com role=db region=eu
  db2.example.com:9478 role=db region=eu   # its promedic on port 9478
  10.0.0.7 role=web`;

export interface FleetHost {
  /** As written, without the port (IPv6 in brackets). */
  address: string;
  port: number;
  /** `address:port`: the scrape target, and the `instance` label Prometheus gives it. */
  target: string;
  labels: Record<string, string>;
  /** 1-based line in the hosts file. */
  line: number;
}

export interface FleetOptions {
  receiver: string;
  scheme: 'http' | 'https';
  /** The token file's path as Alertmanager sees it. */
  tokenFile: string;
  /** Named in the generated files' header (its base name only, so output does not depend on the cwd). */
  hostsFile?: string;
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const HOST_NAME = /^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;

function parseAddress(word: string, defaultPort: number): { address: string; port: number } | string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(word)) return `"${word}": write ADDRESS[:PORT], without a scheme or path (--scheme sets the scheme)`;
  let address: string;
  let portText: string | undefined;
  if (word.startsWith('[')) {
    const m = /^\[([^\]]*)\](?::(.*))?$/.exec(word);
    if (!m || isIP(m[1] as string) !== 6) return `"${word}": not an IPv6 address in brackets ([2001:db8::1]:9477)`;
    address = word.slice(0, (m[1] as string).length + 2);
    portText = m[2];
  } else {
    const colons = word.split(':').length - 1;
    if (colons > 1) return isIP(word) === 6 ? `"${word}": an IPv6 address needs brackets: [${word}]:PORT` : `"${word}": not ADDRESS[:PORT]`;
    [address, portText] = word.split(':') as [string, string | undefined];
    if (!HOST_NAME.test(address) || address.includes('..')) return `"${word}": "${address}" is not a host name or IPv4 address`;
  }
  if (portText === undefined) return { address, port: defaultPort };
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) return `"${word}": port must be a number from 1 to 65535`;
  return { address, port };
}

/**
 * Parses a hosts file. Every problem of every line is reported, as `FILE:LINE: message`;
 * hosts holds the good lines in file order.
 */
export function parseHosts(text: string, fileName: string, opts: { defaultPort?: number } = {}): { hosts: FleetHost[]; problems: string[] } {
  const defaultPort = opts.defaultPort ?? DEFAULT_FLEET_PORT;
  const hosts: FleetHost[] = [];
  const problems: string[] = [];
  const seen = new Map<string, number>();
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    const words = raw.replace(/#.*$/, '').trim().split(/\s+/).filter(Boolean);
    if (!words.length) return;
    const problem = (m: string) => problems.push(`${fileName}:${line}: ${m}`);
    const before = problems.length;
    const [first, ...rest] = words as [string, ...string[]];
    let host: { address: string; port: number } | null = null;
    if (first.includes('=')) problem(`"${first}": a line starts with the host (ADDRESS[:PORT]), then its labels`);
    else {
      const a = parseAddress(first, defaultPort);
      if (typeof a === 'string') problem(a);
      else host = a;
    }
    const labels: Record<string, string> = {};
    for (const w of rest) {
      const eq = w.indexOf('=');
      if (eq < 0) {
        problem(`"${w}": labels are key=value (one host per line)`);
        continue;
      }
      const name = w.slice(0, eq);
      const value = w.slice(eq + 1);
      if (!LABEL_NAME.test(name)) problem(`label "${name}": not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)`);
      else if (name.startsWith('__')) problem(`label "${name}": names starting with __ are reserved for Prometheus`);
      else if (name === 'instance') problem('label "instance": not allowed, Prometheus sets it to the ADDRESS:PORT of the host');
      else if (name === 'job') problem('label "job": not allowed, it would replace the scrape job\'s name (promedic)');
      else if (value === '') problem(`label "${name}": empty value (Prometheus drops empty labels)`);
      else if (Object.hasOwn(labels, name)) problem(`label "${name}" given twice`);
      else labels[name] = value;
    }
    if (!host) return;
    const target = `${host.address}:${host.port}`;
    const key = target.toLowerCase();
    const firstLine = seen.get(key);
    if (firstLine !== undefined) {
      problem(`duplicate host ${target} (first on line ${firstLine})`);
      return;
    }
    seen.set(key, line);
    if (problems.length === before) hosts.push({ ...host, target, labels, line });
  });
  return { hosts, problems };
}

/** Labels with sorted keys, so `a=1 b=2` and `b=2 a=1` are one label set. */
function sortedLabels(labels: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** file_sd groups: one per distinct label set, in the order the hosts file first lists each. */
export function targetGroups(hosts: FleetHost[]): Array<{ targets: string[]; labels: Record<string, string> }> {
  const groups = new Map<string, { targets: string[]; labels: Record<string, string> }>();
  for (const h of hosts) {
    const labels = sortedLabels(h.labels);
    const key = JSON.stringify(labels);
    const g = groups.get(key) ?? { targets: [], labels };
    g.targets.push(h.target);
    groups.set(key, g);
  }
  return [...groups.values()];
}

/** Comment text for the yaml package: each line gets ` ` here and `#` from commentString. */
const block = (text: string) =>
  text
    .split('\n')
    .map((l) => (l ? ` ${l}` : ''))
    .join('\n');

function pairOf(map: YAMLMap, key: string): Pair<Scalar, unknown> {
  const p = map.items.find((i) => isPair(i) && isScalar(i.key) && i.key.value === key);
  if (!p) throw new Error(`no key ${key}`);
  return p as Pair<Scalar, unknown>;
}
function mapOf(node: unknown): YAMLMap {
  if (!isMap(node)) throw new Error('not a map');
  return node;
}
/** The first item of the sequence under key, a map. */
function firstIn(map: YAMLMap, key: string): YAMLMap | null {
  const seq = map.get(key, true);
  if (!isSeq(seq)) throw new Error(`${key} is not a sequence`);
  return seq.items.length ? mapOf(seq.items[0]) : null;
}
const before = (map: YAMLMap, key: string, text: string) => {
  pairOf(map, key).key.commentBefore = block(text);
};
const flow = (map: YAMLMap, key: string) => {
  (pairOf(map, key).value as { flow?: boolean }).flow = true;
};

const TO_STRING = {
  lineWidth: 0,
  flowCollectionPadding: false,
  // Blank lines inside a comment stay `#`, so each header is one comment block.
  commentString: (c: string) => c.replace(/^/gm, '#'),
} as const;

function generatedBy(options: FleetOptions, hosts: FleetHost[], what: string): string {
  const from = options.hostsFile ? ` from ${basename(options.hostsFile)}` : '';
  return `${what}, generated by \`promedic fleet-config\`${from} (${hosts.length} host${hosts.length === 1 ? '' : 's'}).
Edit the hosts file and run the command again rather than editing this file.`;
}

function renderAlertmanager(hosts: FleetHost[], o: FleetOptions): string {
  const doc = new Document({
    route: {
      receiver: o.receiver,
      group_by: ['alertname', 'instance'],
      group_wait: '10s',
      group_interval: '1m',
      repeat_interval: '30m',
    },
    receivers: [
      {
        name: o.receiver,
        webhook_configs: hosts.map((h) => ({
          url: `${o.scheme}://${h.target}/webhook/alertmanager`,
          send_resolved: true,
          max_alerts: 0,
          http_config: { authorization: { type: 'Bearer', credentials_file: o.tokenFile } },
        })),
      },
    ],
  });
  doc.commentBefore = block(`${generatedBy(o, hosts, 'Alertmanager config for a promedic fleet')}
Check it with: amtool check-config alertmanager.yml

Every alert goes to every host's promedic: the receiver "${o.receiver}" has one webhook_config
per host. Each promedic acts only on the alerts in its own scope (its instance and
instance_labels) and records the others as out of scope. Alertmanager sends to and retries each
webhook_config on its own: a host that is down or restarting gets the notification when it is
back, and holds back no other host.

Every host's promedic must accept the token in this file on Alertmanager's host:
  ${o.tokenFile}
(the same token on every host, as its auth.token_file or PROMEDIC_TOKEN).

To merge into an existing alertmanager.yml instead: copy the receiver "${o.receiver}" into its
receivers, and add a route to it, first among the top route's routes, with continue: true so
your other receivers still get the alerts:
  route:
    routes:
      - receiver: ${o.receiver}
        group_by: [alertname, instance]
        continue: true

${HOSTS_FORMAT}`);
  const root = mapOf(doc.contents);
  const route = mapOf(root.get('route', true));
  flow(route, 'group_by');
  before(
    route,
    'group_by',
    `One group per alert name and host: each host's alerts reach its promedic in their own
notification, and a group of one host never waits for another's.`,
  );
  before(
    route,
    'group_wait',
    `Prometheus' rules already wait out their \`for\` before an alert fires: every second more
here delays the fix. A few seconds let the alerts of one rule evaluation arrive together.`,
  );
  before(
    route,
    'group_interval',
    `Changes to a group (a new alert, or one resolved) go out at most this often. promedic
verifies a fix by the alert resolving within the playbook's verify.within (minutes), so a
resolution must arrive well inside that.`,
  );
  before(
    route,
    'repeat_interval',
    `Re-send an unchanged group: a safety net for a notification lost beyond Alertmanager's
retries. promedic de-duplicates per alert episode, so repeats start nothing.`,
  );
  const receiver = firstIn(root, 'receivers') as YAMLMap;
  before(receiver, 'webhook_configs', `One per host, in the hosts file's order; retried independently.`);
  const w = firstIn(receiver, 'webhook_configs');
  if (w) {
    before(w, 'send_resolved', 'promedic verifies fixes by the alert resolving.');
    before(w, 'max_alerts', '0: no limit. Every promedic sees every alert of a group and picks its own.');
    before(w, 'http_config', "The bearer token promedic checks (auth.token_file on each host), read from this file\non Alertmanager's host.");
  }
  return doc.toString(TO_STRING);
}

function renderPrometheus(hosts: FleetHost[], o: FleetOptions): string {
  const groups = targetGroups(hosts);
  const doc = new Document({
    global: { scrape_interval: '15s', evaluation_interval: '15s' },
    alerting: { alertmanagers: [{ static_configs: [{ targets: ['localhost:9093'] }] }] },
    scrape_configs: [
      {
        job_name: 'promedic',
        scrape_interval: '15s',
        scheme: o.scheme,
        metrics_path: '/metrics',
        file_sd_configs: [{ files: [FLEET_FILES.targets] }],
      },
    ],
  });
  doc.commentBefore = block(`${generatedBy(o, hosts, 'Prometheus config for a promedic fleet')}
Check it with: promtool check config prometheus.yml

The job "promedic" scrapes every host's promedic (GET /metrics: host metrics under node_exporter's
names, and promedic's own). Its targets are in ${FLEET_FILES.targets}, next to this file (a relative
path is read from this file's directory), which Prometheus re-reads when it changes: adding a
host needs no reload. To merge into an existing prometheus.yml, copy the job into its
scrape_configs and ${FLEET_FILES.targets} next to it.

A host's metrics get instance="ADDRESS:PORT" as the hosts file lists it, plus its labels: set
each promedic's instance (PROMEDIC_INSTANCE) to that ADDRESS:PORT and its instance_labels to those
labels, so the alerts on its metrics are in its scope.

${HOSTS_FORMAT}`);
  const root = mapOf(doc.contents);
  const alerting = mapOf(root.get('alerting', true));
  before(
    root,
    'alerting',
    `Placeholder: where your Alertmanager listens (the one running alertmanager.yml). Prometheus
sends it the alerts of your rule_files.`,
  );
  flow(firstIn(firstIn(alerting, 'alertmanagers') as YAMLMap, 'static_configs') as YAMLMap, 'targets');
  const job = firstIn(root, 'scrape_configs') as YAMLMap;
  flow(firstIn(job, 'file_sd_configs') as YAMLMap, 'files');
  before(job, 'file_sd_configs', `Targets and labels from ${FLEET_FILES.targets}, written by promedic fleet-config.`);
  const inline = groups.map((g) => (Object.keys(g.labels).length ? g : { targets: g.targets }));
  const alternative = stringify({ static_configs: inline }, { lineWidth: 0, collectionStyle: 'block' }).trimEnd();
  job.comment = block(`Or, instead of file_sd_configs, the same targets inline (then a new host needs a reload):
${alternative}`);
  return doc.toString(TO_STRING);
}

/** The generated files, by name, in the order they are listed (and written). */
export function renderFleet(hosts: FleetHost[], options: FleetOptions): Record<string, string> {
  return {
    [FLEET_FILES.alertmanager]: renderAlertmanager(hosts, options),
    [FLEET_FILES.targets]: `${JSON.stringify(targetGroups(hosts), null, 2)}\n`,
    [FLEET_FILES.prometheus]: renderPrometheus(hosts, options),
  };
}

/** One line per file, for the summary the command prints. */
export function describeFleet(hosts: FleetHost[], options: FleetOptions): Record<string, string> {
  const n = hosts.length;
  const sets = targetGroups(hosts).length;
  const s = (k: number) => (k === 1 ? '' : 's');
  return {
    [FLEET_FILES.alertmanager]: `receiver ${options.receiver} with ${n} webhook${s(n)}, token from ${options.tokenFile}`,
    [FLEET_FILES.targets]: `${n} target${s(n)} in ${sets} label set${s(sets)}`,
    [FLEET_FILES.prometheus]: `job promedic scraping ${FLEET_FILES.targets}; alertmanager localhost:9093 (a placeholder)`,
  };
}

/**
 * Writes the files into dir (created if missing): each to a temp file in dir, fsync'ed, then
 * all renamed into place, so no reader ever sees a half-written file.
 */
export function writeFleet(dir: string, files: Record<string, string>): string[] {
  mkdirSync(dir, { recursive: true });
  const temps: Array<[string, string]> = [];
  try {
    for (const [name, content] of Object.entries(files)) {
      const tmp = join(dir, `.${name}.${process.pid}.tmp`);
      temps.push([tmp, join(dir, name)]);
      const fd = openSync(tmp, 'w', 0o644);
      try {
        writeSync(fd, content);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    for (const [tmp, path] of temps) renameSync(tmp, path);
  } catch (err) {
    for (const [tmp] of temps) rmSync(tmp, { force: true });
    throw err;
  }
  try {
    // Make the renames durable (not possible on every platform).
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // best effort
  }
  return temps.map(([, path]) => path);
}
