import { RingBuffer } from '../../base/queue.js';
import { toBase64 } from '../../base/bytes.js';
import type { Clock, TimerHandle } from '../../base/clock.js';
import type { Random } from '../../base/random.js';
import type { AgentCommand, RegisteredReply } from '../../model/agent-protocol.js';
import {
  type AgentInfo,
  type CheckStatusInfo,
  type FrameworkInfo,
  hasCapability,
  isTerminal,
  type KillPolicy,
  type StatusReason,
  type StatusSource,
  stripNulls,
  type Task,
  type TaskInfo,
  type TaskState,
  type TaskStatus,
} from '../../model/mesos.js';
import type { CommandStream, MasterLink, MasterLinkReply } from '../../ports/master-link.js';
import type { ContainerNetworks, NetworkRequest, NetworkSetup } from '../../ports/network.js';
import type { Probes } from '../../ports/probes.js';
import type { Checkpointer, ContainerRuntime, ExitStatus, LaunchSpec } from '../../ports/runtime.js';
import { AGENT_DEFAULTS, type AgentConfig } from './config.js';
import {
  CheckDriver,
  CheckState,
  checkPolicy,
  checkStatusOf,
  describe,
  emptyCheckStatus,
  HealthState,
  healthPolicy,
  healthy,
  probeSpec,
  runProbe,
} from './health.js';
import { AGENT_FILE, FRAMEWORKS_DIR, frameworkDir, frameworkFile, killedFile, sandboxPath, taskDir, taskFile, tasksDir, validId } from './paths.js';
import { type SendOutcome, StatusUpdateManager } from './status-updates.js';

export type LogFn = (level: 'info' | 'warn' | 'error', message: string) => void;

export interface AgentDeps {
  clock: Clock;
  random: Random;
  link: MasterLink;
  runtime: ContainerRuntime;
  checkpointer: Checkpointer;
  config: AgentConfig;
  log?: LogFn;
  /** Runs health checks and checks; without it, tasks' checks are not run (a warning is logged). */
  probes?: Probes;
  /** Container networks (CNI); without it, tasks that name a network fail to launch. */
  networks?: ContainerNetworks;
  /** Marks points of a container's launch and exit path (the launch benchmark's breakdown). */
  trace?: (containerId: string, point: string) => void;
}

export type AgentEvent =
  | { type: 'registered'; agentId: string; masterId: string; reregistered: boolean }
  | { type: 'disconnected'; reason: string }
  /** The master marked this agent gone: its tasks were killed and it stopped. */
  | { type: 'gone'; message: string };

export type ConnectionState = 'idle' | 'connecting' | 'registered' | 'stopped' | 'gone';

type KillReason = 'kill' | 'shutdown' | 'max_completion' | 'gone' | 'cleanup' | 'unhealthy' | 'disk';
const KILL_REASONS: readonly string[] = ['kill', 'shutdown', 'max_completion', 'gone', 'cleanup', 'unhealthy', 'disk'];

/** Extra fields of a status update. */
interface ReportOptions {
  source: StatusSource;
  reason?: StatusReason;
  message?: string;
  healthy?: boolean;
  checkStatus?: CheckStatusInfo;
}

/** One task run (command tasks: one executor, one container per task). */
interface TaskRun {
  frameworkId: string;
  info: TaskInfo;
  executorId: string;
  containerId: string;
  sandboxDir: string;
  launchedAtMs: number;
  state: TaskState;
  statuses: TaskStatus[];
  pid: number | undefined;
  phase: 'launching' | 'running' | 'exited';
  /** A terminal update was queued: nothing more is reported for this task. */
  terminal: boolean;
  killReason: KillReason | undefined;
  killGraceMs: number | undefined;
  killing: boolean;
  completionTimer: TimerHandle | undefined;
  frameworkInfo: FrameworkInfo;
  /** Health check and check drivers, running while the task runs. */
  checkers: CheckDriver[];
  /** The last health and check results reported (carried by later TASK_RUNNING updates). */
  lastHealthy: boolean | undefined;
  lastCheckStatus: CheckStatusInfo | undefined;
  diskTimer: TimerHandle | undefined;
  /** The limitation that made the agent kill the task (reported in its terminal update). */
  limitation: string | undefined;
  /** The container's own network namespace and addresses, when its ContainerInfo names networks. */
  network: NetworkSetup | undefined;
}

interface FrameworkEntry {
  id: string;
  info: FrameworkInfo;
  tasks: Map<string, TaskRun>;
}

/** What the agent checkpoints per task (task.json). */
interface TaskCheckpoint {
  framework_id: string;
  agent_id: string;
  executor_id: string;
  container_id: string;
  sandbox_dir: string;
  launched_at_ms: number;
  task: TaskInfo;
}

/** A task as the HTTP API shows it. */
export interface TaskView {
  frameworkId: string;
  frameworkInfo: FrameworkInfo;
  executorId: string;
  containerId: string;
  sandboxDir: string;
  pid: number | undefined;
  info: TaskInfo;
  task: Task;
}

export interface AgentView {
  id: string | undefined;
  hostname: string;
  ip: string;
  port: number;
  pid: string;
  version: string;
  startTimeMs: number;
  connection: ConnectionState;
  masterId: string | undefined;
  info: AgentInfo;
  flags: Record<string, string>;
  workDir: string;
  frameworks: { id: string; info: FrameworkInfo; tasks: TaskView[] }[];
  /** Newest last. */
  completedTasks: TaskView[];
}

const SIGNAL_NAMES: Record<number, string> = {
  1: 'Hangup',
  2: 'Interrupt',
  3: 'Quit',
  4: 'Illegal instruction',
  6: 'Aborted',
  7: 'Bus error',
  8: 'Floating point exception',
  9: 'Killed',
  10: 'User defined signal 1',
  11: 'Segmentation fault',
  12: 'User defined signal 2',
  13: 'Broken pipe',
  14: 'Alarm clock',
  15: 'Terminated',
};

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The agent: registers with the master, runs what the master sends down the command stream,
 * reports every task state change reliably, and survives its own restarts (checkpoints + runtime
 * recovery). All time comes from the injected Clock and all randomness from the injected Random,
 * so the simulator can drive it; all I/O goes through the link, the runtime and the checkpointer.
 */
export class Agent {
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly link: MasterLink;
  private readonly runtime: ContainerRuntime;
  private readonly ckpt: Checkpointer;
  readonly config: Readonly<AgentConfig>;
  private readonly log: LogFn;
  private readonly updates: StatusUpdateManager;
  private readonly probes: Probes | undefined;
  private readonly networks: ContainerNetworks | undefined;
  private readonly trace: (containerId: string, point: string) => void;

  private agentId: string | undefined;
  private masterId: string | undefined;
  private conn: ConnectionState = 'idle';
  /** Bumped on every reconnect and stop: async continuations of an older attempt give up. */
  private gen = 0;
  private backoffMs: number;
  private retryTimer: TimerHandle | undefined;
  private pingTimer: TimerHandle | undefined;
  private pingInFlight = false;
  private stream: CommandStream | undefined;
  private readonly frameworks = new Map<string, FrameworkEntry>();
  /** The FrameworkInfo JSON last made durable per framework (the file is rewritten only on change). */
  private readonly fwCheckpointed = new Map<string, string>();
  private readonly completed: RingBuffer<TaskView>;
  private readonly listeners: ((e: AgentEvent) => void)[] = [];
  /** Task checkpoints being removed, by framework and task id. */
  private readonly removing = new Map<string, Promise<void>>();
  private startTimeMs = 0;
  private readonly counters: Record<string, number> = {
    tasks_finished: 0,
    tasks_failed: 0,
    tasks_killed: 0,
    tasks_lost: 0,
    tasks_error: 0,
    tasks_dropped: 0,
    tasks_gone: 0,
    valid_status_updates: 0,
    invalid_status_updates: 0,
    valid_framework_messages: 0,
    invalid_framework_messages: 0,
    executors_terminated: 0,
    container_launch_errors: 0,
    recovery_errors: 0,
  };

