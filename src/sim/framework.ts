import type { TimerHandle } from '../base/clock.js';
import type { Random } from '../base/random.js';
import * as R from '../core/resources/index.js';
import { type FrameworkInfo, isTerminal, type Offer, type Resource, type TaskInfo, type TaskState, type TaskStatus } from '../model/mesos.js';
import type { SchedulerCall } from '../services/master/master.js';
import type { SimClock } from './clock.js';
import type { SchedulerEvent, SimSchedulerLink } from './master-host.js';
import type { Trace } from './trace.js';

/**
 * A test scheduler over the v1 scheduler API. It keeps a declared number of service tasks
 * running (replacing any that end or become unreachable, killing extras that come back), runs
 * short batch tasks on the side, acknowledges every update, reconciles after every
 * (re)subscription and periodically, kills launches that stay pending too long, and survives
 * its own crashes (its framework id and task list are its "persistent" state, as Marathon keeps
 * them in its store).
 */

export interface SimApp {
  id: string;
  instances: number;
  cpus: number;
  memMb: number;
  /** Needs one port from the offer's `ports` ranges. */
  port: boolean;
  /** Only agents whose `rack` attribute matches (like Marathon's `rack:LIKE:r[0-4]`). */
  rackLike?: RegExp;
}

export interface SimFrameworkOptions {
  name: string;
  role: string;
  partitionAware: boolean;
  failoverTimeoutS: number;
  apps: SimApp[];
  /** Mean batch tasks submitted per second (0: none). */
  batchPerSecond: number;
  batchRunMinMs: number;
  batchRunMaxMs: number;
  /** Explicit reconciliation of every known task this often. */
  reconcileEveryMs: number;
  /** A launch not RUNNING after this long is killed (Marathon's task_launch_timeout). */
  launchTimeoutMs: number;
  /** No event (not even a heartbeat) for this long: the connection is dead. */
  eventTimeoutMs: number;
  /** Refuse filter when declining offers it cannot use. */
  declineRefuseSeconds: number;
  /** Suppress offers when idle. */
  suppressWhenIdle: boolean;
  /** Randomly kill a running service task this often on average (0: never). */
  churnEveryMs: number;
  /**
   * Send `suppressed_roles: []` on SUBSCRIBE. The field is optional (absent means none, as the
   * master now implements), so the test scheduler omits it by default.
   */
  sendSuppressedRoles: boolean;
  /** Wanting offers but getting none for this long: REVIVE again (Infinity: never). */
  reviveAfterMs: number;
  /** A task unreachable this long is killed and forgotten (Marathon's unreachableStrategy expunge). */
  expungeUnreachableAfterMs: number;
}

export const DEFAULT_SIM_FRAMEWORK: Omit<SimFrameworkOptions, 'name' | 'apps'> = {
  role: '*',
  partitionAware: true,
  failoverTimeoutS: 7 * 24 * 3600,
  batchPerSecond: 0,
  batchRunMinMs: 5_000,
  batchRunMaxMs: 120_000,
  reconcileEveryMs: 300_000,
  launchTimeoutMs: 120_000,
  eventTimeoutMs: 50_000,
  declineRefuseSeconds: 5,
  suppressWhenIdle: true,
  churnEveryMs: 0,
  sendSuppressedRoles: false,
  reviveAfterMs: 30_000,
  expungeUnreachableAfterMs: 600_000,
};

export type FwTaskState = TaskState | 'LAUNCHING';

export interface FwTask {
  id: string;
  app: SimApp | undefined;
  kind: 'service' | 'batch';
  state: FwTaskState;
  agentId: string;
  resources: Resource[];
  launchedMs: number;
  killRequested: boolean;
  lastKillMs: number;
  /** When it became TASK_UNREACHABLE (0 when it is not). */
  unreachableSinceMs: number;
  /** Wall-clock ms (performance.now) when submitted and when RUNNING was first seen (benchmarks). */
  submittedWallMs: number;
  launchedWallMs: number;
  runningWallMs: number;
}

