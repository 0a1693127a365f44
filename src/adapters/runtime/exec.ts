import { type ChildProcess, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import type { ContainerExec, ExecSession, ExecStream, ExecTarget } from '../../ports/exec.js';
import type { Cgroups } from './cgroups.js';
import { type DockerRuntime, StreamDemuxer } from './docker.js';
import { findOciRuntime, hybridCgroupTrap, type OciRuntimeName } from './oci.js';

/**
 * Exec sessions (LAUNCH_NESTED_CONTAINER_SESSION): a command run inside a running task.
 *
 * - OCI tasks: `crun exec <container> <argv>` (runc alike), in the task's namespaces, cgroups,
 *   environment and working directory. On hybrid-cgroup machines crun runs in a private mount
 *   namespace without the v2 mount, as every other crun call of the agent does.
 * - Process tasks: a child of the agent with the task's environment (`/proc/<pid>/environ`) and
 *   working directory (the sandbox) that joins the task's cgroups before it execs, so its CPU and
 *   memory count against the task and it dies with the task's cgroup.
 * - Docker tasks (container.type DOCKER): an exec of the Docker daemon with stdin, stdout and
 *   stderr attached over an upgraded connection (DockerRuntime.execSession), in the container's
 *   namespaces and cgroups with its environment, as `docker exec -i` runs.
 *
 * A session lives as long as its command. Its output is kept (up to OUTPUT_BUFFER_MAX_BYTES)
 * until a listener attaches; stdin stays open for STDIN_ATTACH_GRACE_MS so that an
 * ATTACH_CONTAINER_INPUT call can claim it, and is closed (EOF) when nobody does.
 */

const OUTPUT_BUFFER_MAX_BYTES = 4 * 1024 * 1024;
const STDIN_ATTACH_GRACE_MS = 1_000;
/** Wait statuses of ended sessions kept for WAIT_NESTED_CONTAINER. */
const ENDED_KEPT = 1_000;
const SESSIONS_MAX = 256;
const SESSION_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;

export interface ExecOptions {
  cgroups?: Cgroups;
  runtime?: OciRuntimeName;
  /** Where the OCI bundles are: a session gets the task's environment and cwd from its config.json. */
  bundleDir?: string;
  /** The OCI runtime's `--root` (the Mesos containerizer's stateRoot). */
  ociStateRoot?: string;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** The docker containerizer, for sessions in container.type DOCKER tasks. */
  docker?: Pick<DockerRuntime, 'execSession'>;
}

export class ExecSessions implements ContainerExec {
  private readonly running = new Map<string, Session | DockerSession>();
  private readonly ended = new Map<string, Promise<number>>();
  private readonly wrapHybrid: boolean;

  constructor(private readonly options: ExecOptions = {}) {
    this.wrapHybrid = (options.runtime ?? 'crun') === 'crun' && hybridCgroupTrap();
  }

  async launch(target: ExecTarget, sessionId: string, argv: string[]): Promise<ExecSession> {
    if (!SESSION_ID.test(sessionId)) throw new ExecError(400, `invalid container id '${sessionId}'`);
    if (this.running.has(sessionId) || this.ended.has(sessionId)) throw new ExecError(400, `container ${sessionId} already exists`);
    if (this.running.size >= SESSIONS_MAX) throw new ExecError(503, `too many exec sessions (${SESSIONS_MAX}) on this agent`);
    if (argv.length === 0 || argv[0] === '') throw new ExecError(400, 'the command is empty');
    let s: Session | DockerSession;
    if (target.docker) {
      const docker = this.options.docker;
      if (!docker) throw new ExecError(501, 'this agent runs no docker containerizer: it cannot exec into docker tasks');
      let ex: Awaited<ReturnType<DockerRuntime['execSession']>>;
      try {
        ex = await docker.execSession(target.containerId, argv);
      } catch (e) {
        const status = (e as { status?: number }).status;
        throw new ExecError(status === 404 || status === 409 ? 400 : 500, `cannot exec in docker container ${target.containerId}: ${(e as Error).message}`);
      }
      s = new DockerSession(sessionId, target.containerId, ex.socket, ex.head, ex.inspect);
    } else s = new Session(sessionId, target.containerId, await this.spawnChild(target, argv));
    await s.started;
    this.running.set(sessionId, s);
    const timer = setTimeout(() => {
      if (s.claimStdin()) s.endStdin();
    }, STDIN_ATTACH_GRACE_MS);
    timer.unref();
    void s.done.then(() => {
      clearTimeout(timer);
      this.running.delete(sessionId);
      this.ended.set(sessionId, s.done);
      while (this.ended.size > ENDED_KEPT) this.ended.delete(this.ended.keys().next().value as string);
    });
    return s;
  }

  /** The child process of an OCI or process task's session. */
  private async spawnChild(target: ExecTarget, argv: string[]): Promise<ChildProcess> {
    let child: ChildProcess;
    if (target.oci) {
      const name = this.options.runtime ?? 'crun';
      const bin = findOciRuntime(name);
      if (!bin) throw new ExecError(500, `the OCI runtime '${name}' is not installed`);
      const args = [
        ...(this.options.ociStateRoot ? ['--root', this.options.ociStateRoot] : []),
        'exec',
        ...(await this.bundleProcessArgs(target.containerId)),
        target.containerId,
        ...argv,
      ];
      const [cmd, ...rest] = this.wrapHybrid
        ? ['/usr/bin/unshare', '-m', '--propagation', 'private', '/bin/sh', '-c', 'umount /sys/fs/cgroup/unified || exit 125; exec "$0" "$@"', bin, ...args]
        : [bin, ...args];
      child = spawn(cmd as string, rest, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    } else {
      if (target.pid === undefined) throw new ExecError(400, `container ${target.containerId} has no running process`);
      const env = await taskEnvironment(target.pid);
      const dirs = this.options.cgroups?.dirs(target.containerId) ?? [];
      for (const d of dirs) if (/\s/.test(d)) throw new ExecError(500, `cgroup path with whitespace: ${d}`);
      const joinCg = 'for __g in $0; do [ -d "$__g" ] && { echo 0 >"$__g/cgroup.procs" || exit 126; }; done; exec "$@"';
      child = spawn('/bin/sh', ['-c', joinCg, dirs.join(' '), ...argv], { cwd: target.sandboxDir, env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    }
    return child;
  }

  session(sessionId: string): ExecSession | undefined {
    return this.running.get(sessionId);
  }

  waitStatus(sessionId: string): Promise<number> | undefined {
    return this.running.get(sessionId)?.done ?? this.ended.get(sessionId);
  }

  /** `--cwd` and `--env` of the task's own process (crun exec starts in / with a bare environment). */
  private async bundleProcessArgs(containerId: string): Promise<string[]> {
    if (!this.options.bundleDir) return [];
    try {
      const cfg = JSON.parse(await fs.readFile(join(this.options.bundleDir, containerId, 'config.json'), 'utf8')) as {
        process?: { cwd?: string; env?: string[] };
      };
      const out: string[] = [];
      if (typeof cfg.process?.cwd === 'string') out.push(`--cwd=${cfg.process.cwd}`);
      for (const e of cfg.process?.env ?? []) if (typeof e === 'string' && e.includes('=')) out.push(`--env=${e}`);
      return out;
    } catch {
      return [];
    }
  }

  /** Running sessions, for GET_CONTAINERS. */
  sessions(): ExecSession[] {
    return [...this.running.values()];
  }
}

/** An error with the HTTP status the agent API answers with. */
export class ExecError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Output kept (bounded) until the first listener attaches, and the one claim of stdin. */
class OutputBuffer {
  private listeners: ((stream: ExecStream, data: Uint8Array) => void)[] = [];
  private buffered: [ExecStream, Uint8Array][] = [];
  private bufferedBytes = 0;
  private stdinClaimed = false;

  protected emit(stream: ExecStream, chunk: Uint8Array): void {
    if (this.listeners.length === 0) {
      if (this.bufferedBytes + chunk.length > OUTPUT_BUFFER_MAX_BYTES) return; // nobody listens: drop beyond the bound
      this.buffered.push([stream, chunk]);
      this.bufferedBytes += chunk.length;
      return;
    }
    for (const fn of this.listeners) fn(stream, chunk);
  }

  onOutput(fn: (stream: ExecStream, data: Uint8Array) => void): void {
    this.listeners.push(fn);
    const old = this.buffered;
    this.buffered = [];
    this.bufferedBytes = 0;
    for (const [s, d] of old) fn(s, d);
  }

  claimStdin(): boolean {
    if (this.stdinClaimed) return false;
    this.stdinClaimed = true;
    return true;
  }
}

class Session extends OutputBuffer implements ExecSession {
  readonly done: Promise<number>;
  readonly started: Promise<void>;
  private stdinOpen = true;

  constructor(
    readonly id: string,
    readonly parentId: string,
    private readonly child: ChildProcess,
  ) {
    super();
    this.started = new Promise((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', (e) => reject(new ExecError(500, `cannot start the command: ${e.message}`)));
    });
    child.stdout?.on('data', (c: Buffer) => this.emit('STDOUT', c));
    child.stderr?.on('data', (c: Buffer) => this.emit('STDERR', c));
    child.stdin?.on('error', () => {
      this.stdinOpen = false;
    });
    // 'close': the exit and the end of both output pipes, so every byte was emitted before done.
    this.done = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        this.stdinOpen = false;
        resolve(waitStatus(code, signal));
      });
      child.once('error', () => resolve(127 << 8));
    });
  }

  writeStdin(data: Uint8Array): boolean {
    if (!this.stdinOpen || !this.child.stdin) return false;
    this.child.stdin.write(data);
    return true;
  }

  endStdin(): void {
    if (!this.stdinOpen) return;
    this.stdinOpen = false;
    this.child.stdin?.end();
  }

  kill(signal: string): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal as NodeJS.Signals);
    } catch {
      try {
        process.kill(pid, signal as NodeJS.Signals);
      } catch {
        // gone
      }
    }
  }
}

