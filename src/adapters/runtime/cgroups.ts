import { execFile } from 'node:child_process';
import { existsSync, promises as fs, mkdirSync, readFileSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Per-container cgroups under an agent-owned root, on cgroup v1 (one hierarchy per controller;
 * also the hybrid layout, where the v2 mount at /sys/fs/cgroup/unified is ignored) and cgroup v2
 * (one unified hierarchy; the controllers are enabled in each parent's cgroup.subtree_control).
 *
 *   v1: /sys/fs/cgroup/{cpu,cpuacct,memory,pids}/<root>/<containerId>
 *   v2: /sys/fs/cgroup/<root>/<containerId>
 *
 * Limits: cpu shares (weight on v2) and a CFS quota from the task's cpus, a memory limit from its
 * mem (no swap), a pids limit. A cgroup stays until remove(): the OOM counters are read after the
 * task has exited and before the cgroup is removed.
 */

const CGROUP2_MAGIC = 0x63677270;
const CFS_PERIOD_US = 100_000;
const CFS_QUOTA_MIN_US = 1_000;
const REMOVE_WAIT_MS = 2_000;
const HIERARCHIES_TTL_MS = 60_000;
const V1_CONTROLLERS = ['cpu', 'cpuacct', 'memory', 'pids'] as const;
type V1Controller = (typeof V1_CONTROLLERS)[number];
/** The v2 controllers the agent limits with (each must be in the root's cgroup.controllers). */
const V2_CONTROLLERS = ['cpu', 'memory', 'pids'] as const;

export type CgroupMode =
  /** `unified`: the cgroup2 mount beside the v1 hierarchies on a hybrid machine (not used for limits). */
  { kind: 'v1'; mounts: Record<V1Controller, string>; unified?: string } | { kind: 'v2'; mount: string } | { kind: 'none'; reason: string };

export interface CgroupLimits {
  cpus?: number;
  memBytes?: number;
  pidsMax?: number;
}

export interface CgroupStats {
  cpuUserSeconds?: number;
  cpuSystemSeconds?: number;
  memRssBytes?: number;
  /** v2: memory.current (everything the cgroup is charged for, page cache included). */
  memUsageBytes?: number;
}

/**
 * What detection looks at, for tests that describe a machine instead of using this one: the text
 * of /proc/self/mountinfo and the effective uid. Files (cgroup.controllers) are read under `base`.
 */
export interface CgroupHost {
  mountinfo?: string;
  uid?: number;
}

/**
 * The writes the cgroup filesystem answers as a kernel would (mkdir fills a cgroup with its
 * interface files, rmdir refuses one with processes or children). Reads are plain file reads.
 * Tests pass an emulation over a temporary directory; the default is node:fs on /sys/fs/cgroup.
 */
export interface CgroupFsOps {
  mkdir(path: string): Promise<void>;
  rmdir(path: string): Promise<void>;
  writeFile(path: string, value: string): Promise<void>;
}

const nodeFsOps: CgroupFsOps = {
  mkdir: async (path) => {
    await fs.mkdir(path);
  },
  rmdir: (path) => fs.rmdir(path),
  writeFile: (path, value) => fs.writeFile(path, value),
};

interface MountEntry {
  /** The mounted directory of the filesystem (`/` for a whole cgroup hierarchy). */
  root: string;
  point: string;
  fstype: string;
  superOptions: string[];
}

/** /proc/self/mountinfo lines: `id parent major:minor root point options [tags] - fstype source superopts`. */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const point = left[4];
    if (!point || !right[0]) continue;
    out.push({ root: left[3] ?? '', point: unescapeMount(point), fstype: right[0], superOptions: (right[2] ?? '').split(',') });
  }
  return out;
}

/** mountinfo escapes space, tab, newline and backslash as octal (`\040`). */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/**
 * Which cgroup layout this machine has, and whether this process may manage it:
 * - v2: `base` is a cgroup2 mount whose cgroup.controllers has cpu, memory and pids;
 * - v1: `base` holds v1 hierarchies (one per controller, found in mountinfo); when a cgroup2 is
 *   mounted beside them (hybrid, e.g. /sys/fs/cgroup/unified), it is reported as `unified` and
 *   not used for limits;
 * - none: not root, or a controller the agent needs is missing (with the reason).
 */
