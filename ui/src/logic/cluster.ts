import type { AgentInfo, Resource, Task, TaskState } from '../../../src/model/mesos.js';
import type { AgentView, FrameworkView, GetState, OperatorEvent } from '../../../src/model/operator.js';
import { taskIdPrefix } from '../../../src/model/marathon-ids.js';
import { isTerminal } from '../../../src/model/mesos.js';
import { type NodeState, type TaskGroup, taskGroup } from './status.js';

export interface AgentEntry {
  id: string;
  view: AgentView;
  state: NodeState;
}

export interface FrameworkEntry {
  id: string;
  view: FrameworkView;
  completed: boolean;
}

export type Scalars = { cpus: number; mem: number; disk: number; gpus: number };
export const SCALAR_NAMES = ['cpus', 'mem', 'disk', 'gpus'] as const;

export function zero(): Scalars {
  return { cpus: 0, mem: 0, disk: 0, gpus: 0 };
}

export function addScalars(into: Scalars, rs: readonly Resource[] | undefined): Scalars {
  for (const r of rs ?? []) {
    if (r.type === 'SCALAR' && r.scalar && (r.name === 'cpus' || r.name === 'mem' || r.name === 'disk' || r.name === 'gpus')) into[r.name] += r.scalar.value;
  }
  return into;
}

export const taskKey = (frameworkId: string, taskId: string): string => `${frameworkId}/${taskId}`;

/** A task holds resources while it is not terminal and not unreachable (as the master counts). */
export function holdsResources(state: TaskState): boolean {
  return !isTerminal(state) && state !== 'TASK_UNREACHABLE';
}

const MAX_STATUSES_PER_TASK = 32;

/**
 * The cluster as the UI knows it: filled by the SUBSCRIBED snapshot, then kept current by the
 * events of the operator stream. Bounded: at most `maxTasks` tasks, the oldest finished dropped first.
 */
export class ClusterModel {
  readonly tasks = new Map<string, Task>();
  readonly agents = new Map<string, AgentEntry>();
  readonly frameworks = new Map<string, FrameworkEntry>();
  /** Bumped on every change; views compare it to skip work. */
  version = 0;

  constructor(readonly maxTasks = 50_000) {}

  reset(state: GetState): void {
    this.tasks.clear();
    this.agents.clear();
    this.frameworks.clear();
    for (const a of state.get_agents?.agents ?? []) this.putAgent(a, 'active');
    for (const f of state.get_frameworks?.frameworks ?? []) this.putFramework(f, false);
    for (const f of state.get_frameworks?.completed_frameworks ?? []) this.putFramework(f, true);
    const t = state.get_tasks ?? {};
    for (const task of [...(t.completed_tasks ?? []), ...(t.unreachable_tasks ?? []), ...(t.tasks ?? [])]) this.putTask(task);
    this.version++;
  }

  /** Applies one event; returns false for events that change nothing (heartbeats, unknown types). */
  apply(e: OperatorEvent): boolean {
    switch (e.type) {
      case 'SUBSCRIBED':
        if (e.subscribed) this.reset(e.subscribed.get_state);
        return true;
      case 'TASK_ADDED':
        if (!e.task_added) return false;
        this.putTask(e.task_added.task);
        break;
      case 'TASK_UPDATED': {
        const u = e.task_updated;
        if (!u) return false;
        const key = taskKey(u.framework_id.value, u.status.task_id.value);
        const task = this.tasks.get(key);
        if (!task) return false;
        const statuses = [...(task.statuses ?? []), u.status].slice(-MAX_STATUSES_PER_TASK);
        this.tasks.set(key, { ...task, state: u.state, statuses });
        break;
      }
      case 'AGENT_ADDED':
        if (!e.agent_added) return false;
        this.putAgent(e.agent_added.agent, 'active');
        break;
      case 'AGENT_REMOVED': {
        const a = e.agent_removed && this.agents.get(e.agent_removed.agent_id.value);
        if (!a) return false;
        this.agents.set(a.id, { ...a, state: 'removed', view: { ...a.view, active: false } });
        break;
      }
      case 'FRAMEWORK_ADDED':
      case 'FRAMEWORK_UPDATED': {
        const f = e.framework_added?.framework ?? e.framework_updated?.framework;
        if (!f) return false;
        this.putFramework(f, false);
        break;
      }
      case 'FRAMEWORK_REMOVED': {
        const id = e.framework_removed?.framework_info.id?.value;
        const f = id ? this.frameworks.get(id) : undefined;
        if (!f) return false;
        this.frameworks.set(f.id, { ...f, completed: true, view: { ...f.view, active: false, connected: false } });
        break;
      }
      default:
        return false;
    }
    this.version++;
    return true;
  }

