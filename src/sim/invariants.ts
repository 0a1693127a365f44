import { isTerminal, type Offer, type Range, type Resource, type TaskInfo, type TaskState, type TaskStatus } from '../model/mesos.js';
import type { AgentRecord, Master } from '../services/master/master.js';
import type { AgentObserver } from './agent.js';
import type { FrameworkObserver, SimFramework } from './framework.js';
import type { MasterHost } from './master-host.js';
import type { SimMarathonNode } from './marathon.js';
import type { AgentNode } from './node.js';

/**
 * The invariants the simulator checks after every step, and the convergence check once faults
 * have stopped. Each violation names what broke in words a bug report can quote.
 *
 * Safety (every step):
 *  1. No agent is oversubscribed: on every agent, the resources of the tasks it runs fit its
 *     total; in the master's books, tasks plus outstanding offers fit the agent's total.
 *  2. No offer is accepted twice: an offer id the master consumed never becomes valid again,
 *     and no framework is offered the same id twice.
 *  3. Every task a framework launched is known to the master or was reported terminal to the
 *     framework (with a grace period for launches lost in flight, which the framework's launch
 *     timeout and reconciliation must resolve).
 *  4. No status update the master acknowledged to an agent is lost, and none is reordered: a
 *     framework never receives update #i of a task after #j > i, nor skips one.
 *  5. The master never throws; agents and schedulers never see a command a correct master
 *     would not send.
 *  6. A task whose container the OOM killer ended is reported to its framework as TASK_FAILED
 *     with REASON_CONTAINER_LIMITATION_MEMORY (the first terminal update from its agent says so;
 *     the master may have ended it first, e.g. lost with a partitioned agent).
 *  7. marathon-overcapacity: Marathon (when the run has it) never keeps more live tasks of an
 *     app than its declared instances outside a deployment of that app for longer than a short
 *     grace (a task back from an unreachable agent beside its replacement is killed at once).
 *     During a deployment the bound is instances + floor(instances × maximumOverCapacity) of
 *     the app's current definition, with the same grace (a forced scale-down in the middle of
 *     a rolling restart sheds the surplus: src/sim/README.md, seed 50).
 * Liveness (after faults stop): the system converges (see `convergence`), Marathon's apps
 * included (see `marathonConvergence`).
 */

export interface Violation {
  invariant: string;
  message: string;
}

interface UpdateInfo {
  key: string;
  index: number;
  state: TaskState;
}

interface TaskTrack {
  /** Highest update index (agent sequence) the framework has received. */
  maxSeen: number;
  /** Update indices the master acknowledged to the agent. */
  acked: Set<number>;
  /** Indices the framework received. */
  received: Set<number>;
  /**
   * The master incarnation that ended the task itself (TASK_LOST with its agent, and the like),
   * 0 if none did. The framework may not hear that update (it is sent once, as in Mesos), and
   * the master drops the agent's updates still queued for the task and acknowledges later ones
   * without forwarding them while it remembers the task ended.
   */
  endedByMaster: number;
  /** Acknowledged indices the master dropped that way: not lost. */
  droppedAfterEnd: Set<number>;
}

interface LaunchTrack {
  fw: SimFramework;
  agentId: string;
  launchedMs: number;
  /** Virtual ms this launch has been unaccounted for while the master was up. */
  unaccountedMs: number;
  terminalSeen: boolean;
}

export interface CheckerOptions {
  /** A launch may stay unaccounted for this long (master up) before it is a violation. */
  unaccountedGraceMs: number;
  /** Injected bug: pretend agents have half their resources (shows the checker can fail). */
  brokenCapacity: boolean;
}

