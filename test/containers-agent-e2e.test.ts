/**
 * Issue 4 on a real agent (wall clock, real processes, real crun containers): health checks and
 * checks, the fetcher, volumes, the disk limit and kills with a grace period. Image tests need
 * crun, docker-registry and busybox-static and are skipped with the reason printed otherwise.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RuntimeProbes } from '../src/adapters/checks/probes.js';
import { RealClock } from '../src/adapters/clock-real.js';
import { Fetcher } from '../src/adapters/fetcher/fetcher.js';
import { Cgroups, detectCgroups } from '../src/adapters/runtime/cgroups.js';
import { FsCheckpointer } from '../src/adapters/runtime/checkpoint-fs.js';
import { RegistryImageStore } from '../src/adapters/runtime/image-store.js';
import { createMesosContainerizer, findOciRuntime } from '../src/adapters/runtime/oci.js';
import { Random } from '../src/base/random.js';
import type { CommandURI, ContainerInfo, TaskInfo, TaskStatus, Volume } from '../src/model/mesos.js';
import { Agent } from '../src/services/agent/agent.js';
import { FakeMasterLink } from '../src/services/agent/fakes.js';
import { cgroupDirsNamed, freePort, pushBusybox, removeCgroupTree, startRegistry } from './lib/images.js';

const work = mkdtempSync(join(tmpdir(), 'dcos-agent-e2e-'));
const workDir = join(work, 'agent');
const allowed = join(work, 'allowed');
const forbidden = join(work, 'forbidden');
const cgMode = detectCgroups();
const cgRoot = `dcos-ts-e2e2-${process.pid}`;
const cgroups = cgMode.kind === 'none' ? undefined : new Cgroups(cgMode, cgRoot);
const registryBin = ['/usr/bin/docker-registry', '/usr/bin/registry'].find((p) => existsSync(p));
const busybox = existsSync('/bin/busybox') ? '/bin/busybox' : undefined;
const rootSkip = process.getuid?.() !== 0 ? 'not root (mount namespaces and bind mounts need it)' : false;
const imageSkip =
  rootSkip ||
  (!cgroups
    ? 'no cgroups'
    : !findOciRuntime('crun')
      ? 'crun is not installed'
      : !registryBin
        ? 'docker-registry is not installed'
        : !busybox
          ? 'busybox-static is not installed'
          : false);
if (imageSkip) process.stdout.write(`# SKIP image tests: ${imageSkip}\n`);

const TERMINAL = ['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED'];

async function until(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const link = new FakeMasterLink();
const runtime = createMesosContainerizer({
  stateDir: join(workDir, 'meta', 'runtime'),
  pollIntervalMs: 50,
  bundleDir: join(workDir, 'bundles'),
  stateRoot: join(workDir, 'oci-state'),
  images: new RegistryImageStore(join(workDir, 'images')),
  fetcher: new Fetcher({ cacheDir: join(workDir, 'fetch') }),
  allowedHostPaths: [allowed],
  upperDirOf: (id) => join(workDir, 'images', 'containers', id, 'upper'),
  ...(cgroups ? { cgroups } : {}),
});
const agent = new Agent({
  clock: new RealClock(),
  // Container ids come from this generator. With crun's machine-wide state (/run/crun) a fixed
  // seed gave two runs of this file at once the same ids and crun refused the second ("container
  // ... already exists"); the runtime now keeps its state under the work dir (stateRoot), and the
  // seed still differs between processes that run at the same time.
  random: new Random(process.pid),
  link,
  runtime,
  probes: new RuntimeProbes(runtime),
  checkpointer: new FsCheckpointer(workDir),
  config: {
    workDir,
    hostname: 'localhost',
    ip: '127.0.0.1',
    port: 5051,
    resources: [],
    version: 'test',
    enforceContainerDiskQuota: true,
    containerDiskWatchIntervalMs: 200,
    defaultKillGracePeriodMs: 500,
  },
});

let seq = 0;
function launch(command: string, extra: Partial<TaskInfo> & { diskMb?: number; uris?: CommandURI[] } = {}): string {
  const id = `e${++seq}`;
  const { diskMb, uris, ...rest } = extra;
  const task: TaskInfo = {
    name: id,
    task_id: { value: id },
    agent_id: { value: 'agent-1' },
    command: { value: command, ...(uris ? { uris } : {}) },
    resources: [
      { name: 'cpus', type: 'SCALAR', scalar: { value: 0.2 } },
      { name: 'mem', type: 'SCALAR', scalar: { value: 64 } },
      ...(diskMb ? [{ name: 'disk', type: 'SCALAR' as const, scalar: { value: diskMb } }] : []),
    ],
    ...rest,
  };
  link.push({ type: 'RUN_TASK', framework_id: { value: 'fw' }, framework_info: { user: 'root', name: 'fw', id: { value: 'fw' } }, task });
  return id;
}

const statuses = (id: string): TaskStatus[] =>
  link
    .callsOf('STATUS_UPDATE')
    .map((c) => c.status)
    .filter((s) => s.task_id.value === id);

async function final(id: string, timeoutMs = 30_000): Promise<TaskStatus> {
  await until(`a terminal update of ${id}`, () => statuses(id).some((s) => TERMINAL.includes(s.state)), timeoutMs);
  return statuses(id).at(-1) as TaskStatus;
}

function kill(id: string, graceMs?: number): void {
  link.push({
    type: 'KILL_TASK',
    framework_id: { value: 'fw' },
    task_id: { value: id },
    ...(graceMs !== undefined ? { kill_policy: { grace_period: { nanoseconds: graceMs * 1e6 } } } : {}),
  });
}

function sandboxOf(id: string): string {
  const runs = join(workDir, 'slaves', 'agent-1', 'frameworks', 'fw', 'executors', id, 'runs');
  return join(runs, readdirSync(runs)[0] ?? '');
}
const out = (id: string, f = 'stdout') => readFileSync(join(sandboxOf(id), f), 'utf8');
const printed = (id: string, what: string): boolean => {
  try {
    return out(id).includes(what);
  } catch {
    return false; // not launched yet
  }
};
/**
 * Until the task has printed `marker` to its stdout. A task that ends first fails the wait at once
 * with its status (a failed launch is not a missing marker), and a timeout says what the task
 * reported and printed so far. The deadline is generous: on a loaded machine an image launch
 * (checkpoints with fsync, an overlay mount, crun under a 0.2 cpu quota) can take seconds.
 */
