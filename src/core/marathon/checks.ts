/**
 * Health and readiness checks as data (api-contracts.md §4.2). Marathon-level checks (HTTP,
 * HTTPS, TCP) are probed by the scheduler; Mesos-level ones (MESOS_HTTP, MESOS_HTTPS, MESOS_TCP,
 * COMMAND) travel to the agent in TaskInfo.health_check and come back as TaskStatus.healthy.
 * Readiness checks are HTTP probes the scheduler runs on new tasks until they answer with one of
 * the accepted status codes. Everything here is pure: the probing happens in the service.
 */
import type { HealthCheck } from '../../model/mesos.js';

type Json = Record<string, any>;

/** Protocols whose checks run on the agent (at most one per app, as Marathon validates). */
export const AGENT_HEALTH_PROTOCOLS: ReadonlySet<string> = new Set(['MESOS_HTTP', 'MESOS_HTTPS', 'MESOS_TCP', 'COMMAND']);
/** Protocols the scheduler probes itself. */
export const SCHEDULER_HEALTH_PROTOCOLS: ReadonlySet<string> = new Set(['HTTP', 'HTTPS', 'TCP']);

export const isAgentHealthCheck = (hc: Json): boolean => AGENT_HEALTH_PROTOCOLS.has(String(hc.protocol));

/** The port a check targets: its fixed `port`, else the task's host port at `portIndex`. */
export function checkPort(hc: Json, hostPorts: readonly number[]): number | undefined {
  if (typeof hc.port === 'number') return hc.port;
  return hostPorts[typeof hc.portIndex === 'number' ? hc.portIndex : 0];
}

/**
 * Marathon's translation of its Mesos-level health check into Mesos' HealthCheck (v1 JSON):
 * intervalSeconds, timeoutSeconds, gracePeriodSeconds and delaySeconds map one to one,
 * maxConsecutiveFailures becomes consecutive_failures; the port is resolved to the host port.
 * Undefined when the check needs a port the task does not have (Marathon then sends none).
 */
export function mesosHealthCheck(hc: Json, hostPorts: readonly number[]): HealthCheck | undefined {
  const common = {
    delay_seconds: hc.delaySeconds ?? 15,
    interval_seconds: hc.intervalSeconds,
    timeout_seconds: hc.timeoutSeconds,
    consecutive_failures: hc.maxConsecutiveFailures,
    grace_period_seconds: hc.gracePeriodSeconds,
  };
  const protocol = String(hc.protocol);
  if (protocol === 'COMMAND') return { type: 'COMMAND', ...common, command: { shell: true, value: String(hc.command?.value ?? '') } };
  const port = checkPort(hc, hostPorts);
  if (port === undefined) return undefined;
  if (protocol === 'MESOS_TCP') return { type: 'TCP', ...common, tcp: { port } };
  if (protocol === 'MESOS_HTTP' || protocol === 'MESOS_HTTPS') {
    return {
      type: 'HTTP',
      ...common,
      http: { port, scheme: protocol === 'MESOS_HTTPS' ? 'https' : 'http', ...(hc.path !== undefined ? { path: hc.path } : {}) },
    };
  }
  return undefined;
}

/** One readiness check's latest outcome for one task, as Marathon's ReadinessCheckResult. */
export interface ReadinessResult {
  name: string;
  taskId: string;
  ready: boolean;
  lastResponse?: { status: number; contentType: string; body: string };
}

/** What a readiness probe got back: a response, or why there was none. */
export type HttpAnswer = { status: number; contentType: string; body: string } | { error: string };

/** Host port a readiness check probes: the port definition named `portName`. */
export function readinessPort(check: Json, portNames: readonly (string | undefined)[], hostPorts: readonly number[]): number | undefined {
  const i = portNames.indexOf(check.portName);
  return i >= 0 ? hostPorts[i] : undefined;
}

/** Interprets one probe: ready when the status is one of httpStatusCodesForReady. */
export function readinessOutcome(check: Json, taskId: string, answer: HttpAnswer): ReadinessResult {
  const codes: number[] = Array.isArray(check.httpStatusCodesForReady) ? check.httpStatusCodesForReady : [200];
  const ready = 'status' in answer && codes.includes(answer.status);
  const out: ReadinessResult = { name: String(check.name), taskId, ready };
  if (check.preserveLastResponse === true && 'status' in answer) out.lastResponse = { ...answer };
  return out;
}