  constructor(deps: AgentDeps) {
    this.clock = deps.clock;
    this.random = deps.random;
    this.link = deps.link;
    this.runtime = deps.runtime;
    this.ckpt = deps.checkpointer;
    this.config = deps.config;
    this.log = deps.log ?? (() => {});
    this.probes = deps.probes;
    this.networks = deps.networks;
    this.trace = deps.trace ?? (() => {});
    this.backoffMs = this.cfg('registerBackoffMinMs');
    this.completed = new RingBuffer<TaskView>(this.cfg('maxCompletedTasks'));
    this.updates = new StatusUpdateManager({
      clock: this.clock,
      checkpointer: this.ckpt,
      send: (fw, status) => this.sendUpdate(fw, status),
      onTerminalAcked: (fw, task) => void this.onTerminalAcked(fw, task),
      retryMinMs: this.cfg('statusUpdateRetryMinMs'),
      retryMaxMs: this.cfg('statusUpdateRetryMaxMs'),
      log: this.log,
    });
  }

  // --- Lifecycle --------------------------------------------------------------------------------

  /** Recovers from the checkpoints, then connects to the master (in the background). */
  async start(): Promise<void> {
    if (this.conn !== 'idle') throw new Error('agent already started');
    this.startTimeMs = this.clock.nowMs();
    await this.recover();
    if (this.isStopped()) return;
    this.reconnect('agent started');
  }

  /**
   * Stops talking to the master and watching tasks. Tasks keep running (they are detached) and
   * a later start over the same work dir reattaches to them, as a restarted Mesos agent does.
   */
  async stop(): Promise<void> {
    if (this.conn === 'stopped' || this.conn === 'gone') return;
    this.conn = 'stopped';
    this.halt();
    await this.updates.flush();
  }

  onEvent(fn: (e: AgentEvent) => void): void {
    this.listeners.push(fn);
  }

  get id(): string | undefined {
    return this.agentId;
  }

  get connection(): ConnectionState {
    return this.conn;
  }

  get pid(): string {
    return `slave(1)@${this.config.ip}:${this.config.port}`;
  }

  // --- Recovery ---------------------------------------------------------------------------------

  private async recover(): Promise<void> {
    const saved = await this.readJson<{ agent_id?: string }>(AGENT_FILE);
    this.agentId = validId(saved?.agent_id) ? saved.agent_id : undefined;
    const cleanup = this.cfg('recover') === 'cleanup';
    const toRecover: TaskRun[] = [];
    for (const fwId of await this.ckpt.list(FRAMEWORKS_DIR)) {
      if (!validId(fwId)) continue;
      const fwInfo = (await this.readJson<FrameworkInfo>(frameworkFile(fwId))) ?? { user: 'root', name: fwId, id: { value: fwId } };
      for (const taskId of await this.ckpt.list(tasksDir(fwId))) {
        if (!validId(taskId)) continue;
        const cp = await this.readJson<TaskCheckpoint>(taskFile(fwId, taskId));
        const { all, pending } = await this.updates.recover(fwId, taskId);
        if (!cp) {
          // Updates for a task the agent never ran (e.g. a kill of an unknown task): just deliver them.
          if (pending.length === 0) await this.ckpt.remove(taskDir(fwId, taskId));
          continue;
        }
        const fw = this.framework(fwId, fwInfo);
        const run = this.newRun(fw, cp.task, cp.executor_id, cp.container_id, cp.sandbox_dir, cp.launched_at_ms);
        run.statuses = all.slice(-this.cfg('maxStatusesPerTask'));
        const last = all[all.length - 1];
        if (last) run.state = last.state;
        if (last?.container_status?.executor_pid) run.pid = last.container_status.executor_pid;
        if (last && isTerminal(last.state)) {
          run.terminal = true;
          run.phase = 'exited';
          if (pending.length === 0) {
            await this.ckpt.remove(taskDir(fwId, taskId));
            this.toCompleted(fw, run);
          } else fw.tasks.set(taskId, run);
          continue;
        }
        const killed = await this.ckpt.read(killedFile(fwId, taskId));
        if (killed !== undefined) run.killReason = KILL_REASONS.includes(killed) ? (killed as KillReason) : 'kill';
        fw.tasks.set(taskId, run);
        toRecover.push(run);
      }
      const fw = this.frameworks.get(fwId);
      if (!fw || fw.tasks.size === 0) {
        if ((await this.ckpt.list(tasksDir(fwId))).length === 0) await this.ckpt.remove(frameworkDir(fwId));
        if (fw && fw.tasks.size === 0) this.frameworks.delete(fwId);
      }
    }

    const found = await this.runtime.recover(toRecover.map((r) => ({ containerId: r.containerId, sandboxDir: r.sandboxDir })));
    const byContainer = new Map(found.map((f) => [f.containerId, f] as const));
    await this.recoverNetworks(toRecover, byContainer);
    for (const run of toRecover) {
      const r = byContainer.get(run.containerId) ?? { containerId: run.containerId, state: 'unknown' as const };
      if (r.state === 'running') {
        run.pid = r.pid;
        run.phase = 'running';
        this.log('info', `reattached to task ${run.info.task_id.value} (pid ${r.pid})`);
        if (run.statuses.length === 0) {
          // The agent stopped between the launch and its first report.
          this.report(run, 'TASK_STARTING', { source: 'SOURCE_EXECUTOR' });
          this.report(run, 'TASK_RUNNING', { source: 'SOURCE_EXECUTOR' });
        }
        this.watch(run);
        this.armCompletionTimer(run);
        if (run.killReason) this.killRun(run, run.killReason, this.cfg('defaultKillGracePeriodMs'));
        else this.startWatchers(run);
      } else if (r.state === 'exited') {
        this.log('info', `task ${run.info.task_id.value} exited while the agent was down`);
        run.phase = 'running';
        this.onExit(run, r.exit);
      } else {
        run.phase = 'exited';
        this.counters.recovery_errors!++;
        if (run.statuses.length === 0) {
          const partitionAware = hasCapability(run.frameworkInfo, 'PARTITION_AWARE');
          this.report(run, partitionAware ? 'TASK_DROPPED' : 'TASK_LOST', {
            source: 'SOURCE_AGENT',
            reason: 'REASON_AGENT_RESTARTED',
            message: 'The agent restarted before the task was launched',
          });
        } else {
          this.report(run, 'TASK_FAILED', {
            source: 'SOURCE_AGENT',
            reason: 'REASON_EXECUTOR_TERMINATED',
            message: 'The agent restarted and found no trace of the task',
          });
        }
      }
    }

    if (cleanup) await this.cleanupEverything('the agent started with --recover=cleanup');
  }

  /** --recover=cleanup: kill what the last run left, forget it, and register as a new agent. */
  private async cleanupEverything(why: string): Promise<void> {
    this.log('info', `cleaning up: ${why}`);
    await this.killAll('cleanup');
    await this.forgetEverything();
  }

  private async killAll(reason: KillReason): Promise<void> {
    const kills: Promise<unknown>[] = [];
    for (const fw of this.frameworks.values()) {
      for (const run of fw.tasks.values()) {
        // Nothing more is reported for these tasks: the agent forgets them right after.
        run.terminal = true;
        if (run.phase !== 'running') continue;
        run.killReason ??= reason;
        kills.push(this.runtime.kill(run.containerId, this.killGrace(run, undefined)).catch(() => {}));
        kills.push(this.runtime.wait(run.containerId).catch(() => {}));
      }
    }
    await Promise.all(kills);
  }

  private async forgetEverything(): Promise<void> {
    for (const fw of this.frameworks.values()) {
      for (const run of fw.tasks.values()) {
        run.completionTimer?.cancel();
        await this.updates.remove(fw.id, run.info.task_id.value);
        await this.runtime.cleanup?.(run.containerId).catch(() => {});
        if (run.network) await this.detachNetwork(run);
      }
    }
    this.frameworks.clear();
    await this.updates.flush();
    await this.ckpt.remove(FRAMEWORKS_DIR);
    await this.ckpt.remove(AGENT_FILE);
    this.agentId = undefined;
  }