async function printedBy(id: string, marker: string, timeoutMs = 60_000): Promise<void> {
  try {
    await until(
      `${id} to print '${marker}'`,
      () => {
        const end = statuses(id).find((s) => TERMINAL.includes(s.state));
        if (end) throw new Error(`${id} ended before it printed '${marker}': ${end.state} ${end.reason ?? ''} ${end.message ?? ''}`);
        return printed(id, marker);
      },
      timeoutMs,
    );
  } catch (e) {
    const seen = statuses(id).map((s) => s.state);
    let err = '';
    try {
      err = out(id, 'stderr').slice(-500);
    } catch {
      err = '(no sandbox yet)';
    }
    throw new Error(`${(e as Error).message}; updates: ${seen.join(', ') || 'none'}; stderr: ${err}`);
  }
}

const image = (addr: string): ContainerInfo => ({ type: 'MESOS', mesos: { image: { type: 'DOCKER', docker: { name: `${addr}/library/busybox:1` } } } });

let files: Server;
let filesUrl = '';
let registry: ChildProcess | undefined;
let registryAddr = '';

before(async () => {
  mkdirSync(allowed, { recursive: true });
  mkdirSync(forbidden, { recursive: true });
  writeFileSync(join(allowed, 'hello'), 'hello from the host\n');
  // Files served over HTTP for the fetcher.
  const served = join(work, 'served');
  mkdirSync(join(served, 'pkg', 'conf'), { recursive: true });
  writeFileSync(join(served, 'pkg', 'conf', 'app.conf'), 'from-tar\n');
  execFileSync('tar', ['-czf', join(served, 'pkg.tar.gz'), '-C', join(served, 'pkg'), 'conf']);
  mkdirSync(join(served, 'z'), { recursive: true });
  writeFileSync(join(served, 'z', 'inzip.txt'), 'from-zip\n');
  execFileSync('zip', ['-q', '-r', join(served, 'bundle.zip'), 'inzip.txt'], { cwd: join(served, 'z') });
  writeFileSync(join(served, 'run.sh'), '#!/bin/sh\necho script-ran\n');
  writeFileSync(join(served, 'cached.txt'), 'cached-content\n');
  files = createServer((req, res) => {
    const p = join(served, (req.url ?? '/').split('?')[0] as string);
    if (!existsSync(p) || req.url?.includes('..')) {
      res.writeHead(404).end('no');
      return;
    }
    res.writeHead(200).end(readFileSync(p));
  });
  await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
  const addr = files.address();
  filesUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  await agent.start();
  await until('registration', () => agent.connection === 'registered');
  if (imageSkip) return;
  const r = await startRegistry(work, registryBin as string);
  registry = r.child;
  registryAddr = r.addr;
  await pushBusybox(work, busybox as string, registryAddr, 'library/busybox', '1', false);
});

