import { RecordIODecoder } from '../base/recordio.js';
import { ClusterClient, httpError } from './client.js';
import { type CommandSpec, type LegacyTask, findTask, parse } from './commands.js';
import { CliError, fmtNum, printJson, table } from './output.js';

/**
 * `dcos task exec|metrics|ls`: each finds the task's agent and executor through the master, then
 * talks to that agent through the gateway's `/agent/<id>/` proxy: the v1 operator API for exec
 * (LAUNCH_NESTED_CONTAINER_SESSION, ATTACH_CONTAINER_INPUT, WAIT_NESTED_CONTAINER),
 * /containers for metrics and /files/browse for listings.
 */

const TERMINAL = ['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR', 'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR'];

interface Executor {
  id: string;
  container: string;
  directory: string;
}

async function executorOf(c: ClusterClient, task: LegacyTask): Promise<Executor> {
  type Ex = Executor & { tasks?: { id: string }[]; completed_tasks?: { id: string }[] };
  type Fw = { id: string; executors?: Ex[]; completed_executors?: Ex[] };
  const s = await c.getJson<{ frameworks?: Fw[]; completed_frameworks?: Fw[] }>(`/agent/${encodeURIComponent(task.slave_id)}/state`);
  for (const fw of [...(s.frameworks ?? []), ...(s.completed_frameworks ?? [])]) {
    if (fw.id !== task.framework_id) continue;
    for (const ex of [...(fw.executors ?? []), ...(fw.completed_executors ?? [])]) {
      const ids = [ex.id, ...(ex.tasks ?? []).map((t) => t.id), ...(ex.completed_tasks ?? []).map((t) => t.id)];
      if (ids.includes(task.id)) return ex;
    }
  }
  throw new CliError(`The agent ${task.slave_id} does not know task ${task.id}.`, 'It may have been garbage-collected.');
}

async function runningTask(c: ClusterClient, query: string): Promise<LegacyTask> {
  const { task } = await findTask(c, query);
  if (TERMINAL.includes(task.state)) throw new CliError(`Task ${task.id} is not running (${task.state}).`, "See 'dcos task list'.");
  return task;
}

// ---- exec ---------------------------------------------------------------------------------------

export const taskExec: CommandSpec = {
  summary: 'Run a command inside a running task (output streamed; exits with its exit code)',
  usage: 'dcos task exec [--interactive] <task> [--] <cmd> [args...]',
  booleans: ['interactive'],
  async run(args) {
    // Everything after the task id belongs to the command, flags included.
    const own: string[] = [];
    let i = 0;
    for (; i < args.length; i++) {
      const a = args[i] as string;
      if (a === '--interactive' || a === '-i') own.push('--interactive');
      else if (a.startsWith('-') && a !== '--') throw new CliError(`Unknown flag '${a}'.`, taskExec.usage);
      else break;
    }
    const query = args[i];
    let cmd = args.slice(i + 1);
    if (cmd[0] === '--') cmd = cmd.slice(1);
    if (!query || query === '--') throw new CliError('Missing task id.', taskExec.usage);
    if (cmd.length === 0) throw new CliError('Missing the command to run.', taskExec.usage);
    const interactive = own.includes('--interactive');
    const c = new ClusterClient();
    const task = await runningTask(c, query);
    const ex = await executorOf(c, task);
    const sessionId = crypto.randomUUID();
    const api = `${c.baseUrl}/agent/${encodeURIComponent(task.slave_id)}/api/v1`;
    const launch = {
      type: 'LAUNCH_NESTED_CONTAINER_SESSION',
      launch_nested_container_session: {
        container_id: { value: sessionId, parent: { value: ex.container } },
        command: { shell: false, value: cmd[0], arguments: cmd },
      },
    };
    let res: Response;
    try {
      res = await fetch(api, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/recordio', 'Message-Accept': 'application/json' },
        body: JSON.stringify(launch),
      });
    } catch (e) {
      throw new CliError(`Cannot reach the cluster at ${c.baseUrl} (${(e as Error).message}).`);
    }
    if (!res.ok || !res.body) throw await httpError(res, 'LAUNCH_NESTED_CONTAINER_SESSION');
    const input = interactive ? attachInput(api, sessionId) : undefined;
    const decoder = new RecordIODecoder();
    const reader = res.body.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      for (const rec of decoder.push(value)) {
        const m = JSON.parse(rec) as { type?: string; data?: { type?: string; data?: string } };
        if (m.type !== 'DATA' || !m.data) continue;
        const bytes = Buffer.from(m.data.data ?? '', 'base64');
        if (m.data.type === 'STDERR') process.stderr.write(bytes);
        else process.stdout.write(bytes);
      }
    }
    if (input) {
      process.stdin.destroy();
      await input.catch(() => {});
    }
    const wait = await c.request('POST', `/agent/${encodeURIComponent(task.slave_id)}/api/v1`, {
      type: 'WAIT_NESTED_CONTAINER',
      wait_nested_container: { container_id: { value: sessionId, parent: { value: ex.container } } },
    });
    if (!wait.ok) throw await httpError(wait, 'WAIT_NESTED_CONTAINER');
    const status = ((await wait.json()) as { wait_nested_container?: { exit_status?: number } }).wait_nested_container?.exit_status;
    return exitCodeOf(status);
  },
};

