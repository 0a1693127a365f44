import { MemoryCheckpointer } from '../adapters/runtime/checkpoint-memory.js';
import type { Random } from '../base/random.js';
import type { AgentCall, AgentCommand } from '../model/agent-protocol.js';
import { type Attribute, isTerminal, type Resource, type TaskState } from '../model/mesos.js';
import type { CommandStream, MasterLink, MasterLinkReply } from '../ports/master-link.js';
import { Agent } from '../services/agent/index.js';
import type { AgentObserver } from './agent.js';
import type { SimClock } from './clock.js';
import type { AgentNode, AgentNodeStats } from './node.js';
import { SimRuntime } from './runtime.js';
import type { Trace } from './trace.js';

/**
 * A machine running the REAL agent service (src/services/agent) over a SimRuntime and an
 * in-memory checkpointer. Crashing the agent drops the Agent object; restarting builds a new one
 * over the same checkpoints and runtime, so its recovery code runs as after a real restart. The
 * link is wrapped to observe what the checker needs (update order, acknowledgements, launches)
 * without touching the agent.
 */

export interface RealAgentOptions {
  hostname: string;
  ip: string;
  resources: Resource[];
  attributes?: Attribute[];
  version: string;
  /** Record the agent's log lines in the trace. */
  traceLog: boolean;
}

export class RealAgentNode implements AgentNode {
  private agent: Agent | undefined;
  private checkpointer = new MemoryCheckpointer();
  readonly runtime: SimRuntime;
  private isGone = false;
  /** Launch resources per task (from RUN_TASK), for the checker's usage sums. */
  private readonly launched = new Map<string, Resource[]>();
  /** Latest state the agent reported per task. */
  private readonly latest = new Map<string, TaskState>();
  private readonly unacked = new Set<string>();
  private readonly seenUuid = new Set<string>();
  private incarnation = 0;
  readonly stats: AgentNodeStats = { registrations: 0, reregistrations: 0, updatesSent: 0, updatesAcked: 0, launches: 0, crashes: 0 };

  constructor(
    readonly node: string,
    private readonly clock: SimClock,
    private readonly random: Random,
    private readonly link: MasterLink,
    private readonly options: RealAgentOptions,
    private readonly trace: Trace,
    private readonly observer: AgentObserver = {},
  ) {
    this.runtime = new SimRuntime(clock, random.fork());
  }

  get agentId(): string | undefined {
    return this.agent?.id ?? this.lastId;
  }

  private lastId: string | undefined;

  get alive(): boolean {
    return this.agent !== undefined;
  }

  get gone(): boolean {
    return this.isGone;
  }

  get registered(): boolean {
    return this.agent?.connection === 'registered';
  }

  get resources(): Resource[] {
    return this.options.resources;
  }

  get pendingUpdates(): number {
    return this.unacked.size;
  }

  get usageGrew(): boolean {
    return this.runtime.launchedSinceCheck;
  }

  set usageGrew(v: boolean) {
    this.runtime.launchedSinceCheck = v;
  }

  runningTasks(): { key: string; resources: Resource[] }[] {
    return this.runtime.running().map((c) => {
      const key = `${c.frameworkId}/${c.taskId}`;
      return { key, resources: this.launched.get(key) ?? [] };
    });
  }

  taskState(key: string): TaskState | undefined {
    return this.latest.get(key);
  }

  describe(): string {
    return this.agent ? this.agent.connection : this.isGone ? 'gone' : 'down';
  }

