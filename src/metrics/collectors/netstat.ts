import { type CycleContext, type HostCollector, eachLine, fields } from '../collector.js';
import { type Family, family } from '../exposition.js';

/**
 * node_exporter's default --collector.netstat.fields, plus Tcp_MaxConn and the TcpExt
 * queue drops that current versions and the Node Exporter Full dashboard use.
 */
export const NETSTAT_FIELDS =
  /^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts|TCPOFOQueue|TCPRcvQDrop)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab|MaxConn)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$/;

interface Pick {
  /** Column of the value (netstat, snmp), or 1 (snmp6). */
  col: number;
  name: string;
  help: string;
}

/** What to export from a header line (or an snmp6 key): worked out once, not every cycle. */
const plans = new Map<string, Pick[]>();

function pick(key: string, col: number): Pick | null {
  if (!NETSTAT_FIELDS.test(key)) return null;
  const [proto, ...rest] = key.split('_');
  return { col, name: `node_netstat_${key}`, help: `Statistic ${proto}${rest.join('_')}.` };
}

function pairedPlan(header: string): Pick[] {
  let plan = plans.get(header);
  if (!plan) {
    const names = fields(header);
    const proto = (names[0] as string).replace(/:$/, '');
    plan = [];
    for (let j = 1; j < names.length; j++) {
      const p = pick(`${proto}_${names[j]}`, j);
      if (p) plan.push(p);
    }
    if (plans.size < 1000) plans.set(header, plan);
  }
  return plan;
}

/** The whitespace-separated fields of `line` at the (ascending) columns of `plan`. */
function valuesAt(line: string, plan: Pick[], out: Map<Pick, number>): void {
  let col = 0;
  let pos = 0;
  let k = 0;
  const n = line.length;
  while (k < plan.length && pos < n) {
    while (pos < n && (line.charCodeAt(pos) === 32 || line.charCodeAt(pos) === 9)) pos++;
    let end = pos;
    while (end < n && line.charCodeAt(end) !== 32 && line.charCodeAt(end) !== 9) end++;
    if (end === pos) break;
    const p = plan[k] as Pick;
    if (p.col === col) {
      out.set(p, Number(line.slice(pos, end)));
      k++;
    }
    col++;
    pos = end;
  }
}

/** /proc/net/netstat and /proc/net/snmp: a header line of names followed by a line of values, per protocol. */
export function parsePaired(text: string, out: Map<Pick, number>): void {
  let pos = 0;
  for (;;) {
    const h = text.indexOf('\n', pos);
    if (h < 0) break;
    const v = text.indexOf('\n', h + 1);
    const header = text.slice(pos, h).trim();
    const values = text.slice(h + 1, v < 0 ? undefined : v);
    if (header) valuesAt(values, pairedPlan(header), out);
    if (v < 0) break;
    pos = v + 1;
  }
}

/** /proc/net/snmp6: "Ip6InReceives 123" -> Ip6_InReceives. */
export function parseSnmp6(text: string, out: Map<Pick, number>): void {
  eachLine(text, (pos, end) => {
    let sp = pos;
    while (sp < end && text.charCodeAt(sp) !== 32 && text.charCodeAt(sp) !== 9) sp++;
    const key = text.slice(pos, sp);
    let plan = plans.get(key);
    if (!plan) {
      const m = /^(Ip6|Icmp6|Udp6|UdpLite6)(.+)$/.exec(key);
      const p = m ? pick(`${m[1]}_${m[2]}`, 1) : null;
      plan = p ? [p] : [];
      if (plans.size < 1000) plans.set(key, plan);
    }
    if (plan.length > 0) valuesAt(text.slice(pos, end), plan, out);
  });
}

export const netstat: HostCollector = {
  name: 'netstat',
  async collect(ctx: CycleContext): Promise<Family[]> {
    const all = new Map<Pick, number>();
    parsePaired(await ctx.read(ctx.proc('net/netstat')), all);
    parsePaired(await ctx.read(ctx.proc('net/snmp')), all);
    const snmp6 = await ctx.readOptional(ctx.proc('net/snmp6'));
    if (snmp6) parseSnmp6(snmp6, all);
    const out: Family[] = [];
    for (const [p, value] of all) out.push(family(p.name, p.help, 'untyped', value));
    return out;
  },
};