/** A raw wait status as a shell reports it: the exit code, or 128 + the signal. */
export function exitCodeOf(status: number | undefined): number {
  if (status === undefined) return 1;
  const sig = status & 0x7f;
  return sig === 0 ? (status >> 8) & 0xff : 128 + sig;
}

/** Streams this process's stdin to the session as ATTACH_CONTAINER_INPUT records; EOF at the end. */
function attachInput(api: string, sessionId: string): Promise<void> {
  const rec = (o: unknown) => {
    const j = JSON.stringify(o);
    return Buffer.from(`${Buffer.byteLength(j)}\n${j}`);
  };
  const data = (b: Buffer) =>
    rec({
      type: 'ATTACH_CONTAINER_INPUT',
      attach_container_input: { type: 'PROCESS_IO', process_io: { type: 'DATA', data: { type: 'STDIN', data: b.toString('base64') } } },
    });
  const body = new ReadableStream<Uint8Array>({
    start(ctl) {
      ctl.enqueue(rec({ type: 'ATTACH_CONTAINER_INPUT', attach_container_input: { type: 'CONTAINER_ID', container_id: { value: sessionId } } }));
      process.stdin.on('data', (b: Buffer) => ctl.enqueue(data(b)));
      const end = () => {
        try {
          ctl.enqueue(data(Buffer.alloc(0)));
          ctl.close();
        } catch {
          // already closed
        }
      };
      process.stdin.once('end', end);
      process.stdin.once('close', end);
    },
  });
  return fetch(api, {
    method: 'POST',
    headers: { 'Content-Type': 'application/recordio', 'Message-Content-Type': 'application/json', Accept: 'application/json' },
    body,
    duplex: 'half',
  } as RequestInit).then(() => {});
}

// ---- metrics ------------------------------------------------------------------------------------