  // --- Connection to the master -----------------------------------------------------------------

  /** Starts (or restarts) registration; idempotent while an attempt is under way. */
  private reconnect(reason: string): void {
    if (this.isStopped() || this.conn === 'connecting') return;
    const wasRegistered = this.conn === 'registered';
    this.conn = 'connecting';
    this.gen++;
    this.updates.pause();
    this.pingTimer?.cancel();
    this.pingTimer = undefined;
    this.closeStream();
    this.backoffMs = this.cfg('registerBackoffMinMs');
    this.log('info', `connecting to the master: ${reason}`);
    if (wasRegistered) this.emit({ type: 'disconnected', reason });
    void this.attempt(this.gen);
  }

  private async attempt(gen: number): Promise<void> {
    if (gen !== this.gen || this.isStopped()) return;
    let outcome: 'ok' | 'retry' | 'new';
    try {
      outcome = await this.registerOnce(gen);
    } catch (e) {
      this.log('warn', `cannot reach the master: ${(e as Error).message}`);
      outcome = 'retry';
    }
    if (gen !== this.gen || this.isStopped() || outcome === 'ok') return;
    if (outcome === 'new') {
      void this.attempt(gen);
      return;
    }
    const delay = Math.round(this.backoffMs * (0.5 + 0.5 * this.random.next()));
    this.backoffMs = Math.min(this.backoffMs * 2, this.cfg('registerBackoffMaxMs'));
    this.retryTimer = this.clock.setTimer(delay, () => {
      this.retryTimer = undefined;
      void this.attempt(gen);
    });
  }

  private lastSession = 0;

  /** REREGISTER's ordering number: strictly increasing, and past any earlier run's (clock based). */
  private nextSession(): number {
    this.lastSession = Math.max(this.lastSession + 1, Math.floor(this.clock.nowMs()));
    return this.lastSession;
  }

  private async registerOnce(gen: number): Promise<'ok' | 'retry' | 'new'> {
    const reregister = this.agentId !== undefined;
    const agentInfo = this.agentInfo();
    const reply = reregister
      ? await this.link.call({
          type: 'REREGISTER',
          agent_id: { value: this.agentId as string },
          agent_info: agentInfo,
          ip: this.config.ip,
          version: this.config.version,
          tasks: this.reportedTasks(),
          session: this.nextSession(),
          frameworks: this.reportedFrameworks(),
        })
      : await this.link.call({ type: 'REGISTER', agent_info: agentInfo, ip: this.config.ip, version: this.config.version });
    if (gen !== this.gen || this.isStopped()) return 'retry';
    if (reply.status === 403 && isGone(reply)) {
      void this.goGone(goneMessage(reply));
      return 'retry';
    }
    if (reply.status === 404 && reregister) {
      // The master does not know this agent id and will not take it back: start over as a new
      // agent. The old tasks belong to the old identity, so they are killed and forgotten.
      this.log('warn', `the master does not know agent ${this.agentId}; registering as a new agent`);
      await this.cleanupEverything('the master refused the old agent id');
      return 'new';
    }
    if (reply.status !== 200) {
      this.log('warn', `${reregister ? 'reregistration' : 'registration'} refused: ${reply.status} ${bodyText(reply.body)}`);
      return 'retry';
    }
    const r = reply.body as RegisteredReply;
    const id = r?.agent_id?.value;
    if (!validId(id)) {
      this.log('error', `the master replied without a valid agent id: ${bodyText(reply.body)}`);
      return 'retry';
    }
    if (id !== this.agentId) {
      this.agentId = id;
      await this.ckpt.write(AGENT_FILE, JSON.stringify({ agent_id: id, hostname: this.config.hostname, registered_at_ms: this.clock.nowMs() }));
    }
    if (gen !== this.gen || this.isStopped()) return 'retry';
    this.masterId = r.master_id;
    const pingMs = this.config.pingIntervalMs ?? (r.ping_interval_seconds > 0 ? r.ping_interval_seconds * 1000 : AGENT_DEFAULTS.pingIntervalMs);

    let streamClosed = false;
    const stream = await this.link.subscribe(
      id,
      (c) => {
        if (gen === this.gen && !this.isStopped()) this.onCommand(c);
      },
      () => {
        streamClosed = true;
        if (gen === this.gen && this.conn === 'registered') this.reconnect('the command stream closed');
      },
    );
    if (gen !== this.gen || this.isStopped() || streamClosed) {
      if (!('status' in stream)) stream.close();
      return 'retry';
    }
    if ('status' in stream) {
      if (stream.status === 403 && isGone(stream)) void this.goGone(goneMessage(stream));
      else this.log('warn', `the master refused the command stream: ${stream.status} ${bodyText(stream.body)}`);
      return 'retry';
    }
    this.stream = stream;
    this.conn = 'registered';
    this.backoffMs = this.cfg('registerBackoffMinMs');
    this.pingTimer = this.clock.setInterval(pingMs, () => this.ping(gen));
    this.updates.resume();
    this.log('info', `${reregister ? 'reregistered' : 'registered'} with master ${r.master_id} as agent ${id}`);
    this.emit({ type: 'registered', agentId: id, masterId: r.master_id, reregistered: reregister });
    return 'ok';
  }

  private ping(gen: number): void {
    if (this.pingInFlight || gen !== this.gen || this.conn !== 'registered' || !this.agentId) return;
    this.pingInFlight = true;
    this.link.call({ type: 'PING', agent_id: { value: this.agentId } }).then(
      (reply) => {
        this.pingInFlight = false;
        if (gen !== this.gen) return;
        if (reply.status === 200) return;
        if (reply.status === 403 && isGone(reply)) void this.goGone(goneMessage(reply));
        else if (reply.status === 404 || reply.status === 409) this.reconnect(`the master answered ${reply.status} to a ping`);
      },
      (e: Error) => {
        this.pingInFlight = false;
        if (gen === this.gen) this.reconnect(`ping failed: ${e.message}`);
      },
    );
  }

  /** The sender behind the status update manager: the master's 200 is the acknowledgement. */
  private async sendUpdate(frameworkId: string, status: TaskStatus): Promise<SendOutcome> {
    const gen = this.gen;
    if (!this.agentId || this.conn !== 'registered') return 'retry';
    let reply: MasterLinkReply;
    const traced = isTerminal(status.state) ? status.container_status?.container_id?.value : undefined;
    if (traced) this.trace(traced, 'agent: terminal update sent');
    try {
      reply = await this.link.call({ type: 'STATUS_UPDATE', agent_id: { value: this.agentId }, framework_id: { value: frameworkId }, status });
    } catch (e) {
      this.log('warn', `status update ${status.state} of task ${status.task_id.value} not delivered: ${(e as Error).message}`);
      return 'retry';
    }
    if (reply.status === 200) {
      this.counters.valid_status_updates!++;
      return 'acked';
    }
    if (gen === this.gen) {
      if (reply.status === 403 && isGone(reply)) void this.goGone(goneMessage(reply));
      else if (reply.status === 404 || reply.status === 409) this.reconnect(`the master answered ${reply.status} to a status update`);
      else {
        this.counters.invalid_status_updates!++;
        this.log('warn', `the master refused status update ${status.state} of task ${status.task_id.value}: ${reply.status} ${bodyText(reply.body)}`);
      }
    }
    return 'retry';
  }

  private async goGone(message: string): Promise<void> {
    if (this.conn === 'gone') return;
    this.log('warn', `the master marked this agent gone (${message}): killing every task and stopping`);
    this.conn = 'gone';
    this.halt();
    await this.killAll('gone');
    await this.forgetEverything();
    this.emit({ type: 'gone', message });
  }

