import { promises as fs } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { toBase64 } from '../base/bytes.js';
import { encodeRecord, RecordIODecoder } from '../base/recordio.js';
import * as R from '../core/resources/index.js';
import type { ContainerExec, ContainerStatsSource, ExecSession, ResourceStatistics } from '../ports/exec.js';
import type { ImageAdmin, ImageGcPolicy } from '../ports/image-admin.js';
import type { Agent, TaskView } from '../services/agent/agent.js';
import { type Router, readBody, sendJson, sendText } from './http.js';

/**
 * The agent's v1 operator API (`POST /api/v1`, JSON) for containers, and the image endpoints:
 *
 *   GET_HEALTH, GET_CONTAINERS            containers with real resource statistics
 *   LAUNCH_NESTED_CONTAINER_SESSION       exec: RecordIO ProcessIO output for as long as it runs
 *   ATTACH_CONTAINER_INPUT                a streaming request: stdin of a session
 *   ATTACH_CONTAINER_OUTPUT               output of a running session
 *   WAIT_NESTED_CONTAINER, WAIT_CONTAINER the session's wait status
 *   KILL_NESTED_CONTAINER, KILL_CONTAINER a signal to a session or to a task's container
 *   PRUNE_IMAGES                          image garbage collection with the agent's policy
 *
 *   GET  /images                          the image cache (ours: Mesos has no such call)
 *   POST /images/load                     the body is a `docker save` or OCI-layout archive
 *
 * Errors are text/plain with Mesos' status codes (400 bad call, 404 unknown container).
 */

const IMAGE_ARCHIVE_MAX_BYTES = 8 * 1024 * 1024 * 1024;

export interface AgentOperatorOptions {
  exec?: ContainerExec & { sessions(): ExecSession[] };
  stats?: ContainerStatsSource;
  images?: ImageAdmin;
  imageGcPolicy?: ImageGcPolicy;
  /** Epoch ms (the composition root passes its clock). */
  nowMs: () => number;
}

type Call = { type?: string } & Record<string, any>;

const LIVE = new Set(['TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING']);

