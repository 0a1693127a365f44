import { constants as FS, promises as fs, readFileSync, type Stats } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { basename, posix, resolve as resolvePath, sep } from 'node:path';
import { flatAttributes, legacyTask, taskRole } from '../core/legacy.js';
import * as R from '../core/resources/index.js';
import type { FrameworkInfo, Resource } from '../model/mesos.js';
import type { ContainerStatsSource } from '../ports/exec.js';
import type { Agent, AgentView, TaskView } from '../services/agent/agent.js';
import { statistics as taskStatistics } from './agent-operator.js';
import { type RouteContext, type Router, sendLegacyJson, sendText } from './http.js';
import { systemMetrics } from './system-metrics.js';

/**
 * The legacy agent HTTP endpoints (api-contracts.md §3.1) in their hand-written JSON shapes:
 * /state, /flags, /health, /metrics/snapshot, /containers, /monitor/statistics and the files API.
 * The files API only ever reads inside task sandboxes under the agent's work dir.
 */

/** Mesos caps every /files/read at 16 pages. */
export const FILES_READ_MAX_BYTES = 16 * 4096;
const BROWSE_MAX_ENTRIES = 10_000;
const BUILD_DATE = '2026-11-25 00:00:00';
const BUILD_TIME_SECS = 1_795_564_800;

export interface AgentRoutesOptions {
  /** Extra `system/*` metrics from the host (default: read from node:os). */
  systemMetrics?: () => Record<string, number>;
  /** Measured usage per container (cgroups, sandbox size) for /containers and /monitor/statistics. */
  stats?: ContainerStatsSource;
}

export function agentRoutes(router: Router, agent: Agent, options: AgentRoutesOptions = {}): void {
  const files = new SandboxFiles(agent);

  const state = (_req: unknown, res: ServerResponse, ctx: RouteContext) => sendLegacyJson(res, ctx.query, legacyAgentState(agent.view()));
  for (const p of ['/state', '/state.json', '/slave(1)/state', '/slave(1)/state.json']) router.on('GET', p, state);

  const health = (_req: unknown, res: ServerResponse) => {
    res.writeHead(200, { 'Content-Length': 0 });
    res.end();
  };
  for (const p of ['/health', '/slave(1)/health']) router.on('GET', p, health);

  const flags = (_req: unknown, res: ServerResponse, ctx: RouteContext) => sendLegacyJson(res, ctx.query, { flags: agent.view().flags });
  for (const p of ['/flags', '/slave(1)/flags']) router.on('GET', p, flags);

  router.on('GET', '/version', (_req, res, ctx) =>
    sendLegacyJson(res, ctx.query, { version: agent.config.version, build_date: BUILD_DATE, build_time: BUILD_TIME_SECS, build_user: '' }),
  );

  const metrics = (_req: unknown, res: ServerResponse, ctx: RouteContext) =>
    sendLegacyJson(res, ctx.query, { ...agent.metrics(), ...(options.systemMetrics ?? systemMetrics)() });
  for (const p of ['/metrics/snapshot', '/metrics/snapshot.json']) router.on('GET', p, metrics);

  const containers = async (_req: unknown, res: ServerResponse, ctx: RouteContext) =>
    sendLegacyJson(res, ctx.query, await containerList(agent.view(), ctx.query, options.stats));
  for (const p of ['/containers', '/slave(1)/containers']) router.on('GET', p, containers);
  const statistics = async (_req: unknown, res: ServerResponse, ctx: RouteContext) =>
    sendLegacyJson(
      res,
      ctx.query,
      (await containerList(agent.view(), ctx.query, options.stats)).map(({ framework_id, executor_id, executor_name, source, statistics: s }) => ({
        framework_id,
        executor_id,
        executor_name,
        source,
        statistics: s,
      })),
    );
  for (const p of ['/monitor/statistics', '/monitor/statistics.json', '/slave(1)/monitor/statistics']) router.on('GET', p, statistics);

  for (const suffix of ['', '.json']) {
    router.on('GET', `/files/browse${suffix}`, (_req, res, ctx) => files.browse(res, ctx.query));
    router.on('GET', `/files/read${suffix}`, (_req, res, ctx) => files.read(res, ctx.query));
    router.on('GET', `/files/download${suffix}`, (_req, res, ctx) => files.download(res, ctx.query));
    router.on('GET', `/files/debug${suffix}`, (_req, res, ctx) => sendLegacyJson(res, ctx.query, files.debug()));
  }
}