  private halt(): void {
    this.gen++;
    this.retryTimer?.cancel();
    this.retryTimer = undefined;
    this.pingTimer?.cancel();
    this.pingTimer = undefined;
    this.closeStream();
    this.updates.stop();
    for (const fw of this.frameworks.values()) {
      for (const run of fw.tasks.values()) {
        run.completionTimer?.cancel();
        this.stopWatchers(run);
      }
    }
  }

  private closeStream(): void {
    const s = this.stream;
    this.stream = undefined;
    s?.close();
  }

  private isStopped(): boolean {
    return this.conn === 'stopped' || this.conn === 'gone';
  }

  // --- Commands from the master -----------------------------------------------------------------

  private onCommand(command: AgentCommand): void {
    switch (command.type) {
      case 'RUN_TASK':
        void this.runTask(command.framework_id?.value, command.framework_info, command.task).catch((e: Error) =>
          this.log('error', `RUN_TASK failed: ${e.stack ?? e.message}`),
        );
        return;
      case 'KILL_TASK':
        this.killTask(command.framework_id?.value, command.task_id?.value, command.kill_policy);
        return;
      case 'SHUTDOWN_FRAMEWORK':
        this.shutdownFramework(command.framework_id?.value);
        return;
      case 'UPDATE_FRAMEWORK':
        this.updateFramework(command.framework_id?.value, command.framework_info);
        return;
      case 'FRAMEWORK_MESSAGE':
        // Command tasks have no executor that could receive a message.
        this.counters.invalid_framework_messages!++;
        this.log('info', `dropping a framework message for executor ${command.executor_id?.value}: command tasks cannot receive messages`);
        return;
      case 'PING':
        return;
      case 'SHUTDOWN':
        void this.goGone(command.message ?? 'shutdown requested by the master');
        return;
      default:
        this.log('warn', `unknown command from the master: ${JSON.stringify(command).slice(0, 200)}`);
    }
  }

  private async runTask(fwId: string | undefined, fwInfoIn: FrameworkInfo | undefined, taskIn: TaskInfo | undefined): Promise<void> {
    if (!validId(fwId)) {
      this.log('warn', `RUN_TASK with an invalid framework id ${JSON.stringify(fwId)} ignored`);
      return;
    }
    const task = stripNulls(taskIn ?? ({} as TaskInfo));
    const taskId = task.task_id?.value;
    const fwInfo = stripNulls(fwInfoIn ?? { user: 'root', name: fwId });
    const fw = this.framework(fwId, { ...fwInfo, id: { value: fwId } });
    if (!validId(taskId)) {
      // Not usable as a path: report it without a checkpoint.
      const status = this.makeStatus(String(taskId ?? ''), 'TASK_ERROR', undefined, undefined, {
        source: 'SOURCE_AGENT',
        reason: 'REASON_TASK_INVALID',
        message: `Invalid task id ${JSON.stringify(taskId)}`,
      });
      this.counters.tasks_error!++;
      void this.updates.update(fwId, status, false);
      return;
    }
    if (fw.tasks.has(taskId)) {
      // The master may resend a launch it is unsure about; the running task is the answer.
      this.log('warn', `ignoring RUN_TASK for task ${taskId}: it is already running`);
      return;
    }
    const agentId = this.agentId as string;
    const containerId = this.random.uuid();
    const sandbox = sandboxPath(this.config.workDir, agentId, fwId, taskId, containerId);
    const run = this.newRun(fw, task, taskId, containerId, sandbox, this.clock.nowMs());
    fw.tasks.set(taskId, run);
    this.trace(containerId, 'agent: RUN_TASK');

    const invalid = validateTask(task);
    const nets = networkRequests(task);
    if (invalid || typeof nets === 'string') {
      this.report(run, 'TASK_ERROR', { source: 'SOURCE_AGENT', reason: 'REASON_TASK_INVALID', message: invalid ?? (nets as string) });
      return;
    }
    const checkpoint: TaskCheckpoint = {
      framework_id: fwId,
      agent_id: agentId,
      executor_id: taskId,
      container_id: containerId,
      sandbox_dir: sandbox,
      launched_at_ms: run.launchedAtMs,
      task,
    };
    const durable = (async () => {
      await this.removing.get(`${fwId}\u0000${taskId}`);
      // The framework file only when it changed: one durable write fewer per launch.
      const fwJson = JSON.stringify(fw.info);
      if (this.fwCheckpointed.get(fwId) !== fwJson) {
        await this.ckpt.write(frameworkFile(fwId), fwJson);
        this.fwCheckpointed.set(fwId, fwJson);
      }
      await this.ckpt.write(taskFile(fwId, taskId), JSON.stringify(checkpoint));
      this.trace(containerId, 'agent: task.json durable');
    })();
    // Nothing of the task starts before its checkpoint is durable, nor once it is no longer
    // wanted (killed, the agent stopped). A plain command task is prepared by the runtime while
    // the checkpoint is written (LaunchSpec.ready); one with networks or an executor waits here.
    let ckptError: Error | undefined;
    const ready = durable.then(
      () => {
        if (this.isStopped() || run.terminal || run.killReason) throw new Error('the task is no longer to be launched');
      },
      (e: Error) => {
        ckptError = e;
        throw e;
      },
    );
    ready.catch(() => {}); // handled where it is awaited (here, or by the runtime)
    const overlap = nets.length === 0 && !task.executor && this.runtime.waitsForReady === true;
    if (!overlap) {
      try {
        await ready;
      } catch {
        this.notLaunched(run, ckptError);
        return;
      }
    }
    if (task.executor) {
      this.counters.container_launch_errors!++;
      this.report(run, 'TASK_FAILED', {
        source: 'SOURCE_AGENT',
        reason: 'REASON_CONTAINER_LAUNCH_FAILED',
        message: 'Custom executors are not supported by this agent yet; use a command task',
      });
      return;
    }
    if (nets.length > 0) {
      try {
        if (!this.networks) throw new Error('this agent has no container networks (see --network_cni_config_dir)');
        run.network = await this.networks.attach(containerId, nets);
      } catch (e) {
        if (this.isStopped()) return;
        this.counters.container_launch_errors!++;
        this.report(run, 'TASK_FAILED', {
          source: 'SOURCE_AGENT',
          reason: 'REASON_CONTAINER_LAUNCH_FAILED',
          message: `Failed to attach the container to its networks: ${(e as Error).message}`,
        });
        return;
      }
      // Stopped meanwhile: the next start finds no container for it and detaches the networks.
      if (this.isStopped()) return;
    }
    const spec: LaunchSpec = {
      containerId,
      sandboxDir: sandbox,
      command: task.command ?? {},
      env: this.taskEnv(run),
      ...(task.container ? { container: task.container } : {}),
      resources: scalarResources(task.resources ?? []),
      ...(run.network ? { netnsPath: run.network.netnsPath } : {}),
      ...(overlap ? { ready } : {}),
    };
    try {
      const handle = await this.runtime.launch(spec);
      this.trace(containerId, 'agent: launch returned');
      run.pid = handle.pid;
    } catch (e) {
      if (this.isStopped()) return;
      if (overlap && (ckptError || run.terminal || run.killReason)) {
        // The runtime undid what it had made: reported as before the launch.
        this.notLaunched(run, ckptError);
        return;
      }
      if (run.network) await this.detachNetwork(run);
      this.counters.container_launch_errors!++;
      this.report(run, 'TASK_FAILED', {
        source: 'SOURCE_AGENT',
        reason: 'REASON_CONTAINER_LAUNCH_FAILED',
        message: `Failed to launch container: ${(e as Error).message}`,
      });
      return;
    }
    if (this.conn === 'gone') {
      // Marked gone while launching: this task must not outlive the agent either.
      this.runtime.kill(containerId, 0).catch(() => {});
      return;
    }
    // Stopped meanwhile: the task runs on, and the next start reattaches to it.
    if (this.isStopped()) return;
    run.phase = 'running';
    // Queued before the exit watcher is attached, so STARTING and RUNNING always precede the end.
    this.report(run, 'TASK_STARTING', { source: 'SOURCE_EXECUTOR' });
    if (task.check) run.lastCheckStatus = emptyCheckStatus(task.check);
    this.report(run, 'TASK_RUNNING', { source: 'SOURCE_EXECUTOR' });
    this.watch(run);
    this.armCompletionTimer(run);
    if (run.killReason) this.killRun(run, run.killReason, run.killGraceMs ?? this.killGrace(run, undefined));
    else this.startWatchers(run);
  }

