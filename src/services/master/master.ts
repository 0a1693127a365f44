import { assert } from '../../base/assert.js';
import type { Clock, TimerHandle } from '../../base/clock.js';
import { RingBuffer } from '../../base/queue.js';
import type { Random } from '../../base/random.js';
import type { Allocation, Allocator } from '../../core/allocator/types.js';
import { taskRole } from '../../core/legacy.js';
import * as R from '../../core/resources/index.js';
import type {
  AgentCall,
  AgentCommand,
  ExecutorMessageCall,
  RegisterCall,
  RegisteredReply,
  ReregisterCall,
  StatusUpdateCall,
} from '../../model/agent-protocol.js';
import {
  type AgentInfo,
  type FrameworkInfo,
  type Id,
  type MasterInfo,
  type Offer,
  type Resource,
  type StatusReason,
  type Task,
  type TaskInfo,
  type TaskState,
  type TaskStatus,
  frameworkRoles,
  hasCapability,
  isTerminal,
} from '../../model/mesos.js';
import type { EventSink } from '../../ports/sink.js';
import type { Store, StoreEntry } from '../../ports/store.js';
import type { MasterConfig } from './config.js';
import { Interner, sumOfLists } from './intern.js';
import { DEFAULT_GROUP_COMMIT, StoreWriter } from './store-writer.js';

/** A reply to an HTTP-level call: status code plus an optional body (text or JSON). */
export interface CallResult {
  status: number;
  body?: string | object;
}

const ACCEPTED: CallResult = { status: 202 };
const bad = (message: string): CallResult => ({ status: 400, body: message });

export type AgentState = 'REGISTERED' | 'RECOVERED' | 'UNREACHABLE' | 'GONE';

export interface AgentRecord {
  id: string;
  info: AgentInfo;
  ip: string;
  pid: string;
  state: AgentState;
  version: string;
  sink: EventSink<AgentCommand> | undefined;
  lastSeenMs: number;
  registeredTimeMs: number;
  reregisteredTimeMs: number | undefined;
  unreachableTimeMs: number | undefined;
  /** The session of the last REREGISTER accepted (see ReregisterCall.session). */
  session: number | undefined;
  /** Tasks on this agent known to the master, by `${frameworkId}/${taskId}`. */
  tasks: Map<string, TaskRecord>;
  offers: Set<string>;
  /** Kills and shutdowns for an agent whose command stream is down, delivered when it reopens. */
  pendingCommands: AgentCommand[];
  /**
   * Kills for tasks the agent runs that must not run (their framework was told they ended, or
   * the framework is gone), by `${frameworkId}/${taskId}`. Sent on every command stream the agent
   * opens, since one opened by a retried SUBSCRIBE may never reach it, until the agent reports
   * the task terminal or stops reporting it.
   */
  strayKills: Map<string, AgentCommand>;
}

export interface TaskRecord {
  task: Task;
  /** Status updates not yet acknowledged by the framework, oldest first; the head is in flight. */
  pending: TaskStatus[];
  /**
   * The uuid of the head of `pending` as last committed to the store (undefined: none). Only this
   * update may go to the framework: see `forwardHead`.
   */
  storedHead?: string | undefined;
  /** The uuid of the last update forwarded (so a commit does not forward the same head twice). */
  sentHead?: string | undefined;
  lastSentMs: number;
  killRequested: boolean;
  unreachableTimeMs: number | undefined;
  /**
   * The TaskInfo until RUN_TASK is sent (after the task is stored). Set to undefined after, never
   * deleted: a record with a property deleted becomes a dictionary (~450 bytes more per task).
   */
  launch?: TaskInfo | undefined;
}

export type FrameworkState = 'CONNECTED' | 'DISCONNECTED' | 'RECOVERED' | 'COMPLETED';

export interface FrameworkRecord {
  id: string;
  info: FrameworkInfo;
  state: FrameworkState;
  /** Deactivated frameworks stay connected but get no offers. */
  active: boolean;
  roles: string[];
  suppressedRoles: Set<string>;
  sink: EventSink | undefined;
  streamId: string | undefined;
  remoteAddress: string | undefined;
  registeredTimeMs: number;
  reregisteredTimeMs: number | undefined;
  unregisteredTimeMs: number | undefined;
  failoverTimer: TimerHandle | undefined;
  heartbeatTimer: TimerHandle | undefined;
  tasks: Map<string, TaskRecord>;
  unreachableTasks: Map<string, TaskRecord>;
  completedTasks: RingBuffer<Task>;
  /** Tasks whose pending updates await this framework's acknowledgement. */
  pendingTasks: Set<TaskRecord>;
  offers: Set<string>;
  counters: { calls: Record<string, number>; events: Record<string, number>; offers: Record<string, number> };
}

export interface OfferRecord {
  offer: Offer;
  role: string;
  createdMs: number;
  timer: TimerHandle | undefined;
}

export interface MasterDeps {
  clock: Clock;
  random: Random;
  store: Store;
  allocator: Allocator;
  config: MasterConfig;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** Defers work to the end of the current turn (setImmediate in production, the sim's queue in the simulator). */
  defer?: (fn: () => void) => void;
}

interface StoredAgent {
  info: AgentInfo;
  ip: string;
  state: AgentState;
  version: string;
  registeredTimeMs: number;
  reregisteredTimeMs?: number;
  unreachableTimeMs?: number;
  session?: number;
}

interface StoredFramework {
  info: FrameworkInfo;
  completed: boolean;
  registeredTimeMs: number;
  unregisteredTimeMs?: number;
  suppressedRoles?: string[];
}

interface StoredTask {
  task: Task;
  pending: TaskStatus[];
  killRequested: boolean;
  unreachableTimeMs?: number;
}

const K_AGENT = 'master/agents/';
const K_FRAMEWORK = 'master/frameworks/';
const K_TASK = 'master/tasks/';
const K_WEIGHTS = 'master/weights';
const K_QUOTA = 'master/quota/';
const K_META = 'master/meta';

const MAX_STATUSES_PER_TASK = 32;
const MAX_PENDING_AGENT_COMMANDS = 10_000;
const REFUSE_SECONDS_DEFAULT = 5;
const REFUSE_SECONDS_MAX = 31_536_000;

/**
 * The Mesos-compatible master: registry of agents and frameworks, the offer cycle over an
 * injected allocator, task bookkeeping and reliable status update forwarding. It does no I/O
 * of its own: the Store, the Clock, and the sinks it is handed are its only edges, so the same
 * code runs behind HTTP and inside the simulator.
 */
export class Master {
  readonly id: string;
  readonly startTimeMs: number;
  electedTimeMs = 0;
  recovered = false;
  private stopped = false;

  readonly agents = new Map<string, AgentRecord>();
  readonly frameworks = new Map<string, FrameworkRecord>();
  readonly completedFrameworks: RingBuffer<FrameworkRecord>;
  readonly offers = new Map<string, OfferRecord>();
  /** Shared copies of what many tasks hold alike (resources, ids, ...), and their JSON text for the views. */
  readonly shared = new Interner();
  /** agentUsedResources' last answer per agent, with the lists it summed. */
  private readonly usedByAgent = new WeakMap<AgentRecord, { from: Resource[][]; used: Resource[] }>();
  private readonly operatorSinks = new Set<EventSink>();
  private readonly writer: StoreWriter;
  private readonly timers: TimerHandle[] = [];
  private allocationSoon: TimerHandle | undefined;
  /** What the pending `allocationSoon` cycle covers: every agent, or only these. */
  private allocateAll = false;
  private allocateAgents = new Set<string>();
  private nextFrameworkNum = 0;
  private nextAgentNum = 0;
  private nextOfferNum = 0;
  readonly metrics: Record<string, number> = {
    'master/valid_status_updates': 0,
    'master/invalid_status_updates': 0,
    'master/valid_status_update_acknowledgements': 0,
    'master/invalid_status_update_acknowledgements': 0,
    'master/dropped_messages': 0,
    'master/messages_register_slave': 0,
    'master/messages_reregister_slave': 0,
    'master/invalid_reregistrations': 0,
    'master/slave_unreachable_completed': 0,
    'master/slave_removals': 0,
    'master/tasks_dropped': 0,
    'allocator/mesos/allocation_runs': 0,
    'master/offers_sent': 0,
    'master/offers_declined': 0,
    'master/offers_rescinded': 0,
  };

  private readonly clock: Clock;
  private readonly random: Random;
  private readonly store: Store;
  readonly allocator: Allocator;
  readonly config: MasterConfig;
  private readonly log: (level: 'info' | 'warn' | 'error', message: string) => void;