export interface FrameworkObserver {
  /** The framework put these tasks in an ACCEPT it is about to send. */
  launching?(fw: SimFramework, offerIds: string[], tasks: TaskInfo[]): void;
  /** An UPDATE event arrived (before the framework acts on it). */
  updateReceived?(fw: SimFramework, status: TaskStatus): void;
  /** An OFFERS event arrived. */
  offersReceived?(fw: SimFramework, offers: Offer[]): void;
  /** The framework sent an acknowledgement for this update. */
  acknowledged?(fw: SimFramework, status: TaskStatus): void;
  /** Something a correct master never does. */
  anomaly?(fw: SimFramework, message: string): void;
}

export type FwConnState = 'down' | 'subscribing' | 'subscribed' | 'removed';

/** Wall-clock milliseconds for benchmarks; undefined in the simulator proper. */
export type WallClock = () => number;

export class SimFramework {
  frameworkId: string | undefined;
  conn: FwConnState = 'down';
  readonly tasks = new Map<string, FwTask>();
  private readonly offers = new Map<string, Offer>();
  private streamId: string | undefined;
  private stream: { close(): void } | undefined;
  private readonly timers = new Set<TimerHandle>();
  private gen = 0;
  private nextTaskNum = 0;
  private lastEventMs = 0;
  /** Whether the master has this framework suppressed; undefined when a call's fate is unknown. */
  private suppressed: boolean | undefined = false;
  private lastOffersMs = 0;
  private lastReviveMs = 0;
  private backoffMs = 1000;
  private readonly batchQueue: FwTask[] = [];
  /** Non-terminal tasks per app. */
  private readonly byApp = new Map<SimApp, Set<FwTask>>();
  /** Pending service launches per app (instances wanted minus active). */
  private deficitDirty = true;
  private deficits: { app: SimApp; n: number }[] = [];
  readonly stats = {
    subscribes: 0,
    offersReceived: 0,
    accepts: 0,
    declines: 0,
    launched: 0,
    updates: 0,
    acks: 0,
    reconciles: 0,
    kills: 0,
    crashes: 0,
    finished: 0,
    failed: 0,
    lost: 0,
  };
  /** Optional wall clock for latency figures (benchmarks only). */
  wall: WallClock | undefined;
  /** Called when every service task is RUNNING (benchmarks). */
  onAllRunning: (() => void) | undefined;
  /** Updates received per task (also reconciliation answers), for inspection. */
  reconcileAnswers = 0;
  private readonly unreachableOn = new Map<string, Set<FwTask>>();
  private readonly reconciledAgentAtMs = new Map<string, number>();
  /** Service tasks that reached RUNNING (benchmarks, with onAllRunning). */
  runningCount = 0;
  /** Invoked for each reconciliation answer (benchmarks). */
  onReconcileAnswer: ((status: TaskStatus) => void) | undefined;

  constructor(
    readonly node: string,
    private readonly clock: SimClock,
    private readonly random: Random,
    private readonly link: SimSchedulerLink,
    readonly options: SimFrameworkOptions,
    private readonly trace: Trace,
    private readonly observer: FrameworkObserver = {},
  ) {}

  get declared(): number {
    let n = 0;
    for (const a of this.options.apps) n += a.instances;
    return n;
  }

  /** Service tasks RUNNING, as the framework sees them. */
  runningServiceTasks(): FwTask[] {
    const out: FwTask[] = [];
    for (const t of this.tasks.values()) if (t.kind === 'service' && t.state === 'TASK_RUNNING' && !t.killRequested) out.push(t);
    return out;
  }

  // --- lifecycle -----------------------------------------------------------------------------

  start(): void {
    if (this.conn !== 'down') return;
    this.trace.record('fw.start', `${this.options.name} ${this.frameworkId ?? 'new'}`);
    this.conn = 'subscribing';
    this.backoffMs = 1000;
    void this.subscribe();
    this.every(1000, () => this.tick());
    this.every(this.options.reconcileEveryMs, () => this.reconcileBoth());
  }

