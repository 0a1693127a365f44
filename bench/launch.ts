/**
 * B4: container launch latency and throughput through the agent, beside raw crun and raw
 * fork/exec (reference/performance-anchors.md B4). All containers run `/bin/true` from the same
 * busybox image.
 *
 * - raw crun: `crun run --bundle <b> <id>` on a prepared bundle (a copied rootfs, no overlay),
 *   with the same hybrid-cgroup wrapper the agent uses where the machine needs it; once with a
 *   minimal config.json, once with the agent's own (ociConfig: all mounts, limits, seccomp).
 * - agent (OCI): the real Agent service and Mesos containerizer in this process (RealClock, a
 *   fake master link that acknowledges at once), the image loaded into its cache from a
 *   `docker save` archive; from RUN_TASK to the terminal status update the agent sends.
 * - agent (process) vs raw fork/exec (`spawn('/bin/true')`).
 * - then 500 containers at concurrency 8 (crun, agent OCI).
 * - the cluster: the real master (startMaster, in this process, on a loopback port), the real
 *   agent (startAgent: its HTTP link to the master, the Mesos containerizer with crun) and a v1
 *   framework over the HTTP scheduler API (HttpSchedulerTransport): from the ACCEPT that carries
 *   a task to the TASK_FINISHED update received by the framework (every update acknowledged, as a
 *   framework must for the next one to come), 100 sequential and 500 at concurrency 8 (up to 8
 *   tasks in flight; an offer that arrives while workers wait is accepted with one task each).
 *
 * - paired rounds: one raw crun run and one agent container back to back, N times, the agent's
 *   cleanup finished before each: the overhead as the median of the per-round differences, which
 *   the machine's drift between the separate rows does not move.
 *
 * Usage: npm run bench:launch  (node dist/bench/launch.js [--n 100] [--burst 500] [--concurrency 8]
 *        [--only-agent] [--trace] [--favor-dynmods] [--no-isolated] [--runtime-on-disk] [--background N])
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { RealClock } from '../src/adapters/clock-real.js';
import { FsCheckpointer } from '../src/adapters/runtime/checkpoint-fs.js';
import { Cgroups, cgroup2Mount, detectCgroups, favorDynmodsArgv, setFavorDynmods } from '../src/adapters/runtime/cgroups.js';
import { RegistryImageStore } from '../src/adapters/runtime/image-store.js';
import { createMesosContainerizer, findOciRuntime, hybridCgroupTrap, ociConfig, serializeConfig } from '../src/adapters/runtime/oci.js';
import { defaultSeccompProfile } from '../src/adapters/runtime/seccomp.js';
import { compileSeccompBpf } from '../src/adapters/runtime/seccomp-bpf.js';
import { isTmpfs, runtimeLayout } from '../src/adapters/runtime/runtime-dir.js';
import { HttpSchedulerTransport } from '../src/adapters/scheduler-http.js';
import { Random } from '../src/base/random.js';
import { startAgent } from '../src/main/agent.js';
import { startMaster } from '../src/main/master.js';
import type { AgentCall } from '../src/model/agent-protocol.js';
import type { ContainerInfo, TaskStatus } from '../src/model/mesos.js';
import { Agent } from '../src/services/agent/agent.js';
import { FakeMasterLink } from '../src/services/agent/fakes.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const N = arg('n', 100);
const BURST = arg('burst', 500);
const CONC = arg('concurrency', 8);
/** --trace: where the agent's milliseconds go (median time between the launch path's marks). */
const TRACE = args.includes('--trace');
/** --only-agent: the agent's paths and raw crun only (no cluster), for quick comparisons. */
const ONLY_AGENT = args.includes('--only-agent');
/**
 * --favor-dynmods: the kernel's cgroup2 option favordynmods on for the whole run (raw crun and the
 * agent alike), put back as it was at the end. Without it every container that joins its cgroups
 * more than ~10 ms after the previous one waits for an RCU grace period (cgroups.ts).
 */
const FAVOR_DYNMODS = args.includes('--favor-dynmods');
/**
 * --no-isolated: image tasks each get a mount namespace of their own (`unshare -m`, `sh`, the
 * umount) as before the isolated launcher, and as tasks with a network namespace or host path
 * volumes still do: for comparison.
 */
const NO_ISOLATED = args.includes('--no-isolated');
/**
 * The agents' runtime dir (containers' runtime state, bundles, crun's state) on a tmpfs, as `dcos
 * up` gives its agents (/run where it is one, else /dev/shm); --runtime-on-disk: in the work dir.
 */
const RUNTIME_ON_DISK = args.includes('--runtime-on-disk');
/**
 * --background N: N long-running image tasks (`sleep`) are started before the measured rows and
 * killed after them: launches with N containers running beside them (the isolated launcher's
 * mount namespace then holds N rootfs mounts, and every new container's copy of it too).
 */
