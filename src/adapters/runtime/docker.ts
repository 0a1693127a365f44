import { type ClientRequest, type IncomingMessage, request } from 'node:http';
import type { Socket } from 'node:net';
import { existsSync, promises as fs } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { CommandInfo, CommandURI, ContainerInfo } from '../../model/mesos.js';
import type { ContainerStatsSource, ResourceStatistics, StatsTarget } from '../../ports/exec.js';
import type {
  CheckpointedContainer,
  ContainerHandle,
  ContainerRuntime,
  ContainerStats,
  ExitStatus,
  LaunchSpec,
  RecoveredContainer,
} from '../../ports/runtime.js';
import { diskUsage as sandboxBytes } from './container-stats.js';
import { resolveVolumes } from './volumes.js';

/**
 * The Docker containerizer: tasks with `container.type: DOCKER` run by a Docker daemon through
 * its Engine API on a unix socket (API version pinned to v1.41, Docker 20.10, Debian 12's
 * docker.io). Each task is one container named `mesos-<containerId>` and labelled with its
 * container id and sandbox, so a restarted agent finds it again: a running one is waited on
 * again (and its log stream resumed after the last line written), one that exited while the agent
 * was down is reported with its real exit code from `inspect`.
 *
 * The daemon keeps the exit status and the logs (json-file driver), so unlike the process runtime
 * no supervisor is needed: the daemon is the subreaper. stdout and stderr reach the sandbox's
 * `stdout` and `stderr` files through a followed `logs` stream (the multiplexed framing of a
 * non-TTY container), with timestamps, so that a resumed stream skips what was written before.
 */

export const DOCKER_API_VERSION = 'v1.41';
const SANDBOX_IN_CONTAINER = '/mnt/mesos/sandbox';
const LABEL_CONTAINER = 'dcos-ts.container-id';
const LABEL_SANDBOX = 'dcos-ts.sandbox';
const LABEL_TASK = 'dcos-ts.task-id';
const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/;
const PIDS_LIMIT = 4096;
/** How long an exit waits for the rest of its log stream before it is reported. */
const LOG_DRAIN_MS = 3_000;

export interface DockerRuntimeOptions {
  /** The daemon's socket (the agent's --docker_socket, default /var/run/docker.sock). */
  socketPath: string;
  /** Absolute directory for per-container state (the log cursor). */
  stateDir: string;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** Host paths HOST_PATH volumes may use (the agent's --allowed-host-paths). */
  allowedHostPaths?: readonly string[];
  /**
   * The agent's work dir: at recovery, containers of this daemon labelled with a sandbox under it
   * that the agent did not checkpoint are orphans (Mesos' --docker_kill_orphans) and are removed.
   */
  orphansUnder?: string;
  /** Downloads CommandInfo.uris into the sandbox before the container starts. */
  fetcher?: { fetch(uris: readonly CommandURI[], sandboxDir: string): Promise<void> };
}

/** An error answer of the Engine API, with its HTTP status. */
export class DockerApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A small client of the Docker Engine API over a unix socket (node:http, no dependencies). */
export class DockerClient {
  private readonly open = new Set<ClientRequest>();

  constructor(
    readonly socketPath: string,
    private readonly version = DOCKER_API_VERSION,
  ) {}

  /** Sends one request; resolves with the response (the body unread). */
  raw(method: string, path: string, body?: unknown, timeoutMs?: number): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = request(
        {
          socketPath: this.socketPath,
          method,
          path: `/${this.version}${path}`,
          headers: { host: 'docker', ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}) },
        },
        (res) => {
          res.on('close', () => this.open.delete(req));
          resolve(res);
        },
      );
      this.open.add(req);
      req.on('error', (e) => {
        this.open.delete(req);
        reject(e);
      });
      if (timeoutMs !== undefined) req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.end(data);
    });
  }

  /**
   * A POST whose connection the daemon takes over (`Connection: Upgrade`, `Upgrade: tcp`; it
   * answers 101): resolves with the raw socket and any bytes that came with the answer's headers.
   * Used by interactive execs, whose stdin is written to the socket and whose output comes back
   * on it multiplexed.
   */
  upgrade(path: string, body: unknown): Promise<{ socket: Socket; head: Buffer }> {
    return new Promise((resolve, reject) => {
      const data = Buffer.from(JSON.stringify(body));
      const req = request({
        socketPath: this.socketPath,
        method: 'POST',
        path: `/${this.version}${path}`,
        headers: { host: 'docker', 'content-type': 'application/json', 'content-length': data.length, connection: 'Upgrade', upgrade: 'tcp' },
      });
      req.on('upgrade', (_res, socket, head) => resolve({ socket: socket as Socket, head }));
      req.on('response', (res) => {
        void readAll(res).then((b) => {
          const text = b.toString('utf8');
          reject(new DockerApiError(res.statusCode ?? 0, daemonMessage(text) || `HTTP ${res.statusCode} instead of a connection upgrade`));
        }, reject);
      });
      req.on('error', reject);
      req.end(data);
    });
  }

  /** A request whose answer is JSON (or empty); non-2xx answers reject with the daemon's message. */
  async json<T>(method: string, path: string, body?: unknown, timeoutMs?: number): Promise<T> {
    const res = await this.raw(method, path, body, timeoutMs);
    const text = (await readAll(res)).toString('utf8');
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) throw new DockerApiError(status, daemonMessage(text) || `HTTP ${status}`);
    return (text.trim() === '' ? undefined : JSON.parse(text)) as T;
  }

  /** GET /_ping: resolves when a daemon answers on the socket. */
  async ping(timeoutMs = 2_000): Promise<void> {
    const res = await this.raw('GET', '/_ping', undefined, timeoutMs);
    const text = (await readAll(res)).toString('utf8');
    if (res.statusCode !== 200) throw new Error(`/_ping answered HTTP ${res.statusCode}: ${text}`);
  }

  /**
   * POST /images/create: pulls `image` (name[:tag] or name@digest); the answer is a stream of
   * JSON progress messages, and a failure mid-way arrives as one with `error`.
   */
  async pull(image: string, onProgress?: (status: string) => void): Promise<void> {
    const { name, tag } = splitImage(image);
    const q = new URLSearchParams({ fromImage: name, tag });
    const res = await this.raw('POST', `/images/create?${q}`);
    if ((res.statusCode ?? 0) >= 300) throw new DockerApiError(res.statusCode ?? 0, daemonMessage((await readAll(res)).toString('utf8')));
    let rest = '';
    let failure: string | undefined;
    for await (const chunk of res) {
      rest += (chunk as Buffer).toString('utf8');
      const lines = rest.split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) failure = progressLine(line, onProgress) ?? failure;
    }
    failure = progressLine(rest, onProgress) ?? failure;
    if (failure) throw new Error(failure);
  }

  /** Destroys every request in flight (followed logs, waits): the daemon keeps the containers. */
  close(): void {
    for (const r of this.open) r.destroy();
    this.open.clear();
  }
}

