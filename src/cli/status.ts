/**
 * `promedic status [--url URL] [--json]`: asks a running promedic for GET /api/v1/status and
 * prints it for a person (or as JSON). The URL and the credentials come from the same config
 * as `promedic start` (listen address and port, auth.token / PROMEDIC_TOKEN / auth.token_file,
 * auth.basic), so on the host that runs promedic the command needs no arguments.
 */
import type { Config } from '../config.js';
import type { Status } from '../status.js';

export function statusUrl(config: Config, url?: string): string {
  if (url) return url.replace(/\/+$/, '');
  const host = config.listen.address === '0.0.0.0' || config.listen.address === '::' ? '127.0.0.1' : config.listen.address;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.listen.port}`;
}

export async function fetchStatus(config: Config, url: string): Promise<Status> {
  const headers: Record<string, string> = {};
  if (config.token) headers.authorization = `Bearer ${config.token}`;
  else if (config.basic) headers.authorization = `Basic ${Buffer.from(`${config.basic.username}:${config.basic.password}`).toString('base64')}`;
  let res: Response;
  try {
    res = await fetch(`${url}/api/v1/status`, { headers, signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    throw new Error(`cannot reach promedic at ${url}${cause ? ` (${cause})` : ''}: is it running? (--url to ask another)`);
  }
  if (res.status === 401) throw new Error(`${url} refused the credentials: set PROMEDIC_TOKEN or auth.token_file as promedic has them`);
  if (!res.ok) throw new Error(`${url}/api/v1/status answered ${res.status}`);
  return (await res.json()) as Status;
}

const ago = (iso: string | null, now: number): string => {
  if (!iso) return '';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return s < 90 ? `${s}s ago` : s < 5400 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
};

/** The status for a person, one line per thing, most important first. */
export function formatStatus(s: Status, now = Date.now()): string {
  const out: string[] = [];
  const a = s.automation;
  const others = a.enforcing ? `; ${a.enforcing} playbook(s) enforce by their own mode` : '';
  const mode = a.paused
    ? 'PAUSED (alerts are recorded, nothing acts)'
    : a.mode === 'dry-run'
      ? `dry-run (plans are recorded, nothing acts${others})`
      : a.mode === 'observe'
        ? `observe (matches are recorded${others})`
        : 'active';
  out.push(`promedic ${s.version}, up ${Math.round(s.uptime_seconds / 60)} min: automation ${mode}${a.emergency.active ? `; EMERGENCY (${a.emergency.alerts.join(', ')})` : ''}`);
  out.push('', 'systems:');
  for (const [name, sys] of Object.entries(s.systems)) out.push(`  ${name.padEnd(10)} ${sys.state.padEnd(9)} ${sys.detail}`);
  const h = s.last_hour;
  out.push('', `last hour: ${h.alerts} alerts, ${h.runs} runs (${h.succeeded} verified, ${h.failed} failed, ${h.rollbacks} rolled back), ${h.experiments} experiments (${h.kept} kept, ${h.rolled_back} rolled back)`);
  out.push('', `alerts firing: ${s.alerts.firing.length}${s.alerts.pending.length ? `, pending: ${s.alerts.pending.length}` : ''}`);
  for (const al of s.alerts.firing) out.push(`  ${al.alertname} ${JSON.stringify(al.labels)} ${al.severity}, since ${ago(al.since, now)}`);
  for (const al of s.alerts.pending) out.push(`  ${al.alertname} (pending) ${JSON.stringify(al.labels)}, since ${ago(al.since, now)}`);
  out.push('', `runs in flight: ${s.runs.in_flight.length}`);
  for (const r of s.runs.in_flight) out.push(`  ${r.playbook}/${r.strategy} for ${r.alertname}: ${r.status}, started ${ago(r.started_at, now)}`);
  if (s.runs.recent.length) out.push('recent runs:');
  for (const r of s.runs.recent) {
    out.push(`  ${ago(r.started_at, now).padEnd(8)} ${`${r.playbook}/${r.strategy}`.padEnd(48)} ${r.status}${r.failed_step ? `: ${r.failed_step.name ? `${r.failed_step.name}: ` : ''}${r.failed_step.error}` : ''}`);
  }
  if (s.experiments.running.length) out.push('', 'experiments running:');
  for (const e of s.experiments.running) out.push(`  ${e.target}/${e.knob} ${JSON.stringify(e.from)} -> ${JSON.stringify(e.to)}: ${e.phase}, started ${ago(e.startedAt, now)}`);
  if (s.suspended.length) out.push('', 'suspended:');
  for (const x of s.suspended) out.push(`  ${x.playbook} for ${x.target} until ${x.until}: ${x.reason}`);
  if (s.strategies.length) out.push('', 'strategy success (verified outcomes):');
  for (const x of s.strategies) out.push(`  ${`${x.playbook}/${x.strategy}`.padEnd(48)} ${x.successes}/${x.successes + x.failures}${x.success_ratio === null ? '' : ` (${Math.round(x.success_ratio * 100)} %)`}`);
  return `${out.join('\n')}\n`;
}