  constructor(deps: MasterDeps) {
    this.clock = deps.clock;
    this.random = deps.random;
    this.store = deps.store;
    this.allocator = deps.allocator;
    this.config = deps.config;
    this.log = deps.log ?? (() => {});
    this.id = this.random.uuid();
    this.startTimeMs = this.clock.nowMs();
    this.completedFrameworks = new RingBuffer(this.config.maxCompletedFrameworks);
    const defer = deps.defer ?? ((fn: () => void) => this.clock.setTimer(0, fn));
    this.writer = new StoreWriter(this.store, defer, { clock: this.clock, ...DEFAULT_GROUP_COMMIT });
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle

  /** Loads the registry from the store and starts the periodic loops. */
  async start(): Promise<void> {
    await this.recover();
    this.recovered = true;
    this.electedTimeMs = this.clock.nowMs();
    this.timers.push(this.clock.setInterval(this.config.allocationIntervalMs, () => this.runAllocation()));
    this.timers.push(this.clock.setInterval(this.config.agentPingTimeoutMs, () => this.checkAgentPings()));
    this.timers.push(this.clock.setInterval(this.config.statusUpdateRetryMs, () => this.retryStatusUpdates()));
    this.log('info', `master ${this.id} recovered ${this.agents.size} agents, ${this.frameworks.size} frameworks`);
  }

  /** Stops timers and closes every stream. The store is left to its owner. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) t.cancel();
    this.timers.length = 0;
    this.allocationSoon?.cancel();
    this.allocationSoon = undefined;
    // Detach before closing, so the close is not taken for a disconnection (no failover timer).
    for (const fw of this.frameworks.values()) this.detachFramework(fw)?.close();
    for (const a of this.agents.values()) {
      const sink = a.sink;
      a.sink = undefined;
      sink?.close();
    }
    for (const s of this.operatorSinks) s.close();
    for (const o of this.offers.values()) o.timer?.cancel();
    await this.writer.flush();
  }

  masterInfo(): MasterInfo {
    const { ip, port, hostname, version } = this.config;
    return {
      id: this.id,
      ip: ipToInt(ip),
      port,
      pid: `master@${ip}:${port}`,
      hostname,
      version,
      address: { hostname, ip, port },
    };
  }

  private async recover(): Promise<void> {
    const now = this.clock.nowMs();
    const meta = await this.store.get(K_META);
    if (meta) {
      const m = JSON.parse(meta.value) as { frameworkNum?: number; agentNum?: number };
      this.nextFrameworkNum = m.frameworkNum ?? 0;
      this.nextAgentNum = m.agentNum ?? 0;
    }
    const weights = await this.store.get(K_WEIGHTS);
    if (weights) this.allocator.setWeights(JSON.parse(weights.value) as Record<string, number>);
    for (const e of await this.store.list(K_QUOTA)) this.allocator.setQuota(e.key.slice(K_QUOTA.length), JSON.parse(e.value));

    for (const e of await this.store.list(K_AGENT)) {
      const s = JSON.parse(e.value) as StoredAgent;
      const id = e.key.slice(K_AGENT.length);
      const state: AgentState = s.state === 'REGISTERED' || s.state === 'RECOVERED' ? 'RECOVERED' : s.state;
      this.agents.set(id, {
        id,
        info: s.info,
        ip: s.ip,
        pid: agentPid(s.ip, s.info.port ?? 5051),
        state,
        version: s.version,
        sink: undefined,
        // A recovered agent has the full ping budget to reregister.
        lastSeenMs: now,
        registeredTimeMs: s.registeredTimeMs,
        reregisteredTimeMs: s.reregisteredTimeMs,
        unreachableTimeMs: s.unreachableTimeMs,
        session: s.session,
        tasks: new Map(),
        offers: new Set(),
        pendingCommands: [],
        strayKills: new Map(),
      });
    }
    const completed: FrameworkRecord[] = [];
    for (const e of await this.store.list(K_FRAMEWORK)) {
      const s = JSON.parse(e.value) as StoredFramework;
      const id = e.key.slice(K_FRAMEWORK.length);
      const fw = this.newFrameworkRecord(id, s.info, s.registeredTimeMs);
      fw.suppressedRoles = new Set(s.suppressedRoles ?? []);
      fw.unregisteredTimeMs = s.unregisteredTimeMs;
      if (s.completed) {
        fw.state = 'COMPLETED';
        completed.push(fw);
      } else {
        fw.state = 'RECOVERED';
        fw.active = false;
        this.frameworks.set(id, fw);
        this.allocator.addFramework(id, { roles: fw.roles, suppressedRoles: [...fw.suppressedRoles], active: false });
        this.startFailoverTimer(fw);
      }
    }
    completed.sort((a, b) => (a.unregisteredTimeMs ?? 0) - (b.unregisteredTimeMs ?? 0));
    for (const fw of completed) this.completedFrameworks.push(fw);

    const recoverTask = (e: StoreEntry): void => {
      const s = JSON.parse(e.value) as StoredTask;
      const fw = this.frameworks.get(s.task.framework_id.value);
      if (!fw) {
        this.writer.delete(e.key);
        return;
      }
      const task = this.compactTask(s.task);
      // A pending update is also among the task's statuses: one object for both, as before the
      // restart. (Most tasks have none pending: no lookup table is built for them.)
      let pending: TaskStatus[] = [];
      if (s.pending.length > 0) {
        const byUuid = new Map(task.statuses.filter((x) => x.uuid).map((x) => [x.uuid, x] as const));
        pending = s.pending.map((p) => (p.uuid && byUuid.get(p.uuid)) || p);
      }
      const rec: TaskRecord = {
        task,
        pending,
        // What was loaded is what the store holds.
        storedHead: s.pending[0]?.uuid,
        sentHead: undefined,
        lastSentMs: 0,
        killRequested: s.killRequested,
        unreachableTimeMs: s.unreachableTimeMs,
        launch: undefined,
      };
      if (task.state === 'TASK_UNREACHABLE') fw.unreachableTasks.set(task.task_id.value, rec);
      else fw.tasks.set(task.task_id.value, rec);
      if (rec.pending.length > 0) fw.pendingTasks.add(rec);
      this.agents.get(s.task.agent_id.value)?.tasks.set(taskKey(s.task), rec);
    };
    if (this.store.scan) await this.store.scan(K_TASK, recoverTask);
    else for (const e of await this.store.list(K_TASK)) recoverTask(e);
    await this.writer.flush();
  }

  // ---------------------------------------------------------------------------------------------
  // Agents

  /** Dispatches one call from an agent. The SUBSCRIBE call is handled by `agentSubscribe`. */
  async agentCall(call: AgentCall): Promise<CallResult> {
    if (!this.recovered) return { status: 503, body: 'Master has not finished recovery' };
    switch (call.type) {
      case 'REGISTER':
        return this.registerAgent(call);
      case 'REREGISTER':
        return this.reregisterAgent(call);
      case 'PING':
        return this.agentPing(call.agent_id.value);
      case 'STATUS_UPDATE':
        return this.agentStatusUpdate(call);
      case 'EXECUTOR_MESSAGE':
        return this.executorMessage(call);
      case 'SUBSCRIBE':
        return bad('SUBSCRIBE opens a stream; use the stream endpoint');
      default:
        return bad(`Unknown agent call type '${String((call as { type: unknown }).type)}'`);
    }
  }

  private async registerAgent(call: RegisterCall): Promise<CallResult> {
    const err = validateAgentInfo(call.agent_info);
    if (err) return bad(err);
    this.metrics['master/messages_register_slave']!++;
    const now = this.clock.nowMs();
    const id = `${this.id}-S${this.nextAgentNum++}`;
    const info: AgentInfo = { ...call.agent_info, id: { value: id }, resources: R.normalize(call.agent_info.resources) };
    const agent = newAgentRecord(id, info, call, now);
    this.agents.set(id, agent);
    this.persistAgent(agent);
    this.persistMeta();
    await this.writer.flush();
    this.allocator.addAgent(id, { hostname: info.hostname, total: info.resources, active: true });
    this.broadcast(() => ({ type: 'AGENT_ADDED', agent_added: { agent: this.agentView(agent) } }));
    this.log('info', `agent ${id} registered from ${info.hostname} (${call.ip})`);
    this.allocateSoon(id);
    return { status: 200, body: this.registeredReply(id) };
  }

  private async reregisterAgent(call: ReregisterCall): Promise<CallResult> {
    const err = validateAgentInfo(call.agent_info);
    if (err) return bad(err);
    const id = call.agent_id?.value;
    if (typeof id !== 'string' || id === '') return bad('Missing agent_id');
    this.metrics['master/messages_reregister_slave']!++;
    const now = this.clock.nowMs();
    let agent = this.agents.get(id);
    if (agent?.state === 'GONE') return { status: 403, body: { error: 'gone', message: `Agent ${id} has been marked gone` } };
    const session = typeof call.session === 'number' && Number.isFinite(call.session) ? call.session : undefined;
    if (agent && session !== undefined && agent.session !== undefined && session <= agent.session) {
      // A delayed or duplicated request: its task list is older than one already accepted.
      this.metrics['master/invalid_reregistrations']!++;
      if (session === agent.session && agent.state === 'REGISTERED') return { status: 200, body: this.registeredReply(id) };
      return { status: 409, body: `Stale reregistration of agent ${id}: session ${session} is not newer than ${agent.session}` };
    }
    const info: AgentInfo = { ...call.agent_info, id: { value: id }, resources: R.normalize(call.agent_info.resources) };
    // Marked unreachable, in this incarnation or (as the store says) an earlier one: the frameworks
    // that are not partition-aware were told its tasks were lost.
    const wasUnreachable = agent?.state === 'UNREACHABLE';
    if (!agent) {
      agent = newAgentRecord(id, info, call, now);
      agent.reregisteredTimeMs = now;
      this.agents.set(id, agent);
    } else {
      // A reregistration starts a new session: the old command stream is dead or about to be
      // replaced, so commands wait in pendingCommands for the stream the agent opens next.
      const oldSink = agent.sink;
      agent.sink = undefined;
      oldSink?.close();
      this.rescindAgentOffers(agent);
      this.allocator.removeAgent(id);
      agent.info = info;
      agent.ip = call.ip;
      agent.pid = agentPid(call.ip, info.port ?? 5051);
      agent.version = call.version;
      agent.state = 'REGISTERED';
      agent.lastSeenMs = now;
      agent.reregisteredTimeMs = now;
      agent.unreachableTimeMs = undefined;
    }
    if (session !== undefined) agent.session = session;

    // Reconcile the tasks the agent reports against what the master remembers.
    const reported = new Set<string>();
    const toKill: { fw: string; task: string }[] = [];
    agent.strayKills = new Map();
    const stray = (fw: string, task: string): void => {
      toKill.push({ fw, task });
      agent.strayKills.set(`${fw}/${task}`, { type: 'KILL_TASK', framework_id: { value: fw }, task_id: { value: task } });
    };
    const frameworkInfos = new Map((call.frameworks ?? []).map((f) => [f.id?.value ?? '', f] as const));
    /** Frameworks this reregistration made known to the master (it has told them nothing). */
    const admitted = new Set<string>();
    for (const t of call.tasks ?? []) {
      const fwId = t.framework_id.value;
      const key = taskKey(t);
      reported.add(key);
      let fw = this.frameworks.get(fwId);
      if (!fw) {
        if (this.isCompletedFramework(fwId)) {
          if (!isTerminal(t.state)) stray(fwId, t.task_id.value);
          continue;
        }
        // A framework the master has not seen since it restarted: admit it as recovered.
        const finfo = frameworkInfos.get(fwId) ?? { user: 'root', name: fwId, id: { value: fwId } };
        fw = this.newFrameworkRecord(fwId, { ...finfo, id: { value: fwId } }, now);
        admitted.add(fwId);
        fw.state = 'RECOVERED';
        fw.active = false;
        this.frameworks.set(fwId, fw);
        this.allocator.addFramework(fwId, { roles: fw.roles, active: false });
        this.persistFramework(fw);
        this.startFailoverTimer(fw);
      }
      let rec = fw.tasks.get(t.task_id.value);
      const unreachable = fw.unreachableTasks.get(t.task_id.value);
      // Only a task whose record changes is written (a reregistration of 10,000 agents reports
      // every task, nearly all of them as the store already has them).
      const changed = !rec;
      if (!rec && unreachable) {
        fw.unreachableTasks.delete(t.task_id.value);
        rec = unreachable;
        rec.unreachableTimeMs = undefined;
        fw.tasks.set(t.task_id.value, rec);
      }
      if (!rec) {
        const toldLost = wasUnreachable && !admitted.has(fwId) && !hasCapability(fw.info, 'PARTITION_AWARE');
        if (!isTerminal(t.state) && (toldLost || fw.completedTasks.toArray().some((c) => c.task_id.value === t.task_id.value))) {
          // The framework was already told this task ended (lost, gone, killed): it cannot be
          // brought back without breaking the order of its updates, so it is killed. The list of
          // completed tasks does not survive a restart, but an agent stored as unreachable does:
          // a task of a framework that is not partition-aware, unknown to the master, on such an
          // agent was reported lost (the master launches nothing on an unreachable agent).
          stray(fwId, t.task_id.value);
          continue;
        }
        rec = { task: { ...t, statuses: takenStatuses(t) }, pending: [], lastSentMs: 0, killRequested: false, unreachableTimeMs: undefined };
        fw.tasks.set(t.task_id.value, rec);
      }
      const before = rec.task.state;
      // The task's state is the latest the agent knows (Mesos' latest_state): a task that ended
      // while the agent was away is terminal now, though its updates still reach the framework in order.
      if (!isTerminal(rec.task.state)) rec.task.state = t.state;
      agent.tasks.set(key, rec);
      if (changed || rec.task.state !== before) this.persistTask(rec);
      if (before === 'TASK_UNREACHABLE' && !isTerminal(rec.task.state) && hasCapability(fw.info, 'PARTITION_AWARE')) {
        this.sendMasterUpdate(fw, rec, rec.task.state, 'REASON_AGENT_REREGISTERED', 'Agent reregistered');
      }
      if (rec.killRequested) toKill.push({ fw: fwId, task: t.task_id.value });
    }
    // Tasks the master knew on this agent that the agent no longer has are gone.
    // (Deleting the entry being visited is safe while iterating a Map.)
    for (const [key, rec] of agent.tasks) {
      if (reported.has(key)) continue;
      if (isTerminal(rec.task.state)) continue;
      const fw = this.frameworks.get(rec.task.framework_id.value);
      agent.tasks.delete(key);
      if (!fw) continue;
      // An unreachable task the agent came back without: it leaves the unreachable set, like any other.
      if (fw.unreachableTasks.delete(rec.task.task_id.value)) fw.tasks.set(rec.task.task_id.value, rec);
      const state: TaskState = hasCapability(fw.info, 'PARTITION_AWARE') ? 'TASK_GONE' : 'TASK_LOST';
      this.transitionByMaster(fw, rec, state, 'REASON_AGENT_RESTARTED', 'Task is unknown to the agent after it reregistered');
    }
    this.persistAgent(agent);
    // Back into the allocator in the same turn it was taken out: a second reregistration in flight
    // must not find it half-done (it would drop the allocation of offers made in between).
    this.allocator.addAgent(id, {
      hostname: info.hostname,
      total: info.resources,
      used: this.agentUsage(agent),
      active: true,
    });
    // The agent opens its command stream after this reply: the kills wait for it.
    for (const k of toKill) this.sendToAgent(agent, { type: 'KILL_TASK', framework_id: { value: k.fw }, task_id: { value: k.task } });
    await this.writer.flush();

    this.broadcast(() => ({ type: 'AGENT_ADDED', agent_added: { agent: this.agentView(agent) } }));
    this.log('info', `agent ${id} reregistered with ${call.tasks?.length ?? 0} tasks`);
    this.allocateSoon(id);
    return { status: 200, body: this.registeredReply(id) };
  }

  private registeredReply(agentId: string): RegisteredReply {
    return { agent_id: { value: agentId }, master_id: this.id, ping_interval_seconds: this.config.agentPingTimeoutMs / 1000 };
  }

  /** Resources used on an agent per (framework, role), from the tasks the master knows. */
  private agentUsage(agent: AgentRecord): { frameworkId: string; role: string; resources: Resource[] }[] {
    // Each (framework, role)'s entries are gathered and summed once (normalize merges as it
    // goes), not added task by task: an agent comes back with all its tasks at once.
    const byKey = new Map<string, { frameworkId: string; role: string; resources: Resource[] }>();
    for (const rec of agent.tasks.values()) {
      if (isTerminal(rec.task.state) || rec.task.state === 'TASK_UNREACHABLE') continue;
      const role = taskRole(rec.task);
      const k = `${rec.task.framework_id.value}\u0000${role}`;
      let cur = byKey.get(k);
      if (!cur) byKey.set(k, (cur = { frameworkId: rec.task.framework_id.value, role, resources: [] }));
      for (const r of rec.task.resources) cur.resources.push(r);
    }
    const out = [...byKey.values()];
    // Summed first, then stripped of allocation_info (and merged again, in case some tasks had it
    // and some not): cloning every task's entries first would be the bulk of the work.
    for (const u of out) u.resources = R.normalize(R.unallocated(R.normalize(u.resources)));
    return out;
  }

  /** The agent opens its command stream. Returns an error result if it must (re)register first. */
  agentSubscribe(agentId: string, sink: EventSink<AgentCommand>): CallResult | undefined {
    const agent = this.agents.get(agentId);
    if (!agent) return { status: 404, body: `Agent ${agentId} is not registered` };
    if (agent.state === 'GONE') return { status: 403, body: { error: 'gone', message: `Agent ${agentId} has been marked gone` } };
    if (agent.state !== 'REGISTERED') return { status: 409, body: 'Agent must reregister' };
    agent.sink?.close();
    agent.sink = sink;
    agent.lastSeenMs = this.clock.nowMs();
    sink.onClose(() => {
      if (agent.sink === sink) agent.sink = undefined;
    });
    // Commands that could not be delivered while the stream was down, then kills the registry
    // remembers (they survive a master restart), each once.
    const queued = agent.pendingCommands.splice(0);
    const killed = new Set<string>();
    for (const c of queued) {
      if (c.type === 'KILL_TASK') killed.add(`${c.framework_id.value}/${c.task_id.value}`);
      this.sendToAgent(agent, c);
    }
    for (const rec of agent.tasks.values()) {
      if (rec.killRequested && !isTerminal(rec.task.state) && !killed.has(taskKey(rec.task))) {
        this.sendToAgent(agent, {
          type: 'KILL_TASK',
          framework_id: rec.task.framework_id,
          task_id: rec.task.task_id,
          ...(rec.task.kill_policy ? { kill_policy: rec.task.kill_policy } : {}),
        });
      }
    }
    for (const [key, c] of agent.strayKills) if (!killed.has(key)) this.sendToAgent(agent, c);
    return undefined;
  }

  private agentPing(agentId: string): CallResult {
    const agent = this.agents.get(agentId);
    if (!agent) return { status: 404, body: `Agent ${agentId} is not registered` };
    if (agent.state === 'GONE') return { status: 403, body: { error: 'gone', message: `Agent ${agentId} has been marked gone` } };
    if (agent.state !== 'REGISTERED') return { status: 409, body: 'Agent must reregister' };
    agent.lastSeenMs = this.clock.nowMs();
    return { status: 200, body: {} };
  }

  private checkAgentPings(): void {
    const now = this.clock.nowMs();
    const limitMs = this.config.agentPingTimeoutMs * this.config.maxAgentPingTimeouts;
    for (const agent of this.agents.values()) {
      if (agent.state !== 'REGISTERED' && agent.state !== 'RECOVERED') continue;
      if (now - agent.lastSeenMs > limitMs) this.markUnreachable(agent);
    }
  }

  /** An agent silent past the ping budget: its tasks are unreachable (or lost) and its offers rescinded. */
  markUnreachable(agent: AgentRecord): void {
    this.log('warn', `agent ${agent.id} (${agent.info.hostname}) is unreachable`);
    const wasRegistered = agent.state === 'REGISTERED';
    agent.state = 'UNREACHABLE';
    agent.pendingCommands = [];
    agent.unreachableTimeMs = this.clock.nowMs();
    agent.sink?.close();
    agent.sink = undefined;
    this.rescindAgentOffers(agent);
    if (wasRegistered) this.allocator.removeAgent(agent.id);
    for (const rec of agent.tasks.values()) {
      if (isTerminal(rec.task.state) || rec.task.state === 'TASK_UNREACHABLE') continue;
      const fw = this.frameworks.get(rec.task.framework_id.value);
      if (!fw) continue;
      if (hasCapability(fw.info, 'PARTITION_AWARE')) {
        fw.tasks.delete(rec.task.task_id.value);
        rec.unreachableTimeMs = agent.unreachableTimeMs;
        this.boundedUnreachable(fw);
        fw.unreachableTasks.set(rec.task.task_id.value, rec);
        this.transitionByMaster(fw, rec, 'TASK_UNREACHABLE', 'REASON_AGENT_REMOVED', 'Agent is unreachable');
      } else {
        this.transitionByMaster(fw, rec, 'TASK_LOST', 'REASON_AGENT_REMOVED', 'Agent is unreachable');
      }
    }
    this.notifyAgentLost(agent.id);
    this.metrics['master/slave_unreachable_completed']!++;
    this.persistAgent(agent);
    void this.writer.flush();
    this.broadcast({ type: 'AGENT_REMOVED', agent_removed: { agent_id: { value: agent.id } } });
  }

  /** Every connected framework hears that the agent is lost (Mesos' LostSlaveMessage). */
  private notifyAgentLost(agentId: string): void {
    for (const fw of this.frameworks.values()) this.sendEvent(fw, { type: 'FAILURE', failure: { agent_id: { value: agentId } } });
  }

  private boundedUnreachable(fw: FrameworkRecord): void {
    while (fw.unreachableTasks.size >= this.config.maxUnreachableTasksPerFramework) {
      const first = fw.unreachableTasks.keys().next().value as string;
      const rec = fw.unreachableTasks.get(first);
      fw.unreachableTasks.delete(first);
      if (rec) this.writer.delete(taskStoreKey(rec.task));
    }
  }

  /** MARK_AGENT_GONE: the agent will never come back; its tasks are gone. */
  markAgentGone(agentId: string): CallResult {
    const agent = this.agents.get(agentId);
    if (!agent) return { status: 404, body: `Agent ${agentId} not found` };
    if (agent.state === 'GONE') return ACCEPTED;
    const wasRegistered = agent.state === 'REGISTERED';
    if (agent.sink) {
      agent.sink.send({ type: 'SHUTDOWN', message: 'Agent has been marked gone by the operator' });
      agent.sink.close();
      agent.sink = undefined;
    }
    agent.state = 'GONE';
    agent.pendingCommands = [];
    this.rescindAgentOffers(agent);
    if (wasRegistered) this.allocator.removeAgent(agent.id);
    for (const rec of [...agent.tasks.values()]) {
      if (isTerminal(rec.task.state)) continue;
      const fw = this.frameworks.get(rec.task.framework_id.value);
      if (!fw) continue;
      if (fw.unreachableTasks.delete(rec.task.task_id.value)) fw.tasks.set(rec.task.task_id.value, rec);
      const state: TaskState = hasCapability(fw.info, 'PARTITION_AWARE') ? 'TASK_GONE_BY_OPERATOR' : 'TASK_LOST';
      this.transitionByMaster(fw, rec, state, 'REASON_AGENT_REMOVED_BY_OPERATOR', 'Agent was marked gone by the operator');
    }
    agent.tasks.clear();
    this.notifyAgentLost(agent.id);
    this.metrics['master/slave_removals']!++;
    this.persistAgent(agent);
    void this.writer.flush();
    this.broadcast({ type: 'AGENT_REMOVED', agent_removed: { agent_id: { value: agent.id } } });
    return ACCEPTED;
  }

  private async agentStatusUpdate(call: StatusUpdateCall): Promise<CallResult> {
    const status = call.status;
    if (!status?.task_id?.value || typeof status.state !== 'string') return bad('Status update needs task_id and state');
    const agent = this.agents.get(call.agent_id?.value);
    if (!agent) return { status: 404, body: `Agent ${call.agent_id?.value} is not registered` };
    if (agent.state === 'GONE') return { status: 403, body: { error: 'gone', message: 'Agent has been marked gone' } };
    if (agent.state !== 'REGISTERED') return { status: 409, body: 'Agent must reregister' };
    agent.lastSeenMs = this.clock.nowMs();
    const fwId = call.framework_id?.value;
    const fw = this.frameworks.get(fwId);
    if (!fw) {
      // The framework is gone: acknowledge so the agent stops retrying, and make it clean up.
      this.metrics['master/invalid_status_updates']!++;
      if (isTerminal(status.state)) agent.strayKills.delete(`${fwId}/${status.task_id.value}`);
      if (this.isCompletedFramework(fwId)) this.sendToAgent(agent, { type: 'SHUTDOWN_FRAMEWORK', framework_id: { value: fwId } });
      return { status: 200, body: {} };
    }
    const taskId = status.task_id.value;
    let rec = fw.tasks.get(taskId);
    if (!rec) {
      const u = fw.unreachableTasks.get(taskId);
      if (u) {
        fw.unreachableTasks.delete(taskId);
        fw.tasks.set(taskId, u);
        rec = u;
      }
    }
    if (!rec) {
      const done = fw.completedTasks.toArray().find((t) => t.task_id.value === taskId);
      if (done) {
        // Late update for a task already completed (e.g. lost while partitioned): acknowledge and
        // drop it; if the task still runs there, kill it, since its framework was told it ended.
        this.metrics['master/invalid_status_updates']!++;
        const key = `${fwId}/${taskId}`;
        if (isTerminal(status.state)) agent.strayKills.delete(key);
        else {
          const kill: AgentCommand = { type: 'KILL_TASK', framework_id: { value: fwId }, task_id: { value: taskId } };
          agent.strayKills.set(key, kill);
          this.sendToAgent(agent, kill);
        }
        return { status: 200, body: {} };
      }
      // Unknown to the master (its launch was never stored): adopt it.
      rec = {
        task: {
          name: taskId,
          task_id: { value: taskId },
          framework_id: this.shared.id(fwId),
          agent_id: this.shared.id(agent.id),
          state: status.state,
          resources: [],
          statuses: [],
        },
        pending: [],
        storedHead: undefined,
        sentHead: undefined,
        lastSentMs: 0,
        killRequested: false,
        unreachableTimeMs: undefined,
        launch: undefined,
      };
      fw.tasks.set(taskId, rec);
      agent.tasks.set(taskKey(rec.task), rec);
    }
    if (status.uuid && (rec.task.statuses.some((s) => s.uuid === status.uuid) || rec.pending.some((s) => s.uuid === status.uuid))) {
      // A retry of an update already taken: the first reply was lost, or the first request is
      // still waiting for its write. The 200 is the agent's acknowledgement, so it waits for that
      // write too (a crash before it lands would lose an update the agent then forgets).
      await this.writer.flush();
      return { status: 200, body: {} };
    }
    this.metrics['master/valid_status_updates']!++;
    const stamped: TaskStatus = {
      ...status,
      agent_id: this.shared.id(agent.id),
      source: status.source ?? 'SOURCE_AGENT',
      timestamp: status.timestamp ?? this.clock.nowMs() / 1000,
    };
    // The task's own id object instead of a copy per status.
    if (stamped.task_id.value === rec.task.task_id.value) stamped.task_id = rec.task.task_id;
    this.applyStatus(fw, rec, stamped, true);
    await this.writer.flush();
    return { status: 200, body: {} };
  }

  private executorMessage(call: ExecutorMessageCall): CallResult {
    const fw = this.frameworks.get(call.framework_id?.value);
    if (fw?.sink) {
      this.sendEvent(fw, {
        type: 'MESSAGE',
        message: { agent_id: call.agent_id, executor_id: call.executor_id, data: call.data },
      });
    } else this.metrics['master/dropped_messages']!++;
    return { status: 200, body: {} };
  }

  // ---------------------------------------------------------------------------------------------
  // Task state

  /**
   * Records a new state for a task and queues it for reliable delivery when it carries a uuid.
   * Terminal states give the task's resources back to the allocator.
   */
  private applyStatus(fw: FrameworkRecord, rec: TaskRecord, status: TaskStatus, reliable: boolean): void {
    const prev = rec.task.state;
    // A task's state never goes back from terminal: an older update still queued on the agent
    // is delivered to the framework, but the task stays as it is (and its resources free).
    if (!isTerminal(prev) || isTerminal(status.state)) rec.task.state = status.state;
    rec.task.statuses = withStatus(rec.task.statuses, status);
    if (!isTerminal(prev) && prev !== 'TASK_UNREACHABLE' && (isTerminal(status.state) || status.state === 'TASK_UNREACHABLE')) {
      this.releaseTaskResources(rec);
    } else if (prev === 'TASK_UNREACHABLE' && !isTerminal(status.state) && status.state !== 'TASK_UNREACHABLE') {
      // Back from a partition: its resources are in use again.
      const agent = this.agents.get(rec.task.agent_id.value);
      if (agent?.state === 'REGISTERED') this.allocator.addAllocation(fw.id, agent.id, taskRole(rec.task), R.unallocated(rec.task.resources));
    }
    this.broadcast({
      type: 'TASK_UPDATED',
      task_updated: { framework_id: { value: fw.id }, status, state: status.state },
    });
    if (reliable && status.uuid) {
      this.enqueueUpdate(fw, rec, status);
    } else {
      // A master-made update goes out once the change it reports is stored (below, or the
      // removal of the completed task), like an agent's under the stored-head rule.
      this.sendAfterCommit(fw, { type: 'UPDATE', update: { status } });
      if (isTerminal(status.state) && rec.pending.length === 0) this.completeTask(fw, rec);
    }
    if (!rec.task.status_update_state || rec.pending.length === 0) {
      rec.task.status_update_state = status.state;
      if (status.uuid) rec.task.status_update_uuid = status.uuid;
    }
    if (fw.tasks.has(rec.task.task_id.value) || fw.unreachableTasks.has(rec.task.task_id.value)) this.persistTask(rec);
  }

  private enqueueUpdate(fw: FrameworkRecord, rec: TaskRecord, status: TaskStatus): void {
    rec.pending.push(status);
    if (rec.pending.length > this.config.maxPendingUpdatesPerTask) {
      // Bounded: drop the oldest non-terminal update that is not in flight.
      const idx = rec.pending.findIndex((s, i) => i > 0 && !isTerminal(s.state));
      rec.pending.splice(idx > 0 ? idx : 1, 1);
    }
    fw.pendingTasks.add(rec);
    if (rec.pending.length === 1) this.forwardHead(fw, rec);
  }

  /**
   * Sends the head of a task's update queue to the framework, if the store holds it as the head.
   *
   * Every path that forwards (a new update, the acknowledgement of the previous one, the periodic
   * retry, a re-subscription) goes through here. The framework may see update n only once the
   * store holds n and no longer holds n-1: a master that crashed before that write landed would
   * recover [n-1, n] and resend n-1, which the framework already acknowledged, after n. With the
   * check, a new master resends at worst the update the framework saw last (a duplicate, which
   * it acknowledges again), never an older one. A head that is not stored yet goes out when its
   * write commits (`headStored`).
   */
  private forwardHead(fw: FrameworkRecord, rec: TaskRecord): void {
    const head = rec.pending[0];
    if (!head) return;
    rec.task.status_update_state = head.state;
    if (head.uuid) rec.task.status_update_uuid = head.uuid;
    if (!fw.sink || head.uuid !== rec.storedHead) return;
    rec.lastSentMs = this.clock.nowMs();
    rec.sentHead = head.uuid;
    this.sendEvent(fw, { type: 'UPDATE', update: { status: head } });
  }

  /** A write of the task committed with `head` at the front of its queue. */
  private headStored(rec: TaskRecord, head: string | undefined): void {
    rec.storedHead = head;
    if (this.stopped || head === undefined || rec.pending[0]?.uuid !== head || rec.sentHead === head) return;
    const fw = this.frameworks.get(rec.task.framework_id.value);
    if (fw?.pendingTasks.has(rec)) this.forwardHead(fw, rec);
  }

  private retryStatusUpdates(): void {
    const now = this.clock.nowMs();
    let rewrite = false;
    for (const fw of this.frameworks.values()) {
      if (!fw.sink) continue;
      for (const rec of fw.pendingTasks) {
        if (rec.pending.length === 0 || now - rec.lastSentMs < this.config.statusUpdateRetryMs) continue;
        if (rec.pending[0]!.uuid !== rec.storedHead) {
          // Its write failed (a store error): write it again; it goes out when that commits.
          const id = rec.task.task_id.value;
          if (fw.tasks.get(id) === rec || fw.unreachableTasks.get(id) === rec) {
            this.persistTask(rec);
            rewrite = true;
          }
        } else this.forwardHead(fw, rec);
      }
    }
    if (rewrite) void this.writer.flush().catch((e: unknown) => this.log('error', `store write failed: ${String(e)}`));
  }

  /** A master-generated update (no uuid: frameworks must not acknowledge it). */
  private transitionByMaster(fw: FrameworkRecord, rec: TaskRecord, state: TaskState, reason: StatusReason, message: string): void {
    const status: TaskStatus = {
      task_id: rec.task.task_id,
      state,
      source: 'SOURCE_MASTER',
      reason,
      message,
      agent_id: rec.task.agent_id,
      timestamp: this.clock.nowMs() / 1000,
    };
    if (state === 'TASK_UNREACHABLE' && rec.unreachableTimeMs !== undefined) {
      status.unreachable_time = { nanoseconds: rec.unreachableTimeMs * 1e6 };
    }
    if (isTerminal(state)) {
      // Pending agent updates will never be acknowledged in order now; drop them.
      rec.pending = [];
      fw.pendingTasks.delete(rec);
    }
    this.applyStatus(fw, rec, status, false);
  }

  /**
   * Sends an event once every write queued so far has committed (the writer batches the rest of
   * this turn's writes with them). A master that crashes first never sends it, so its framework
   * never hears of a change the next master does not know (a TASK_LOST sent before its write, and
   * a master crash, would leave the next one holding the task STAGING or RUNNING). Events sent this
   * way keep their order among themselves: batches commit in order.
   */
  private sendAfterCommit(fw: FrameworkRecord, event: { type: string } & Record<string, unknown>): void {
    this.writer.flush().then(
      () => {
        if (!this.stopped) this.sendEvent(fw, event);
      },
      (e: unknown) => this.log('error', `store write failed; ${event.type} for framework ${fw.id} not sent: ${String(e)}`),
    );
  }

  /** Sends the latest state again as a master update (used when an agent comes back). */
  private sendMasterUpdate(fw: FrameworkRecord, rec: TaskRecord, state: TaskState, reason: StatusReason, message: string): void {
    this.sendAfterCommit(fw, {
      type: 'UPDATE',
      update: {
        status: {
          task_id: rec.task.task_id,
          state,
          source: 'SOURCE_MASTER',
          reason,
          message,
          agent_id: rec.task.agent_id,
          timestamp: this.clock.nowMs() / 1000,
        },
      },
    });
  }

  private releaseTaskResources(rec: TaskRecord): void {
    const agent = this.agents.get(rec.task.agent_id.value);
    if (!agent || agent.state !== 'REGISTERED') return;
    if (rec.task.resources.length > 0) {
      this.allocator.recoverResources(rec.task.framework_id.value, agent.id, R.unallocated(rec.task.resources));
      this.allocateSoon(agent.id);
    }
  }

  /** A terminal task whose updates are all acknowledged moves to the bounded completed list. */
  private completeTask(fw: FrameworkRecord, rec: TaskRecord): void {
    const id = rec.task.task_id.value;
    fw.tasks.delete(id);
    fw.unreachableTasks.delete(id);
    fw.pendingTasks.delete(rec);
    this.agents.get(rec.task.agent_id.value)?.tasks.delete(taskKey(rec.task));
    fw.completedTasks.push(rec.task);
    this.writer.delete(taskStoreKey(rec.task));
  }

  // ---------------------------------------------------------------------------------------------
  // Schedulers

  /**
   * SUBSCRIBE: registers or fails over a framework and attaches its event stream.
   * Returns an error result (sent synchronously) or undefined once SUBSCRIBED was sent.
   */
  async subscribe(
    call: { framework_id?: Id; subscribe?: { framework_info?: FrameworkInfo; suppressed_roles?: string[] } },
    sink: EventSink,
    streamId: string,
    remoteAddress?: string,
  ): Promise<CallResult | undefined> {
    if (!this.recovered) return { status: 503, body: 'Master has not finished recovery' };
    const info = call.subscribe?.framework_info;
    if (!info) return bad("Failed to validate scheduler::Call: Expecting 'subscribe' to be present");
    const infoErr = validateFrameworkInfo(info);
    if (infoErr) return bad(`Failed to validate scheduler::Call: ${infoErr}`);
    const requestedId = info.id?.value;
    if (call.framework_id?.value && requestedId && call.framework_id.value !== requestedId) {
      return bad("Failed to validate scheduler::Call: 'framework_id' differs from 'subscribe.framework_info.id'");
    }
    const now = this.clock.nowMs();
    if (requestedId && this.isCompletedFramework(requestedId)) {
      sink.send({ type: 'ERROR', error: { message: 'Framework has been removed' } });
      sink.close();
      return undefined;
    }
    let fw = requestedId ? this.frameworks.get(requestedId) : undefined;
    const isNew = !fw;
    if (!fw) {
      const id = requestedId ?? `${this.id}-${String(this.nextFrameworkNum++).padStart(4, '0')}`;
      fw = this.newFrameworkRecord(id, { ...info, id: { value: id } }, now);
      this.frameworks.set(id, fw);
      // Inactive until SUBSCRIBED has gone out (below, after the store write): an allocation
      // while that write is in flight would send OFFERS before SUBSCRIBED on the new stream.
      this.allocator.addFramework(id, { roles: fw.roles, suppressedRoles: call.subscribe?.suppressed_roles ?? [], active: false });
      this.persistMeta();
    } else {
      // No offers until SUBSCRIBED has gone out on the new stream (see above).
      this.allocator.deactivateFramework(fw.id);
      if (fw.sink) {
        fw.sink.send({ type: 'ERROR', error: { message: 'Framework failed over' } });
        const old = fw.sink;
        fw.sink = undefined;
        old.close();
      }
      // Offers made to the old instance go back to the pool; the new one gets fresh offers.
      for (const offerId of [...fw.offers]) this.removeOffer(offerId, { rescind: false });
      fw.failoverTimer?.cancel();
      fw.failoverTimer = undefined;
      // user and checkpoint cannot change on re-subscription.
      fw.info = { ...info, id: { value: fw.id }, user: fw.info.user, checkpoint: fw.info.checkpoint ?? false };
      fw.roles = frameworkRoles(fw.info);
      fw.reregisteredTimeMs = now;
      fw.unregisteredTimeMs = undefined;
    }
    // As in Mesos, the set in SUBSCRIBE replaces the old one; absent means none suppressed.
    fw.suppressedRoles = new Set(call.subscribe?.suppressed_roles ?? []);
    fw.state = 'CONNECTED';
    fw.active = true;
    fw.sink = sink;
    fw.streamId = streamId;
    fw.remoteAddress = remoteAddress;
    const record = fw;
    sink.onClose(() => {
      if (record.sink === sink) this.disconnectFramework(record);
    });
    this.persistFramework(fw);
    await this.writer.flush();
    if (fw.sink !== sink) return undefined; // replaced or closed while storing
    this.allocator.updateFramework(fw.id, { roles: fw.roles, suppressedRoles: [...fw.suppressedRoles], active: true });
    this.allocator.activateFramework(fw.id);
    this.sendEvent(fw, {
      type: 'SUBSCRIBED',
      subscribed: {
        framework_id: { value: fw.id },
        heartbeat_interval_seconds: this.config.heartbeatIntervalMs / 1000,
        master_info: this.masterInfo(),
      },
    });
    fw.heartbeatTimer?.cancel();
    fw.heartbeatTimer = this.clock.setInterval(this.config.heartbeatIntervalMs, () => this.sendEvent(record, { type: 'HEARTBEAT' }));
    for (const rec of fw.pendingTasks) this.forwardHead(fw, rec);
    this.broadcast(() =>
      isNew
        ? { type: 'FRAMEWORK_ADDED', framework_added: { framework: this.frameworkView(fw) } }
        : { type: 'FRAMEWORK_UPDATED', framework_updated: { framework: this.frameworkView(fw) } },
    );
    this.log('info', `framework ${fw.id} (${fw.info.name}) ${isNew ? 'subscribed' : 'resubscribed'}`);
    this.allocateSoon();
    return undefined;
  }

  private disconnectFramework(fw: FrameworkRecord): void {
    if (fw.state === 'COMPLETED' || this.stopped) return;
    fw.sink = undefined;
    fw.streamId = undefined;
    fw.state = 'DISCONNECTED';
    fw.active = false;
    fw.unregisteredTimeMs = this.clock.nowMs();
    fw.heartbeatTimer?.cancel();
    fw.heartbeatTimer = undefined;
    this.allocator.deactivateFramework(fw.id);
    for (const offerId of [...fw.offers]) this.removeOffer(offerId, { rescind: false });
    this.log('info', `framework ${fw.id} disconnected; failover timeout ${fw.info.failover_timeout ?? 0}s`);
    this.startFailoverTimer(fw);
    this.broadcast(() => ({ type: 'FRAMEWORK_UPDATED', framework_updated: { framework: this.frameworkView(fw) } }));
  }

  private startFailoverTimer(fw: FrameworkRecord): void {
    fw.failoverTimer?.cancel();
    const timeoutMs = Math.max(0, Math.round((fw.info.failover_timeout ?? 0) * 1000));
    fw.failoverTimer = this.clock.setTimer(timeoutMs, () => {
      fw.failoverTimer = undefined;
      if (fw.state === 'DISCONNECTED' || fw.state === 'RECOVERED') {
        this.log('warn', `framework ${fw.id} did not fail over within ${timeoutMs} ms; removing it`);
        this.removeFramework(fw, 'Framework failover timeout');
      }
    });
  }

  /** Validates the stream id of a non-SUBSCRIBE call and returns the framework. */
  authorizeCall(frameworkId: string | undefined, streamId: string | undefined): FrameworkRecord | CallResult {
    if (!this.recovered) return { status: 503, body: 'Master has not finished recovery' };
    if (!frameworkId) return bad("Failed to validate scheduler::Call: Expecting 'framework_id' to be present");
    const fw = this.frameworks.get(frameworkId);
    if (!fw) return bad('Framework cannot be found');
    if (!fw.sink || fw.state !== 'CONNECTED') return { status: 403, body: 'Framework is not subscribed' };
    if (streamId === undefined) return bad("All non-subscribe calls should include the 'Mesos-Stream-Id' header");
    if (streamId !== fw.streamId) {
      return bad(`The stream ID '${streamId}' included in this request didn't match the stream ID currently associated with framework ID ${frameworkId}`);
    }
    return fw;
  }

  /** Every scheduler call but SUBSCRIBE. `call` has passed JSON parsing and null-stripping. */
  async schedulerCall(call: SchedulerCall, streamId: string | undefined): Promise<CallResult> {
    const auth = this.authorizeCall(call.framework_id?.value, streamId);
    if (!('id' in auth)) return auth;
    const fw = auth;
    fw.counters.calls[call.type] = (fw.counters.calls[call.type] ?? 0) + 1;
    switch (call.type) {
      case 'TEARDOWN':
        this.removeFramework(fw, 'Framework teardown');
        await this.writer.flush();
        return ACCEPTED;
      case 'ACCEPT':
        if (!call.accept) return bad("Failed to validate scheduler::Call: Expecting 'accept' to be present");
        return this.accept(fw, call.accept);
      case 'DECLINE':
        if (!call.decline) return bad("Failed to validate scheduler::Call: Expecting 'decline' to be present");
        return this.decline(fw, call.decline.offer_ids ?? [], call.decline.filters?.refuse_seconds);
      case 'REVIVE':
        this.allocator.revive(fw.id, call.revive?.roles);
        for (const r of call.revive?.roles?.length ? call.revive.roles : fw.roles) fw.suppressedRoles.delete(r);
        this.persistFramework(fw);
        this.allocateSoon();
        return ACCEPTED;
      case 'SUPPRESS':
        this.allocator.suppress(fw.id, call.suppress?.roles);
        for (const r of call.suppress?.roles?.length ? call.suppress.roles : fw.roles) fw.suppressedRoles.add(r);
        this.persistFramework(fw);
        return ACCEPTED;
      case 'KILL':
        if (!call.kill?.task_id?.value) return bad("Failed to validate scheduler::Call: Expecting 'kill.task_id' to be present");
        return this.kill(fw, call.kill.task_id.value, call.kill.kill_policy);
      case 'SHUTDOWN':
        // Command tasks have no separate executor; shutting the executor down kills its task.
        if (!call.shutdown?.executor_id?.value) return bad("Failed to validate scheduler::Call: Expecting 'shutdown' to be present");
        return this.kill(fw, call.shutdown.executor_id.value, undefined);
      case 'ACKNOWLEDGE':
        return this.acknowledge(fw, call.acknowledge);
      case 'RECONCILE':
        return this.reconcile(fw, call.reconcile?.tasks ?? []);
      case 'MESSAGE': {
        const m = call.message;
        if (!m?.agent_id?.value || !m.executor_id?.value) return bad("Failed to validate scheduler::Call: Expecting 'message' to be present");
        const agent = this.agents.get(m.agent_id.value);
        if (agent?.sink) this.sendToAgent(agent, { type: 'FRAMEWORK_MESSAGE', framework_id: { value: fw.id }, executor_id: m.executor_id, data: m.data ?? '' });
        else this.metrics['master/dropped_messages']!++;
        return ACCEPTED;
      }
      case 'REQUEST':
        return ACCEPTED;
      case 'ACCEPT_INVERSE_OFFERS':
      case 'DECLINE_INVERSE_OFFERS':
        return ACCEPTED;
      case 'UPDATE_FRAMEWORK':
        return this.updateFramework(fw, call.update_framework);
      case 'ACKNOWLEDGE_OPERATION_STATUS':
      case 'RECONCILE_OPERATIONS':
        return ACCEPTED;
      default:
        return bad(`Failed to validate scheduler::Call: Unsupported call type '${String(call.type)}'`);
    }
  }

  private updateFramework(fw: FrameworkRecord, u: SchedulerCall['update_framework']): CallResult {
    const info = u?.framework_info;
    if (!info) return bad("Failed to validate scheduler::Call: Expecting 'update_framework' to be present");
    const err = validateFrameworkInfo(info);
    if (err) return bad(`Failed to validate scheduler::Call: ${err}`);
    if (info.id?.value && info.id.value !== fw.id) return bad("Failed to validate scheduler::Call: 'framework_info.id' differs from 'framework_id'");
    if ((info.principal ?? '') !== (fw.info.principal ?? '')) return bad("Updating 'FrameworkInfo.principal' is unsupported");
    if (info.user !== fw.info.user) return bad("Updating 'FrameworkInfo.user' is unsupported");
    if ((info.checkpoint ?? false) !== (fw.info.checkpoint ?? false)) return bad("Updating 'FrameworkInfo.checkpoint' is unsupported");
    fw.info = { ...info, id: { value: fw.id } };
    fw.roles = frameworkRoles(fw.info);
    if (u?.suppressed_roles) fw.suppressedRoles = new Set(u.suppressed_roles);
    this.allocator.updateFramework(fw.id, { roles: fw.roles, suppressedRoles: [...fw.suppressedRoles], active: fw.active });
    // Offers made for roles the framework left are rescinded.
    for (const offerId of [...fw.offers]) {
      const o = this.offers.get(offerId);
      if (o && !fw.roles.includes(o.role)) this.removeOffer(offerId, { rescind: true });
    }
    for (const agent of this.agents.values()) {
      if (agent.sink && [...agent.tasks.values()].some((r) => r.task.framework_id.value === fw.id)) {
        this.sendToAgent(agent, { type: 'UPDATE_FRAMEWORK', framework_id: { value: fw.id }, framework_info: fw.info });
      }
    }
    this.persistFramework(fw);
    void this.writer.flush();
    this.broadcast(() => ({ type: 'FRAMEWORK_UPDATED', framework_updated: { framework: this.frameworkView(fw) } }));
    this.allocateSoon();
    return { status: 200 };
  }

  /** TEARDOWN or failover expiry: kill everything the framework runs and forget it. */
  removeFramework(fw: FrameworkRecord, reason: string): void {
    if (fw.state === 'COMPLETED') return;
    this.log('info', `removing framework ${fw.id}: ${reason}`);
    for (const offerId of [...fw.offers]) this.removeOffer(offerId, { rescind: false });
    const agentsToNotify = new Set<AgentRecord>();
    for (const rec of [...fw.tasks.values(), ...fw.unreachableTasks.values()]) {
      const agent = this.agents.get(rec.task.agent_id.value);
      if (agent) agentsToNotify.add(agent);
      if (!isTerminal(rec.task.state)) {
        if (rec.task.state !== 'TASK_UNREACHABLE') this.releaseTaskResources(rec);
        rec.task.state = 'TASK_KILLED';
        rec.task.statuses = withStatus(rec.task.statuses, {
          task_id: rec.task.task_id,
          state: 'TASK_KILLED',
          source: 'SOURCE_MASTER',
          reason: 'REASON_FRAMEWORK_REMOVED',
          message: reason,
          timestamp: this.clock.nowMs() / 1000,
        });
        this.broadcast({
          type: 'TASK_UPDATED',
          task_updated: { framework_id: { value: fw.id }, status: rec.task.statuses[rec.task.statuses.length - 1], state: 'TASK_KILLED' },
        });
      }
      rec.pending = [];
      this.completeTask(fw, rec);
    }
    for (const agent of agentsToNotify) this.sendToAgent(agent, { type: 'SHUTDOWN_FRAMEWORK', framework_id: { value: fw.id } });
    fw.pendingTasks.clear();
    const sink = this.detachFramework(fw);
    fw.state = 'COMPLETED';
    fw.active = false;
    fw.unregisteredTimeMs = this.clock.nowMs();
    sink?.close();
    this.allocator.removeFramework(fw.id);
    this.frameworks.delete(fw.id);
    const evicted = this.completedFrameworks.push(fw);
    if (evicted) this.writer.delete(K_FRAMEWORK + evicted.id);
    this.persistFramework(fw);
    void this.writer.flush();
    this.broadcast({ type: 'FRAMEWORK_REMOVED', framework_removed: { framework_info: fw.info } });
    this.allocateSoon();
  }

  /** Cancels a framework's timers and takes its stream away (returned for the caller to close). */
  private detachFramework(fw: FrameworkRecord): EventSink | undefined {
    fw.failoverTimer?.cancel();
    fw.heartbeatTimer?.cancel();
    fw.failoverTimer = undefined;
    fw.heartbeatTimer = undefined;
    const sink = fw.sink;
    fw.sink = undefined;
    return sink;
  }

  private isCompletedFramework(id: string): boolean {
    for (const f of this.completedFrameworks) if (f.id === id) return true;
    return false;
  }

  private async accept(fw: FrameworkRecord, accept: NonNullable<SchedulerCall['accept']>): Promise<CallResult> {
    const offerIds = (accept.offer_ids ?? []).map((o) => o?.value);
    const operations = accept.operations ?? [];
    const refuseSeconds = clampRefuse(accept.filters?.refuse_seconds);
    const launches: TaskInfo[] = [];
    for (const op of operations) if (op?.type === 'LAUNCH') launches.push(...(op.launch?.task_infos ?? []));

    // Validate the offers: all known, all ours, all on one agent.
    let offerError: string | undefined;
    const records: OfferRecord[] = [];
    const seen = new Set<string>();
    for (const id of offerIds) {
      if (typeof id !== 'string') {
        offerError = 'Offer id is missing';
        continue;
      }
      if (seen.has(id)) {
        offerError = `Offer ${id} appears more than once`;
        continue;
      }
      seen.add(id);
      const o = this.offers.get(id);
      if (!o) offerError = `Offer ${id} is no longer valid`;
      else if (o.offer.framework_id.value !== fw.id) offerError = `Offer ${id} belongs to another framework`;
      else records.push(o);
    }
    if (offerIds.length === 0) offerError = 'No offers given';
    const agentId = records[0]?.offer.agent_id.value;
    if (records.some((r) => r.offer.agent_id.value !== agentId)) offerError = 'Offers span more than one agent';
    const agent = agentId ? this.agents.get(agentId) : undefined;
    if (!offerError && (!agent || agent.state !== 'REGISTERED')) offerError = `Agent ${agentId} is not registered`;

    let available: Resource[] = [];
    for (const r of records) {
      available = R.add(available, r.offer.resources);
      this.removeOffer(r.offer.id.value, { rescind: false, recover: false });
    }
    fw.counters.offers.accepted = (fw.counters.offers.accepted ?? 0) + records.length;

    if (offerError || !agent) {
      for (const t of launches) {
        // A retried ACCEPT whose first copy launched this id: the task is fine, say nothing.
        if (typeof t?.task_id?.value === 'string' && (fw.tasks.has(t.task_id.value) || fw.unreachableTasks.has(t.task_id.value))) continue;
        this.dropTask(fw, t, 'REASON_INVALID_OFFERS', offerError ?? 'invalid offers');
      }
      if (agent && agent.state === 'REGISTERED' && available.length > 0) {
        this.allocator.recoverResources(fw.id, agent.id, R.unallocated(available));
      }
      this.allocateSoon();
      return ACCEPTED;
    }

    const launched: TaskRecord[] = [];
    const role = records[0]?.role ?? '*';
    for (const op of operations) {
      if (op?.type !== 'LAUNCH') {
        this.log('warn', `framework ${fw.id}: operation ${String(op?.type)} is not supported yet; ignored`);
        continue;
      }
      for (const t0 of op.launch?.task_infos ?? []) {
        // Like Mesos, resources without allocation_info are taken to be allocated to the offer's role.
        const t =
          t0 && Array.isArray(t0.resources)
            ? { ...t0, resources: t0.resources.map((r) => (r && !r.allocation_info ? { ...r, allocation_info: { role } } : r)) }
            : t0;
        const err = this.validateTask(fw, t, agent, available);
        if (err) {
          this.errorTask(fw, t, agent.id, err);
          continue;
        }
        const used = R.normalize(t.resources ?? []);
        available = R.subtract(available, used);
        const rec = this.addTask(fw, agent, t, used);
        launched.push(rec);
      }
    }
    if (available.length > 0) {
      this.allocator.recoverResources(fw.id, agent.id, R.unallocated(available), { refuseSeconds, nowMs: this.clock.nowMs() });
    }
    // The tasks are stored before the agent hears of them, so a master restart cannot forget them.
    await this.writer.flush();
    let notSent = false;
    for (const rec of launched) {
      const info = rec.launch;
      rec.launch = undefined;
      if (rec.killRequested) {
        // Killed while it was being stored: it never runs.
        this.transitionByMaster(fw, rec, 'TASK_KILLED', 'REASON_TASK_KILLED_DURING_LAUNCH', 'Killed before it was launched');
        continue;
      }
      if (!info) continue;
      if (!agent.sink) {
        // No command stream (reregistered and not yet subscribed, or the stream just broke): the
        // RUN_TASK would be lost and the task stay STAGING for good (sim seed 5 with Marathon).
        const state: TaskState = hasCapability(fw.info, 'PARTITION_AWARE') ? 'TASK_DROPPED' : 'TASK_LOST';
        this.transitionByMaster(fw, rec, state, 'REASON_AGENT_DISCONNECTED', 'The agent has no command stream; the task was not sent to it');
        notSent = true;
        continue;
      }
      this.sendToAgent(agent, { type: 'RUN_TASK', framework_id: { value: fw.id }, framework_info: fw.info, task: info });
    }
    if (notSent || launched.some((r) => r.killRequested)) void this.writer.flush();
    return ACCEPTED;
  }

  private validateTask(fw: FrameworkRecord, t: TaskInfo, agent: AgentRecord, available: Resource[]): string | undefined {
    if (!t || typeof t !== 'object') return 'Task is not an object';
    if (typeof t.name !== 'string') return "Task is missing 'name'";
    const id = t.task_id?.value;
    if (typeof id !== 'string' || id === '') return "Task is missing 'task_id'";
    if (/[\s/]|^\.\.?$/.test(id)) return `Task ID '${id}' contains invalid characters`;
    if (fw.tasks.has(id) || fw.unreachableTasks.has(id)) return `Task has duplicate ID: ${id}`;
    if (t.agent_id?.value !== agent.id) return `Task uses invalid agent: ${String(t.agent_id?.value)}`;
    if (t.executor && t.command) return 'Task should have at most one of CommandInfo or ExecutorInfo present';
    if (!t.executor && !t.command) return 'Task should have at least one of CommandInfo or ExecutorInfo present';
    if (t.executor) return 'Custom executors are not supported yet; use a command task';
    if (t.command && t.command.shell !== false && !t.command.value && !t.container) return 'Command task with shell=true needs a command value';
    if (t.command && t.command.shell === false && !t.command.value && !t.command.arguments?.length)
      return 'Command task with shell=false needs a value or arguments';
    const rerr = R.validateResources(t.resources ?? []);
    if (rerr) return rerr;
    const used = R.normalize(t.resources ?? []);
    if (used.length === 0) return 'Task uses no resources';
    if (!R.contains(available, used)) {
      return `Task uses more resources ${JSON.stringify(R.toLegacy(used))} than available ${JSON.stringify(R.toLegacy(available))}`;
    }
    return undefined;
  }

  private addTask(fw: FrameworkRecord, agent: AgentRecord, t: TaskInfo, used: Resource[]): TaskRecord {
    const task: Task = {
      name: t.name,
      task_id: t.task_id,
      framework_id: { value: fw.id },
      agent_id: { value: agent.id },
      state: 'TASK_STAGING',
      resources: used,
      statuses: [],
    };
    if (t.executor) task.executor_id = t.executor.executor_id ?? { value: '' };
    if (t.labels) task.labels = t.labels;
    if (t.discovery) task.discovery = t.discovery;
    if (t.container) task.container = t.container;
    if (t.health_check) task.health_check = t.health_check;
    if (t.kill_policy) task.kill_policy = t.kill_policy;
    if (t.limits) task.limits = t.limits;
    task.user = t.command?.user ?? fw.info.user;
    this.compactTask(task);
    const rec: TaskRecord = {
      task,
      pending: [],
      storedHead: undefined,
      sentHead: undefined,
      lastSentMs: 0,
      killRequested: false,
      unreachableTimeMs: undefined,
      launch: t,
    };
    fw.tasks.set(t.task_id.value, rec);
    agent.tasks.set(taskKey(task), rec);
    this.persistTask(rec);
    this.broadcast({ type: 'TASK_ADDED', task_added: { task } });
    return rec;
  }

  /** A launch that fails validation: TASK_ERROR from the master, no uuid. */
  private errorTask(fw: FrameworkRecord, t: TaskInfo, agentId: string, message: string): void {
    const taskId = t?.task_id ?? { value: '' };
    this.sendEvent(fw, {
      type: 'UPDATE',
      update: {
        status: {
          task_id: taskId,
          state: 'TASK_ERROR',
          source: 'SOURCE_MASTER',
          reason: 'REASON_TASK_INVALID',
          message,
          agent_id: { value: agentId },
          timestamp: this.clock.nowMs() / 1000,
        },
      },
    });
  }

  /** A launch on invalid offers: TASK_DROPPED for partition-aware frameworks, TASK_LOST otherwise. */
  private dropTask(fw: FrameworkRecord, t: TaskInfo, reason: StatusReason, message: string): void {
    this.metrics['master/tasks_dropped']!++;
    const state: TaskState = hasCapability(fw.info, 'PARTITION_AWARE') ? 'TASK_DROPPED' : 'TASK_LOST';
    this.sendEvent(fw, {
      type: 'UPDATE',
      update: {
        status: {
          task_id: t?.task_id ?? { value: '' },
          state,
          source: 'SOURCE_MASTER',
          reason,
          message,
          ...(t?.agent_id ? { agent_id: t.agent_id } : {}),
          timestamp: this.clock.nowMs() / 1000,
        },
      },
    });
  }

  private decline(fw: FrameworkRecord, offerIds: Id[], refuse: number | undefined): CallResult {
    const refuseSeconds = clampRefuse(refuse);
    for (const o of offerIds) {
      const rec = this.offers.get(o?.value);
      if (!rec || rec.offer.framework_id.value !== fw.id) continue;
      this.removeOffer(rec.offer.id.value, { rescind: false, recover: false });
      this.allocator.recoverResources(fw.id, rec.offer.agent_id.value, R.unallocated(rec.offer.resources), {
        refuseSeconds,
        nowMs: this.clock.nowMs(),
      });
      this.metrics['master/offers_declined']!++;
      fw.counters.offers.declined = (fw.counters.offers.declined ?? 0) + 1;
      // What was declined is free again on that agent only: a cycle over it offers it to others.
      this.allocateSoon(rec.offer.agent_id.value);
    }
    return ACCEPTED;
  }

  private kill(fw: FrameworkRecord, taskId: string, killPolicy: Task['kill_policy']): CallResult {
    const rec = fw.tasks.get(taskId);
    if (!rec) {
      const u = fw.unreachableTasks.get(taskId);
      if (u) {
        // The agent cannot be told now; the kill is delivered when it comes back.
        u.killRequested = true;
        this.persistTask(u);
        return ACCEPTED;
      }
      this.sendEvent(fw, {
        type: 'UPDATE',
        update: {
          status: {
            task_id: { value: taskId },
            state: 'TASK_LOST',
            source: 'SOURCE_MASTER',
            reason: 'REASON_RECONCILIATION',
            message: 'Attempted to kill an unknown task',
            timestamp: this.clock.nowMs() / 1000,
          },
        },
      });
      return ACCEPTED;
    }
    if (isTerminal(rec.task.state)) return ACCEPTED;
    rec.killRequested = true;
    if (killPolicy) rec.task.kill_policy = killPolicy;
    // Still waiting for the store before its RUN_TASK goes out: accept() will not launch it.
    if (rec.launch) return ACCEPTED;
    this.persistTask(rec);
    void this.writer.flush();
    const agent = this.agents.get(rec.task.agent_id.value);
    if (agent?.sink) {
      this.sendToAgent(agent, {
        type: 'KILL_TASK',
        framework_id: { value: fw.id },
        task_id: { value: taskId },
        ...((killPolicy ?? rec.task.kill_policy) ? { kill_policy: killPolicy ?? rec.task.kill_policy } : {}),
      });
    }
    return ACCEPTED;
  }

  private acknowledge(fw: FrameworkRecord, ack: SchedulerCall['acknowledge']): CallResult {
    if (!ack?.task_id?.value || !ack.agent_id?.value || typeof ack.uuid !== 'string') {
      return bad("Failed to validate scheduler::Call: Expecting 'acknowledge' with agent_id, task_id and uuid");
    }
    const taskId = ack.task_id.value;
    const rec = fw.tasks.get(taskId) ?? fw.unreachableTasks.get(taskId);
    const head = rec?.pending[0];
    if (!rec || !head || head.uuid !== ack.uuid) {
      this.metrics['master/invalid_status_update_acknowledgements']!++;
      return ACCEPTED;
    }
    this.metrics['master/valid_status_update_acknowledgements']!++;
    const acked = rec.pending[0] as TaskStatus;
    // A new array rather than shift(): an emptied array keeps its backing store (~140 bytes).
    rec.pending = rec.pending.length > 1 ? rec.pending.slice(1) : [];
    if (rec.pending.length > 0) this.forwardHead(fw, rec);
    else {
      fw.pendingTasks.delete(rec);
      rec.task.status_update_state = rec.task.state;
    }
    // Done once the framework has acknowledged the terminal update itself (the task's state may be
    // terminal earlier, when the agent reported it on reregistration).
    if (isTerminal(acked.state) && rec.pending.length === 0) this.completeTask(fw, rec);
    else this.persistTask(rec);
    void this.writer.flush();
    return ACCEPTED;
  }

  private reconcile(fw: FrameworkRecord, tasks: { task_id?: Id; agent_id?: Id }[]): CallResult {
    const now = this.clock.nowMs() / 1000;
    const pa = hasCapability(fw.info, 'PARTITION_AWARE');
    const send = (taskId: Id, state: TaskState, message: string, agentId?: Id, extra?: Partial<TaskStatus>): void => {
      this.sendEvent(fw, {
        type: 'UPDATE',
        update: {
          status: {
            task_id: taskId,
            state,
            source: 'SOURCE_MASTER',
            reason: 'REASON_RECONCILIATION',
            message,
            ...(agentId ? { agent_id: agentId } : {}),
            timestamp: now,
            ...extra,
          },
        },
      });
    };
    const latest = (rec: TaskRecord): Partial<TaskStatus> => {
      const last = rec.task.statuses[rec.task.statuses.length - 1];
      const extra: Partial<TaskStatus> = {};
      if (last?.healthy !== undefined) extra.healthy = last.healthy;
      if (last?.container_status) extra.container_status = last.container_status;
      if (last?.labels) extra.labels = last.labels;
      return extra;
    };
    if (tasks.length === 0) {
      for (const rec of fw.tasks.values()) send(rec.task.task_id, rec.task.state, 'Reconciliation: Latest task state', rec.task.agent_id, latest(rec));
      for (const rec of fw.unreachableTasks.values()) {
        send(rec.task.task_id, pa ? 'TASK_UNREACHABLE' : 'TASK_LOST', 'Reconciliation: Task is unreachable', rec.task.agent_id, {
          ...(rec.unreachableTimeMs !== undefined ? { unreachable_time: { nanoseconds: rec.unreachableTimeMs * 1e6 } } : {}),
        });
      }
      return ACCEPTED;
    }
    for (const t of tasks) {
      const id = t?.task_id?.value;
      if (!id) continue;
      const rec = fw.tasks.get(id);
      if (rec) {
        send(rec.task.task_id, rec.task.state, 'Reconciliation: Latest task state', rec.task.agent_id, latest(rec));
        continue;
      }
      const u = fw.unreachableTasks.get(id);
      if (u) {
        send(u.task.task_id, pa ? 'TASK_UNREACHABLE' : 'TASK_LOST', 'Reconciliation: Task is unreachable', u.task.agent_id);
        continue;
      }
      const done = fw.completedTasks.toArray().find((c) => c.task_id.value === id);
      if (done) {
        send(done.task_id, done.state, 'Reconciliation: Latest task state', done.agent_id);
        continue;
      }
      const agentId = t.agent_id?.value;
      const agent = agentId ? this.agents.get(agentId) : undefined;
      if (agent?.state === 'UNREACHABLE') send({ value: id }, pa ? 'TASK_UNREACHABLE' : 'TASK_LOST', 'Reconciliation: Task is unreachable', t.agent_id);
      else if (agent?.state === 'GONE') send({ value: id }, pa ? 'TASK_GONE_BY_OPERATOR' : 'TASK_LOST', 'Reconciliation: Task is gone', t.agent_id);
      else if (agent?.state === 'RECOVERED') {
        // The agent has not reregistered yet since the master restarted: no answer yet (Mesos does the same).
      } else if (agent) send({ value: id }, pa ? 'TASK_GONE' : 'TASK_LOST', 'Reconciliation: Task is unknown to the agent', t.agent_id);
      else send({ value: id }, pa ? 'TASK_UNKNOWN' : 'TASK_LOST', 'Reconciliation: Task is unknown', t.agent_id);
    }
    return ACCEPTED;
  }

  // ---------------------------------------------------------------------------------------------
  // Offers

  /**
   * Runs an allocation soon (coalescing bursts of events into one cycle). With `agentId` (an agent
   * that was added or came back, or whose resources were freed: a task ended, an offer was
   * declined or rescinded) the cycle covers only the agents named so, unless something asked for
   * a full cycle meanwhile: 10,000 agents reregistering after a restart, each offer declined,
   * then cost a cycle over that agent, not one over the cluster. Changes that are not about one
   * agent (a framework subscribing or reviving, weights, quota) and the periodic cycle cover every
   * agent.
   */
  allocateSoon(agentId?: string): void {
    if (!this.recovered || this.stopped) return;
    if (agentId === undefined) this.allocateAll = true;
    else if (!this.allocateAll) this.allocateAgents.add(agentId);
    if (this.allocationSoon) return;
    this.allocationSoon = this.clock.setTimer(0, () => {
      this.allocationSoon = undefined;
      const only = this.allocateAll ? undefined : this.allocateAgents;
      this.allocateAll = false;
      this.allocateAgents = new Set();
      this.runAllocation(only);
    });
  }

  runAllocation(agentIds?: ReadonlySet<string>): void {
    if (!this.recovered) return;
    if (this.offers.size >= this.config.maxOutstandingOffers) return;
    const now = this.clock.nowMs();
    this.metrics['allocator/mesos/allocation_runs']!++;
    const allocations = this.allocator.allocate(now, agentIds);
    if (allocations.length === 0) return;
    const perFramework = new Map<string, Offer[]>();
    for (const a of allocations) {
      const offer = this.makeOffer(a, now);
      if (!offer) continue;
      let list = perFramework.get(a.frameworkId);
      if (!list) perFramework.set(a.frameworkId, (list = []));
      list.push(offer);
    }
    for (const [fwId, offers] of perFramework) {
      const fw = this.frameworks.get(fwId);
      if (!fw) continue;
      this.metrics['master/offers_sent']! += offers.length;
      fw.counters.offers.sent = (fw.counters.offers.sent ?? 0) + offers.length;
      this.sendEvent(fw, { type: 'OFFERS', offers: { offers } });
    }
  }

  private makeOffer(a: Allocation, now: number): Offer | undefined {
    const fw = this.frameworks.get(a.frameworkId);
    const agent = this.agents.get(a.agentId);
    if (!fw || !fw.sink || !agent || agent.state !== 'REGISTERED') {
      this.allocator.recoverResources(a.frameworkId, a.agentId, R.unallocated(a.resources));
      return undefined;
    }
    const id = `${this.id}-O${this.nextOfferNum++}`;
    const offer: Offer = {
      id: { value: id },
      framework_id: { value: fw.id },
      agent_id: { value: agent.id },
      hostname: agent.info.hostname,
      url: {
        scheme: 'http',
        address: { hostname: agent.info.hostname, ip: agent.ip, port: agent.info.port ?? 5051 },
        path: '/slave(1)',
      },
      resources: R.allocatedTo(a.resources, a.role),
      allocation_info: { role: a.role },
    };
    if (agent.info.attributes?.length) offer.attributes = agent.info.attributes;
    if (agent.info.domain) offer.domain = agent.info.domain;
    const rec: OfferRecord = { offer, role: a.role, createdMs: now, timer: undefined };
    if (this.config.offerTimeoutMs > 0) {
      rec.timer = this.clock.setTimer(this.config.offerTimeoutMs, () => {
        if (this.offers.has(id)) this.removeOffer(id, { rescind: true });
      });
    }
    this.offers.set(id, rec);
    fw.offers.add(id);
    agent.offers.add(id);
    return offer;
  }

  /** Forgets an offer; by default gives its resources back, and tells the framework if `rescind`. */
  private removeOffer(offerId: string, opts: { rescind: boolean; recover?: boolean }): void {
    const rec = this.offers.get(offerId);
    if (!rec) return;
    rec.timer?.cancel();
    this.offers.delete(offerId);
    const fw = this.frameworks.get(rec.offer.framework_id.value);
    const agent = this.agents.get(rec.offer.agent_id.value);
    fw?.offers.delete(offerId);
    agent?.offers.delete(offerId);
    if (opts.recover !== false && agent?.state === 'REGISTERED') {
      this.allocator.recoverResources(rec.offer.framework_id.value, rec.offer.agent_id.value, R.unallocated(rec.offer.resources));
    }
    if (opts.rescind && fw) {
      this.metrics['master/offers_rescinded']!++;
      fw.counters.offers.rescinded = (fw.counters.offers.rescinded ?? 0) + 1;
      this.sendEvent(fw, { type: 'RESCIND', rescind: { offer_id: { value: offerId } } });
      this.allocateSoon(rec.offer.agent_id.value);
    }
  }

  private rescindAgentOffers(agent: AgentRecord): void {
    for (const id of [...agent.offers]) this.removeOffer(id, { rescind: true, recover: agent.state === 'REGISTERED' });
  }

  // ---------------------------------------------------------------------------------------------
  // Operator

  operatorSubscribe(sink: EventSink): void {
    this.operatorSinks.add(sink);
    sink.onClose(() => this.operatorSinks.delete(sink));
  }

  /**
   * Sends an event to every operator subscriber. A function is only called when someone listens,
   * so views that cost O(tasks) to build (framework views) are never built for nobody.
   */
  broadcast(event: ({ type: string } & Record<string, unknown>) | (() => { type: string } & Record<string, unknown>)): void {
    if (this.operatorSinks.size === 0) return;
    const e = typeof event === 'function' ? event() : event;
    for (const s of this.operatorSinks) if (!s.send(e)) this.operatorSinks.delete(s);
  }

  async updateWeights(weights: { role: string; weight: number }[]): Promise<CallResult> {
    const current = this.allocator.getWeights();
    for (const w of weights) {
      if (typeof w?.role !== 'string' || w.role === '' || typeof w.weight !== 'number' || !(w.weight > 0)) {
        return bad('Invalid weight: each entry needs a role and a positive weight');
      }
      current[w.role] = w.weight;
    }
    this.allocator.setWeights(current);
    this.writer.put(K_WEIGHTS, current);
    await this.writer.flush();
    this.allocateSoon();
    return ACCEPTED;
  }

  async updateQuota(
    configs: { role: string; guarantees?: Record<string, { value: number }>; limits?: Record<string, { value: number }> }[],
  ): Promise<CallResult> {
    for (const c of configs) {
      if (typeof c?.role !== 'string' || c.role === '' || c.role === '*') return bad('Invalid quota: a named role is required');
      const g = flattenQuantities(c.guarantees);
      const l = flattenQuantities(c.limits);
      if (typeof g === 'string') return bad(g);
      if (typeof l === 'string') return bad(l);
      for (const [k, v] of Object.entries(g)) {
        if (l[k] !== undefined && l[k] < v) return bad(`Invalid quota for role '${c.role}': guarantee of ${k} exceeds its limit`);
      }
      if (Object.keys(g).length === 0 && Object.keys(l).length === 0) {
        this.allocator.setQuota(c.role, undefined);
        this.writer.delete(K_QUOTA + c.role);
      } else {
        this.allocator.setQuota(c.role, { guarantees: g, limits: l });
        this.writer.put(K_QUOTA + c.role, { guarantees: g, limits: l });
      }
    }
    await this.writer.flush();
    this.allocateSoon();
    return ACCEPTED;
  }

  teardown(frameworkId: string): CallResult {
    const fw = this.frameworks.get(frameworkId);
    if (!fw) return bad(`No framework found with specified ID`);
    this.removeFramework(fw, 'Framework torn down by the operator');
    return ACCEPTED;
  }

  /**
   * Makes a task share what other tasks hold alike (see Interner): its resources, ids, labels,
   * discovery, container, health check, kill policy and limits, and its statuses' ids. Changes
   * no value, so no JSON either; returns the task.
   */
  private compactTask(task: Task): Task {
    const sh = this.shared;
    task.framework_id = sh.id(task.framework_id.value);
    task.agent_id = sh.id(task.agent_id.value);
    if (Array.isArray(task.resources)) task.resources = sh.intern(task.resources);
    if (task.labels) task.labels = sh.intern(task.labels);
    if (task.discovery) task.discovery = sh.intern(task.discovery);
    if (task.container) task.container = sh.intern(task.container);
    if (task.health_check) task.health_check = sh.intern(task.health_check);
    if (task.kill_policy) task.kill_policy = sh.intern(task.kill_policy);
    if (task.limits) task.limits = sh.intern(task.limits);
    if (Array.isArray(task.statuses)) {
      for (const s of task.statuses) {
        if (s?.task_id?.value === task.task_id.value) s.task_id = task.task_id;
        if (s?.agent_id?.value !== undefined) s.agent_id = sh.id(s.agent_id.value);
      }
    }
    return task;
  }

  // ---------------------------------------------------------------------------------------------
  // Views used by the API layer (shapes in views.ts)

  agentView(agent: AgentRecord): Record<string, unknown> {
    const used = this.agentUsedResources(agent);
    const offered = this.agentOfferedResources(agent);
    return {
      agent_info: agent.info,
      active: agent.state === 'REGISTERED',
      deactivated: false,
      version: agent.version,
      pid: agent.pid,
      registered_time: { nanoseconds: agent.registeredTimeMs * 1e6 },
      ...(agent.reregisteredTimeMs ? { reregistered_time: { nanoseconds: agent.reregisteredTimeMs * 1e6 } } : {}),
      total_resources: agent.info.resources,
      allocated_resources: used,
      offered_resources: offered,
      capabilities: [{ type: 'MULTI_ROLE' }, { type: 'HIERARCHICAL_ROLE' }, { type: 'RESERVATION_REFINEMENT' }],
    };
  }

  /**
   * The sum of the resources of an agent's running (not terminal, not unreachable) tasks. Kept
   * per agent and summed again only when the lists it sums are no longer the same objects in the
   * same order (a pass of pointer compares over the agent's tasks), so the state views, which ask
   * for every agent's, redo only the agents whose tasks changed. Shared between callers: do not
   * change the result.
   */
  agentUsedResources(agent: AgentRecord): Resource[] {
    const from: Resource[][] = [];
    for (const rec of agent.tasks.values()) {
      if (isTerminal(rec.task.state) || rec.task.state === 'TASK_UNREACHABLE') continue;
      from.push(rec.task.resources);
    }
    const kept = this.usedByAgent.get(agent);
    if (kept && kept.from.length === from.length && kept.from.every((rs, i) => rs === from[i])) return kept.used;
    const used = sumOfLists(from);
    this.usedByAgent.set(agent, { from, used });
    return used;
  }

  agentOfferedResources(agent: AgentRecord): Resource[] {
    const offered: Resource[] = [];
    for (const id of agent.offers) {
      const o = this.offers.get(id);
      if (o) offered.push(...o.offer.resources);
    }
    return R.normalize(offered);
  }

  frameworkView(fw: FrameworkRecord): Record<string, unknown> {
    const from: Resource[][] = [];
    for (const rec of fw.tasks.values()) if (!isTerminal(rec.task.state)) from.push(rec.task.resources);
    const allocated = sumOfLists(from);
    const offered: Resource[] = [];
    const offers: Offer[] = [];
    for (const id of fw.offers) {
      const o = this.offers.get(id);
      if (o) {
        offered.push(...o.offer.resources);
        offers.push(o.offer);
      }
    }
    return {
      framework_info: fw.info,
      active: fw.active,
      connected: fw.state === 'CONNECTED',
      recovered: fw.state === 'RECOVERED',
      registered_time: { nanoseconds: fw.registeredTimeMs * 1e6 },
      ...(fw.reregisteredTimeMs ? { reregistered_time: { nanoseconds: fw.reregisteredTimeMs * 1e6 } } : {}),
      ...(fw.unregisteredTimeMs ? { unregistered_time: { nanoseconds: fw.unregisteredTimeMs * 1e6 } } : {}),
      ...(offers.length ? { offers } : {}),
      ...(from.some((rs) => rs.length > 0) ? { allocated_resources: allocated } : {}),
      ...(offered.length ? { offered_resources: R.normalize(offered) } : {}),
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Plumbing

  private newFrameworkRecord(id: string, info: FrameworkInfo, nowMs: number): FrameworkRecord {
    return {
      id,
      info: { ...info, id: { value: id } },
      state: 'CONNECTED',
      active: true,
      roles: frameworkRoles(info),
      suppressedRoles: new Set(),
      sink: undefined,
      streamId: undefined,
      remoteAddress: undefined,
      registeredTimeMs: nowMs,
      reregisteredTimeMs: undefined,
      unregisteredTimeMs: undefined,
      failoverTimer: undefined,
      heartbeatTimer: undefined,
      tasks: new Map(),
      unreachableTasks: new Map(),
      completedTasks: new RingBuffer(this.config.maxCompletedTasksPerFramework),
      pendingTasks: new Set(),
      offers: new Set(),
      counters: { calls: {}, events: {}, offers: {} },
    };
  }

  private sendEvent(fw: FrameworkRecord, event: { type: string } & Record<string, unknown>): void {
    const sink = fw.sink;
    if (!sink) return;
    fw.counters.events[event.type] = (fw.counters.events[event.type] ?? 0) + 1;
    if (!sink.send(event)) {
      this.log('warn', `framework ${fw.id} is too slow to keep up with its event stream; disconnecting it`);
      sink.close();
    }
  }

  private sendToAgent(agent: AgentRecord, command: AgentCommand): void {
    if (!agent.sink) {
      if ((command.type === 'KILL_TASK' || command.type === 'SHUTDOWN_FRAMEWORK') && agent.state === 'REGISTERED') {
        // Delivered when the agent's stream reopens; bounded, oldest dropped.
        if (agent.pendingCommands.length >= MAX_PENDING_AGENT_COMMANDS) {
          agent.pendingCommands.shift();
          this.metrics['master/dropped_messages']!++;
        }
        agent.pendingCommands.push(command);
      } else this.metrics['master/dropped_messages']!++;
      return;
    }
    if (!agent.sink.send(command)) {
      this.log('warn', `agent ${agent.id} is too slow to keep up with its command stream; disconnecting it`);
      agent.sink.close();
    }
  }

  private persistAgent(agent: AgentRecord): void {
    const s: StoredAgent = {
      info: agent.info,
      ip: agent.ip,
      state: agent.state,
      version: agent.version,
      registeredTimeMs: agent.registeredTimeMs,
      ...(agent.reregisteredTimeMs !== undefined ? { reregisteredTimeMs: agent.reregisteredTimeMs } : {}),
      ...(agent.unreachableTimeMs !== undefined ? { unreachableTimeMs: agent.unreachableTimeMs } : {}),
      ...(agent.session !== undefined ? { session: agent.session } : {}),
    };
    this.writer.put(K_AGENT + agent.id, s);
  }

  private persistFramework(fw: FrameworkRecord): void {
    const s: StoredFramework = {
      info: fw.info,
      completed: fw.state === 'COMPLETED',
      registeredTimeMs: fw.registeredTimeMs,
      ...(fw.unregisteredTimeMs !== undefined ? { unregisteredTimeMs: fw.unregisteredTimeMs } : {}),
      suppressedRoles: [...fw.suppressedRoles],
    };
    this.writer.put(K_FRAMEWORK + fw.id, s);
  }

  private persistTask(rec: TaskRecord): void {
    const s: StoredTask = {
      task: rec.task,
      pending: rec.pending,
      killRequested: rec.killRequested,
      ...(rec.unreachableTimeMs !== undefined ? { unreachableTimeMs: rec.unreachableTimeMs } : {}),
    };
    const head = rec.pending[0]?.uuid;
    this.writer.put(taskStoreKey(rec.task), s, () => this.headStored(rec, head));
  }

  private persistMeta(): void {
    this.writer.put(K_META, { frameworkNum: this.nextFrameworkNum, agentNum: this.nextAgentNum });
  }

  /** Resolves when every change made so far is durable (tests and the simulator use it). */
  flush(): Promise<void> {
    return this.writer.flush();
  }
}

/**
 * The statuses with `status` appended, at most MAX_STATUSES_PER_TASK (oldest dropped), in a new
 * array of exactly that length: an array grown by push() keeps room for 16 more (~130 bytes).
 */
function withStatus(statuses: TaskStatus[], status: TaskStatus): TaskStatus[] {
  const from = Math.max(0, statuses.length + 1 - MAX_STATUSES_PER_TASK);
  // concat allocates the exact length (push and spread leave slack).
  return (from > 0 ? statuses.slice(from) : statuses).concat([status]);
}

/** The scheduler Call as parsed from JSON (only the fields the master reads). */
export interface SchedulerCall {
  type: string;
  framework_id?: Id;
  subscribe?: { framework_info?: FrameworkInfo; suppressed_roles?: string[] };
  accept?: { offer_ids?: Id[]; operations?: { type: string; launch?: { task_infos?: TaskInfo[] } }[]; filters?: { refuse_seconds?: number } };
  decline?: { offer_ids?: Id[]; filters?: { refuse_seconds?: number } };
  revive?: { roles?: string[] };
  suppress?: { roles?: string[] };
  kill?: { task_id?: Id; agent_id?: Id; kill_policy?: Task['kill_policy'] };
  shutdown?: { executor_id?: Id; agent_id?: Id };
  acknowledge?: { agent_id?: Id; task_id?: Id; uuid?: string };
  reconcile?: { tasks?: { task_id?: Id; agent_id?: Id }[] };
  message?: { agent_id?: Id; executor_id?: Id; data?: string };
  update_framework?: { framework_info?: FrameworkInfo; suppressed_roles?: string[] };
}

export const SCHEDULER_CALL_TYPES = new Set([
  'SUBSCRIBE',
  'TEARDOWN',
  'ACCEPT',
  'DECLINE',
  'ACCEPT_INVERSE_OFFERS',
  'DECLINE_INVERSE_OFFERS',
  'REVIVE',
  'KILL',
  'SHUTDOWN',
  'ACKNOWLEDGE',
  'ACKNOWLEDGE_OPERATION_STATUS',
  'RECONCILE',
  'RECONCILE_OPERATIONS',
  'MESSAGE',
  'REQUEST',
  'SUPPRESS',
  'UPDATE_FRAMEWORK',
]);

function validateFrameworkInfo(info: FrameworkInfo): string | undefined {
  if (typeof info !== 'object') return 'framework_info must be an object';
  if (typeof info.user !== 'string') return "Missing required field 'user' in FrameworkInfo";
  if (typeof info.name !== 'string') return "Missing required field 'name' in FrameworkInfo";
  if (info.failover_timeout !== undefined && (typeof info.failover_timeout !== 'number' || info.failover_timeout < 0)) {
    return 'failover_timeout must be a non-negative number';
  }
  const roles = frameworkRoles(info);
  for (const r of roles) {
    if (typeof r !== 'string' || r === '' || r === '.' || r === '..' || /[\s/]/.test(r)) return `Role '${String(r)}' is invalid`;
  }
  if (!hasCapability(info, 'MULTI_ROLE') && info.roles && info.roles.length > 0) {
    return "'FrameworkInfo.roles' is set but the framework lacks the MULTI_ROLE capability";
  }
  return undefined;
}

function validateAgentInfo(info: AgentInfo): string | undefined {
  if (!info || typeof info !== 'object') return 'agent_info is required';
  if (typeof info.hostname !== 'string' || info.hostname === '') return 'agent_info.hostname is required';
  return R.validateResources(info.resources ?? []);
}

function clampRefuse(v: number | undefined): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) return REFUSE_SECONDS_DEFAULT;
  return Math.min(v, REFUSE_SECONDS_MAX);
}

function flattenQuantities(q: Record<string, { value: number }> | undefined): Record<string, number> | string {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(q ?? {})) {
    const n = typeof v === 'number' ? v : v?.value;
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) return `Invalid quota quantity for '${k}'`;
    out[k] = n;
  }
  return out;
}

