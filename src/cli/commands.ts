import { parseFlags } from '../base/flags.js';
import { ClusterClient, httpError } from './client.js';
import { addCluster, loadConfig, saveConfig } from './config.js';
import { CliError, ago, fmtNum, printJson, table } from './output.js';
import { nodeDns } from './dns.js';
import { IMAGE_GROUP } from './image.js';
import { MARATHON_GROUP } from './marathon.js';
import { NET_GROUP } from './net.js';
import { taskExec, taskLs, taskMetrics } from './task-extra.js';

export type Command = (args: string[]) => Promise<number | undefined>;

export interface CommandSpec {
  summary: string;
  usage: string;
  run: Command;
  booleans?: string[];
}

type Flat = Record<string, number | string>;

export interface LegacyTask {
  id: string;
  name: string;
  framework_id: string;
  slave_id: string;
  state: string;
  resources: Flat;
  statuses: { state: string; timestamp: number }[];
  user?: string;
}

interface LegacyFramework {
  id: string;
  name: string;
  hostname: string;
  active: boolean;
  connected: boolean;
  tasks: LegacyTask[];
  unreachable_tasks: LegacyTask[];
  completed_tasks: LegacyTask[];
  used_resources: Flat;
  webui_url: string;
  registered_time?: number;
  unregistered_time?: number;
  roles?: string[];
  role?: string;
}

interface LegacyAgent {
  id: string;
  hostname: string;
  pid: string;
  port: number;
  active: boolean;
  attributes: Flat;
  resources: Flat;
  used_resources: Flat;
  registered_time: number;
  domain?: { fault_domain?: { region?: { name: string }; zone?: { name: string } } };
}

interface LegacyState {
  hostname: string;
  pid: string;
  id: string;
  version: string;
  slaves: LegacyAgent[];
  frameworks: LegacyFramework[];
  completed_frameworks: LegacyFramework[];
  unreachable_slaves: number;
}

export const state = (c: ClusterClient) => c.getJson<LegacyState>('/mesos/master/state');
const ipOf = (pid: string): string => /@([^:]+):/.exec(pid)?.[1] ?? '';

export function parse(args: string[], booleans: string[] = []) {
  return parseFlags(args, new Set(['json', 'help', ...booleans]));
}

function allTasks(s: LegacyState, includeCompleted: boolean): LegacyTask[] {
  const out: LegacyTask[] = [];
  for (const f of s.frameworks) {
    out.push(...f.tasks, ...f.unreachable_tasks);
    if (includeCompleted) out.push(...f.completed_tasks);
  }
  if (includeCompleted) for (const f of s.completed_frameworks) out.push(...f.completed_tasks);
  return out;
}

export async function findTask(c: ClusterClient, query: string): Promise<{ task: LegacyTask; state: LegacyState }> {
  const s = await state(c);
  const tasks = allTasks(s, true);
  const exact = tasks.filter((t) => t.id === query);
  const matches = exact.length ? exact : tasks.filter((t) => t.id.includes(query) || t.name === query);
  // Prefer a live task over completed ones with the same name.
  const live = matches.filter(
    (t) => !['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR', 'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR'].includes(t.state),
  );
  const pick = live.length === 1 ? live : matches;
  if (pick.length === 0) throw new CliError(`No task matches '${query}'.`, "See 'dcos task list --all'.");
  if (pick.length > 1)
    throw new CliError(
      `'${query}' matches ${pick.length} tasks: ${pick
        .slice(0, 5)
        .map((t) => t.id)
        .join(', ')}${pick.length > 5 ? ', …' : ''}`,
      'Give the full task id.',
    );
  return { task: pick[0] as LegacyTask, state: s };
}

// ---- node ---------------------------------------------------------------------------------

const nodeList: CommandSpec = {
  summary: 'List the nodes of the cluster',
  usage: 'dcos node list [--json]',
  async run(args) {
    const { flags } = parse(args);
    const c = new ClusterClient();
    const s = await state(c);
    const nowSecs = Date.now() / 1000;
    const counts = new Map<string, number>();
    for (const t of allTasks(s, false)) counts.set(t.slave_id, (counts.get(t.slave_id) ?? 0) + 1);
    if (flags.has('json')) {
      printJson(s.slaves.map((a) => ({ ...a, ip: ipOf(a.pid), tasks: counts.get(a.id) ?? 0 })));
      return 0;
    }
    const rows = s.slaves.map((a) => [
      a.hostname,
      ipOf(a.pid),
      a.id,
      (a.resources as Flat).cpus && String(a.attributes.public_ip ?? '') ? 'agent (public)' : 'agent',
      a.domain?.fault_domain?.region?.name ?? '',
      a.domain?.fault_domain?.zone?.name ?? '',
      `${fmtNum(Number(a.used_resources.cpus))}/${fmtNum(Number(a.resources.cpus))}`,
      `${fmtNum(Number(a.used_resources.mem), 0)}/${fmtNum(Number(a.resources.mem), 0)}`,
      counts.get(a.id) ?? 0,
      ago(a.registered_time, nowSecs),
    ]);
    rows.unshift([s.hostname, ipOf(s.pid), s.id, 'master (leader)', '', '', '', '', '', '']);
    console.log(table(['HOSTNAME', 'IP', 'ID', 'TYPE', 'REGION', 'ZONE', 'CPUS', 'MEM (MB)', 'TASKS', 'UP'], rows));
    if (s.unreachable_slaves > 0) console.log(`\n${s.unreachable_slaves} agent(s) unreachable.`);
    return 0;
  },
};

