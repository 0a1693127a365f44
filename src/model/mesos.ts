/**
 * Mesos v1 messages in their JSON wire form (protobuf JSON mapping: snake_case, ids as
 * {value}, enums as names, bytes as base64). These are the shapes the master stores and sends,
 * so nothing is translated on the hot path. Optional fields may arrive as null from clients
 * built on protobufjs; inputs pass through `stripNulls` first.
 */

export interface Id {
  value: string;
}

export type ValueType = 'SCALAR' | 'RANGES' | 'SET' | 'TEXT';

export interface Range {
  begin: number;
  end: number;
}

export interface ReservationInfo {
  type?: 'STATIC' | 'DYNAMIC';
  role?: string;
  principal?: string;
  labels?: Labels;
}

export interface Resource {
  name: string;
  type: ValueType;
  scalar?: { value: number };
  ranges?: { range: Range[] };
  set?: { item: string[] };
  role?: string;
  allocation_info?: { role: string };
  reservations?: ReservationInfo[];
  disk?: unknown;
  revocable?: Record<string, never>;
  shared?: Record<string, never>;
}

export interface Attribute {
  name: string;
  type: ValueType;
  scalar?: { value: number };
  ranges?: { range: Range[] };
  set?: { item: string[] };
  text?: { value: string };
}

export interface Label {
  key: string;
  value?: string;
}

export interface Labels {
  labels: Label[];
}

export interface DomainInfo {
  fault_domain?: { region: { name: string }; zone: { name: string } };
}

export type FrameworkCapabilityType =
  | 'REVOCABLE_RESOURCES'
  | 'TASK_KILLING_STATE'
  | 'GPU_RESOURCES'
  | 'SHARED_RESOURCES'
  | 'PARTITION_AWARE'
  | 'MULTI_ROLE'
  | 'RESERVATION_REFINEMENT'
  | 'REGION_AWARE';

export interface FrameworkInfo {
  user: string;
  name: string;
  id?: Id;
  failover_timeout?: number;
  checkpoint?: boolean;
  role?: string;
  roles?: string[];
  hostname?: string;
  principal?: string;
  webui_url?: string;
  capabilities?: { type: FrameworkCapabilityType }[];
  labels?: Labels;
  offer_filters?: Record<string, unknown>;
}

export interface AgentInfo {
  hostname: string;
  port?: number;
  resources: Resource[];
  attributes?: Attribute[];
  id?: Id;
  domain?: DomainInfo;
}

export interface MasterInfo {
  id: string;
  ip: number;
  port: number;
  pid?: string;
  hostname?: string;
  version?: string;
  address?: { hostname?: string; ip?: string; port: number };
  domain?: DomainInfo;
}

export interface URL {
  scheme: string;
  address: { hostname?: string; ip?: string; port: number };
  path?: string;
}

export interface Offer {
  id: Id;
  framework_id: Id;
  agent_id: Id;
  hostname: string;
  url?: URL;
  domain?: DomainInfo;
  resources: Resource[];
  attributes?: Attribute[];
  executor_ids?: Id[];
  allocation_info?: { role: string };
}

export interface EnvironmentVariable {
  name: string;
  type?: 'VALUE' | 'SECRET';
  value?: string;
}

export interface CommandURI {
  value: string;
  executable?: boolean;
  extract?: boolean;
  cache?: boolean;
  output_file?: string;
}

export interface CommandInfo {
  uris?: CommandURI[];
  environment?: { variables: EnvironmentVariable[] };
  shell?: boolean;
  value?: string;
  arguments?: string[];
  user?: string;
}

export interface Volume {
  mode: 'RW' | 'RO';
  container_path: string;
  host_path?: string;
  source?: { type: string; sandbox_path?: { type?: string; path: string }; host_path?: { path: string } };
}

export interface ContainerInfo {
  type: 'DOCKER' | 'MESOS';
  volumes?: Volume[];
  hostname?: string;
  docker?: {
    image: string;
    network?: string;
    port_mappings?: { host_port: number; container_port: number; protocol?: string }[];
    privileged?: boolean;
    force_pull_image?: boolean;
  };
  mesos?: { image?: { type: 'APPC' | 'DOCKER'; docker?: { name: string }; cached?: boolean } };
  network_infos?: NetworkInfo[];
}