function progressLine(line: string, onProgress?: (s: string) => void): string | undefined {
  if (line.trim() === '') return undefined;
  try {
    const m = JSON.parse(line) as { status?: string; error?: string; errorDetail?: { message?: string } };
    if (m.error || m.errorDetail?.message) return m.errorDetail?.message ?? m.error;
    if (m.status) onProgress?.(m.status);
  } catch {
    // not JSON: ignore
  }
  return undefined;
}

/** `repo[:tag]` or `repo@sha256:...`; a registry port is not a tag. Default tag: latest. */
export function splitImage(image: string): { name: string; tag: string } {
  const at = image.indexOf('@');
  if (at > 0) return { name: image.slice(0, at), tag: image.slice(at + 1) };
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  if (colon > slash) return { name: image.slice(0, colon), tag: image.slice(colon + 1) };
  return { name: image, tag: 'latest' };
}

async function readAll(res: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of res) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

function daemonMessage(text: string): string {
  try {
    const m = JSON.parse(text) as { message?: string };
    if (typeof m.message === 'string') return m.message;
  } catch {
    // plain text
  }
  return text.trim();
}

/**
 * Splits the multiplexed stream of a non-TTY container (attach, logs, exec): frames of an 8-byte
 * header (stream type: 1 stdout, 2 stderr; 3 zero bytes; the payload size, big-endian uint32)
 * and the payload. Feed it chunks as they come; partial frames wait for the next chunk.
 */
export class StreamDemuxer {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly onFrame: (stream: 'stdout' | 'stderr', payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 8) {
      const size = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + size) return;
      const type = this.buf[0];
      const payload = this.buf.subarray(8, 8 + size);
      this.buf = this.buf.subarray(8 + size);
      this.onFrame(type === 2 ? 'stderr' : 'stdout', payload);
    }
  }

  /** Bytes of an unfinished frame. */
  get pending(): number {
    return this.buf.length;
  }
}