export function detectCgroups(base = '/sys/fs/cgroup', host: CgroupHost = {}): CgroupMode {
  const uid = host.uid ?? (typeof process.getuid === 'function' ? process.getuid() : 0);
  if (uid !== 0) return { kind: 'none', reason: 'not running as root' };
  const mounts = parseMountinfo(host.mountinfo ?? readText('/proc/self/mountinfo'));
  // The last mount on a point is the one visible there.
  let type = mounts.filter((m) => m.point === base).at(-1)?.fstype;
  if (type === undefined) {
    try {
      type = statfsSync(base).type === CGROUP2_MAGIC ? 'cgroup2' : 'other';
    } catch (e) {
      return { kind: 'none', reason: `${base}: ${(e as Error).message}` };
    }
  }
  if (type === 'cgroup2') {
    const have = readText(join(base, 'cgroup.controllers')).split(/\s+/);
    const missing = V2_CONTROLLERS.filter((c) => !have.includes(c));
    if (missing.length > 0) return { kind: 'none', reason: `cgroup v2 at ${base} without the controllers ${missing.join(', ')}` };
    return { kind: 'v2', mount: base };
  }
  const byController = new Map<string, string>();
  let unified: string | undefined;
  for (const m of mounts) {
    if (m.root !== '/') continue;
    if (m.fstype === 'cgroup2' && unified === undefined) unified = m.point;
    if (m.fstype !== 'cgroup') continue;
    for (const opt of m.superOptions) if (!byController.has(opt)) byController.set(opt, m.point);
  }
  const found = {} as Record<V1Controller, string>;
  for (const c of V1_CONTROLLERS) {
    const m = byController.get(c);
    if (!m) return { kind: 'none', reason: `no cgroup v1 hierarchy with the ${c} controller` };
    found[c] = m;
  }
  return unified === undefined ? { kind: 'v1', mounts: found } : { kind: 'v1', mounts: found, unified };
}

/**
 * The kernel's `favordynmods` cgroup option (Linux ≥ 6.0; see the kernel's cgroup-v2 admin guide).
 * Moving a process into a cgroup (what every container start does: crun and runc write the
 * container's pid into cgroup.procs on v1, and a process task joins its cgroups the same way)
 * takes a machine-wide lock whose writer waits for an RCU grace period unless another migration
 * happened a few milliseconds before. Measured here (kernel 6.18, 2 vCPUs): 0.02 ms for a
 * migration within 5 ms of the previous one, 6–12 ms once 20 ms have passed, which is every
 * launch of an agent that is not busy. With favordynmods the migration is 0.1–0.3 ms whatever
 * the spacing; the price, as the kernel documents it, is slightly dearer forks and exits.
 *
 * The flag belongs to the cgroup2 root and its effect is global, so it is set on the cgroup2
 * mount (the unified one on a hybrid machine); a machine with v1 hierarchies only has none to
 * set it on. Returns the `mount` argv that turns it on (or off) keeping the mount's other
 * options, or why nothing is to be done.
 */
export function favorDynmodsArgv(on: boolean, mountinfo: string): { argv: string[]; point: string } | { skip: string } {
  const v2 = cgroup2Mount(mountinfo);
  if (!v2) return { skip: 'no cgroup2 mount (favordynmods is an option of the cgroup2 root)' };
  const has = v2.superOptions.includes('favordynmods');
  if (has === on) return { skip: `favordynmods is already ${on ? 'on' : 'off'} at ${v2.point}` };
  const opts = v2.superOptions.filter((o) => o !== '' && o !== 'favordynmods');
  if (on) opts.push('favordynmods');
  // --options-mode ignore: exactly these options (mount(8) would otherwise merge in the ones it
  // reads from the mount table, and favordynmods could never be turned off).
  return { argv: ['-o', `remount,${opts.join(',')}`, '--options-mode', 'ignore', v2.point], point: v2.point };
}

