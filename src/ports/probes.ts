import type { CommandInfo } from '../model/mesos.js';

/**
 * The agent's probes for health checks and generic checks: an HTTP request, a TCP connect, or a
 * command run inside the task's container. A probe never throws: what went wrong is a result.
 */
export type ProbeResult =
  | { kind: 'command'; exitCode: number }
  | { kind: 'http'; statusCode: number }
  | { kind: 'tcp'; connected: boolean }
  /** The probe could not complete (timeout, no container, refused request...). */
  | { kind: 'error'; message: string };

export interface Probes {
  command(containerId: string, command: CommandInfo, env: Record<string, string>, timeoutMs: number): Promise<ProbeResult>;
  http(o: { scheme: 'http' | 'https'; host: string; port: number; path: string; timeoutMs: number }): Promise<ProbeResult>;
  tcp(o: { host: string; port: number; timeoutMs: number }): Promise<ProbeResult>;
}
