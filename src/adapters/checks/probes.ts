import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { CommandInfo } from '../../model/mesos.js';
import type { ProbeResult, Probes } from '../../ports/probes.js';
import type { ContainerRuntime } from '../../ports/runtime.js';

/**
 * The agent's probes. HTTP and TCP go from the agent to the task's port on loopback (tasks share
 * the host's network namespace); HTTPS does not verify the certificate, as Mesos' checker does
 * not. COMMAND runs inside the task's container through the runtime's exec.
 */
export class RuntimeProbes implements Probes {
  constructor(private readonly runtime: ContainerRuntime) {}

  async command(containerId: string, command: CommandInfo, env: Record<string, string>, timeoutMs: number): Promise<ProbeResult> {
    if (!this.runtime.exec) return { kind: 'error', message: 'this runtime cannot run commands in containers' };
    try {
      return { kind: 'command', exitCode: await this.runtime.exec(containerId, command, env, timeoutMs) };
    } catch (e) {
      return { kind: 'error', message: (e as Error).message };
    }
  }

  http(o: { scheme: 'http' | 'https'; host: string; port: number; path: string; timeoutMs: number }): Promise<ProbeResult> {
    return new Promise((resolve) => {
      const req = (o.scheme === 'https' ? httpsRequest : httpRequest)(
        { host: o.host, port: o.port, path: o.path, method: 'GET', agent: false, rejectUnauthorized: false, headers: { 'User-Agent': 'dcos-ts-health-check' } },
        (res) => {
          res.resume();
          clearTimeout(timer);
          resolve({ kind: 'http', statusCode: res.statusCode ?? 0 });
        },
      );
      const timer = setTimeout(() => {
        req.destroy();
        resolve({ kind: 'error', message: `no answer within ${o.timeoutMs} ms` });
      }, o.timeoutMs);
      req.on('error', (e) => {
        clearTimeout(timer);
        resolve({ kind: 'error', message: e.message });
      });
      req.end();
    });
  }

  tcp(o: { host: string; port: number; timeoutMs: number }): Promise<ProbeResult> {
    return new Promise((resolve) => {
      const s = connect({ host: o.host, port: o.port });
      const done = (r: ProbeResult): void => {
        clearTimeout(timer);
        s.destroy();
        resolve(r);
      };
      const timer = setTimeout(() => done({ kind: 'error', message: `no connection within ${o.timeoutMs} ms` }), o.timeoutMs);
      s.once('connect', () => done({ kind: 'tcp', connected: true }));
      s.once('error', () => done({ kind: 'tcp', connected: false }));
    });
  }
}