/** A log timestamp (RFC 3339 with up to 9 fractional digits, UTC) as nanoseconds since the epoch. */
export function logTimestampNs(ts: string): bigint | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(ts);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}Z`);
  if (Number.isNaN(ms)) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

interface InspectState {
  Status?: string;
  Running?: boolean;
  Pid?: number;
  ExitCode?: number;
  OOMKilled?: boolean;
  Error?: string;
}
interface Inspect {
  Id: string;
  Name?: string;
  State?: InspectState;
  Config?: { Labels?: Record<string, string> };
}

interface Tracked {
  containerId: string;
  sandboxDir: string;
  /** Resolves with the exit status once the container stopped and its logs were drained. */
  done: Promise<ExitStatus>;
  exit?: ExitStatus;
  logs?: Promise<void>;
  /** The timestamp (ns) of the last log line written to the sandbox files. */
  cursor?: bigint;
}

/** The ContainerInfo.docker fields read here (parameters are not in model/mesos.ts everywhere yet). */
type DockerInfo = NonNullable<ContainerInfo['docker']> & { parameters?: { key: string; value: string }[] };

export class DockerRuntime implements ContainerRuntime {
  readonly client: DockerClient;
  private readonly containers = new Map<string, Tracked>();
  private closed = false;

  constructor(private readonly options: DockerRuntimeOptions) {
    if (!isAbsolute(options.stateDir)) throw new Error(`stateDir must be absolute: ${options.stateDir}`);
    this.client = new DockerClient(options.socketPath);
  }

  static containerName(containerId: string): string {
    return `mesos-${containerId}`;
  }

  /** Resolves when the daemon answers; rejects with `no Docker daemon answered at <socket>: ...`. */
  async ping(): Promise<void> {
    try {
      await this.client.ping();
    } catch (e) {
      throw new Error(`no Docker daemon answered at ${this.options.socketPath}: ${(e as Error).message}`);
    }
  }

  async launch(spec: LaunchSpec): Promise<ContainerHandle> {
    if (this.closed) throw new Error('runtime is closed');
    if (!CONTAINER_ID.test(spec.containerId)) throw new Error(`invalid container id '${spec.containerId}'`);
    if (this.containers.has(spec.containerId)) throw new Error(`container ${spec.containerId} already exists`);
    if (!isAbsolute(spec.sandboxDir)) throw new Error(`sandbox must be absolute: ${spec.sandboxDir}`);
    const docker = spec.container?.docker as DockerInfo | undefined;
    if (!docker?.image) throw new Error('container.docker.image is required for a DOCKER container');
    await this.ping();
    await fs.mkdir(spec.sandboxDir, { recursive: true, mode: 0o755 });
    const uris = spec.command.uris ?? [];
    if (uris.length > 0) {
      if (!this.options.fetcher) throw new Error('this agent has no fetcher for command.uris');
      await this.options.fetcher.fetch(uris, spec.sandboxDir);
    }
    const body = this.createBody(spec, docker);
    await this.ensureImage(docker.image, docker.force_pull_image === true);
    const name = DockerRuntime.containerName(spec.containerId);
    await this.client.json('POST', `/containers/create?${new URLSearchParams({ name })}`, body).catch((e: Error) => {
      throw new Error(`docker could not create the container for image '${docker.image}': ${e.message}`);
    });
    await fs.mkdir(this.stateOf(spec.containerId), { recursive: true, mode: 0o700 });
    try {
      await this.client.json('POST', `/containers/${name}/start`);
    } catch (e) {
      await this.client.json('DELETE', `/containers/${name}?force=1&v=1`).catch(() => {});
      throw new Error(`docker could not start the container for image '${docker.image}': ${(e as Error).message}`);
    }
    const info = await this.client.json<Inspect>('GET', `/containers/${name}/json`);
    this.track(spec.containerId, spec.sandboxDir, undefined);
    return { containerId: spec.containerId, pid: info.State?.Pid ?? 0 };
  }

  /** The POST /containers/create body for a task, as Mesos' docker containerizer runs it. */
  createBody(spec: LaunchSpec, docker: DockerInfo): Record<string, unknown> {
    const cmd = spec.command;
    const config: Record<string, unknown> = { Image: docker.image, Tty: false, OpenStdin: false, AttachStdout: false, AttachStderr: false };
    if (cmd.shell !== false) {
      // As Mesos: the entrypoint becomes /bin/sh and the command its -c argument.
      if (cmd.value) {
        config.Entrypoint = ['/bin/sh', '-c'];
        config.Cmd = [cmd.value];
      }
    } else {
      // argv form: the image's entrypoint stays; value and arguments are its command.
      const argv = [...(cmd.value ? [cmd.value] : []), ...(cmd.arguments ?? [])];
      if (argv.length > 0) config.Cmd = argv;
    }
    const env: Record<string, string> = {
      ...spec.env,
      MESOS_SANDBOX: SANDBOX_IN_CONTAINER,
      MESOS_CONTAINER_NAME: DockerRuntime.containerName(spec.containerId),
    };
    const labels: Record<string, string> = { [LABEL_CONTAINER]: spec.containerId, [LABEL_SANDBOX]: spec.sandboxDir };
    if (spec.env.MESOS_TASK_ID) labels[LABEL_TASK] = spec.env.MESOS_TASK_ID;
    const volumes = resolveVolumes(spec.container?.volumes ?? [], {
      sandboxDir: spec.sandboxDir,
      sandboxInContainer: SANDBOX_IN_CONTAINER,
      allowedHostPaths: this.options.allowedHostPaths ?? [],
    });
    const binds = [`${spec.sandboxDir}:${SANDBOX_IN_CONTAINER}:rw`, ...volumes.map((v) => `${v.source}:${v.target}:${v.readOnly ? 'ro' : 'rw'}`)];
    const host: Record<string, unknown> = {
      Binds: binds,
      NetworkMode: networkMode(docker.network),
      Privileged: docker.privileged === true,
      PidsLimit: PIDS_LIMIT,
      LogConfig: { Type: 'json-file', Config: {} },
    };
    const cpus = spec.resources?.cpus;
    if (cpus !== undefined && cpus > 0) {
      host.CpuShares = Math.max(2, Math.round(cpus * 1024));
      host.CpuPeriod = 100_000;
      host.CpuQuota = Math.max(1_000, Math.round(cpus * 100_000));
    }
    const mem = spec.resources?.memMb;
    if (mem !== undefined && mem > 0) {
      host.Memory = Math.round(mem * 1024 * 1024);
      host.MemorySwap = host.Memory; // no swap on top, as the Mesos containerizer's cgroups
    }
    if (host.NetworkMode === 'bridge') {
      const exposed: Record<string, object> = {};
      const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
      for (const [i, p] of (docker.port_mappings ?? []).entries()) {
        const proto = (p.protocol ?? 'tcp').toLowerCase();
        if (!Number.isInteger(p.container_port) || !Number.isInteger(p.host_port) || (proto !== 'tcp' && proto !== 'udp'))
          throw new Error(`docker.port_mappings[${i}]: needs integer host_port and container_port and protocol tcp or udp`);
        const key = `${p.container_port}/${proto}`;
        exposed[key] = {};
        (bindings[key] ??= []).push({ HostIp: '', HostPort: String(p.host_port) });
      }
      config.ExposedPorts = exposed;
      host.PortBindings = bindings;
    } else if ((docker.port_mappings ?? []).length > 0) throw new Error(`docker.port_mappings need network BRIDGE (got ${docker.network ?? 'HOST'})`);
    if (spec.container?.hostname) config.Hostname = spec.container.hostname;
    config.WorkingDir = SANDBOX_IN_CONTAINER;
    applyParameters(docker.parameters ?? [], config, host, env, labels);
    config.Env = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    config.Labels = labels;
    config.HostConfig = host;
    return config;
  }

  private async ensureImage(image: string, forcePull: boolean): Promise<void> {
    if (!forcePull) {
      const present = await this.client.json('GET', `/images/${encodeURIComponent(image)}/json`).then(
        () => true,
        (e: Error) => {
          if (e instanceof DockerApiError && e.status === 404) return false;
          throw new Error(`docker cannot use image '${image}': ${e.message}`);
        },
      );
      if (present) return;
    }
    try {
      await this.client.pull(image);
    } catch (e) {
      throw new Error(`docker could not pull image '${image}': ${(e as Error).message}`);
    }
  }

  private stateOf(containerId: string): string {
    return join(this.options.stateDir, containerId);
  }

  /** Starts the wait and the log stream of a running container (launched, or found again). */
  private track(containerId: string, sandboxDir: string, resumeAfter: bigint | undefined): Tracked {
    const t: Tracked = { containerId, sandboxDir, done: Promise.resolve({}) };
    this.containers.set(containerId, t);
    t.logs = this.followLogs(t, resumeAfter).catch((e: Error) => {
      if (!this.closed) this.options.log?.('warn', `docker logs of ${containerId}: ${e.message}`);
    });
    t.done = this.waitExit(t);
    return t;
  }

  private async waitExit(t: Tracked): Promise<ExitStatus> {
    const name = DockerRuntime.containerName(t.containerId);
    for (;;) {
      try {
        await this.client.json<{ StatusCode?: number }>('POST', `/containers/${name}/wait?condition=not-running`);
        break;
      } catch (e) {
        if (this.closed) return new Promise<ExitStatus>(() => {});
        if (e instanceof DockerApiError && e.status === 404) return { message: `the docker container ${name} is gone` };
        // The daemon restarted or the connection broke: ask again shortly.
        this.options.log?.('warn', `waiting on ${name}: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    const exit = await this.exitOf(name);
    // The log stream ends when the container stops: let it finish so the files are complete.
    const ended = await Promise.race([t.logs?.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), LOG_DRAIN_MS).unref())]);
    // The followed stream can end before the daemon handed it the last lines (a CI run saw the
    // final stderr line missing at TASK_FINISHED): read once more, without following, what came
    // after the last line written (the cursor skips what the files already hold).
    if (ended) {
      const tail = this.followLogs(t, t.cursor, false).catch((e: Error) => this.options.log?.('warn', `docker logs of ${name}: ${e.message}`));
      await Promise.race([tail, new Promise((r) => setTimeout(r, LOG_DRAIN_MS).unref())]);
    }
    t.exit = exit;
    return exit;
  }

  private async exitOf(name: string): Promise<ExitStatus> {
    const info = await this.client.json<Inspect>('GET', `/containers/${name}/json`);
    const st = info.State ?? {};
    const code = st.ExitCode ?? 0;
    const exit: ExitStatus = { exitCode: code };
    if (code > 128 && code < 160) exit.signal = code - 128;
    if (st.OOMKilled) exit.oomKilled = true;
    if (st.Error) exit.message = `docker: ${st.Error}`;
    return exit;
  }

  /**
   * Streams the container's logs into the sandbox files. With timestamps: each frame is one log
   * line prefixed by its time, which is cut off and kept as the cursor (written to the state
   * dir), so a stream resumed after an agent restart skips what is already in the files.
   */
  private async followLogs(t: Tracked, resumeAfter: bigint | undefined, follow = true): Promise<void> {
    const name = DockerRuntime.containerName(t.containerId);
    const q = new URLSearchParams({ follow: follow ? '1' : '0', stdout: '1', stderr: '1', timestamps: '1' });
    if (resumeAfter !== undefined) q.set('since', (resumeAfter / 1_000_000_000n).toString());
    const res = await this.client.raw('GET', `/containers/${name}/logs?${q}`);
    if ((res.statusCode ?? 0) >= 300) throw new Error(daemonMessage((await readAll(res)).toString('utf8')));
    const out = await fs.open(join(t.sandboxDir, 'stdout'), 'a');
    const err = await fs.open(join(t.sandboxDir, 'stderr'), 'a');
    const cursorFile = join(this.stateOf(t.containerId), 'log_cursor');
    let cursor = resumeAfter;
    let writing = Promise.resolve();
    try {
      let batch: { stream: 'stdout' | 'stderr'; data: Buffer }[] = [];
      const demux = new StreamDemuxer((stream, payload) => {
        const sp = payload.indexOf(0x20);
        const ts = sp > 0 ? logTimestampNs(payload.subarray(0, sp).toString('latin1')) : undefined;
        if (ts !== undefined && cursor !== undefined && ts <= cursor) return;
        if (ts !== undefined) cursor = t.cursor = ts;
        batch.push({ stream, data: ts !== undefined ? payload.subarray(sp + 1) : payload });
      });
      for await (const chunk of res) {
        demux.push(chunk as Buffer);
        if (batch.length === 0) continue;
        const items = batch;
        batch = [];
        const at = cursor;
        writing = writing.then(async () => {
          for (const b of items) await (b.stream === 'stderr' ? err : out).write(b.data);
          if (at !== undefined) await fs.writeFile(cursorFile, `${at}\n`).catch(() => {});
        });
      }
      await writing;
    } finally {
      await out.close();
      await err.close();
    }
  }

  async wait(containerId: string): Promise<ExitStatus> {
    const t = this.containers.get(containerId);
    if (!t) throw new Error(`unknown container ${containerId}`);
    return t.done;
  }

  async kill(containerId: string, gracePeriodMs: number): Promise<void> {
    const t = this.containers.get(containerId);
    if (!t || t.exit) return;
    const name = DockerRuntime.containerName(containerId);
    const signal = async (sig: string) => {
      await this.client.json('POST', `/containers/${name}/kill?signal=${sig}`).catch((e: Error) => {
        // 409: not running any more; 404: gone. Both mean there is nothing left to signal.
        if (!(e instanceof DockerApiError && (e.status === 409 || e.status === 404))) throw e;
      });
    };
    if (gracePeriodMs > 0) {
      await signal('SIGTERM');
      const exited = await Promise.race([t.done.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), gracePeriodMs))]);
      if (exited) return;
    }
    await signal('SIGKILL');
  }

  async recover(checkpointed: readonly CheckpointedContainer[]): Promise<RecoveredContainer[]> {
    if (checkpointed.length === 0 && !this.options.orphansUnder) return [];
    let list: { Id: string; Names?: string[]; Labels?: Record<string, string>; State?: string }[];
    try {
      const filters = JSON.stringify({ label: [LABEL_CONTAINER] });
      list = await this.client.json('GET', `/containers/json?all=1&filters=${encodeURIComponent(filters)}`);
    } catch (e) {
      // No daemon here is normal for an agent without docker tasks: only worth a word when it had some.
      if (checkpointed.length > 0) this.options.log?.('warn', `docker: cannot list containers at ${this.options.socketPath}: ${(e as Error).message}`);
      return checkpointed.map((c) => ({ containerId: c.containerId, state: 'unknown' as const }));
    }
    const byId = new Map(list.map((c) => [c.Labels?.[LABEL_CONTAINER] ?? '', c] as const));
    const under = this.options.orphansUnder;
    if (under) {
      const wanted = new Set(checkpointed.map((c) => c.containerId));
      for (const c of list) {
        const id = c.Labels?.[LABEL_CONTAINER] ?? '';
        if (wanted.has(id) || !(c.Labels?.[LABEL_SANDBOX] ?? '').startsWith(`${under.replace(/\/$/, '')}/`)) continue;
        this.options.log?.('warn', `docker: removing orphan container ${c.Names?.[0] ?? c.Id} (${c.State ?? 'unknown state'}): this agent has no task for it`);
        await this.client
          .json('DELETE', `/containers/${c.Id}?force=1&v=1`)
          .catch((e: Error) => this.options.log?.('warn', `docker: removing ${c.Id}: ${e.message}`));
      }
    }
    const out: RecoveredContainer[] = [];
    for (const c of checkpointed) {
      const found = byId.get(c.containerId);
      if (!found || !CONTAINER_ID.test(c.containerId)) {
        out.push({ containerId: c.containerId, state: 'unknown' });
        continue;
      }
      const name = DockerRuntime.containerName(c.containerId);
      try {
        const info = await this.client.json<Inspect>('GET', `/containers/${name}/json`);
        if (info.State?.Status === 'created') {
          // The agent stopped between create and start: the task never ran.
          await this.client.json('DELETE', `/containers/${name}?force=1&v=1`).catch(() => {});
          out.push({ containerId: c.containerId, state: 'unknown' });
          continue;
        }
        const cursor = await fs.readFile(join(this.stateOf(c.containerId), 'log_cursor'), 'utf8').catch(() => '');
        const after = /^\d+$/.test(cursor.trim()) ? BigInt(cursor.trim()) : undefined;
        await fs.mkdir(this.stateOf(c.containerId), { recursive: true, mode: 0o700 });
        // Without a cursor nothing was written yet, or its last write was lost: the stream starts over.
        if (after === undefined) await truncateLogs(c.sandboxDir);
        if (info.State?.Running) {
          this.track(c.containerId, c.sandboxDir, after);
          out.push({ containerId: c.containerId, state: 'running', pid: info.State.Pid ?? 0 });
        } else {
          // What it printed after the last line written before the agent stopped, then its exit.
          const t: Tracked = { containerId: c.containerId, sandboxDir: c.sandboxDir, done: Promise.resolve({}) };
          const drained = this.followLogs(t, after).catch((e: Error) => this.options.log?.('warn', `docker logs of ${name}: ${e.message}`));
          await Promise.race([drained, new Promise((r) => setTimeout(r, LOG_DRAIN_MS).unref())]);
          const exit = await this.exitOf(name);
          this.containers.set(c.containerId, { ...t, done: Promise.resolve(exit), exit });
          out.push({ containerId: c.containerId, state: 'exited', exit });
        }
      } catch (e) {
        this.options.log?.('warn', `docker: recovering ${name}: ${(e as Error).message}`);
        out.push({ containerId: c.containerId, state: 'unknown' });
      }
    }
    return out;
  }

  async cleanup(containerId: string): Promise<void> {
    this.containers.delete(containerId);
    const name = DockerRuntime.containerName(containerId);
    await this.client.json('DELETE', `/containers/${name}?force=1&v=1`).catch((e: Error) => {
      if (!(e instanceof DockerApiError && e.status === 404)) throw e;
    });
    await fs.rm(this.stateOf(containerId), { recursive: true, force: true });
  }

  async stats(containerId: string): Promise<ContainerStats | undefined> {
    const s = await this.statistics(containerId);
    if (!s) return undefined;
    return {
      timestampMs: Math.round(s.timestamp * 1000),
      ...(s.cpus_user_time_secs !== undefined ? { cpuUserSeconds: s.cpus_user_time_secs } : {}),
      ...(s.cpus_system_time_secs !== undefined ? { cpuSystemSeconds: s.cpus_system_time_secs } : {}),
      ...(s.mem_rss_bytes !== undefined ? { memRssBytes: s.mem_rss_bytes } : {}),
    };
  }

  /** GET /containers/{id}/stats?stream=false → the agent's ResourceStatistics fields. */
  async statistics(containerId: string): Promise<(Partial<ResourceStatistics> & { timestamp: number }) | undefined> {
    if (!this.containers.has(containerId)) return undefined;
    const name = DockerRuntime.containerName(containerId);
    const s = await this.client.json<DockerStats>('GET', `/containers/${name}/stats?stream=false`).catch(() => undefined);
    return s ? statisticsOf(s) : undefined;
  }

  /**
   * A command inside the running container (COMMAND health checks and checks): an Engine API exec
   * in the sandbox with the task's environment plus `env`; its output is read and dropped, the
   * exit code comes from the exec's inspect. A timeout kills nothing the daemon would not: the
   * exec's processes die with the container at the latest (Docker has no exec kill).
   */
  async exec(containerId: string, command: CommandInfo, env: Record<string, string>, timeoutMs: number): Promise<number> {
    const t = this.containers.get(containerId);
    if (!t || t.exit) throw new Error(`no running container ${containerId}`);
    const argv = command.shell === false ? [...(command.value ? [command.value] : []), ...(command.arguments ?? [])] : ['/bin/sh', '-c', command.value ?? ''];
    if (argv.length === 0 || (command.shell !== false && !command.value)) throw new Error('the command is empty');
    const name = DockerRuntime.containerName(containerId);
    const created = await this.client.json<{ Id: string }>('POST', `/containers/${name}/exec`, {
      Cmd: argv,
      Env: Object.entries({ ...env, MESOS_SANDBOX: SANDBOX_IN_CONTAINER }).map(([k, v]) => `${k}=${v}`),
      WorkingDir: SANDBOX_IN_CONTAINER,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
    });
    const run = (async () => {
      const res = await this.client.raw('POST', `/exec/${created.Id}/start`, { Detach: false, Tty: false });
      await readAll(res);
      const info = await this.client.json<{ ExitCode?: number | null; Running?: boolean }>('GET', `/exec/${created.Id}/json`);
      if (info.ExitCode === null || info.ExitCode === undefined) throw new Error('the exec ended without an exit code');
      return info.ExitCode;
    })();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([run, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * An interactive command in the running container (`dcos task exec`, the agent's
   * LAUNCH_NESTED_CONTAINER_SESSION): an Engine API exec with stdin, stdout and stderr attached,
   * started over an upgraded connection. It runs with the container's own environment, user and
   * working directory, as `docker exec` does. The caller writes stdin to the socket (a half-close
   * is EOF for the command), reads stdout and stderr multiplexed from it (StreamDemuxer), and
   * after the stream ends asks inspect() for the exit code; inspect() also gives the command's
   * host pid, which is how it is signalled (the Engine API has no exec kill).
   */
  async execSession(
    containerId: string,
    argv: string[],
  ): Promise<{ socket: Socket; head: Buffer; inspect: () => Promise<{ ExitCode?: number | null; Running?: boolean; Pid?: number }> }> {
    const t = this.containers.get(containerId);
    if (!t || t.exit) throw new Error(`no running container ${containerId}`);
    if (argv.length === 0 || argv[0] === '') throw new Error('the command is empty');
    const name = DockerRuntime.containerName(containerId);
    const created = await this.client.json<{ Id: string }>('POST', `/containers/${name}/exec`, {
      Cmd: argv,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
    });
    const { socket, head } = await this.client.upgrade(`/exec/${created.Id}/start`, { Detach: false, Tty: false });
    return { socket, head, inspect: () => this.client.json('GET', `/exec/${created.Id}/json`) };
  }

  /** Bytes on disk: the sandbox's allocated blocks plus the container's writable layer (SizeRw). */
  async diskUsage(containerId: string): Promise<number | undefined> {
    const t = this.containers.get(containerId);
    if (!t || t.exit) return undefined;
    const name = DockerRuntime.containerName(containerId);
    const info = await this.client.json<{ SizeRw?: number }>('GET', `/containers/${name}/json?size=1`).catch(() => undefined);
    const sandbox = await sandboxBytes(t.sandboxDir);
    if (sandbox === undefined && info?.SizeRw === undefined) return undefined;
    return (sandbox ?? 0) + (info?.SizeRw ?? 0);
  }

  /** Whether this runtime runs the container (launched or recovered here). */
  owns(containerId: string): boolean {
    return this.containers.has(containerId);
  }

  close(): void {
    this.closed = true;
    this.client.close();
  }
}

async function truncateLogs(sandboxDir: string): Promise<void> {
  for (const f of ['stdout', 'stderr']) if (existsSync(join(sandboxDir, f))) await fs.truncate(join(sandboxDir, f), 0);
}

function networkMode(network: string | undefined): string {
  switch (network ?? 'HOST') {
    case 'HOST':
      return 'host';
    case 'BRIDGE':
      return 'bridge';
    case 'NONE':
      return 'none';
    default:
      throw new Error(`docker.network '${network}' is not supported (HOST, BRIDGE or NONE)`);
  }
}

/**
 * docker.parameters: `docker run` options as Mesos passes them (`--key=value`). The ones with an
 * Engine API field are mapped; any other fails the launch with the list, instead of being dropped.
 */
const PARAMETERS = [
  'env',
  'label',
  'user',
  'workdir',
  'hostname',
  'cap-add',
  'cap-drop',
  'add-host',
  'dns',
  'memory-swap',
  'shm-size',
  'ulimit',
  'init',
  'read-only',
];
function applyParameters(
  params: readonly { key: string; value: string }[],
  config: Record<string, unknown>,
  host: Record<string, unknown>,
  env: Record<string, string>,
  labels: Record<string, string>,
): void {
  const push = (key: string, v: unknown) => ((host[key] as unknown[] | undefined) ?? (host[key] = [])) && (host[key] as unknown[]).push(v);
  for (const [i, p] of params.entries()) {
    const key = String(p?.key ?? '').replace(/^--?/, '');
    const value = String(p?.value ?? '');
    const kv = (): [string, string] => {
      const j = value.indexOf('=');
      return j < 0 ? [value, ''] : [value.slice(0, j), value.slice(j + 1)];
    };
    switch (key) {
      case 'env': {
        const [k, v] = kv();
        env[k] = v;
        break;
      }
      case 'label': {
        const [k, v] = kv();
        if (k.startsWith('dcos-ts.')) throw new Error(`docker.parameters[${i}]: labels under dcos-ts. are the agent's own`);
        labels[k] = v;
        break;
      }
      case 'user':
        config.User = value;
        break;
      case 'workdir':
        config.WorkingDir = value;
        break;
      case 'hostname':
        config.Hostname = value;
        break;
      case 'cap-add':
        push('CapAdd', value);
        break;
      case 'cap-drop':
        push('CapDrop', value);
        break;
      case 'add-host':
        push('ExtraHosts', value);
        break;
      case 'dns':
        push('Dns', value);
        break;
      case 'memory-swap':
      case 'shm-size': {
        const n = parseSize(value);
        if (n === undefined) throw new Error(`docker.parameters[${i}]: ${key} needs a size such as 64m, got '${value}'`);
        host[key === 'shm-size' ? 'ShmSize' : 'MemorySwap'] = n;
        break;
      }
      case 'ulimit': {
        const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(value);
        if (!m) throw new Error(`docker.parameters[${i}]: ulimit needs name=soft[:hard], got '${value}'`);
        push('Ulimits', { Name: m[1], Soft: Number(m[2]), Hard: Number(m[3] ?? m[2]) });
        break;
      }
      case 'init':
        host.Init = value !== 'false';
        break;
      case 'read-only':
        host.ReadonlyRootfs = value !== 'false';
        break;
      default:
        throw new Error(`docker.parameters[${i}]: '${key}' is not supported (supported: ${PARAMETERS.join(', ')})`);
    }
  }
}

function parseSize(v: string): number | undefined {
  const m = /^(\d+)([bkmg]?)$/i.exec(v.trim());
  if (!m) return v.trim() === '-1' ? -1 : undefined;
  const mult = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] ?? '').toLowerCase()] ?? 1;
  return Number(m[1]) * mult;
}