export function agentOperatorRoutes(router: Router, agent: Agent, opts: AgentOperatorOptions): void {
  router.on('POST', '/api/v1', async (req, res) => {
    const ctype = String(req.headers['content-type'] ?? 'application/json')
      .split(';')[0]
      ?.trim();
    if (ctype === 'application/recordio') return attachInput(req, res, opts);
    if (ctype !== 'application/json') return sendText(res, 415, `Expecting 'Content-Type' of application/json or application/recordio`);
    let call: Call;
    try {
      call = JSON.parse(await readBody(req)) as Call;
    } catch (e) {
      return sendText(res, 400, `Failed to parse body into JSON: ${(e as Error).message}`);
    }
    if (typeof call !== 'object' || call === null || typeof call.type !== 'string')
      return sendText(res, 400, "Failed to validate agent::Call: Expecting 'type' to be present");
    const ok = (payload: object) => sendJson(res, 200, { type: call.type, [(call.type as string).toLowerCase()]: payload });
    switch (call.type) {
      case 'GET_HEALTH':
        return ok({ healthy: true });
      case 'GET_CONTAINERS':
        return ok({ containers: await containers(agent, opts, call.get_containers?.show_nested === true) });
      case 'LAUNCH_NESTED_CONTAINER_SESSION':
        return launchSession(res, agent, opts, call.launch_nested_container_session);
      case 'ATTACH_CONTAINER_OUTPUT':
        return attachOutput(res, opts, call.attach_container_output);
      case 'WAIT_NESTED_CONTAINER':
      case 'WAIT_CONTAINER': {
        const body = call.type === 'WAIT_CONTAINER' ? call.wait_container : call.wait_nested_container;
        const id = body?.container_id?.value;
        if (typeof id !== 'string') return sendText(res, 400, "Failed to validate agent::Call: Expecting 'container_id' to be present");
        const status = opts.exec?.waitStatus(id);
        if (!status) return sendText(res, 404, `Container ${id} cannot be found`);
        return ok({ exit_status: await status });
      }
      case 'KILL_NESTED_CONTAINER':
      case 'KILL_CONTAINER': {
        const body = call.type === 'KILL_CONTAINER' ? call.kill_container : call.kill_nested_container;
        const id = body?.container_id?.value;
        if (typeof id !== 'string') return sendText(res, 400, "Failed to validate agent::Call: Expecting 'container_id' to be present");
        const signal = signalName(body?.signal);
        if (!signal) return sendText(res, 400, `Unknown signal ${body?.signal}`);
        const s = opts.exec?.session(id);
        if (s) {
          s.kill(signal);
          return sendText(res, 200, '');
        }
        const task = findTask(agent, id);
        if (!task || !LIVE.has(task.task.state) || task.pid === undefined) return sendText(res, 404, `Container ${id} cannot be found`);
        try {
          process.kill(-task.pid, signal as NodeJS.Signals);
        } catch {
          return sendText(res, 404, `Container ${id} cannot be found`);
        }
        return sendText(res, 200, '');
      }
      case 'PRUNE_IMAGES': {
        if (!opts.images) return sendText(res, 501, 'No image store on this agent');
        const excluded = (call.prune_images?.excluded_images ?? []) as { docker?: { name?: string } }[];
        const exclude = [...(opts.imageGcPolicy?.exclude ?? []), ...excluded.map((i) => i.docker?.name).filter((n): n is string => typeof n === 'string')];
        // Mesos prunes every image no container uses; the agent's size and age bounds do not apply.
        await opts.images.gc({ maxBytes: 0, exclude }, opts.nowMs());
        return sendText(res, 200, '');
      }
      default:
        return sendText(res, 501, `Call ${call.type} is not implemented by this agent`);
    }
  });

  router.on('GET', '/images', async (_req, res) => {
    if (!opts.images) return sendJson(res, 200, []);
    sendJson(res, 200, await opts.images.list());
  });
  router.on('POST', '/images/load', async (req, res) => {
    if (!opts.images) return sendText(res, 501, 'No image store on this agent');
    const dir = join(agent.config.workDir, 'images', 'incoming');
    await fs.mkdir(dir, { recursive: true });
    const path = join(dir, `upload-${process.pid}-${Date.now()}-${Math.floor(Math.random() * 1e9)}.tar`);
    try {
      await receiveFile(req, path, IMAGE_ARCHIVE_MAX_BYTES);
      sendJson(res, 200, await opts.images.load(path, opts.nowMs()));
    } catch (e) {
      sendText(res, 400, `${(e as Error).message}`);
    } finally {
      await fs.rm(path, { force: true });
    }
  });
  router.on('POST', '/images/gc', async (_req, res) => {
    if (!opts.images) return sendText(res, 501, 'No image store on this agent');
    sendJson(res, 200, await opts.images.gc(opts.imageGcPolicy ?? {}, opts.nowMs()));
  });
}

function findTask(agent: Agent, containerId: string): TaskView | undefined {
  for (const f of agent.view().frameworks) for (const t of f.tasks) if (t.containerId === containerId) return t;
  return undefined;
}

