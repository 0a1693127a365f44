import type { Task, TaskStatus } from '../../model/mesos.js';
import { agentIdTail, domainFrag, hash5, type LabelSpec, rfc952, rfc1123 } from './names.js';

/** One resource record. Names are lowercase and carry no trailing dot. */
export type Rr =
  | { name: string; type: 'A'; ip: string }
  | { name: string; type: 'AAAA'; ip: string }
  | { name: string; type: 'SRV'; target: string; port: number; priority: number; weight: number };

export type IpSource = 'netinfo' | 'mesos' | 'docker' | 'host';

export interface DnsConfig {
  /** The Mesos-DNS domain (default `mesos`). */
  domain: string;
  /** The dcos-net domain served beside it. */
  dcosDomain: string;
  ttlSecs: number;
  ipSources: IpSource[];
  enforceRFC952: boolean;
  /** Leave out tasks whose health check has not passed (tasks without a health check stay in). */
  onlyHealthy: boolean;
  srvWeight: number;
  /** Address of this DNS server, for `ns1.<domain>`. */
  nsIp: string;
  soa: { mname: string; rname: string; serial: number; refreshSecs: number; retrySecs: number; expireSecs: number; minTtlSecs: number };
}

export const DEFAULT_DNS_CONFIG: DnsConfig = {
  domain: 'mesos',
  dcosDomain: 'thisdcos.directory',
  ttlSecs: 60,
  // As DC/OS configures Mesos-DNS: `<task>.<framework>.mesos` is the agent (where host ports
  // are open); container IPs are in dcos-net's `containerip`/`autoip` names.
  ipSources: ['host', 'netinfo'],
  enforceRFC952: false,
  onlyHealthy: false,
  srvWeight: 1,
  nsIp: '127.0.0.1',
  soa: { mname: 'ns1.mesos', rname: 'root.ns1.mesos', serial: 1, refreshSecs: 60, retrySecs: 600, expireSecs: 86400, minTtlSecs: 60 },
};

export interface DnsAgent {
  id: string;
  /** The host part of the agent's pid (`slave(1)@10.0.0.5:5051`). */
  ip: string;
  port: number;
}

export interface DnsFramework {
  id: string;
  name: string;
  hostname?: string;
}

export interface DnsMaster {
  ip: string;
  port: number;
}

const a = (name: string, ip: string): Rr => (ip.includes(':') ? { name, type: 'AAAA', ip } : { name, type: 'A', ip });
const srv = (name: string, target: string, port: number, weight: number): Rr => ({ name, type: 'SRV', target, port, priority: 0, weight });

export const isIp = (s: string): boolean => /^\d{1,3}(\.\d{1,3}){3}$/.test(s) || (s.includes(':') && /^[0-9a-fA-F:.]+$/.test(s));

/** `slave(1)@10.0.0.5:5051` → {host, port}. */
export function parsePid(pid: string | undefined): { host: string; port: number } | undefined {
  const m = /@(.+):(\d+)$/.exec(pid ?? '');
  return m ? { host: m[1] as string, port: Number(m[2]) } : undefined;
}

export function labelSpec(cfg: DnsConfig): LabelSpec {
  return cfg.enforceRFC952 ? rfc952 : rfc1123;
}

/** The latest TASK_RUNNING status: Mesos-DNS takes task IPs from it. */
function runningStatus(task: Task): TaskStatus | undefined {
  for (let i = task.statuses.length - 1; i >= 0; i--) if (task.statuses[i]?.state === 'TASK_RUNNING') return task.statuses[i];
  return undefined;
}

function labelValue(st: TaskStatus | undefined, key: string): string | undefined {
  return st?.labels?.labels.find((l) => l.key === key)?.value;
}

/** Container IPs of a task (network_infos of its latest running status). */
export function containerIps(task: Task): string[] {
  const st = runningStatus(task);
  const out: string[] = [];
  for (const ni of st?.container_status?.network_infos ?? []) for (const ip of ni.ip_addresses ?? []) if (ip.ip_address) out.push(ip.ip_address);
  return out;
}

