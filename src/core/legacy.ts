import type { Attribute, Resource, Task, TaskStatus } from '../model/mesos.js';
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
 * Text of parts that many tasks share (the master interns identical resources, ids and the
 * like, and keeps their serialized form once for all of them). Anything not shared is serialized
 * per call: nothing is kept per task.
 */
export interface SharedTexts {
  /** JSON.stringify(value) when the value is shared and its text kept; undefined otherwise. */
  json(value: object): string | undefined;
  /** The legacy text of shared resources: JSON of `toLegacy(rs)`, and the JSON of their role. */
  legacy(rs: Resource[]): { resources: string; role: string } | undefined;
}

function valueJson(v: unknown, texts: SharedTexts | undefined): string | undefined {
  if (v !== null && typeof v === 'object') return texts?.json(v) ?? JSON.stringify(v);
  return JSON.stringify(v);
}

/** `"key":` texts of the few keys tasks have (bounded: a task adopted from an agent may bring others). */
const keyTexts = new Map<string, string>();
function keyText(k: string): string {
  let t = keyTexts.get(k);
  if (t === undefined) {
    t = `${JSON.stringify(k)}:`;
    if (keyTexts.size < 256) keyTexts.set(k, t);
  }
  return t;
}

/**
 * JSON.stringify(task), byte for byte (same keys in the same order), built from the shared texts
 * where there are some. The master's views use it instead of keeping each task's text; with
 * shared resources and ids it is faster than JSON.stringify of the whole task.
 */
export function taskJson(task: Task, texts?: SharedTexts): string {
  // Built as '{' + pieces + '}' with no slice: slicing a concatenated string copies it flat, and
  // the chunk join copies it again.
  let out = '{';
  let first = true;
  const t = task as unknown as Record<string, unknown>;
  // for-in, not Object.keys: no array per task. Tasks are plain objects: no inherited keys.
  for (const k in t) {
    const v = t[k];
    let text: string;
    if (typeof v === 'string') text = JSON.stringify(v);
    else if (v !== null && typeof v === 'object') text = texts?.json(v) ?? JSON.stringify(v);
    else if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    else text = JSON.stringify(v);
    out += first ? keyText(k) + text : `,${keyText(k)}${text}`;
    first = false;
  }
  return `${out}}`;
}

/** `,"key":<JSON of value>`, or nothing where JSON.stringify would leave the key out. */
function field(key: string, value: unknown, texts?: SharedTexts): string {
  const text = valueJson(value, texts);
  return text === undefined || typeof value === 'function' || typeof value === 'symbol' ? '' : `,"${key}":${text}`;
}

/** JSON.stringify(legacyTask(task)), byte for byte, without building the legacy object. */
export function legacyTaskJson(task: Task, texts?: SharedTexts): string {
  // A task id is a string (anything else is serialized the long way), so "id" always comes first
  // and there is no leading comma to slice off.
  if (typeof task.task_id.value !== 'string') return JSON.stringify(legacyTask(task));
  const shared = texts?.legacy(task.resources);
  let out = `{"id":${JSON.stringify(task.task_id.value)}${field('name', task.name)}${field('framework_id', task.framework_id.value)}`;
  out += field('executor_id', task.executor_id?.value ?? '') + field('slave_id', task.agent_id.value || '') + field('state', task.state);
  out += shared ? `,"resources":${shared.resources},"role":${shared.role}` : field('resources', toLegacy(task.resources)) + field('role', taskRole(task));
  out += ',"statuses":[';
  for (let i = 0; i < task.statuses.length; i++) {
    const s = task.statuses[i] as TaskStatus;
    let st =
      s.state === undefined ? `{"timestamp":${JSON.stringify(s.timestamp ?? 0)}` : `{"state":${JSON.stringify(s.state)}${field('timestamp', s.timestamp ?? 0)}`;
    if (s.labels?.labels?.length) st += field('labels', s.labels.labels);
    if (s.container_status) st += field('container_status', s.container_status);
    if (s.healthy !== undefined) st += field('healthy', s.healthy);
    out += `${i > 0 ? ',' : ''}${st}}`;
  }
  out += ']';
  if (task.user) out += field('user', task.user);
  if (task.labels?.labels?.length) out += field('labels', task.labels.labels, texts);
  if (task.discovery) out += field('discovery', task.discovery, texts);
  if (task.container) out += field('container', task.container, texts);
  if (task.health_check) out += field('health_check', task.health_check, texts);
  if (task.kill_policy) out += field('kill_policy', task.kill_policy, texts);
  if (task.limits) out += field('limits', task.limits, texts);
  return `${out}}`;
}