/**
 * The statuses of a task an agent reports on reregistering that some master already took: those
 * before its unacknowledged head (`status_update_uuid`). The agent resends that head and what
 * follows it, and they must reach the framework in order, so they must not count as taken (a
 * restarted master that adopted a task reported TASK_KILLING answered the resent TASK_KILLING
 * as a duplicate and forwarded only the TASK_KILLED after it: sim seed 116). Without a head
 * none counts: the agent records a status a moment before it queues it, so its last ones may
 * still be on their way (sim seed 33 at 60 x 3 x 20). Forwarding an update another master took
 * is safe: the agent resends only its head, so that is at worst a duplicate of the last update
 * the framework saw.
 */
function takenStatuses(t: Task): TaskStatus[] {
  const all = t.statuses ?? [];
  const head = t.status_update_uuid;
  const i = head === undefined ? -1 : all.findIndex((s) => s.uuid === head);
  return i < 0 ? [] : all.slice(0, i);
}

export function taskKey(t: Task): string {
  return `${t.framework_id.value}/${t.task_id.value}`;
}

function taskStoreKey(t: Task): string {
  return `${K_TASK}${t.framework_id.value}/${t.task_id.value}`;
}

function newAgentRecord(id: string, info: AgentInfo, call: { ip: string; version: string }, nowMs: number): AgentRecord {
  return {
    id,
    info,
    ip: call.ip,
    pid: agentPid(call.ip, info.port ?? 5051),
    state: 'REGISTERED',
    version: call.version,
    sink: undefined,
    lastSeenMs: nowMs,
    registeredTimeMs: nowMs,
    reregisteredTimeMs: undefined,
    unreachableTimeMs: undefined,
    session: undefined,
    tasks: new Map(),
    offers: new Set(),
    pendingCommands: [],
    strayKills: new Map(),
  };
}

export function agentPid(ip: string, port: number): string {
  return `slave(1)@${ip}:${port}`;
}

export function ipToInt(ip: string): number {
  const p = ip.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) return 0;
  // Mesos packs the address in network byte order read as a little-endian integer.
  return ((p[3]! << 24) | (p[2]! << 16) | (p[1]! << 8) | p[0]!) >>> 0;
}

export { assert };
