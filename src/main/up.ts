import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isTmpfs, runtimeDirUnder } from '../adapters/runtime/runtime-dir.js';
import { parseFlags } from '../base/flags.js';
import { ClusterClient } from '../cli/client.js';
import { addCluster, loadConfig, saveConfig } from '../cli/config.js';
import { CliError, printJson } from '../cli/output.js';

/** What `dcos up` remembers about a local cluster, in <work dir>/cluster.json. */
interface ClusterFile {
  version: 1;
  masterPort: number;
  gatewayPort: number;
  agents: { ip: string; port: number; resources: string; attributes?: string }[];
  pids: { master?: number; agents: (number | undefined)[] };
  extraMasterFlags: string[];
  /** Cluster DNS port (UDP+TCP) the master reported when it became ready. */
  dnsPort?: number;
  /** The cluster DNS's second address on port 53 (given to the agents' containers), when it was bound. */
  containerDns?: string;
  /** Marathon API port the master reported when it became ready. */
  marathonPort?: number;
  /** How many of `agents` (the last ones) are public: resources reserved for slave_public. */
  publicAgents?: number;
}

/** Preferred source of the VIP range's local route on a `dcos up` machine. */
const VIP_SOURCE = '127.11.0.1';

/** A loopback address of this cluster's own for the DNS on port 53: 127.53.<master port>. */
export function containerDnsIp(masterPort: number): string {
  return `127.53.${(masterPort >> 8) & 255}.${masterPort & 255}`;
}

const ENTRY = join(dirname(fileURLToPath(import.meta.url)), 'dcos.js');
const READY_TIMEOUT_MS = 60_000;

export function defaultWorkDir(): string {
  return process.env.DCOS_TS_HOME ? join(process.env.DCOS_TS_HOME, 'local') : join(homedir(), '.dcos-ts', 'local');
}

function readClusterFile(workDir: string): ClusterFile | undefined {
  try {
    return JSON.parse(readFileSync(join(workDir, 'cluster.json'), 'utf8')) as ClusterFile;
  } catch {
    return undefined;
  }
}

function writeClusterFile(workDir: string, c: ClusterFile): void {
  const p = join(workDir, 'cluster.json');
  writeFileSync(`${p}.tmp`, `${JSON.stringify(c, null, 2)}\n`);
  renameSync(`${p}.tmp`, p);
}

export function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(port, host, () => s.close(() => res(true)));
  });
}

async function pickPort(preferred: number, host: string): Promise<number> {
  if (await portFree(preferred, host)) return preferred;
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, host, () => {
      const a = s.address();
      const p = typeof a === 'object' && a ? a.port : 0;
      s.close(() => res(p));
    });
  });
}

/**
 * V8 flags per role. The master: a 32 MB semi-space (the young generation's default is 16 MB)
 * lets the short-lived objects of bursts (a reregistration storm, 100,000 task rows at recovery)
 * die young instead of being promoted and collected by full GCs: in bench:scale (which runs with
 * the same flag) B3's GC pauses (recovery and reregistrations) fell from 0.84-0.90 s to
 * 0.54-0.69 s and all agents were back in 3.9 s instead of 4.1-4.2 s.
 */
const NODE_FLAGS: Record<string, string[]> = { master: ['--max-semi-space-size=32'] };

/** Starts a role as a detached process; stdout (its one JSON "ready" line) and stderr go to files. */
function spawnRole(role: string, args: string[], logDir: string, name: string): ChildProcess {
  const out = openSync(join(logDir, `${name}.out`), 'w');
  const err = openSync(join(logDir, `${name}.log`), 'a');
  const child = spawn(process.execPath, [...(NODE_FLAGS[role] ?? []), ENTRY, role, ...args], { detached: true, stdio: ['ignore', out, err] });
  child.unref();
  return child;
}

async function waitForLine(file: string, pid: number | undefined, event: string, logFile: string): Promise<Record<string, unknown>> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    try {
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        if (!line.startsWith('{')) continue;
        const j = JSON.parse(line) as Record<string, unknown>;
        if (j.event === event) return j;
      }
    } catch {}
    if (!alive(pid)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  let tail = '';
  try {
    tail = readFileSync(logFile, 'utf8').split('\n').slice(-8).join('\n');
  } catch {}
  throw new CliError(`A cluster process did not become ready (see ${logFile}).${tail ? `\n${tail}` : ''}`, "Fix the cause, then run 'dcos up' again.");
}