export interface NetworkInfo {
  ip_addresses?: { protocol?: 'IPv4' | 'IPv6'; ip_address?: string }[];
  name?: string;
  labels?: Labels;
  port_mappings?: { host_port: number; container_port: number; protocol?: string }[];
}

export interface DurationInfo {
  nanoseconds: number;
}

export interface KillPolicy {
  grace_period?: DurationInfo;
}

export interface HealthCheck {
  type?: 'COMMAND' | 'HTTP' | 'TCP';
  delay_seconds?: number;
  interval_seconds?: number;
  timeout_seconds?: number;
  consecutive_failures?: number;
  grace_period_seconds?: number;
  command?: CommandInfo;
  http?: { protocol?: string; scheme?: string; port: number; path?: string; statuses?: number[] };
  tcp?: { port: number };
}

/** A generic check (mesos.proto CheckInfo): its result is reported in TaskStatus.check_status, it never kills. */
export interface CheckInfo {
  type?: 'COMMAND' | 'HTTP' | 'TCP';
  command?: { command: CommandInfo };
  http?: { port: number; path?: string; protocol?: string };
  tcp?: { port: number; protocol?: string };
  delay_seconds?: number;
  interval_seconds?: number;
  timeout_seconds?: number;
}

/** The last result of a CheckInfo; a field without its value means the check could not complete. */
export interface CheckStatusInfo {
  type: 'COMMAND' | 'HTTP' | 'TCP';
  command?: { exit_code?: number };
  http?: { status_code?: number };
  tcp?: { succeeded?: boolean };
}

export interface DiscoveryInfo {
  visibility: 'FRAMEWORK' | 'CLUSTER' | 'EXTERNAL';
  name?: string;
  ports?: { ports: { number: number; name?: string; protocol?: string; labels?: Labels }[] };
  labels?: Labels;
}

export interface ExecutorInfo {
  type?: 'DEFAULT' | 'CUSTOM';
  executor_id: Id;
  framework_id?: Id;
  command?: CommandInfo;
  container?: ContainerInfo;
  resources?: Resource[];
  name?: string;
}

export interface TaskInfo {
  name: string;
  task_id: Id;
  agent_id: Id;
  resources?: Resource[];
  executor?: ExecutorInfo;
  command?: CommandInfo;
  container?: ContainerInfo;
  health_check?: HealthCheck;
  check?: CheckInfo;
  kill_policy?: KillPolicy;
  data?: string;
  labels?: Labels;
  discovery?: DiscoveryInfo;
  max_completion_time?: DurationInfo;
  limits?: Record<string, number | string>;
}

export type TaskState =
  | 'TASK_STAGING'
  | 'TASK_STARTING'
  | 'TASK_RUNNING'
  | 'TASK_KILLING'
  | 'TASK_FINISHED'
  | 'TASK_FAILED'
  | 'TASK_KILLED'
  | 'TASK_ERROR'
  | 'TASK_LOST'
  | 'TASK_DROPPED'
  | 'TASK_UNREACHABLE'
  | 'TASK_GONE'
  | 'TASK_GONE_BY_OPERATOR'
  | 'TASK_UNKNOWN';

export const TASK_STATES: readonly TaskState[] = [
  'TASK_STAGING',
  'TASK_STARTING',
  'TASK_RUNNING',
  'TASK_KILLING',
  'TASK_FINISHED',
  'TASK_FAILED',
  'TASK_KILLED',
  'TASK_ERROR',
  'TASK_LOST',
  'TASK_DROPPED',
  'TASK_UNREACHABLE',
  'TASK_GONE',
  'TASK_GONE_BY_OPERATOR',
  'TASK_UNKNOWN',
];