  /** The scheduler process dies; its framework id and task list survive (its own store). */
  crash(): void {
    if (this.conn === 'down' || this.conn === 'removed') return;
    this.stats.crashes++;
    this.trace.record('fw.crash', this.options.name);
    this.gen++;
    for (const t of this.timers) t.cancel();
    this.timers.clear();
    this.stream?.close();
    this.stream = undefined;
    this.streamId = undefined;
    this.offers.clear();
    this.conn = 'down';
    this.suppressed = false;
  }

  /** Drops the connection but keeps running (a network-level disconnect); it resubscribes. */
  disconnect(): void {
    if (this.conn !== 'subscribed') return;
    this.trace.record('fw.disconnect', this.options.name);
    this.connectionLost('disconnected');
  }

  private every(ms: number, fn: () => void): void {
    const gen = this.gen;
    const h = this.clock.setInterval(ms, () => {
      if (gen === this.gen) fn();
      else h.cancel();
    });
    this.timers.add(h);
  }

  private after(ms: number, fn: () => void): void {
    const gen = this.gen;
    const h = this.clock.setTimer(ms, () => {
      this.timers.delete(h);
      if (gen === this.gen) fn();
    });
    this.timers.add(h);
  }

  private info(): FrameworkInfo {
    const caps: FrameworkInfo['capabilities'] = [{ type: 'TASK_KILLING_STATE' }];
    if (this.options.partitionAware) caps.push({ type: 'PARTITION_AWARE' });
    return {
      user: 'root',
      name: this.options.name,
      role: this.options.role,
      failover_timeout: this.options.failoverTimeoutS,
      checkpoint: true,
      capabilities: caps,
      ...(this.frameworkId ? { id: { value: this.frameworkId } } : {}),
    };
  }

  private async subscribe(): Promise<void> {
    const gen = this.gen;
    this.stats.subscribes++;
    let r: Awaited<ReturnType<SimSchedulerLink['subscribe']>>;
    let current: { close(): void } | undefined;
    try {
      r = await this.link.subscribe(
        {
          ...(this.frameworkId ? { framework_id: { value: this.frameworkId } } : {}),
          // A fresh connection starts unsuppressed; say so (the master replaces its set with this).
          subscribe: { framework_info: this.info(), ...(this.options.sendSuppressedRoles ? { suppressed_roles: [] } : {}) },
        },
        (e) => {
          if (gen === this.gen && (this.stream === current || current === undefined)) this.onEvent(e);
        },
        () => {
          if (gen === this.gen && this.stream === current && current) this.connectionLost('stream closed');
        },
      );
    } catch {
      if (gen === this.gen) this.retrySubscribe();
      return;
    }
    if (gen !== this.gen) {
      if ('close' in r) r.close();
      return;
    }
    if (!('close' in r)) {
      this.trace.record('fw.subscribe-error', `${this.options.name} ${r.status} ${typeof r.body === 'string' ? r.body : JSON.stringify(r.body)}`);
      this.retrySubscribe();
      return;
    }
    this.stream?.close();
    this.stream = current = r;
    this.streamId = r.streamId;
    this.lastEventMs = this.clock.nowMs();
  }

  private retrySubscribe(): void {
    const d = 500 + this.random.next() * this.backoffMs;
    this.backoffMs = Math.min(30_000, this.backoffMs * 2);
    this.conn = 'subscribing';
    this.after(d, () => void this.subscribe());
  }

  private connectionLost(why: string): void {
    this.trace.record('fw.connection-lost', `${this.options.name} ${why}`);
    this.gen++;
    for (const t of this.timers) t.cancel();
    this.timers.clear();
    this.stream?.close();
    this.stream = undefined;
    this.streamId = undefined;
    this.offers.clear();
    this.suppressed = false;
    this.conn = 'subscribing';
    this.every(1000, () => this.tick());
    this.every(this.options.reconcileEveryMs, () => this.reconcileBoth());
    this.retrySubscribe();
  }

