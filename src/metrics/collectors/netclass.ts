import { readdirSync } from 'node:fs';
import type { CycleContext, HostCollector } from '../collector.js';
import type { Family, MetricType, Sample } from '../exposition.js';

/** sysfs attribute -> metric, as node_exporter's netclass collector names them. */
const NUMERIC: Array<{ attr: string; name: string; help: string; type: MetricType; scale?: number }> = [
  { attr: 'addr_assign_type', name: 'node_network_address_assign_type', help: 'Network device property: address_assign_type', type: 'gauge' },
  { attr: 'carrier', name: 'node_network_carrier', help: 'Network device property: carrier', type: 'gauge' },
  { attr: 'carrier_changes', name: 'node_network_carrier_changes_total', help: 'Network device property: carrier_changes_total', type: 'counter' },
  { attr: 'carrier_up_count', name: 'node_network_carrier_up_changes_total', help: 'Network device property: carrier_up_changes_total', type: 'counter' },
  { attr: 'carrier_down_count', name: 'node_network_carrier_down_changes_total', help: 'Network device property: carrier_down_changes_total', type: 'counter' },
  { attr: 'dev_id', name: 'node_network_device_id', help: 'Network device property: device_id', type: 'gauge' },
  { attr: 'dormant', name: 'node_network_dormant', help: 'Network device property: dormant', type: 'gauge' },
  { attr: 'flags', name: 'node_network_flags', help: 'Network device property: flags', type: 'gauge' },
  { attr: 'ifindex', name: 'node_network_iface_id', help: 'Network device property: iface_id', type: 'gauge' },
  { attr: 'iflink', name: 'node_network_iface_link', help: 'Network device property: iface_link', type: 'gauge' },
  { attr: 'link_mode', name: 'node_network_iface_link_mode', help: 'Network device property: iface_link_mode', type: 'gauge' },
  { attr: 'mtu', name: 'node_network_mtu_bytes', help: 'Network device property: mtu_bytes', type: 'gauge' },
  { attr: 'name_assign_type', name: 'node_network_name_assign_type', help: 'Network device property: name_assign_type', type: 'gauge' },
  { attr: 'netdev_group', name: 'node_network_net_dev_group', help: 'Network device property: net_dev_group', type: 'gauge' },
  // Mbit/s -> bytes/s, as node_exporter does (including the kernel's -1 for "unknown").
  { attr: 'speed', name: 'node_network_speed_bytes', help: 'Network device property: speed_bytes', type: 'gauge', scale: 125000 },
  { attr: 'tx_queue_len', name: 'node_network_transmit_queue_length', help: 'Network device property: transmit_queue_length', type: 'gauge' },
  { attr: 'type', name: 'node_network_protocol_type', help: 'Network device property: protocol_type', type: 'gauge' },
];

function parseNum(s: string | null): number | null {
  if (s === null) return null;
  const t = s.trim();
  if (t === '') return null;
  const n = t.startsWith('0x') ? Number.parseInt(t, 16) : Number(t);
  return Number.isFinite(n) ? n : null;
}

/** Link state and properties of every interface from /sys/class/net. */
export const netclass: HostCollector = {
  name: 'netclass',
  async collect(ctx: CycleContext): Promise<Family[]> {
    const base = ctx.sys('class/net');
    const devices = readdirSync(base).sort();
    const samples = NUMERIC.map(() => [] as Sample[]);
    const info: Sample[] = [];
    const up: Sample[] = [];
    for (let i = 0; i < devices.length; i++) {
      const device = devices[i] as string;
      // ~20 sysfs files per device: each device in its own loop turn.
      if (i > 0) await ctx.yield();
      const dir = `${base}/${device}/`;
      const attr = (a: string): string | null => ctx.readNow(dir + a)?.trim() ?? null;
      const labels = { device };
      for (let k = 0; k < NUMERIC.length; k++) {
        const spec = NUMERIC[k] as (typeof NUMERIC)[number];
        const n = parseNum(attr(spec.attr));
        if (n !== null) (samples[k] as Sample[]).push({ labels, value: n * (spec.scale ?? 1) });
      }
      const operstate = attr('operstate');
      info.push({
        labels: {
          device,
          address: attr('address') ?? '',
          broadcast: attr('broadcast') ?? '',
          duplex: attr('duplex') ?? '',
          ifalias: attr('ifalias') ?? '',
          operstate: operstate ?? '',
        },
        value: 1,
      });
      up.push({ labels, value: operstate === 'up' ? 1 : 0 });
    }
    const out: Family[] = NUMERIC.map((n, i) => ({ name: n.name, help: n.help, type: n.type, samples: samples[i] as Sample[] }));
    out.push({
      name: 'node_network_info',
      help: 'Non-numeric data from /sys/class/net/<iface>, value is always 1.',
      type: 'gauge',
      samples: info,
    });
    out.push({ name: 'node_network_up', help: 'Value is 1 if operstate is \'up\', 0 otherwise.', type: 'gauge', samples: up });
    return out;
  },
};
