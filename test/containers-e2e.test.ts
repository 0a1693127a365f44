/**
 * Containers through the agent, for real: cgroup-limited processes (OOM), and image tasks pulled
 * from Debian's docker-registry on loopback (started here with its own config) and run by crun.
 * Skipped with a printed reason where crun, the registry or busybox-static is missing.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FsCheckpointer } from '../src/adapters/runtime/checkpoint-fs.js';
import { Cgroups, detectCgroups } from '../src/adapters/runtime/cgroups.js';
import { RegistryImageStore } from '../src/adapters/runtime/image-store.js';
import { createMesosContainerizer, findOciRuntime, hybridCgroupTrap } from '../src/adapters/runtime/oci.js';
import { Random } from '../src/base/random.js';
import type { AgentCommand } from '../src/model/agent-protocol.js';
import type { ContainerInfo, TaskStatus } from '../src/model/mesos.js';
import { Agent } from '../src/services/agent/agent.js';
import { FakeMasterLink, ManualClock } from '../src/services/agent/fakes.js';
import { cgroupDirsNamed, freePort, pushBusybox, removeCgroupTree, startRegistry } from './lib/images.js';
import { syscallProbe } from './lib/syscall-probe.js';

const work = mkdtempSync(join(tmpdir(), 'dcos-containers-e2e-'));
const cgMode = detectCgroups();
const cgRoot = `dcos-ts-e2e-${process.pid}`;
const cgroups = cgMode.kind === 'none' ? undefined : new Cgroups(cgMode, cgRoot);
const registryBin = ['/usr/bin/docker-registry', '/usr/bin/registry'].find((p) => existsSync(p));
const crun = findOciRuntime('crun');
const busybox = existsSync('/bin/busybox') ? '/bin/busybox' : undefined;

const imageSkip = !cgroups
  ? `no cgroups: ${cgMode.kind === 'none' ? cgMode.reason : ''}`
  : !crun
    ? 'crun is not installed (apt-get install crun)'
    : !registryBin
      ? 'docker-registry is not installed (apt-get install docker-registry)'
      : !busybox
        ? 'busybox-static is not installed'
        : false;
if (imageSkip) process.stdout.write(`# SKIP image tests: ${imageSkip}\n`);
if (!cgroups) process.stdout.write(`# SKIP cgroup tests: ${cgMode.kind === 'none' ? cgMode.reason : ''}\n`);

async function until(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function boot() {
  const workDir = join(work, 'agent');
  const link = new FakeMasterLink();
  const runtime = createMesosContainerizer({
    stateDir: join(workDir, 'meta', 'runtime'),
    pollIntervalMs: 50,
    bundleDir: join(workDir, 'bundles'),
    stateRoot: join(workDir, 'oci-state'),
    images: new RegistryImageStore(join(workDir, 'images')),
    ...(cgroups ? { cgroups } : {}),
  });
  const agent = new Agent({
    clock: new ManualClock(),
    // Container ids come from this generator. With crun's machine-wide state (/run/crun) a fixed
    // seed gave two runs of this file at once the same ids and crun refused the second ("container
    // ... already exists"); the runtime now keeps its state under the work dir (stateRoot), and the
    // seed still differs between processes that run at the same time.
    random: new Random(process.pid),
    link,
    runtime,
    checkpointer: new FsCheckpointer(workDir),
    config: { workDir, hostname: 'localhost', ip: '127.0.0.1', port: 5051, resources: [], version: 'test' },
  });
  return { link, runtime, agent };
}

let seq = 0;
function runTask(command: string, o: { memMb?: number; cpus?: number; container?: ContainerInfo; user?: string } = {}): { id: string; cmd: AgentCommand } {
  const id = `t${++seq}`;
  return {
    id,
    cmd: {
      type: 'RUN_TASK',
      framework_id: { value: 'fw' },
      framework_info: { user: 'root', name: 'fw', id: { value: 'fw' } },
      task: {
        name: id,
        task_id: { value: id },
        agent_id: { value: 'agent-1' },
        command: { value: command, ...(o.user ? { user: o.user } : {}) },
        resources: [
          { name: 'cpus', type: 'SCALAR', scalar: { value: o.cpus ?? 0.5 } },
          { name: 'mem', type: 'SCALAR', scalar: { value: o.memMb ?? 64 } },
        ],
        ...(o.container ? { container: o.container } : {}),
      },
    },
  };
}

const TERMINAL = ['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED'];

describe('containers through the agent', () => {
  let a: ReturnType<typeof boot>;
  let registry: ChildProcess | undefined;
  let registryAddr = '';

  async function finalStatus(id: string): Promise<TaskStatus> {
    await until(`a terminal update of ${id}`, () => a.link.updateStates(id).some((s) => TERMINAL.includes(s)), 30_000);
    const s = a.link
      .callsOf('STATUS_UPDATE')
      .map((c) => c.status)
      .filter((st) => st.task_id.value === id)
      .at(-1);
    return s as TaskStatus;
  }
  const sandboxOf = (id: string) => {
    const runs = join(work, 'agent', 'slaves', 'agent-1', 'frameworks', 'fw', 'executors', id, 'runs');
    return join(runs, readdirSync(runs).filter((r) => r !== 'latest')[0] ?? '');
  };

  before(async () => {
    a = boot();
    await a.agent.start();
    await until('registration', () => a.agent.connection === 'registered');
    if (imageSkip) return;
    const r = await startRegistry(work, registryBin as string);
    registry = r.child;
    registryAddr = r.addr;
    await pushBusybox(work, busybox as string, registryAddr, 'library/busybox', '1', false);
    await pushBusybox(work, busybox as string, registryAddr, 'library/corrupt', '1', true);
    await pushBusybox(work, busybox as string, registryAddr, 'library/probes', '1', false, {
      executables: { 'bin/clone-newuser': syscallProbe('clone'), 'bin/clone3-newuser': syscallProbe('clone3') },
    });
    await pushBusybox(work, busybox as string, registryAddr, 'library/app', '1', false, {
      user: 'app',
      workingDir: '/srv/app',
      files: {
        'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n',
        'etc/group': 'root:x:0:\napp:x:1000:\nextra:x:2000:app\n',
      },
    });
  });

  after(async () => {
    await a?.agent.stop();
    a?.runtime.close();
    registry?.kill('SIGKILL');
    if (cgMode.kind !== 'none') {
      const dirs = cgroupDirsNamed(cgRoot);
      // A container's cleanup may still be removing its cgroup: retried while busy.
      for (const d of dirs) await removeCgroupTree(d);
    }
    for (const m of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
      const target = m.split(' ')[1];
      if (target?.startsWith(work)) execFileSync('umount', ['-l', target], { stdio: 'ignore' });
    }
    rmSync(work, { recursive: true, force: true });
  });

  test('a process task that allocates past its mem is TASK_FAILED with REASON_CONTAINER_LIMITATION_MEMORY', { skip: !cgroups }, async () => {
    const t = runTask(`exec python3 -c 'b = []\nwhile True: b.append(bytearray(4 << 20))'`, { memMb: 48 });
    a.link.push(t.cmd);
    const s = await finalStatus(t.id);
    assert.equal(s.state, 'TASK_FAILED');
    assert.equal(s.reason, 'REASON_CONTAINER_LIMITATION_MEMORY', JSON.stringify(s));
  });

  test('a task runs from a registry image in its own rootfs and namespaces, its stdout in the sandbox', { skip: imageSkip }, async () => {
    const image: ContainerInfo = { type: 'MESOS', mesos: { image: { type: 'DOCKER', docker: { name: `${registryAddr}/library/busybox:1` } } } };
    const t = runTask('echo hello from $(hostname) pid $$; ls /bin/busybox; cat /proc/1/cmdline | tr "\\0" " "; echo; pwd', { container: image });
    a.link.push(t.cmd);
    const s = await finalStatus(t.id);
    const out = readFileSync(join(sandboxOf(t.id), 'stdout'), 'utf8');
    const err = readFileSync(join(sandboxOf(t.id), 'stderr'), 'utf8');
    assert.equal(s.state, 'TASK_FINISHED', `${JSON.stringify(s)}\n${out}\n${err}`);
    assert.match(out, /hello from [0-9a-f-]{36} pid/, 'its own UTS namespace: the hostname is the container id');
    assert.match(out, /pid 1\n/, 'its own PID namespace');
    assert.match(out, /\/mnt\/mesos\/sandbox/, 'works in the sandbox');
    await nothingLeftOf(s);
  });

  test('an image task over its memory is OOM-killed and reported with REASON_CONTAINER_LIMITATION_MEMORY', { skip: imageSkip }, async () => {
    const image: ContainerInfo = { type: 'MESOS', mesos: { image: { type: 'DOCKER', docker: { name: `${registryAddr}/library/busybox:1` } } } };
    // busybox: grow a shell variable until the memory limit is hit.
    const t = runTask('x=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; while true; do x="$x$x"; done', { memMb: 32, container: image });
    a.link.push(t.cmd);
    const s = await finalStatus(t.id);
    assert.equal(s.state, 'TASK_FAILED');
    assert.equal(s.reason, 'REASON_CONTAINER_LIMITATION_MEMORY', JSON.stringify(s));
  });

  test('a blob whose content does not match its digest fails the launch, naming the digest', { skip: imageSkip }, async () => {
    const image: ContainerInfo = { type: 'MESOS', mesos: { image: { type: 'DOCKER', docker: { name: `${registryAddr}/library/corrupt:1` } } } };
    const t = runTask('true', { container: image });
    a.link.push(t.cmd);
    const s = await finalStatus(t.id);
    assert.equal(s.state, 'TASK_FAILED');
    assert.equal(s.reason, 'REASON_CONTAINER_LAUNCH_FAILED');
    assert.match(s.message ?? '', /blob sha256:[a-f0-9]{64} .*failed verification/, s.message);
  });

  test('an image that does not exist fails the launch with a clear message', { skip: imageSkip }, async () => {
    const image: ContainerInfo = { type: 'MESOS', mesos: { image: { type: 'DOCKER', docker: { name: `${registryAddr}/library/nothere:1` } } } };
    const t = runTask('true', { container: image });
    a.link.push(t.cmd);
    const s = await finalStatus(t.id);
    assert.equal(s.state, 'TASK_FAILED');
    assert.equal(s.reason, 'REASON_CONTAINER_LAUNCH_FAILED');
    assert.match(s.message ?? '', /library\/nothere:1 not found/, s.message);
  });

  const imageOf = (repo: string, extra: Record<string, unknown> = {}): ContainerInfo =>
    ({ type: 'MESOS', mesos: { image: { type: 'DOCKER', docker: { name: `${registryAddr}/library/${repo}:1` } } }, ...extra }) as ContainerInfo;
  async function output(t: { id: string; cmd: AgentCommand }): Promise<{ s: TaskStatus; out: string; err: string }> {
    a.link.push(t.cmd);
    const s = await finalStatus(t.id);
    const read = (f: string) => (existsSync(join(sandboxOf(t.id), f)) ? readFileSync(join(sandboxOf(t.id), f), 'utf8') : '');
    return { s, out: read('stdout'), err: read('stderr') };
  }

  /** Starts `sleep 30` in the busybox image; once it runs, its task id and its container's bundle dir. */
  async function runningImageTask(): Promise<{ id: string; bundle: string }> {
    const { id, cmd } = runTask('sleep 30', { container: imageOf('busybox') });
    a.link.push(cmd);
    await until('the task running', () => a.link.updateStates(id).includes('TASK_RUNNING'));
    const bundles = join(work, 'agent', 'bundles');
    const containerId = readdirSync(bundles).find(
      (d) => existsSync(join(bundles, d, 'config.json')) && readFileSync(join(bundles, d, 'config.json'), 'utf8').includes('sleep 30'),
    );
    assert.ok(containerId, 'the bundle of the running task');
    return { id, bundle: join(bundles, containerId) };
  }

  test("the image's User (a name in its /etc/passwd, with its groups) and WorkingDir; the sandbox is the user's", { skip: imageSkip }, async () => {
    const r = await output(runTask('id -u; id -g; id -G; pwd; echo hi > $MESOS_SANDBOX/written && echo wrote', { container: imageOf('app') }));
    assert.equal(r.s.state, 'TASK_FINISHED', `${JSON.stringify(r.s)} ${r.err}`);
    assert.equal(r.out, '1000\n1000\n1000 2000\n/srv/app\nwrote\n');
  });

  test('CommandInfo.user (numeric uid:gid) overrides the image; a user the image does not know fails the launch', { skip: imageSkip }, async () => {
    const r = await output(runTask('id -u; id -g', { container: imageOf('busybox'), user: '1234:5678' }));
    assert.equal(r.s.state, 'TASK_FINISHED', `${JSON.stringify(r.s)} ${r.err}`);
    assert.equal(r.out, '1234\n5678\n');
    const bad = await output(runTask('true', { container: imageOf('busybox'), user: 'nobody-here' }));
    assert.equal(bad.s.state, 'TASK_FAILED');
    assert.equal(bad.s.reason, 'REASON_CONTAINER_LAUNCH_FAILED');
    assert.match(bad.s.message ?? '', /user 'nobody-here' is not in the image's \/etc\/passwd/);
    // It failed after its rootfs was mounted: the mount, the bundle and the overlay dirs are gone.
    await nothingLeftOf(bad.s);
  });

  /** A failed launch leaves no bundle, no rootfs mount, no overlay dirs and no cgroup. */
  async function nothingLeftOf(s: TaskStatus): Promise<void> {
    const id = s.container_status?.container_id?.value as string;
    assert.ok(id, JSON.stringify(s));
    const agentDir = join(work, 'agent');
    await until(
      'the failed container to be cleaned up',
      () => !existsSync(join(agentDir, 'bundles', id)) && !existsSync(join(agentDir, 'images', 'containers', id)),
      10_000,
    );
    assert.ok(!readFileSync('/proc/self/mounts', 'utf8').includes(id), 'no mount of the container is left');
    // Every hierarchy, also those the agent sets no limits in (an OCI runtime makes its path there too).
    await until('no cgroup of the container in any hierarchy', () => cgroupDirsNamed(join(cgRoot, id)).every((d) => !existsSync(d)), 10_000);
  }

  test('a registry that is down fails the launch naming the registry, and leaves nothing half-made', { skip: imageSkip }, async () => {
    const down = `127.0.0.1:${await freePort()}`;
    const r = await output(
      runTask('true', { container: { type: 'MESOS', mesos: { image: { type: 'DOCKER', docker: { name: `${down}/library/busybox:1` } } } } }),
    );
    assert.equal(r.s.state, 'TASK_FAILED');
    assert.equal(r.s.reason, 'REASON_CONTAINER_LAUNCH_FAILED');
    assert.match(r.s.message ?? '', new RegExp(`cannot reach registry ${down} for ${down}/library/busybox:1: ECONNREFUSED`), r.s.message);
    await nothingLeftOf(r.s);
  });

  test('ContainerInfo.rlimit_info sets the task rlimits; a hard limit above the agent own fails the launch', { skip: imageSkip }, async () => {
    const r = await output(
      runTask('ulimit -n; ulimit -Hn; ulimit -c', {
        container: imageOf('busybox', {
          rlimit_info: {
            rlimits: [
              { type: 'RLMT_NOFILE', soft: 100, hard: 200 },
              { type: 'RLMT_CORE', soft: 0, hard: 0 },
            ],
          },
        }),
      }),
    );
    assert.equal(r.s.state, 'TASK_FINISHED', `${JSON.stringify(r.s)} ${r.err}`);
    assert.equal(r.out, '100\n200\n0\n');
    const bad = await output(
      runTask('true', { container: imageOf('busybox', { rlimit_info: { rlimits: [{ type: 'RLMT_NOFILE', soft: 10, hard: 1 << 30 }] } }) }),
    );
    assert.equal(bad.s.state, 'TASK_FAILED');
    assert.match(bad.s.message ?? '', /RLMT_NOFILE hard limit 1073741824 is above the agent's own/);
  });

  test('the default seccomp profile denies unshare with EPERM; linux_info.seccomp.unconfined lifts it', { skip: imageSkip }, async () => {
    const cmd = 'if unshare -U true; then echo allowed; else echo denied; fi; if unshare -m true; then echo m-allowed; fi';
    const confined = await output(runTask(cmd, { container: imageOf('busybox') }));
    assert.equal(confined.s.state, 'TASK_FINISHED', `${JSON.stringify(confined.s)} ${confined.err}`);
    assert.equal(confined.out, 'denied\n');
    assert.match(confined.err, /Operation not permitted/);
    const open = await output(runTask(cmd, { container: imageOf('busybox', { linux_info: { seccomp: { unconfined: true } } }) }));
    assert.equal(open.s.state, 'TASK_FINISHED', `${JSON.stringify(open.s)} ${open.err}`);
    assert.equal(open.out, 'allowed\n', 'a user namespace needs no capability: only seccomp stopped it (and CAP_SYS_ADMIN is dropped, so no mount namespace)');
  });

  test(
    'the default seccomp profile: clone(CLONE_NEWUSER) is EPERM by its flags, clone3 is ENOSYS, fork still works; unconfined allows all three',
    { skip: imageSkip || (process.arch !== 'x64' && 'the syscall probes are x86-64 programs') },
    async () => {
      // Each probe exits with the errno of its call (0: a user namespace was made).
      const cmd = 'clone-newuser; echo clone=$?; clone3-newuser; echo clone3=$?; unshare -U true 2>/dev/null; echo unshare=$?; (exit 3); echo fork=$?';
      const confined = await output(runTask(cmd, { container: imageOf('probes') }));
      assert.equal(confined.s.state, 'TASK_FINISHED', `${JSON.stringify(confined.s)} ${confined.err}`);
      assert.equal(confined.out, 'clone=1\nclone3=38\nunshare=1\nfork=3\n');
      const open = await output(runTask(cmd, { container: imageOf('probes', { linux_info: { seccomp: { unconfined: true } } }) }));
      assert.equal(open.s.state, 'TASK_FINISHED', `${JSON.stringify(open.s)} ${open.err}`);
      assert.equal(open.out, 'clone=0\nclone3=0\nunshare=0\nfork=3\n', 'the same calls without the profile: only seccomp stopped them');
    },
  );

  test(
    'image tasks start through a launcher in a mount namespace of its own: the rootfs overlay never shows on the host and is unmounted there when the task ends',
    { skip: imageSkip },
    async () => {
      const { id, bundle } = await runningImageTask();
      const launcher = a.runtime.isolatedLauncherPid;
      assert.ok(launcher, 'the isolated launcher runs');
      const target = join(bundle, 'rootfs');
      const mountedIn = (pid: number | 'self') =>
        readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
          .split('\n')
          .some((l) => l.split(' ')[4] === target);
      assert.equal(mountedIn('self'), false, 'not in the host mount table');
      assert.equal(mountedIn(launcher), true, "in the launcher's namespace");
      a.link.push({ type: 'KILL_TASK', framework_id: { value: 'fw' }, task_id: { value: id } });
      assert.equal((await finalStatus(id)).state, 'TASK_KILLED');
      await until("the rootfs unmounted in the launcher's namespace", () => !mountedIn(launcher), 5_000);
    },
  );

  test(
    'the isolated launcher is replaced every 64 launches (a fresh mount namespace); a container of the retired one still reports its end',
    { skip: imageSkip },
    async () => {
      const long = runTask('sleep 60', { container: imageOf('busybox') });
      a.link.push(long.cmd);
      await until('the long task running', () => a.link.updateStates(long.id).includes('TASK_RUNNING'));
      const first = a.runtime.isolatedLauncherPid as number;
      assert.ok(first);
      for (let i = 0; i < 64; i++) {
        const t = runTask('true', { container: imageOf('busybox') });
        a.link.push(t.cmd);
        assert.equal((await finalStatus(t.id)).state, 'TASK_FINISHED');
      }
      const now = a.runtime.isolatedLauncherPid as number;
      assert.ok(now && now !== first, `a new isolated launcher (${first} → ${now})`);
      await until('the retired launcher gone', () => !existsSync(`/proc/${first}`) || /\) [ZX] /.test(readFileSync(`/proc/${first}/stat`, 'utf8')), 5_000);
      a.link.push({ type: 'KILL_TASK', framework_id: { value: 'fw' }, task_id: { value: long.id } });
      assert.equal((await finalStatus(long.id)).state, 'TASK_KILLED', 'its end came through the retired launcher');
    },
  );

  test(
    'crun gets the default profile as a BPF program made once (run.oci.seccomp_bpf_data); that program alone denies unshare',
    { skip: imageSkip },
    async () => {
      // A running image task's bundle carries the annotation (and the JSON profile, for a crun without it).
      const { id, bundle } = await runningImageTask();
      const config = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
      const data = config.annotations?.['run.oci.seccomp_bpf_data'] as string;
      assert.ok(data, 'the annotation is set');
      assert.ok(config.linux.seccomp, 'the JSON profile stays');
      const bpf = Buffer.from(data, 'base64');
      assert.ok(bpf.length > 8 && bpf.length % 8 === 0, `a BPF program of ${bpf.length} bytes`);
      a.link.push({ type: 'KILL_TASK', framework_id: { value: 'fw' }, task_id: { value: id } });
      await finalStatus(id);

      // The program by itself, with no JSON profile beside it, is what denies unshare: crun loads it.
      const rootfs = join(work, 'bpf-only', 'rootfs');
      mkdirSync(join(rootfs, 'bin'), { recursive: true });
      for (const d of ['proc', 'dev', 'sys', 'tmp']) mkdirSync(join(rootfs, d), { recursive: true });
      copyFileSync(busybox as string, join(rootfs, 'bin', 'busybox'));
      chmodSync(join(rootfs, 'bin', 'busybox'), 0o755);
      const bundleConfig = {
        ociVersion: '1.0.2',
        process: {
          terminal: false,
          user: { uid: 0, gid: 0 },
          args: ['/bin/busybox', 'sh', '-c', '/bin/busybox unshare -U /bin/busybox true; echo unshare=$?'],
          env: ['PATH=/bin'],
          cwd: '/',
        },
        root: { path: 'rootfs' },
        mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
        linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }], cgroupsPath: `/${cgRoot}/bpf-only` },
        annotations: {} as Record<string, string>,
      };
      const runOnce = (annotation: string | undefined): string => {
        bundleConfig.annotations = annotation ? { 'run.oci.seccomp_bpf_data': annotation } : {};
        writeFileSync(join(work, 'bpf-only', 'config.json'), JSON.stringify(bundleConfig));
        const argv = [crun as string, '--root', join(work, 'bpf-only-state'), 'run', '--bundle', join(work, 'bpf-only'), `bpf-only-${process.pid}`];
        const wrapped = hybridCgroupTrap()
          ? ['unshare', '-m', '--propagation', 'private', 'sh', '-c', 'umount /sys/fs/cgroup/unified && exec "$0" "$@"', ...argv]
          : argv;
        return execFileSync(wrapped[0] as string, wrapped.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      };
      assert.equal(runOnce(data), 'unshare=1\n', 'EPERM from the program');
      assert.equal(runOnce(undefined), 'unshare=0\n', 'the same bundle without it: allowed');
    },
  );
});