export class InvariantChecker {
  readonly violations: Violation[] = [];
  private readonly updates = new Map<string, UpdateInfo>();
  /** Next update index per task, in the order agents generated them (across agent restarts). */
  private readonly nextIndex = new Map<string, number>();
  private readonly perTask = new Map<string, TaskTrack>();
  private readonly launches = new Map<string, LaunchTrack>();
  private readonly consumedOffers = new Set<string>();
  private readonly seenOffers = new Map<SimFramework, Set<string>>();
  /** Tasks the OOM killer ended whose agent has not yet told the framework (`${fwId}/${taskId}`). */
  private readonly oomKilled = new Set<string>();
  /** OOM kills the framework heard about with the memory reason. */
  oomKillsReported = 0;
  private lastCheckMs = 0;
  /** Marathon in the run, if any (set by the cluster). */
  marathon: SimMarathonNode | undefined;
  /** Master incarnations started so far (see `masterStarted`). */
  private masterIncarnation = 0;
  /** Per Marathon app: virtual ms it has been over its task limit. */
  private readonly overSinceMs = new Map<string, number>();
  private launchElapsedMs = 0;
  /** Violations already returned by check(). */
  private reported = 0;
  checks = 0;

  constructor(
    private readonly host: MasterHost,
    private readonly agents: readonly AgentNode[],
    private readonly frameworks: readonly SimFramework[],
    private readonly options: CheckerOptions,
  ) {}

  private fail(invariant: string, message: string): void {
    if (this.violations.length < 100) this.violations.push({ invariant, message });
  }

  // --- observation hooks -----------------------------------------------------------------------

  readonly agentObserver: AgentObserver = {
    updateCreated: (_agent, fwId, status) => {
      if (!status.uuid) return;
      const key = `${fwId}/${status.task_id.value}`;
      const index = this.nextIndex.get(key) ?? 0;
      this.nextIndex.set(key, index + 1);
      this.updates.set(status.uuid, { key, index, state: status.state });
    },
    updateAcked: (_agent, fwId, status) => {
      if (!status.uuid) return;
      const info = this.updates.get(status.uuid);
      if (!info) return;
      const tr = this.track(`${fwId}/${status.task_id.value}`);
      tr.acked.add(info.index);
      // A straggler acknowledged by the master that ended the task. A later incarnation does not
      // know the task ended: what it acknowledges, it must forward (seed 116).
      if (tr.endedByMaster === this.masterIncarnation) tr.droppedAfterEnd.add(info.index);
    },
    anomaly: (agent, message) => this.fail('agent-protocol', `${agent.node}: ${message}`),
  };

  readonly frameworkObserver: FrameworkObserver = {
    launching: (fw, _offerIds, tasks: TaskInfo[]) => {
      for (const t of tasks) {
        this.launches.set(`${fw.options.name}/${t.task_id.value}`, {
          fw,
          agentId: t.agent_id.value,
          launchedMs: this.host.net.clock.nowMs(),
          unaccountedMs: 0,
          terminalSeen: false,
        });
      }
    },
    offersReceived: (fw, offers: Offer[]) => {
      let seen = this.seenOffers.get(fw);
      if (!seen) this.seenOffers.set(fw, (seen = new Set()));
      for (const o of offers) {
        if (seen.has(o.id.value)) this.fail('offer-once', `${fw.options.name} was offered ${o.id.value} twice`);
        seen.add(o.id.value);
      }
    },
    updateReceived: (fw, status: TaskStatus) => {
      if (status.reason === 'REASON_INVALID_OFFERS' && fw.frameworkId) {
        const rec = this.host.master?.frameworks.get(fw.frameworkId)?.tasks.get(status.task_id.value);
        if (rec && !isTerminal(rec.task.state)) {
          this.fail(
            'no-false-terminal',
            `${fw.options.name} was told ${status.state} (${status.message}) for task ${status.task_id.value}, which the master has ${rec.task.state}`,
          );
        }
      }
      const l = this.launches.get(`${fw.options.name}/${status.task_id.value}`);
      if (l && (isTerminal(status.state) || status.state === 'TASK_UNKNOWN')) l.terminalSeen = true;
      if (!status.uuid || !fw.frameworkId) return;
      this.checkOomReason(fw, status);
      const info = this.updates.get(status.uuid);
      if (!info) {
        this.fail('update-order', `${fw.options.name} received update ${status.uuid} (${status.state}) for ${status.task_id.value} that no agent sent`);
        return;
      }
      const tr = this.track(info.key);
      if (info.index < tr.maxSeen) {
        this.fail(
          'update-order',
          `${fw.options.name} received update #${info.index} (${info.state}) of task ${status.task_id.value} after update #${tr.maxSeen}: reordered`,
        );
      }
      for (let i = tr.maxSeen + 1; i < info.index; i++) {
        if (tr.acked.has(i) && !tr.received.has(i) && !tr.droppedAfterEnd.has(i)) {
          this.fail(
            'update-lost',
            `${fw.options.name} received update #${info.index} of task ${status.task_id.value} but never #${i}, which the master had acknowledged`,
          );
        }
      }
      tr.received.add(info.index);
      if (info.index > tr.maxSeen) tr.maxSeen = info.index;
    },
    anomaly: (fw, message) => this.fail('scheduler-protocol', `${fw.options.name}: ${message}`),
  };

