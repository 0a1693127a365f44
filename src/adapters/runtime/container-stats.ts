import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { ContainerStatsSource, ResourceStatistics, StatsTarget } from '../../ports/exec.js';
import type { Cgroups } from './cgroups.js';

/**
 * Real figures for /monitor/statistics and GET_CONTAINERS, read where the kernel keeps them:
 *
 * - cgroup v1: cpuacct.stat (USER_HZ ticks), memory.stat total_rss / total_cache,
 *   memory.limit_in_bytes, and the pids hierarchy's cgroup.procs / tasks over the whole subtree
 *   (an OCI task's processes sit in the `ctr` leaf below the agent's cgroup).
 * - cgroup v2: cpu.stat (µs), memory.stat anon / file, memory.max, cgroup.procs / cgroup.threads.
 * - without cgroups: /proc/<pid>/stat and statm of the task's main process.
 * - disk_used_bytes: the sandbox's allocated blocks (du), walked with a bound on entries.
 */

const USER_HZ = 100;
const PAGE_BYTES = 4096;
const DISK_WALK_MAX_ENTRIES = 100_000;
const CGROUP_WALK_MAX_DEPTH = 8;
/** v1 reports "no limit" as a huge page-aligned number. */
const V1_UNLIMITED = 2 ** 62;

export class CgroupStatsSource implements ContainerStatsSource {
  constructor(private readonly cgroups: Cgroups | undefined) {}

  async stats(target: StatsTarget): Promise<Partial<ResourceStatistics>> {
    const out: Partial<ResourceStatistics> = {};
    const cg = this.cgroups;
    if (cg) Object.assign(out, await cgroupFigures(cg, target.containerId));
    else if (target.pid !== undefined) Object.assign(out, await procFigures(target.pid));
    const disk = await diskUsage(target.sandboxDir);
    if (disk !== undefined) out.disk_used_bytes = disk;
    return out;
  }
}

async function cgroupFigures(cg: Cgroups, containerId: string): Promise<Partial<ResourceStatistics>> {
  const out: Partial<ResourceStatistics> = {};
  if (cg.mode.kind === 'v2') {
    const dir = join(cg.mode.mount, cg.root, containerId);
    const cpu = await read(join(dir, 'cpu.stat'));
    if (cpu !== undefined) {
      out.cpus_user_time_secs = field(cpu, 'user_usec') / 1e6;
      out.cpus_system_time_secs = field(cpu, 'system_usec') / 1e6;
    }
    const mem = await read(join(dir, 'memory.stat'));
    if (mem !== undefined) {
      out.mem_rss_bytes = field(mem, 'anon');
      out.mem_total_bytes = field(mem, 'anon') + field(mem, 'file');
    }
    const max = (await read(join(dir, 'memory.max')))?.trim();
    if (max && max !== 'max') out.mem_limit_bytes = Number(max);
    const counts = await countTree(dir, 'cgroup.procs', 'cgroup.threads');
    if (counts) [out.processes, out.threads] = counts;
    return out;
  }
  const m = cg.mode.mounts;
  const cpu = await read(join(m.cpuacct, cg.root, containerId, 'cpuacct.stat'));
  if (cpu !== undefined) {
    out.cpus_user_time_secs = field(cpu, 'user') / USER_HZ;
    out.cpus_system_time_secs = field(cpu, 'system') / USER_HZ;
  }
  const mem = await read(join(m.memory, cg.root, containerId, 'memory.stat'));
  if (mem !== undefined) {
    out.mem_rss_bytes = field(mem, 'total_rss');
    out.mem_total_bytes = field(mem, 'total_rss') + field(mem, 'total_cache');
  }
  const limit = Number((await read(join(m.memory, cg.root, containerId, 'memory.limit_in_bytes')))?.trim());
  if (Number.isFinite(limit) && limit > 0 && limit < V1_UNLIMITED) out.mem_limit_bytes = limit;
  const counts = await countTree(join(m.pids, cg.root, containerId), 'cgroup.procs', 'tasks');
  if (counts) [out.processes, out.threads] = counts;
  return out;
}

/** Processes and threads in a cgroup and every cgroup below it. */
async function countTree(dir: string, procsFile: string, threadsFile: string): Promise<[number, number] | undefined> {
  let procs = 0;
  let threads = 0;
  let found = false;
  const walk = async (d: string, depth: number): Promise<void> => {
    const p = await read(join(d, procsFile));
    if (p === undefined) return;
    found = true;
    procs += lines(p);
    threads += lines((await read(join(d, threadsFile))) ?? '');
    if (depth >= CGROUP_WALK_MAX_DEPTH) return;
    for (const e of await fs.readdir(d, { withFileTypes: true }).catch(() => [])) if (e.isDirectory()) await walk(join(d, e.name), depth + 1);
  };
  await walk(dir, 0);
  return found ? [procs, threads] : undefined;
}

async function procFigures(pid: number): Promise<Partial<ResourceStatistics>> {
  const stat = await read(`/proc/${pid}/stat`);
  const statm = await read(`/proc/${pid}/statm`);
  if (stat === undefined || statm === undefined) return {};
  const f = stat
    .slice(stat.lastIndexOf(')') + 2)
    .trim()
    .split(/\s+/);
  return {
    cpus_user_time_secs: Number(f[11]) / USER_HZ,
    cpus_system_time_secs: Number(f[12]) / USER_HZ,
    mem_rss_bytes: Number(statm.trim().split(/\s+/)[1]) * PAGE_BYTES,
    processes: 1,
    threads: Number(f[17]) || 1,
  };
}

/** Allocated bytes under a directory (like `du -s --block-size=1`), hard links counted once. */
export async function diskUsage(dir: string): Promise<number | undefined> {
  let total = 0;
  let entries = 0;
  const seen = new Set<string>();
  const walk = async (d: string): Promise<void> => {
    let names: string[];
    try {
      names = await fs.readdir(d);
    } catch {
      return;
    }
    for (const n of names) {
      if (++entries > DISK_WALK_MAX_ENTRIES) return;
      const p = join(d, n);
      let st: Awaited<ReturnType<typeof fs.lstat>>;
      try {
        st = await fs.lstat(p);
      } catch {
        continue;
      }
      const key = `${st.dev}:${st.ino}`;
      if (st.nlink > 1 && seen.has(key)) continue;
      if (st.nlink > 1) seen.add(key);
      total += st.blocks * 512;
      if (st.isDirectory()) await walk(p);
    }
  };
  try {
    await fs.access(dir);
  } catch {
    return undefined;
  }
  await walk(dir);
  return total;
}

async function read(path: string): Promise<string | undefined> {
  try {
    return await fs.readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

function field(text: string, name: string): number {
  for (const line of text.split('\n')) {
    const [k, v] = line.split(' ');
    if (k === name) return Number(v) || 0;
  }
  return 0;
}

function lines(text: string): number {
  return text.split('\n').filter((l) => l.trim() !== '').length;
}