const BACKGROUND = arg('background', 0);
let dynmodsBefore: boolean | undefined;
const marks = new Map<string, [string, number][]>();
const trace = TRACE
  ? (id: string, point: string): void => {
      let m = marks.get(id);
      if (!m) marks.set(id, (m = []));
      m.push([point, performance.now()]);
    }
  : undefined;
const ckptTimes: { write: number[]; append: number[] } = { write: [], append: [] };
/** The real checkpointer, timed (durable writes and appends are part of every launch). */
class TimedCheckpointer extends FsCheckpointer {
  override async write(path: string, data: string): Promise<void> {
    const t = performance.now();
    await super.write(path, data);
    if (TRACE) ckptTimes.write.push(performance.now() - t);
  }
  override async append(path: string, data: string, options?: { sync?: boolean }): Promise<void> {
    const t = performance.now();
    await super.append(path, data, process.env.B4_NOSYNC ? { sync: false } : options);
    if (TRACE) ckptTimes.append.push(performance.now() - t);
  }
}
/** Prints the median of each step between consecutive marks of the containers traced so far. */
function breakdown(title: string): void {
  if (!TRACE) return;
  const steps = new Map<string, number[]>();
  const order: string[] = [];
  const totals: number[] = [];
  for (const m of marks.values()) {
    m.sort((a, b) => a[1] - b[1]);
    for (let i = 1; i < m.length; i++) {
      const k = `${(m[i - 1] as [string, number])[0]} → ${(m[i] as [string, number])[0]}`;
      if (!steps.has(k)) {
        steps.set(k, []);
        order.push(k);
      }
      steps.get(k)?.push((m[i] as [string, number])[1] - (m[i - 1] as [string, number])[1]);
    }
    const sent = m.find((x) => x[0] === 'agent: terminal update sent');
    if (sent && m[0]) totals.push(sent[1] - m[0][1]);
  }
  console.error(`\n  ${title}: median ms per step (${marks.size} containers; RUN_TASK → terminal update sent p50 ${pct(totals, 50).toFixed(2)} ms)`);
  for (const k of order) {
    const xs = steps.get(k) ?? [];
    if (xs.length >= marks.size / 2) console.error(`    ${pct(xs, 50).toFixed(2).padStart(7)}  ${k}`);
  }
  const w = ckptTimes.write;
  const a = ckptTimes.append;
  console.error(
    `    checkpoint writes: ${(w.length / marks.size).toFixed(1)}/task p50 ${pct(w, 50).toFixed(2)} ms; appends: ${(a.length / marks.size).toFixed(1)}/task p50 ${pct(a, 50).toFixed(2)} ms\n`,
  );
  marks.clear();
  ckptTimes.write = [];
  ckptTimes.append = [];
}

const crun = findOciRuntime('crun');
if (!crun || process.getuid?.() !== 0 || !existsSync('/bin/busybox')) {
  console.error('bench:launch needs root, crun and busybox-static (apt-get install crun busybox-static)');
  process.exit(1);
}
const work = mkdtempSync(join(tmpdir(), 'dcos-bench-launch-'));
const cgMode = detectCgroups();
const cgRoot = `dcos-bench-${process.pid}`;
const cgroups = cgMode.kind === 'none' ? undefined : new Cgroups(cgMode, cgRoot);
const wrap = hybridCgroupTrap();

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

interface Row {
  what: string;
  p50: number;
  p99: number;
  perSec: number;
  target: string;
  /** CPU ms per container, this process and its children. */
  cpu: number;
}
const rows: Row[] = [];
function record(what: string, r: Pooled, target = ''): void {
  const { lat, wallMs } = r;
  const self = r.cpuSelfMs / lat.length;
  const child = r.cpuChildMs / lat.length;
  rows.push({ what, p50: pct(lat, 50), p99: pct(lat, 99), perSec: (lat.length / wallMs) * 1000, target, cpu: self + child });
  console.error(
    `  ${what}: p50 ${pct(lat, 50).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms, ${((lat.length / wallMs) * 1000).toFixed(0)}/s; CPU per container ${self.toFixed(1)} ms in this process + ${child.toFixed(1)} ms in children`,
  );
}

/**
 * CPU time so far, in ms: this process (the agent, in the agent rows) and its children that were
 * waited for, with theirs (supervisors, shells, crun, the containers): load-independent beside
 * the wall-clock latencies, which other work on the machine stretches.
 */