// --- /state ----------------------------------------------------------------------------------------

export function legacyAgentState(v: AgentView): Record<string, unknown> {
  const resources = v.info.resources;
  const reservedFull: Record<string, Resource[]> = {};
  const unreservedFull: Resource[] = [];
  for (const r of resources) {
    const role = R.reservationRole(r);
    if (role === '*') unreservedFull.push(r);
    else (reservedFull[role] ??= []).push(r);
  }
  const reserved: Record<string, Record<string, number | string>> = {};
  for (const [role, list] of Object.entries(reservedFull)) reserved[role] = R.toLegacy(list);

  const activeIds = new Set(v.frameworks.map((f) => f.id));
  const completedByFw = new Map<string, { info: FrameworkInfo; tasks: TaskView[] }>();
  for (const t of v.completedTasks) {
    const e = completedByFw.get(t.frameworkId) ?? { info: t.frameworkInfo, tasks: [] };
    e.tasks.push(t);
    completedByFw.set(t.frameworkId, e);
  }
  const frameworks = v.frameworks.map((f) => legacyFramework(v, f.id, f.info, f.tasks, completedByFw.get(f.id)?.tasks ?? []));
  const completedFrameworks = [...completedByFw.entries()].filter(([id]) => !activeIds.has(id)).map(([id, e]) => legacyFramework(v, id, e.info, [], e.tasks));

  const out: Record<string, unknown> = {
    version: v.version,
    build_date: BUILD_DATE,
    build_time: BUILD_TIME_SECS,
    build_user: '',
    start_time: v.startTimeMs / 1000,
    id: v.id ?? '',
    pid: v.pid,
    hostname: v.hostname,
    capabilities: ['MULTI_ROLE', 'HIERARCHICAL_ROLE', 'RESERVATION_REFINEMENT'],
    resources: R.toLegacy(resources),
    reserved_resources: reserved,
    unreserved_resources: R.toLegacy(unreservedFull),
    reserved_resources_full: reservedFull,
    unreserved_resources_full: unreservedFull,
    reserved_resources_allocated: {},
    unreserved_resources_allocated: R.toLegacy([]),
    resource_providers: [],
    attributes: flatAttributes(v.info.attributes),
    master_hostname: '',
    flags: v.flags,
    frameworks,
    completed_frameworks: completedFrameworks,
  };
  if (v.info.domain) out.domain = v.info.domain;
  return out;
}

function legacyFramework(v: AgentView, id: string, info: FrameworkInfo, live: TaskView[], done: TaskView[]): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id,
    name: info.name,
    user: info.user,
    failover_timeout: info.failover_timeout ?? 0,
    checkpoint: info.checkpoint ?? false,
    hostname: info.hostname ?? v.hostname,
    role: info.role ?? '*',
    executors: live.map((t) => legacyExecutor(v, t, true)),
    completed_executors: done.map((t) => legacyExecutor(v, t, false)),
  };
  if (info.roles && info.roles.length > 0) out.roles = info.roles;
  if (info.principal) out.principal = info.principal;
  if (info.capabilities && info.capabilities.length > 0) out.capabilities = info.capabilities.map((c) => c.type);
  return out;
}

function legacyExecutor(v: AgentView, t: TaskView, live: boolean): Record<string, unknown> {
  const command = t.info.command;
  const cmdText = command?.shell === false ? [command.value ?? '', ...(command.arguments ?? []).slice(1)].join(' ') : (command?.value ?? '');
  const role = taskRole(t.task);
  const task = legacyTask(t.task, v.id ?? '');
  const out: Record<string, unknown> = {
    id: t.executorId,
    name: `Command Executor (Task: ${t.info.task_id.value}) (Command: sh -c '${cmdText.slice(0, 100)}')`,
    source: t.info.task_id.value,
    container: t.containerId,
    directory: t.sandboxDir,
    resources: R.toLegacy(t.task.resources),
    role,
    type: 'COMMAND',
    tasks: live ? [task] : [],
    queued_tasks: [],
    completed_tasks: live ? [] : [task],
  };
  if (t.info.labels?.labels?.length) out.labels = t.info.labels.labels;
  return out;
}

