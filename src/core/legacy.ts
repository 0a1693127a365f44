import type { Attribute, Task } from '../model/mesos.js';
import { formatRanges, reservationRole, toLegacy } from './resources/index.js';

/**
 * Pieces of the legacy (pre-v1) JSON that the master's and the agent's endpoints share: ids as
 * strings, flat resources and attributes. Pure functions.
 */

/** The role a task's resources are allocated to (or reserved for), "*" otherwise. */
export function taskRole(task: Task): string {
  for (const r of task.resources) if (r.allocation_info?.role) return r.allocation_info.role;
  return task.resources.map(reservationRole).find((x) => x !== '*') ?? '*';
}

export function flatAttributes(attrs: Attribute[] | undefined): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const a of attrs ?? []) {
    if (a.type === 'TEXT') out[a.name] = a.text?.value ?? '';
    else if (a.type === 'SCALAR') out[a.name] = a.scalar?.value ?? 0;
    else if (a.type === 'RANGES') out[a.name] = formatRanges(a.ranges?.range ?? []);
    else if (a.type === 'SET') out[a.name] = `{${(a.set?.item ?? []).join(', ')}}`;
  }
  return out;
}

/** A task in the legacy shape (Mesos src/common/http.cpp): statuses carry only state, time, labels, container status, health. */
export function legacyTask(task: Task, agentIdFallback = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: task.task_id.value,
    name: task.name,
    framework_id: task.framework_id.value,
    // Mesos leaves executor_id empty for command tasks (the command executor is implicit).
    executor_id: task.executor_id?.value ?? '',
    slave_id: task.agent_id.value || agentIdFallback,
    state: task.state,
    resources: toLegacy(task.resources),
    role: taskRole(task),
    statuses: task.statuses.map((s) => {
      const st: Record<string, unknown> = { state: s.state, timestamp: s.timestamp ?? 0 };
      if (s.labels?.labels?.length) st.labels = s.labels.labels;
      if (s.container_status) st.container_status = s.container_status;
      if (s.healthy !== undefined) st.healthy = s.healthy;
      return st;
    }),
  };
  if (task.user) out.user = task.user;
  if (task.labels?.labels?.length) out.labels = task.labels.labels;
  if (task.discovery) out.discovery = task.discovery;
  if (task.container) out.container = task.container;
  if (task.health_check) out.health_check = task.health_check;
  if (task.kill_policy) out.kill_policy = task.kill_policy;
  if (task.limits) out.limits = task.limits;
  return out;
}

/**
 * Serialized tasks kept per Task object and reused while the task has not changed. The master
 * changes a task only by setting its state, appending (and trimming) statuses, recording the
 * state and uuid of its latest unacknowledged update, and setting a kill policy; the fingerprint
 * covers exactly those. Anything else that mutates a stored Task must replace the object instead.
 */
function fingerprint(task: Task): string {
  const last = task.statuses[task.statuses.length - 1];
  return `${task.state}|${task.statuses.length}|${last?.state ?? ''}|${last?.timestamp ?? ''}|${last?.uuid ?? ''}|${last?.healthy ?? ''}|${task.status_update_state ?? ''}|${task.status_update_uuid ?? ''}|${task.kill_policy ? 1 : 0}`;
}

class TaskJsonCache {
  private readonly cache = new WeakMap<Task, { fp: string; json: string }>();
  constructor(private readonly render: (task: Task) => unknown) {}
  get(task: Task): string {
    const fp = fingerprint(task);
    const hit = this.cache.get(task);
    if (hit && hit.fp === fp) return hit.json;
    const json = JSON.stringify(this.render(task));
    this.cache.set(task, { fp, json });
    return json;
  }
}

const legacyCache = new TaskJsonCache((t) => legacyTask(t));
const v1Cache = new TaskJsonCache((t) => t);

/** JSON.stringify(legacyTask(task)), cached while the task is unchanged. */
export function legacyTaskJson(task: Task): string {
  return legacyCache.get(task);
}

/** JSON.stringify(task) (the v1 operator API form), cached while the task is unchanged. */
export function taskJson(task: Task): string {
  return v1Cache.get(task);
}