  /**
   * A master incarnation starts (before it recovers): the checker follows its task updates on
   * the operator event stream, to know which tasks the master ended itself.
   */
  masterStarted(m: Master): void {
    const incarnation = ++this.masterIncarnation;
    let closed = false;
    const closers: (() => void)[] = [];
    m.operatorSubscribe({
      send: (e: unknown) => {
        const ev = e as { type: string; task_updated?: { framework_id: { value: string }; status: TaskStatus } };
        const u = ev.type === 'TASK_UPDATED' ? ev.task_updated : undefined;
        if (u && u.status.source === 'SOURCE_MASTER' && isTerminal(u.status.state)) {
          const tr = this.track(`${u.framework_id.value}/${u.status.task_id.value}`);
          tr.endedByMaster = incarnation;
          // The agent's updates still queued for the task are dropped with it.
          for (const i of tr.acked) if (!tr.received.has(i)) tr.droppedAfterEnd.add(i);
        }
        return !closed;
      },
      close: () => {
        closed = true;
        for (const f of closers.splice(0)) f();
      },
      get closed() {
        return closed;
      },
      onClose: (fn: () => void) => {
        closers.push(fn);
      },
    });
  }

  /** The fault injector's OOM kill of a task's container. */
  containerOomKilled(frameworkId: string, taskId: string): void {
    this.oomKilled.add(`${frameworkId}/${taskId}`);
  }

  /** Invariant 6: the first terminal update from the agent of an OOM-killed task names the memory limit. */
  private checkOomReason(fw: SimFramework, status: TaskStatus): void {
    const key = `${fw.frameworkId}/${status.task_id.value}`;
    if (!this.oomKilled.has(key) || !status.uuid || status.source === 'SOURCE_MASTER' || !isTerminal(status.state)) return;
    this.oomKilled.delete(key);
    if (status.state === 'TASK_FAILED' && status.reason === 'REASON_CONTAINER_LIMITATION_MEMORY') this.oomKillsReported++;
    else
      this.fail(
        'oom-reason',
        `${fw.options.name} was told ${status.state} (${status.reason ?? 'no reason'}: ${status.message ?? ''}) for task ${status.task_id.value}, whose container the OOM killer ended`,
      );
  }

  private track(key: string): TaskTrack {
    let t = this.perTask.get(key);
    if (!t) this.perTask.set(key, (t = { maxSeen: -1, acked: new Set(), received: new Set(), endedByMaster: 0, droppedAfterEnd: new Set() }));
    return t;
  }

  /**
   * Called with each ACCEPT or DECLINE just before the master handles it; the returned function
   * runs right after the master's synchronous part, which is where offers are consumed.
   */
  aroundOfferCall(master: Master, offerIds: string[], accept: boolean): () => void {
    const valid = offerIds.filter((id) => master.offers.has(id));
    for (const id of valid) {
      if (this.consumedOffers.has(id)) this.fail('offer-once', `offer ${id} is valid again after it was ${accept ? 'accepted' : 'used'}`);
    }
    return () => {
      for (const id of valid) if (!master.offers.has(id)) this.consumedOffers.add(id);
    };
  }

  // --- per-step checks -------------------------------------------------------------------------