/** The machine's cgroup2 mount (the unified one on a hybrid machine), or undefined on v1 only. */
export function cgroup2Mount(mountinfo: string): MountEntry | undefined {
  return parseMountinfo(mountinfo).find((m) => m.fstype === 'cgroup2' && m.root === '/');
}

/** Turns favordynmods on (or off) on this machine's cgroup2 mount; see favorDynmodsArgv. */
export async function setFavorDynmods(on: boolean): Promise<string> {
  const plan = favorDynmodsArgv(on, readText('/proc/self/mountinfo'));
  if ('skip' in plan) return plan.skip;
  await new Promise<void>((resolve, reject) =>
    execFile('mount', plan.argv, (e, _out, err) => (e ? reject(new Error(`mount ${plan.argv.join(' ')}: ${String(err).trim() || e.message}`)) : resolve())),
  );
  const now = favorDynmodsArgv(on, readText('/proc/self/mountinfo'));
  if (!('skip' in now)) throw new Error(`favordynmods did not change at ${plan.point} (kernel older than 6.0?)`);
  return `favordynmods ${on ? 'on' : 'off'} at ${plan.point}`;
}

/** Mount points of every cgroup hierarchy, v1 and v2 (a hybrid machine has both). */
function allHierarchies(): string[] {
  const out = new Set<string>();
  for (const m of parseMountinfo(readText('/proc/self/mountinfo'))) {
    if ((m.fstype === 'cgroup' || m.fstype === 'cgroup2') && m.root === '/') out.add(m.point);
  }
  return [...out];
}

export class Cgroups {
  /** Mount points of every hierarchy (v1), re-read at most once a minute: removal looks in each. */
  private hierarchies: { mounts: string[]; readAtMs: number } | undefined;