function cpuNow(): { self: number; child: number } {
  const u = process.cpuUsage();
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[13], f[14]: cutime, cstime (ticks)
  let child = ((Number(f[13]) + Number(f[14])) * 1000) / 100;
  // The agents' launchers start the supervisors: they and theirs are the launchers' children, not
  // ours (a launcher's own CPU and that of its children it reaped, while it runs).
  for (const l of launchers()) {
    try {
      const ls = readFileSync(`/proc/${l}/stat`, 'utf8');
      const lf = ls.slice(ls.lastIndexOf(')') + 2).split(' ');
      child += ((Number(lf[11]) + Number(lf[12]) + Number(lf[13]) + Number(lf[14])) * 1000) / 100;
    } catch {
      // gone
    }
  }
  return { self: (u.user + u.system) / 1000, child };
}
/** Pids of this process's children that are task launchers (the bench's agent and the cluster's). */
function launchers(): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const st = readFileSync(`/proc/${p}/stat`, 'utf8');
      if (Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]) !== process.pid) continue;
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('dcos-launcher')) out.push(Number(p));
    } catch {
      // gone
    }
  }
  return out;
}
/** CPU ms so far per thread name of this process (main, libuv-worker, V8 workers), for --trace. */
function threadCpu(): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const k = Number(t) === process.pid ? 'main thread' : `other ${name} threads`;
      out.set(k, (out.get(k) ?? 0) + ((Number(f[11]) + Number(f[12])) * 1000) / 100);
    } catch {
      // the thread ended
    }
  }
  return out;
}
interface Pooled {
  lat: number[];
  wallMs: number;
  cpuSelfMs: number;
  cpuChildMs: number;
}

function run(cmd: string, argv: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, argv, { stdio: 'ignore' });
    p.once('error', reject);
    p.once('exit', (code) => resolve(code ?? 1));
  });
}

async function pool<T>(n: number, conc: number, fn: (i: number, worker: number) => Promise<T>): Promise<Pooled> {
  const lat: number[] = [];
  let next = 0;
  const c0 = cpuNow();
  const th0 = TRACE ? threadCpu() : undefined;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: conc }, async (_, w) => {
      while (next < n) {
        const i = next++;
        const s = performance.now();
        const r = await fn(i, w);
        // A number returned is the latency the caller measured itself (the cluster: from ACCEPT).
        lat.push(typeof r === 'number' ? r : performance.now() - s);
      }
    }),
  );
  const wallMs = performance.now() - t0;
  const c1 = cpuNow();
  if (th0) {
    const th1 = threadCpu();
    const parts = [...th1].map(([k, v]) => `${k} ${((v - (th0.get(k) ?? 0)) / n).toFixed(2)}`);
    console.error(`    CPU ms per container by thread: ${parts.join(', ')}`);
  }
  return { lat, wallMs, cpuSelfMs: c1.self - c0.self, cpuChildMs: c1.child - c0.child };
}

// --- the image -------------------------------------------------------------------------------------

const rootfs = join(work, 'rootfs');
mkdirSync(join(rootfs, 'bin'), { recursive: true });
execFileSync('cp', ['/bin/busybox', join(rootfs, 'bin', 'busybox')]);
execFileSync('chroot', [rootfs, '/bin/busybox', '--install', '-s', '/bin']);
for (const d of ['proc', 'sys', 'dev', 'tmp', 'etc', 'mnt/mesos/sandbox']) mkdirSync(join(rootfs, d), { recursive: true });

let archivePath: string | undefined;
function dockerSave(): string {
  if (archivePath) return archivePath;
  const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
  const out = join(work, 'save');
  mkdirSync(join(out, 'l'), { recursive: true });
  execFileSync('tar', ['-cf', join(out, 'l', 'layer.tar'), '--numeric-owner', '-C', rootfs, '.']);
  const diff = `sha256:${sha(readFileSync(join(out, 'l', 'layer.tar')))}`;
  const config = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/bin'], Cmd: ['/bin/true'] },
    rootfs: { type: 'layers', diff_ids: [diff] },
  });
  writeFileSync(join(out, `${sha(config)}.json`), config);
  writeFileSync(join(out, 'manifest.json'), JSON.stringify([{ Config: `${sha(config)}.json`, RepoTags: ['bench/busybox:1'], Layers: ['l/layer.tar'] }]));
  const archive = join(work, 'busybox.tar');
  execFileSync('tar', ['-cf', archive, '-C', out, '.']);
  archivePath = archive;
  return archive;
}

// --- raw crun ----------------------------------------------------------------------------------------

/** One bundle per worker: each has its own cgroupsPath, so concurrent runs do not collide. */
function rawBundle(w: number): string {
  const b = join(work, `raw-bundle-${w}`);
  if (existsSync(b)) return b;
  mkdirSync(b, { recursive: true });
  execFileSync('cp', ['-a', rootfs, join(b, 'rootfs')]);
  writeFileSync(
    join(b, 'config.json'),
    JSON.stringify({
      ociVersion: '1.0.2',
      process: { terminal: false, user: { uid: 0, gid: 0 }, args: ['/bin/true'], env: ['PATH=/bin'], cwd: '/' },
      root: { path: 'rootfs' },
      hostname: 'bench',
      mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
      linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'uts' }, { type: 'ipc' }], cgroupsPath: `/${cgRoot}-raw/w${w}` },
    }),
  );
  return b;
}

/** The default seccomp profile as crun's BPF program, made as the agent makes it (see main). */
let bundleBpf: string | undefined;

