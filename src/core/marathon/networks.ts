/**
 * Marathon's networking API (1.5+) for apps that are not on the host network: `networks` with
 * mode `container/bridge` (the agent's default bridge, Marathon's --mesos_bridge_name
 * "mesos-bridge") or `container` with a name, and `container.portMappings` (host port -> container
 * port). Pure: the scheduler uses these to place, to set the environment and to build TaskInfo.
 */
import type { App } from './app.js';

type Json = Record<string, any>;

export type NetworkMode = 'host' | 'container/bridge' | 'container';

/** Marathon's --mesos_bridge_name default: the network the agent offers for container/bridge. */
export const MESOS_BRIDGE_NAME = 'mesos-bridge';

export interface PortMappingSpec {
  containerPort: number;
  /** A fixed port, 0 for any offered port, undefined for none (container mode only). */
  hostPort?: number;
  protocol: string;
  name?: string;
  labels?: Record<string, string>;
  networkNames?: string[];
  /** Assigned by Marathon from [10000, 20000] when 0 (for load balancers; nothing binds it). */
  servicePort?: number;
}

export function networkMode(app: Pick<App, 'networks'>): NetworkMode {
  const modes = (app.networks ?? []).map((n: Json) => n?.mode ?? 'container');
  if (modes.includes('container/bridge')) return 'container/bridge';
  if (modes.includes('container')) return 'container';
  return 'host';
}

/** The app's port mappings (container.portMappings, or the pre-1.5 container.docker.portMappings). */
export function portMappingsOf(app: Pick<App, 'container'>): PortMappingSpec[] {
  const raw = app.container?.portMappings ?? app.container?.docker?.portMappings;
  if (!Array.isArray(raw)) return [];
  return raw.map((pm: Json) => ({
    containerPort: Number.isInteger(pm?.containerPort) ? pm.containerPort : 0,
    ...(Number.isInteger(pm?.hostPort) ? { hostPort: pm.hostPort } : {}),
    protocol: typeof pm?.protocol === 'string' ? pm.protocol : 'tcp',
    ...(typeof pm?.name === 'string' ? { name: pm.name } : {}),
    ...(pm?.labels && typeof pm.labels === 'object' ? { labels: pm.labels } : {}),
    ...(Array.isArray(pm?.networkNames) ? { networkNames: pm.networkNames } : {}),
    ...(Number.isInteger(pm?.servicePort) ? { servicePort: pm.servicePort } : {}),
  }));
}

/**
 * The host port each mapping needs from an offer: a fixed port, 0 for any, null for none. In
 * container/bridge mode a missing hostPort means 0 (as in Marathon); in container mode, none.
 * Host-networked apps use portDefinitions instead: none here.
 */
export function requestedHostPorts(app: Pick<App, 'networks' | 'container'>): (number | null)[] {
  const mode = networkMode(app);
  if (mode === 'host') return [];
  return portMappingsOf(app).map((pm) => (pm.hostPort !== undefined ? pm.hostPort : mode === 'container/bridge' ? 0 : null));
}

const envName = (name: string): string => name.toUpperCase().replace(/-/g, '_');

/**
 * PORT0.., PORT_<containerPort>, PORT_<NAME>, PORT and PORTS for a port-mapped app, as
 * Marathon's EnvironmentHelper.portsEnv sets them: the host port where a mapping has one, else
 * its container port; PORT and PORTS list the assigned host ports. (A container-only mapping
 * with containerPort 0 gets no variable: Marathon would invent a random port.)
 */
export function portMappingEnv(mappings: readonly PortMappingSpec[], hostPorts: readonly (number | null)[]): Record<string, string> {
  const env: Record<string, string> = {};
  mappings.forEach((pm, i) => {
    const host = hostPorts[i] ?? null;
    const effective = host ?? (pm.containerPort > 0 ? pm.containerPort : undefined);
    if (effective === undefined) return;
    env[`PORT${i}`] = String(effective);
    env[`PORT_${pm.containerPort > 0 ? pm.containerPort : effective}`] = String(effective);
    if (pm.name) env[`PORT_${envName(pm.name)}`] = String(effective);
  });
  const assigned = hostPorts.filter((p): p is number => p !== null);
  if (assigned.length > 0) {
    env.PORT = String(assigned[0]);
    env.PORTS = assigned.join(',');
  }
  return env;
}

/** The names of the networks a non-host app joins (container/bridge: the agent's bridge). */
export function networkNames(app: Pick<App, 'networks'>): string[] {
  const mode = networkMode(app);
  if (mode === 'host') return [];
  if (mode === 'container/bridge') return [MESOS_BRIDGE_NAME];
  return (app.networks ?? []).filter((n: Json) => (n?.mode ?? 'container') === 'container' && typeof n?.name === 'string').map((n: Json) => n.name as string);
}

/**
 * ContainerInfo.network_infos for a non-host app: one per network, carrying the port mappings
 * that have a host port (all of them on the only network, else those whose networkNames name it),
 * one mapping per protocol; a containerPort of 0 means the host port. Undefined for host apps.
 */
export function taskNetworkInfos(
  app: Pick<App, 'networks' | 'container'>,
  hostPorts: readonly (number | null)[],
):
  | { name: string; port_mappings?: { host_port: number; container_port: number; protocol: string }[]; labels?: { labels: { key: string; value: string }[] } }[]
  | undefined {
  const names = networkNames(app);
  if (names.length === 0) return undefined;
  const mappings = portMappingsOf(app);
  const byName = new Map<string, Json>((app.networks ?? []).filter((n: Json) => typeof n?.name === 'string').map((n: Json) => [n.name as string, n]));
  return names.map((name) => {
    const pms: { host_port: number; container_port: number; protocol: string }[] = [];
    mappings.forEach((pm, i) => {
      const host = hostPorts[i] ?? null;
      if (host === null) return;
      if (names.length > 1 && pm.networkNames && !pm.networkNames.includes(name)) return;
      for (const protocol of pm.protocol.split(',')) pms.push({ host_port: host, container_port: pm.containerPort > 0 ? pm.containerPort : host, protocol });
    });
    const labels = byName.get(name)?.labels;
    const labelList =
      labels && typeof labels === 'object' ? Object.entries(labels as Record<string, unknown>).map(([key, value]) => ({ key, value: String(value) })) : [];
    return { name, ...(pms.length > 0 ? { port_mappings: pms } : {}), ...(labelList.length > 0 ? { labels: { labels: labelList } } : {}) };
  });
}

/**
 * DiscoveryInfo ports of a port-mapped app, one per mapping (so label n belongs to mapping n, where
 * VIP labels are read): the host port with network-scope "host" where there is one, else the
 * container port with network-scope "container" (as Marathon labels them).
 */
export function discoveryPortsOfMappings(
  app: Pick<App, 'networks' | 'container'>,
  hostPorts: readonly (number | null)[],
): { number: number; protocol: string; name?: string; labels: { labels: { key: string; value: string }[] } }[] {
  const names = networkNames(app);
  return portMappingsOf(app).map((pm, i) => {
    const host = hostPorts[i] ?? null;
    const scope =
      host !== null
        ? [{ key: 'network-scope', value: 'host' }]
        : [{ key: 'network-scope', value: 'container' }, ...(names[0] ? [{ key: 'network-name', value: names[0] }] : [])];
    const own = Object.entries(pm.labels ?? {}).map(([key, value]) => ({ key, value: String(value) }));
    return {
      number: host ?? pm.containerPort,
      protocol: pm.protocol.split(',')[0] as string,
      ...(pm.name ? { name: pm.name } : {}),
      labels: { labels: [...own, ...scope] },
    };
  });
}
