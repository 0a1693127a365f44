/**
 * Matching one app's task against an offer: role, cpus, mem, disk, gpus, ports, then constraints.
 * Pure; the scheduler calls it per offer and keeps the reasons it got for its debug summary.
 */
import { rangesOf, scalarOf, subtractRanges, takeFromRanges } from '../resources/index.js';
import type { Range, Resource } from '../../model/mesos.js';
import type { App } from './app.js';
import { type AgentFacts, failedConstraint, staticallyFails } from './constraints.js';
import { requestedHostPorts } from './networks.js';

/** Marathon's names for why an offer did not fit (NoOfferMatchReason.scala). */
export type RejectReason =
  | 'UnfulfilledRole'
  | 'UnfulfilledConstraint'
  | 'InsufficientCpus'
  | 'InsufficientMemory'
  | 'InsufficientDisk'
  | 'InsufficientGpus'
  | 'InsufficientPorts';

export const REJECT_REASONS: readonly RejectReason[] = [
  'UnfulfilledRole',
  'UnfulfilledConstraint',
  'InsufficientCpus',
  'InsufficientMemory',
  'InsufficientDisk',
  'InsufficientGpus',
  'InsufficientPorts',
];

export type Match =
  | {
      ok: true;
      resources: Resource[];
      /** The host ports taken, in order. */
      hostPorts: number[];
      /** Port-mapped apps (not on the host network): each mapping's host port, or null for none. */
      mappingHostPorts?: (number | null)[];
    }
  | { ok: false; reason: RejectReason; detail: string };

/** Resources usable by the app: unreserved ('*') plus its role, limited by acceptedResourceRoles. */
function usable(offered: readonly Resource[], app: App, frameworkRole: string, defaultAccepted?: readonly string[]): Resource[] {
  const role = app.role ?? frameworkRole;
  const accepted = app.acceptedResourceRoles ?? defaultAccepted ?? ['*', role];
  return offered.filter((r) => {
    const rr = r.reservations?.length ? (r.reservations[r.reservations.length - 1]?.role ?? '*') : (r.role ?? '*');
    return accepted.includes(rr) && (rr === '*' || rr === role);
  });
}

/**
 * Does one task of `app` fit into `offered` (what is left of an offer) on `agent`, given the
 * agents its other tasks run on? On success returns the resources to launch with.
 */
export function matchOffer(
  app: App,
  offered: readonly Resource[],
  agent: AgentFacts,
  placedOn: readonly AgentFacts[],
  frameworkRole = '*',
  defaultAccepted?: readonly string[],
): Match {
  const rs = usable(offered, app, frameworkRole, defaultAccepted);
  if (rs.length === 0 && offered.length > 0) return { ok: false, reason: 'UnfulfilledRole', detail: `no resources for role ${app.role ?? frameworkRole}` };
  const need: [string, number, RejectReason][] = [
    ['cpus', app.cpus, 'InsufficientCpus'],
    ['mem', app.mem, 'InsufficientMemory'],
    ['disk', app.disk, 'InsufficientDisk'],
    ['gpus', app.gpus, 'InsufficientGpus'],
  ];
  for (const [name, amount, reason] of need) {
    if (amount > 0 && scalarOf(rs, name) + 1e-9 < amount) return { ok: false, reason, detail: `${name}: needs ${amount}, offer has ${scalarOf(rs, name)}` };
  }
  const portCount = app.portDefinitions?.length ?? 0;
  const available = rangesOf(rs, 'ports');
  let hostPorts: number[] = [];
  if (portCount > 0) {
    if (app.requirePorts) {
      hostPorts = (app.portDefinitions ?? []).map((p) => p.port);
      const want: Range[] = hostPorts.map((p) => ({ begin: p, end: p }));
      if (subtractRanges(want, available).length > 0) return { ok: false, reason: 'InsufficientPorts', detail: `ports ${hostPorts.join(',')} not offered` };
    } else {
      const got = takeFromRanges(available, portCount);
      if (!got) return { ok: false, reason: 'InsufficientPorts', detail: `needs ${portCount} ports` };
      for (const r of got) for (let p = r.begin; p <= r.end; p++) hostPorts.push(p);
    }
  }
  let mappingHostPorts: (number | null)[] | undefined;
  const requested = requestedHostPorts(app);
  if (requested.length > 0) {
    const got = assignHostPorts(requested, available);
    if (typeof got === 'string') return { ok: false, reason: 'InsufficientPorts', detail: got };
    mappingHostPorts = got;
    hostPorts = got.filter((p): p is number => p !== null);
  }
  const failed = failedConstraint(app.constraints, agent, placedOn);
  if (failed) return { ok: false, reason: 'UnfulfilledConstraint', detail: `constraint ${JSON.stringify(failed)} not met on ${agent.hostname}` };
  const role = rs.find((r) => scalarOf([r], 'cpus') > 0)?.allocation_info?.role;
  const alloc = role ? { allocation_info: { role } } : {};
  // Taken from the offered resources in order, keeping their reservations (a public agent's
  // resources are reserved for slave_public: the task must name that reservation to use them).
  const resources: Resource[] = [];
  const keep = (r: Resource) => ({
    ...(r.reservations ? { reservations: r.reservations } : {}),
    ...(r.allocation_info ? { allocation_info: r.allocation_info } : alloc),
  });
  for (const [name, amount] of need) {
    let left = amount;
    for (const r of rs) {
      if (left <= 1e-9 || r.name !== name || r.type !== 'SCALAR') continue;
      const take = Math.min(left, r.scalar?.value ?? 0);
      if (take <= 0) continue;
      resources.push({ name, type: 'SCALAR', scalar: { value: take }, ...keep(r) });
      left -= take;
    }
  }
  for (const r of rs) {
    if (r.name !== 'ports' || r.type !== 'RANGES') continue;
    const mine = hostPorts.filter((p) => r.ranges?.range.some((x) => x.begin <= p && p <= x.end));
    if (mine.length > 0) resources.push({ name: 'ports', type: 'RANGES', ranges: { range: mine.map((p) => ({ begin: p, end: p })) }, ...keep(r) });
  }
  return { ok: true, resources, hostPorts, ...(mappingHostPorts ? { mappingHostPorts } : {}) };
}