  start(): void {
    if (this.agent || this.isGone) return;
    this.incarnation++;
    const inc = this.incarnation;
    this.trace.record('agent.start', `${this.node} ${this.lastId ?? 'new'}`);
    const agent = new Agent({
      clock: this.clock,
      random: this.random.fork(),
      link: this.observedLink(inc),
      runtime: this.runtime,
      checkpointer: this.checkpointer,
      config: {
        workDir: `/sim/${this.node}`,
        hostname: this.options.hostname,
        ip: this.options.ip,
        port: 5051,
        resources: this.options.resources,
        ...(this.options.attributes ? { attributes: this.options.attributes } : {}),
        version: this.options.version,
      },
      ...(this.options.traceLog ? { log: (level, message) => this.trace.record(`agent.${level}`, `${this.node} ${message}`) } : {}),
    });
    agent.onEvent((e) => {
      if (inc !== this.incarnation) return;
      if (e.type === 'registered') {
        if (e.reregistered) this.stats.reregistrations++;
        else this.stats.registrations++;
        this.lastId = e.agentId;
        this.trace.record('agent.registered', `${this.node} ${e.agentId}`);
      } else if (e.type === 'gone') {
        this.isGone = true;
        this.trace.record('agent.gone', `${this.node} ${e.message}`);
      }
    });
    this.agent = agent;
    agent.start().catch((e: Error) => this.observer.anomaly?.(this, `agent failed to start: ${e.stack ?? e.message}`));
  }

  crash(): void {
    const a = this.agent;
    if (!a) return;
    this.stats.crashes++;
    this.trace.record('agent.crash', this.node);
    this.incarnation++;
    this.agent = undefined;
    this.unacked.clear();
    // stop() halts every loop and closes the stream; the object is then dropped like a dead process.
    void a.stop();
    this.runtime.detach();
  }

  reboot(): void {
    this.crash();
    this.trace.record('agent.reboot', this.node);
    this.runtime.wipe();
    this.checkpointer = new MemoryCheckpointer();
    this.launched.clear();
    this.latest.clear();
    this.lastId = undefined;
  }

  crashContainer(oom = false): { frameworkId: string; taskId: string } | undefined {
    if (!this.agent) return undefined;
    const t = this.runtime.crashOne(oom);
    if (t !== undefined) this.trace.record(oom ? 'container.oom' : 'container.crash', `${this.node} ${t.taskId}`);
    return t;
  }

  /** Latest state the agent knows for a task; a terminal one sticks (older updates may still be in flight). */
  private noteState(key: string, state: TaskState): void {
    const cur = this.latest.get(key);
    if (cur && isTerminal(cur) && !isTerminal(state)) return;
    this.latest.set(key, state);
  }

  /** The agent's link, seen from the outside: launches, update order and acknowledgements. */
  private observedLink(inc: number): MasterLink {
    const link = this.link;
    return {
      call: async (call: AgentCall): Promise<MasterLinkReply> => {
        if (call.type === 'STATUS_UPDATE' && call.status.uuid) {
          const key = `${call.framework_id.value}/${call.status.task_id.value}`;
          const uuid = call.status.uuid;
          if (!this.seenUuid.has(uuid)) {
            this.seenUuid.add(uuid);
            this.noteState(key, call.status.state);
            this.observer.updateCreated?.(this, call.framework_id.value, call.status, 0);
          }
          this.stats.updatesSent++;
          if (inc === this.incarnation) this.unacked.add(uuid);
          const r = await link.call(call);
          if (r.status === 200 && this.unacked.delete(uuid)) {
            this.stats.updatesAcked++;
            this.observer.updateAcked?.(this, call.framework_id.value, call.status);
          }
          return r;
        }
        if (call.type === 'REREGISTER') for (const t of call.tasks ?? []) this.noteState(`${t.framework_id.value}/${t.task_id.value}`, t.state);
        return link.call(call);
      },
      subscribe: (agentId: string, onCommand: (c: AgentCommand) => void, onClose: () => void): Promise<CommandStream | MasterLinkReply> =>
        link.subscribe(
          agentId,
          (c) => {
            if (c.type === 'RUN_TASK' && inc === this.incarnation) {
              this.stats.launches++;
              this.launched.set(`${c.framework_id.value}/${c.task.task_id.value}`, c.task.resources ?? []);
            }
            onCommand(c);
          },
          onClose,
        ),
    };
  }
}