after(async () => {
  // Whatever a failed test left running goes first (its cgroups could not be removed otherwise).
  for (let i = 1; i <= seq; i++) {
    const id = `e${i}`;
    if (statuses(id).some((s) => TERMINAL.includes(s.state))) continue;
    kill(id, 0);
    await final(id, 10_000).catch(() => {});
  }
  await agent.stop();
  runtime.close();
  files?.close();
  registry?.kill('SIGKILL');
  for (const m of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const target = m.split(' ')[1];
    if (!target?.startsWith(work)) continue;
    try {
      execFileSync('umount', ['-l', target], { stdio: 'ignore' });
    } catch {
      // Unmounted meanwhile (the agent releases its containers as it stops).
    }
  }
  if (cgMode.kind !== 'none') {
    for (const d of cgroupDirsNamed(cgRoot)) await removeCgroupTree(d);
  }
  rmSync(work, { recursive: true, force: true });
});

describe('health checks', () => {
  test('HTTP: healthy while the server answers, then unhealthy; after consecutive_failures the task is killed, TASK_KILLED healthy false', async () => {
    const port = await freePort();
    const id = launch(`python3 -m http.server ${port} --bind 127.0.0.1 >/dev/null 2>&1 & p=$!; sleep 2; kill $p; sleep 100`, {
      health_check: {
        type: 'HTTP',
        http: { port, path: '/' },
        delay_seconds: 0,
        interval_seconds: 0.2,
        timeout_seconds: 1,
        consecutive_failures: 3,
        grace_period_seconds: 5,
      },
    });
    const s = await final(id);
    const health = statuses(id).filter((x) => x.reason === 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED');
    assert.deepEqual(
      health.map((x) => x.healthy),
      [true, false, false, false],
      'one healthy:true, then one healthy:false per counted failure',
    );
    assert.equal(s.state, 'TASK_KILLED');
    assert.equal(s.healthy, false);
  });

  test('TCP: failures in the grace period are ignored; after it they count and kill the task', async () => {
    const port = await freePort();
    const id = launch('sleep 100', {
      health_check: {
        type: 'TCP',
        tcp: { port },
        delay_seconds: 0,
        interval_seconds: 0.1,
        timeout_seconds: 1,
        consecutive_failures: 2,
        grace_period_seconds: 1.5,
      },
    });
    const s = await final(id);
    const running = statuses(id).find((x) => x.state === 'TASK_RUNNING' && x.reason === undefined) as TaskStatus;
    const firstBad = statuses(id).find((x) => x.healthy === false) as TaskStatus;
    const waitedS = (firstBad.timestamp as number) - (running.timestamp as number);
    assert.ok(waitedS >= 1.5, `the first unhealthy report came ${waitedS.toFixed(2)} s after TASK_RUNNING, inside the 1.5 s grace period`);
    assert.equal(s.state, 'TASK_KILLED');
    assert.equal(s.healthy, false);
  });

  test("COMMAND (process task): runs in the task's sandbox, environment and cgroup", async () => {
    const id = launch('touch ready; sleep 100', {
      command: { value: 'touch ready; sleep 100', environment: { variables: [{ name: 'ONLY_IN_TASK', value: 'yes' }] } },
      health_check: {
        type: 'COMMAND',
        command: { value: 'test -f ready && test "$ONLY_IN_TASK" = yes && cat /proc/self/cgroup > check-cgroup' },
        delay_seconds: 0,
        interval_seconds: 0.2,
        timeout_seconds: 5,
      },
    });
    await until('healthy', () => statuses(id).some((x) => x.healthy === true));
    const containerId = statuses(id)[0]?.container_status?.container_id?.value as string;
    if (cgroups)
      assert.match(readFileSync(join(sandboxOf(id), 'check-cgroup'), 'utf8'), new RegExp(`memory:.*/${containerId}`), 'the check ran in the task cgroup');
    kill(id);
    assert.equal((await final(id)).state, 'TASK_KILLED');
  });

  test('COMMAND (image task): runs inside the container by crun exec', { skip: imageSkip }, async () => {
    const id = launch('sleep 100', {
      container: image(registryAddr),
      health_check: {
        type: 'COMMAND',
        command: { value: 'hostname > $MESOS_SANDBOX/probe; test -e /bin/busybox' },
        delay_seconds: 0,
        interval_seconds: 0.3,
        timeout_seconds: 5,
      },
    });
    await until('healthy', () => statuses(id).some((x) => x.healthy === true), 30_000);
    const containerId = statuses(id)[0]?.container_status?.container_id?.value as string;
    assert.equal(readFileSync(join(sandboxOf(id), 'probe'), 'utf8').trim(), containerId, "the check saw the container's hostname");
    kill(id);
    assert.equal((await final(id)).state, 'TASK_KILLED');
  });

  test('a generic COMMAND check reports check_status when its result changes, and never kills', async () => {
    const id = launch('sleep 1; touch flag; sleep 100', {
      check: { type: 'COMMAND', command: { command: { value: 'test -f flag' } }, delay_seconds: 0, interval_seconds: 0.2, timeout_seconds: 5 },
    });
    await until('check exit 0', () => statuses(id).some((x) => x.check_status?.command?.exit_code === 0));
    const codes = statuses(id)
      .filter((x) => x.reason === 'REASON_TASK_CHECK_STATUS_UPDATED')
      .map((x) => x.check_status?.command?.exit_code);
    assert.deepEqual(codes, [1, 0]);
    assert.equal(statuses(id).find((x) => x.state === 'TASK_RUNNING')?.check_status?.type, 'COMMAND');
    assert.ok(!statuses(id).some((x) => TERMINAL.includes(x.state)), 'still running');
    kill(id);
    await final(id);
  });
});

describe('fetcher', () => {
  test('http URIs are fetched into the sandbox before the task starts: extracted tar.gz and zip, an executable script, output_file', async () => {
    const id = launch('./run.sh && cat conf/app.conf inzip.txt renamed.txt', {
      uris: [
        { value: `${filesUrl}/pkg.tar.gz` },
        { value: `${filesUrl}/bundle.zip` },
        { value: `${filesUrl}/run.sh`, executable: true },
        { value: `${filesUrl}/cached.txt`, output_file: 'renamed.txt', cache: true },
      ],
    });
    const s = await final(id);
    assert.equal(s.state, 'TASK_FINISHED', `${JSON.stringify(s)} ${out(id, 'stderr')}`);
    assert.equal(out(id), 'script-ran\nfrom-tar\nfrom-zip\ncached-content\n');
  });

  test('a cached URI is served from the cache once the origin is gone', async () => {
    rmSync(join(work, 'served', 'cached.txt'));
    const id = launch('cat cached.txt', { uris: [{ value: `${filesUrl}/cached.txt`, cache: true }] });
    const s = await final(id);
    assert.equal(s.state, 'TASK_FINISHED', JSON.stringify(s));
    assert.equal(out(id), 'cached-content\n');
  });

  test('a failing URI fails the launch, naming the URI and the cause, and leaves no fetched file behind', async () => {
    const id = launch('true', { uris: [{ value: `${filesUrl}/pkg.tar.gz` }, { value: `${filesUrl}/missing.bin` }] });
    const s = await final(id);
    assert.equal(s.state, 'TASK_FAILED');
    assert.equal(s.reason, 'REASON_CONTAINER_LAUNCH_FAILED');
    assert.match(s.message ?? '', new RegExp(`Failed to fetch '${filesUrl}/missing.bin': HTTP 404`), s.message);
    assert.deepEqual(
      readdirSync(sandboxOf(id)).filter((f) => f !== 'stdout' && f !== 'stderr'),
      [],
      'the archive fetched first and its contents are gone',
    );
    const bad = launch('true', { uris: [{ value: 'ftp://example.invalid/x' }] });
    assert.match((await final(bad)).message ?? '', /unsupported scheme 'ftp'/);
  });
});

describe('volumes', () => {
  const hostRO: Volume = { mode: 'RO', container_path: 'host', source: { type: 'HOST_PATH', host_path: { path: allowed } } };
  const selfRW: Volume = { mode: 'RW', container_path: 'data', source: { type: 'SANDBOX_PATH', sandbox_path: { type: 'SELF', path: 'shared' } } };

  test('process task: an allowed HOST_PATH read-only, a SANDBOX_PATH read-write (bind mounts in its own mount namespace)', { skip: rootSkip }, async () => {
    const id = launch('cat host/hello; if touch host/nope 2>/dev/null; then echo WROTE; else echo read-only; fi; echo written > data/f', {
      container: { type: 'MESOS', volumes: [hostRO, selfRW] },
    });
    const s = await final(id);
    assert.equal(s.state, 'TASK_FINISHED', `${JSON.stringify(s)} ${out(id, 'stderr')}`);
    assert.equal(out(id), 'hello from the host\nread-only\n');
    assert.equal(readFileSync(join(sandboxOf(id), 'shared', 'f'), 'utf8'), 'written\n', 'written through the volume into sandbox/shared');
    assert.ok(!existsSync(join(allowed, 'nope')));
    assert.ok(!readFileSync('/proc/self/mounts', 'utf8').includes(sandboxOf(id)), 'the agent sees none of the mounts');
  });

  test('a HOST_PATH outside --allowed-host-paths fails the launch with a precise message', async () => {
    const id = launch('true', { container: { type: 'MESOS', volumes: [{ mode: 'RW', container_path: 'x', host_path: forbidden }] } });
    const s = await final(id);
    assert.equal(s.state, 'TASK_FAILED');
    assert.equal(s.reason, 'REASON_CONTAINER_LAUNCH_FAILED');
    assert.match(s.message ?? '', new RegExp(`host path '${forbidden}' is not allowed: not under --allowed-host-paths=${allowed}`), s.message);
  });

  test('image task: HOST_PATH read-only at an absolute path, SANDBOX_PATH read-write', { skip: imageSkip }, async () => {
    const id = launch('cat /data/hello; if touch /data/nope 2>/dev/null; then echo WROTE; else echo read-only; fi; echo in-image > /mnt/mesos/sandbox/data/f', {
      container: { ...image(registryAddr), volumes: [{ ...hostRO, container_path: '/data' }, selfRW] },
    });
    const s = await final(id);
    assert.equal(s.state, 'TASK_FINISHED', `${JSON.stringify(s)} ${out(id, 'stderr')}`);
    assert.equal(out(id), 'hello from the host\nread-only\n');
    assert.equal(readFileSync(join(sandboxOf(id), 'shared', 'f'), 'utf8'), 'in-image\n');
  });
});

describe('disk limit (enforced)', () => {
  test('a process task writing past its disk resource is TASK_FAILED with REASON_CONTAINER_LIMITATION_DISK', async () => {
    const id = launch('dd if=/dev/zero of=big bs=1M count=12 2>/dev/null; sleep 100', { diskMb: 4 });
    const s = await final(id);
    assert.equal(s.state, 'TASK_FAILED');
    assert.equal(s.reason, 'REASON_CONTAINER_LIMITATION_DISK', JSON.stringify(s));
    assert.match(s.message ?? '', /Disk usage \(1[0-9.]+MB\) exceeds quota \(4\.0MB\)/);
  });

  test('a task within its disk resource keeps running', async () => {
    const id = launch('dd if=/dev/zero of=small bs=1M count=1 2>/dev/null; sleep 100', { diskMb: 4 });
    await new Promise((r) => setTimeout(r, 1_000));
    assert.ok(!statuses(id).some((x) => TERMINAL.includes(x.state)));
    kill(id);
    assert.equal((await final(id)).state, 'TASK_KILLED');
  });

  test("an image task writing into its root filesystem counts its overlay's upper dir", { skip: imageSkip }, async () => {
    const id = launch('dd if=/dev/zero of=/big bs=1M count=12 2>/dev/null; sleep 100', { diskMb: 4, container: image(registryAddr) });
    const s = await final(id);
    assert.equal(s.reason, 'REASON_CONTAINER_LIMITATION_DISK', JSON.stringify(s));
  });
});

describe('kill with a grace period', () => {
  test('a task that traps SIGTERM gets the grace period to finish cleanly', async () => {
    const id = launch("trap 'echo got-term; sleep 1; echo clean-exit; exit 0' TERM; echo ready; while true; do sleep 0.1; done");
    await printedBy(id, 'ready');
    const t0 = Date.now();
    kill(id, 5_000);
    const s = await final(id);
    const ms = Date.now() - t0;
    assert.equal(s.state, 'TASK_KILLED');
    assert.equal(out(id), 'ready\ngot-term\nclean-exit\n');
    assert.ok(ms >= 900 && ms < 4_500, `ended ${ms} ms after the kill: by itself, within the 5 s grace`);
  });

  test('a task that ignores SIGTERM is SIGKILLed after the grace period (KILL_TASK kill_policy overrides the task)', async () => {
    const id = launch("trap '' TERM; echo ready; while true; do sleep 0.1; done", { kill_policy: { grace_period: { nanoseconds: 10e9 } } });
    await printedBy(id, 'ready');
    const t0 = Date.now();
    kill(id, 1_500);
    const s = await final(id);
    const ms = Date.now() - t0;
    assert.equal(s.state, 'TASK_KILLED');
    assert.equal(s.message, 'Command terminated with signal Killed');
    assert.ok(ms >= 1_450 && ms < 5_000, `killed ${ms} ms after the kill request (grace 1.5 s)`);
  });

  test('an image task that ignores SIGTERM is SIGKILLed after the grace period', { skip: imageSkip }, async () => {
    const id = launch("trap '' TERM; echo ready; while true; do sleep 0.1; done", { container: image(registryAddr) });
    await printedBy(id, 'ready');
    const t0 = Date.now();
    kill(id, 1_000);
    const s = await final(id);
    const ms = Date.now() - t0;
    assert.equal(s.state, 'TASK_KILLED');
    assert.equal(s.message, 'Command terminated with signal Killed', 'ended by the SIGKILL: the task ignores SIGTERM');
    assert.ok(ms >= 950 && ms < 5_000, `killed ${ms} ms after the kill request (grace 1 s)`);
  });
});
