import type { Clock, TimerHandle } from '../../base/clock.js';
import type { CheckInfo, CheckStatusInfo, CommandInfo, HealthCheck } from '../../model/mesos.js';
import type { ProbeResult, Probes } from '../../ports/probes.js';

/**
 * Health checks and generic checks of one task, with Mesos' semantics (the command executor's
 * health checker and checker):
 *
 * - the first probe runs `delay` after the task started, the next one `interval` after the
 *   previous one completed; a probe that takes longer than `timeout` is a failure;
 * - health: the first success reports `healthy: true`; a failure while no success has been seen
 *   and the task is younger than `grace_period_seconds` is ignored; every counted failure reports
 *   `healthy: false`; the next success after failures reports `healthy: true` again; after
 *   `consecutive_failures` counted failures in a row the task is to be killed;
 * - generic checks report their result (exit code, HTTP status, TCP connect) when it changes, and
 *   never kill.
 *
 * The decisions are pure (HealthState, CheckState); CheckDriver carries them out on the injected
 * Clock, so unit tests and the simulator drive the timers.
 */

/** Mesos' defaults (mesos.proto HealthCheck / CheckInfo). */
export const HEALTH_DEFAULTS = { delaySeconds: 15, intervalSeconds: 10, timeoutSeconds: 20, consecutiveFailures: 3, gracePeriodSeconds: 10 };
export const CHECK_DEFAULTS = { delaySeconds: 15, intervalSeconds: 10, timeoutSeconds: 20 };

export interface HealthPolicy {
  delayMs: number;
  intervalMs: number;
  timeoutMs: number;
  consecutiveFailures: number;
  gracePeriodMs: number;
}

const secs = (v: unknown, dflt: number): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : dflt);

export function healthPolicy(hc: HealthCheck): HealthPolicy {
  return {
    delayMs: Math.round(secs(hc.delay_seconds, HEALTH_DEFAULTS.delaySeconds) * 1000),
    // A zero interval would spin: Mesos requires it positive, so a floor of 10 ms holds it.
    intervalMs: Math.max(10, Math.round(secs(hc.interval_seconds, HEALTH_DEFAULTS.intervalSeconds) * 1000)),
    timeoutMs: Math.max(1, Math.round(secs(hc.timeout_seconds, HEALTH_DEFAULTS.timeoutSeconds) * 1000)),
    consecutiveFailures: Math.max(1, Math.floor(secs(hc.consecutive_failures, HEALTH_DEFAULTS.consecutiveFailures))),
    gracePeriodMs: Math.round(secs(hc.grace_period_seconds, HEALTH_DEFAULTS.gracePeriodSeconds) * 1000),
  };
}

export function checkPolicy(c: CheckInfo): Pick<HealthPolicy, 'delayMs' | 'intervalMs' | 'timeoutMs'> {
  return {
    delayMs: Math.round(secs(c.delay_seconds, CHECK_DEFAULTS.delaySeconds) * 1000),
    intervalMs: Math.max(10, Math.round(secs(c.interval_seconds, CHECK_DEFAULTS.intervalSeconds) * 1000)),
    timeoutMs: Math.max(1, Math.round(secs(c.timeout_seconds, CHECK_DEFAULTS.timeoutSeconds) * 1000)),
  };
}

/** What a health result means for the task: a status update to send, and whether to kill it. */
export interface HealthVerdict {
  healthy: boolean;
  consecutiveFailures: number;
  kill: boolean;
}

/** The health checker's state: pure, time is an argument. */
export class HealthState {
  /** No success seen yet (Mesos: "initializing"). */
  private initializing = true;
  private failures = 0;

  constructor(
    private readonly policy: HealthPolicy,
    private readonly startMs: number,
  ) {}

  get consecutiveFailures(): number {
    return this.failures;
  }

  /** A success is reported on the first one and on the first one after failures. */
  success(): HealthVerdict | undefined {
    const report = this.initializing || this.failures > 0;
    this.initializing = false;
    this.failures = 0;
    return report ? { healthy: true, consecutiveFailures: 0, kill: false } : undefined;
  }

  /** undefined: ignored (grace period); otherwise every counted failure is reported. */
  failure(nowMs: number): HealthVerdict | undefined {
    if (this.initializing && this.policy.gracePeriodMs > 0 && nowMs - this.startMs <= this.policy.gracePeriodMs) return undefined;
    this.failures++;
    return { healthy: false, consecutiveFailures: this.failures, kill: this.failures >= this.policy.consecutiveFailures };
  }
}

/** A generic check's state: reports a result only when it differs from the last one reported. */
export class CheckState {
  private last: string;

  constructor(readonly initial: CheckStatusInfo) {
    this.last = JSON.stringify(initial);
  }

