/**
 * The VIP table from task state (dcos-net's l4lb semantics): a `VIP_<n>` label on a task's
 * DiscoveryInfo port n (Marathon copies portDefinitions[n].labels / portMappings[n].labels there)
 * names a VIP, "/name:port" (an address from the range, stable per name) or "ip:port" (an address
 * inside the range). Backends are the running, healthy tasks carrying the label: a host-networked
 * task at its agent's IP and that port's host port; a task with an address of its own on a
 * container network (status network_infos) at that address and the port's container port (the
 * kernel applies one DNAT per connection, so a VIP that DNATs to agentIP:hostPort never reaches
 * portmap's DNAT to the container). Pure: the service calls it and applies what it returns.
 */
import type { DiscoveryInfo, Task } from '../../model/mesos.js';
import { rfc1123 } from '../dns/names.js';
import { assignAddresses, inRange, ipToInt, type VipRange } from './range.js';

export type VipProtocol = 'tcp' | 'udp';

export type VipLabel = { kind: 'named'; name: string; port: number } | { kind: 'ip'; ip: string; port: number };

export interface VipBackend {
  ip: string;
  port: number;
  taskId: string;
  agentId: string;
  /** The container network the address is on; absent for host networking (agent IP). */
  network?: string;
}

export interface Vip {
  /** `/web:80` or `11.1.2.3:5000` as written in the label (named ones with a leading slash). */
  label: string;
  kind: 'named' | 'ip';
  protocol: VipProtocol;
  ip: string;
  port: number;
  /** Frameworks whose tasks carry it (for `<name>.<framework>.l4lb.<domain>`). */
  frameworks: string[];
  backends: VipBackend[];
}

export interface VipProblem {
  taskId: string;
  key: string;
  value: string;
  message: string;
}

export interface VipTaskInput {
  task: Task;
  /** The agent's IP (backends use host networking); undefined when the agent is not known. */
  agentIp: string | undefined;
  frameworkName: string | undefined;
}

/** Bounds: VIPs in a table and backends per VIP. Beyond them entries are left out and reported. */
export const MAX_VIPS = 10_000;
export const MAX_BACKENDS_PER_VIP = 1_000;
/** Problems reported per table (the first ones; the rest are counted only). */
export const MAX_PROBLEMS = 100;

const VIP_KEY = /^VIP_\d+$/;

/** Parses a VIP label value: "/name:port", "name:port" or "a.b.c.d:port". */
export function parseVipLabel(value: string): VipLabel | string {
  const i = value.lastIndexOf(':');
  if (i <= 0) return `expected "/name:port" or "ip:port", got "${value}"`;
  const host = value.slice(0, i).trim();
  const portText = value.slice(i + 1).trim();
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) return `port "${portText}" is not in 1..65535 (in "${value}")`;
  if (/^\d+(\.\d+){3}$/.test(host)) {
    if (ipToInt(host) === undefined) return `"${host}" is not an IPv4 address`;
    return { kind: 'ip', ip: host, port };
  }
  const name = host.startsWith('/') ? host : `/${host}`;
  if (!/^(\/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)+$/i.test(name)) return `name "${host}" must be path segments of letters, digits, '.', '_' and '-'`;
  return { kind: 'named', name: name.toLowerCase(), port };
}