const nodeShow: CommandSpec = {
  summary: 'Show one node',
  usage: 'dcos node show <agent-id|hostname> [--json]',
  async run(args) {
    const { flags, positionals } = parse(args);
    const q = positionals[0];
    if (!q) throw new CliError('Missing agent id.', nodeShow.usage);
    const c = new ClusterClient();
    const s = await state(c);
    const a = s.slaves.find((x) => x.id === q || x.hostname === q || ipOf(x.pid) === q);
    if (!a) throw new CliError(`No agent '${q}'.`, "See 'dcos node list'.");
    const tasks = allTasks(s, false).filter((t) => t.slave_id === a.id);
    if (flags.has('json')) {
      printJson({ ...a, tasks });
      return 0;
    }
    console.log(
      table(
        ['FIELD', 'VALUE'],
        [
          ['id', a.id],
          ['hostname', a.hostname],
          ['address', `${ipOf(a.pid)}:${a.port}`],
          ['active', String(a.active)],
          ['resources', JSON.stringify(a.resources)],
          ['used', JSON.stringify(a.used_resources)],
          ['attributes', JSON.stringify(a.attributes)],
          ['tasks', tasks.map((t) => t.id).join(', ')],
        ],
      ),
    );
    return 0;
  },
};

// ---- task ---------------------------------------------------------------------------------

const taskList: CommandSpec = {
  summary: 'List tasks',
  usage: 'dcos task list [filter] [--all] [--completed] [--json]',
  booleans: ['all', 'completed'],
  async run(args) {
    const { flags, positionals } = parse(args, ['all', 'completed']);
    const c = new ClusterClient();
    const s = await state(c);
    const withDone = flags.has('all') || flags.has('completed');
    let tasks = allTasks(s, withDone);
    if (flags.has('completed')) {
      const live = new Set(allTasks(s, false).map((t) => t.id));
      tasks = tasks.filter((t) => !live.has(t.id));
    }
    const f = positionals[0];
    if (f) tasks = tasks.filter((t) => t.id.includes(f) || t.name.includes(f));
    if (flags.has('json')) {
      printJson(tasks);
      return 0;
    }
    const hosts = new Map(s.slaves.map((a) => [a.id, a.hostname] as const));
    const fwNames = new Map([...s.frameworks, ...s.completed_frameworks].map((x) => [x.id, x.name] as const));
    console.log(
      table(
        ['NAME', 'HOST', 'USER', 'STATE', 'FRAMEWORK', 'ID'],
        tasks.map((t) => [
          t.name,
          hosts.get(t.slave_id) ?? t.slave_id,
          t.user ?? '',
          t.state.replace(/^TASK_/, ''),
          fwNames.get(t.framework_id) ?? t.framework_id,
          t.id,
        ]),
      ),
    );
    return 0;
  },
};

const taskShow: CommandSpec = {
  summary: 'Show one task with its status history',
  usage: 'dcos task show <task> [--json]',
  async run(args) {
    const { flags, positionals } = parse(args);
    const q = positionals[0];
    if (!q) throw new CliError('Missing task id.', taskShow.usage);
    const c = new ClusterClient();
    const { task } = await findTask(c, q);
    if (flags.has('json')) {
      printJson(task);
      return 0;
    }
    console.log(
      table(
        ['FIELD', 'VALUE'],
        [
          ['id', task.id],
          ['name', task.name],
          ['state', task.state],
          ['framework', task.framework_id],
          ['agent', task.slave_id],
          ['resources', JSON.stringify(task.resources)],
        ],
      ),
    );
    console.log('\nSTATUS HISTORY');
    console.log(
      table(
        ['TIME', 'STATE'],
        task.statuses.map((st) => [new Date(st.timestamp * 1000).toISOString(), st.state]),
      ),
    );
    return 0;
  },
};

