import type { AgentInfo, FrameworkInfo, Id, KillPolicy, Resource, Task, TaskInfo, TaskStatus } from './mesos.js';

/**
 * The protocol between agents and the master (our own; documented in docs/agent-protocol.md).
 * Agents call the master with POST /master/internal/agent (JSON body = AgentCall, JSON reply);
 * the master pushes commands down a RecordIO stream the agent opens with a SUBSCRIBE call.
 */

export const AGENT_PROTOCOL_VERSION = 1;

export interface RegisterCall {
  type: 'REGISTER';
  agent_info: AgentInfo;
  /** The address the agent's HTTP API listens on. */
  ip: string;
  version: string;
}

export interface ReregisterCall {
  type: 'REREGISTER';
  agent_id: Id;
  agent_info: AgentInfo;
  ip: string;
  version: string;
  /** Every task the agent still knows, with its latest state. */
  tasks: Task[];
  /** The frameworks those tasks belong to. */
  frameworks: FrameworkInfo[];
  /**
   * Orders reregistrations: the agent raises it with every attempt (and across restarts). The
   * master ignores a REREGISTER older than the last one it accepted, and answers a repeat of that
   * one without starting a new session, so a delayed or duplicated request cannot replace a newer
   * task list. Absent from agents that predate it (no ordering then).
   */
  session?: number;
}

/** Opens the master → agent command stream (the HTTP reply stays open). */
export interface SubscribeCall {
  type: 'SUBSCRIBE';
  agent_id: Id;
}

export interface PingCall {
  type: 'PING';
  agent_id: Id;
}

export interface StatusUpdateCall {
  type: 'STATUS_UPDATE';
  agent_id: Id;
  framework_id: Id;
  /** Carries a uuid; the master's 200 reply is the acknowledgement (sent after the update is stored). */
  status: TaskStatus;
}

export interface ExecutorMessageCall {
  type: 'EXECUTOR_MESSAGE';
  agent_id: Id;
  framework_id: Id;
  executor_id: Id;
  data: string;
}

export type AgentCall = RegisterCall | ReregisterCall | SubscribeCall | PingCall | StatusUpdateCall | ExecutorMessageCall;

export interface RegisteredReply {
  agent_id: Id;
  master_id: string;
  ping_interval_seconds: number;
}

/** Master → agent commands on the stream. */
export type AgentCommand =
  | { type: 'RUN_TASK'; framework_id: Id; framework_info: FrameworkInfo; task: TaskInfo }
  | { type: 'KILL_TASK'; framework_id: Id; task_id: Id; kill_policy?: KillPolicy }
  | { type: 'SHUTDOWN_FRAMEWORK'; framework_id: Id }
  | { type: 'FRAMEWORK_MESSAGE'; framework_id: Id; executor_id: Id; data: string }
  | { type: 'UPDATE_FRAMEWORK'; framework_id: Id; framework_info: FrameworkInfo }
  | { type: 'PING' }
  /** The agent was marked gone: it must kill everything and stop. */
  | { type: 'SHUTDOWN'; message: string };

export interface AgentCommandEnvelope {
  command: AgentCommand;
}

/** What an agent checkpoints about a task it runs (also reported on reregistration). */
export interface AgentTaskRecord {
  framework_id: Id;
  task: Task;
  resources: Resource[];
}
