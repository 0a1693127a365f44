import { RawJsonArray } from '../../base/raw-json.js';
import { flatAttributes, legacyTask, legacyTaskJson, taskJson } from '../../core/legacy.js';
import * as R from '../../core/resources/index.js';
import { type Resource, type Task, TASK_STATES, isTerminal } from '../../model/mesos.js';
import { configFlags } from './config.js';
import { sumOfLists } from './intern.js';
import type { AgentRecord, FrameworkRecord, Master } from './master.js';

/**
 * JSON views of the master's state: the legacy hand-written shapes (/master/state and friends:
 * ids as strings, flat resources, seconds as floats) and the v1 operator API responses
 * (protobuf JSON). Pure functions over the master; the API layer serializes them.
 */

const BUILD_DATE = '2026-11-25 00:00:00';
const BUILD_TIME_SECS = 1_795_564_800;
const secs = (ms: number | undefined): number | undefined => (ms === undefined ? undefined : ms / 1000);

function reservedByRole(rs: Resource[]): { reserved: Record<string, Record<string, number | string>>; unreserved: Resource[] } {
  const byRole = new Map<string, Resource[]>();
  const unreserved: Resource[] = [];
  for (const r of rs) {
    const role = R.reservationRole(r);
    if (role === '*') unreserved.push(r);
    else byRole.set(role, [...(byRole.get(role) ?? []), r]);
  }
  const reserved: Record<string, Record<string, number | string>> = {};
  for (const [role, list] of byRole) reserved[role] = R.toLegacy(list);
  return { reserved, unreserved };
}

/** What legacyAgent shows of an agent's total resources, kept per resource list (it changes only when the agent re-registers). */
const agentTotals = new WeakMap<
  Resource[],
  {
    resources: Record<string, number | string>;
    reserved: Record<string, Record<string, number | string>>;
    unreserved: Resource[];
    unreservedFlat: Record<string, number | string>;
  }
>();
function totalsOf(rs: Resource[]) {
  let t = agentTotals.get(rs);
  if (!t) {
    const { reserved, unreserved } = reservedByRole(rs);
    t = { resources: R.toLegacy(rs), reserved, unreserved, unreservedFlat: R.toLegacy(unreserved) };
    agentTotals.set(rs, t);
  }
  return t;
}

/** R.toLegacy of an agent's used resources, kept with them (agentUsedResources keeps the list while it holds). */
const legacyOfUsed = new WeakMap<Resource[], Record<string, number | string>>();
function usedLegacy(used: Resource[]): Record<string, number | string> {
  let l = legacyOfUsed.get(used);
  if (!l) legacyOfUsed.set(used, (l = R.toLegacy(used)));
  return l;
}

export function legacyAgent(m: Master, a: AgentRecord, full = false): Record<string, unknown> {
  const used = m.agentUsedResources(a);
  const offered = m.agentOfferedResources(a);
  const { reserved, unreserved, resources, unreservedFlat } = totalsOf(a.info.resources);
  const out: Record<string, unknown> = {
    id: a.id,
    hostname: a.info.hostname,
    port: a.info.port ?? 5051,
    attributes: flatAttributes(a.info.attributes),
    pid: a.pid,
    registered_time: secs(a.registeredTimeMs),
    resources,
    used_resources: usedLegacy(used),
    offered_resources: R.toLegacy(offered),
    reserved_resources: reserved,
    unreserved_resources: unreservedFlat,
    active: a.state === 'REGISTERED',
    deactivated: false,
    version: a.version,
    capabilities: ['MULTI_ROLE', 'HIERARCHICAL_ROLE', 'RESERVATION_REFINEMENT'],
  };
  if (a.reregisteredTimeMs !== undefined) out.reregistered_time = secs(a.reregisteredTimeMs);
  if (a.info.domain) out.domain = a.info.domain;
  if (full) {
    out.reserved_resources_full = Object.fromEntries(
      [...new Set(a.info.resources.map(R.reservationRole))]
        .filter((r) => r !== '*')
        .map((role) => [role, a.info.resources.filter((r) => R.reservationRole(r) === role)]),
    );
    out.unreserved_resources_full = unreserved;
    out.used_resources_full = used;
    out.offered_resources_full = offered;
  }
  return out;
}