  update(result: CheckStatusInfo): CheckStatusInfo | undefined {
    const key = JSON.stringify(result);
    if (key === this.last) return undefined;
    this.last = key;
    return result;
  }
}

/** The empty check status of a CheckInfo (what TASK_RUNNING carries before the first result). */
export function emptyCheckStatus(c: CheckInfo): CheckStatusInfo {
  const type = c.type ?? 'COMMAND';
  if (type === 'HTTP') return { type, http: {} };
  if (type === 'TCP') return { type, tcp: {} };
  return { type: 'COMMAND', command: {} };
}

/** A probe result as a CheckStatusInfo (an error leaves the result field empty, as Mesos does). */
export function checkStatusOf(type: CheckStatusInfo['type'], r: ProbeResult): CheckStatusInfo {
  if (type === 'HTTP') return { type, http: r.kind === 'http' ? { status_code: r.statusCode } : {} };
  if (type === 'TCP') return { type, tcp: r.kind === 'tcp' ? { succeeded: r.connected } : {} };
  return { type, command: r.kind === 'command' ? { exit_code: r.exitCode } : {} };
}

/** Health: exit 0, HTTP 2xx/3xx, or a TCP connection. */
export function healthy(r: ProbeResult): boolean {
  if (r.kind === 'command') return r.exitCode === 0;
  if (r.kind === 'http') return r.statusCode >= 200 && r.statusCode < 400;
  if (r.kind === 'tcp') return r.connected;
  return false;
}

/** Why a probe failed, for the agent log. */
export function describe(r: ProbeResult): string {
  if (r.kind === 'command') return `exit code ${r.exitCode}`;
  if (r.kind === 'http') return `HTTP status ${r.statusCode}`;
  if (r.kind === 'tcp') return r.connected ? 'connected' : 'connection refused';
  return r.message;
}

/** What a probe needs to know about the task. */
export interface ProbeTarget {
  containerId: string;
  env: Record<string, string>;
}

type ProbeSpec =
  | { type: 'COMMAND'; command: CommandInfo }
  | { type: 'HTTP'; scheme: 'http' | 'https'; port: number; path: string; ipv6: boolean }
  | { type: 'TCP'; port: number; ipv6: boolean };

/** Validates a health check or check into a probe; a string says why it cannot run. */
export function probeSpec(c: HealthCheck | CheckInfo): ProbeSpec | string {
  const type = c.type ?? ((c as HealthCheck).http ? 'HTTP' : (c as HealthCheck).tcp ? 'TCP' : 'COMMAND');
  if (type === 'COMMAND') {
    const raw = c.command as (CommandInfo & { command?: CommandInfo }) | undefined;
    const command = raw?.command ?? raw;
    if (!command || (command.shell !== false && !(typeof command.value === 'string' && command.value.trim() !== ''))) return 'a COMMAND check needs a command';
    return { type, command };
  }
  const port = type === 'HTTP' ? c.http?.port : c.tcp?.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return `a ${type} check needs a port (1-65535)`;
  const proto = type === 'HTTP' ? c.http?.protocol : (c.tcp as { protocol?: string } | undefined)?.protocol;
  const ipv6 = proto === 'IPv6';
  if (type === 'TCP') return { type, port, ipv6 };
  const scheme = (c as HealthCheck).http?.scheme === 'https' ? 'https' : 'http';
  let path = c.http?.path ?? '/';
  if (!path.startsWith('/')) path = `/${path}`;
  return { type, scheme, port, path, ipv6 };
}

/** Runs one probe. Mesos probes from inside the task's network namespace: here tasks share the host's. */
export function runProbe(probes: Probes, spec: ProbeSpec, target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  const host = spec.type !== 'COMMAND' && spec.ipv6 ? '::1' : '127.0.0.1';
  const p =
    spec.type === 'COMMAND'
      ? probes.command(target.containerId, spec.command, target.env, timeoutMs)
      : spec.type === 'HTTP'
        ? probes.http({ scheme: spec.scheme, host, port: spec.port, path: spec.path, timeoutMs })
        : probes.tcp({ host, port: spec.port, timeoutMs });
  return p.catch((e: Error) => ({ kind: 'error' as const, message: e.message }));
}

/**
 * Runs a probe on a schedule: after `delayMs`, then `intervalMs` after each completion, until
 * stopped. Probe timeouts are the probe's own (the adapter's timers); a result that arrives after
 * stop() is dropped.
 */
export class CheckDriver {
  private timer: TimerHandle | undefined;
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly probe: () => Promise<ProbeResult>,
    private readonly onResult: (r: ProbeResult) => void,
  ) {}

  start(delayMs: number): void {
    this.schedule(delayMs);
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimer(ms, () => {
      this.timer = undefined;
      void this.probe().then((r) => {
        if (this.stopped) return;
        this.onResult(r);
        this.schedule(this.intervalMs);
      });
    });
  }
}
