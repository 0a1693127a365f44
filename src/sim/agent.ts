import type { TimerHandle } from '../base/clock.js';
import type { Random } from '../base/random.js';
import * as R from '../core/resources/index.js';
import type { AgentCommand, RegisteredReply } from '../model/agent-protocol.js';
import {
  type Attribute,
  type FrameworkInfo,
  hasCapability,
  isTerminal,
  type Resource,
  type StatusReason,
  type Task,
  type TaskInfo,
  type TaskState,
  type TaskStatus,
} from '../model/mesos.js';
import type { CommandStream, MasterLink, MasterLinkReply } from '../ports/master-link.js';
import type { SimClock } from './clock.js';
import type { AgentNode } from './node.js';
import { sleepSecondsOf } from './runtime.js';
import type { Trace } from './trace.js';

/**
 * A protocol-level agent: it speaks the agent protocol (docs/agent-protocol.md) exactly as the
 * real agent must (register, ping, command stream, reliable per-task status updates), and runs
 * fake containers that run their command's `sleep N` for N seconds (`sleep infinity`: until
 * killed). It is light enough for 10,000 of them in one process, which the scale benchmarks need.
 *
 * What survives a crash of the agent process is what the real agent checkpoints: its id, its
 * tasks and the status updates not yet acknowledged. Containers keep running while the agent is
 * down; their exits are noticed on recovery.
 */

export interface SimAgentOptions {
  hostname: string;
  ip: string;
  resources: Resource[];
  attributes?: Attribute[];
  /** Container start time, uniformly in [min, max]. */
  launchMinMs: number;
  launchMaxMs: number;
  /** Send TASK_STARTING before TASK_RUNNING (as the command executor does). */
  sendStarting: boolean;
  /** Kill grace: the container exits within this after KILL_TASK. */
  killMaxMs: number;
  /** Resend an unacknowledged status update after this long. */
  statusRetryMs: number;
  /** The stream is considered dead after this long without a command or PING. */
  streamTimeoutMs: number;
  /** Registration backoff bounds (jittered). */
  backoffMinMs: number;
  backoffMaxMs: number;
  version: string;
}

export const DEFAULT_SIM_AGENT: Omit<SimAgentOptions, 'hostname' | 'ip' | 'resources'> = {
  launchMinMs: 10,
  launchMaxMs: 500,
  sendStarting: true,
  killMaxMs: 1000,
  statusRetryMs: 10_000,
  streamTimeoutMs: 50_000,
  backoffMinMs: 1000,
  backoffMaxMs: 10_000,
  version: '1.12.0',
};

/** Observations the invariant checker subscribes to. */
export interface AgentObserver {
  /** A status update was generated (index = its position in the task's update sequence). */
  updateCreated?(agent: AgentNode, frameworkId: string, status: TaskStatus, index: number): void;
  /** The master answered 200 to a status update: it is acknowledged and must not be lost. */
  updateAcked?(agent: AgentNode, frameworkId: string, status: TaskStatus): void;
  /** The agent hit something a correct master never causes. */
  anomaly?(agent: AgentNode, message: string): void;
}

export interface SimContainer {
  running: boolean;
  /** The task's process is up (TASK_RUNNING is due). */
  started: boolean;
  /** How it ended, once it has. */
  exit: { state: TaskState; reason?: StatusReason; message: string } | undefined;
  timer: TimerHandle | undefined;
}

export interface SimAgentTask {
  frameworkId: string;
  info: TaskInfo;
  resources: Resource[];
  /** Latest state the agent generated (reported on reregistration). */
  state: TaskState;
  killing: boolean;
  container: SimContainer;
  /** Status updates generated for this task so far. */
  updates: number;
  /** Terminal update acknowledged: the task is gone from the agent. */
  done: boolean;
}

interface PendingUpdate {
  frameworkId: string;
  status: TaskStatus;
}

export type SimAgentState = 'down' | 'connecting' | 'registered' | 'shutdown';