  /** Runs the safety checks. Returns the violations found in this step. */
  check(nowMs: number): Violation[] {
    this.checks++;
    const elapsed = this.lastCheckMs === 0 ? 0 : nowMs - this.lastCheckMs;
    this.lastCheckMs = nowMs;
    for (const e of this.host.errors.splice(0)) this.fail('master-exception', e);
    this.checkAgentsRunWithinResources();
    this.checkMarathonCapacity(nowMs);
    const m = this.host.master;
    if (m?.recovered) {
      this.checkMasterBooks(m);
      // Launch accounting has a grace of minutes: once a second is plenty.
      this.launchElapsedMs += elapsed;
      if (this.launchElapsedMs >= 1000) {
        this.checkLaunchesAccounted(m, this.launchElapsedMs);
        this.launchElapsedMs = 0;
      }
    }
    // Including what the observers found during the step's events.
    const fresh = this.violations.slice(this.reported);
    this.reported = this.violations.length;
    return fresh;
  }

  /** Invariant 7 (see the top of the file). */
  private checkMarathonCapacity(nowMs: number): void {
    const mar = this.marathon?.marathon;
    if (!mar) return;
    const deploying = new Set<string>();
    for (const d of mar.deployments.values()) for (const a of d.affectedApps) deploying.add(a);
    for (const app of mar.apps.values()) {
      let live = 0;
      for (const i of mar.tasksOf(app.id)) {
        if (i.killing || i.inactive || isTerminal(i.state) || i.state === 'TASK_UNREACHABLE' || i.state === 'TASK_UNKNOWN') continue;
        live++;
      }
      // Within a deployment the app's upgrade strategy bounds it (the new definition's, also
      // when a forced change replaced a deployment in flight); outside one, its instances.
      const inDeployment = deploying.has(app.id);
      const limit = inDeployment ? overCapacityLimit(app.instances, app.upgradeStrategy.maximumOverCapacity) : app.instances;
      if (live <= limit) {
        this.overSinceMs.delete(app.id);
        continue;
      }
      const since = this.overSinceMs.get(app.id) ?? nowMs;
      this.overSinceMs.set(app.id, since);
      if (nowMs - since > MARATHON_OVER_GRACE_MS) {
        this.fail(
          'marathon-overcapacity',
          `Marathon has kept ${live} live tasks of ${app.id} (instances ${app.instances}, limit ${limit}) ${inDeployment ? 'during a deployment' : 'outside any deployment'} for ${Math.round((nowMs - since) / 1000)} s`,
        );
        this.overSinceMs.delete(app.id);
      }
    }
  }

  private readonly capacityCache = new WeakMap<readonly Resource[], Sums>();
  private readonly acc: Sums = { cpus: 0, mem: 0, disk: 0, ports: [] };

  private capacity(total: readonly Resource[]): Sums {
    let c = this.capacityCache.get(total);
    if (!c) {
      c = newSums();
      addResources(c, total);
      const f = this.options.brokenCapacity ? 0.5 : 1;
      c.cpus *= f;
      c.mem *= f;
      c.disk *= f;
      this.capacityCache.set(total, c);
    }
    return c;
  }

  private checkAgentsRunWithinResources(): void {
    const acc = this.acc;
    for (const a of this.agents) {
      // Only a launch can make an agent's usage grow: agents with none since the last step still fit.
      if (!a.usageGrew) continue;
      a.usageGrew = false;
      resetSums(acc);
      for (const t of a.runningTasks()) addResources(acc, t.resources);
      const over = exceeds(acc, this.capacity(a.resources));
      if (over) this.fail('no-oversubscription', `agent ${a.node} (${a.agentId}) runs tasks needing ${over}`);
    }
  }

  private checkMasterBooks(m: Master): void {
    for (const agent of m.agents.values()) {
      if (agent.state !== 'REGISTERED') continue;
      const over = this.masterBooksOver(m, agent);
      if (over) this.fail('no-oversubscription', `the master's books for agent ${agent.id} (${agent.info.hostname}) hold tasks and offers needing ${over}`);
    }
  }

  /** How the master's tasks and outstanding offers on an agent exceed it, if they do. */
  private masterBooksOver(m: Master, agent: AgentRecord): string | undefined {
    const acc = this.acc;
    resetSums(acc);
    for (const rec of agent.tasks.values()) {
      const state = rec.task.state;
      if (state === 'TASK_UNREACHABLE' || isTerminal(state)) continue;
      addResources(acc, rec.task.resources);
    }
    for (const id of agent.offers) {
      const o = m.offers.get(id);
      if (o) addResources(acc, o.offer.resources);
    }
    return exceeds(acc, this.capacity(agent.info.resources));
  }