// --- /containers -----------------------------------------------------------------------------------

async function containerList(v: AgentView, q: URLSearchParams, stats: ContainerStatsSource | undefined) {
  const wantContainer = q.get('container_id');
  const wantFw = q.get('framework_id');
  const wantEx = q.get('executor_id');
  const out = [];
  for (const f of v.frameworks) {
    for (const t of f.tasks) {
      if (t.task.state !== 'TASK_RUNNING' && t.task.state !== 'TASK_STARTING' && t.task.state !== 'TASK_KILLING') continue;
      if ((wantContainer && wantContainer !== t.containerId) || (wantFw && wantFw !== f.id) || (wantEx && wantEx !== t.executorId)) continue;
      out.push({
        framework_id: f.id,
        executor_id: t.executorId,
        executor_name: `Command Executor (Task: ${t.info.task_id.value})`,
        source: t.info.task_id.value,
        container_id: t.containerId,
        status: {
          container_id: { value: t.containerId },
          ...(t.pid !== undefined ? { executor_pid: t.pid } : {}),
          // A task on container networks (CNI) has its own addresses; the rest share the agent's.
          network_infos: t.task.statuses.at(-1)?.container_status?.network_infos ?? [{ ip_addresses: [{ protocol: 'IPv4', ip_address: v.ip }] }],
        },
        statistics: await taskStatistics(t, { ...(stats ? { stats } : {}), nowMs: () => Date.now() }),
      });
    }
  }
  return out;
}

// --- Files API -------------------------------------------------------------------------------------

type Resolved = { ok: true; real: string; shown: string; stat: Stats } | { ok: false; status: number; message: string };

const LATEST = /^\/frameworks\/([^/]+)\/executors\/([^/]+)\/runs\/latest(\/.*)?$/;

/**
 * File access confined to task sandboxes: a path is served only when its real path (symlinks
 * resolved) is inside `<work_dir>/slaves/<agent>/frameworks/<fw>/executors/<ex>/runs/<container>`.
 * Files are opened with O_NOFOLLOW and checked again through /proc/self/fd, so a task cannot swap
 * a symlink in between the check and the read.
 */
class SandboxFiles {
  private slavesRoot: string | undefined;

  constructor(private readonly agent: Agent) {}

  debug(): Record<string, string> {
    const out: Record<string, string> = {};
    const v = this.agent.view();
    for (const f of v.frameworks) for (const t of f.tasks) out[`/frameworks/${f.id}/executors/${t.executorId}/runs/latest`] = t.sandboxDir;
    return out;
  }

  async browse(res: ServerResponse, q: URLSearchParams): Promise<void> {
    const r = await this.resolve(q.get('path'));
    if (!r.ok) return sendText(res, r.status, r.message);
    if (!r.stat.isDirectory()) return sendLegacyJson(res, q, [await entry(r.shown, r.stat)]);
    let names: string[];
    try {
      names = (await fs.readdir(r.real)).sort().slice(0, BROWSE_MAX_ENTRIES);
    } catch (e) {
      return sendText(res, 500, `Failed to list directory: ${(e as Error).message}\n`);
    }
    // The directory itself may have been swapped for a symlink while it was listed.
    const again = await this.resolve(q.get('path'));
    if (!again.ok || again.real !== r.real) return sendText(res, 403, 'Forbidden\n');
    const out = [];
    for (const name of names) {
      try {
        out.push(await entry(posix.join(r.shown, name), await fs.lstat(`${r.real}/${name}`)));
      } catch {
        // removed while listing
      }
    }
    sendLegacyJson(res, q, out);
  }

