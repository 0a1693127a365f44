import type { Resource, TaskState } from '../model/mesos.js';

/**
 * One simulated agent machine, whichever agent runs on it: the protocol-level SimAgent (light,
 * for 10,000-agent benchmarks) or the real Agent service over a SimRuntime and an in-memory
 * checkpointer. The fault injector and the invariant checker only see this.
 */
export interface AgentNode {
  readonly node: string;
  /** The id the master gave it (undefined before the first registration or after a reboot). */
  readonly agentId: string | undefined;
  /** The agent process is up. */
  readonly alive: boolean;
  /** Stopped for good (the master marked it gone). */
  readonly gone: boolean;
  /** The agent believes it is registered with a command stream open. */
  readonly registered: boolean;
  /** The machine's total resources. */
  readonly resources: Resource[];
  /** Status updates sent and not yet acknowledged by the master. */
  readonly pendingUpdates: number;
  /** Set when a task was launched (the only way usage grows); the checker clears it. */
  usageGrew: boolean;
  /** Tasks whose containers run and are not being killed, by `${frameworkId}/${taskId}`. */
  runningTasks(): { key: string; resources: Resource[] }[];
  /** The latest state the agent generated for a task, if it still knows the task. */
  taskState(key: string): TaskState | undefined;
  /** Starts (or restarts) the agent process. */
  start(): void;
  /** The agent process dies; containers keep running. */
  crash(): void;
  /** The machine reboots: containers die and the agent comes back as a new agent. */
  reboot(): void;
  /**
   * One running container fails (a fault): it dies of SIGKILL, or with `oom` the kernel's OOM
   * killer ends it (the runtime says so). Returns its task, if any ran.
   */
  crashContainer(oom?: boolean): { frameworkId: string; taskId: string } | undefined;
  /** A short description of its state for failure messages. */
  describe(): string;
  readonly stats: AgentNodeStats;
}

export interface AgentNodeStats {
  registrations: number;
  reregistrations: number;
  updatesSent: number;
  updatesAcked: number;
  launches: number;
  crashes: number;
}