/**
 * With `raw`, task lists are RawJsonArrays of task JSON made from the master's shared texts: for
 * the API, which serializes with stringifyWithRaw (base/raw-json.ts); plain objects otherwise.
 */
export function legacyFramework(m: Master, fw: FrameworkRecord, summaryOnly = false, raw = false): Record<string, unknown> {
  const from: Resource[][] = [];
  const tasks: Task[] = [];
  for (const rec of fw.tasks.values()) {
    tasks.push(rec.task);
    if (!isTerminal(rec.task.state)) from.push(rec.task.resources);
  }
  const offered: Resource[] = [];
  const offers: Record<string, unknown>[] = [];
  for (const id of fw.offers) {
    const o = m.offers.get(id);
    if (!o) continue;
    offered.push(...o.offer.resources);
    offers.push({
      id: o.offer.id.value,
      framework_id: fw.id,
      allocation_info: o.offer.allocation_info,
      slave_id: o.offer.agent_id.value,
      resources: R.toLegacy(o.offer.resources),
    });
  }
  const usedFlat = R.toLegacy(sumOfLists(from));
  const out: Record<string, unknown> = {
    id: fw.id,
    name: fw.info.name,
    used_resources: usedFlat,
    offered_resources: R.toLegacy(offered),
    capabilities: (fw.info.capabilities ?? []).map((c) => c.type),
    hostname: fw.info.hostname ?? fw.remoteAddress ?? '',
    webui_url: fw.info.webui_url ?? '',
    active: fw.active,
    connected: fw.state === 'CONNECTED',
    recovered: fw.state === 'RECOVERED',
  };
  if (fw.remoteAddress) out.pid = `scheduler-${fw.id}@${fw.remoteAddress}:0`;
  if (summaryOnly) return out;
  Object.assign(out, {
    user: fw.info.user,
    failover_timeout: fw.info.failover_timeout ?? 0,
    checkpoint: fw.info.checkpoint ?? false,
    registered_time: secs(fw.registeredTimeMs),
    unregistered_time: secs(fw.unregisteredTimeMs) ?? 0,
    resources: usedFlat,
    tasks: legacyTaskList(m, tasks, raw),
    unreachable_tasks: legacyTaskList(
      m,
      [...fw.unreachableTasks.values()].map((r) => r.task),
      raw,
    ),
    completed_tasks: legacyTaskList(m, fw.completedTasks.toArray(), raw),
    offers,
    executors: [],
  });
  if (fw.reregisteredTimeMs !== undefined) out.reregistered_time = secs(fw.reregisteredTimeMs);
  if (fw.info.principal) out.principal = fw.info.principal;
  if (fw.info.labels?.labels?.length) out.labels = fw.info.labels.labels;
  if ((fw.info.capabilities ?? []).some((c) => c.type === 'MULTI_ROLE')) out.roles = fw.roles;
  else out.role = fw.roles[0] ?? '*';
  return out;
}

function legacyTaskList(m: Master, tasks: Task[], raw: boolean): Record<string, unknown>[] | RawJsonArray {
  return raw ? RawJsonArray.map(tasks, (t) => legacyTaskJson(t, m.shared)) : tasks.map((t) => legacyTask(t));
}

function buildInfo(m: Master): Record<string, unknown> {
  return {
    version: m.config.version,
    build_date: BUILD_DATE,
    build_time: BUILD_TIME_SECS,
    build_user: 'dcos-ts',
  };
}

export function legacyState(m: Master, raw = false): Record<string, unknown> {
  const info = m.masterInfo();
  const slaves: Record<string, unknown>[] = [];
  const recovered: Record<string, unknown>[] = [];
  let activated = 0;
  let unreachable = 0;
  for (const a of m.agents.values()) {
    if (a.state === 'REGISTERED') {
      activated++;
      slaves.push(legacyAgent(m, a));
    } else if (a.state === 'RECOVERED') recovered.push(legacyAgent(m, a));
    else if (a.state === 'UNREACHABLE') unreachable++;
  }
  const out: Record<string, unknown> = {
    ...buildInfo(m),
    start_time: m.startTimeMs / 1000,
    elected_time: m.electedTimeMs / 1000,
    id: m.id,
    pid: info.pid,
    hostname: m.config.hostname,
    capabilities: ['AGENT_UPDATE', 'AGENT_DRAINING', 'QUOTA_V2'],
    activated_slaves: activated,
    deactivated_slaves: 0,
    unreachable_slaves: unreachable,
    leader: info.pid,
    leader_info: { id: m.id, pid: info.pid, port: m.config.port, hostname: m.config.hostname, ip: info.ip, address: info.address },
    flags: configFlags(m.config),
    slaves,
    recovered_slaves: recovered,
    frameworks: [...m.frameworks.values()].map((f) => legacyFramework(m, f, false, raw)),
    completed_frameworks: m.completedFrameworks.toArray().map((f) => legacyFramework(m, f, false, raw)),
    orphan_tasks: [],
    unregistered_frameworks: [],
  };
  if (m.config.cluster) out.cluster = m.config.cluster;
  return out;
}

