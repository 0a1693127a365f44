/**
 * cgroup v2 without a v2 machine: this one is hybrid v1, so the v2 code runs here against a
 * temporary directory laid out as a cgroup2 filesystem, with a small emulation of what the kernel
 * does on mkdir, rmdir and writes (interface files per enabled controller, the subtree_control
 * and no-internal-process rules, value checks). Detection is tested from mountinfo texts.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { type CgroupFsOps, Cgroups, cpuShares, detectCgroups, sharesToWeight, v2LimitFiles } from './cgroups.js';
import { CgroupStatsSource } from './container-stats.js';
import { ociConfig } from './oci.js';

const tmp = mkdtempSync(join(tmpdir(), 'dcos-cgroup2-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

const errno = (code: string, what: string) => Object.assign(new Error(`${code}: ${what}`), { code });
const read = (p: string) => readFileSync(p, 'utf8').trim();
const words = (p: string) => read(p).split(/\s+/).filter(Boolean);
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** A cgroup2 filesystem in a directory, answering mkdir, rmdir and writes as the kernel would. */
class FakeCgroup2 implements CgroupFsOps {
  subtreeWrites = 0;
  constructor(
    readonly root: string,
    controllers = 'cpuset cpu io memory hugetlb pids rdma misc',
  ) {
    mkdirSync(root, { recursive: true });
    this.populate(root, controllers.split(' '));
  }

  private populate(dir: string, controllers: string[]): void {
    const isRoot = dir === this.root;
    const files: Record<string, string> = {
      'cgroup.controllers': controllers.join(' '),
      'cgroup.subtree_control': '',
      'cgroup.procs': '',
      'cgroup.threads': '',
      'cpu.stat': 'usage_usec 0\nuser_usec 0\nsystem_usec 0\n',
    };
    if (!isRoot && controllers.includes('cpu')) Object.assign(files, { 'cpu.weight': '100', 'cpu.max': 'max 100000' });
    if (!isRoot && controllers.includes('memory'))
      Object.assign(files, {
        'memory.max': 'max',
        'memory.swap.max': 'max',
        'memory.current': '0',
        'memory.events': 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n',
        'memory.stat': 'anon 0\nfile 0\n',
      });
    if (!isRoot && controllers.includes('pids')) Object.assign(files, { 'pids.max': 'max', 'pids.current': '0' });
    // A controller enabled later adds its files; those already there keep their values.
    for (const [f, v] of Object.entries(files)) if (f === 'cgroup.controllers' || !existsSync(join(dir, f))) writeFileSync(join(dir, f), v ? `${v}\n` : '');
  }

  async mkdir(path: string): Promise<void> {
    if (!existsSync(join(dirname(path), 'cgroup.controllers'))) throw errno('ENOENT', path);
    if (existsSync(path)) throw errno('EEXIST', path);
    mkdirSync(path);
    this.populate(path, words(join(dirname(path), 'cgroup.subtree_control')));
  }

  async rmdir(path: string): Promise<void> {
    if (!existsSync(path)) throw errno('ENOENT', path);
    if (readdirSync(path, { withFileTypes: true }).some((e) => e.isDirectory())) throw errno('EBUSY', `${path} has child cgroups`);
    if (words(join(path, 'cgroup.procs')).some((p) => alive(Number(p)))) throw errno('EBUSY', `${path} has processes`);
    rmSync(path, { recursive: true });
  }