  // --- events --------------------------------------------------------------------------------

  private onEvent(e: SchedulerEvent): void {
    this.lastEventMs = this.clock.nowMs();
    switch (e.type) {
      case 'SUBSCRIBED': {
        const s = e.subscribed as { framework_id: { value: string } };
        if (this.frameworkId && this.frameworkId !== s.framework_id.value) {
          this.observer.anomaly?.(this, `SUBSCRIBED with a new framework id ${s.framework_id.value} (had ${this.frameworkId})`);
        }
        this.frameworkId = s.framework_id.value;
        this.conn = 'subscribed';
        this.backoffMs = 1000;
        this.suppressed = false;
        this.trace.record('fw.subscribed', `${this.options.name} ${this.frameworkId}`);
        this.reconcile(false);
        this.reconcile(true);
        this.deficitDirty = true;
        // Offers that came before SUBSCRIBED (a master bug, reported below) are used now rather
        // than held for good: held, they kept every agent offered and nothing placed (bench:scale).
        // With none held this does nothing.
        this.placeOnOffers();
        return;
      }
      case 'OFFERS':
        if (this.conn !== 'subscribed') this.observer.anomaly?.(this, 'OFFERS before SUBSCRIBED on its event stream');
        this.onOffers((e.offers as { offers: Offer[] }).offers);
        return;
      case 'RESCIND':
        this.offers.delete((e.rescind as { offer_id: { value: string } }).offer_id.value);
        return;
      case 'UPDATE':
        this.onUpdate((e.update as { status: TaskStatus }).status);
        return;
      case 'ERROR':
        this.trace.record('fw.error', `${this.options.name} ${JSON.stringify(e.error)}`);
        if ((e.error as { message?: string })?.message === 'Framework has been removed') {
          this.conn = 'removed';
          this.gen++;
          for (const t of this.timers) t.cancel();
        }
        return;
      default:
        return;
    }
  }

  private onUpdate(status: TaskStatus): void {
    this.stats.updates++;
    this.trace.record(
      'fw.update',
      `${this.options.name} ${status.task_id.value} ${status.state}${status.reason ? ` ${status.reason}` : ''}${status.source === 'SOURCE_MASTER' && status.message ? ` "${status.message}"` : ''}`,
    );
    this.observer.updateReceived?.(this, status);
    if (status.reason === 'REASON_RECONCILIATION') {
      this.reconcileAnswers++;
      this.onReconcileAnswer?.(status);
    }
    const id = status.task_id.value;
    const t = this.tasks.get(id);
    if (status.uuid && status.agent_id && this.streamId && this.frameworkId) {
      this.call({
        type: 'ACKNOWLEDGE',
        framework_id: { value: this.frameworkId },
        acknowledge: { agent_id: status.agent_id, task_id: status.task_id, uuid: status.uuid },
      });
      this.stats.acks++;
      this.observer.acknowledged?.(this, status);
    }
    const state = status.state;
    if (!t || isTerminal(t.state as TaskState)) {
      // A task this framework considers finished (or never knew) is alive somewhere: kill it.
      if (!isTerminal(state) && state !== 'TASK_UNKNOWN' && state !== 'TASK_UNREACHABLE' && state !== 'TASK_KILLING') {
        this.killById(id, status.agent_id?.value ?? '', 'unknown to the framework');
      }
      return;
    }
    const prev = t.state;
    if (state === 'TASK_UNKNOWN' || isTerminal(state)) {
      t.state = state === 'TASK_UNKNOWN' ? 'TASK_LOST' : state;
      if (t.app) this.byApp.get(t.app)?.delete(t);
      if (state === 'TASK_FINISHED') this.stats.finished++;
      else if (state === 'TASK_FAILED') this.stats.failed++;
      else if (state !== 'TASK_KILLED') this.stats.lost++;
      this.deficitDirty = true;
      this.noteUnreachable(t);
      this.forget(t);
      return;
    }
    t.state = state;
    t.unreachableSinceMs = state === 'TASK_UNREACHABLE' ? t.unreachableSinceMs || this.clock.nowMs() : 0;
    this.noteUnreachable(t);
    if (state === 'TASK_RUNNING' && this.wall && t.runningWallMs === 0) t.runningWallMs = this.wall();
    if (state === 'TASK_UNREACHABLE' || (state === 'TASK_RUNNING' && prev === 'TASK_UNREACHABLE')) this.deficitDirty = true;
    if (state === 'TASK_RUNNING' && prev !== 'TASK_RUNNING') {
      this.killExtras(t);
      this.runningCount++;
      if (this.onAllRunning && this.runningCount >= this.declared) this.onAllRunning();
    }
  }