  /** A task that was not launched: its checkpoint failed, it was killed meanwhile, or the agent stopped. */
  private notLaunched(run: TaskRun, ckptError: Error | undefined): void {
    if (this.isStopped()) return;
    if (ckptError) {
      this.counters.container_launch_errors!++;
      this.report(run, 'TASK_FAILED', {
        source: 'SOURCE_AGENT',
        reason: 'REASON_CONTAINER_LAUNCH_FAILED',
        message: `Failed to checkpoint the task: ${ckptError.message}`,
      });
      return;
    }
    if (run.terminal) return;
    if (run.killReason) {
      this.report(run, 'TASK_KILLED', {
        source: 'SOURCE_AGENT',
        reason: 'REASON_TASK_KILLED_DURING_LAUNCH',
        message: 'Task was killed before it was launched',
      });
    }
  }

  private killTask(fwId: string | undefined, taskId: string | undefined, policy: KillPolicy | undefined): void {
    if (!validId(fwId) || !validId(taskId)) {
      this.log('warn', `KILL_TASK with invalid ids ignored (${fwId}/${taskId})`);
      return;
    }
    const fw = this.frameworks.get(fwId);
    const run = fw?.tasks.get(taskId);
    if (!run) {
      if (this.completed.toArray().some((t) => t.frameworkId === fwId && t.info.task_id.value === taskId)) return;
      // Unknown here: tell the master so it can settle the task.
      const partitionAware = fw ? hasCapability(fw.info, 'PARTITION_AWARE') : false;
      const status = this.makeStatus(taskId, partitionAware ? 'TASK_DROPPED' : 'TASK_LOST', undefined, undefined, {
        source: 'SOURCE_AGENT',
        reason: 'REASON_TASK_UNKNOWN',
        message: 'Cannot find the task to kill: it is unknown to the agent',
      });
      this.count(status.state);
      void this.updates.update(fwId, status);
      return;
    }
    this.killRun(run, 'kill', this.killGrace(run, policy));
  }

  private shutdownFramework(fwId: string | undefined): void {
    if (!validId(fwId)) return;
    const fw = this.frameworks.get(fwId);
    if (!fw) return;
    this.log('info', `shutting down framework ${fwId}: killing ${fw.tasks.size} tasks`);
    for (const run of fw.tasks.values()) this.killRun(run, 'shutdown', this.killGrace(run, undefined));
  }

  private updateFramework(fwId: string | undefined, info: FrameworkInfo | undefined): void {
    if (!validId(fwId) || !info) return;
    const fw = this.frameworks.get(fwId);
    if (!fw) return;
    fw.info = { ...stripNulls(info), id: { value: fwId } };
    for (const run of fw.tasks.values()) run.frameworkInfo = fw.info;
    const fwJson = JSON.stringify(fw.info);
    this.fwCheckpointed.delete(fwId);
    void this.ckpt
      .write(frameworkFile(fwId), fwJson)
      .then(() => this.fwCheckpointed.set(fwId, fwJson))
      .catch((e: Error) => this.log('error', `checkpointing framework ${fwId}: ${e.message}`));
  }

  private killRun(run: TaskRun, reason: KillReason, graceMs: number): void {
    if (run.terminal || run.phase === 'exited') return;
    run.killReason ??= reason;
    run.killGraceMs ??= graceMs;
    if (run.phase === 'launching') return; // runTask kills it once launched (or never launches it)
    if (run.killing) return;
    run.killing = true;
    this.stopWatchers(run);
    const taskId = run.info.task_id.value;
    if ((reason === 'kill' || reason === 'unhealthy') && hasCapability(run.frameworkInfo, 'TASK_KILLING_STATE') && run.state !== 'TASK_KILLING') {
      this.report(run, 'TASK_KILLING', { source: 'SOURCE_EXECUTOR' });
    }
    // Remembered across a restart, so an exit after the kill is still reported as KILLED.
    void this.ckpt.write(killedFile(run.frameworkId, taskId), reason).catch(() => {});
    this.log('info', `killing task ${taskId} (grace ${graceMs} ms)`);
    this.runtime.kill(run.containerId, graceMs).catch((e: Error) => this.log('error', `killing task ${taskId}: ${e.message}`));
  }

  private killGrace(run: TaskRun, policy: KillPolicy | undefined): number {
    const ns = policy?.grace_period?.nanoseconds ?? run.info.kill_policy?.grace_period?.nanoseconds;
    if (typeof ns === 'number' && Number.isFinite(ns) && ns >= 0) return Math.round(ns / 1e6);
    return this.cfg('defaultKillGracePeriodMs');
  }

  private armCompletionTimer(run: TaskRun): void {
    const ns = run.info.max_completion_time?.nanoseconds;
    if (typeof ns !== 'number' || !(ns > 0)) return;
    const remaining = Math.max(0, run.launchedAtMs + ns / 1e6 - this.clock.nowMs());
    run.completionTimer = this.clock.setTimer(remaining, () => {
      run.completionTimer = undefined;
      if (!this.isStopped()) this.killRun(run, 'max_completion', 0);
    });
  }

  // --- Health checks, checks and the disk limit ---------------------------------------------------

