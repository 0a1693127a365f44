import { existsSync, promises as fs, readFileSync, statfsSync } from 'node:fs';
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

export type CgroupMode = { kind: 'v1'; mounts: Record<V1Controller, string> } | { kind: 'v2'; mount: string } | { kind: 'none'; reason: string };

export interface CgroupLimits {
  cpus?: number;
  memBytes?: number;
  pidsMax?: number;
}

export interface CgroupStats {
  cpuUserSeconds?: number;
  cpuSystemSeconds?: number;
  memRssBytes?: number;
}

/** Which cgroup layout this machine has, and whether this process may manage it. */
export function detectCgroups(base = '/sys/fs/cgroup'): CgroupMode {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return { kind: 'none', reason: 'not running as root' };
  let type: number;
  try {
    type = statfsSync(base).type;
  } catch (e) {
    return { kind: 'none', reason: `${base}: ${(e as Error).message}` };
  }
  if (type === CGROUP2_MAGIC) {
    const have = readText(join(base, 'cgroup.controllers')).split(/\s+/);
    const missing = ['cpu', 'memory', 'pids'].filter((c) => !have.includes(c));
    if (missing.length > 0) return { kind: 'none', reason: `cgroup v2 without the controllers ${missing.join(', ')}` };
    return { kind: 'v2', mount: base };
  }
  const mounts = {} as Record<V1Controller, string>;
  const found = v1Mounts();
  for (const c of V1_CONTROLLERS) {
    const m = found.get(c);
    if (!m) return { kind: 'none', reason: `no cgroup v1 hierarchy with the ${c} controller` };
    mounts[c] = m;
  }
  return { kind: 'v1', mounts };
}

/** Mount points of the v1 hierarchies by controller, from /proc/self/mountinfo. */
function v1Mounts(): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of readText('/proc/self/mountinfo').split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    if (right[0] !== 'cgroup' || left[3] !== '/') continue;
    const mountPoint = left[4] ?? '';
    for (const opt of (right[2] ?? '').split(',')) if (!out.has(opt)) out.set(opt, mountPoint);
  }
  return out;
}

/** Mount points of every cgroup hierarchy, v1 and v2 (a hybrid machine has both). */
function allHierarchies(): string[] {
  const out = new Set<string>();
  for (const line of readText('/proc/self/mountinfo').split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const type = line.slice(sep + 3).split(' ')[0];
    if ((type === 'cgroup' || type === 'cgroup2') && left[3] === '/' && left[4]) out.add(left[4]);
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
      await this.enableV2Controllers();
      const dir = join(this.mode.mount, this.root, containerId);
      await fs.mkdir(dir, { recursive: true });
      if (limits.cpus !== undefined && limits.cpus > 0) {
        await write(dir, 'cpu.weight', String(sharesToWeight(cpuShares(limits.cpus))));
        await write(dir, 'cpu.max', `${cfsQuotaUs(limits.cpus)} ${CFS_PERIOD_US}`);
      }
      if (limits.memBytes !== undefined && limits.memBytes > 0) {
        await write(dir, 'memory.max', String(limits.memBytes));
        if (existsSync(join(dir, 'memory.swap.max'))) await write(dir, 'memory.swap.max', '0');
      }
      if (limits.pidsMax !== undefined) await write(dir, 'pids.max', String(limits.pidsMax));
      return [dir];
    }
    const m = this.mode.mounts;
    // The hierarchies are independent: their directories and limits are written side by side
    // (one round trip through the thread pool per step instead of one per file).
    const dirs = this.dirs(containerId);
    await Promise.all(dirs.map((d) => fs.mkdir(d, { recursive: true })));
    const cpu = join(m.cpu, this.root, containerId);
    const mem = join(m.memory, this.root, containerId);
    const pids = join(m.pids, this.root, containerId);
    const writes: Promise<void>[] = [];
    if (limits.cpus !== undefined && limits.cpus > 0) {
      const cpus = limits.cpus;
      writes.push(write(cpu, 'cpu.shares', String(cpuShares(cpus))));
      // The period before the quota: a quota is checked against the period in force.
      writes.push(write(cpu, 'cpu.cfs_period_us', String(CFS_PERIOD_US)).then(() => write(cpu, 'cpu.cfs_quota_us', String(cfsQuotaUs(cpus)))));
    }
    if (limits.memBytes !== undefined && limits.memBytes > 0) {
      writes.push(write(mem, 'memory.limit_in_bytes', String(limits.memBytes)));
      // No swap: a task over its limit is OOM-killed rather than swapped out.
      writes.push(write(mem, 'memory.swappiness', '0').catch(() => {}));
    }
    if (limits.pidsMax !== undefined) writes.push(write(pids, 'pids.max', String(limits.pidsMax)));
    const failed = (await Promise.allSettled(writes)).find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
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
        const mem = await fs.readFile(join(dir, 'memory.stat'), 'utf8');
        return { cpuUserSeconds: field(cpu, 'user_usec') / 1e6, cpuSystemSeconds: field(cpu, 'system_usec') / 1e6, memRssBytes: field(mem, 'anon') };
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
          if (pids.length === 0) break;
          for (const p of pids) {
            try {
              process.kill(Number(p), 'SIGKILL');
            } catch {
              // gone
            }
          }
          if (Date.now() > deadline) break;
          await new Promise((r) => setTimeout(r, 10));
        }
        await fs.rmdir(d).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'ENOENT') throw new Error(`cannot remove cgroup ${d}: ${e.message}`);
        });
      }
    }
  }

  /** The limits written in the container's cgroup files (for tests and /monitor/statistics). */
  readLimits(containerId: string): { cpuShares?: number; cfsQuotaUs?: number; memBytes?: number; pidsMax?: string } {
    if (this.mode.kind === 'v2') {
      const dir = join(this.mode.mount, this.root, containerId);
      const [quota] = readText(join(dir, 'cpu.max')).split(' ');
      return {
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

  private async enableV2Controllers(): Promise<void> {
    if (this.mode.kind !== 'v2') return;
    let dir = this.mode.mount;
    for (const part of this.root.split('/')) {
      await write(dir, 'cgroup.subtree_control', '+cpu +memory +pids');
      dir = join(dir, part);
      await fs.mkdir(dir, { recursive: true });
    }
    await write(dir, 'cgroup.subtree_control', '+cpu +memory +pids');
  }
}

/** Mesos: cpu.shares = 1024 per cpu, at least 2. */
export function cpuShares(cpus: number): number {
  return Math.max(2, Math.round(cpus * 1024));
}

export function cfsQuotaUs(cpus: number): number {
  return Math.max(CFS_QUOTA_MIN_US, Math.round(cpus * CFS_PERIOD_US));
}

/** The kernel's (and runc's) mapping from v1 shares [2, 262144] to v2 weight [1, 10000]. */
function sharesToWeight(shares: number): number {
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

async function write(dir: string, file: string, value: string): Promise<void> {
  try {
    await fs.writeFile(join(dir, file), value);
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