/**
 * The bundle the agent writes for the same task (its mounts, masked paths, cpu and pids limits,
 * capabilities, rlimits and the default seccomp profile, as a BPF program the way the agent hands
 * it to crun) over a copied rootfs: raw crun with the agent's container, without the agent.
 * `jsonSeccomp`: the profile as JSON only, which crun compiles with libseccomp in every start.
 */
function fullBundle(w: number, jsonSeccomp = false): string {
  const b = join(work, `full-bundle-${w}${jsonSeccomp ? '-json' : ''}`);
  if (existsSync(b)) return b;
  mkdirSync(join(b, 'sandbox'), { recursive: true });
  execFileSync('cp', ['-a', rootfs, join(b, 'rootfs')]);
  const config = ociConfig(
    {
      containerId: `full-${w}`,
      sandboxDir: join(b, 'sandbox'),
      command: { shell: false, value: '/bin/true', arguments: ['/bin/true'] },
      env: { PATH: '/bin' },
      resources: { cpus: 0.1, memMb: 32 },
    },
    { env: ['PATH=/bin'], entrypoint: [], cmd: ['/bin/true'] },
    ['/bin/true'],
    undefined,
    [],
    { seccomp: true, ...(bundleBpf && !jsonSeccomp ? { seccompBpf: bundleBpf } : {}) },
  );
  (config.linux as Record<string, unknown>).cgroupsPath = `/${cgRoot}-raw/full-${w}${jsonSeccomp ? '-json' : ''}`;
  writeFileSync(join(b, 'config.json'), serializeConfig(config));
  return b;
}
const jsonBundle = (w: number): string => fullBundle(w, true);

function crunArgv(a: string[]): [string, string[]] {
  if (!wrap) return [crun as string, a];
  return [
    '/usr/bin/unshare',
    ['-m', '--propagation', 'private', '/bin/sh', '-c', 'umount /sys/fs/cgroup/unified || exit 125; exec "$0" "$@"', crun as string, ...a],
  ];
}

async function rawCrun(n: number, conc: number, bundle: (w: number) => string = rawBundle): Promise<Pooled> {
  for (let w = 0; w < conc; w++) bundle(w);
  return pool(n, conc, async (i, w) => {
    const [cmd, argv] = crunArgv([
      'run',
      '--bundle',
      bundle(w),
      `raw-${process.pid}-${conc}-${i}-${bundle === rawBundle ? 'm' : bundle === jsonBundle ? 'j' : 'f'}`,
    ]);
    const code = await run(cmd, argv);
    if (code !== 0) throw new Error(`crun run exited ${code}`);
  });
}

/**
 * The agent's bundle over an overlay rootfs, as the agent runs it: the image's files as the lower
 * dir, a fresh upper and work dir per container, the overlay mounted in crun's own private mount
 * namespace by the same shell step (busybox sh where installed) right before `crun run`. Raw crun
 * with everything the agent's container has, without the agent.
 */
let overlayRuns = 0;
async function rawCrunOverlay(n: number): Promise<Pooled> {
  const b = join(work, 'overlay-bundle');
  if (!existsSync(b)) {
    mkdirSync(join(b, 'rootfs'), { recursive: true });
    writeFileSync(join(b, 'config.json'), readFileSync(join(fullBundle(0), 'config.json')));
  }
  const shell = existsSync('/bin/busybox') ? ['/bin/busybox', 'sh'] : ['/bin/sh'];
  const script = [
    wrap ? 'umount /sys/fs/cgroup/unified || exit 125' : ':',
    'mount -t overlay overlay -o "lowerdir=$1,upperdir=$2,workdir=$3" "$4/rootfs" || exit 126',
    'exec "$5" run --bundle "$4" "$6"',
  ].join('\n');
  return pool(n, 1, async () => {
    const i = overlayRuns++;
    const dirs = join(work, 'overlay-layers', String(i));
    mkdirSync(join(dirs, 'upper'), { recursive: true });
    mkdirSync(join(dirs, 'work'));
    const id = `raw-${process.pid}-o-${i}`;
    const code = await run('/usr/bin/unshare', [
      '-m',
      '--propagation',
      'private',
      ...shell,
      '-c',
      script,
      'x',
      rootfs,
      join(dirs, 'upper'),
      join(dirs, 'work'),
      b,
      crun as string,
      id,
    ]);
    if (code !== 0) throw new Error(`crun run (overlay) exited ${code}`);
  });
}

// --- the agent ---------------------------------------------------------------------------------------

const tmpfsBase = isTmpfs('/run') ? '/run' : isTmpfs('/dev/shm') ? '/dev/shm' : undefined;
const runtimeBase = RUNTIME_ON_DISK || !tmpfsBase ? join(work, 'run') : join(tmpfsBase, `dcos-bench-launch-${process.pid}`);
const runtimeDirOf = (name: string): string => join(runtimeBase, name);