  async read(res: ServerResponse, q: URLSearchParams): Promise<void> {
    const path = q.get('path');
    if (path === null) return sendText(res, 400, "Expecting 'path=value' in query.\n");
    const offset = parseIntParam(q.get('offset'), 'offset');
    if (typeof offset === 'string') return sendText(res, 400, offset);
    const length = parseIntParam(q.get('length'), 'length');
    if (typeof length === 'string') return sendText(res, 400, length);
    const r = await this.resolve(path);
    if (!r.ok) return sendText(res, r.status, r.message);
    if (r.stat.isDirectory()) return sendText(res, 400, 'Cannot read a directory.\n');
    const fh = await this.open(r.real);
    if (typeof fh === 'string') return sendText(res, 403, fh);
    try {
      const st = await fh.stat();
      if (!st.isFile()) return sendText(res, 400, 'Cannot read a file that is not a regular file.\n');
      const size = st.size;
      if (offset === -1) return sendLegacyJson(res, q, { offset: size, data: '' });
      if (offset >= size || length === 0) return sendLegacyJson(res, q, { offset, data: '' });
      const want = length === -1 ? FILES_READ_MAX_BYTES : Math.min(length, FILES_READ_MAX_BYTES);
      const buf = Buffer.alloc(Math.min(want, size - offset));
      const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
      const end = utf8Boundary(buf, bytesRead, offset + bytesRead >= size);
      sendLegacyJson(res, q, { offset, data: buf.subarray(0, end).toString('utf8') });
    } finally {
      await fh.close();
    }
  }

  async download(res: ServerResponse, q: URLSearchParams): Promise<void> {
    const r = await this.resolve(q.get('path'));
    if (!r.ok) return sendText(res, r.status, r.message);
    if (r.stat.isDirectory()) return sendText(res, 400, 'Cannot download a directory.\n');
    const fh = await this.open(r.real);
    if (typeof fh === 'string') return sendText(res, 403, fh);
    let st: Stats;
    try {
      st = await fh.stat();
    } catch (e) {
      await fh.close();
      return sendText(res, 500, `${(e as Error).message}\n`);
    }
    if (!st.isFile()) {
      await fh.close();
      return sendText(res, 400, 'Cannot download a file that is not a regular file.\n');
    }
    res.writeHead(200, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': st.size,
      'Content-Disposition': `attachment; filename="${basename(r.real).replace(/["\\\r\n]/g, '_')}"`,
    });
    await new Promise<void>((done) => {
      const stream = fh.createReadStream({ start: 0, end: Math.max(0, st.size - 1), autoClose: true });
      if (st.size === 0) {
        stream.destroy();
        res.end();
        done();
        return;
      }
      stream.on('error', () => {
        res.destroy();
        done();
      });
      stream.on('end', done);
      stream.pipe(res);
    });
  }

  /** Maps a request path to a real path inside a sandbox, or an HTTP error. */
  private async resolve(raw: string | null): Promise<Resolved> {
    if (raw === null) return { ok: false, status: 400, message: "Expecting 'path=value' in query.\n" };
    if (raw.includes('\0')) return { ok: false, status: 400, message: 'Invalid path.\n' };
    let shown = raw.length > 1 ? raw.replace(/\/+$/, '') : raw;
    let target = shown;
    const latest = LATEST.exec(shown);
    if (latest) {
      const sandbox = this.agent.sandboxOf(latest[1] as string, latest[2] as string);
      if (!sandbox) return { ok: false, status: 404, message: 'File not found.\n' };
      target = sandbox + (latest[3] ?? '');
    } else if (!shown.startsWith('/')) return { ok: false, status: 404, message: 'File not found.\n' };
    target = resolvePath(target);
    if (!latest) shown = target;
    const root = await this.root();
    // Lexically outside every sandbox (e.g. ../../etc/passwd): not served, and not even looked at.
    if (!root || !inSandbox(root.lexical, target)) return { ok: false, status: 404, message: 'File not found.\n' };
    let real: string;
    try {
      real = await fs.realpath(target);
    } catch {
      return { ok: false, status: 404, message: 'File not found.\n' };
    }
    // Inside a sandbox by name, outside by a symlink: refused.
    if (!inSandbox(root.real, real)) return { ok: false, status: 403, message: 'Access to a path outside of the task sandboxes is forbidden.\n' };
    try {
      return { ok: true, real, shown, stat: await fs.stat(real) };
    } catch {
      return { ok: false, status: 404, message: 'File not found.\n' };
    }
  }

  /** Opens a resolved path without following a last-moment symlink, and re-checks where it landed. */
  private async open(real: string): Promise<fs.FileHandle | string> {
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(real, FS.O_RDONLY | FS.O_NOFOLLOW | FS.O_NONBLOCK);
    } catch (e) {
      return `Failed to open file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`;
    }
    try {
      const landed = await fs.readlink(`/proc/self/fd/${fh.fd}`);
      const root = await this.root();
      if (root && inSandbox(root.real, landed)) return fh;
    } catch {
      // no /proc: the realpath check stands
      return fh;
    }
    await fh.close();
    return 'Access to a path outside of the task sandboxes is forbidden.\n';
  }

  private async root(): Promise<{ lexical: string; real: string } | undefined> {
    const lexical = resolvePath(this.agent.config.workDir, 'slaves');
    if (this.slavesRoot === undefined) {
      try {
        this.slavesRoot = await fs.realpath(lexical);
      } catch {
        return undefined;
      }
    }
    return { lexical, real: this.slavesRoot };
  }
}