interface DockerStats {
  read?: string;
  pids_stats?: { current?: number };
  cpu_stats?: { cpu_usage?: { usage_in_usermode?: number; usage_in_kernelmode?: number } };
  memory_stats?: { usage?: number; limit?: number; stats?: Record<string, number> };
}

/** Docker's stats object → Mesos' ResourceStatistics fields. */
export function statisticsOf(s: DockerStats): Partial<ResourceStatistics> & { timestamp: number } {
  const ms = s.read ? Date.parse(s.read) : Number.NaN;
  const out: Partial<ResourceStatistics> & { timestamp: number } = { timestamp: (Number.isNaN(ms) ? Date.now() : ms) / 1000 };
  const cpu = s.cpu_stats?.cpu_usage;
  if (cpu?.usage_in_usermode !== undefined) out.cpus_user_time_secs = cpu.usage_in_usermode / 1e9;
  if (cpu?.usage_in_kernelmode !== undefined) out.cpus_system_time_secs = cpu.usage_in_kernelmode / 1e9;
  const m = s.memory_stats;
  const st = m?.stats ?? {};
  const rss = st.total_rss ?? st.rss ?? st.anon;
  if (rss !== undefined) out.mem_rss_bytes = rss;
  if (m?.usage !== undefined) out.mem_total_bytes = m.usage - (st.total_inactive_file ?? st.inactive_file ?? 0);
  if (m?.limit !== undefined && m.limit > 0 && m.limit < 2 ** 62) out.mem_limit_bytes = m.limit;
  if (s.pids_stats?.current !== undefined) out.processes = s.pids_stats.current;
  return out;
}