  async writeFile(path: string, value: string): Promise<void> {
    const dir = dirname(path);
    const name = basename(path);
    if (!existsSync(path)) throw errno('ENOENT', path); // cgroupfs has no file creation
    const isRoot = dir === this.root;
    const int = (v: string, lo: number, hi: number) => /^\d+$/.test(v) && Number(v) >= lo && Number(v) <= hi;
    const v = value.trim();
    switch (name) {
      case 'cgroup.subtree_control': {
        this.subtreeWrites++;
        const available = words(join(dir, 'cgroup.controllers'));
        const on = new Set(words(path));
        for (const tok of v.split(/\s+/)) {
          const c = tok.slice(1);
          if (!/^[+-]/.test(tok) || !available.includes(c)) throw errno('ENOENT', `controller '${tok}' in ${path}`);
          if (tok[0] === '+') on.add(c);
          else on.delete(c);
        }
        if (!isRoot && on.size > 0 && words(join(dir, 'cgroup.procs')).length > 0) throw errno('EBUSY', `${dir} has processes`);
        writeFileSync(path, `${[...on].join(' ')}\n`);
        // Children offer what their parent enables (cgroup.controllers follows subtree_control).
        for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) this.populate(join(dir, e.name), [...on]);
        return;
      }
      case 'cgroup.procs':
        if (!isRoot && words(join(dir, 'cgroup.subtree_control')).length > 0) throw errno('EBUSY', `${dir} delegates controllers`);
        writeFileSync(path, `${[...words(path), v].join('\n')}\n`);
        return;
      case 'cpu.weight':
        if (!int(v, 1, 10_000)) throw errno('ERANGE', `${v} for ${path}`);
        break;
      case 'cpu.max': {
        const m = /^(max|\d+)(?: (\d+))?$/.exec(v);
        if (!m || (m[1] !== 'max' && Number(m[1]) < 1000) || (m[2] !== undefined && !int(m[2], 1000, 1_000_000))) throw errno('EINVAL', `${v} for ${path}`);
        writeFileSync(path, `${m[1]} ${m[2] ?? words(path)[1]}\n`);
        return;
      }
      case 'memory.max':
      case 'memory.swap.max':
        if (v !== 'max' && !/^\d+$/.test(v)) throw errno('EINVAL', `${v} for ${path}`);
        // The kernel keeps whole pages.
        writeFileSync(path, `${v === 'max' ? v : Math.floor(Number(v) / 4096) * 4096}\n`);
        return;
      case 'pids.max':
        if (v !== 'max' && !/^\d+$/.test(v)) throw errno('EINVAL', `${v} for ${path}`);
        break;
      default:
        throw errno('EACCES', `${path} is read-only`);
    }
    writeFileSync(path, `${v}\n`);
  }
}

/** A mountinfo line of a mount at `point`. */
const mnt = (id: number, point: string, fstype: string, superOpts: string, root = '/') =>
  `${id} 1 0:${id} ${root} ${point} rw,nosuid,nodev,noexec,relatime shared:${id} - ${fstype} ${fstype === 'tmpfs' ? 'tmpfs' : 'cgroup'} ${superOpts}`;

