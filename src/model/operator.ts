/**
 * The Mesos v1 operator API (master.proto) in its JSON wire form, as far as clients read it:
 * GET_STATE and the SUBSCRIBE stream's events. Types only; the shapes the master sends and the
 * web UI reads (ui/src/logic/cluster.ts).
 */
import type { AgentInfo, FrameworkInfo, Id, Resource, Task, TaskState, TaskStatus } from './mesos.js';

/** Response.GetAgents.Agent. */
export interface AgentView {
  agent_info: AgentInfo;
  active: boolean;
  version?: string;
  pid?: string;
  registered_time?: { nanoseconds: number };
  total_resources?: Resource[];
  allocated_resources?: Resource[];
}

/** Response.GetFrameworks.Framework. */
export interface FrameworkView {
  framework_info: FrameworkInfo;
  active: boolean;
  connected: boolean;
  recovered?: boolean;
  registered_time?: { nanoseconds: number };
  allocated_resources?: Resource[];
}

/** Response.GetState: tasks, frameworks and agents in one snapshot. */
export interface GetState {
  get_tasks?: { tasks?: Task[]; unreachable_tasks?: Task[]; completed_tasks?: Task[] };
  get_frameworks?: { frameworks?: FrameworkView[]; completed_frameworks?: FrameworkView[] };
  get_agents?: { agents?: AgentView[]; recovered_agents?: AgentInfo[] };
}

export type OperatorEventType =
  | 'SUBSCRIBED'
  | 'TASK_ADDED'
  | 'TASK_UPDATED'
  | 'AGENT_ADDED'
  | 'AGENT_REMOVED'
  | 'FRAMEWORK_ADDED'
  | 'FRAMEWORK_UPDATED'
  | 'FRAMEWORK_REMOVED'
  | 'HEARTBEAT';

/**
 * One event of the SUBSCRIBE stream (master.proto Event). TASK_UPDATED carries the ids inside
 * `status`. `type` is a string (an OperatorEventType or newer): a newer master may send types a client does not know.
 */
export interface OperatorEvent {
  type: string;
  subscribed?: { get_state: GetState; heartbeat_interval_seconds?: number };
  task_added?: { task: Task };
  task_updated?: { framework_id: Id; status: TaskStatus; state: TaskState };
  agent_added?: { agent: AgentView };
  agent_removed?: { agent_id: Id };
  framework_added?: { framework: FrameworkView };
  framework_updated?: { framework: FrameworkView };
  framework_removed?: { framework_info: FrameworkInfo };
}