  private checkLaunchesAccounted(m: Master, elapsedMs: number): void {
    const completed = new Map<string, Set<string>>();
    const completedOf = (fwId: string): Set<string> => {
      let set = completed.get(fwId);
      if (!set) {
        set = new Set();
        for (const t of m.frameworks.get(fwId)?.completedTasks ?? []) set.add(t.task_id.value);
        completed.set(fwId, set);
      }
      return set;
    };
    for (const [key, l] of this.launches) {
      if (l.terminalSeen) {
        this.launches.delete(key);
        continue;
      }
      const fwId = l.fw.frameworkId;
      const fw = fwId ? m.frameworks.get(fwId) : undefined;
      const taskId = key.slice(l.fw.options.name.length + 1);
      const known = fw !== undefined && (fw.tasks.has(taskId) || fw.unreachableTasks.has(taskId) || completedOf(fw.id).has(taskId));
      if (known) {
        l.unaccountedMs = 0;
        continue;
      }
      // Only time in which the framework could have learned the truth counts.
      if (l.fw.conn !== 'subscribed' || !this.host.net.connected(l.fw.node, 'master')) continue;
      // Told TASK_UNREACHABLE while its agent is away: the framework knows it may be gone, and
      // the master can say no more until the agent returns (Mesos semantics).
      const agent = m.agents.get(l.agentId);
      if (l.fw.tasks.get(taskId)?.state === 'TASK_UNREACHABLE' && agent?.state !== 'REGISTERED') continue;
      l.unaccountedMs += elapsedMs;
      if (l.unaccountedMs > this.options.unaccountedGraceMs) {
        this.fail(
          'task-accounted',
          `task ${taskId} launched by ${l.fw.options.name} on ${l.agentId} is unknown to the master and was never reported terminal to the framework (for ${Math.round(l.unaccountedMs / 1000)} s)`,
        );
        this.launches.delete(key);
      }
    }
  }

  // --- convergence -----------------------------------------------------------------------------