  /** Terminal tasks are dropped after a while so the map stays bounded. */
  /** Tracks the tasks it was told are unreachable, by agent (see onOffers). */
  private noteUnreachable(t: FwTask): void {
    const set = this.unreachableOn.get(t.agentId);
    if (t.state === 'TASK_UNREACHABLE') {
      if (set) set.add(t);
      else this.unreachableOn.set(t.agentId, new Set([t]));
    } else if (set?.delete(t) && set.size === 0) this.unreachableOn.delete(t.agentId);
  }

  private forget(t: FwTask): void {
    this.after(600_000, () => {
      const cur = this.tasks.get(t.id);
      if (cur === t && isTerminal(cur.state as TaskState)) this.tasks.delete(t.id);
    });
  }

  /** More service instances of an app running than declared (a lost task came back): kill the newest. */
  private killExtras(t: FwTask): void {
    if (t.kind !== 'service' || !t.app) return;
    const active = [...(this.byApp.get(t.app) ?? [])].filter(
      (x) =>
        x.app === t.app &&
        !x.killRequested &&
        (x.state === 'TASK_RUNNING' || x.state === 'TASK_STAGING' || x.state === 'TASK_STARTING' || x.state === 'LAUNCHING'),
    );
    let extra = active.length - t.app.instances;
    if (extra <= 0) return;
    active.sort((a, b) => b.launchedMs - a.launchedMs || (a.id < b.id ? 1 : -1));
    for (const x of active) {
      if (extra <= 0) break;
      this.kill(x, 'extra instance');
      extra--;
    }
  }

  private killById(id: string, agentId: string, why: string): void {
    if (!this.frameworkId || !this.streamId) return;
    this.stats.kills++;
    this.trace.record('fw.kill', `${this.options.name} ${id} ${why}`);
    this.call({
      type: 'KILL',
      framework_id: { value: this.frameworkId },
      kill: { task_id: { value: id }, ...(agentId ? { agent_id: { value: agentId } } : {}) },
    });
  }

  private kill(t: FwTask, why: string): void {
    if (!this.frameworkId || !this.streamId) return;
    t.killRequested = true;
    t.lastKillMs = this.clock.nowMs();
    this.stats.kills++;
    this.trace.record('fw.kill', `${this.options.name} ${t.id} ${why}`);
    this.call({ type: 'KILL', framework_id: { value: this.frameworkId }, kill: { task_id: { value: t.id }, agent_id: { value: t.agentId } } });
  }

  /** Sends a call; `onFail` runs when it did not get a 2xx (lost, refused or rejected). */
  private call(call: SchedulerCall, onFail?: () => void): void {
    const sid = this.streamId;
    if (!sid) return;
    const gen = this.gen;
    this.link.call(call, sid).then(
      (r) => {
        if (gen !== this.gen) return;
        if (r.status === 403 || (r.status === 400 && typeof r.body === 'string' && r.body.includes('stream ID')))
          this.connectionLost(`call ${call.type}: ${r.status}`);
        else if (r.status >= 300) onFail?.();
      },
      () => {
        if (gen === this.gen) onFail?.();
      },
    );
  }