export class SimAgent implements AgentNode {
  agentId: string | undefined;
  state: SimAgentState = 'down';
  /** Tasks the agent knows, by `${frameworkId}/${taskId}` (checkpointed). */
  readonly tasks = new Map<string, SimAgentTask>();
  readonly frameworks = new Map<string, FrameworkInfo>();
  /** Unacknowledged status updates per task, oldest first (checkpointed). */
  private readonly pending = new Map<string, PendingUpdate[]>();
  private readonly inflight = new Set<string>();
  /** Tasks killed before their RUN_TASK arrived: a late launch is refused. */
  private readonly killedUnknown = new Set<string>();
  private readonly timers = new Set<TimerHandle>();
  private stream: CommandStream | undefined;
  private lastStreamMs = 0;
  private pingIntervalMs = 15_000;
  /** Bumped on every crash: continuations of the dead process see a stale generation and stop. */
  private gen = 0;
  private backoffMs: number;
  /**
   * Bumped on every (re)registration attempt: a reply to a PING or SUBSCRIBE sent before it is
   * stale (a slow reply must not trigger another reregistration, and a stream opened before the
   * latest REREGISTER must not deliver commands the master sent for the old session).
   */
  private session = 0;
  /** When set, the agent is about to start (or is in) a fresh (re)registration. */
  private connectScheduled = false;
  /** Set when a task was added (the only way usage grows); the invariant checker clears it. */
  usageGrew = false;
  readonly stats = { registrations: 0, reregistrations: 0, updatesSent: 0, updatesAcked: 0, launches: 0, crashes: 0 };
  /** Injected misbehaviour for checker self-tests; never set in a normal run. */
  bug: 'reorder-updates' | 'forget-failure' | undefined;

  constructor(
    readonly node: string,
    private readonly clock: SimClock,
    private readonly random: Random,
    private readonly link: MasterLink,
    readonly options: SimAgentOptions,
    private readonly trace: Trace,
    private readonly observer: AgentObserver = {},
  ) {
    this.backoffMs = options.backoffMinMs;
  }

  get alive(): boolean {
    return this.state !== 'down' && this.state !== 'shutdown';
  }

  get gone(): boolean {
    return this.state === 'shutdown';
  }

  get registered(): boolean {
    return this.state === 'registered' && this.stream !== undefined;
  }

  get resources(): Resource[] {
    return this.options.resources;
  }

  runningTasks(): { key: string; resources: Resource[] }[] {
    const out: { key: string; resources: Resource[] }[] = [];
    for (const [key, t] of this.tasks) if (!t.done && t.container.running && !t.killing) out.push({ key, resources: t.resources });
    return out;
  }

  taskState(key: string): TaskState | undefined {
    return this.tasks.get(key)?.state;
  }

  describe(): string {
    return `${this.state}${this.stream ? '' : ', no stream'}`;
  }

  // --- lifecycle -----------------------------------------------------------------------------

  /** Starts (or restarts after a crash) the agent process: recover, then (re)register. */
  start(): void {
    if (this.alive) return;
    this.state = 'connecting';
    this.trace.record('agent.start', `${this.node} ${this.agentId ?? 'new'}`);
    // Recovery: containers that exited while the agent was down are reported now.
    for (const [key, t] of this.tasks) if (!t.done) this.containerChanged(key, t);
    this.backoffMs = this.options.backoffMinMs;
    this.scheduleConnect(this.jitter(0, this.options.backoffMinMs));
  }

  /** The agent process dies. Containers keep running; nothing in memory but the checkpoint survives. */
  crash(): void {
    if (!this.alive) return;
    this.stats.crashes++;
    this.trace.record('agent.crash', this.node);
    this.gen++;
    this.state = 'down';
    for (const t of this.timers) t.cancel();
    this.timers.clear();
    this.inflight.clear();
    this.connectScheduled = false;
    this.stream?.close();
    this.stream = undefined;
  }

  /** The host reboots: containers die and the agent comes back as a new agent (new id). */
  reboot(): void {
    this.crash();
    this.trace.record('agent.reboot', this.node);
    for (const t of this.tasks.values()) t.container.timer?.cancel();
    this.tasks.clear();
    this.pending.clear();
    this.frameworks.clear();
    this.killedUnknown.clear();
    this.agentId = undefined;
  }