/**
 * True when p is a sandbox or inside one: `<root>/<agent>/frameworks/<fw>/executors/<ex>/runs/<c>[/...]`.
 * (Listing <root> itself or an agent dir would expose every framework's tasks.)
 */
function inSandbox(root: string, p: string): boolean {
  if (!p.startsWith(root + sep)) return false;
  const parts = p.slice(root.length + 1).split(sep);
  return (
    parts.length >= 7 && parts[1] === 'frameworks' && parts[3] === 'executors' && parts[5] === 'runs' && parts.every((x) => x !== '' && x !== '.' && x !== '..')
  );
}

/** Parses offset/length: missing means -1; other negatives and non-integers are errors. */
function parseIntParam(v: string | null, name: string): number | string {
  if (v === null || v === '') return -1;
  if (!/^-?\d+$/.test(v.trim())) return `Failed to parse ${name}: '${v}' is not a number.\n`;
  const n = Number(v.trim());
  if (!Number.isSafeInteger(n)) return `Failed to parse ${name}: '${v}' is out of range.\n`;
  if (n < -1) return `Negative ${name} provided: ${n}.\n`;
  return n;
}

/**
 * Where to cut a read so it does not split a UTF-8 character (a split one would come back as
 * U+FFFD and the next read would start mid-character). Never cuts to nothing, and never at EOF.
 */
function utf8Boundary(buf: Buffer, n: number, atEof: boolean): number {
  if (atEof || n === 0) return n;
  let i = n - 1;
  let back = 0;
  while (i >= 0 && back < 4 && ((buf[i] as number) & 0xc0) === 0x80) {
    i--;
    back++;
  }
  if (i < 0) return n;
  const lead = buf[i] as number;
  const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  if (need > back + 1 && i > 0) return i;
  return n;
}

async function entry(path: string, st: Stats): Promise<Record<string, unknown>> {
  return {
    path,
    nlink: st.nlink,
    size: st.size,
    mtime: Math.floor(st.mtimeMs / 1000),
    mode: modeString(st),
    uid: userName(st.uid),
    gid: groupName(st.gid),
  };
}

function modeString(st: Stats): string {
  const m = st.mode;
  const type = st.isDirectory()
    ? 'd'
    : st.isSymbolicLink()
      ? 'l'
      : st.isFIFO()
        ? 'p'
        : st.isSocket()
          ? 's'
          : st.isCharacterDevice()
            ? 'c'
            : st.isBlockDevice()
              ? 'b'
              : '-';
  const bit = (mask: number, c: string) => (m & mask ? c : '-');
  const x = (exec: number, special: number, on: string, off: string) => (m & special ? (m & exec ? on : off) : m & exec ? 'x' : '-');
  return (
    type +
    bit(0o400, 'r') +
    bit(0o200, 'w') +
    x(0o100, 0o4000, 's', 'S') +
    bit(0o040, 'r') +
    bit(0o020, 'w') +
    x(0o010, 0o2000, 's', 'S') +
    bit(0o004, 'r') +
    bit(0o002, 'w') +
    x(0o001, 0o1000, 't', 'T')
  );
}

let users: Map<number, string> | undefined;
let groups: Map<number, string> | undefined;

function idNames(file: string): Map<number, string> {
  const out = new Map<number, string>();
  try {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(0, 100_000)) {
      const [name, , id] = line.split(':');
      if (name && id !== undefined && /^\d+$/.test(id)) out.set(Number(id), name);
    }
  } catch {
    // no such file: numeric ids it is
  }
  return out;
}

function userName(uid: number): string {
  users ??= idNames('/etc/passwd');
  return users.get(uid) ?? String(uid);
}

function groupName(gid: number): string {
  groups ??= idNames('/etc/group');
  return groups.get(gid) ?? String(gid);
}