describe('cgroup detection from the mount table', () => {
  const base = join(tmp, 'detect');
  mkdirSync(base, { recursive: true });
  const v1Lines = [
    mnt(20, '/', 'ext4', 'rw'),
    mnt(21, base, 'tmpfs', 'ro,mode=755'),
    mnt(22, join(base, 'cpu,cpuacct'), 'cgroup', 'rw,cpu,cpuacct'),
    mnt(23, join(base, 'memory'), 'cgroup', 'rw,memory'),
    mnt(24, join(base, 'pids'), 'cgroup', 'rw,pids'),
    mnt(25, join(base, 'systemd'), 'cgroup', 'rw,xattr,name=systemd'),
  ];

  test('v2: the base is a cgroup2 mount offering cpu, memory and pids', () => {
    writeFileSync(join(base, 'cgroup.controllers'), 'cpuset cpu io memory pids\n');
    const mountinfo = [mnt(20, '/', 'ext4', 'rw'), mnt(30, base, 'cgroup2', 'rw,nsdelegate,memory_recursiveprot')].join('\n');
    assert.deepEqual(detectCgroups(base, { mountinfo, uid: 0 }), { kind: 'v2', mount: base });
    writeFileSync(join(base, 'cgroup.controllers'), 'cpuset cpu io memory\n');
    const none = detectCgroups(base, { mountinfo, uid: 0 });
    assert.equal(none.kind, 'none');
    assert.match(none.kind === 'none' ? none.reason : '', /cgroup v2 at .* without the controllers pids/);
  });

  test('v1: one hierarchy per controller (co-mounted cpu,cpuacct), found by the options of each cgroup mount', () => {
    const mode = detectCgroups(base, { mountinfo: v1Lines.join('\n'), uid: 0 });
    assert.deepEqual(mode, {
      kind: 'v1',
      mounts: { cpu: join(base, 'cpu,cpuacct'), cpuacct: join(base, 'cpu,cpuacct'), memory: join(base, 'memory'), pids: join(base, 'pids') },
    });
  });

  test('hybrid: v1 hierarchies plus a cgroup2 at unified, which is reported and not used for limits', () => {
    const mode = detectCgroups(base, { mountinfo: [...v1Lines, mnt(26, join(base, 'unified'), 'cgroup2', 'rw,nsdelegate')].join('\n'), uid: 0 });
    assert.equal(mode.kind, 'v1');
    assert.equal(mode.kind === 'v1' && mode.unified, join(base, 'unified'));
    assert.equal(mode.kind === 'v1' && mode.mounts.memory, join(base, 'memory'));
  });

  test('none: not root, a missing v1 controller, a hierarchy mounted from a sub-cgroup only', () => {
    assert.deepEqual(detectCgroups(base, { mountinfo: v1Lines.join('\n'), uid: 1000 }), { kind: 'none', reason: 'not running as root' });
    const noPids = v1Lines.filter((l) => !l.includes('rw,pids'));
    assert.deepEqual(detectCgroups(base, { mountinfo: noPids.join('\n'), uid: 0 }), {
      kind: 'none',
      reason: 'no cgroup v1 hierarchy with the pids controller',
    });
    const subPids = [...noPids, mnt(24, join(base, 'pids'), 'cgroup', 'rw,pids', '/docker/abc')];
    assert.equal(detectCgroups(base, { mountinfo: subPids.join('\n'), uid: 0 }).kind, 'none');
  });

  test('this machine: what /proc/self/mountinfo says about /sys/fs/cgroup', { skip: process.getuid?.() !== 0 && 'not root' }, () => {
    const mode = detectCgroups();
    const info = readFileSync('/proc/self/mountinfo', 'utf8');
    const atBase = info.split('\n').filter((l) => l.split(' ')[4] === '/sys/fs/cgroup');
    if (atBase.at(-1)?.includes(' - cgroup2 ')) assert.equal(mode.kind, 'v2');
    else if (info.includes(' /sys/fs/cgroup/unified ')) assert.equal(mode.kind === 'v1' && mode.unified, '/sys/fs/cgroup/unified');
  });
});