/**
 * The agent's runtime when both containerizers are on (`--containerizers=mesos,docker`): tasks
 * with `container.type: DOCKER` go to the Docker runtime, everything else to the Mesos
 * containerizer. Calls for a container go to the runtime that launched (or recovered) it.
 */
export class ContainerizerRouter implements ContainerRuntime {
  private readonly dockerIds = new Set<string>();

  constructor(
    private readonly mesos: ContainerRuntime | undefined,
    private readonly docker: DockerRuntime | undefined,
    private readonly socketPath: string,
  ) {}

  private of(containerId: string): ContainerRuntime {
    if (this.dockerIds.has(containerId) && this.docker) return this.docker;
    if (this.mesos) return this.mesos;
    return this.docker as ContainerRuntime;
  }

  async launch(spec: LaunchSpec): Promise<ContainerHandle> {
    if (spec.container?.type === 'DOCKER') {
      if (!this.docker)
        throw new Error(
          `container type DOCKER needs the docker containerizer: start the agent with --containerizers=mesos,docker (daemon at ${this.socketPath})`,
        );
      this.dockerIds.add(spec.containerId);
      try {
        return await this.docker.launch(spec);
      } catch (e) {
        this.dockerIds.delete(spec.containerId);
        throw e;
      }
    }
    if (!this.mesos) throw new Error('this agent runs only the docker containerizer: the task needs container.type DOCKER');
    return this.mesos.launch(spec);
  }