  constructor(
    readonly mode: Exclude<CgroupMode, { kind: 'none' }>,
    /** The agent's own cgroup, relative to each hierarchy's root (e.g. 'dcos-ts'). */
    readonly root = 'dcos-ts',
    private readonly ops: CgroupFsOps = nodeFsOps,
  ) {
    if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(root)) throw new Error(`bad cgroups root '${root}'`);
  }

  /** The container's directories, one per hierarchy (one on v2). */
  dirs(containerId: string): string[] {
    if (this.mode.kind === 'v2') return [join(this.mode.mount, this.root, containerId)];
    return [...new Set(V1_CONTROLLERS.map((c) => join(this.mode.kind === 'v1' ? this.mode.mounts[c] : '', this.root, containerId)))];
  }

  /** The cgroup path of the container relative to each hierarchy's root (an OCI cgroupsPath). */
  relativePath(containerId: string): string {
    return `/${this.root}/${containerId}`;
  }

  /** Creates the container's cgroups with their limits; returns the directories to join. */
  async create(containerId: string, limits: CgroupLimits): Promise<string[]> {
    if (this.mode.kind === 'v2') {
      const parent = await this.enableV2Controllers();
      const dir = join(parent, containerId);
      // The container's own cgroup enables nothing below itself: a process task joins it, and v2
      // allows processes only in cgroups that do not delegate controllers (an OCI runtime's leaf
      // below it is enabled by the runtime, with nobody in between).
      await this.mkdirV2(dir);
      try {
        for (const [file, value] of Object.entries(v2LimitFiles(limits))) {
          if (file === 'memory.swap.max' && !existsSync(join(dir, file))) continue; // no swap accounting on this kernel
          await this.write(dir, file, value);
        }
      } catch (e) {
        await this.ops.rmdir(dir).catch(() => {});
        throw e;
      }
      return [dir];
    }
    const m = this.mode.mounts;
    // Synchronous: a handful of mkdirs and short writes on the cgroup filesystem, each a few
    // microseconds in the kernel, against 0.1-0.4 ms per round trip through libuv's thread pool
    // (on the launch path of every container; at concurrency 8 they queued behind the other
    // launches' file operations for 2.4 ms).
    const dirs = this.dirs(containerId);
    for (const d of dirs) mkdirSync(d, { recursive: true });
    const cpu = join(m.cpu, this.root, containerId);
    const mem = join(m.memory, this.root, containerId);
    const pids = join(m.pids, this.root, containerId);
    if (limits.cpus !== undefined && limits.cpus > 0) {
      const cpus = limits.cpus;
      writeSync(cpu, 'cpu.shares', String(cpuShares(cpus)));
      // The period before the quota: a quota is checked against the period in force.
      writeSync(cpu, 'cpu.cfs_period_us', String(CFS_PERIOD_US));
      writeSync(cpu, 'cpu.cfs_quota_us', String(cfsQuotaUs(cpus)));
    }
    if (limits.memBytes !== undefined && limits.memBytes > 0) {
      writeSync(mem, 'memory.limit_in_bytes', String(limits.memBytes));
      // No swap: a task over its limit is OOM-killed rather than swapped out.
      try {
        writeSync(mem, 'memory.swappiness', '0');
      } catch {
        // not on every kernel
      }
    }
    if (limits.pidsMax !== undefined) writeSync(pids, 'pids.max', String(limits.pidsMax));
    return dirs;
  }

  /**
   * Whether the kernel's OOM killer killed a process of this container (its cgroup or one below,
   * such as an OCI runtime's leaf). `exitedBySigkill` lets v1 count a hit memory limit (failcnt)
   * on the agent's own cgroup when the leaf that held the counter is already gone.
   */
  async oomKilled(containerId: string, exitedBySigkill = false): Promise<boolean> {
    if (this.mode.kind === 'v2') {
      const dir = join(this.mode.mount, this.root, containerId);
      return field(await readAsync(join(dir, 'memory.events')), 'oom_kill') > 0;
    }
    const dir = join(this.mode.mounts.memory, this.root, containerId);
    for (const d of await subtree(dir)) if (field(await readAsync(join(d, 'memory.oom_control')), 'oom_kill') > 0) return true;
    return exitedBySigkill && Number((await readAsync(join(dir, 'memory.failcnt'))).trim() || '0') > 0;
  }

  async stats(containerId: string): Promise<CgroupStats | undefined> {
    try {
      if (this.mode.kind === 'v2') {
        const dir = join(this.mode.mount, this.root, containerId);
        const cpu = await fs.readFile(join(dir, 'cpu.stat'), 'utf8');
        const current = Number((await fs.readFile(join(dir, 'memory.current'), 'utf8')).trim());
        const mem = await readAsync(join(dir, 'memory.stat'));
        return {
          cpuUserSeconds: field(cpu, 'user_usec') / 1e6,
          cpuSystemSeconds: field(cpu, 'system_usec') / 1e6,
          // RSS is the anonymous memory; without memory.stat, what the cgroup is charged for.
          memRssBytes: mem ? field(mem, 'anon') : current,
          ...(Number.isFinite(current) ? { memUsageBytes: current } : {}),
        };
      }
      const hz = 100; // USER_HZ
      const cpu = await fs.readFile(join(this.mode.mounts.cpuacct, this.root, containerId, 'cpuacct.stat'), 'utf8');
      const mem = await fs.readFile(join(this.mode.mounts.memory, this.root, containerId, 'memory.stat'), 'utf8');
      return { cpuUserSeconds: field(cpu, 'user') / hz, cpuSystemSeconds: field(cpu, 'system') / hz, memRssBytes: field(mem, 'total_rss') };
    } catch {
      return undefined;
    }
  }

  /** Kills whatever is left in the container's cgroups and removes them (quiet when missing). */
  async remove(containerId: string): Promise<void> {
    // On v1 an OCI runtime also makes <root>/<id>/ctr in the hierarchies the agent does not
    // limit (blkio, devices, freezer, cpuset, name=systemd, and runc the hybrid v2 mount) and
    // removes only its leaf: the parents there are the agent's to remove too.
    if (this.mode.kind === 'v1' && (!this.hierarchies || Date.now() - this.hierarchies.readAtMs > HIERARCHIES_TTL_MS))
      this.hierarchies = { mounts: allHierarchies(), readAtMs: Date.now() };
    const others = this.mode.kind === 'v1' ? (this.hierarchies?.mounts ?? []).map((m) => join(m, this.root, containerId)) : [];
    const candidates = [...new Set([...this.dirs(containerId), ...others])];
    // Usually each is an empty leaf by now (the task and the runtime's own leaf are gone): one
    // rmdir per hierarchy, side by side; only what that leaves goes through the walk below.
    const left = (
      await Promise.all(
        candidates.map((d) =>
          fs.rmdir(d).then(
            () => undefined,
            (e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : d),
          ),
        ),
      )
    ).filter((d): d is string => d !== undefined);
    for (const dir of left) {
      if (!existsSync(dir)) continue;
      const all = (await subtree(dir)).reverse(); // leaves first
      const deadline = Date.now() + REMOVE_WAIT_MS;
      for (const d of all) {
        for (;;) {
          const pids = (await readAsync(join(d, 'cgroup.procs'))).split('\n').filter(Boolean);
          let alive = 0;
          for (const p of pids) {
            try {
              process.kill(Number(p), 'SIGKILL');
              alive++;
            } catch {
              // gone
            }
          }
          if (alive === 0 || Date.now() > deadline) break;
          await new Promise((r) => setTimeout(r, 10));
        }
        await this.ops.rmdir(d).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'ENOENT') throw new Error(`cannot remove cgroup ${d}: ${e.message}`);
        });
      }
    }
  }

  /** The limits written in the container's cgroup files (for tests and /monitor/statistics). */
  readLimits(containerId: string): { cpuShares?: number; cpuWeight?: number; cfsQuotaUs?: number; memBytes?: number; pidsMax?: string } {
    if (this.mode.kind === 'v2') {
      const dir = join(this.mode.mount, this.root, containerId);
      const [quota] = readText(join(dir, 'cpu.max')).split(' ');
      const weight = Number(readText(join(dir, 'cpu.weight')));
      return {
        ...(weight > 0 ? { cpuWeight: weight } : {}),
        ...(quota && quota !== 'max' ? { cfsQuotaUs: Number(quota) } : {}),
        memBytes: Number(readText(join(dir, 'memory.max'))),
        pidsMax: readText(join(dir, 'pids.max')),
      };
    }
    const m = this.mode.mounts;
    return {
      cpuShares: Number(readText(join(m.cpu, this.root, containerId, 'cpu.shares'))),
      cfsQuotaUs: Number(readText(join(m.cpu, this.root, containerId, 'cpu.cfs_quota_us'))),
      memBytes: Number(readText(join(m.memory, this.root, containerId, 'memory.limit_in_bytes'))),
      pidsMax: readText(join(m.pids, this.root, containerId, 'pids.max')),
    };
  }

  /**
   * v2: makes the agent's cgroup (each level of `root`) with cpu, memory and pids enabled in the
   * cgroup.subtree_control of every cgroup on the way down, so its containers get those
   * controllers. Returns the agent's cgroup. Controllers already enabled are not written again.
   */
  private async enableV2Controllers(): Promise<string> {
    if (this.mode.kind !== 'v2') throw new Error('not cgroup v2');
    let dir = this.mode.mount;
    const parts = this.root.split('/');
    for (let i = 0; ; i++) {
      const available = readText(join(dir, 'cgroup.controllers')).split(/\s+/);
      const missing = V2_CONTROLLERS.filter((c) => !available.includes(c));
      if (missing.length > 0)
        throw new Error(`cgroup v2: ${dir} does not offer the controllers ${missing.join(', ')} (cgroup.controllers: '${available.join(' ')}')`);
      const enabled = readText(join(dir, 'cgroup.subtree_control')).split(/\s+/);
      const toEnable = V2_CONTROLLERS.filter((c) => !enabled.includes(c));
      if (toEnable.length > 0) {
        const value = toEnable.map((c) => `+${c}`).join(' ');
        try {
          await this.ops.writeFile(join(dir, 'cgroup.subtree_control'), value);
        } catch (e) {
          const busy = (e as NodeJS.ErrnoException).code === 'EBUSY';
          throw new Error(
            `cannot enable ${value} in ${join(dir, 'cgroup.subtree_control')}: ${(e as Error).message}${
              busy ? ' (cgroup v2 lets only cgroups without processes of their own delegate controllers: run the agent in a leaf cgroup)' : ''
            }`,
          );
        }
      }
      const part = parts[i];
      if (part === undefined) return dir;
      dir = join(dir, part);
      await this.mkdirV2(dir);
    }
  }

  private async mkdirV2(dir: string): Promise<void> {
    try {
      await this.ops.mkdir(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`cannot create cgroup ${dir}: ${(e as Error).message}`);
    }
  }

  private async write(dir: string, file: string, value: string): Promise<void> {
    try {
      await this.ops.writeFile(join(dir, file), value);
    } catch (e) {
      throw new Error(`cannot write ${value} to ${join(dir, file)}: ${(e as Error).message}`);
    }
  }
}