/** The task's IPs from the first IP source that has any (config `IPSources`). */
export function taskIps(task: Task, agentIp: string, sources: IpSource[]): string[] {
  const st = runningStatus(task);
  for (const s of sources) {
    let ips: string[] = [];
    if (s === 'netinfo') ips = containerIps(task);
    else if (s === 'mesos') ips = [labelValue(st, 'MesosContainerizer.NetworkSettings.IPAddress') ?? ''].filter(Boolean);
    else if (s === 'docker') ips = [labelValue(st, 'Docker.NetworkSettings.IPAddress') ?? ''].filter(Boolean);
    else if (s === 'host') ips = [agentIp];
    ips = ips.filter(isIp);
    if (ips.length) return ips;
  }
  return [];
}

/** Host ports of a task: every value of its `ports` range resources. Bounded: a task with huge ranges gets the first 1000. */
export function taskPorts(task: Task): number[] {
  const out: number[] = [];
  for (const r of task.resources) {
    if (r.name !== 'ports') continue;
    for (const rg of r.ranges?.range ?? []) for (let p = rg.begin; p <= rg.end && out.length < 1000; p++) out.push(p);
  }
  return out;
}

/** Whether the task gets records: running, on a known agent, healthy when asked for. */
export function taskVisible(task: Task, cfg: DnsConfig): boolean {
  if (task.state !== 'TASK_RUNNING') return false;
  if (!cfg.onlyHealthy || !task.health_check) return true;
  const last = task.statuses[task.statuses.length - 1];
  return last?.healthy === true;
}

/** The DNS label of a task: DiscoveryInfo.name if set, else the task name, sanitised. */
export function taskLabel(task: Task, spec: LabelSpec): string {
  return spec(task.discovery?.name || task.name);
}

/**
 * Every record one running task contributes (generator.go taskRecord, plus dcos-net names).
 * Returns [] for a task that should not be visible.
 */
export function taskRecords(task: Task, agent: DnsAgent | undefined, fw: DnsFramework | undefined, cfg: DnsConfig): Rr[] {
  if (!agent || !fw || !taskVisible(task, cfg)) return [];
  const spec = labelSpec(cfg);
  const tname = taskLabel(task, spec);
  const fname = domainFrag(fw.name, spec);
  if (!tname || !fname) return [];
  const d = cfg.domain;
  const tail = `${tname}.${fname}`;
  const canonical = `${tname}-${hash5(task.task_id.value)}-${agentIdTail(agent.id)}.${fname}`;
  const ips = taskIps(task, agent.ip, cfg.ipSources);
  // A container IP equal to the agent's (host networking, as our agent reports it) is not an IP of its own.
  const cips = containerIps(task).filter((ip) => isIp(ip) && ip !== agent.ip);
  const out: Rr[] = [];
  for (const ip of ips) out.push(a(`${tail}.${d}`, ip), a(`${canonical}.${d}`, ip));
  out.push(a(`${tail}.slave.${d}`, agent.ip), a(`${canonical}.slave.${d}`, agent.ip));

  // dcos-net: autoip (container IP if any, else agent), agentip, containerip.
  const dd = `dcos.${cfg.dcosDomain}`;
  for (const ip of cips.length ? cips : [agent.ip]) out.push(a(`${tail}.autoip.${dd}`, ip));
  out.push(a(`${tail}.agentip.${dd}`, agent.ip));
  for (const ip of cips) out.push(a(`${tail}.containerip.${dd}`, ip));

  // SRV: every target is a name whose A record is the address the port is open on. Host ports
  // (the `ports` resources, DiscoveryInfo ports with network-scope host) pair with the agent's
  // IP, container ports (network-scope container) with the container's own IP.
  const aIsAgent = ips.length === 0 || ips.includes(agent.ip);
  const aIsContainer = ips.length > 0 && ips.every((ip) => cips.includes(ip));
  const slaveTarget = `${canonical}.slave.${d}`;
  const plainTarget = `${canonical}.${d}`;
  for (const port of taskPorts(task)) {
    for (const proto of ['tcp', 'udp']) {
      out.push(srv(`_${tname}._${proto}.${fname}.slave.${d}`, slaveTarget, port, cfg.srvWeight));
      if (aIsAgent) out.push(srv(`_${tname}._${proto}.${fname}.${d}`, slaveTarget, port, cfg.srvWeight));
    }
  }
  const targets: SrvTargets = { host: aIsAgent ? plainTarget : slaveTarget, container: aIsContainer ? plainTarget : undefined };
  out.push(...discoverySrv(task, tname, fname, targets, cfg, spec));
  return out;
}