  /** REVIVE, and again on the next tick if it may not have arrived. */
  private revive(): void {
    this.suppressed = false;
    this.lastReviveMs = this.clock.nowMs();
    this.call({ type: 'REVIVE', framework_id: { value: this.frameworkId! } }, () => {
      this.suppressed = undefined;
    });
  }

  /** SUPPRESS, and again on the next idle tick if it may not have arrived. */
  private suppress(): void {
    this.suppressed = true;
    this.call({ type: 'SUPPRESS', framework_id: { value: this.frameworkId! } }, () => {
      this.suppressed = undefined;
    });
  }

  private reconcile(explicit: boolean): void {
    if (this.conn !== 'subscribed' || !this.frameworkId) return;
    this.stats.reconciles++;
    const tasks: { task_id: { value: string }; agent_id?: { value: string } }[] = [];
    if (explicit) {
      for (const t of this.tasks.values()) {
        if (isTerminal(t.state as TaskState)) continue;
        tasks.push({ task_id: { value: t.id }, ...(t.agentId ? { agent_id: { value: t.agentId } } : {}) });
      }
      if (tasks.length === 0) return;
    }
    this.call({ type: 'RECONCILE', framework_id: { value: this.frameworkId }, reconcile: { tasks } });
  }

  /**
   * An offer from an agent on which it has tasks it was told are unreachable: the agent is back,
   * so it asks about those tasks now instead of at the next periodic reconciliation (as Marathon
   * does); the master may have learned they are gone, or never have known them at all.
   */
  private reconcileReturned(agentId: string): void {
    const set = this.unreachableOn.get(agentId);
    if (!set || set.size === 0 || this.conn !== 'subscribed' || !this.frameworkId) return;
    const now = this.clock.nowMs();
    if (now - (this.reconciledAgentAtMs.get(agentId) ?? -Infinity) < 10_000) return;
    this.reconciledAgentAtMs.set(agentId, now);
    this.stats.reconciles++;
    const tasks = [...set].map((t) => ({ task_id: { value: t.id }, agent_id: { value: agentId } }));
    this.call({ type: 'RECONCILE', framework_id: { value: this.frameworkId }, reconcile: { tasks } });
  }

  /**
   * Tasks held unreachable are asked about at least once a minute: a suppressed framework gets no
   * offer from an agent that came back, and the periodic reconciliation may be minutes away
   * (seed 107 at 30 × 2 × 12 with Marathon: launches lost with a dropped ACCEPT, reported
   * unreachable while their agent was away, stayed so through the quiet tail).
   */
  private reconcileUnreachable(): void {
    if (this.unreachableOn.size === 0) return;
    const now = this.clock.nowMs();
    for (const agentId of [...this.unreachableOn.keys()].sort()) {
      if (now - (this.reconciledAgentAtMs.get(agentId) ?? Number.NEGATIVE_INFINITY) >= 60_000) this.reconcileReturned(agentId);
    }
  }

  /** Declares more apps (benchmarks: open-loop submission); asks for offers right away. */
  addApps(apps: SimApp[]): void {
    for (const a of apps) this.options.apps.push(a);
    this.deficitDirty = true;
    if (this.conn === 'subscribed' && this.frameworkId) this.revive();
  }

  /**
   * Explicit reconciliation of what it knows, and implicit (empty list) to learn of tasks it
   * thinks are gone but that still run (it kills those when their RUNNING state comes back).
   */
  private reconcileBoth(): void {
    this.reconcile(true);
    this.reconcile(false);
  }

  /** Reconciles the given tasks explicitly (benchmarks). */
  reconcileAll(): number {
    const before = this.stats.reconciles;
    this.reconcile(true);
    return this.stats.reconciles - before;
  }

  // --- periodic work -------------------------------------------------------------------------