/** The DNS label of a named VIP, as dcos-net makes it: slashes dropped ("/grp/web" → "grpweb"). */
export const vipDnsLabel = (name: string): string => rfc1123(name.replace(/\//g, ''));

/** `<vip>.<framework>.l4lb.<dcosDomain>` for every framework of a named VIP. */
export function vipDnsNames(vip: Vip, dcosDomain: string): string[] {
  if (vip.kind !== 'named') return [];
  const name = vipDnsLabel(vip.label.slice(0, vip.label.lastIndexOf(':')));
  return vip.frameworks.map((fw) => `${name}.${rfc1123(fw)}.l4lb.${dcosDomain}`);
}

/** Whether a task serves traffic: running (not killing), and healthy if it has a health check. */
export function taskServes(task: Task): boolean {
  if (task.state !== 'TASK_RUNNING') return false;
  if (!task.health_check) return true;
  return task.statuses[task.statuses.length - 1]?.healthy === true;
}

type DiscoveryPort = NonNullable<DiscoveryInfo['ports']>['ports'][number];

/** The addresses of a task's latest TASK_RUNNING status, by network name ('' for an unnamed one). */
function statusAddresses(task: Task): { name: string; ip: string }[] {
  for (let i = task.statuses.length - 1; i >= 0; i--) {
    const st = task.statuses[i];
    if (st?.state !== 'TASK_RUNNING') continue;
    const out: { name: string; ip: string }[] = [];
    for (const ni of st.container_status?.network_infos ?? [])
      for (const a of ni.ip_addresses ?? []) if (a.ip_address && ipToInt(a.ip_address) !== undefined) out.push({ name: ni.name ?? '', ip: a.ip_address });
    return out;
  }
  return [];
}

/**
 * Where a VIP sends a task's discovery port. A task with an address of its own on a named network
 * (not the agent's IP, which our agent reports for host networking) is reached there: at the
 * port's number when it is container-scoped (`network-scope: container`), else at the container
 * port its port mapping gives the host port. Otherwise (host networking, or a host port without a
 * mapping) at the agent's IP and the host port.
 */
function backendOf(task: Task, port: DiscoveryPort, agentIp: string): { ip: string; port: number; network?: string } | undefined {
  const own = statusAddresses(task).filter((a) => a.name !== '' && a.ip !== agentIp);
  const host = { ip: agentIp, port: port.number };
  if (own.length === 0) return host;
  const labels = port.labels?.labels ?? [];
  const scope = labels.find((l) => l.key === 'network-scope')?.value;
  const proto = (port.protocol ?? 'tcp').toLowerCase();
  const pick = (network: string | undefined) => own.find((a) => a.name === network) ?? (own[0] as { name: string; ip: string });
  if (scope === 'container') {
    const a = pick(labels.find((l) => l.key === 'network-name')?.value);
    return { ip: a.ip, port: port.number, network: a.name };
  }
  for (const ni of task.container?.network_infos ?? []) {
    const pm = (ni.port_mappings ?? []).find((m) => m.host_port === port.number && (m.protocol ?? 'tcp').toLowerCase() === proto);
    if (!pm || !(pm.container_port > 0)) continue;
    const a = pick(ni.name);
    return { ip: a.ip, port: pm.container_port, network: a.name };
  }
  return host;
}

export interface VipTable {
  vips: Vip[];
  problems: VipProblem[];
  /** Named VIP addresses by name (feed back as `previous` so addresses stay put). */
  addresses: Map<string, string>;
}

/**
 * Builds the table. `previous` holds the addresses named VIPs had; they keep them. VIPs with no
 * serving backend stay in the table (their name resolves; connections are refused locally).
 */
export function vipTable(tasks: Iterable<VipTaskInput>, range: VipRange, previous: ReadonlyMap<string, string> = new Map()): VipTable {
  const problems: VipProblem[] = [];
  const problem = (p: VipProblem) => {
    if (problems.length < MAX_PROBLEMS) problems.push(p);
  };
  interface Acc {
    label: VipLabel;
    protocol: VipProtocol;
    frameworks: Set<string>;
    backends: VipBackend[];
  }
  const byKey = new Map<string, Acc>();
  for (const { task, agentIp, frameworkName } of tasks) {
    const ports = task.discovery?.ports?.ports ?? [];
    for (const port of ports) {
      for (const { key, value } of port.labels?.labels ?? []) {
        if (!VIP_KEY.test(key)) continue;
        const text = value ?? '';
        const taskId = task.task_id.value;
        const parsed = parseVipLabel(text);
        if (typeof parsed === 'string') {
          problem({ taskId, key, value: text, message: parsed });
          continue;
        }
        if (parsed.kind === 'ip' && !inRange(range, parsed.ip)) {
          problem({
            taskId,
            key,
            value: text,
            message: `address ${parsed.ip} is outside the VIP range ${range.cidr} (only range addresses are kept on this machine)`,
          });
          continue;
        }
        const protocol: VipProtocol = (port.protocol ?? 'tcp').toLowerCase() === 'udp' ? 'udp' : 'tcp';
        const id = parsed.kind === 'named' ? `${parsed.name}:${parsed.port}` : `${parsed.ip}:${parsed.port}`;
        const k = `${protocol} ${id}`;
        let acc = byKey.get(k);
        if (!acc) {
          if (byKey.size >= MAX_VIPS) {
            problem({ taskId, key, value: text, message: `more than ${MAX_VIPS} VIPs; left out` });
            continue;
          }
          acc = { label: parsed, protocol, frameworks: new Set(), backends: [] };
          byKey.set(k, acc);
        }
        if (frameworkName) acc.frameworks.add(frameworkName);
        if (!agentIp || !taskServes(task) || !(port.number > 0)) continue;
        if (acc.backends.length >= MAX_BACKENDS_PER_VIP) continue;
        const b = backendOf(task, port, agentIp);
        if (b) acc.backends.push({ ...b, taskId, agentId: task.agent_id.value });
      }
    }
  }
  const explicit = new Set<string>();
  const names = new Set<string>();
  for (const acc of byKey.values()) {
    if (acc.label.kind === 'ip') explicit.add(acc.label.ip);
    else names.add(acc.label.name);
  }
  const addresses = assignAddresses([...names], explicit, previous, range);
  const vips: Vip[] = [];
  for (const acc of byKey.values()) {
    const l = acc.label;
    const ip = l.kind === 'ip' ? l.ip : addresses.get(l.name);
    if (ip === undefined) continue; // range exhausted
    const backends = [...acc.backends].sort((a, b) => (a.ip === b.ip ? a.port - b.port : a.ip < b.ip ? -1 : 1));
    vips.push({
      label: l.kind === 'named' ? `${l.name}:${l.port}` : `${l.ip}:${l.port}`,
      kind: l.kind,
      protocol: acc.protocol,
      ip,
      port: l.port,
      frameworks: [...acc.frameworks].sort(),
      backends,
    });
  }
  vips.sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : a.protocol < b.protocol ? -1 : 1));
  return { vips, problems, addresses };
}