  private putAgent(view: AgentView, state: NodeState): void {
    const id = view.agent_info.id?.value;
    if (id) this.agents.set(id, { id, view, state });
  }

  private putFramework(view: FrameworkView, completed: boolean): void {
    const id = view.framework_info.id?.value;
    if (id) this.frameworks.set(id, { id, view, completed });
  }

  private putTask(task: Task): void {
    const key = taskKey(task.framework_id.value, task.task_id.value);
    this.tasks.delete(key); // re-inserted last: Map order is arrival order
    this.tasks.set(key, task);
    if (this.tasks.size > this.maxTasks) {
      for (const [k, t] of this.tasks) {
        if (this.tasks.size <= this.maxTasks) break;
        if (!holdsResources(t.state)) this.tasks.delete(k);
      }
    }
  }

  /** Resources in use per agent, from the tasks that hold them. */
  allocationByAgent(): Map<string, Scalars> {
    const out = new Map<string, Scalars>();
    for (const t of this.tasks.values()) {
      if (!holdsResources(t.state)) continue;
      const id = t.agent_id.value;
      let s = out.get(id);
      if (!s) out.set(id, (s = zero()));
      addScalars(s, t.resources);
    }
    return out;
  }

  summary(): Summary {
    const total = zero();
    const nodes: Record<NodeState, number> = { active: 0, unreachable: 0, removed: 0 };
    for (const a of this.agents.values()) {
      nodes[a.state]++;
      if (a.state === 'active') addScalars(total, a.view.total_resources ?? a.view.agent_info.resources);
    }
    const allocated = zero();
    const byState: Partial<Record<TaskState, number>> = {};
    const byGroup: Record<TaskGroup, number> = { active: 0, completed: 0, failed: 0, unreachable: 0 };
    for (const t of this.tasks.values()) {
      byState[t.state] = (byState[t.state] ?? 0) + 1;
      byGroup[taskGroup(t.state)]++;
      if (holdsResources(t.state)) addScalars(allocated, t.resources);
    }
    let frameworksActive = 0;
    for (const f of this.frameworks.values()) if (!f.completed) frameworksActive++;
    return { total, allocated, byState, byGroup, nodes, frameworksActive };
  }
}

export interface Summary {
  total: Scalars;
  allocated: Scalars;
  byState: Partial<Record<TaskState, number>>;
  byGroup: Record<TaskGroup, number>;
  nodes: Record<NodeState, number>;
  frameworksActive: number;
}

export interface Sample {
  atMs: number;
  allocated: Scalars;
  total: Scalars;
}

const HOUR_MS = 3_600_000;
/** Version of the stored form; a different one is ignored, not misread. */
const STORED_VERSION = 1;

/**
 * Allocation samples for the dashboard plots: a ring of at most `max` samples, none older than
 * `windowMs` before the newest. Stored compactly (one array of numbers per sample) so that a
 * reload restores the last hour; what is restored is checked, not trusted.
 */
export class History {
  readonly samples: Sample[] = [];
  constructor(
    readonly max = 720,
    readonly windowMs = HOUR_MS,
  ) {}

  add(atMs: number, s: Pick<Summary, 'allocated' | 'total'>): void {
    this.samples.push({ atMs, allocated: { ...s.allocated }, total: { ...s.total } });
    this.trim(atMs);
  }

  /** Drops what is older than the window before `nowMs`, newer than `nowMs`, or beyond `max`. */
  private trim(nowMs: number): void {
    const from = nowMs - this.windowMs;
    let drop = 0;
    while (drop < this.samples.length && (this.samples[drop] as Sample).atMs <= from) drop++;
    if (this.samples.length - drop > this.max) drop = this.samples.length - this.max;
    if (drop > 0) this.samples.splice(0, drop);
    while (this.samples.length > 0 && (this.samples[this.samples.length - 1] as Sample).atMs > nowMs) this.samples.pop();
  }

  serialize(): string {
    const row = (x: Sample) => [x.atMs, ...SCALAR_NAMES.map((k) => x.allocated[k]), ...SCALAR_NAMES.map((k) => x.total[k])];
    return JSON.stringify({ v: STORED_VERSION, samples: this.samples.map(row) });
  }