  private tick(): void {
    const now = this.clock.nowMs();
    if (this.conn === 'subscribed' && now - this.lastEventMs > this.options.eventTimeoutMs) {
      this.connectionLost('no heartbeat');
      return;
    }
    if (this.conn !== 'subscribed') return;
    this.reconcileUnreachable();
    // Launches that never got anywhere are killed; the master or the agent answers with a terminal state.
    for (const t of this.tasks.values()) {
      if (isTerminal(t.state as TaskState)) continue;
      if (t.state === 'TASK_UNREACHABLE' && t.unreachableSinceMs > 0 && now - t.unreachableSinceMs > this.options.expungeUnreachableAfterMs) {
        // Expunged: killed (the master delivers the kill if the agent returns) and forgotten.
        this.kill(t, 'unreachable too long');
        t.state = 'TASK_GONE';
        this.noteUnreachable(t);
        if (t.app) this.byApp.get(t.app)?.delete(t);
        this.forget(t);
        continue;
      }
      if (t.state !== 'LAUNCHING' && t.state !== 'TASK_STAGING' && t.state !== 'TASK_STARTING' && !t.killRequested) continue;
      const since = t.killRequested ? t.lastKillMs : t.launchedMs;
      if (now - since > this.options.launchTimeoutMs) this.kill(t, t.killRequested ? 'kill retry' : 'launch timeout');
    }
    if (this.options.batchPerSecond > 0) {
      let n = 0;
      let p = this.options.batchPerSecond;
      while (p >= 1) {
        n++;
        p--;
      }
      if (this.random.chance(p)) n++;
      for (let i = 0; i < n; i++) this.batchQueue.push(this.newTask('batch', undefined));
    }
    if (this.options.churnEveryMs > 0 && this.random.chance(1000 / this.options.churnEveryMs)) {
      const running = this.runningServiceTasks();
      if (running.length > 0) this.kill(running[this.random.int(running.length)]!, 'churn');
    }
    this.deficitDirty = true;
    const want = this.wantsOffers();
    // Concurrent calls can arrive in either order (a SUPPRESS overtaking a later REVIVE), so a
    // framework that wants offers and gets none for a while revives again.
    if (want && (this.suppressed !== false || (now - this.lastOffersMs > this.options.reviveAfterMs && now - this.lastReviveMs > this.options.reviveAfterMs))) {
      this.revive();
    } else if (!want && this.suppressed !== true && this.options.suppressWhenIdle && this.offers.size === 0) {
      this.suppress();
    }
  }

  private computeDeficits(): void {
    if (!this.deficitDirty) return;
    this.deficitDirty = false;
    const active = new Map<SimApp, number>();
    for (const t of this.tasks.values()) {
      if (t.kind !== 'service' || !t.app || t.killRequested) continue;
      if (t.state === 'LAUNCHING' || t.state === 'TASK_STAGING' || t.state === 'TASK_STARTING' || t.state === 'TASK_RUNNING' || t.state === 'TASK_KILLING') {
        active.set(t.app, (active.get(t.app) ?? 0) + 1);
      }
    }
    this.deficits = [];
    for (const app of this.options.apps) {
      const n = app.instances - (active.get(app) ?? 0);
      if (n > 0) this.deficits.push({ app, n });
    }
  }

  private wantsOffers(): boolean {
    this.computeDeficits();
    return this.deficits.length > 0 || this.batchQueue.length > 0;
  }

  private newTask(kind: 'service' | 'batch', app: SimApp | undefined): FwTask {
    const n = this.nextTaskNum++;
    return {
      id: `${this.options.name}.${app ? app.id : 'batch'}.${n}`,
      app,
      kind,
      state: 'LAUNCHING',
      agentId: '',
      resources: [],
      launchedMs: 0,
      killRequested: false,
      lastKillMs: 0,
      unreachableSinceMs: 0,
      submittedWallMs: this.wall ? this.wall() : 0,
      launchedWallMs: 0,
      runningWallMs: 0,
    };
  }

  private onOffers(offers: Offer[]): void {
    this.observer.offersReceived?.(this, offers);
    this.lastOffersMs = this.clock.nowMs();
    this.stats.offersReceived += offers.length;
    for (const o of offers) {
      this.offers.set(o.id.value, o);
      this.reconcileReturned(o.agent_id.value);
    }
    this.placeOnOffers();
  }

