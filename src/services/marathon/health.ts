/**
 * Checks Marathon runs itself: health checks of the HTTP, HTTPS and TCP kinds (the MESOS_* and
 * COMMAND kinds run on the agent and arrive as TaskStatus.healthy), and readiness checks. The
 * I/O is behind the HealthProber port; the bookkeeping here is plain state.
 */
import type { HttpAnswer, ReadinessResult } from '../../core/marathon/index.js';

export interface ProbeResult {
  ok: boolean;
  cause?: string;
}

export interface HealthProber {
  http(host: string, port: number, path: string, https: boolean, timeoutMs: number, ignoreHttp1xx: boolean): Promise<ProbeResult>;
  tcp(host: string, port: number, timeoutMs: number): Promise<ProbeResult>;
  /** A GET whose status, content type and body are returned (readiness checks); absent: none run. */
  get?(host: string, port: number, path: string, https: boolean, timeoutMs: number): Promise<HttpAnswer>;
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

/** Readiness of one task: the latest result per check, until every check said ready once. */
export interface ReadinessState {
  results: (ReadinessResult | undefined)[];
  nextProbeMs: number[];
  inFlight: boolean[];
  ready: boolean;
}

/** Bodies kept from readiness responses (preserveLastResponse) are cut to this many characters. */
export const MAX_READINESS_BODY_CHARS = 4096;
