/**
 * A private Docker daemon for the docker containerizer's tests: Debian's dockerd with its socket,
 * data, exec root and pid file under a temporary directory, no iptables, no masquerading and no
 * bridge, so nothing of the host's network setup is touched. It starts its own containerd (whose
 * state lives under the exec root too).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { unmountUnder } from './images.js';

export interface Dockerd {
  socket: string;
  child: ChildProcess;
  log: () => string;
  stop(): Promise<void>;
}

export function findDockerd(): string | undefined {
  return ['/usr/sbin/dockerd', '/usr/bin/dockerd'].find((p) => existsSync(p));
}

export function dockerGet(socket: string, path: string, method = 'GET', json?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const data = json === undefined ? undefined : Buffer.from(JSON.stringify(json));
    const headers = { host: 'docker', ...(data ? { 'content-type': 'application/json', 'content-length': String(data.length) } : {}) };
    const req = request({ socketPath: socket, path, method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.setTimeout(5_000, () => req.destroy(new Error('timeout')));
    req.end(data);
  });
}

/**
 * Starts dockerd under `dir`; resolves once it answers /_ping, rejects (with the end of its log)
 * when it exits or does not answer within 60 s. `insecure`: registries (host:port) over plain HTTP.
 */
export async function startDockerd(dir: string, insecure: string[] = []): Promise<Dockerd> {
  const bin = findDockerd();
  if (!bin) throw new Error('dockerd is not installed (Debian package docker.io)');
  mkdirSync(dir, { recursive: true });
  const socket = join(dir, 'docker.sock');
  const logFile = join(dir, 'dockerd.log');
  const out = openSync(logFile, 'a');
  const args = [
    `--host=unix://${socket}`,
    `--data-root=${join(dir, 'data')}`,
    `--exec-root=${join(dir, 'exec')}`,
    `--pidfile=${join(dir, 'docker.pid')}`,
    '--iptables=false',
    '--ip6tables=false',
    '--ip-masq=false',
    '--bridge=none',
    '--log-level=warn',
    ...insecure.map((r) => `--insecure-registry=${r}`),
  ];
  const child = spawn(bin, args, { stdio: ['ignore', out, out] });
  const log = () => {
    try {
      return readFileSync(logFile, 'utf8').trim().split('\n').slice(-4).join('\n');
    } catch {
      return '';
    }
  };
  let exited = false;
  const gone = new Promise<void>((r) =>
    child.once('exit', () => {
      exited = true;
      r();
    }),
  );
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await gone;
      clearTimeout(t);
    }
    // Overlay mounts and network namespaces a daemon that died badly left behind.
    unmountUnder(dir);
  };
  const end = Date.now() + 60_000;
  while (Date.now() < end) {
    if (exited) {
      unmountUnder(dir);
      throw new Error(`dockerd exited: ${log()}`);
    }
    const ok = await dockerGet(socket, '/_ping').then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return { socket, child, log, stop };
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error(`dockerd did not answer /_ping within 60 s: ${log()}`);
}