  private placeOnOffers(): void {
    if (this.conn !== 'subscribed' || !this.frameworkId) return;
    this.computeDeficits();
    const decline: { value: string }[] = [];
    const offers = [...this.offers.values()];
    this.offers.clear();
    let di = 0;
    for (const offer of offers) {
      let cpus = R.scalarOf(offer.resources, 'cpus');
      let mem = R.scalarOf(offer.resources, 'mem');
      const ports = R.rangesOf(offer.resources, 'ports').map((r) => ({ ...r }));
      const rack = rackOf(offer);
      const launches: TaskInfo[] = [];
      const fits = (c: number, m: number, port: boolean): boolean => c <= cpus + 1e-9 && m <= mem + 1e-9 && (!port || ports.some((r) => r.begin <= r.end));
      const take = (t: FwTask, c: number, m: number, port: boolean): void => {
        cpus -= c;
        mem -= m;
        const resources: Resource[] = [R.scalar('cpus', c), R.scalar('mem', m)];
        if (port) {
          const r = ports.find((x) => x.begin <= x.end)!;
          resources.push(R.ranges('ports', [{ begin: r.begin, end: r.begin }]));
          r.begin++;
        }
        t.state = 'LAUNCHING';
        t.agentId = offer.agent_id.value;
        t.resources = resources;
        t.launchedMs = this.clock.nowMs();
        if (this.wall) t.launchedWallMs = this.wall();
        this.tasks.set(t.id, t);
        if (t.app) {
          let set = this.byApp.get(t.app);
          if (!set) this.byApp.set(t.app, (set = new Set()));
          set.add(t);
        }
        launches.push({
          name: t.id,
          task_id: { value: t.id },
          agent_id: offer.agent_id,
          resources,
          // Batch tasks sleep a random while and exit 0; services run until killed.
          command: {
            value:
              t.kind === 'batch'
                ? `sleep ${Math.round(this.options.batchRunMinMs + this.random.next() * (this.options.batchRunMaxMs - this.options.batchRunMinMs)) / 1000}`
                : 'sleep infinity',
            shell: true,
          },
        });
      };
      // Service instances first (in app order), then batch tasks.
      for (let progress = true; progress; ) {
        progress = false;
        for (let k = di; k < this.deficits.length; k++) {
          const d = this.deficits[k]!;
          if (d.n <= 0) {
            if (k === di) di++;
            continue;
          }
          if (d.app.rackLike && !(rack !== undefined && d.app.rackLike.test(rack))) continue;
          if (!fits(d.app.cpus, d.app.memMb, d.app.port)) continue;
          take(this.newTask('service', d.app), d.app.cpus, d.app.memMb, d.app.port);
          d.n--;
          progress = true;
          break;
        }
      }
      while (this.batchQueue.length > 0 && fits(0.1, 32, false)) take(this.batchQueue.shift()!, 0.1, 32, false);
      if (launches.length === 0) {
        decline.push(offer.id);
        continue;
      }
      this.stats.accepts++;
      this.stats.launched += launches.length;
      this.observer.launching?.(this, [offer.id.value], launches);
      this.call({
        type: 'ACCEPT',
        framework_id: { value: this.frameworkId },
        accept: { offer_ids: [offer.id], operations: [{ type: 'LAUNCH', launch: { task_infos: launches } }], filters: { refuse_seconds: 1 } },
      });
    }
    this.deficits = this.deficits.filter((d) => d.n > 0);
    if (decline.length > 0) {
      this.stats.declines += decline.length;
      this.call({
        type: 'DECLINE',
        framework_id: { value: this.frameworkId },
        decline: { offer_ids: decline, filters: { refuse_seconds: this.options.declineRefuseSeconds } },
      });
    }
  }
}

function rackOf(offer: Offer): string | undefined {
  const a = offer.attributes?.find((x) => x.name === 'rack');
  return a?.text?.value;
}