async function launchSession(res: ServerResponse, agent: Agent, opts: AgentOperatorOptions, body: any): Promise<void> {
  const exec = opts.exec;
  if (!exec) return sendText(res, 501, 'This agent cannot exec into containers');
  const id = body?.container_id?.value;
  const parent = body?.container_id?.parent?.value;
  if (typeof id !== 'string' || typeof parent !== 'string')
    return sendText(res, 400, "Failed to validate agent::Call: Expecting 'launch_nested_container_session.container_id' with a parent");
  const argv = commandArgv(body?.command);
  if (typeof argv === 'string') return sendText(res, 400, argv);
  const task = findTask(agent, parent);
  if (!task) return sendText(res, 400, `Unknown parent container ${parent}`);
  if (task.task.state !== 'TASK_RUNNING' || task.pid === undefined) return sendText(res, 400, `Parent container ${parent} is not running (${task.task.state})`);
  const oci = Boolean(task.info.container?.mesos?.image || task.info.container?.docker?.image);
  let session: ExecSession;
  try {
    const docker = task.info.container?.type === 'DOCKER';
    session = await exec.launch({ containerId: parent, pid: task.pid, sandboxDir: task.sandboxDir, oci, ...(docker ? { docker } : {}) }, id, argv);
  } catch (e) {
    return sendText(res, (e as { status?: number }).status ?? 500, (e as Error).message);
  }
  // The session lives only as long as this connection (as in Mesos).
  res.on('close', () => {
    if (!res.writableFinished) session.kill('SIGKILL');
  });
  streamOutput(res, session);
}

function streamOutput(res: ServerResponse, session: ExecSession): void {
  res.writeHead(200, { 'Content-Type': 'application/recordio', 'Message-Content-Type': 'application/json', 'Cache-Control': 'no-cache' });
  res.flushHeaders();
  session.onOutput((stream, data) => {
    res.write(encodeRecord(JSON.stringify({ type: 'DATA', data: { type: stream, data: toBase64(data) } })));
  });
  void session.done.then(() => res.end());
}

function attachOutput(res: ServerResponse, opts: AgentOperatorOptions, body: any): unknown {
  const id = body?.container_id?.value;
  if (typeof id !== 'string') return sendText(res, 400, "Failed to validate agent::Call: Expecting 'container_id' to be present");
  const s = opts.exec?.session(id);
  if (!s) return sendText(res, 404, `Container ${id} cannot be found`);
  streamOutput(res, s);
}

/** ATTACH_CONTAINER_INPUT: RecordIO records, the first naming the container, then ProcessIO. */
async function attachInput(req: IncomingMessage, res: ServerResponse, opts: AgentOperatorOptions): Promise<void> {
  const decoder = new RecordIODecoder(16 * 1024 * 1024);
  let session: ExecSession | undefined;
  let failed = false;
  const fail = (status: number, msg: string) => {
    if (failed) return;
    failed = true;
    sendText(res, status, msg);
    req.destroy();
  };
  try {
    for await (const chunk of req) {
      for (const rec of decoder.push(chunk as Uint8Array)) {
        let call: Call;
        try {
          call = JSON.parse(rec) as Call;
        } catch {
          return fail(400, 'Failed to parse a record of the input stream as JSON');
        }
        const a = call.attach_container_input;
        if (call.type !== 'ATTACH_CONTAINER_INPUT' || !a) return fail(400, "Expecting 'type' to be ATTACH_CONTAINER_INPUT");
        if (!session) {
          const id = a.container_id?.value;
          if (a.type !== 'CONTAINER_ID' || typeof id !== 'string') return fail(400, 'The first message must be of type CONTAINER_ID');
          session = opts.exec?.session(id);
          if (!session) return fail(404, `Container ${id} cannot be found`);
          if (!session.claimStdin()) return fail(409, `Container ${id} already has an input attached`);
          continue;
        }
        const io = a.process_io;
        if (a.type !== 'PROCESS_IO' || !io) return fail(400, 'Expecting messages of type PROCESS_IO');
        if (io.type === 'CONTROL') continue; // heartbeats
        if (io.type !== 'DATA' || io.data?.type !== 'STDIN') return fail(400, 'Expecting DATA of type STDIN');
        const bytes = Buffer.from(String(io.data.data ?? ''), 'base64');
        if (bytes.length === 0) session.endStdin();
        else session.writeStdin(bytes);
      }
    }
  } catch (e) {
    return fail(400, (e as Error).message);
  }
  session?.endStdin();
  if (!failed) sendText(res, 200, '');
}