function stateCounts(tasks: Iterable<Task>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const s of TASK_STATES) counts[s] = 0;
  for (const t of tasks) counts[t.state] = (counts[t.state] ?? 0) + 1;
  return counts;
}

export function legacyStateSummary(m: Master): Record<string, unknown> {
  const tasksByAgent = new Map<string, Task[]>();
  const fwByAgent = new Map<string, Set<string>>();
  const agentsByFw = new Map<string, Set<string>>();
  const allFrameworks = [...m.frameworks.values(), ...m.completedFrameworks.toArray()];
  for (const fw of allFrameworks) {
    const tasks = [...[...fw.tasks.values()].map((r) => r.task), ...[...fw.unreachableTasks.values()].map((r) => r.task), ...fw.completedTasks.toArray()];
    for (const t of tasks) {
      const a = t.agent_id.value;
      tasksByAgent.set(a, [...(tasksByAgent.get(a) ?? []), t]);
      if (!isTerminal(t.state)) {
        if (!fwByAgent.has(a)) fwByAgent.set(a, new Set());
        fwByAgent.get(a)?.add(fw.id);
        if (!agentsByFw.has(fw.id)) agentsByFw.set(fw.id, new Set());
        agentsByFw.get(fw.id)?.add(a);
      }
    }
  }
  const out: Record<string, unknown> = {
    hostname: m.config.hostname,
    slaves: [...m.agents.values()]
      .filter((a) => a.state === 'REGISTERED')
      .map((a) => ({
        ...legacyAgent(m, a),
        ...stateCounts(tasksByAgent.get(a.id) ?? []),
        framework_ids: [...(fwByAgent.get(a.id) ?? [])],
      })),
    frameworks: allFrameworks.map((fw) => ({
      ...legacyFramework(m, fw, true),
      ...stateCounts([...[...fw.tasks.values()].map((r) => r.task), ...fw.completedTasks.toArray()]),
      slave_ids: [...(agentsByFw.get(fw.id) ?? [])],
    })),
  };
  if (m.config.cluster) out.cluster = m.config.cluster;
  return out;
}

export function legacyTasks(m: Master, q: URLSearchParams): Record<string, unknown> {
  const limit = clampInt(q.get('limit'), 100, 0, 1_000_000);
  const offset = clampInt(q.get('offset'), 0, 0, Number.MAX_SAFE_INTEGER);
  const order = q.get('order') === 'asc' ? 'asc' : 'des';
  const fwFilter = q.get('framework_id');
  const taskFilter = q.get('task_id');
  const tasks: Task[] = [];
  for (const fw of [...m.frameworks.values(), ...m.completedFrameworks.toArray()]) {
    if (fwFilter && fw.id !== fwFilter) continue;
    for (const r of fw.tasks.values()) tasks.push(r.task);
    for (const r of fw.unreachableTasks.values()) tasks.push(r.task);
    for (const t of fw.completedTasks) tasks.push(t);
  }
  const filtered = taskFilter ? tasks.filter((t) => t.task_id.value === taskFilter) : tasks;
  const ts = (t: Task): number => t.statuses[0]?.timestamp ?? 0;
  filtered.sort((a, b) => (order === 'asc' ? ts(a) - ts(b) : ts(b) - ts(a)));
  return { tasks: filtered.slice(offset, offset + limit).map((t) => legacyTask(t)) };
}