describe('cgroup v2 on an emulated cgroup2 filesystem', () => {
  const MiB = 1024 * 1024;

  test('cpu.weight on the kernel scale: 1024 shares (one cpu) is weight 100, clamped to [1, 10000]', () => {
    assert.equal(sharesToWeight(1024), 100);
    assert.equal(sharesToWeight(cpuShares(0.5)), 50);
    assert.equal(sharesToWeight(cpuShares(0.1)), 10); // 102 shares
    assert.equal(sharesToWeight(cpuShares(4)), 400);
    assert.equal(sharesToWeight(2), 1);
    assert.equal(sharesToWeight(262_144), 10_000);
    // Not runc's old linear range mapping, 1 + (1024 - 2) * 9999 / 262142 = 39.
    assert.notEqual(sharesToWeight(1024), 39);
  });

  test('create: controllers enabled in subtree_control on the way down, the limits written, the container itself delegates nothing', async () => {
    const fake = new FakeCgroup2(join(tmp, 'fs1'));
    const cg = new Cgroups({ kind: 'v2', mount: fake.root }, 'dcos-ts/agent1', fake);
    const dirs = await cg.create('c1', { cpus: 0.5, memBytes: 64 * MiB + 100, pidsMax: 64 });
    assert.deepEqual(dirs, [join(fake.root, 'dcos-ts', 'agent1', 'c1')]);
    for (const d of [fake.root, join(fake.root, 'dcos-ts'), join(fake.root, 'dcos-ts', 'agent1')])
      assert.deepEqual(words(join(d, 'cgroup.subtree_control')).sort(), ['cpu', 'memory', 'pids'], d);
    const c = dirs[0] as string;
    assert.deepEqual(words(join(c, 'cgroup.subtree_control')), []);
    assert.equal(read(join(c, 'cpu.weight')), '50');
    assert.equal(read(join(c, 'cpu.max')), '50000 100000');
    assert.equal(read(join(c, 'memory.max')), String(64 * MiB));
    assert.equal(read(join(c, 'memory.swap.max')), '0');
    assert.equal(read(join(c, 'pids.max')), '64');
    assert.deepEqual(cg.readLimits('c1'), { cpuWeight: 50, cfsQuotaUs: 50_000, memBytes: 64 * MiB, pidsMax: '64' });
    // A process task joins its own cgroup (the supervisor's `echo 0 > cgroup.procs`): allowed there.
    await fake.writeFile(join(c, 'cgroup.procs'), '0');

    // The next container finds the controllers enabled and writes none again.
    const before = fake.subtreeWrites;
    await cg.create('c2', { cpus: 2 });
    assert.equal(fake.subtreeWrites, before);
    assert.equal(read(join(fake.root, 'dcos-ts', 'agent1', 'c2', 'cpu.weight')), '200');
    assert.equal(read(join(fake.root, 'dcos-ts', 'agent1', 'c2', 'memory.max')), 'max', 'no mem: no limit');
  });

  test('create fails clearly where a controller is not offered or the agent cgroup holds processes, and leaves no container cgroup', async () => {
    const poor = new FakeCgroup2(join(tmp, 'fs2'), 'cpu memory io');
    const cg = new Cgroups({ kind: 'v2', mount: poor.root }, 'dcos-ts', poor);
    await assert.rejects(cg.create('c1', { cpus: 1 }), /does not offer the controllers pids \(cgroup\.controllers: 'cpu memory io'\)/);

    const busy = new FakeCgroup2(join(tmp, 'fs3'));
    await busy.mkdir(join(busy.root, 'dcos-ts'));
    writeFileSync(join(busy.root, 'dcos-ts', 'cgroup.procs'), `${process.pid}\n`);
    const cg2 = new Cgroups({ kind: 'v2', mount: busy.root }, 'dcos-ts', busy);
    await assert.rejects(
      cg2.create('c1', { cpus: 1 }),
      /cannot enable \+cpu \+memory \+pids in .*dcos-ts\/cgroup\.subtree_control: EBUSY.*run the agent in a leaf cgroup/,
    );
    assert.equal(existsSync(join(busy.root, 'dcos-ts', 'c1')), false);

    // A value the kernel refuses: the half-made container cgroup goes again.
    const fs4 = new FakeCgroup2(join(tmp, 'fs4'));
    const cg4 = new Cgroups({ kind: 'v2', mount: fs4.root }, 'dcos-ts', fs4);
    await assert.rejects(cg4.create('c1', { cpus: 1, pidsMax: -1 }), /cannot write -1 to .*pids\.max: EINVAL/);
    assert.equal(existsSync(join(fs4.root, 'dcos-ts', 'c1')), false);
  });

  test('OOM evidence from memory.events oom_kill (hierarchical on v2: an OCI leaf below counts)', async () => {
    const fake = new FakeCgroup2(join(tmp, 'fs5'));
    const cg = new Cgroups({ kind: 'v2', mount: fake.root }, 'dcos-ts', fake);
    const [dir] = await cg.create('c1', { memBytes: 32 * MiB });
    assert.equal(await cg.oomKilled('c1', true), false);
    // The limit was hit and reclaimed from, but nothing was killed.
    writeFileSync(join(dir as string, 'memory.events'), 'low 0\nhigh 0\nmax 12\noom 3\noom_kill 0\noom_group_kill 0\n');
    assert.equal(await cg.oomKilled('c1', true), false);
    writeFileSync(join(dir as string, 'memory.events'), 'low 0\nhigh 0\nmax 40\noom 4\noom_kill 1\noom_group_kill 0\n');
    assert.equal(await cg.oomKilled('c1'), true);
    assert.equal(await cg.oomKilled('gone'), false, 'a cgroup that is not there: no evidence');
  });

  test('statistics from cpu.stat, memory.current and memory.stat; processes over the subtree', async () => {
    const fake = new FakeCgroup2(join(tmp, 'fs6'));
    const cg = new Cgroups({ kind: 'v2', mount: fake.root }, 'dcos-ts', fake);
    const [dir] = (await cg.create('c1', { cpus: 1, memBytes: 64 * MiB })) as [string];
    await fake.writeFile(join(dir, 'cgroup.subtree_control'), '+memory'); // as crun does for its leaf
    await fake.mkdir(join(dir, 'ctr'));
    writeFileSync(join(dir, 'cpu.stat'), 'usage_usec 3500000\nuser_usec 2500000\nsystem_usec 1000000\nnr_periods 10\n');
    writeFileSync(join(dir, 'memory.current'), '12345678\n');
    writeFileSync(join(dir, 'memory.stat'), 'anon 4096000\nfile 8000000\nkernel 1000\n');
    writeFileSync(join(dir, 'ctr', 'cgroup.procs'), '101\n102\n');
    writeFileSync(join(dir, 'ctr', 'cgroup.threads'), '101\n102\n103\n');
    assert.deepEqual(await cg.stats('c1'), { cpuUserSeconds: 2.5, cpuSystemSeconds: 1, memRssBytes: 4_096_000, memUsageBytes: 12_345_678 });
    const figures = await new CgroupStatsSource(cg).stats({ containerId: 'c1', pid: undefined, sandboxDir: join(tmp, 'no-sandbox') });
    assert.equal(figures.cpus_user_time_secs, 2.5);
    assert.equal(figures.cpus_system_time_secs, 1);
    assert.equal(figures.mem_rss_bytes, 4_096_000);
    assert.equal(figures.mem_limit_bytes, 64 * MiB);
    assert.equal(figures.processes, 2);
    assert.equal(figures.threads, 3);
    assert.equal(await cg.stats('none-such'), undefined);
  });

  test('remove: what is left is killed, leaves before parents (an OCI leaf too), the agent cgroup stays', async () => {
    const fake = new FakeCgroup2(join(tmp, 'fs7'));
    const cg = new Cgroups({ kind: 'v2', mount: fake.root }, 'dcos-ts', fake);
    const [dir] = (await cg.create('c1', { cpus: 1, memBytes: 64 * MiB })) as [string];
    await fake.writeFile(join(dir, 'cgroup.subtree_control'), '+cpu +memory +pids');
    await fake.mkdir(join(dir, 'ctr'));
    const left = spawn('sleep', ['60'], { stdio: 'ignore' });
    children.push(left);
    const exited = new Promise((r) => left.once('exit', r));
    await fake.writeFile(join(dir, 'ctr', 'cgroup.procs'), String(left.pid));
    await assert.rejects(fake.rmdir(dir), /EBUSY/, 'the emulation refuses a cgroup with children');
    await cg.remove('c1');
    await exited;
    assert.equal(left.signalCode, 'SIGKILL');
    assert.equal(existsSync(dir), false);
    assert.ok(statSync(join(fake.root, 'dcos-ts')).isDirectory());
    await cg.remove('c1'); // quiet when already gone
  });

  test('an OCI bundle on v2 carries the limits as unified files at its cgroupsPath below the agent cgroup', () => {
    const cg = new Cgroups({ kind: 'v2', mount: join(tmp, 'fs1') }, 'dcos-ts/agent1');
    const spec = {
      containerId: 'c9',
      sandboxDir: join(tmp, 'sb'),
      command: { value: 'true' },
      env: {},
      resources: { cpus: 1.5, memMb: 64 },
    };
    const image = { entrypoint: [], cmd: [], env: [] } as unknown as Parameters<typeof ociConfig>[1];
    const linux = ociConfig(spec, image, ['/bin/sh', '-c', 'true'], cg).linux as { cgroupsPath: string; resources: Record<string, unknown> };
    assert.equal(linux.cgroupsPath, '/dcos-ts/agent1/c9/ctr');
    assert.deepEqual(linux.resources, { unified: { 'cpu.weight': '150', 'cpu.max': '150000 100000', 'pids.max': '4096' } });
    assert.deepEqual(v2LimitFiles({ memBytes: MiB }), { 'memory.max': String(MiB), 'memory.swap.max': '0' });
    // v1 keeps the OCI cpu and pids fields (the runtime writes cpu.shares itself).
    const v1 = new Cgroups({ kind: 'v1', mounts: { cpu: '/x', cpuacct: '/x', memory: '/y', pids: '/z' } }, 'dcos-ts');
    const r1 = (ociConfig(spec, image, ['true'], v1).linux as { resources: Record<string, unknown> }).resources;
    assert.deepEqual(r1, { pids: { limit: 4096 }, cpu: { shares: 1536, quota: 150_000, period: 100_000 } });
  });
});