function commandArgv(command: any): string[] | string {
  if (!command || typeof command !== 'object') return "Failed to validate agent::Call: Expecting 'command' to be present";
  const args = Array.isArray(command.arguments) ? command.arguments.map(String) : [];
  if (command.shell !== false) {
    if (typeof command.value !== 'string' || command.value === '') return 'The shell command is empty';
    return ['/bin/sh', '-c', command.value];
  }
  const exe = typeof command.value === 'string' && command.value !== '' ? command.value : args[0];
  if (!exe) return 'The command has neither a value nor arguments';
  // As in Mesos: arguments[0] is argv[0]; the value names the program.
  return [exe, ...args.slice(1)];
}

const SIGNALS: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 3: 'SIGQUIT', 9: 'SIGKILL', 10: 'SIGUSR1', 12: 'SIGUSR2', 15: 'SIGTERM' };

function signalName(sig: unknown): string | undefined {
  if (sig === undefined) return 'SIGKILL';
  if (typeof sig === 'number') return SIGNALS[sig];
  if (typeof sig === 'string') {
    const s = sig.toUpperCase().startsWith('SIG') ? sig.toUpperCase() : `SIG${sig.toUpperCase()}`;
    return Object.values(SIGNALS).includes(s) ? s : undefined;
  }
  return undefined;
}

async function receiveFile(req: IncomingMessage, path: string, maxBytes: number): Promise<void> {
  const fh = await fs.open(path, 'w', 0o600);
  let n = 0;
  try {
    for await (const chunk of req) {
      n += (chunk as Buffer).length;
      if (n > maxBytes) throw new Error(`the archive is larger than ${maxBytes} bytes`);
      await fh.write(chunk as Buffer);
    }
  } finally {
    await fh.close();
  }
  if (n === 0) throw new Error('the request body is empty: send the archive');
}

/** Each running task container (and, on request, each exec session) as GET_CONTAINERS shows it. */
async function containers(agent: Agent, opts: AgentOperatorOptions, showNested: boolean): Promise<unknown[]> {
  const v = agent.view();
  const out: unknown[] = [];
  for (const f of v.frameworks) {
    for (const t of f.tasks) {
      if (!LIVE.has(t.task.state)) continue;
      out.push({
        framework_id: { value: f.id },
        executor_id: { value: t.executorId },
        executor_name: `Command Executor (Task: ${t.info.task_id.value})`,
        container_id: { value: t.containerId },
        container_status: {
          container_id: { value: t.containerId },
          ...(t.pid !== undefined ? { executor_pid: t.pid } : {}),
          // A task on container networks (CNI) has its own addresses; the rest share the agent's.
          network_infos: t.task.statuses.at(-1)?.container_status?.network_infos ?? [{ ip_addresses: [{ protocol: 'IPv4', ip_address: v.ip }] }],
        },
        resource_statistics: await statistics(t, opts),
      });
    }
  }
  if (showNested && opts.exec) {
    for (const s of opts.exec.sessions()) out.push({ container_id: { value: s.id, parent: { value: s.parentId } } });
  }
  return out;
}

/** ResourceStatistics of a task: its limits from the task's resources, usage from the stats source. */
export async function statistics(t: TaskView, opts: { stats?: ContainerStatsSource; nowMs: () => number }): Promise<ResourceStatistics> {
  const cpus = R.scalarOf(t.task.resources, 'cpus');
  const memMb = R.scalarOf(t.task.resources, 'mem');
  const diskMb = R.scalarOf(t.task.resources, 'disk');
  const base: ResourceStatistics = { timestamp: opts.nowMs() / 1000, cpus_limit: cpus, mem_limit_bytes: Math.round(memMb * 1024 * 1024) };
  if (diskMb > 0) base.disk_limit_bytes = Math.round(diskMb * 1024 * 1024);
  if (!opts.stats) return base;
  const measured = await opts.stats.stats({ containerId: t.containerId, pid: t.pid, sandboxDir: t.sandboxDir }).catch(() => ({}));
  return { ...base, ...measured };
}
