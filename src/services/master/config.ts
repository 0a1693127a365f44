export interface MasterConfig {
  hostname: string;
  ip: string;
  port: number;
  version: string;
  cluster?: string;
  /** How often agents must be heard from (Mesos --agent_ping_timeout, 15 s). */
  agentPingTimeoutMs: number;
  /** Missed pings before an agent is unreachable (Mesos --max_agent_ping_timeouts, 5). */
  maxAgentPingTimeouts: number;
  /** Batched allocation interval (Mesos --allocation_interval, 1 s). */
  allocationIntervalMs: number;
  /** Offers not used within this time are rescinded; 0 disables (Mesos default). */
  offerTimeoutMs: number;
  /** Scheduler stream heartbeat (15 s). */
  heartbeatIntervalMs: number;
  /** How often unacknowledged status updates are resent to frameworks. */
  statusUpdateRetryMs: number;
  maxCompletedTasksPerFramework: number;
  maxCompletedFrameworks: number;
  /** Offers outstanding across all frameworks; allocation pauses beyond it. */
  maxOutstandingOffers: number;
  /** Unacknowledged updates kept per task; older non-terminal ones are coalesced beyond it. */
  maxPendingUpdatesPerTask: number;
  /** Events buffered for one stream subscriber before it is disconnected as too slow. */
  maxSubscriberBufferBytes: number;
  /** Unreachable tasks remembered per framework. */
  maxUnreachableTasksPerFramework: number;
  workDir?: string;
  /** Extra flags reported by GET_FLAGS and /master/flags. */
  extraFlags?: Record<string, string>;
}

export const DEFAULT_MASTER_CONFIG: MasterConfig = {
  hostname: 'localhost',
  ip: '127.0.0.1',
  port: 5050,
  version: '1.12.0',
  agentPingTimeoutMs: 15_000,
  maxAgentPingTimeouts: 5,
  allocationIntervalMs: 1_000,
  offerTimeoutMs: 0,
  heartbeatIntervalMs: 15_000,
  statusUpdateRetryMs: 10_000,
  maxCompletedTasksPerFramework: 1000,
  maxCompletedFrameworks: 50,
  maxOutstandingOffers: 100_000,
  maxPendingUpdatesPerTask: 100,
  maxSubscriberBufferBytes: 16 * 1024 * 1024,
  maxUnreachableTasksPerFramework: 1000,
};

const durationFlag = (ms: number): string => (ms % 1000 === 0 ? `${ms / 1000}secs` : `${ms}ms`);

/** Flags in the string form Mesos prints them. */
export function configFlags(c: MasterConfig): Record<string, string> {
  return {
    hostname: c.hostname,
    ip: c.ip,
    port: String(c.port),
    agent_ping_timeout: durationFlag(c.agentPingTimeoutMs),
    max_agent_ping_timeouts: String(c.maxAgentPingTimeouts),
    allocation_interval: durationFlag(c.allocationIntervalMs),
    offer_timeout: c.offerTimeoutMs > 0 ? durationFlag(c.offerTimeoutMs) : '',
    max_completed_tasks_per_framework: String(c.maxCompletedTasksPerFramework),
    max_completed_frameworks: String(c.maxCompletedFrameworks),
    work_dir: c.workDir ?? '',
    cluster: c.cluster ?? '',
    ...(c.extraFlags ?? {}),
  };
}