  /** Starts the task's health check, check and disk watcher (a running task, not being killed). */
  private startWatchers(run: TaskRun): void {
    if (run.checkers.length > 0 || run.diskTimer || run.terminal || this.isStopped()) return;
    const taskId = run.info.task_id.value;
    const target = () => ({ containerId: run.containerId, env: this.taskEnv(run) });
    const hc = run.info.health_check;
    const check = run.info.check;
    if ((hc || check) && !this.probes) this.log('warn', `task ${taskId} has checks but this agent runs no probes`);
    if (hc && this.probes) {
      const spec = probeSpec(hc);
      if (typeof spec === 'string') this.log('warn', `health check of task ${taskId} not run: ${spec}`);
      else {
        const policy = healthPolicy(hc);
        const state = new HealthState(policy, this.clock.nowMs());
        const probes = this.probes;
        const driver = new CheckDriver(
          this.clock,
          policy.intervalMs,
          () => runProbe(probes, spec, target(), policy.timeoutMs),
          (r) => {
            if (run.terminal || run.killing) return;
            const ok = healthy(r);
            const v = ok ? state.success() : state.failure(this.clock.nowMs());
            if (!ok)
              this.log(
                'info',
                `health check of task ${taskId} failed (${describe(r)})${v ? ` ${v.consecutiveFailures} times in a row` : ', ignored in the grace period'}`,
              );
            if (!v) return;
            run.lastHealthy = v.healthy;
            this.report(run, 'TASK_RUNNING', { source: 'SOURCE_EXECUTOR', reason: 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED', healthy: v.healthy });
            if (v.kill) {
              run.limitation = `Task killed: health check failed ${v.consecutiveFailures} times in a row (${describe(r)})`;
              this.killRun(run, 'unhealthy', this.killGrace(run, undefined));
            }
          },
        );
        run.checkers.push(driver);
        driver.start(policy.delayMs);
      }
    }
    if (check && this.probes) {
      const spec = probeSpec(check);
      if (typeof spec === 'string') this.log('warn', `check of task ${taskId} not run: ${spec}`);
      else {
        const policy = checkPolicy(check);
        const state = new CheckState(run.lastCheckStatus ?? emptyCheckStatus(check));
        const probes = this.probes;
        const driver = new CheckDriver(
          this.clock,
          policy.intervalMs,
          () => runProbe(probes, spec, target(), policy.timeoutMs),
          (r) => {
            if (run.terminal || run.killing) return;
            const changed = state.update(checkStatusOf(spec.type, r));
            if (!changed) return;
            run.lastCheckStatus = changed;
            this.report(run, 'TASK_RUNNING', { source: 'SOURCE_EXECUTOR', reason: 'REASON_TASK_CHECK_STATUS_UPDATED', checkStatus: changed });
          },
        );
        run.checkers.push(driver);
        driver.start(policy.delayMs);
      }
    }
    this.armDiskWatch(run);
  }

  private stopWatchers(run: TaskRun): void {
    for (const c of run.checkers) c.stop();
    run.checkers = [];
    run.diskTimer?.cancel();
    run.diskTimer = undefined;
  }

  /** With enforcement on, a task using more disk than its `disk` resource is killed (Mesos' disk/du isolator). */
  private armDiskWatch(run: TaskRun): void {
    if (!this.config.enforceContainerDiskQuota || !this.runtime.diskUsage) return;
    const diskMb = (run.info.resources ?? []).filter((r) => r.name === 'disk' && r.type === 'SCALAR').reduce((a, r) => a + (r.scalar?.value ?? 0), 0);
    if (!(diskMb > 0)) return;
    const quotaBytes = Math.round(diskMb * 1024 * 1024);
    let busy = false;
    run.diskTimer = this.clock.setInterval(this.cfg('containerDiskWatchIntervalMs'), () => {
      if (busy || run.terminal || run.killing || run.phase !== 'running') return;
      busy = true;
      void this.runtime
        .diskUsage?.(run.containerId)
        .then((used) => {
          if (used === undefined || used <= quotaBytes || run.terminal || run.killing || run.phase !== 'running') return;
          run.limitation = `Disk usage (${formatBytes(used)}) exceeds quota (${formatBytes(quotaBytes)})`;
          this.log('warn', `task ${run.info.task_id.value}: ${run.limitation}; killing it`);
          this.killRun(run, 'disk', 0);
        })
        .catch((e: Error) => this.log('warn', `disk usage of task ${run.info.task_id.value}: ${e.message}`))
        .finally(() => {
          busy = false;
        });
    });
  }

  // --- Task exits and status reports ------------------------------------------------------------

  private watch(run: TaskRun): void {
    this.runtime.wait(run.containerId).then(
      (exit) => this.onExit(run, exit),
      (e: Error) => this.onExit(run, { message: `lost track of the container: ${e.message}` }),
    );
  }

  private onExit(run: TaskRun, exit: ExitStatus): void {
    if (this.isStopped() || run.phase === 'exited') return;
    this.trace(run.containerId, 'agent: exit seen');
    run.phase = 'exited';
    run.completionTimer?.cancel();
    this.stopWatchers(run);
    this.counters.executors_terminated!++;
    if (run.network) {
      // As Mesos: the container's networks are gone before its terminal update, so its address
      // and host ports are free once a scheduler sees it end.
      void this.detachNetwork(run).then(() => {
        if (!this.isStopped()) this.reportExit(run, exit);
      });
      return;
    }
    this.reportExit(run, exit);
  }

  private reportExit(run: TaskRun, exit: ExitStatus): void {
    if (run.terminal) return;
    const taskId = run.info.task_id.value;
    let done: Promise<void>;
    if (run.killReason === 'max_completion') {
      done = this.report(run, 'TASK_FAILED', {
        source: 'SOURCE_AGENT',
        // A Mesos reason missing from model/mesos.ts StatusReason (asked to be added there).
        reason: 'REASON_MAX_COMPLETION_TIME_REACHED' as StatusReason,
        message: 'Task exceeded its maximum completion time',
      });
    } else if (run.killReason === 'disk') {
      done = this.report(run, 'TASK_FAILED', {
        source: 'SOURCE_AGENT',
        reason: 'REASON_CONTAINER_LIMITATION_DISK',
        message: run.limitation ?? 'Disk usage exceeds the quota',
      });
    } else if (run.killReason === 'unhealthy') {
      // As Mesos' command executor: killed because of failing health checks, healthy: false.
      done = this.report(run, 'TASK_KILLED', { source: 'SOURCE_EXECUTOR', message: run.limitation ?? exitMessage(exit), healthy: false });
    } else if (run.killReason) {
      done = this.report(run, 'TASK_KILLED', { source: 'SOURCE_EXECUTOR', message: exitMessage(exit) });
    } else if (exit.exitCode === undefined) {
      done = this.report(run, 'TASK_FAILED', {
        source: 'SOURCE_AGENT',
        reason: 'REASON_EXECUTOR_TERMINATED',
        message: exit.message ?? 'Abnormal executor termination',
      });
    } else if (exit.exitCode === 0) {
      done = this.report(run, 'TASK_FINISHED', { source: 'SOURCE_EXECUTOR', message: exitMessage(exit) });
    } else {
      done = this.report(run, 'TASK_FAILED', {
        source: 'SOURCE_EXECUTOR',
        message: exitMessage(exit),
        ...(exit.oomKilled ? { reason: 'REASON_CONTAINER_LIMITATION_MEMORY' as const } : {}),
      });
    }
    // Once the terminal update is durable the runtime's own record of the exit is not needed.
    done
      .then(
        () => {
          this.trace(run.containerId, 'agent: terminal update durable');
          return this.runtime.cleanup?.(run.containerId).then(() => this.trace(run.containerId, 'agent: cleanup done'));
        },
        () => {},
      )
      .catch((e: Error) => this.log('warn', `cleaning up the container of task ${taskId}: ${e.message}`));
  }

  /** Builds, records and queues one status update for a task the agent runs. */
  private report(run: TaskRun, state: TaskState, o: ReportOptions): Promise<void> {
    if (run.terminal) return Promise.resolve();
    if (state === 'TASK_RUNNING') {
      // Later TASK_RUNNING updates carry the last health and check results, as Mesos' do.
      o = { ...o };
      if (o.healthy === undefined && run.lastHealthy !== undefined) o.healthy = run.lastHealthy;
      if (o.checkStatus === undefined && run.lastCheckStatus !== undefined) o.checkStatus = run.lastCheckStatus;
    }
    const status = this.makeStatus(run.info.task_id.value, state, run.containerId, run.pid, o, run.network);
    run.state = state;
    run.statuses.push(status);
    if (run.statuses.length > this.cfg('maxStatusesPerTask')) run.statuses.shift();
    if (isTerminal(state)) {
      run.terminal = true;
      run.completionTimer?.cancel();
      this.count(state);
    }
    return this.updates.update(run.frameworkId, status).catch((e: Error) => {
      this.log('error', `cannot checkpoint ${state} of task ${run.info.task_id.value}: ${e.message}`);
    });
  }

  private makeStatus(
    taskId: string,
    state: TaskState,
    containerId: string | undefined,
    pid: number | undefined,
    o: ReportOptions,
    network?: NetworkSetup,
  ): TaskStatus {
    const status: TaskStatus = {
      task_id: { value: taskId },
      state,
      source: o.source,
      executor_id: { value: taskId },
      timestamp: this.clock.nowMs() / 1000,
      uuid: toBase64(this.random.bytes(16)),
    };
    if (this.agentId) status.agent_id = { value: this.agentId };
    if (o.message !== undefined) status.message = o.message;
    if (o.reason !== undefined) status.reason = o.reason;
    if (o.healthy !== undefined) status.healthy = o.healthy;
    if (o.checkStatus !== undefined) status.check_status = o.checkStatus;
    if (containerId !== undefined) {
      status.container_status = {
        container_id: { value: containerId },
        // A container on its own networks reports their addresses (as Mesos' CNI isolator); else the agent's.
        network_infos: network
          ? network.networks.map((n) => ({ name: n.name, ip_addresses: n.ips.map((ip) => ({ protocol: 'IPv4' as const, ip_address: ip })) }))
          : [{ ip_addresses: [{ protocol: 'IPv4', ip_address: this.config.ip }] }],
        ...(pid !== undefined ? { executor_pid: pid } : {}),
      };
    }
    return status;
  }

  /** Detaches a task's networks (logged, never thrown: the task's end is reported either way). */
  private async detachNetwork(run: TaskRun): Promise<void> {
    await this.networks
      ?.detach(run.containerId)
      .catch((e: Error) => this.log('warn', `detaching the networks of task ${run.info.task_id.value}: ${e.message}`));
  }

  /**
   * After a restart: running containers keep their networks (their addresses are read back);
   * networks of containers that ended, were never launched or are unknown are detached.
   */
  private async recoverNetworks(runs: readonly TaskRun[], found: ReadonlyMap<string, { state: string }>): Promise<void> {
    if (!this.networks) return;
    const keep = new Set<string>();
    for (const run of runs) {
      if (found.get(run.containerId)?.state !== 'running') continue;
      keep.add(run.containerId);
      run.network = await this.networks.inspect(run.containerId).catch(() => undefined);
    }
    for (const id of await this.networks.list()) {
      if (keep.has(id)) continue;
      this.log('info', `detaching the networks left by container ${id}`);
      await this.networks.detach(id).catch((e: Error) => this.log('warn', `detaching the networks of container ${id}: ${e.message}`));
    }
  }

  private count(state: TaskState): void {
    const k = `tasks_${state.slice('TASK_'.length).toLowerCase()}`;
    if (k in this.counters) this.counters[k]!++;
  }

  private async onTerminalAcked(fwId: string, taskId: string): Promise<void> {
    const fw = this.frameworks.get(fwId);
    const run = fw?.tasks.get(taskId);
    if (fw && run) {
      fw.tasks.delete(taskId);
      this.toCompleted(fw, run);
    }
    if (this.conn === 'gone') return;
    // A RUN_TASK reusing this task id waits for the removal before it writes its own checkpoint.
    // (framework.json stays: a new task of the framework may be writing it right now; a restart
    // removes framework dirs left without tasks.)
    const k = `${fwId}\u0000${taskId}`;
    const removal = this.ckpt.remove(taskDir(fwId, taskId)).catch((e: Error) => this.log('warn', `removing the checkpoint of task ${taskId}: ${e.message}`));
    this.removing.set(k, removal);
    await removal;
    if (this.removing.get(k) === removal) this.removing.delete(k);
  }

  private toCompleted(fw: FrameworkEntry, run: TaskRun): void {
    this.completed.push(this.viewOf(run));
    if (fw.tasks.size === 0) this.frameworks.delete(fw.id);
  }

  // --- Helpers ----------------------------------------------------------------------------------

  private framework(fwId: string, info: FrameworkInfo): FrameworkEntry {
    let fw = this.frameworks.get(fwId);
    if (!fw) {
      fw = { id: fwId, info, tasks: new Map() };
      this.frameworks.set(fwId, fw);
    } else fw.info = info;
    return fw;
  }

  private newRun(fw: FrameworkEntry, info: TaskInfo, executorId: string, containerId: string, sandboxDir: string, launchedAtMs: number): TaskRun {
    return {
      frameworkId: fw.id,
      info,
      executorId,
      containerId,
      sandboxDir,
      launchedAtMs,
      state: 'TASK_STAGING',
      statuses: [],
      pid: undefined,
      phase: 'launching',
      terminal: false,
      killReason: undefined,
      killGraceMs: undefined,
      killing: false,
      completionTimer: undefined,
      frameworkInfo: fw.info,
      checkers: [],
      lastHealthy: undefined,
      lastCheckStatus: undefined,
      diskTimer: undefined,
      limitation: undefined,
      network: undefined,
    };
  }

  /** The task's environment: CommandInfo variables, then what the agent sets (Mesos + Marathon style). */
  private taskEnv(run: TaskRun): Record<string, string> {
    const env: Record<string, string> = { PATH: DEFAULT_PATH, HOST: this.config.hostname };
    const ports: number[] = [];
    for (const r of run.info.resources ?? []) {
      if (r.name !== 'ports' || r.type !== 'RANGES') continue;
      for (const range of r.ranges?.range ?? []) {
        for (let p = range.begin; p <= range.end && ports.length < AGENT_DEFAULTS.maxPortEnvVars; p++) ports.push(p);
      }
    }
    ports.forEach((p, i) => {
      env[`PORT${i}`] = String(p);
    });
    if (ports.length > 0) {
      env.PORT = String(ports[0]);
      env.PORTS = ports.join(',');
    }
    for (const v of run.info.command?.environment?.variables ?? []) {
      if (typeof v?.name !== 'string' || v.name === '' || v.name.includes('=') || v.name.includes('\0')) continue;
      if (v.type === 'SECRET' || typeof v.value !== 'string') continue;
      env[v.name] = v.value;
    }
    const taskId = run.info.task_id.value;
    Object.assign(env, {
      MESOS_TASK_ID: taskId,
      MESOS_SANDBOX: run.sandboxDir,
      MESOS_DIRECTORY: run.sandboxDir,
      MESOS_FRAMEWORK_ID: run.frameworkId,
      MESOS_EXECUTOR_ID: run.executorId,
      MESOS_AGENT_ENDPOINT: `${this.config.ip}:${this.config.port}`,
      MESOS_SLAVE_ID: this.agentId ?? '',
      MESOS_CONTAINER_NAME: `mesos-${run.containerId}`,
      MESOS_CHECKPOINT: run.frameworkInfo.checkpoint ? '1' : '0',
    });
    return env;
  }

  private agentInfo(): AgentInfo {
    const info: AgentInfo = { hostname: this.config.hostname, port: this.config.port, resources: this.config.resources };
    if (this.config.attributes && this.config.attributes.length > 0) info.attributes = this.config.attributes;
    if (this.config.domain) info.domain = this.config.domain;
    return info;
  }

  /** Every task the agent still knows (terminal ones until their update is acknowledged). */
  private reportedTasks(): Task[] {
    const out: Task[] = [];
    for (const fw of this.frameworks.values()) for (const run of fw.tasks.values()) out.push(this.taskOf(run));
    return out;
  }

  private reportedFrameworks(): FrameworkInfo[] {
    return [...this.frameworks.values()].filter((f) => f.tasks.size > 0).map((f) => ({ ...f.info, id: { value: f.id } }));
  }

  private taskOf(run: TaskRun): Task {
    const t: Task = {
      name: run.info.name ?? run.info.task_id.value,
      task_id: run.info.task_id,
      framework_id: { value: run.frameworkId },
      agent_id: { value: this.agentId ?? run.info.agent_id?.value ?? '' },
      state: run.state,
      resources: run.info.resources ?? [],
      statuses: [...run.statuses],
    };
    const head = this.updates.pending(run.frameworkId, run.info.task_id.value)[0];
    if (head) {
      t.status_update_state = head.state;
      if (head.uuid) t.status_update_uuid = head.uuid;
    }
    if (run.info.labels) t.labels = run.info.labels;
    if (run.info.discovery) t.discovery = run.info.discovery;
    if (run.info.container) t.container = run.info.container;
    if (run.info.health_check) t.health_check = run.info.health_check;
    if (run.info.kill_policy) t.kill_policy = run.info.kill_policy;
    if (run.info.limits) t.limits = run.info.limits;
    const user = run.info.command?.user ?? run.frameworkInfo.user;
    if (user) t.user = user;
    return t;
  }

  private viewOf(run: TaskRun): TaskView {
    return {
      frameworkId: run.frameworkId,
      frameworkInfo: run.frameworkInfo,
      executorId: run.executorId,
      containerId: run.containerId,
      sandboxDir: run.sandboxDir,
      pid: run.pid,
      info: run.info,
      task: this.taskOf(run),
    };
  }

  private async readJson<T>(path: string): Promise<T | undefined> {
    const text = await this.ckpt.read(path);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as T;
    } catch {
      this.log('warn', `ignoring an unreadable checkpoint ${path}`);
      return undefined;
    }
  }

  private emit(e: AgentEvent): void {
    for (const fn of this.listeners) {
      try {
        fn(e);
      } catch (err) {
        this.log('error', `event listener failed: ${(err as Error).message}`);
      }
    }
  }

  private cfg<K extends keyof typeof AGENT_DEFAULTS & keyof AgentConfig>(k: K): (typeof AGENT_DEFAULTS)[K] {
    return (this.config[k] ?? AGENT_DEFAULTS[k]) as (typeof AGENT_DEFAULTS)[K];
  }

  // --- Views for the HTTP API -------------------------------------------------------------------

  view(): AgentView {
    return {
      id: this.agentId,
      hostname: this.config.hostname,
      ip: this.config.ip,
      port: this.config.port,
      pid: this.pid,
      version: this.config.version,
      startTimeMs: this.startTimeMs,
      connection: this.conn,
      masterId: this.masterId,
      info: this.agentInfo(),
      flags: { ...(this.config.flags ?? {}) },
      workDir: this.config.workDir,
      frameworks: [...this.frameworks.values()].map((f) => ({ id: f.id, info: f.info, tasks: [...f.tasks.values()].map((r) => this.viewOf(r)) })),
      completedTasks: this.completed.toArray(),
    };
  }

  /** The sandbox of an executor's latest run (live first, then the newest completed). */
  sandboxOf(frameworkId: string, executorId: string): string | undefined {
    const run = this.frameworks.get(frameworkId)?.tasks.get(executorId);
    if (run) return run.sandboxDir;
    const done = this.completed.toArray().filter((t) => t.frameworkId === frameworkId && t.executorId === executorId);
    return done[done.length - 1]?.sandboxDir;
  }

  /** slave/* metrics in the flat /metrics/snapshot form. */
  metrics(): Record<string, number> {
    const m: Record<string, number> = {};
    const active: Record<string, number> = { staging: 0, starting: 0, running: 0, killing: 0 };
    let executors = 0;
    let cpusUsed = 0;
    let memUsed = 0;
    let diskUsed = 0;
    for (const fw of this.frameworks.values()) {
      for (const run of fw.tasks.values()) {
        if (run.phase !== 'exited') executors++;
        const s = run.state.slice('TASK_'.length).toLowerCase();
        if (s in active) active[s]!++;
        if (run.terminal) continue;
        for (const r of run.info.resources ?? []) {
          const v = r.scalar?.value ?? 0;
          if (r.name === 'cpus') cpusUsed += v;
          else if (r.name === 'mem') memUsed += v;
          else if (r.name === 'disk') diskUsed += v;
        }
      }
    }
    const total = (name: string): number =>
      this.config.resources.filter((r) => r.name === name && r.type === 'SCALAR').reduce((a, r) => a + (r.scalar?.value ?? 0), 0);
    m['slave/registered'] = this.conn === 'registered' ? 1 : 0;
    m['slave/uptime_secs'] = this.startTimeMs > 0 ? (this.clock.nowMs() - this.startTimeMs) / 1000 : 0;
    for (const [k, v] of Object.entries(active)) m[`slave/tasks_${k}`] = v;
    for (const [k, v] of Object.entries(this.counters)) m[`slave/${k}`] = v;
    m['slave/executors_running'] = executors;
    m['slave/frameworks_active'] = this.frameworks.size;
    m['slave/status_updates_pending'] = this.updates.pendingCount;
    for (const [name, used] of [
      ['cpus', cpusUsed],
      ['mem', memUsed],
      ['disk', diskUsed],
    ] as const) {
      const t = total(name);
      m[`slave/${name}_total`] = t;
      m[`slave/${name}_used`] = Math.round(used * 1000) / 1000;
      m[`slave/${name}_percent`] = t > 0 ? used / t : 0;
    }
    m['slave/gpus_total'] = total('gpus');
    m['slave/gpus_used'] = 0;
    return m;
  }
}

/** Why a launch is invalid, or undefined. */
function validateTask(task: TaskInfo): string | undefined {
  if (typeof task.name !== 'string') return 'Task has no name';
  if (!task.command && !task.executor) return 'Task has neither a command nor an executor';
  if (task.command && task.executor) return 'Task has both a command and an executor';
  const c = task.command;
  if (c) {
    if (c.shell !== false) {
      if (typeof c.value !== 'string' || c.value.trim() === '') return 'Shell command of the task is empty';
    } else if (!(typeof c.value === 'string' && c.value !== '') && !(c.arguments && c.arguments.length > 0)) {
      return 'Command of the task has neither a value nor arguments';
    }
  }
  return undefined;
}

/**
 * The named networks a task's ContainerInfo asks for (network_infos with a name, with their
 * port_mappings), or why they are invalid. Unnamed network_infos mean the host network; DOCKER
 * containers are left to the Docker daemon.
 */
export function networkRequests(task: TaskInfo): NetworkRequest[] | string {
  const out: NetworkRequest[] = [];
  // Docker tasks are networked by the Docker daemon (docker.network), not by CNI.
  if (task.container?.type === 'DOCKER') return out;
  for (const ni of task.container?.network_infos ?? []) {
    if (typeof ni?.name !== 'string' || ni.name === '') continue;
    const portMappings: NetworkRequest['portMappings'] = [];
    for (const pm of ni.port_mappings ?? []) {
      const protocol = (pm?.protocol ?? 'tcp').toLowerCase();
      if (protocol !== 'tcp' && protocol !== 'udp') return `Port mapping protocol must be tcp or udp, got '${pm?.protocol}'`;
      for (const p of [pm?.host_port, pm?.container_port])
        if (!Number.isInteger(p) || (p as number) < 1 || (p as number) > 65535) return `Port mapping ports must be 1-65535, got ${JSON.stringify(pm)}`;
      portMappings.push({ hostPort: pm.host_port, containerPort: pm.container_port, protocol });
    }
    out.push({ name: ni.name, portMappings });
  }
  return out;
}

/** The task's cpus and mem (summed over roles), for the runtime's limits. */
function scalarResources(resources: readonly { name: string; type?: string; scalar?: { value: number } }[]): { cpus?: number; memMb?: number } {
  const out: { cpus?: number; memMb?: number } = {};
  for (const r of resources) {
    if (r.type !== 'SCALAR' || typeof r.scalar?.value !== 'number') continue;
    if (r.name === 'cpus') out.cpus = (out.cpus ?? 0) + r.scalar.value;
    if (r.name === 'mem') out.memMb = (out.memMb ?? 0) + r.scalar.value;
  }
  return out;
}

/** Bytes as Mesos prints them: '12.5MB'. */
function formatBytes(n: number): string {
  if (n >= 1024 * 1024 * 1024) return `${(n / (1024 * 1024 * 1024)).toFixed(1)}GB`;
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)}MB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)}KB`;
  return `${n}B`;
}

/** Mesos' wording: "Command exited with status N" / "Command terminated with signal Killed". */
export function exitMessage(exit: ExitStatus): string {
  if (exit.signal !== undefined) return `Command terminated with signal ${SIGNAL_NAMES[exit.signal] ?? `${exit.signal}`}`;
  if (exit.exitCode !== undefined) return `Command exited with status ${exit.exitCode}`;
  return exit.message ?? 'Command exited';
}

function isGone(reply: MasterLinkReply): boolean {
  const b = reply.body as { error?: unknown } | undefined;
  return typeof b === 'object' && b !== null && b.error === 'gone';
}

function goneMessage(reply: MasterLinkReply): string {
  const b = reply.body as { message?: unknown };
  return typeof b?.message === 'string' ? b.message : 'agent marked gone';
}

function bodyText(body: unknown): string {
  const t = typeof body === 'string' ? body : JSON.stringify(body);
  return (t ?? '').slice(0, 300);
}
