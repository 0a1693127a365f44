/**
 * The docker containerizer end to end: a private dockerd (test/lib/docker.ts), Debian's
 * docker-registry with a busybox image on loopback, a real master in this process, a framework on
 * the v1 scheduler API and a real `dcos agent` process that runs `container.type: DOCKER` tasks
 * through the Engine API. Skipped, with the reason printed, where dockerd cannot start.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { getJson, waitFor } from './lib/http.js';
import { type Dockerd, dockerGet, findDockerd, startDockerd } from './lib/docker.js';
import { freePort, pushBusybox, startRegistry } from './lib/images.js';
import { type Json, Scheduler, type TestMaster, frameworkInfo, sleep, startTestMaster, taskInfo } from './lib/mesos.js';
import { type AgentProcess, spawnAgent } from './lib/proc.js';

const DCOS = resolve('dist/src/main/dcos.js');
const registryBin = ['/usr/bin/docker-registry', '/usr/bin/registry'].find((p) => existsSync(p));
const busybox = existsSync('/bin/busybox') ? '/bin/busybox' : undefined;
const TERMINAL = ['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED', 'TASK_GONE'];

const work = mkdtempSync(join(tmpdir(), 'dcos-docker-e2e-'));
let registry: ChildProcess | undefined;
let registryAddr = '';
let dockerd: Dockerd | undefined;
let skip: string | false =
  process.getuid?.() !== 0
    ? 'needs root'
    : !findDockerd()
      ? 'dockerd is not installed (Debian package docker.io)'
      : !registryBin
        ? 'docker-registry is not installed'
        : !busybox
          ? 'busybox-static is not installed'
          : false;
if (!skip) {
  try {
    const r = await startRegistry(work, registryBin as string);
    registry = r.child;
    registryAddr = r.addr;
    dockerd = await startDockerd(join(work, 'docker'), [registryAddr]);
  } catch (e) {
    skip = `dockerd cannot start here: ${(e as Error).message.slice(-800)}`;
    registry?.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
  }
}
if (skip) process.stdout.write(`# SKIP docker containerizer e2e: ${skip}\n`);

async function stopAgent(a: AgentProcess | undefined): Promise<void> {
  if (a && a.proc.exitCode === null && a.proc.signalCode === null) {
    a.proc.kill('SIGTERM');
    await a.exited;
  }
}

describe('docker containerizer (container.type DOCKER through the Engine API)', { skip }, () => {
  let master: TestMaster;
  let sched: Scheduler;
  let agent: AgentProcess | undefined;
  let agentPort = 0;
  const agentWork = join(work, 'agent');
  const image = () => `${registryAddr}/dcos/busybox:1`;
  const agentArgs = () => [
    `--master=127.0.0.1:${master.port}`,
    `--work_dir=${agentWork}`,
    `--port=${agentPort}`,
    `--docker_socket=${(dockerd as Dockerd).socket}`,
    '--containerizers=mesos,docker',
    `--cgroups_root=dcos-ts-docker-${process.pid}`,
    '--resources=cpus:4;mem:2048;disk:1024',
    // Tasks with a disk resource are measured (sandbox + writable layer) and killed past it.
    '--enforce_container_disk_quota',
    '--container_disk_watch_interval=250ms',
  ];

  before(async () => {
    await pushBusybox(work, busybox as string, registryAddr, 'dcos/busybox', '1', false);
    master = await startTestMaster({ config: { agentPingTimeoutMs: 60_000 } });
    agentPort = await freePort();
    agent = await spawnAgent(agentArgs());
    sched = await Scheduler.subscribe(master.base, frameworkInfo({ name: 'docker-e2e', checkpoint: true }));
  });

  after(async () => {
    sched?.close();
    await stopAgent(agent);
    await master?.stop();
    // Containers a failed test left behind die with the daemon.
    await dockerd?.stop();
    registry?.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
  });

  const seen: Json[] = [];
  /** The next update of a task until it reaches `state` (acknowledged); a terminal other one throws. */
  const next = async (id: string, state: string, timeoutMs = 60_000): Promise<Json> => {
    for (;;) {
      const st = await sched.update(id, undefined, timeoutMs);
      seen.push(st);
      if (st.uuid) await sched.ack(st);
      if (st.state === state) return st;
      if (TERMINAL.includes(st.state)) throw new Error(`${id}: ${st.state} ${st.reason ?? ''} ${st.message ?? ''} (waiting for ${state})`);
    }
  };
  /** An offer of this agent with room for the task (leftovers of earlier launches come as small offers). */
  const roomy =
    (agentId: () => string | undefined, cpus = 0.2, mem = 64, disk = 0) =>
    (x: Json): boolean => {
      const has = (n: string) => (x.resources as Json[]).filter((r) => r.name === n).reduce((a, r) => a + (r.scalar?.value ?? 0), 0);
      return x.agent_id.value === agentId() && has('cpus') >= cpus && has('mem') >= mem && has('disk') >= disk;
    };
  const dockerTask = async (
    id: string,
    command: string,
    o: { docker?: Json; container?: Json; cpus?: number; mem?: number; diskMb?: number; task?: Json } = {},
  ) => {
    const offer = await sched.offer(
      roomy(() => agent?.agentId, o.cpus ?? 0.2, o.mem ?? 64, o.diskMb ?? 0),
      15_000,
    );
    const base = taskInfo(offer, id, { cpus: o.cpus ?? 0.2, mem: o.mem ?? 64 });
    if (o.diskMb) base.resources.push({ ...base.resources[0], name: 'disk', scalar: { value: o.diskMb } });
    const t = {
      ...base,
      command: { shell: true, value: command },
      container: { type: 'DOCKER', docker: { image: image(), network: 'HOST', ...o.docker }, ...o.container },
      ...o.task,
    };
    await sched.launch(offer, [t]);
    return t;
  };
  const sandboxOf = (st: Json): string => {
    const cid = st.container_status?.container_id?.value as string;
    const root = join(agentWork, 'slaves');
    for (const a of readdirSync(root))
      for (const f of readdirSync(join(root, a, 'frameworks')))
        for (const e of readdirSync(join(root, a, 'frameworks', f, 'executors'))) {
          const d = join(root, a, 'frameworks', f, 'executors', e, 'runs', cid);
          if (existsSync(d)) return d;
        }
    throw new Error(`no sandbox for container ${cid}`);
  };
  const inspect = async (containerId: string) => dockerGet((dockerd as Dockerd).socket, `/v1.41/containers/mesos-${containerId}/json`);

  test('a DOCKER task runs in its image: stdout reaches the sandbox, TASK_FINISHED; docker.parameters apply', async () => {
    await dockerTask('hello', 'echo hello from $(cat /etc/image-name) in $MESOS_SANDBOX as $MESOS_TASK_ID param=$FROM_PARAM; pwd; echo oops >&2', {
      docker: { parameters: [{ key: 'env', value: 'FROM_PARAM=yes' }] },
    });
    const running = await next('hello', 'TASK_RUNNING');
    const done = await next('hello', 'TASK_FINISHED');
    assert.equal(done.source, 'SOURCE_EXECUTOR');
    const sandbox = sandboxOf(running);
    assert.equal(readFileSync(join(sandbox, 'stdout'), 'utf8'), 'hello from dcos/busybox:1 in /mnt/mesos/sandbox as hello param=yes\n/mnt/mesos/sandbox\n');
    assert.equal(readFileSync(join(sandbox, 'stderr'), 'utf8'), 'oops\n');
    // The container is removed once the terminal update was acknowledged.
    const cid = running.container_status.container_id.value as string;
    await waitFor('the container to be removed', async () => ((await inspect(cid)).status === 404 ? true : undefined), 15_000, 100);
  });

  test('a non-zero exit is TASK_FAILED with the status', async () => {
    await dockerTask('exit3', 'echo failing; exit 3');
    await next('exit3', 'TASK_RUNNING');
    const failed = await next('exit3', 'TASK_FAILED');
    assert.match(failed.message ?? '', /exited with status 3\b/, JSON.stringify(failed));
    assert.equal(failed.reason, undefined);
  });

  test('over its memory limit: TASK_FAILED with REASON_CONTAINER_LIMITATION_MEMORY', async () => {
    // tail keeps the whole newline-free input in memory: 200 MB under a 32 MB limit.
    await dockerTask('oom', 'head -c 200m /dev/zero | tail', { mem: 32 });
    await next('oom', 'TASK_RUNNING');
    const failed = await next('oom', 'TASK_FAILED');
    assert.equal(failed.reason, 'REASON_CONTAINER_LIMITATION_MEMORY', JSON.stringify(failed));
  });

  test('over its disk resource: the writable layer and the sandbox are measured at the watch interval, TASK_FAILED with REASON_CONTAINER_LIMITATION_DISK', async () => {
    // 1 MB into the sandbox, then 12 MB into the container's own root filesystem (its writable
    // layer), under a 4 MB disk resource: only the layer can take it past the quota. The storage
    // driver here (overlay2 on ext4) has no size quota, so only the agent's measurement stops it.
    await dockerTask('disk-hog', 'dd if=/dev/zero of=small bs=1M count=1 2>/dev/null; dd if=/dev/zero of=/big bs=1M count=12 2>/dev/null; exec sleep 1000', {
      diskMb: 4,
    });
    const running = await next('disk-hog', 'TASK_RUNNING');
    const cid = running.container_status.container_id.value as string;
    const failed = await next('disk-hog', 'TASK_FAILED');
    assert.equal(failed.reason, 'REASON_CONTAINER_LIMITATION_DISK', JSON.stringify(failed));
    assert.equal(failed.source, 'SOURCE_AGENT');
    const used = /^Disk usage \(([\d.]+)MB\) exceeds quota \(4\.0MB\)$/.exec(failed.message ?? '');
    assert.ok(used && Number(used[1]) > 4, failed.message);
    await waitFor('the container to be removed', async () => ((await inspect(cid)).status === 404 ? true : undefined), 15_000, 100);

    // The same writes under a roomy disk resource: measured, not killed.
    await dockerTask('disk-ok', 'dd if=/dev/zero of=/big bs=1M count=12 2>/dev/null; echo written; exec sleep 1000', {
      diskMb: 64,
      task: { kill_policy: { grace_period: { nanoseconds: 1e8 } } },
    });
    const ok = await next('disk-ok', 'TASK_RUNNING');
    await waitFor('the writes', () => (readFileSync(join(sandboxOf(ok), 'stdout'), 'utf8').includes('written') ? true : undefined), 15_000, 50);
    const layer = await dockerGet((dockerd as Dockerd).socket, `/v1.41/containers/mesos-${ok.container_status.container_id.value}/json?size=1`);
    const sizeRw = Number(JSON.parse(layer.body).SizeRw);
    assert.ok(sizeRw >= 12 * 1024 * 1024, `the daemon counts the writable layer: ${layer.body.slice(0, 200)}`);
    await sleep(1_500); // six watch intervals
    assert.equal((await sched.call('KILL', { task_id: { value: 'disk-ok' }, agent_id: { value: agent?.agentId } })).status, 202);
    await next('disk-ok', 'TASK_KILLED');
  });

  test('kill with a grace period: SIGTERM reaches the task; one that ignores it is SIGKILLed after the grace period', async () => {
    await dockerTask('polite', "trap 'echo got TERM; exit 0' TERM; echo ready; while true; do sleep 0.1; done", {
      task: { kill_policy: { grace_period: { nanoseconds: 20e9 } } },
    });
    const r1 = await next('polite', 'TASK_RUNNING');
    await waitFor('ready', () => (readFileSync(join(sandboxOf(r1), 'stdout'), 'utf8').includes('ready') ? true : undefined), 15_000, 50);
    const t0 = Date.now();
    assert.equal((await sched.call('KILL', { task_id: { value: 'polite' }, agent_id: { value: agent?.agentId } })).status, 202);
    await next('polite', 'TASK_KILLED');
    assert.ok(Date.now() - t0 < 15_000, 'ended by its SIGTERM handler, not by the SIGKILL 20 s later');
    assert.match(readFileSync(join(sandboxOf(r1), 'stdout'), 'utf8'), /got TERM/);

    // sleep as the container's pid 1 has no handler: the kernel ignores SIGTERM for it.
    await dockerTask('stubborn', 'exec sleep 1000', { task: { kill_policy: { grace_period: { nanoseconds: 1e9 } } } });
    await next('stubborn', 'TASK_RUNNING');
    const t1 = Date.now();
    assert.equal((await sched.call('KILL', { task_id: { value: 'stubborn' }, agent_id: { value: agent?.agentId } })).status, 202);
    const killed = await next('stubborn', 'TASK_KILLED');
    assert.ok(Date.now() - t1 >= 900, 'the grace period was given');
    assert.match(killed.message ?? '', /signal|137/i, JSON.stringify(killed));
  });

  test('a running docker task: ContainerInfo fields the master does not model reach the agent, COMMAND health checks run inside it, /monitor/statistics has its figures; network NONE has only loopback', async () => {
    const extras = {
      rlimit_info: { rlimits: [{ type: 'RLMT_NOFILE', soft: 512, hard: 512 }] },
      linux_info: { seccomp: { unconfined: true } },
    };
    await dockerTask('watched', 'echo up; exec sleep 1000', {
      container: extras,
      docker: { parameters: [{ key: 'label', value: 'team=e2e' }] },
      task: {
        health_check: {
          type: 'COMMAND',
          command: { value: 'test "$(cat /etc/image-name)" = dcos/busybox:1 && test "$PWD" = /mnt/mesos/sandbox' },
          delay_seconds: 0,
          interval_seconds: 1,
          grace_period_seconds: 10,
        },
      },
    });
    const running = await next('watched', 'TASK_RUNNING');
    // What the agent received from the master (its checkpoint of the TaskInfo): nothing dropped.
    const cp = JSON.parse(readFileSync(join(agentWork, 'meta', 'frameworks', sched.frameworkId, 'tasks', 'watched', 'task.json'), 'utf8'));
    assert.deepEqual(cp.task.container.rlimit_info, extras.rlimit_info);
    assert.deepEqual(cp.task.container.linux_info, extras.linux_info);
    assert.deepEqual(cp.task.container.docker.parameters, [{ key: 'label', value: 'team=e2e' }]);
    const labels = JSON.parse((await inspect(running.container_status.container_id.value)).body).Config.Labels;
    assert.equal(labels.team, 'e2e');
    assert.equal(labels['dcos-ts.task-id'], 'watched');
    const healthy = await waitFor(
      'a healthy update',
      async () => {
        const st = await sched.update('watched', 'TASK_RUNNING', 20_000);
        if (st.uuid) await sched.ack(st);
        return st.healthy === true ? st : undefined;
      },
      30_000,
      0,
    );
    assert.equal(healthy.reason, 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED');
    const stats = await waitFor(
      'statistics of the docker task',
      async () => {
        const all = await getJson(`http://127.0.0.1:${agentPort}/monitor/statistics`);
        const s = all.find((x: Json) => x.executor_id === 'watched')?.statistics;
        return s?.mem_rss_bytes !== undefined ? s : undefined;
      },
      15_000,
      200,
    );
    assert.equal(stats.mem_limit_bytes, 64 * 1024 * 1024, JSON.stringify(stats));
    assert.ok(stats.mem_rss_bytes > 0 && stats.cpus_user_time_secs >= 0 && stats.processes >= 1, JSON.stringify(stats));
    assert.equal((await sched.call('KILL', { task_id: { value: 'watched' }, agent_id: { value: agent?.agentId } })).status, 202);
    await next('watched', 'TASK_KILLED');

    await dockerTask('isolated', 'ls /sys/class/net', { docker: { network: 'NONE' } });
    const r = await next('isolated', 'TASK_RUNNING');
    await next('isolated', 'TASK_FINISHED');
    assert.equal(readFileSync(join(sandboxOf(r), 'stdout'), 'utf8'), 'lo\n');
  });

  test('exec into a docker task (LAUNCH_NESTED_CONTAINER_SESSION, as dcos task exec calls it): output streamed, stdin, exit code; bad targets', async () => {
    await dockerTask('execd', 'echo up; exec sleep 1000');
    const running = await next('execd', 'TASK_RUNNING');
    const cid = running.container_status.container_id.value as string;
    // dcos task exec finds the parent as the container of the task's executor in the agent's /state.
    const state = await getJson(`http://127.0.0.1:${agentPort}/state`);
    const ex = (state.frameworks as Json[])
      .flatMap((f) => f.executors as Json[])
      .find((e) => e.id === 'execd' || (e.tasks as Json[]).some((t) => t.id === 'execd'));
    assert.equal(ex?.container, cid);
    const api = `http://127.0.0.1:${agentPort}/api/v1`;
    const record = (o: unknown): string => {
      const j = JSON.stringify(o);
      return `${Buffer.byteLength(j)}\n${j}`;
    };
    const session = async (argv: string[], input?: string, parent = cid) => {
      const sid = `s-${Math.random().toString(36).slice(2)}`;
      const res = await fetch(api, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/recordio', 'Message-Accept': 'application/json' },
        body: JSON.stringify({
          type: 'LAUNCH_NESTED_CONTAINER_SESSION',
          launch_nested_container_session: {
            container_id: { value: sid, parent: { value: parent } },
            command: { shell: false, value: argv[0], arguments: argv },
          },
        }),
      });
      if (res.status !== 200) return { status: res.status, error: await res.text(), stdout: '', stderr: '', wait: -1 };
      const attach =
        input === undefined
          ? undefined
          : fetch(api, {
              method: 'POST',
              headers: { 'Content-Type': 'application/recordio', 'Message-Content-Type': 'application/json', Accept: 'application/json' },
              body: [
                record({ type: 'ATTACH_CONTAINER_INPUT', attach_container_input: { type: 'CONTAINER_ID', container_id: { value: sid } } }),
                ...[input, ''].map((d) =>
                  record({
                    type: 'ATTACH_CONTAINER_INPUT',
                    attach_container_input: {
                      type: 'PROCESS_IO',
                      process_io: { type: 'DATA', data: { type: 'STDIN', data: Buffer.from(d).toString('base64') } },
                    },
                  }),
                ),
              ].join(''),
            });
      let raw = Buffer.from(await res.arrayBuffer()).toString('utf8');
      const out = { STDOUT: '', STDERR: '' };
      while (raw.length > 0) {
        const nl = raw.indexOf('\n');
        const len = Number(raw.slice(0, nl));
        const m = JSON.parse(raw.slice(nl + 1, nl + 1 + len));
        raw = raw.slice(nl + 1 + len);
        if (m.type === 'DATA') out[m.data.type as 'STDOUT' | 'STDERR'] += Buffer.from(m.data.data, 'base64').toString('utf8');
      }
      if (attach) assert.equal((await attach).status, 200);
      const w = await fetch(api, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ type: 'WAIT_NESTED_CONTAINER', wait_nested_container: { container_id: { value: sid, parent: { value: parent } } } }),
      });
      assert.equal(w.status, 200);
      const wait = ((await w.json()) as Json).wait_nested_container.exit_status as number;
      return { status: 200, error: '', stdout: out.STDOUT, stderr: out.STDERR, wait };
    };

    // Inside the task's container: its image, its environment; stdout and stderr apart; the exit code.
    const a = await session(['sh', '-c', 'echo out $MESOS_TASK_ID; cat /etc/image-name; echo err >&2; ls /proc | grep -c "^[0-9]"; exit 7']);
    assert.equal(a.status, 200, a.error);
    const lines = a.stdout.trim().split('\n');
    assert.deepEqual(lines.slice(0, 2), ['out execd', 'dcos/busybox:1'], a.stdout);
    // The container's pid namespace: its own sleep, this shell, ls and grep (not the host's hundreds).
    assert.ok(Number(lines[2]) <= 6, a.stdout);
    assert.equal(a.stderr, 'err\n');
    assert.equal(a.wait, 7 << 8);
    // stdin reaches the command and its end is EOF (cat exits 0).
    const b = await session(['cat'], 'hello over stdin\nline two\n');
    assert.equal(b.stdout, 'hello over stdin\nline two\n');
    assert.equal(b.wait, 0);
    // A command the container does not have: the daemon's error, as a failed exec (126 or 127).
    const c = await session(['/no/such/binary']);
    assert.ok([126 << 8, 127 << 8].includes(c.wait) || c.status >= 400, JSON.stringify(c));
    const bad = await session(['true'], undefined, 'no-such-container');
    assert.equal(bad.status, 400, bad.error);
    assert.equal((await sched.call('KILL', { task_id: { value: 'execd' }, agent_id: { value: agent?.agentId } })).status, 202);
    await next('execd', 'TASK_KILLED');
  });

  test('force_pull_image: a moved tag is used only when asked for', async () => {
    const ref = `${registryAddr}/dcos/moving:1`;
    const runCat = async (id: string, force: boolean): Promise<string> => {
      await dockerTask(id, 'cat /etc/version', { docker: { image: ref, force_pull_image: force } });
      const r = await next(id, 'TASK_RUNNING');
      await next(id, 'TASK_FINISHED');
      return readFileSync(join(sandboxOf(r), 'stdout'), 'utf8');
    };
    await pushBusybox(work, busybox as string, registryAddr, 'dcos/moving', '1', false, { files: { 'etc/version': 'v1\n' } });
    assert.equal(await runCat('fp1', false), 'v1\n');
    await pushBusybox(work, busybox as string, registryAddr, 'dcos/moving', '1', false, { files: { 'etc/version': 'v2\n' } });
    assert.equal(await runCat('fp2', false), 'v1\n', 'the daemon has the image: no pull');
    assert.equal(await runCat('fp3', true), 'v2\n', 'force_pull_image pulls the moved tag');
  });

  test('a missing or malformed image: TASK_FAILED naming the image', async () => {
    const offer = await sched.offer(
      roomy(() => agent?.agentId),
      15_000,
    );
    const missing = `${registryAddr}/dcos/nope:9`;
    await sched.launch(offer, [
      { ...taskInfo(offer, 'noimage'), command: { shell: true, value: 'true' }, container: { type: 'DOCKER', docker: { image: missing } } },
    ]);
    const failed = await next('noimage', 'TASK_FAILED');
    assert.equal(failed.reason, 'REASON_CONTAINER_LAUNCH_FAILED');
    assert.ok((failed.message ?? '').includes(missing), JSON.stringify(failed));
    // A reference the daemon cannot parse fails the same way, naming it.
    await dockerTask('badref', 'true', { docker: { image: 'Not A/Valid:Ref!' } });
    const bad = await next('badref', 'TASK_FAILED');
    assert.equal(bad.reason, 'REASON_CONTAINER_LAUNCH_FAILED');
    assert.ok((bad.message ?? '').includes("'Not A/Valid:Ref!'"), JSON.stringify(bad));
  });

  test('agent kill -9 and restart: a running docker task is reattached (logs resumed once), one that exited meanwhile reports its real status, orphans are removed', async () => {
    await dockerTask('long', 'echo before; sleep 5; echo after; exec sleep 1000');
    await dockerTask('short', 'echo hi; sleep 2; echo bye; exit 7');
    const long = await next('long', 'TASK_RUNNING');
    const shortRunning = await next('short', 'TASK_RUNNING');
    const sandbox = sandboxOf(long);
    await waitFor('before', () => (readFileSync(join(sandbox, 'stdout'), 'utf8').includes('before') ? true : undefined), 15_000, 50);
    const first = agent as AgentProcess;
    first.proc.kill('SIGKILL');
    await first.exited;
    // Meanwhile: a container labelled as this agent's that it never checkpointed (an orphan, to be
    // removed at recovery as Mesos' --docker_kill_orphans does) and another agent's (left alone).
    const sock = (dockerd as Dockerd).socket;
    const extra = async (name: string, sandbox: string) => {
      const body = {
        Image: image(),
        Cmd: ['sleep', '1000'],
        Labels: { 'dcos-ts.container-id': name, 'dcos-ts.sandbox': sandbox },
        HostConfig: { NetworkMode: 'none' },
      };
      const c = await dockerGet(sock, `/v1.41/containers/create?name=${name}`, 'POST', body);
      assert.equal(c.status, 201, c.body);
      assert.equal((await dockerGet(sock, `/v1.41/containers/${name}/start`, 'POST')).status, 204);
    };
    await extra('orphan-1', join(agentWork, 'slaves', 'x', 'frameworks', 'f', 'executors', 'e', 'runs', 'orphan-1'));
    await extra('foreign-1', join(work, 'other-agent', 'slaves', 'x', 'runs', 'foreign-1'));
    await sleep(6_500); // short exits 7 and long prints "after" while no agent follows them
    agent = await spawnAgent(agentArgs());
    assert.equal(agent.agentId, first.agentId);
    assert.equal((await dockerGet(sock, '/v1.41/containers/orphan-1/json')).status, 404, 'the orphan was removed');
    assert.equal(JSON.parse((await dockerGet(sock, '/v1.41/containers/foreign-1/json')).body).State.Running, true, "another agent's container is left alone");
    await dockerGet(sock, '/v1.41/containers/foreign-1?force=1', 'DELETE');
    const failed = await next('short', 'TASK_FAILED');
    assert.match(failed.message ?? '', /exited with status 7\b/, JSON.stringify(failed));
    assert.equal(readFileSync(join(sandboxOf(shortRunning), 'stdout'), 'utf8'), 'hi\nbye\n', 'what it printed while the agent was down is there, once');
    await waitFor('after', () => (readFileSync(join(sandbox, 'stdout'), 'utf8').includes('after') ? true : undefined), 15_000, 50);
    await sleep(500);
    assert.equal(readFileSync(join(sandbox, 'stdout'), 'utf8'), 'before\nafter\n');
    const cid = long.container_status.container_id.value as string;
    const st = JSON.parse((await inspect(cid)).body);
    assert.equal(st.State.Running, true);
    assert.equal(st.State.Pid, long.container_status.executor_pid, 'the same process');
    assert.equal((await sched.call('KILL', { task_id: { value: 'long' }, agent_id: { value: agent.agentId } })).status, 202);
    await next('long', 'TASK_KILLED');
    await waitFor('the container to be removed', async () => ((await inspect(cid)).status === 404 ? true : undefined), 15_000, 100);
    const terminals = seen.filter((x) => ['long', 'short'].includes(x.task_id.value) && TERMINAL.includes(x.state)).map((x) => `${x.task_id.value}:${x.state}`);
    assert.deepEqual(terminals.sort(), ['long:TASK_KILLED', 'short:TASK_FAILED']);
  });

  test('no daemon at --docker_socket: TASK_FAILED, REASON_CONTAINER_LAUNCH_FAILED, naming the socket', async () => {
    const bogus = join(work, 'no-such-docker.sock');
    const other = await spawnAgent([
      `--master=127.0.0.1:${master.port}`,
      `--work_dir=${join(work, 'agent2')}`,
      '--port=0',
      `--docker_socket=${bogus}`,
      `--cgroups_root=dcos-ts-docker2-${process.pid}`,
      '--resources=cpus:1;mem:256;disk:64',
    ]);
    try {
      const offer = await sched.offer(
        roomy(() => other.agentId),
        15_000,
      );
      await sched.launch(offer, [{ ...taskInfo(offer, 'nodaemon'), container: { type: 'DOCKER', docker: { image: image() } } }]);
      const failed = await next('nodaemon', 'TASK_FAILED');
      assert.equal(failed.reason, 'REASON_CONTAINER_LAUNCH_FAILED');
      assert.ok((failed.message ?? '').includes(`no Docker daemon answered at ${bogus}`), JSON.stringify(failed));
    } finally {
      await stopAgent(other);
    }
    // A containerizer this agent does not have stops it at start with the reason.
    const bad = spawn(process.execPath, [DCOS, 'agent', `--master=127.0.0.1:${master.port}`, '--containerizers=mesos,rkt'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    bad.stderr?.on('data', (c: Buffer) => {
      err += c.toString('utf8');
    });
    const code = await new Promise<number | null>((r) => bad.once('exit', (c) => r(c)));
    assert.notEqual(code, 0);
    assert.match(err, /--containerizers: unknown containerizer 'rkt'/);
  });
});