  /**
   * Puts back the samples of `text` (from `serialize`) that fall in the last window before
   * `nowMs` and before the samples already here, in time order, at most `max` in all. Returns
   * how many were restored; anything malformed restores nothing.
   */
  restore(text: string | null | undefined, nowMs: number): number {
    if (!text) return 0;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return 0;
    }
    const p = parsed as { v?: unknown; samples?: unknown };
    if (!p || p.v !== STORED_VERSION || !Array.isArray(p.samples)) return 0;
    const firstHere = this.samples[0]?.atMs ?? Number.POSITIVE_INFINITY;
    const from = nowMs - this.windowMs;
    const got: Sample[] = [];
    for (const r of p.samples.slice(-this.max * 2)) {
      if (!Array.isArray(r) || r.length !== 1 + 2 * SCALAR_NAMES.length || !r.every((x) => typeof x === 'number' && Number.isFinite(x))) return 0;
      const [atMs, ...v] = r as number[];
      if (atMs === undefined || atMs <= from || atMs > nowMs || atMs >= firstHere) continue;
      const pick = (o: number): Scalars => ({ cpus: v[o] ?? 0, mem: v[o + 1] ?? 0, disk: v[o + 2] ?? 0, gpus: v[o + 3] ?? 0 });
      got.push({ atMs, allocated: pick(0), total: pick(SCALAR_NAMES.length) });
    }
    got.sort((a, b) => a.atMs - b.atMs);
    this.samples.unshift(...got);
    this.trim(nowMs);
    let kept = 0;
    while (kept < this.samples.length && (this.samples[kept] as Sample).atMs < firstHere) kept++;
    return kept;
  }
}

export interface TaskFilter {
  group?: TaskGroup | 'all';
  frameworkId?: string;
  agentId?: string;
  text?: string;
  /** A Marathon app (service) id: its tasks by Marathon's task-id prefix. */
  appId?: string;
  /** Marathon's framework id, when known: with `appId`, only that framework's tasks. */
  marathonFrameworkId?: string;
}

/** Tasks matching the filter, newest first. Text matches the id, name, framework name or host. */
export function filterTasks(m: ClusterModel, f: TaskFilter): Task[] {
  const needle = (f.text ?? '').trim().toLowerCase();
  const appPrefix = f.appId ? taskIdPrefix(f.appId) : undefined;
  const out: Task[] = [];
  for (const t of m.tasks.values()) {
    if (f.group && f.group !== 'all' && taskGroup(t.state) !== f.group) continue;
    if (f.frameworkId && t.framework_id.value !== f.frameworkId) continue;
    if (appPrefix !== undefined) {
      if (f.marathonFrameworkId && t.framework_id.value !== f.marathonFrameworkId) continue;
      if (!t.task_id.value.startsWith(appPrefix)) continue;
    }
    if (f.agentId && t.agent_id.value !== f.agentId) continue;
    if (needle) {
      const fw = m.frameworks.get(t.framework_id.value)?.view.framework_info.name ?? '';
      const host = m.agents.get(t.agent_id.value)?.view.agent_info.hostname ?? '';
      const hay = `${t.task_id.value} ${t.name} ${fw} ${host}`.toLowerCase();
      if (!hay.includes(needle)) continue;
    }
    out.push(t);
  }
  return out.reverse();
}

/** Where a task's sandbox is, from the agent's legacy /state (api-contracts §3.1: executor.directory). */
export interface AgentStateLike {
  frameworks?: { id: string; executors?: ExecutorLike[]; completed_executors?: ExecutorLike[] }[];
  completed_frameworks?: { id: string; executors?: ExecutorLike[]; completed_executors?: ExecutorLike[] }[];
}
interface ExecutorLike {
  id: string;
  directory: string;
  tasks?: { id: string }[];
  completed_tasks?: { id: string }[];
  queued_tasks?: { id: string }[];
}

export function sandboxOf(s: AgentStateLike, frameworkId: string, taskId: string): string | undefined {
  for (const fw of [...(s.frameworks ?? []), ...(s.completed_frameworks ?? [])]) {
    if (fw.id !== frameworkId) continue;
    for (const ex of [...(fw.executors ?? []), ...(fw.completed_executors ?? [])]) {
      const ids = [ex.id, ...(ex.tasks ?? []), ...(ex.completed_tasks ?? []), ...(ex.queued_tasks ?? [])].map((x) => (typeof x === 'string' ? x : x.id));
      if (ids.includes(taskId)) return ex.directory;
    }
  }
  return undefined;
}

/** Attributes as `name: value` text (Mesos attributes are typed values). */
export function attributeText(a: NonNullable<AgentInfo['attributes']>[number]): string {
  if (a.text) return a.text.value;
  if (a.scalar) return String(a.scalar.value);
  if (a.ranges) return a.ranges.range.map((r) => `${r.begin}-${r.end}`).join(', ');
  if (a.set) return a.set.item.join(', ');
  return '';
}