export const taskMetrics: CommandSpec = {
  summary: "A running task's resource usage, measured from its cgroups",
  usage: 'dcos task metrics <task> [--json]',
  async run(args) {
    const { flags, positionals } = parse(args);
    const q = positionals[0];
    if (!q) throw new CliError('Missing task id.', taskMetrics.usage);
    const c = new ClusterClient();
    const task = await runningTask(c, q);
    const ex = await executorOf(c, task);
    const list = await c.getJson<{ container_id: string; statistics: Record<string, number> }[]>(
      `/agent/${encodeURIComponent(task.slave_id)}/containers?container_id=${encodeURIComponent(ex.container)}`,
    );
    const s = list[0]?.statistics;
    if (!s) throw new CliError(`The agent reports no statistics for task ${task.id}.`, 'It may have just ended.');
    if (flags.has('json')) {
      printJson({ task_id: task.id, container_id: ex.container, statistics: s });
      return 0;
    }
    const mb = (b: number | undefined) => (b === undefined ? '' : `${fmtNum(b / 1024 / 1024, 1)} MB`);
    const rows: [string, string][] = [
      ['cpus (limit)', fmtNum(s.cpus_limit)],
      ['cpu user time', s.cpus_user_time_secs === undefined ? '' : `${fmtNum(s.cpus_user_time_secs)} s`],
      ['cpu system time', s.cpus_system_time_secs === undefined ? '' : `${fmtNum(s.cpus_system_time_secs)} s`],
      ['memory rss', mb(s.mem_rss_bytes)],
      ['memory limit', mb(s.mem_limit_bytes)],
      ['disk used', mb(s.disk_used_bytes)],
      ['disk limit', mb(s.disk_limit_bytes)],
      ['processes', s.processes === undefined ? '' : String(s.processes)],
      ['threads', s.threads === undefined ? '' : String(s.threads)],
    ];
    console.log(`Task ${task.id} (container ${ex.container})`);
    console.log(
      table(
        ['METRIC', 'VALUE'],
        rows.filter(([, v]) => v !== ''),
      ),
    );
    return 0;
  },
};

// ---- ls -----------------------------------------------------------------------------------------

interface FileEntry {
  path: string;
  nlink: number;
  size: number;
  mtime: number;
  mode: string;
  uid: string;
  gid: string;
}

export const taskLs: CommandSpec = {
  summary: "List files in a task's sandbox (like ls -l)",
  usage: 'dcos task ls <task> [path] [--json]',
  async run(args) {
    const { flags, positionals } = parse(args);
    const q = positionals[0];
    if (!q) throw new CliError('Missing task id.', taskLs.usage);
    const rel = sandboxRelative(positionals[1] ?? '.');
    const c = new ClusterClient();
    const { task } = await findTask(c, q);
    const ex = await executorOf(c, task);
    const path = rel === '' ? ex.directory : `${ex.directory}/${rel}`;
    const res = await c.request('GET', `/agent/${encodeURIComponent(task.slave_id)}/files/browse?${new URLSearchParams({ path })}`);
    if (res.status === 404) throw new CliError(`No such file or directory in the sandbox of ${task.id}: ${rel || '.'}`);
    if (res.status === 403) throw new CliError(`'${rel}' leads outside the sandbox of ${task.id}.`);
    if (!res.ok) throw await httpError(res, 'files/browse');
    const entries = (await res.json()) as FileEntry[];
    if (flags.has('json')) {
      printJson(entries);
      return 0;
    }
    const now = Date.now() / 1000;
    const base = (p: string) => p.slice(p.lastIndexOf('/') + 1);
    const rows = entries.map((e) => [e.mode, e.nlink, e.uid, e.gid, e.size, mtimeText(e.mtime, now), base(e.path)]);
    // ls -l's columns, without its header.
    const text = table(['', '', '', '', '', '', ''], rows).split('\n').slice(1).join('\n');
    if (text) console.log(text);
    return 0;
  },
};

/** A path inside the sandbox, normalised; anything that climbs out of it is refused here already. */
export function sandboxRelative(p: string): string {
  if (p.includes('\0')) throw new CliError('Invalid path.');
  if (p.startsWith('/')) throw new CliError(`'${p}' is absolute: give a path inside the task's sandbox.`);
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) throw new CliError(`'${p}' leads outside the task's sandbox.`);
      out.pop();
    } else out.push(part);
  }
  return out.join('/');
}

function mtimeText(secs: number, nowSecs: number): string {
  const d = new Date(secs * 1000);
  const mon = d.toLocaleString('en-US', { month: 'short' });
  const day = String(d.getDate()).padStart(2, ' ');
  const recent = Math.abs(nowSecs - secs) < 180 * 86400;
  return recent ? `${mon} ${day} ${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}` : `${mon} ${day}  ${d.getFullYear()}`;
}