/**
 * A session in a Docker task: the daemon's exec over an upgraded connection. stdin is written to
 * the socket and closed with a half-close; stdout and stderr arrive multiplexed; once the stream
 * ends the exit code comes from the exec's inspect (briefly polled: the daemon may close the
 * stream a moment before it records the exit).
 */
class DockerSession extends OutputBuffer implements ExecSession {
  readonly done: Promise<number>;
  readonly started: Promise<void> = Promise.resolve();
  private stdinOpen = true;
  private pid: number | undefined;

  constructor(
    readonly id: string,
    readonly parentId: string,
    private readonly socket: Socket,
    head: Buffer,
    inspect: () => Promise<{ ExitCode?: number | null; Running?: boolean; Pid?: number }>,
  ) {
    super();
    const demux = new StreamDemuxer((stream, payload) => this.emit(stream === 'stderr' ? 'STDERR' : 'STDOUT', payload));
    if (head.length > 0) demux.push(head);
    socket.on('data', (c: Buffer) => demux.push(c));
    socket.on('error', () => {
      this.stdinOpen = false;
    });
    void inspect().then(
      (i) => {
        if (typeof i.Pid === 'number' && i.Pid > 0) this.pid = i.Pid;
      },
      () => {},
    );
    this.done = new Promise((resolve) => {
      socket.once('close', () => {
        this.stdinOpen = false;
        void (async () => {
          for (let i = 0; i < 100; i++) {
            const info = await inspect().catch(() => undefined);
            if (info && info.Running === false && typeof info.ExitCode === 'number') return resolve((info.ExitCode & 0xff) << 8);
            await new Promise((r) => setTimeout(r, 20));
          }
          resolve(255 << 8); // the daemon never recorded an exit
        })();
      });
    });
  }

