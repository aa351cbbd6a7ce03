/** The only list of host collectors. Adding one is one file and one line here. */
import type { HostCollector } from '../collector.js';
import { arp } from './arp.js';
import { conntrack } from './conntrack.js';
import { cpu } from './cpu.js';
import { cpufreq } from './cpufreq.js';
import { diskstats } from './diskstats.js';
import { entropy } from './entropy.js';
import { filefd } from './filefd.js';
import { filesystem } from './filesystem.js';
import { interrupts } from './interrupts.js';
import { loadavg } from './loadavg.js';
import { meminfo } from './meminfo.js';
import { netclass } from './netclass.js';
import { netdev } from './netdev.js';
import { netstat } from './netstat.js';
import { os } from './os.js';
import { pressure } from './pressure.js';
import { processes } from './processes.js';
import { schedstat } from './schedstat.js';
import { selinux } from './selinux.js';
import { sockstat } from './sockstat.js';
import { softnet } from './softnet.js';
import { stat } from './stat.js';
import { tcpstat } from './tcpstat.js';
import { textfile } from './textfile.js';
import { time } from './time.js';
import { udp_queues } from './udp_queues.js';
import { uname } from './uname.js';
import { vmstat } from './vmstat.js';

export const COLLECTORS: readonly HostCollector[] = [
  arp, conntrack, cpu, cpufreq, diskstats, entropy, filefd, filesystem, interrupts, loadavg, meminfo,
  netclass, netdev, netstat, os, pressure, processes, schedstat, selinux, sockstat, softnet, stat,
  tcpstat, textfile, time, udp_queues, uname, vmstat,
];

export const COLLECTOR_NAMES: readonly string[] = COLLECTORS.map((c) => c.name);