/**
 * The v2 interface files and values for a container's limits: cpu.weight from the Mesos shares
 * (the kernel's scale, 1024 shares = weight 100), cpu.max `quota period`, memory.max with no swap,
 * pids.max. Also what an OCI bundle gets as `linux.resources.unified` on v2.
 */
export function v2LimitFiles(limits: CgroupLimits): Record<string, string> {
  const out: Record<string, string> = {};
  if (limits.cpus !== undefined && limits.cpus > 0) {
    out['cpu.weight'] = String(sharesToWeight(cpuShares(limits.cpus)));
    out['cpu.max'] = `${cfsQuotaUs(limits.cpus)} ${CFS_PERIOD_US}`;
  }
  if (limits.memBytes !== undefined && limits.memBytes > 0) {
    out['memory.max'] = String(limits.memBytes);
    // No swap: a task over its limit is OOM-killed rather than swapped out.
    out['memory.swap.max'] = '0';
  }
  if (limits.pidsMax !== undefined) out['pids.max'] = String(limits.pidsMax);
  return out;
}

/** Mesos: cpu.shares = 1024 per cpu, at least 2. */
export function cpuShares(cpus: number): number {
  return Math.max(2, Math.round(cpus * 1024));
}

export function cfsQuotaUs(cpus: number): number {
  return Math.max(CFS_QUOTA_MIN_US, Math.round(cpus * CFS_PERIOD_US));
}