  /** Tasks running on this agent that hold resources (not terminal, not being killed). */
  activeTasks(): SimAgentTask[] {
    const out: SimAgentTask[] = [];
    for (const t of this.tasks.values()) if (!t.done && t.container.running && !t.killing) out.push(t);
    return out;
  }

  /** Makes one running container fail (a fault; with `oom`, the OOM killer). Returns its task, if any ran. */
  crashContainer(oom = false): { frameworkId: string; taskId: string } | undefined {
    const running = [...this.tasks.entries()].filter(([, t]) => t.container.running && !t.killing && t.state === 'TASK_RUNNING');
    if (running.length === 0) return undefined;
    const [key, t] = running[this.random.int(running.length)]!;
    this.trace.record(oom ? 'container.oom' : 'container.crash', `${this.node} ${key}`);
    this.exitContainer(
      key,
      t,
      oom
        ? { state: 'TASK_FAILED', reason: 'REASON_CONTAINER_LIMITATION_MEMORY', message: 'Memory limit exceeded (simulated)' }
        : { state: 'TASK_FAILED', reason: 'REASON_COMMAND_EXECUTOR_FAILED', message: 'Container crashed (simulated)' },
    );
    return { frameworkId: t.frameworkId, taskId: t.info.task_id.value };
  }

  // --- connection ----------------------------------------------------------------------------

  private setTimer(ms: number, fn: () => void): TimerHandle {
    const gen = this.gen;
    const h = this.clock.setTimer(ms, () => {
      this.timers.delete(h);
      if (gen === this.gen) fn();
    });
    this.timers.add(h);
    return h;
  }

  private jitter(min: number, max: number): number {
    return min + this.random.next() * Math.max(0, max - min);
  }

  private scheduleConnect(delayMs: number): void {
    if (this.connectScheduled || !this.alive) return;
    this.connectScheduled = true;
    this.session++;
    this.state = 'connecting';
    this.stream?.close();
    this.stream = undefined;
    this.setTimer(delayMs, () => void this.connect());
  }

  private lastSession = 0;

  /** REREGISTER's ordering number: strictly increasing, and past any earlier run's (clock based). */
  private nextSession(): number {
    this.lastSession = Math.max(this.lastSession + 1, Math.floor(this.clock.nowMs()));
    return this.lastSession;
  }

  private backoff(): number {
    const d = this.jitter(this.options.backoffMinMs, this.backoffMs);
    this.backoffMs = Math.min(this.options.backoffMaxMs, this.backoffMs * 2);
    return d;
  }

  private async connect(): Promise<void> {
    const gen = this.gen;
    let reply: MasterLinkReply;
    try {
      reply = await this.link.call(
        this.agentId
          ? {
              type: 'REREGISTER',
              agent_id: { value: this.agentId },
              agent_info: this.agentInfo(),
              ip: this.options.ip,
              version: this.options.version,
              tasks: this.reportedTasks(),
              session: this.nextSession(),
              frameworks: [...this.frameworks.values()],
            }
          : { type: 'REGISTER', agent_info: this.agentInfo(), ip: this.options.ip, version: this.options.version },
      );
    } catch {
      reply = { status: 0, body: 'unreachable' };
    }
    if (gen !== this.gen) return;
    this.connectScheduled = false;
    if (reply.status === 403) return this.shutdown('marked gone');
    if (reply.status !== 200) {
      this.scheduleConnect(this.backoff());
      return;
    }
    const r = reply.body as RegisteredReply;
    if (this.agentId) this.stats.reregistrations++;
    else this.stats.registrations++;
    this.agentId = r.agent_id.value;
    this.pingIntervalMs = Math.max(1000, (r.ping_interval_seconds || 15) * 1000);
    this.backoffMs = this.options.backoffMinMs;
    this.state = 'registered';
    this.trace.record('agent.registered', `${this.node} ${this.agentId}`);
    this.schedulePing();
    this.openStream();
    // Unacknowledged updates go out again on (re)registration.
    for (const key of this.pending.keys()) this.sendHead(key);
  }