export function legacyRoles(m: Master): Record<string, unknown> {
  const weights = m.allocator.getWeights();
  const quotas = m.allocator.getQuotas();
  const names = new Set<string>(['*', ...Object.keys(weights), ...Object.keys(quotas)]);
  const fwByRole = new Map<string, string[]>();
  for (const fw of m.frameworks.values()) {
    for (const r of fw.roles) {
      fwByRole.set(r, [...(fwByRole.get(r) ?? []), fw.id]);
      names.add(r);
    }
  }
  return {
    roles: [...names].sort().map((name) => {
      const allocated = m.allocator.roleAllocation(name);
      const role: Record<string, unknown> = {
        name,
        weight: weights[name] ?? 1,
        resources: R.toLegacy(allocated),
        allocated: R.toLegacy(allocated),
        offered: R.toLegacy(offeredForRole(m, name)),
        reserved: R.toLegacy(reservedForRole(m, name)),
        frameworks: fwByRole.get(name) ?? [],
      };
      const q = quotas[name];
      if (q) role.quota = { role: name, guarantee: q.guarantees, limit: q.limits, consumed: R.toLegacy(allocated) };
      return role;
    }),
  };
}

function offeredForRole(m: Master, role: string): Resource[] {
  const out: Resource[] = [];
  for (const o of m.offers.values()) if (o.role === role) out.push(...o.offer.resources);
  return R.normalize(out);
}

function reservedForRole(m: Master, role: string): Resource[] {
  const out: Resource[] = [];
  for (const a of m.agents.values()) if (a.state === 'REGISTERED') out.push(...a.info.resources.filter((r) => R.reservationRole(r) === role));
  return R.normalize(out);
}

function clampInt(v: string | null, dflt: number, min: number, max: number): number {
  const n = v === null ? Number.NaN : Number.parseInt(v, 10);
  if (!Number.isFinite(n)) return dflt;
  return Math.min(max, Math.max(min, n));
}

// -------------------------------------------------------------------------------------------
// Operator API (v1) responses

export function getAgents(m: Master): Record<string, unknown> {
  const agents: unknown[] = [];
  const recovered: unknown[] = [];
  for (const a of m.agents.values()) {
    if (a.state === 'REGISTERED') agents.push(m.agentView(a));
    else if (a.state === 'RECOVERED') recovered.push(a.info);
  }
  const out: Record<string, unknown> = {};
  if (agents.length) out.agents = agents;
  if (recovered.length) out.recovered_agents = recovered;
  return out;
}

export function getFrameworks(m: Master): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const fws = [...m.frameworks.values()].map((f) => m.frameworkView(f));
  const done = m.completedFrameworks.toArray().map((f) => m.frameworkView(f));
  if (fws.length) out.frameworks = fws;
  if (done.length) out.completed_frameworks = done;
  return out;
}

export function getTasks(m: Master, raw = false): Record<string, unknown> {
  const tasks: Task[] = [];
  const unreachable: Task[] = [];
  const completed: Task[] = [];
  for (const fw of m.frameworks.values()) {
    for (const r of fw.tasks.values()) tasks.push(r.task);
    for (const r of fw.unreachableTasks.values()) unreachable.push(r.task);
    for (const t of fw.completedTasks) completed.push(t);
  }
  for (const fw of m.completedFrameworks) for (const t of fw.completedTasks) completed.push(t);
  const list = (ts: Task[]): Task[] | RawJsonArray => (raw ? RawJsonArray.map(ts, (t) => taskJson(t, m.shared)) : ts);
  const out: Record<string, unknown> = {};
  if (tasks.length) out.tasks = list(tasks);
  if (unreachable.length) out.unreachable_tasks = list(unreachable);
  if (completed.length) out.completed_tasks = list(completed);
  return out;
}

export function getState(m: Master, raw = false): Record<string, unknown> {
  return { get_tasks: getTasks(m, raw), get_executors: {}, get_frameworks: getFrameworks(m), get_agents: getAgents(m) };
}

export function getRoles(m: Master): Record<string, unknown> {
  const weights = m.allocator.getWeights();
  const roles = legacyRoles(m).roles as { name: string }[];
  return {
    roles: roles.map((r) => {
      const fws = [...m.frameworks.values()].filter((f) => f.roles.includes(r.name)).map((f) => ({ value: f.id }));
      const out: Record<string, unknown> = { name: r.name, weight: weights[r.name] ?? 1 };
      if (fws.length) out.frameworks = fws;
      const alloc = m.allocator.roleAllocation(r.name);
      if (alloc.length) out.resources = alloc;
      return out;
    }),
  };
}