/**
 * v1 cpu.shares → v2 cpu.weight on the kernel's own scale: the scheduler takes weight w as
 * w × 1024 / 100 (kernel/sched/core.c, rounded to the closest), so 1024 shares, the v1 default
 * and one Mesos cpu, is weight 100, the v2 default; clamped to [1, 10000]. systemd converts the
 * same way (truncating). Not the linear range mapping of runc < 1.3 and crun < 1.23 (1024 → 39),
 * which would give a one-cpu task 39% of the default weight of its sibling cgroups.
 */
export function sharesToWeight(shares: number): number {
  return Math.min(10_000, Math.max(1, Math.round((shares * 100) / 1024)));
}

function writeSync(dir: string, file: string, value: string): void {
  try {
    writeFileSync(join(dir, file), value);
  } catch (e) {
    throw new Error(`cannot write ${value} to ${join(dir, file)}: ${(e as Error).message}`);
  }
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

async function readAsync(path: string): Promise<string> {
  try {
    return await fs.readFile(path, 'utf8');
  } catch {
    return '';
  }
}

/** `key value` lines (memory.events, cpu.stat, memory.oom_control). */
function field(text: string, key: string): number {
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k === key) return Number(v) || 0;
  }
  return 0;
}

/** The directory and every cgroup below it, parents first. */
async function subtree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, depth: number): Promise<void> => {
    if (depth > 8) return;
    out.push(d);
    let entries: import('node:fs').Dirent[];
    try {
      entries = await fs.readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) await walk(join(d, e.name), depth + 1);
  };
  if (existsSync(dir)) await walk(dir, 0);
  return out;
}