  /**
   * Whether the system has settled: every agent registered, every framework subscribed with its
   * declared service tasks RUNNING in its own view, the master's and the agents', no task
   * running that nobody wants, and no status update waiting anywhere. Returns what is not there yet.
   */
  convergence(): string[] {
    const why: string[] = [];
    const m = this.host.master;
    if (!m?.recovered) return ['the master is not up'];
    for (const a of this.agents) {
      if (a.gone) continue;
      const rec = a.agentId ? m.agents.get(a.agentId) : undefined;
      if (!a.registered || !rec || rec.state !== 'REGISTERED')
        why.push(`agent ${a.node} is not registered (${a.describe()}, master: ${rec?.state ?? 'unknown'})`);
      if (a.pendingUpdates > 0) why.push(`agent ${a.node} has ${a.pendingUpdates} unacknowledged status updates`);
    }
    const running = new Map<string, { agentNode: string }>();
    for (const a of this.agents) {
      for (const t of a.runningTasks()) running.set(t.key, { agentNode: a.node });
    }
    for (const f of this.frameworks) {
      if (f.conn !== 'subscribed' || !f.frameworkId) {
        why.push(`framework ${f.options.name} is ${f.conn}`);
        continue;
      }
      const mf = m.frameworks.get(f.frameworkId);
      if (!mf || mf.state !== 'CONNECTED') why.push(`framework ${f.options.name} is ${mf?.state ?? 'unknown'} in the master`);
      if (mf && mf.pendingTasks.size > 0) why.push(`framework ${f.options.name} has ${mf.pendingTasks.size} tasks with unacknowledged updates in the master`);
      const svc = f.runningServiceTasks();
      if (svc.length !== f.declared) why.push(`framework ${f.options.name} runs ${svc.length} of ${f.declared} declared tasks`);
      for (const t of svc) {
        const rec = mf?.tasks.get(t.id);
        if (!rec || rec.task.state !== 'TASK_RUNNING')
          why.push(`task ${t.id} is RUNNING for ${f.options.name} but ${rec?.task.state ?? 'unknown'} in the master`);
        if (!running.has(`${f.frameworkId}/${t.id}`)) why.push(`task ${t.id} is RUNNING for ${f.options.name} but runs on no agent`);
      }
      for (const t of f.tasks.values()) {
        if (isTerminal(t.state as TaskState) || t.state === 'TASK_RUNNING') continue;
        // Unreachable is a fixed point only while its agent really is away.
        const agent = m.agents.get(t.agentId);
        if (t.state === 'TASK_UNREACHABLE' && agent?.state !== 'REGISTERED' && !mf?.tasks.has(t.id)) continue;
        why.push(`task ${t.id} of ${f.options.name} is still ${t.state}`);
      }
    }
    const marathonFwId = this.marathon ? this.marathonFrameworkId() : undefined;
    if (this.marathon) why.push(...this.marathonConvergence(m, running));
    const fwById = new Map(this.frameworks.filter((f) => f.frameworkId).map((f) => [f.frameworkId!, f] as const));
    for (const [key, r] of running) {
      const [fwId, taskId] = [key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1)];
      if (fwId === marathonFwId) continue;
      const f = fwById.get(fwId);
      const ft = f?.tasks.get(taskId);
      if (!ft || ft.state !== 'TASK_RUNNING' || ft.killRequested)
        why.push(`task ${taskId} runs on ${r.agentNode} but its framework ${f?.options.name ?? fwId} does not want it (${ft?.state ?? 'unknown'})`);
      const rec = m.frameworks.get(fwId)?.tasks.get(taskId);
      if (!rec || isTerminal(rec.task.state)) why.push(`task ${taskId} runs on ${r.agentNode} but the master has it ${rec?.task.state ?? 'unknown'}`);
    }
    return why.slice(0, 20);
  }

  private marathonFrameworkId(): string | undefined {
    return this.marathon?.marathon?.frameworkId ?? this.marathon?.knownFrameworkId;
  }

  /**
   * Marathon has settled: it is up and subscribed, no deployment is left, and every app has
   * exactly its declared instances RUNNING (healthy where it has health checks) in Marathon's
   * view, in the master's and on the agents, with nothing else of Marathon's running anywhere.
   */
  private marathonConvergence(m: Master, running: Map<string, { agentNode: string }>): string[] {
    const node = this.marathon!;
    const mar = node.marathon;
    if (!mar) return ['marathon is down'];
    const why: string[] = [];
    const fwId = mar.frameworkId;
    if (!mar.isConnected || !fwId) return [`marathon is not subscribed (incarnation ${node.incarnation})`];
    const mf = m.frameworks.get(fwId);
    if (!mf || mf.state !== 'CONNECTED') why.push(`marathon is ${mf?.state ?? 'unknown'} in the master`);
    if (mf && mf.pendingTasks.size > 0) why.push(`marathon has ${mf.pendingTasks.size} tasks with unacknowledged updates in the master`);
    for (const d of mar.deployments.values()) why.push(`marathon deployment ${d.id} of ${d.affectedApps.join(',')} is not done`);
    const wanted = new Set<string>();
    for (const sa of node.apps) {
      const app = mar.apps.get(sa.id);
      if (!app) {
        why.push(`marathon lost app ${sa.id}`);
        continue;
      }
      const ok = node.acceptableInstances(sa.id);
      if (!ok.includes(app.instances)) why.push(`marathon holds ${app.instances} instances for ${sa.id}, the last scale asked for ${ok.join(' or ')}`);
      const tasks = mar.tasksOf(app.id);
      let runningHere = 0;
      for (const i of tasks) {
        if (isTerminal(i.state)) continue;
        wanted.add(i.taskId);
        if (i.state !== 'TASK_RUNNING' || i.killing) {
          why.push(`marathon task ${i.taskId} is ${i.state}${i.killing ? ' (killing)' : ''}`);
          continue;
        }
        runningHere++;
        if (mar.healthOf(app, i) === false) why.push(`marathon task ${i.taskId} is unhealthy`);
        const rec = mf?.tasks.get(i.taskId);
        if (!rec || rec.task.state !== 'TASK_RUNNING') why.push(`task ${i.taskId} is RUNNING for marathon but ${rec?.task.state ?? 'unknown'} in the master`);
        if (!running.has(`${fwId}/${i.taskId}`)) why.push(`task ${i.taskId} is RUNNING for marathon but runs on no agent`);
      }
      if (runningHere !== app.instances) why.push(`marathon runs ${runningHere} of ${app.instances} instances of ${app.id}`);
    }
    for (const [taskId, rec] of mf?.tasks ?? []) {
      if (!isTerminal(rec.task.state) && !wanted.has(taskId))
        why.push(`the master has marathon's task ${taskId} ${rec.task.state}, which marathon does not want`);
    }
    for (const [key, r] of running) {
      if (!key.startsWith(`${fwId}/`)) continue;
      const taskId = key.slice(fwId.length + 1);
      if (!wanted.has(taskId)) why.push(`marathon's task ${taskId} runs on ${r.agentNode} but marathon does not want it`);
    }
    return why;
  }

  /** End of run: every update the master acknowledged reached its framework (or the task ended otherwise). */
  finalChecks(): void {
    for (const [key, tr] of this.perTask) {
      for (const i of tr.acked) {
        if (tr.received.has(i)) continue;
        const [fwId, taskId] = [key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1)];
        const f = this.frameworks.find((x) => x.frameworkId === fwId);
        const ft = f?.tasks.get(taskId);
        // Superseded by a terminal state the framework did get (e.g. lost with its agent) or
        // the task ended long ago and was forgotten: acceptable, as in Mesos.
        if (!ft || isTerminal(ft.state as TaskState)) continue;
        this.fail('update-lost', `update #${i} of task ${taskId} was acknowledged by the master but never reached ${f?.options.name ?? fwId}`);
      }
    }
  }
}