async function bootAgent(): Promise<{
  agent: Agent;
  runTask: (id: string, container?: ContainerInfo) => Promise<number>;
  startLong: (id: string, container: ContainerInfo) => Promise<() => Promise<void>>;
  idle: () => Promise<void>;
  stop: () => Promise<void>;
}> {
  const workDir = join(work, 'agent');
  const link = new FakeMasterLink();
  const images = new RegistryImageStore(join(workDir, 'images'));
  await images.load(dockerSave(), Date.now());
  const agentRuntime = runtimeLayout(runtimeDirOf('agent'));
  const runtime = createMesosContainerizer({
    stateDir: agentRuntime.containers,
    bundleDir: agentRuntime.bundles,
    stateRoot: agentRuntime.oci,
    images,
    ...(NO_ISOLATED ? { isolatedLaunches: false } : {}),
    ...(cgroups ? { cgroups } : {}),
    ...(trace ? { trace } : {}),
  });
  // Cleanups in flight (the paired rounds let them finish before the next container).
  let cleaning = 0;
  const cleanup = runtime.cleanup.bind(runtime);
  runtime.cleanup = async (id: string) => {
    cleaning++;
    try {
      await cleanup(id);
    } finally {
      cleaning--;
    }
  };
  const idle = async (): Promise<void> => {
    for (let i = 0; i < 1000 && cleaning > 0; i++) await new Promise((r) => setTimeout(r, 1));
  };
  const agent = new Agent({
    ...(trace ? { trace } : {}),
    clock: new RealClock(),
    random: new Random(1),
    link,
    runtime,
    checkpointer: new TimedCheckpointer(workDir),
    config: { workDir, hostname: 'localhost', ip: '127.0.0.1', port: 5051, resources: [], version: 'bench' },
  });
  const waiting = new Map<string, (s: TaskStatus) => void>();
  const call = link.call.bind(link);
  link.call = async (c: AgentCall) => {
    const r = await call(c);
    if (c.type === 'STATUS_UPDATE' && ['TASK_FINISHED', 'TASK_FAILED', 'TASK_ERROR', 'TASK_LOST'].includes(c.status.state))
      waiting.get(c.status.task_id.value)?.(c.status);
    return r;
  };
  await agent.start();
  for (let i = 0; i < 500 && agent.connection !== 'registered'; i++) await new Promise((r) => setTimeout(r, 10));
  const runTask = (id: string, container?: ContainerInfo, command = '/bin/true'): Promise<number> =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      waiting.set(id, (s) => {
        waiting.delete(id);
        if (s.state !== 'TASK_FINISHED' && command === '/bin/true') reject(new Error(`${id}: ${s.state} ${s.message}`));
        else resolve(performance.now() - t0);
      });
      link.push({
        type: 'RUN_TASK',
        framework_id: { value: 'fw' },
        framework_info: { user: 'root', name: 'bench', id: { value: 'fw' } },
        task: {
          name: id,
          task_id: { value: id },
          agent_id: { value: 'agent-1' },
          command: { value: command, shell: false, arguments: command.split(' ') },
          resources: [
            { name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } },
            { name: 'mem', type: 'SCALAR', scalar: { value: 32 } },
          ],
          ...(container ? { container } : {}),
        },
      });
    });
  /** Starts a long-running task; resolves once it runs, with a function that kills it and waits for its end. */
  const startLong = async (id: string, container: ContainerInfo): Promise<() => Promise<void>> => {
    const ended = runTask(id, container, '/bin/sleep 3600');
    for (let i = 0; i < 3000 && !link.updateStates(id).includes('TASK_RUNNING'); i++) await new Promise((r) => setTimeout(r, 5));
    return async () => {
      link.push({ type: 'KILL_TASK', framework_id: { value: 'fw' }, task_id: { value: id } });
      await ended;
    };
  };
  return {
    agent,
    runTask,
    startLong,
    idle,
    stop: async () => {
      await agent.stop();
      runtime.close();
    },
  };
}

// --- the cluster -------------------------------------------------------------------------------------

type Json = Record<string, any>;