  private reconnect(why: string): void {
    if (this.state !== 'registered') return;
    this.trace.record('agent.reconnect', `${this.node} ${why}`);
    this.scheduleConnect(this.jitter(0, this.options.backoffMinMs));
  }

  private openStream(): void {
    const id = this.agentId;
    if (!id || this.state !== 'registered') return;
    const gen = this.gen;
    const session = this.session;
    this.lastStreamMs = this.clock.nowMs();
    let current: CommandStream | undefined;
    this.link
      .subscribe(
        id,
        (cmd) => {
          if (gen !== this.gen) return;
          this.lastStreamMs = this.clock.nowMs();
          this.onCommand(cmd);
        },
        () => {
          if (gen !== this.gen || this.stream !== current) return;
          this.stream = undefined;
          // The stream ended: open it again; the master tells us if we must reregister.
          this.setTimer(this.jitter(100, 1000), () => this.resubscribe());
        },
      )
      .then(
        (r) => {
          if (gen !== this.gen || session !== this.session || this.state !== 'registered') {
            if ('close' in r) r.close();
            return;
          }
          if ('close' in r) {
            this.stream?.close();
            this.stream = current = r;
            return;
          }
          if (r.status === 403) this.shutdown('marked gone');
          else if (r.status === 409 || r.status === 404) this.reconnect(`stream ${r.status}`);
          else this.setTimer(this.backoff(), () => this.resubscribe());
        },
        () => {
          if (gen === this.gen && session === this.session) this.setTimer(this.backoff(), () => this.resubscribe());
        },
      );
  }

  private resubscribe(): void {
    if (this.state === 'registered' && !this.stream) this.openStream();
  }

  private schedulePing(): void {
    const session = this.session;
    this.setTimer(this.pingIntervalMs, () => {
      // One ping loop per session: a loop from before the latest (re)registration ends here.
      if (this.state !== 'registered' || !this.agentId || session !== this.session) return;
      const gen = this.gen;
      this.link.call({ type: 'PING', agent_id: { value: this.agentId } }).then(
        (r) => {
          if (gen !== this.gen || session !== this.session) return;
          if (r.status === 403) return this.shutdown('marked gone');
          if (r.status === 409 || r.status === 404) return this.reconnect(`ping ${r.status}`);
          this.schedulePing();
        },
        () => {
          if (gen === this.gen && session === this.session) this.schedulePing();
        },
      );
      // A stream that has been silent too long is dead (a partition or a lost reset).
      if (this.stream && this.clock.nowMs() - this.lastStreamMs > this.options.streamTimeoutMs) {
        this.trace.record('agent.stream-timeout', this.node);
        this.stream.close();
        this.stream = undefined;
        this.openStream();
      }
    });
  }

  private shutdown(why: string): void {
    this.trace.record('agent.shutdown', `${this.node} ${why}`);
    for (const [key, t] of this.tasks) if (t.container.running) this.exitContainer(key, t, { state: 'TASK_KILLED', message: `Agent shut down: ${why}` }, false);
    this.crash();
    this.state = 'shutdown';
  }

  private agentInfo(): { hostname: string; port: number; resources: Resource[]; attributes?: Attribute[] } {
    return {
      hostname: this.options.hostname,
      port: 5051,
      resources: this.options.resources,
      ...(this.options.attributes ? { attributes: this.options.attributes } : {}),
    };
  }

  private reportedTasks(): Task[] {
    const out: Task[] = [];
    for (const t of this.tasks.values()) {
      if (t.done) continue;
      out.push({
        name: t.info.name,
        task_id: t.info.task_id,
        framework_id: { value: t.frameworkId },
        agent_id: { value: this.agentId ?? '' },
        state: t.state,
        resources: t.resources,
        statuses: [],
      });
    }
    return out;
  }

  // --- commands ------------------------------------------------------------------------------