/**
 * Host ports for port mappings: fixed ones must be offered; 0 takes the lowest offered port not
 * taken by a fixed one; null stays null (no host port). A detail text when the offer falls short.
 */
export function assignHostPorts(requested: readonly (number | null)[], available: readonly Range[]): (number | null)[] | string {
  const fixed = requested.filter((p): p is number => p !== null && p > 0);
  const missing = fixed.filter((p) => subtractRanges([{ begin: p, end: p }], available).length > 0);
  if (missing.length > 0) return `host ports ${missing.join(',')} not offered`;
  const dynamic = requested.filter((p) => p === 0).length;
  const rest = subtractRanges(
    available,
    fixed.map((p) => ({ begin: p, end: p })),
  );
  const got = takeFromRanges(rest, dynamic);
  if (!got) return `needs ${dynamic} host ports besides ${fixed.length} fixed ones`;
  const pool: number[] = [];
  for (const r of got) for (let p = r.begin; p <= r.end; p++) pool.push(p);
  return requested.map((p) => (p === null ? null : p > 0 ? p : (pool.shift() as number)));
}

/** The largest resources an agent was ever seen to offer: the ceiling of what it can hold. */
export interface AgentCeiling {
  facts: AgentFacts;
  cpus: number;
  mem: number;
  disk: number;
  gpus: number;
}

/**
 * Why no known agent could ever hold one task of `app`, or undefined when some agent could.
 * Only looks at what does not change with load: sizes and agent-only constraints.
 */
export function neverPlaceable(app: App, agents: readonly AgentCeiling[]): string | undefined {
  if (agents.length === 0) return undefined;
  const reasons = new Set<string>();
  for (const a of agents) {
    const why: string[] = [];
    if (a.cpus + 1e-9 < app.cpus) why.push(`cpus ${app.cpus} > ${a.cpus}`);
    if (a.mem + 1e-9 < app.mem) why.push(`mem ${app.mem} > ${a.mem}`);
    if (a.disk + 1e-9 < app.disk) why.push(`disk ${app.disk} > ${a.disk}`);
    if (a.gpus < app.gpus) why.push(`gpus ${app.gpus} > ${a.gpus}`);
    for (const c of app.constraints) if (staticallyFails(c, a.facts)) why.push(`constraint ${JSON.stringify(c)}`);
    if (why.length === 0) return undefined;
    for (const w of why) reasons.add(w.split(' ')[0] === 'constraint' ? w : (w.split(' ')[0] as string));
  }
  return `No agent can ever run this app (${agents.length} agent(s) seen): ${[...reasons].join(', ')}`;
}