/** Master + agent + a v1 HTTP framework; launch() times ACCEPT → TASK_FINISHED at the framework. */
async function bootCluster(archive: string): Promise<{ launch: (id: string, container?: ContainerInfo) => Promise<number>; stop: () => Promise<void> }> {
  const dir = join(work, 'cluster');
  const master = await startMaster({ port: 0, store: 'memory', seed: 1, config: { heartbeatIntervalMs: 60_000 } });
  const agentWork = join(dir, 'agent');
  await new RegistryImageStore(join(agentWork, 'images')).load(archive, Date.now());
  const agent = await startAgent({
    master: `127.0.0.1:${master.port}`,
    workDir: agentWork,
    port: 0,
    resources: 'cpus:8;mem:8192;disk:1024',
    containerizers: ['mesos'],
    cgroupsRoot: `${cgRoot}-cl`,
    runtimeDir: runtimeDirOf('cluster-agent'),
    seed: 1,
  });
  await agent.registered;
  const sched = new HttpSchedulerTransport({ master: `http://127.0.0.1:${master.port}` });
  const offers: Json[] = [];
  const waiters: { task: Json; accepted: (t0: number) => void }[] = [];
  const finished = new Map<string, (s: Json) => void>();
  let frameworkId = '';
  let subscribed!: () => void;
  const ready = new Promise<void>((r) => {
    subscribed = r;
  });
  let flushing = false;
  const call = async (type: string, payload: Json): Promise<void> => {
    const r = await sched.call({ framework_id: { value: frameworkId }, type, [type.toLowerCase()]: payload });
    if (r.status !== 202) throw new Error(`${type}: ${r.status} ${JSON.stringify(r.body)}`);
  };
  // One ACCEPT per held offer with every waiting task (each 0.1 cpus, 32 MB: all 8 fit in one).
  const flush = async (): Promise<void> => {
    if (flushing) return;
    flushing = true;
    try {
      while (offers.length > 0 && waiters.length > 0) {
        const offer = offers.shift() as Json;
        const scalar = (name: string) =>
          ((offer.resources ?? []) as Json[]).filter((r) => r.name === name).reduce((a: number, r: Json) => a + (r.scalar?.value ?? 0), 0);
        const fit = Math.min(Math.floor(scalar('cpus') / 0.1 + 1e-9), Math.floor(scalar('mem') / 32));
        if (fit === 0) {
          await call('DECLINE', { offer_ids: [offer.id], filters: { refuse_seconds: 0 } });
          continue;
        }
        const batch = waiters.splice(0, fit);
        const alloc = offer.allocation_info ?? { role: '*' };
        const tasks = batch.map((w) => ({
          ...w.task,
          agent_id: offer.agent_id,
          resources: (w.task.resources as Json[]).map((r) => ({ ...r, allocation_info: alloc })),
        }));
        const t0 = performance.now();
        for (const w of batch) w.accepted(t0);
        await call('ACCEPT', { offer_ids: [offer.id], operations: [{ type: 'LAUNCH', launch: { task_infos: tasks } }], filters: { refuse_seconds: 0 } });
      }
    } finally {
      flushing = false;
    }
  };
  const sink = {
    closed: false,
    send(e: unknown): boolean {
      const ev = e as Json;
      if (ev.type === 'SUBSCRIBED') {
        frameworkId = ev.subscribed.framework_id.value;
        subscribed();
      } else if (ev.type === 'OFFERS') {
        offers.push(...ev.offers.offers);
        void flush();
      } else if (ev.type === 'RESCIND') {
        const i = offers.findIndex((o) => o.id.value === ev.rescind.offer_id.value);
        if (i >= 0) offers.splice(i, 1);
      } else if (ev.type === 'UPDATE') {
        const st = ev.update.status as Json;
        if (st.uuid) void call('ACKNOWLEDGE', { agent_id: st.agent_id, task_id: st.task_id, uuid: st.uuid }).catch(() => {});
        if (['TASK_FINISHED', 'TASK_FAILED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED', 'TASK_KILLED'].includes(st.state)) finished.get(st.task_id.value)?.(st);
      }
      return true;
    },
    close(): void {
      this.closed = true;
    },
    onClose(): void {},
  };
  const sub = await sched.subscribe({ type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'root', name: 'bench-launch', role: '*' } } }, sink);
  if (sub && sub.status !== 200) throw new Error(`SUBSCRIBE: ${sub.status} ${JSON.stringify(sub.body)}`);
  await ready;
  const launch = (id: string, container?: ContainerInfo): Promise<number> =>
    new Promise((resolve, reject) => {
      let t0 = 0;
      finished.set(id, (st) => {
        finished.delete(id);
        if (st.state !== 'TASK_FINISHED') reject(new Error(`${id}: ${st.state} ${st.message ?? ''} (offers held: ${JSON.stringify(offers)})`));
        else resolve(performance.now() - t0);
      });
      waiters.push({
        task: {
          name: id,
          task_id: { value: id },
          command: { value: '/bin/true', shell: false, arguments: ['/bin/true'] },
          resources: [
            { name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } },
            { name: 'mem', type: 'SCALAR', scalar: { value: 32 } },
          ],
          ...(container ? { container } : {}),
        },
        accepted: (t) => {
          t0 = t;
        },
      });
      void flush().catch(reject);
    });
  return {
    launch,
    stop: async () => {
      sched.close();
      await agent.stop();
      await master.stop();
    },
  };
}

// --- main ------------------------------------------------------------------------------------------

/** Back as it was before --favor-dynmods (once; synchronous, so an exit handler can run it). */
function restoreDynmods(): void {
  if (dynmodsBefore !== false) return;
  dynmodsBefore = undefined;
  const plan = favorDynmodsArgv(false, readFileSync('/proc/self/mountinfo', 'utf8'));
  if ('argv' in plan) execFileSync('mount', plan.argv, { stdio: 'ignore' });
}

