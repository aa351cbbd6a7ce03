import { type CycleContext, type HostCollector, fields, lines } from '../collector.js';
import { type Family, family } from '../exposition.js';

/**
 * node_exporter's default --collector.netstat.fields, plus Tcp_MaxConn and the TcpExt
 * queue drops that current versions and the Node Exporter Full dashboard use.
 */
export const NETSTAT_FIELDS =
  /^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts|TCPOFOQueue|TCPRcvQDrop)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab|MaxConn)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$/;

/** /proc/net/netstat and /proc/net/snmp: a header line of names followed by a line of values, per protocol. */
export function parsePaired(text: string, out: Map<string, number>): void {
  const ls = lines(text);
  for (let i = 0; i + 1 < ls.length; i += 2) {
    const names = fields(ls[i] as string);
    const values = fields(ls[i + 1] as string);
    const proto = (names[0] as string).replace(/:$/, '');
    for (let j = 1; j < names.length; j++) out.set(`${proto}_${names[j]}`, Number(values[j]));
  }
}

/** /proc/net/snmp6: "Ip6InReceives 123" -> Ip6_InReceives. */
export function parseSnmp6(text: string, out: Map<string, number>): void {
  for (const line of lines(text)) {
    const [k, v] = fields(line);
    const m = k ? /^(Ip6|Icmp6|Udp6|UdpLite6)(.+)$/.exec(k) : null;
    if (m && v !== undefined) out.set(`${m[1]}_${m[2]}`, Number(v));
  }
}

export const netstat: HostCollector = {
  name: 'netstat',
  async collect(ctx: CycleContext): Promise<Family[]> {
    const all = new Map<string, number>();
    parsePaired(await ctx.read(ctx.proc('net/netstat')), all);
    parsePaired(await ctx.read(ctx.proc('net/snmp')), all);
    const snmp6 = await ctx.readOptional(ctx.proc('net/snmp6'));
    if (snmp6) parseSnmp6(snmp6, all);
    const out: Family[] = [];
    for (const [key, value] of all) {
      if (!NETSTAT_FIELDS.test(key)) continue;
      const [proto, ...rest] = key.split('_');
      out.push(family(`node_netstat_${key}`, `Statistic ${proto}${rest.join('_')}.`, 'untyped', value));
    }
    return out;
  },
};