export function getQuota(m: Master): Record<string, unknown> {
  const configs = Object.entries(m.allocator.getQuotas()).map(([role, q]) => ({
    role,
    guarantees: Object.fromEntries(Object.entries(q.guarantees).map(([k, v]) => [k, { value: v }])),
    limits: Object.fromEntries(Object.entries(q.limits).map(([k, v]) => [k, { value: v }])),
  }));
  return { status: configs.length ? { configs } : {} };
}

export function getVersion(m: Master): Record<string, unknown> {
  const b = buildInfo(m);
  return { version_info: { version: b.version, build_date: b.build_date, build_time: b.build_time, build_user: b.build_user } };
}

export function getFlags(m: Master): Record<string, unknown> {
  return { flags: Object.entries(configFlags(m.config)).map(([name, value]) => ({ name, value })) };
}

export function getMaster(m: Master): Record<string, unknown> {
  return { master_info: m.masterInfo(), start_time: m.startTimeMs / 1000, elected_time: m.electedTimeMs / 1000 };
}

/** /metrics/snapshot: a flat object of numbers. */
export function metricsSnapshot(m: Master, nowMs: number, system: Record<string, number> = {}): Record<string, number> {
  const out: Record<string, number> = { ...m.metrics, ...system };
  out['master/elected'] = 1;
  out['master/uptime_secs'] = (nowMs - m.startTimeMs) / 1000;
  let active = 0;
  let unreachable = 0;
  let connected = 0;
  const total: Resource[] = [];
  const used: Resource[] = [];
  for (const a of m.agents.values()) {
    if (a.state === 'REGISTERED') {
      active++;
      if (a.sink) connected++;
      total.push(...a.info.resources);
      used.push(...m.agentUsedResources(a));
    } else if (a.state === 'UNREACHABLE') unreachable++;
  }
  out['master/slaves_active'] = active;
  out['master/slaves_inactive'] = 0;
  out['master/slaves_connected'] = connected;
  out['master/slaves_disconnected'] = active - connected;
  out['master/slaves_unreachable'] = unreachable;
  let fwActive = 0;
  let fwConnected = 0;
  const states: Record<string, number> = {};
  for (const s of TASK_STATES) states[s] = 0;
  for (const fw of m.frameworks.values()) {
    if (fw.active) fwActive++;
    if (fw.state === 'CONNECTED') fwConnected++;
    for (const r of fw.tasks.values()) states[r.task.state] = (states[r.task.state] ?? 0) + 1;
    for (const r of fw.unreachableTasks.values()) states[r.task.state] = (states[r.task.state] ?? 0) + 1;
    for (const t of fw.completedTasks) states[t.state] = (states[t.state] ?? 0) + 1;
  }
  out['master/frameworks_active'] = fwActive;
  out['master/frameworks_inactive'] = m.frameworks.size - fwActive;
  out['master/frameworks_connected'] = fwConnected;
  out['master/frameworks_disconnected'] = m.frameworks.size - fwConnected;
  out['master/outstanding_offers'] = m.offers.size;
  for (const [s, n] of Object.entries(states)) out[`master/tasks_${s.slice(5).toLowerCase()}`] = n;
  const t = R.toLegacy(total);
  const u = R.toLegacy(used);
  for (const name of ['cpus', 'mem', 'disk', 'gpus']) {
    const tv = Number(t[name] ?? 0);
    const uv = Number(u[name] ?? 0);
    out[`master/${name}_total`] = tv;
    out[`master/${name}_used`] = uv;
    out[`master/${name}_percent`] = tv > 0 ? uv / tv : 0;
  }
  for (const fw of m.frameworks.values()) {
    const base = `master/frameworks/${fw.info.name}/${fw.id}`;
    for (const [k, v] of Object.entries(fw.counters.calls)) out[`${base}/calls/${k}`] = v;
    for (const [k, v] of Object.entries(fw.counters.events)) out[`${base}/events/${k}`] = v;
    for (const [k, v] of Object.entries(fw.counters.offers)) out[`${base}/offers/${k}`] = v;
  }
  return out;
}