async function main(): Promise<void> {
  const v2 = cgroup2Mount(readFileSync('/proc/self/mountinfo', 'utf8'));
  const dynmodsOn = v2?.superOptions.includes('favordynmods') ?? false;
  if (FAVOR_DYNMODS && !dynmodsOn) {
    console.error(`--favor-dynmods: ${await setFavorDynmods(true)} for this run`);
    dynmodsBefore = false;
    // Put back however the run ends: an interrupted run (Ctrl-C, or `| head` closing its output)
    // once left it on for the rest of a session's measurements.
    process.once('exit', restoreDynmods);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, () => process.exit(130));
  }
  console.error(
    `cgroup favordynmods: ${FAVOR_DYNMODS || dynmodsOn ? 'on' : `off (a container joining its cgroups may wait for an RCU grace period${v2 ? '; --favor-dynmods turns it on for the run' : ''})`}`,
  );
  console.error(`B4 on ${crun}${wrap ? ' (hybrid cgroups: crun in a private mount namespace, as the agent runs it)' : ''}; cgroups ${cgMode.kind}`);
  console.error(
    `agents' runtime dir: ${runtimeBase} (${isTmpfs(runtimeBase.startsWith(work) ? work : (tmpfsBase as string)) ? 'tmpfs, as dcos up gives its agents' : 'on disk'}${RUNTIME_ON_DISK ? ', --runtime-on-disk' : ''})`,
  );
  const image: ContainerInfo = { type: 'MESOS', mesos: { image: { type: 'DOCKER', docker: { name: 'bench/busybox:1' } } } };
  const a = await bootAgent();
  let seq = 0;
  // Warm-up: page cache, the image's rootfs, JIT.
  for (let i = 0; i < 5; i++) await a.runTask(`warm-${seq++}`, image);
  for (let i = 0; i < 5; i++) await a.runTask(`warm-${seq++}`);
  marks.clear();
  // The agent hands crun its seccomp profile compiled once; the raw rows with its bundle do too.
  bundleBpf = await compileSeccompBpf({
    ociArgv: (a) => {
      const [cmd, argv] = crunArgv(a);
      return [cmd, ...argv];
    },
    stateRoot: '/run/crun',
    scratchDir: work,
    profile: defaultSeccompProfile(),
    cgroupsPath: `/${cgRoot}-raw/seccomp`,
  });
  const background: (() => Promise<void>)[] = [];
  for (let i = 0; i < BACKGROUND; i++) background.push(await a.startLong(`bg-${i}`, image));
  if (BACKGROUND > 0) console.error(`${BACKGROUND} image tasks running in the background (sleep), killed after the agent rows`);
  await rawCrun(5, 1);
  await rawCrun(5, 1, fullBundle);
  await rawCrun(5, 1, jsonBundle);

  const raw = await rawCrun(N, 1);
  record(`raw crun run, ${N} sequential`, raw);
  const full = await rawCrun(N, 1, fullBundle);
  record(`raw crun run of the agent's bundle (seccomp, all mounts), ${N} sequential`, full);
  const json = await rawCrun(N, 1, jsonBundle);
  record(`raw crun run of the agent's bundle with its seccomp profile as JSON (compiled by crun in each start), ${N} sequential`, json);
  await rawCrunOverlay(5);
  const ovl = await rawCrunOverlay(N);
  record(`raw crun run of the agent's bundle over an overlay rootfs mounted as the agent does, ${N} sequential`, ovl);
  const ag = await pool(N, 1, () => a.runTask(`t-${seq++}`, image));
  await new Promise((r) => setTimeout(r, 200)); // the last cleanup
  breakdown('agent (crun), sequential');
  record(`agent (crun), ${N} sequential`, ag, `p50 ≤ raw + 3 ms = ${(pct(raw.lat, 50) + 3).toFixed(1)} ms`);
  // Paired rounds: one raw crun run and one agent container back to back (in turn first), each
  // after the agent's cleanup of the last one has finished. The machine's speed drifts between the
  // separate rows above (by 10-30 % within minutes here); the difference within a round does not.
  const pairs: { raw: number; agent: number }[] = [];
  for (let i = 0; i < N; i++) {
    const one = async (which: 'raw' | 'agent'): Promise<number> => {
      await a.idle();
      if (which === 'agent') return a.runTask(`pair-${seq++}`, image);
      const s = performance.now();
      const [cmd, argv] = crunArgv(['run', '--bundle', rawBundle(0), `raw-${process.pid}-pair-${i}`]);
      if ((await run(cmd, argv)) !== 0) throw new Error('crun run failed');
      return performance.now() - s;
    };
    if (i % 2 === 0) pairs.push({ raw: await one('raw'), agent: await one('agent') });
    else {
      const agent = await one('agent');
      pairs.push({ raw: await one('raw'), agent });
    }
  }
  const diffs = pairs.map((p) => p.agent - p.raw);
  const paired = {
    raw: pct(
      pairs.map((p) => p.raw),
      50,
    ),
    agent: pct(
      pairs.map((p) => p.agent),
      50,
    ),
    over: pct(diffs, 50),
    q1: pct(diffs, 25),
    q3: pct(diffs, 75),
  };
  console.error(
    `  paired, ${N} rounds of raw crun run + agent (crun): raw p50 ${paired.raw.toFixed(1)} ms, agent p50 ${paired.agent.toFixed(1)} ms; agent − raw per round: median ${paired.over.toFixed(1)} ms (quartiles ${paired.q1.toFixed(1)}–${paired.q3.toFixed(1)})`,
  );
  const fork = await pool(N, 1, async () => {
    if ((await run('/bin/true', [])) !== 0) throw new Error('true failed');
  });
  record(`raw fork/exec /bin/true, ${N} sequential`, fork);
  const proc = await pool(N, 1, () => a.runTask(`p-${seq++}`));
  await new Promise((r) => setTimeout(r, 200));
  breakdown('agent (process), sequential');
  record(`agent (process), ${N} sequential`, proc);
  const rawB = await rawCrun(BURST, CONC);
  record(`raw crun run, ${BURST} at concurrency ${CONC}`, rawB);
  const agB = await pool(BURST, CONC, () => a.runTask(`b-${seq++}`, image));
  await new Promise((r) => setTimeout(r, 500));
  breakdown(`agent (crun), concurrency ${CONC}`);
  record(`agent (crun), ${BURST} at concurrency ${CONC}`, agB, '≥ 100 containers/s');
  await Promise.all(background.map((kill) => kill()));
  await a.stop();

  let clP50: number | undefined;
  if (!ONLY_AGENT) {
    const c = await bootCluster(dockerSave());
    for (let i = 0; i < 5; i++) await c.launch(`cwarm-${seq++}`, image);
    const cl = await pool(N, 1, () => c.launch(`c-${seq++}`, image));
    clP50 = pct(cl.lat, 50);
    record(`cluster (master + agent + v1 framework, crun), ${N} sequential, ACCEPT → TASK_FINISHED`, cl);
    const clB = await pool(BURST, CONC, () => c.launch(`cb-${seq++}`, image));
    record(`cluster (crun), ${BURST} at concurrency ${CONC}, ACCEPT → TASK_FINISHED`, clB);
    await c.stop();
  }

  console.log('\nB4: /bin/true containers from one busybox image (latency = launch call to exit reported)\n');
  console.log('| path | p50 ms | p99 ms | containers/s | CPU ms/container | target |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.what} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.perSec.toFixed(0)} | ${r.cpu.toFixed(1)} | ${r.target} |`);
  const over = pct(ag.lat, 50) - pct(raw.lat, 50);
  console.log(`\nagent overhead over raw crun at p50: ${over.toFixed(1)} ms (target ≤ 3 ms: ${over <= 3 ? 'met' : 'missed'}) between the sequential rows`);
  console.log(
    `paired rounds (raw crun run and an agent container back to back, ${N} rounds): agent − raw median ${paired.over.toFixed(1)} ms, quartiles ${paired.q1.toFixed(1)}–${paired.q3.toFixed(1)} (target ≤ 3 ms: ${paired.over <= 3 ? 'met' : 'missed'}); raw p50 ${paired.raw.toFixed(1)}, agent p50 ${paired.agent.toFixed(1)} ms`,
  );
  console.log(`of which the agent's fuller bundle accounts for ${(pct(full.lat, 50) - pct(raw.lat, 50)).toFixed(1)} ms (raw crun, same bundle, no agent)`);
  console.log(`and the overlay rootfs (its mount step included) ${(pct(ovl.lat, 50) - pct(full.lat, 50)).toFixed(1)} ms more (raw crun, no agent)`);
  const tput = (agB.lat.length / agB.wallMs) * 1000;
  console.log(`agent throughput at concurrency ${CONC}: ${tput.toFixed(0)}/s (target ≥ 100/s: ${tput >= 100 ? 'met' : 'missed'})`);
  if (clP50 !== undefined)
    console.log(
      `cluster over agent at p50: ${(clP50 - pct(ag.lat, 50)).toFixed(1)} ms (master, HTTP links, offers, status update round trips and acknowledgements)`,
    );
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const m of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
      const t = m.split(' ')[1];
      if (t?.startsWith(work) || t?.startsWith(runtimeBase)) execFileSync('umount', ['-l', t], { stdio: 'ignore' });
    }
    if (cgMode.kind !== 'none') {
      // Every hierarchy: the OCI runtime makes its cgroup path in those the agent sets no limits in too.
      const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .filter((l) => / - cgroup2? /.test(l))
        .map((l) => l.split(' ')[4] as string);
      for (const m of mounts)
        for (const r of [cgRoot, `${cgRoot}-raw`, `${cgRoot}-cl`])
          if (existsSync(join(m, r))) execFileSync('find', [join(m, r), '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';'], { stdio: 'ignore' });
    }
    restoreDynmods();
    for (const dir of [work, runtimeBase]) {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch (e) {
        console.error(`could not remove ${dir}: ${(e as Error).message}`);
      }
    }
    // The cluster's servers and links would keep a failed run alive.
    process.exit();
  });