  private onCommand(cmd: AgentCommand): void {
    switch (cmd.type) {
      case 'RUN_TASK':
        this.runTask(cmd.framework_id.value, cmd.framework_info, cmd.task);
        return;
      case 'KILL_TASK':
        this.killTask(cmd.framework_id.value, cmd.task_id.value);
        return;
      case 'SHUTDOWN_FRAMEWORK':
        for (const [key, t] of this.tasks) if (t.frameworkId === cmd.framework_id.value) this.killTask(t.frameworkId, t.info.task_id.value, key);
        return;
      case 'UPDATE_FRAMEWORK':
        this.frameworks.set(cmd.framework_id.value, cmd.framework_info);
        return;
      case 'SHUTDOWN':
        this.shutdown(cmd.message);
        return;
      default:
        return;
    }
  }

  private runTask(frameworkId: string, info: FrameworkInfo, task: TaskInfo): void {
    const key = `${frameworkId}/${task.task_id.value}`;
    this.frameworks.set(frameworkId, info);
    if (this.killedUnknown.delete(key)) {
      // Killed before it arrived (the master sent KILL_TASK ahead of RUN_TASK): it was already
      // answered with a terminal update when the kill came; it is not launched now.
      this.trace.record('agent.run-after-kill', `${this.node} ${key}`);
      return;
    }
    if (this.tasks.has(key)) {
      this.observer.anomaly?.(this, `RUN_TASK for ${key}, which the agent already has`);
      return;
    }
    this.stats.launches++;
    const t: SimAgentTask = {
      frameworkId,
      info: task,
      resources: R.normalize(task.resources ?? []),
      state: 'TASK_STAGING',
      killing: false,
      container: { running: true, started: false, exit: undefined, timer: undefined },
      updates: 0,
      done: false,
    };
    this.tasks.set(key, t);
    this.usageGrew = true;
    const runMs = (sleepSecondsOf(task.command ?? {}) ?? Number.NaN) * 1000;
    const startMs = this.jitter(this.options.launchMinMs, this.options.launchMaxMs);
    if (this.options.sendStarting) this.update(key, t, 'TASK_STARTING');
    t.container.timer = this.clock.setTimer(startMs, () => {
      t.container.timer = undefined;
      if (!t.container.running || t.killing) return;
      t.container.started = true;
      if (this.alive) this.containerChanged(key, t);
      if (Number.isFinite(runMs)) {
        t.container.timer = this.clock.setTimer(runMs, () => {
          t.container.timer = undefined;
          this.exitContainer(key, t, { state: 'TASK_FINISHED', message: 'Command exited with status 0' });
        });
      }
    });
  }

  private killTask(frameworkId: string, taskId: string, knownKey?: string): void {
    const key = knownKey ?? `${frameworkId}/${taskId}`;
    const t = this.tasks.get(key);
    if (!t) {
      // Mesos: a kill for a task the agent never saw is answered with a status update, so the
      // framework learns the launch was lost; a late RUN_TASK for it is refused.
      if (this.killedUnknown.size > 10_000) this.killedUnknown.clear();
      this.killedUnknown.add(key);
      const fw = this.frameworks.get(frameworkId);
      const state: TaskState = fw && hasCapability(fw, 'PARTITION_AWARE') ? 'TASK_DROPPED' : 'TASK_LOST';
      const ghost: SimAgentTask = {
        frameworkId,
        info: { name: taskId, task_id: { value: taskId }, agent_id: { value: this.agentId ?? '' } },
        resources: [],
        state: 'TASK_STAGING',
        killing: true,
        container: { running: false, started: false, exit: undefined, timer: undefined },
        updates: 0,
        done: false,
      };
      this.tasks.set(key, ghost);
      this.update(key, ghost, state, 'REASON_TASK_UNKNOWN', 'Attempted to kill a task the agent does not know');
      return;
    }
    if (t.done || !t.container.running || t.killing) return;
    t.killing = true;
    t.container.timer?.cancel();
    t.container.timer = this.clock.setTimer(this.jitter(0, this.options.killMaxMs), () => {
      t.container.timer = undefined;
      this.exitContainer(key, t, { state: 'TASK_KILLED', message: 'Killed by the framework' });
    });
  }