const UP_HELP = `Usage: dcos up [flags]

Brings up a local cluster on this machine: one master and N agents as separate processes, the
registry in an embedded SQLite file, everything bound to loopback. Running it again on the same
work dir brings back the same cluster (agent ids, frameworks and tasks) from its state.

Flags:
  --agents=N              number of agents (default 3)
  --public-agents=N       more agents whose resources are reserved for role slave_public (attribute
                          public_ip:true), for the edge LB ('dcos edgelb install'); default 0
  --work-dir=DIR          where the cluster keeps its state and logs (default ${defaultWorkDir()})
  --resources=SPEC        resources of each agent (default cpus:4;mem:4096;disk:10240; each agent
                          gets its own ports range)
  --attributes=SPEC       attributes of each agent, e.g. rack:r1 (each agent also gets zone:zone-<i>)
  --agent-ping-timeout=D  master's agent ping timeout (default 15secs)
  --dns-only-healthy      the cluster DNS leaves out tasks whose health check has not passed
  --detach                return once the cluster is ready (default: stay in the foreground, Ctrl-C stops it)
  --json                  print the result as JSON
`;

/** `dcos up` */
export async function up(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv, new Set(['detach', 'json', 'help', 'dns-only-healthy']));
  if (flags.has('help')) {
    process.stdout.write(UP_HELP);
    return 0;
  }
  const json = flags.has('json');
  const say = (msg: string) => {
    if (!json) process.stderr.write(`${msg}\n`);
  };
  const workDir = resolve(flags.get('work-dir') ?? defaultWorkDir());
  const logDir = join(workDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const agentsFlag = flags.get('agents');
  const existing = readClusterFile(workDir);
  const publicFlag = flags.get('public-agents');
  const nPublic = publicFlag !== undefined ? Number(publicFlag) : (existing?.publicAgents ?? 0);
  if (!Number.isInteger(nPublic) || nPublic < 0 || nPublic > 50) throw new CliError(`--public-agents needs a whole number from 0 to 50, got '${publicFlag}'.`);
  const nPrivate = agentsFlag !== undefined ? Number(agentsFlag) : existing ? existing.agents.length - (existing.publicAgents ?? 0) : 3;
  if (!Number.isInteger(nPrivate) || nPrivate < 1 || nPrivate > 200) throw new CliError(`--agents needs a whole number from 1 to 200, got '${agentsFlag}'.`);
  // Public agents come after the private ones (addresses and work dirs).
  const nAgents = nPrivate + nPublic;

  if (existing && alive(existing.pids.master) && existing.pids.agents.every(alive) && existing.agents.length === nAgents) {
    const info = describe(workDir, existing);
    say(`The cluster in ${workDir} is already running at ${info.url}.`);
    registerCli(workDir, info.url);
    if (json) printJson(info);
    else console.log(info.url);
    return 0;
  }
  if (existing && (alive(existing.pids.master) || existing.pids.agents.some(alive))) {
    say('Part of the cluster is still running; stopping it first.');
    await stopProcesses(existing, say);
  }

  const resources = flags.get('resources') ?? 'cpus:4;mem:4096;disk:10240';
  const attributes = flags.get('attributes');
  const extraMasterFlags: string[] = [];
  const ping = flags.get('agent-ping-timeout');
  if (ping) extraMasterFlags.push(`--agent_ping_timeout=${ping}`);
  if (flags.get('dns-only-healthy') === 'true') extraMasterFlags.push('--dns_only_healthy');
  const masterFlags = (extraMasterFlags.length > 0 ? extraMasterFlags : (existing?.extraMasterFlags ?? [])).filter((f) => !f.startsWith('--marathon_role='));
  // As DC/OS: Marathon's role is slave_public so apps can accept public agents' resources.
  if (nPublic > 0) masterFlags.push('--marathon_role=slave_public');
  const c: ClusterFile = {
    version: 1,
    masterPort: existing?.masterPort ?? (await pickPort(5050, '127.0.0.1')),
    gatewayPort: existing?.gatewayPort ?? (await pickPort(8000, '127.0.0.1')),
    agents: [],
    pids: { agents: [] },
    extraMasterFlags: masterFlags,
    ...(nPublic > 0 ? { publicAgents: nPublic } : {}),
  };
  // Ports chosen on an earlier run may be taken now.
  if (!existing || !(await portFree(c.masterPort, '127.0.0.1'))) c.masterPort = await pickPort(5050, '127.0.0.1');
  if (!existing || !(await portFree(c.gatewayPort, '127.0.0.1'))) c.gatewayPort = await pickPort(8000, '127.0.0.1');
  for (let i = 0; i < nAgents; i++) {
    const prev = existing?.agents[i];
    const ip = `127.0.0.${2 + i}`;
    const portsLo = 31000 + i * 1000;
    const hasPorts = /(^|;)\s*ports/.test(resources);
    // Each agent has its own loopback address; its port is 5051 unless something else holds it.
    const port = prev && (await portFree(prev.port, ip)) ? prev.port : await pickPort(5051, ip);
    const isPublic = i >= nPrivate;
    const own = hasPorts ? resources : `${resources};ports:[${portsLo}-${portsLo + 999}]`;
    const attrs = attributes !== undefined ? `${attributes};zone:zone-${i % 3}` : (prev?.attributes ?? `zone:zone-${i % 3}`);
    c.agents.push({
      ip,
      port,
      resources: flags.has('resources') || flags.has('public-agents') || !prev ? (isPublic ? reservedFor(own, 'slave_public') : own) : prev.resources,
      attributes: isPublic && !/(^|;)public_ip:/.test(attrs) ? `${attrs};public_ip:true` : attrs,
    });
  }

  say(`Starting the master (registry in ${join(workDir, 'master')})...`);
  const master = spawnRole(
    'master',
    [
      `--work_dir=${join(workDir, 'master')}`,
      `--port=${c.masterPort}`,
      '--ip=127.0.0.1',
      `--gateway_port=${c.gatewayPort}`,
      '--cluster=local',
      '--dns_port=0',
      '--dns_http_port=0',
      // Port 53 on an address of this cluster's own (containers' resolv.conf cannot name a port).
      `--dns_also_listen=${containerDnsIp(c.masterPort)}:53`,
      // Local clients of a VIP get a source address nothing else uses, so their (source, port)
      // pairs never meet a backend's TIME_WAIT sockets of direct flows (docs/networking.md).
      `--vip_src=${VIP_SOURCE}`,
      '--marathon_port=0',
      ...c.extraMasterFlags,
    ],
    logDir,
    'master',
  );
  c.pids.master = master.pid;
  writeClusterFile(workDir, c);
  const ready = await waitForLine(join(logDir, 'master.out'), master.pid, 'ready', join(logDir, 'master.log'));
  if (typeof ready.dns_port === 'number') c.dnsPort = ready.dns_port;
  else delete c.dnsPort;
  if (typeof ready.dns_also_listen === 'string') c.containerDns = ready.dns_also_listen.split(':')[0] as string;
  else delete c.containerDns;
  if (typeof ready.marathon_port === 'number') c.marathonPort = ready.marathon_port;
  else delete c.marathonPort;
  say(`  master ready at 127.0.0.1:${c.masterPort}`);

  for (let i = 0; i < nAgents; i++) {
    const a = c.agents[i] as ClusterFile['agents'][number];
    const child = spawnRole(
      'agent',
      [
        `--master=127.0.0.1:${c.masterPort}`,
        `--work_dir=${join(workDir, 'agents', String(i))}`,
        ...runtimeDirFlag(join(workDir, 'agents', String(i))),
        `--ip=${a.ip}`,
        `--port=${a.port}`,
        `--hostname=${a.ip}`,
        `--resources=${a.resources}`,
        ...(a.attributes ? [`--attributes=${a.attributes}`] : []),
        ...(c.containerDns ? [`--container_dns=${c.containerDns}`] : []),
      ],
      logDir,
      `agent-${i}`,
    );
    c.pids.agents[i] = child.pid;
  }
  writeClusterFile(workDir, c);
  for (let i = 0; i < nAgents; i++) {
    const line = await waitForLine(join(logDir, `agent-${i}.out`), c.pids.agents[i], 'registered', join(logDir, `agent-${i}.log`));
    say(`  agent ${i + 1}/${nAgents} registered as ${String(line.agent_id)} (${c.agents[i]?.ip})`);
  }
  const info = describe(workDir, c);
  registerCli(workDir, info.url);
  if (json) printJson(info);
  else {
    say(`\nCluster is up: ${info.url}`);
    say(`Try: dcos node list    dcos service list    dcos task list`);
    console.log(info.url);
  }
  if (flags.has('detach')) return 0;
  say("Running in the foreground; press Ctrl-C to stop (or run 'dcos up --detach').");
  await new Promise<void>((r) => {
    process.once('SIGINT', () => r());
    process.once('SIGTERM', () => r());
  });
  await stopProcesses(c, say);
  writeClusterFile(workDir, { ...c, pids: { agents: [] } });
  return 0;
}

