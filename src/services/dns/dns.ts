import {
  agentRecords,
  type DnsAgent,
  type DnsConfig,
  type DnsFramework,
  type DnsMaster,
  frameworkRecords,
  masterRecords,
  parsePid,
  type Rr,
  taskRecords,
  Zone,
} from '../../core/dns/index.js';
import { type FrameworkInfo, type Task, type TaskState, type TaskStatus, isTerminal } from '../../model/mesos.js';
import type { EventSink } from '../../ports/sink.js';

/**
 * Where the records come from: the master's operator event stream (in-process in the master, or
 * a SUBSCRIBE over HTTP on an agent: adapters/net/master-events.ts). `snapshot` is the `get_state` of a SUBSCRIBED event; events arriving after it
 * are applied on top, so nothing is polled.
 */
export interface DnsSource {
  snapshot(): { state: GetState; leader: DnsMaster | undefined; masters: DnsMaster[] };
  subscribe(sink: EventSink): void;
}

export interface GetState {
  get_tasks?: { tasks?: Task[] };
  get_frameworks?: { frameworks?: { framework_info: FrameworkInfo }[] };
  get_agents?: { agents?: AgentView[] };
}

interface AgentView {
  agent_info: { id?: { value: string }; hostname: string; port?: number };
  pid?: string;
}

type OperatorEvent = { type: string } & Record<string, any>;

/** Tasks kept: every non-terminal task the master reports (records only for running ones). */
const MAX_TASKS = 1_000_000;
/** Ended tasks: the model's terminal states, and TASK_UNKNOWN (no record for it either). */
const ended = (state: TaskState): boolean => isTerminal(state) || state === 'TASK_UNKNOWN';

const taskKey = (fwId: string, taskId: string) => `${fwId}/${taskId}`;

/**
 * Keeps a Zone current from master events. Each event touches only the records it changes:
 * a task update replaces that task's records, an agent change those of its tasks.
 */
export class DnsService {
  readonly zone = new Zone();
  readonly tasks = new Map<string, Task>();
  readonly agents = new Map<string, DnsAgent>();
  readonly frameworks = new Map<string, DnsFramework>();
  private leader: DnsMaster | undefined;
  private masters: DnsMaster[] = [];
  private sink: EventSink | undefined;
  /** Counters for /metrics-like views. */
  readonly counters = { events: 0, taskChanges: 0 };
  /** Called after every event or load (the VIP service follows the same task state). */
  private readonly listeners: (() => void)[] = [];

  constructor(readonly config: DnsConfig) {}

  /** Loads the current state and follows the event stream from there. */
  start(source: DnsSource): void {
    const snap = source.snapshot();
    this.load(snap.state, snap.leader, snap.masters);
    let closed = false;
    const closers: (() => void)[] = [];
    const sink: EventSink = {
      send: (event) => {
        if (closed) return false;
        this.apply(event as OperatorEvent);
        return true;
      },
      close: () => {
        if (closed) return;
        closed = true;
        for (const fn of closers) fn();
      },
      get closed() {
        return closed;
      },
      onClose: (fn) => closers.push(fn),
    };
    this.sink = sink;
    source.subscribe(sink);
  }

  stop(): void {
    this.sink?.close();
  }

  load(state: GetState, leader: DnsMaster | undefined, masters: DnsMaster[]): void {
    this.leader = leader;
    this.masters = masters;
    this.zone.put('master', masterRecords(leader, masters, this.config));
    for (const a of state.get_agents?.agents ?? []) this.putAgent(a);
    for (const f of state.get_frameworks?.frameworks ?? []) this.putFramework(f.framework_info);
    for (const t of state.get_tasks?.tasks ?? []) this.putTask(t);
    this.changed();
  }

  /** Runs fn after each change of tasks, agents or frameworks. */
  onChange(fn: () => void): void {
    this.listeners.push(fn);
  }

  private changed(): void {
    for (const fn of this.listeners) fn();
  }

  /** Applies one operator event (the v1 JSON shape). Unknown events are ignored. */
  apply(ev: OperatorEvent): void {
    this.counters.events++;
    this.applyEvent(ev);
    this.changed();
  }