  writeStdin(data: Uint8Array): boolean {
    if (!this.stdinOpen) return false;
    this.socket.write(data);
    return true;
  }

  endStdin(): void {
    if (!this.stdinOpen) return;
    this.stdinOpen = false;
    this.socket.end();
  }

  kill(signal: string): void {
    if (this.pid === undefined) {
      this.socket.destroy();
      return;
    }
    try {
      process.kill(this.pid, signal as NodeJS.Signals);
    } catch {
      // gone
    }
  }
}

/** The raw wait status, as Mesos reports it in WAIT_NESTED_CONTAINER. */
export function waitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (signal) {
    const n = signalNumber(signal);
    return n & 0x7f;
  }
  return ((code ?? 0) & 0xff) << 8;
}

function signalNumber(signal: string): number {
  const table: Record<string, number> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGQUIT: 3,
    SIGABRT: 6,
    SIGKILL: 9,
    SIGUSR1: 10,
    SIGSEGV: 11,
    SIGUSR2: 12,
    SIGPIPE: 13,
    SIGALRM: 14,
    SIGTERM: 15,
  };
  return table[signal] ?? 9;
}

/** The task's environment (NUL-separated in /proc/<pid>/environ); a plain PATH when unreadable. */
async function taskEnvironment(pid: number): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  let raw: string;
  try {
    raw = await fs.readFile(`/proc/${pid}/environ`, 'utf8');
  } catch {
    throw new ExecError(400, `the task process ${pid} is gone`);
  }
  for (const kv of raw.split('\0')) {
    const i = kv.indexOf('=');
    if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  env.PATH ??= '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  return env;
}