interface AgentState {
  frameworks: AgentFw[];
  completed_frameworks: AgentFw[];
}
interface AgentFw {
  id: string;
  executors: AgentExec[];
  completed_executors: AgentExec[];
}
interface AgentExec {
  id: string;
  directory: string;
  tasks?: { id: string }[];
  completed_tasks?: { id: string }[];
  queued_tasks?: { id: string }[];
}

async function sandboxOf(c: ClusterClient, task: LegacyTask): Promise<string> {
  const s = await c.getJson<AgentState>(`/agent/${encodeURIComponent(task.slave_id)}/state`);
  for (const fw of [...(s.frameworks ?? []), ...(s.completed_frameworks ?? [])]) {
    if (fw.id !== task.framework_id) continue;
    for (const ex of [...(fw.executors ?? []), ...(fw.completed_executors ?? [])]) {
      const ids = [ex.id, ...(ex.tasks ?? []).map((t) => t.id), ...(ex.completed_tasks ?? []).map((t) => t.id), ...(ex.queued_tasks ?? []).map((t) => t.id)];
      if (ids.includes(task.id)) return ex.directory;
    }
  }
  throw new CliError(`The agent ${task.slave_id} has no sandbox for task ${task.id}.`, 'It may have been garbage-collected.');
}

async function readFile(c: ClusterClient, agentId: string, path: string, offset: number, length?: number): Promise<{ offset: number; data: string }> {
  const q = new URLSearchParams({ path, offset: String(offset) });
  if (length !== undefined) q.set('length', String(length));
  const res = await c.request('GET', `/agent/${encodeURIComponent(agentId)}/files/read?${q}`);
  if (res.status === 404) throw new CliError(`No file ${path} in the task's sandbox.`);
  if (!res.ok) throw await httpError(res, 'files/read');
  return (await res.json()) as { offset: number; data: string };
}

const taskLog: CommandSpec = {
  summary: "Print a task's stdout or stderr",
  usage: 'dcos task log <task> [stdout|stderr|<file>] [--follow] [--lines=N]',
  booleans: ['follow'],
  async run(args) {
    const { flags, positionals } = parse(args, ['follow']);
    const q = positionals[0];
    if (!q) throw new CliError('Missing task id.', taskLog.usage);
    const file = positionals[1] ?? 'stdout';
    if (file.includes('..')) throw new CliError(`Invalid file name '${file}'.`);
    const lines = Number(flags.get('lines') ?? 10);
    if (!Number.isInteger(lines) || lines < 0) throw new CliError(`--lines needs a whole number, got '${flags.get('lines')}'.`);
    const c = new ClusterClient();
    const { task } = await findTask(c, q);
    const dir = await sandboxOf(c, task);
    const path = `${dir}/${file}`;
    const size = (await readFile(c, task.slave_id, path, -1)).offset;
    // The last N lines: read back in pages until enough newlines are found.
    let start = size;
    let text = '';
    while (start > 0 && text.split('\n').length - 1 <= lines) {
      const from = Math.max(0, start - 65536);
      const chunk = await readFile(c, task.slave_id, path, from, start - from);
      text = chunk.data + text;
      start = from;
    }
    const all = text.split('\n');
    if (all[all.length - 1] === '') all.pop();
    const tail = lines === 0 ? [] : all.slice(-lines);
    if (tail.length) process.stdout.write(`${tail.join('\n')}\n`);
    if (!flags.has('follow')) return 0;
    let offset = size;
    let stop = false;
    process.once('SIGINT', () => {
      stop = true;
    });
    while (!stop) {
      const chunk = await readFile(c, task.slave_id, path, offset);
      if (chunk.data.length > 0) {
        process.stdout.write(chunk.data);
        offset += Buffer.byteLength(chunk.data);
        continue;
      }
      await new Promise((r) => setTimeout(r, 300));
    }
    return 0;
  },
};

// ---- service ------------------------------------------------------------------------------

const serviceList: CommandSpec = {
  summary: 'List the services (frameworks) the cluster runs',
  usage: 'dcos service list [--inactive] [--completed] [--json]',
  booleans: ['inactive', 'completed'],
  async run(args) {
    const { flags } = parse(args, ['inactive', 'completed']);
    const c = new ClusterClient();
    const s = await state(c);
    let fws = s.frameworks.filter((f) => f.active || flags.has('inactive'));
    if (flags.has('completed')) fws = fws.concat(s.completed_frameworks);
    if (flags.has('json')) {
      printJson(fws);
      return 0;
    }
    console.log(
      table(
        ['NAME', 'HOST', 'ACTIVE', 'TASKS', 'CPU', 'MEM', 'DISK', 'ID'],
        fws.map((f) => [
          f.name,
          f.hostname,
          String(f.active),
          f.tasks.length,
          fmtNum(Number(f.used_resources.cpus)),
          fmtNum(Number(f.used_resources.mem), 0),
          fmtNum(Number(f.used_resources.disk), 0),
          f.id,
        ]),
      ),
    );
    return 0;
  },
};