  private applyEvent(ev: OperatorEvent): void {
    switch (ev.type) {
      case 'TASK_ADDED':
        if (ev.task_added?.task) this.putTask(ev.task_added.task as Task);
        break;
      case 'TASK_UPDATED': {
        const u = ev.task_updated as { framework_id: { value: string }; status: TaskStatus; state: string } | undefined;
        if (!u?.status?.task_id) break;
        const key = taskKey(u.framework_id.value, u.status.task_id.value);
        const t = this.tasks.get(key);
        if (!t) break;
        const statuses = [...t.statuses, u.status].slice(-8);
        this.putTask({ ...t, state: u.state as Task['state'], statuses });
        break;
      }
      case 'AGENT_ADDED':
        if (ev.agent_added?.agent) this.putAgent(ev.agent_added.agent as AgentView);
        break;
      case 'AGENT_REMOVED': {
        const id = ev.agent_removed?.agent_id?.value as string | undefined;
        if (id && this.agents.delete(id)) {
          this.zone.put(`agent:${id}`, []);
          this.refreshTasks((t) => t.agent_id.value === id);
        }
        break;
      }
      case 'FRAMEWORK_ADDED':
      case 'FRAMEWORK_UPDATED': {
        const f = (ev.framework_added ?? ev.framework_updated)?.framework?.framework_info as FrameworkInfo | undefined;
        if (f) this.putFramework(f);
        break;
      }
      case 'FRAMEWORK_REMOVED': {
        const id = ev.framework_removed?.framework_info?.id?.value as string | undefined;
        if (!id) break;
        this.frameworks.delete(id);
        this.zone.put(`framework:${id}`, []);
        for (const [k, t] of this.tasks) {
          if (t.framework_id.value !== id) continue;
          this.tasks.delete(k);
          this.zone.put(`task:${k}`, []);
        }
        break;
      }
    }
  }

  private putAgent(view: AgentView): void {
    const id = view.agent_info.id?.value;
    if (!id) return;
    const pid = parsePid(view.pid);
    const agent: DnsAgent = { id, ip: pid?.host ?? view.agent_info.hostname, port: pid?.port ?? view.agent_info.port ?? 5051 };
    const prev = this.agents.get(id);
    this.agents.set(id, agent);
    this.zone.put(`agent:${id}`, agentRecords(agent, this.config));
    if (!prev || prev.ip !== agent.ip) this.refreshTasks((t) => t.agent_id.value === id);
  }

  private putFramework(info: FrameworkInfo): void {
    const id = info.id?.value;
    if (!id) return;
    const prev = this.frameworks.get(id);
    const fw: DnsFramework = { id, name: info.name, ...(info.hostname ? { hostname: info.hostname } : {}) };
    this.frameworks.set(id, fw);
    this.zone.put(`framework:${id}`, frameworkRecords(fw, this.config));
    if (!prev || prev.name !== fw.name) this.refreshTasks((t) => t.framework_id.value === id);
  }

  private putTask(task: Task): void {
    const key = taskKey(task.framework_id.value, task.task_id.value);
    if (ended(task.state)) {
      this.tasks.delete(key);
    } else if (this.tasks.has(key) || this.tasks.size < MAX_TASKS) {
      this.tasks.set(key, task);
    }
    this.counters.taskChanges++;
    this.zone.put(`task:${key}`, this.recordsOf(task));
  }

  private recordsOf(task: Task): Rr[] {
    return taskRecords(task, this.agents.get(task.agent_id.value), this.frameworks.get(task.framework_id.value), this.config);
  }

  private refreshTasks(pred: (t: Task) => boolean): void {
    for (const [k, t] of this.tasks) if (pred(t)) this.zone.put(`task:${k}`, this.recordsOf(t));
  }

  /** The records of one task (for /v1/enumerate). */
  taskRecordsOf(fwId: string, taskId: string): readonly Rr[] {
    return this.zone.get(`task:${taskKey(fwId, taskId)}`);
  }

  get leaderInfo(): DnsMaster | undefined {
    return this.leader;
  }

  get masterList(): readonly DnsMaster[] {
    return this.masters;
  }
}