  wait(containerId: string): Promise<ExitStatus> {
    return this.of(containerId).wait(containerId);
  }

  kill(containerId: string, gracePeriodMs: number): Promise<void> {
    return this.of(containerId).kill(containerId, gracePeriodMs);
  }

  async recover(checkpointed: readonly CheckpointedContainer[]): Promise<RecoveredContainer[]> {
    // Docker first: what the daemon knows by label is docker's; the rest is the Mesos containerizer's.
    const fromDocker = this.docker ? await this.docker.recover(checkpointed) : [];
    const known = new Map(fromDocker.filter((r) => r.state !== 'unknown').map((r) => [r.containerId, r] as const));
    for (const id of known.keys()) this.dockerIds.add(id);
    const rest = checkpointed.filter((c) => !known.has(c.containerId));
    const fromMesos = this.mesos ? await this.mesos.recover(rest) : rest.map((c) => ({ containerId: c.containerId, state: 'unknown' as const }));
    return [...known.values(), ...fromMesos];
  }

  async cleanup(containerId: string): Promise<void> {
    const r = this.of(containerId);
    this.dockerIds.delete(containerId);
    await r.cleanup?.(containerId);
  }

  async stats(containerId: string): Promise<ContainerStats | undefined> {
    return this.of(containerId).stats?.(containerId);
  }

  exec(containerId: string, command: LaunchSpec['command'], env: Record<string, string>, timeoutMs: number): Promise<number> {
    const r = this.of(containerId);
    if (!r.exec) return Promise.reject(new Error(`this runtime cannot run commands in container ${containerId}`));
    return r.exec(containerId, command, env, timeoutMs);
  }

  async diskUsage(containerId: string): Promise<number | undefined> {
    return this.of(containerId).diskUsage?.(containerId);
  }

  /** Statistics for the agent's API: docker containers from the daemon, the rest from `fallback`. */
  statsSource(fallback: ContainerStatsSource): ContainerStatsSource {
    return {
      stats: async (target: StatsTarget) => {
        if (this.docker && this.dockerIds.has(target.containerId)) {
          const base = await fallback.stats({ ...target, pid: undefined }).catch(() => ({}));
          const s = await this.docker.statistics(target.containerId);
          return { ...base, ...(s ?? {}) };
        }
        return fallback.stats(target);
      },
    };
  }

  close(): void {
    this.mesos?.close?.();
    this.docker?.close();
  }
}