const serviceShutdown: CommandSpec = {
  summary: 'Shut a service down: kill its tasks and remove it',
  usage: 'dcos service shutdown <framework-id>',
  async run(args) {
    const { positionals } = parse(args);
    const id = positionals[0];
    if (!id) throw new CliError('Missing framework id.', "See 'dcos service list' for ids.");
    const c = new ClusterClient();
    const s = await state(c);
    const fw = s.frameworks.find((f) => f.id === id) ?? s.frameworks.filter((f) => f.name === id).at(0);
    if (!fw) throw new CliError(`No active service '${id}'.`, "See 'dcos service list --inactive'.");
    await c.operator({ type: 'TEARDOWN', teardown: { framework_id: { value: fw.id } } });
    console.log(`Shut down ${fw.name} (${fw.id}).`);
    return 0;
  },
};

// ---- cluster ------------------------------------------------------------------------------

const clusterSetup: CommandSpec = {
  summary: 'Add a cluster by its URL and attach to it',
  usage: 'dcos cluster setup <url> [--name=NAME]',
  async run(args) {
    const { flags, positionals } = parse(args);
    const url = positionals[0]?.replace(/\/$/, '');
    if (!url || !/^https?:\/\//.test(url)) throw new CliError('Expected a cluster URL like http://127.0.0.1:8000.', clusterSetup.usage);
    const meta = await new ClusterClient(url).getJson<{ version: string; 'bootstrap-id'?: string }>('/dcos-metadata/dcos-version.json');
    const name = flags.get('name') ?? new URL(url).host;
    addCluster({ name, url });
    console.log(`Attached to cluster '${name}' at ${url} (version ${meta.version}).`);
    return 0;
  },
};

const clusterList: CommandSpec = {
  summary: 'List the clusters the CLI knows',
  usage: 'dcos cluster list [--json]',
  async run(args) {
    const { flags } = parse(args);
    const cfg = loadConfig();
    const entries = Object.values(cfg.clusters).map((e) => ({ ...e, attached: e.name === cfg.attached }));
    if (flags.has('json')) {
      printJson(entries);
      return 0;
    }
    if (entries.length === 0) {
      console.log("No clusters. Run 'dcos up' or 'dcos cluster setup <url>'.");
      return 0;
    }
    console.log(
      table(
        ['NAME', 'URL', 'ATTACHED', 'WORK DIR'],
        entries.map((e) => [e.name, e.url, e.attached ? '*' : '', e.workDir ?? '']),
      ),
    );
    return 0;
  },
};

const clusterAttach: CommandSpec = {
  summary: 'Make a known cluster the current one',
  usage: 'dcos cluster attach <name>',
  async run(args) {
    const name = parse(args).positionals[0];
    const cfg = loadConfig();
    if (!name || !cfg.clusters[name]) throw new CliError(`No cluster named '${name ?? ''}'.`, "See 'dcos cluster list'.");
    cfg.attached = name;
    saveConfig(cfg);
    console.log(`Attached to '${name}'.`);
    return 0;
  },
};

const clusterRemove: CommandSpec = {
  summary: 'Forget a cluster',
  usage: 'dcos cluster remove <name>',
  async run(args) {
    const name = parse(args).positionals[0];
    const cfg = loadConfig();
    if (!name || !cfg.clusters[name]) throw new CliError(`No cluster named '${name ?? ''}'.`, "See 'dcos cluster list'.");
    delete cfg.clusters[name];
    if (cfg.attached === name) delete cfg.attached;
    saveConfig(cfg);
    console.log(`Removed '${name}'.`);
    return 0;
  },
};

export const GROUPS: Record<string, { summary: string; commands: Record<string, CommandSpec> }> = {
  node: { summary: 'Nodes of the cluster', commands: { list: nodeList, show: nodeShow, dns: nodeDns } },
  task: { summary: 'Tasks and their logs', commands: { list: taskList, show: taskShow, log: taskLog, exec: taskExec, metrics: taskMetrics, ls: taskLs } },
  service: { summary: 'Services (frameworks)', commands: { list: serviceList, shutdown: serviceShutdown } },
  cluster: { summary: 'Clusters this CLI talks to', commands: { setup: clusterSetup, list: clusterList, attach: clusterAttach, remove: clusterRemove } },
  marathon: MARATHON_GROUP,
  net: NET_GROUP,
  image: IMAGE_GROUP,
};