/** Which name to point an SRV at for a host port and for a container port (none: no such name). */
interface SrvTargets {
  host: string;
  container: string | undefined;
}

/**
 * SRV from DiscoveryInfo ports: named ports always (`_<port>._<task>._<proto>.<fw>.<domain>`),
 * unnamed ones (`_<task>._<proto>.<fw>.<domain>`) when they are container ports. A port's scope is
 * its `network-scope` label (Marathon's: `host` = a host port, `container` = a container port);
 * without one it is a host port, as Mesos-DNS assumes. A container port whose task has no name
 * resolving to its container IP goes by its port mapping's host port instead, or is left out.
 */
function discoverySrv(task: Task, tname: string, fname: string, targets: SrvTargets, cfg: DnsConfig, spec: LabelSpec): Rr[] {
  const out: Rr[] = [];
  const mappings = (task.container?.network_infos ?? []).flatMap((ni) => ni.port_mappings ?? []);
  for (const p of task.discovery?.ports?.ports ?? []) {
    if (!Number.isInteger(p.number) || p.number <= 0 || p.number > 65535) continue;
    const scope = p.labels?.labels?.find((l) => l.key === 'network-scope')?.value;
    const protos = p.protocol ? [p.protocol.toLowerCase()] : ['tcp', 'udp'];
    for (const proto of protos) {
      if (proto !== 'tcp' && proto !== 'udp') continue;
      let target: string | undefined = targets.host;
      let port = p.number;
      const isContainerPort = scope === 'container';
      if (isContainerPort) {
        target = targets.container;
        if (!target) {
          const pm = mappings.find((m) => m.container_port === p.number && (m.protocol ?? 'tcp').toLowerCase() === proto);
          if (!pm) continue;
          target = targets.host;
          port = pm.host_port;
        }
      }
      if (isContainerPort && target === targets.container) out.push(srv(`_${tname}._${proto}.${fname}.${cfg.domain}`, target, port, cfg.srvWeight));
      const pname = p.name ? spec(p.name) : '';
      if (pname) out.push(srv(`_${pname}._${tname}._${proto}.${fname}.${cfg.domain}`, target, port, cfg.srvWeight));
    }
  }
  return out;
}

/** `slave.<domain>`, `agent.<domain>` and their SRV. */
export function agentRecords(agent: DnsAgent, cfg: DnsConfig): Rr[] {
  const d = cfg.domain;
  return [
    a(`slave.${d}`, agent.ip),
    a(`agent.${d}`, agent.ip),
    srv(`_slave._tcp.${d}`, `slave.${d}`, agent.port, cfg.srvWeight),
    srv(`_agent._tcp.${d}`, `agent.${d}`, agent.port, cfg.srvWeight),
  ];
}

/** `<framework>.<domain>`: the scheduler's host, when it is an IP (HTTP frameworks have no pid). */
export function frameworkRecords(fw: DnsFramework, cfg: DnsConfig): Rr[] {
  const fname = domainFrag(fw.name, labelSpec(cfg));
  if (!fname || !fw.hostname || !isIp(fw.hostname)) return [];
  return [a(`${fname}.${cfg.domain}`, fw.hostname)];
}

/** `leader`, `master`, `masterN`, `_leader._tcp|_udp` and `ns1` (this server). */
export function masterRecords(leader: DnsMaster | undefined, masters: DnsMaster[], cfg: DnsConfig): Rr[] {
  const d = cfg.domain;
  const out: Rr[] = [a(`ns1.${d}`, cfg.nsIp)];
  if (leader) {
    out.push(a(`leader.${d}`, leader.ip));
    for (const proto of ['tcp', 'udp']) out.push(srv(`_leader._${proto}.${d}`, `leader.${d}`, leader.port, cfg.srvWeight));
  }
  for (const [i, m] of masters.entries()) out.push(a(`master.${d}`, m.ip), a(`master${i}.${d}`, m.ip));
  return out;
}