interface Sums {
  cpus: number;
  mem: number;
  disk: number;
  ports: Range[];
}

function newSums(): Sums {
  return { cpus: 0, mem: 0, disk: 0, ports: [] };
}

function resetSums(s: Sums): void {
  s.cpus = 0;
  s.mem = 0;
  s.disk = 0;
  s.ports.length = 0;
}

function addResources(s: Sums, rs: readonly Resource[]): void {
  for (const r of rs) {
    if (r.name === 'cpus') s.cpus += r.scalar?.value ?? 0;
    else if (r.name === 'mem') s.mem += r.scalar?.value ?? 0;
    else if (r.name === 'disk') s.disk += r.scalar?.value ?? 0;
    else if (r.name === 'ports') for (const x of r.ranges?.range ?? []) s.ports.push(x);
  }
}

/** Describes how `used` exceeds `cap`, or undefined when it fits. */
function exceeds(used: Sums, cap: Sums): string | undefined {
  const eps = 1e-6;
  const out: string[] = [];
  if (used.cpus > cap.cpus + eps) out.push(`cpus ${round(used.cpus)} > ${round(cap.cpus)}`);
  if (used.mem > cap.mem + eps) out.push(`mem ${round(used.mem)} > ${round(cap.mem)}`);
  if (used.disk > cap.disk + eps) out.push(`disk ${round(used.disk)} > ${round(cap.disk)}`);
  if (used.ports.length > 0) {
    const sorted = used.ports.length === 1 ? used.ports : [...used.ports].sort((a, b) => a.begin - b.begin);
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i]!.begin <= sorted[i - 1]!.end) {
        out.push(`port ${sorted[i]!.begin} twice`);
        break;
      }
    }
    for (const p of sorted) {
      if (!cap.ports.some((c) => c.begin <= p.begin && p.end <= c.end)) {
        out.push(`port ${p.begin} not on the agent`);
        break;
      }
    }
  }
  return out.length > 0 ? out.join(', ') : undefined;
}

/** Live tasks a deployment may hold: instances + floor(instances × maximumOverCapacity). */
function overCapacityLimit(instances: number, maximumOverCapacity: number): number {
  return instances + Math.floor(instances * maximumOverCapacity + 1e-9);
}

/** A Marathon app may be over its limit this long (a surplus is killed within a converge pass). */
const MARATHON_OVER_GRACE_MS = 10_000;

const round = (v: number): number => Math.round(v * 1000) / 1000;