const TERMINAL = new Set<TaskState>([
  'TASK_FINISHED',
  'TASK_FAILED',
  'TASK_KILLED',
  'TASK_ERROR',
  'TASK_LOST',
  'TASK_DROPPED',
  'TASK_GONE',
  'TASK_GONE_BY_OPERATOR',
]);

export function isTerminal(state: TaskState): boolean {
  return TERMINAL.has(state);
}

export type StatusSource = 'SOURCE_MASTER' | 'SOURCE_AGENT' | 'SOURCE_EXECUTOR';

export type StatusReason =
  | 'REASON_COMMAND_EXECUTOR_FAILED'
  | 'REASON_CONTAINER_LAUNCH_FAILED'
  | 'REASON_CONTAINER_LIMITATION'
  | 'REASON_CONTAINER_LIMITATION_DISK'
  | 'REASON_CONTAINER_LIMITATION_MEMORY'
  | 'REASON_EXECUTOR_TERMINATED'
  | 'REASON_FRAMEWORK_REMOVED'
  | 'REASON_INVALID_OFFERS'
  | 'REASON_MASTER_DISCONNECTED'
  | 'REASON_RECONCILIATION'
  | 'REASON_RESOURCES_UNKNOWN'
  | 'REASON_AGENT_DISCONNECTED'
  | 'REASON_AGENT_REMOVED'
  | 'REASON_AGENT_REMOVED_BY_OPERATOR'
  | 'REASON_AGENT_REREGISTERED'
  | 'REASON_AGENT_RESTARTED'
  | 'REASON_AGENT_UNKNOWN'
  | 'REASON_TASK_KILLED_DURING_LAUNCH'
  | 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED'
  | 'REASON_TASK_CHECK_STATUS_UPDATED'
  | 'REASON_TASK_INVALID'
  | 'REASON_TASK_UNAUTHORIZED'
  | 'REASON_TASK_UNKNOWN';

export interface TaskStatus {
  task_id: Id;
  state: TaskState;
  message?: string;
  source?: StatusSource;
  reason?: StatusReason;
  data?: string;
  agent_id?: Id;
  executor_id?: Id;
  timestamp?: number;
  uuid?: string;
  healthy?: boolean;
  check_status?: CheckStatusInfo;
  labels?: Labels;
  container_status?: {
    container_id?: Id;
    network_infos?: NetworkInfo[];
    executor_pid?: number;
  };
  unreachable_time?: DurationInfo;
}

/** A task as the master tracks it (mesos.proto Task). */
export interface Task {
  name: string;
  task_id: Id;
  framework_id: Id;
  executor_id?: Id;
  agent_id: Id;
  state: TaskState;
  resources: Resource[];
  statuses: TaskStatus[];
  status_update_state?: TaskState;
  status_update_uuid?: string;
  labels?: Labels;
  discovery?: DiscoveryInfo;
  container?: ContainerInfo;
  health_check?: HealthCheck;
  kill_policy?: KillPolicy;
  user?: string;
  limits?: Record<string, number | string>;
}

export interface Filters {
  refuse_seconds?: number;
}

export interface OfferOperation {
  type: string;
  id?: Id;
  launch?: { task_infos: TaskInfo[] };
  launch_group?: unknown;
  reserve?: unknown;
  unreserve?: unknown;
  create?: unknown;
  destroy?: unknown;
}

/** Removes null values recursively: protobuf JSON treats null as "unset". */
export function stripNulls<T>(value: T): T {
  if (Array.isArray(value)) return value.filter((v) => v !== null).map((v) => stripNulls(v)) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (v === null || v === undefined) continue;
      out[k] = stripNulls(v);
    }
    return out as T;
  }
  return value;
}

export function hasCapability(info: FrameworkInfo, cap: FrameworkCapabilityType): boolean {
  return (info.capabilities ?? []).some((c) => c.type === cap);
}

/** The roles a framework subscribes with: MULTI_ROLE uses `roles`, others the legacy `role`. */
export function frameworkRoles(info: FrameworkInfo): string[] {
  if (hasCapability(info, 'MULTI_ROLE')) return info.roles && info.roles.length > 0 ? info.roles : ['*'];
  return [info.role ?? '*'];
}