/**
 * The agents' runtime dir on a tmpfs: their own default where /run is one; /dev/shm on a host
 * whose /run is on disk (as on these VMs), keyed by the agent's work dir.
 */
function shmRuntimeDir(agentWorkDir: string): string | undefined {
  if (isTmpfs('/run') || !isTmpfs('/dev/shm')) return undefined;
  return runtimeDirUnder('/dev/shm', agentWorkDir);
}
function runtimeDirFlag(agentWorkDir: string): string[] {
  const dir = shmRuntimeDir(agentWorkDir);
  return dir ? [`--runtime_dir=${dir}`] : [];
}

/** `cpus:4;ports:[…]` → `cpus(role):4;ports(role):[…]` (parts that name a role keep it). */
function reservedFor(spec: string, role: string): string {
  return spec
    .split(';')
    .filter((p) => p.trim() !== '')
    .map((p) => (/^\s*[\w.-]+\s*\(/.test(p) ? p : p.replace(/^\s*([\w.-]+)\s*:/, `$1(${role}):`)))
    .join(';');
}

function describe(workDir: string, c: ClusterFile) {
  return {
    url: `http://127.0.0.1:${c.gatewayPort}`,
    mesos: `http://127.0.0.1:${c.masterPort}`,
    workDir,
    ...(c.dnsPort ? { dns: `127.0.0.1:${c.dnsPort}` } : {}),
    ...(c.containerDns ? { container_dns: `${c.containerDns}:53` } : {}),
    ...(c.marathonPort ? { marathon: `http://127.0.0.1:${c.marathonPort}` } : {}),
    agents: c.agents.map((a) => `${a.ip}:${a.port}`),
    ...(c.publicAgents ? { public_agents: c.agents.slice(-c.publicAgents).map((a) => `${a.ip}:${a.port}`) } : {}),
    pids: c.pids,
  };
}

function registerCli(workDir: string, url: string): void {
  const name = workDir === defaultWorkDir() ? 'local' : `local-${workDir.split('/').filter(Boolean).slice(-2).join('-')}`;
  addCluster({ name, url, workDir });
}

async function stopPid(pid: number | undefined, graceMs: number): Promise<void> {
  if (!alive(pid)) return;
  try {
    process.kill(pid as number, 'SIGTERM');
  } catch {}
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (alive(pid)) {
    try {
      process.kill(pid as number, 'SIGKILL');
    } catch {}
  }
}

async function stopProcesses(c: ClusterFile, say: (m: string) => void): Promise<void> {
  await Promise.all(c.pids.agents.map((p) => stopPid(p, 10_000)));
  say(`  stopped ${c.pids.agents.filter(Boolean).length} agent(s)`);
  await stopPid(c.pids.master, 10_000);
  say('  stopped the master');
}

const DOWN_HELP = `Usage: dcos down [--work-dir=DIR] [--purge] [--json]

Stops the local cluster started by 'dcos up'. Tasks keep running, like containers under a
restarted Mesos agent, and the next 'dcos up' reattaches them. With --purge, every service is
torn down first (its tasks killed), and the work dir (with the agents' runtime dirs) is deleted.
`;

/** `dcos down` */
export async function down(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv, new Set(['purge', 'json', 'help']));
  if (flags.has('help')) {
    process.stdout.write(DOWN_HELP);
    return 0;
  }
  const json = flags.has('json');
  const say = (msg: string) => {
    if (!json) process.stderr.write(`${msg}\n`);
  };
  const workDir = resolve(flags.get('work-dir') ?? defaultWorkDir());
  const c = readClusterFile(workDir);
  if (!c) throw new CliError(`No cluster in ${workDir}.`, "Start one with 'dcos up', or pass --work-dir.");
  let tornDown = 0;
  if (flags.has('purge') && alive(c.pids.master)) {
    const client = new ClusterClient(`http://127.0.0.1:${c.gatewayPort}`);
    try {
      const s = await client.getJson<{ frameworks: { id: string }[] }>('/mesos/master/state');
      for (const f of s.frameworks) {
        await client.operator({ type: 'TEARDOWN', teardown: { framework_id: { value: f.id } } });
        tornDown++;
      }
      // Give the agents a moment to kill the tasks before they stop.
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline) {
        const st = await client.getJson<{ slaves: { used_resources: { cpus: number } }[] }>('/mesos/master/state');
        if (st.slaves.every((a) => !a.used_resources.cpus)) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      await new Promise((r) => setTimeout(r, 500));
    } catch (e) {
      say(`  could not tear services down: ${(e as Error).message}`);
    }
  }
  await stopProcesses(c, say);
  if (flags.has('purge')) {
    // The agents' runtime dirs too, where they are apart from the work dir (their tasks are gone).
    for (let i = 0; i < c.agents.length; i++) {
      const dir = shmRuntimeDir(join(workDir, 'agents', String(i)));
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
    rmSync(workDir, { recursive: true, force: true });
    const cfg = loadConfig();
    for (const [name, e] of Object.entries(cfg.clusters)) {
      if (e.workDir === workDir) {
        delete cfg.clusters[name];
        if (cfg.attached === name) delete cfg.attached;
      }
    }
    saveConfig(cfg);
  } else if (existsSync(workDir)) writeClusterFile(workDir, { ...c, pids: { agents: [] } });
  if (json) printJson({ workDir, stopped: true, purged: flags.has('purge'), servicesTornDown: tornDown });
  else say(flags.has('purge') ? `Cluster purged (${workDir} deleted).` : `Cluster stopped; state kept in ${workDir}. 'dcos up' brings it back.`);
  return 0;
}