  private exitContainer(key: string, t: SimAgentTask, exit: NonNullable<SimContainer['exit']>, report = true): void {
    if (!t.container.running) return;
    t.container.running = false;
    t.container.exit = exit;
    t.container.timer?.cancel();
    t.container.timer = undefined;
    if (report && this.alive) this.containerChanged(key, t);
  }

  /** Reports what the container did since the last update (also on recovery after a crash). */
  private containerChanged(key: string, t: SimAgentTask): void {
    if (isTerminal(t.state)) return;
    const exit = t.container.exit;
    if (!exit) {
      if (t.container.started && t.state !== 'TASK_RUNNING' && !t.killing) this.update(key, t, 'TASK_RUNNING');
      return;
    }
    if (this.bug === 'forget-failure' && exit.state === 'TASK_FAILED') {
      // Injected bug: the failure is never reported (the task silently disappears).
      t.state = exit.state;
      return;
    }
    this.update(key, t, exit.state, exit.reason, exit.message);
  }

  // --- status updates ------------------------------------------------------------------------

  private update(key: string, t: SimAgentTask, state: TaskState, reason?: StatusReason, message?: string): void {
    t.state = state;
    const status: TaskStatus = {
      task_id: t.info.task_id,
      state,
      source: 'SOURCE_EXECUTOR',
      ...(reason ? { reason } : {}),
      ...(message ? { message } : {}),
      ...(this.agentId ? { agent_id: { value: this.agentId } } : {}),
      timestamp: this.clock.nowMs() / 1000,
      uuid: this.random.uuid(),
    };
    const index = t.updates++;
    this.observer.updateCreated?.(this, t.frameworkId, status, index);
    let q = this.pending.get(key);
    if (!q) this.pending.set(key, (q = []));
    q.push({ frameworkId: t.frameworkId, status });
    // Injected bug: hold TASK_STARTING back so that TASK_RUNNING overtakes it (see sendHead).
    if (this.bug === 'reorder-updates' && state === 'TASK_STARTING') return;
    this.sendHead(key);
  }

  /** Sends the oldest unacknowledged update of a task, unless one is already in flight. */
  private sendHead(key: string): void {
    if (this.state !== 'registered' || !this.agentId || this.inflight.has(key)) return;
    const q = this.pending.get(key);
    const head = q?.[0];
    if (!head) return;
    if (this.bug === 'reorder-updates' && q.length > 1) {
      // Injected bug: send a newer update before the older one was acknowledged.
      const newer = q[q.length - 1]!;
      q.pop();
      q.unshift(newer);
    }
    const sent = q[0]!;
    this.inflight.add(key);
    this.stats.updatesSent++;
    const gen = this.gen;
    this.link.call({ type: 'STATUS_UPDATE', agent_id: { value: this.agentId }, framework_id: { value: sent.frameworkId }, status: sent.status }).then(
      (r) => {
        if (gen !== this.gen) return;
        this.inflight.delete(key);
        if (r.status === 200) return this.acked(key, sent);
        if (r.status === 403) return this.shutdown('marked gone');
        if (r.status === 409 || r.status === 404) this.reconnect(`status update ${r.status}`);
        this.setTimer(this.options.statusRetryMs, () => this.sendHead(key));
      },
      () => {
        if (gen !== this.gen) return;
        this.inflight.delete(key);
        this.setTimer(this.options.statusRetryMs, () => this.sendHead(key));
      },
    );
  }

  private acked(key: string, u: PendingUpdate): void {
    const q = this.pending.get(key);
    if (!q || q[0] !== u) return;
    q.shift();
    this.stats.updatesAcked++;
    this.observer.updateAcked?.(this, u.frameworkId, u.status);
    const t = this.tasks.get(key);
    if (q.length > 0) {
      this.sendHead(key);
      return;
    }
    this.pending.delete(key);
    if (t && isTerminal(t.state) && !t.container.running) {
      // The terminal update is acknowledged: the task and its sandbox are gone.
      t.done = true;
      this.tasks.delete(key);
    }
  }

  /** Updates not yet acknowledged by the master, across tasks. */
  get pendingUpdates(): number {
    let n = 0;
    for (const q of this.pending.values()) n += q.length;
    return n;
  }
}
