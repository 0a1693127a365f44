/**
 * Health checks Marathon runs itself (HTTP, HTTPS, TCP; and the MESOS_* kinds until agents run
 * them): the I/O is behind the HealthProber port, the bookkeeping here is pure state.
 */
export interface ProbeResult {
  ok: boolean;
  cause?: string;
}

export interface HealthProber {
  http(host: string, port: number, path: string, https: boolean, timeoutMs: number, ignoreHttp1xx: boolean): Promise<ProbeResult>;
  tcp(host: string, port: number, timeoutMs: number): Promise<ProbeResult>;
}

/** One check's results for one task (Marathon's HealthCheckResult). */
export interface HealthState {
  alive: boolean | undefined;
  consecutiveFailures: number;
  firstSuccess?: string;
  lastSuccess?: string;
  lastFailure?: string;
  lastFailureCause?: string;
  nextProbeMs: number;
  inFlight: boolean;
}

export const SCHEDULER_PROTOCOLS = new Set(['HTTP', 'HTTPS', 'TCP', 'MESOS_HTTP', 'MESOS_HTTPS', 'MESOS_TCP']);
