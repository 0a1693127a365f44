import type { Attribute, DomainInfo, Resource } from '../../model/mesos.js';

export type RecoverMode = 'reconnect' | 'cleanup';

export interface AgentConfig {
  /** Absolute; holds `meta/` (checkpoints) and `slaves/` (sandboxes). */
  workDir: string;
  hostname: string;
  ip: string;
  port: number;
  resources: Resource[];
  attributes?: Attribute[];
  domain?: DomainInfo;
  version: string;
  /** Overrides the master's ping_interval_seconds. */
  pingIntervalMs?: number;
  /** reconnect: reattach to the tasks of the last run; cleanup: kill them and start as a new agent. */
  recover?: RecoverMode;
  /** Shown by /flags and /state. */
  flags?: Record<string, string>;
  registerBackoffMinMs?: number;
  registerBackoffMaxMs?: number;
  statusUpdateRetryMinMs?: number;
  statusUpdateRetryMaxMs?: number;
  /** Used when neither the kill nor the task carries a kill_policy. */
  defaultKillGracePeriodMs?: number;
  /** Completed tasks kept for /state (their checkpoints are removed; sandboxes stay). */
  maxCompletedTasks?: number;
  /** Statuses kept per task (Task.statuses). */
  maxStatusesPerTask?: number;
  /** Kill tasks that use more disk than their `disk` resource (Mesos' --enforce_container_disk_quota). */
  enforceContainerDiskQuota?: boolean;
  /** How often container disk usage is measured (Mesos' --container_disk_watch_interval). */
  containerDiskWatchIntervalMs?: number;
}

export const AGENT_DEFAULTS = {
  pingIntervalMs: 15_000,
  recover: 'reconnect' as RecoverMode,
  registerBackoffMinMs: 1_000,
  registerBackoffMaxMs: 10_000,
  statusUpdateRetryMinMs: 10_000,
  statusUpdateRetryMaxMs: 80_000,
  defaultKillGracePeriodMs: 3_000,
  maxCompletedTasks: 1_000,
  maxStatusesPerTask: 50,
  containerDiskWatchIntervalMs: 15_000,
  /** At most this many PORTn variables are set for one task. */
  maxPortEnvVars: 1_000,
};
