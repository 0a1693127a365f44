/**
 * Agent crash recovery with real crun containers: a real master (in this process, over HTTP), a
 * real agent process (`dcos agent`) that is SIGKILLed and started again on the same work dir, and
 * a framework on the v1 scheduler API. A long task must keep running in the same container with
 * the same pid; a short one that exits while the agent is down must reach the framework as
 * TASK_FAILED with its real exit status; nothing else may be reported.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { detectCgroups } from '../src/adapters/runtime/cgroups.js';
import { findOciRuntime } from '../src/adapters/runtime/oci.js';
import { getJson, waitFor } from './lib/http.js';
import { cgroupDirsNamed, freePort, pushBusybox, removeCgroupTree, startRegistry, unmountUnder } from './lib/images.js';
import { type Json, Scheduler, type TestMaster, frameworkInfo, sleep, startTestMaster, taskInfo } from './lib/mesos.js';
import { type AgentProcess, spawnAgent } from './lib/proc.js';

const registryBin = ['/usr/bin/docker-registry', '/usr/bin/registry'].find((p) => existsSync(p));
const busybox = existsSync('/bin/busybox') ? '/bin/busybox' : undefined;
const cgMode = detectCgroups();
const runtimes = (['crun', 'runc'] as const).filter((r) => findOciRuntime(r));
const skip =
  process.getuid?.() !== 0
    ? 'needs root'
    : cgMode.kind === 'none'
      ? 'no cgroups'
      : !findOciRuntime('crun')
        ? 'crun is not installed'
        : !registryBin
          ? 'docker-registry is not installed'
          : !busybox
            ? 'busybox-static is not installed'
            : false;
if (skip) process.stdout.write(`# SKIP agent recovery e2e: ${skip}\n`);

const TERMINAL = ['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED', 'TASK_GONE', 'TASK_UNREACHABLE'];

/** Start time of a process (field 22 of /proc/<pid>/stat): the same value means the same process. */
function startTime(pid: number): string | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s
      .slice(s.lastIndexOf(')') + 2)
      .split(' ')
      .at(19);
  } catch {
    return undefined;
  }
}

for (const ociRuntime of runtimes) {
  describe(`agent kill -9 recovery with ${ociRuntime} tasks`, { skip }, () => {
    const work = mkdtempSync(join(tmpdir(), `dcos-agent-rec-${ociRuntime}-`));
    const cgRoot = `dcos-ts-rec-${ociRuntime}-${process.pid}`;
    let master: TestMaster;
    let registry: ChildProcess | undefined;
    let registryAddr = '';
    let agent: AgentProcess | undefined;
    let agentPort = 0;
    let sched: Scheduler;
    const agentArgs = () => [
      `--master=127.0.0.1:${master.port}`,
      `--work_dir=${join(work, 'agent')}`,
      // The runtime dir apart from the work dir (as on a host whose /run is a tmpfs): what the
      // restarted agent reattaches through lives there.
      `--runtime_dir=${join(work, 'agent-run')}`,
      `--port=${agentPort}`,
      `--cgroups_root=${cgRoot}`,
      `--runtime=${ociRuntime}`,
      '--resources=cpus:2;mem:1024;disk:1024',
    ];

    before(async () => {
      master = await startTestMaster({ config: { agentPingTimeoutMs: 60_000 } });
      const r = await startRegistry(work, registryBin as string);
      registry = r.child;
      registryAddr = r.addr;
      await pushBusybox(work, busybox as string, registryAddr, 'library/busybox', '1', false);
      agentPort = await freePort();
      agent = await spawnAgent(agentArgs());
      sched = await Scheduler.subscribe(master.base, frameworkInfo({ name: 'recovery-e2e', checkpoint: true }));
    });

    after(async () => {
      sched?.close();
      if (agent && agent.proc.exitCode === null && agent.proc.signalCode === null) {
        agent.proc.kill('SIGTERM');
        await agent.exited;
      }
      await master?.stop();
      registry?.kill('SIGKILL');
      // The tasks outlive the agent by design: whatever a failed test left is killed here.
      for (const d of cgroupDirsNamed(cgRoot)) await removeCgroupTree(d);
      unmountUnder(work);
      rmSync(work, { recursive: true, force: true });
    });

    test('the long task keeps its container and pid; the short one exits 7 while the agent is down and is reported TASK_FAILED', async () => {
      const image = { type: 'MESOS', mesos: { image: { type: 'DOCKER', docker: { name: `${registryAddr}/library/busybox:1` } } } };
      const offer = await sched.offer(() => true, 15_000);
      const long = { ...taskInfo(offer, 'long', { cpus: 0.2, mem: 64 }), command: { shell: true, value: 'echo started; exec sleep 1000' }, container: image };
      const short = { ...taskInfo(offer, 'short', { cpus: 0.2, mem: 64 }), command: { shell: true, value: 'sleep 4; exit 7' }, container: image };
      await sched.launch(offer, [long, short]);
      const seen: Json[] = [];
      const next = async (id: string, state: string, timeoutMs = 30_000): Promise<Json> => {
        for (;;) {
          const st = await sched.update(id, undefined, timeoutMs);
          seen.push(st);
          if (st.uuid) await sched.ack(st);
          if (st.state === state) return st;
          if (TERMINAL.includes(st.state)) throw new Error(`${id}: ${st.state} ${st.message ?? ''} (waiting for ${state})`);
        }
      };
      const longRunning = await next('long', 'TASK_RUNNING');
      await next('short', 'TASK_RUNNING');
      const containerId = longRunning.container_status?.container_id?.value as string;
      const pid = longRunning.container_status?.executor_pid as number;
      assert.ok(containerId && pid > 1, JSON.stringify(longRunning));
      const pidStart = startTime(pid);
      assert.ok(pidStart, `the long task's pid ${pid} is alive`);

      // kill -9: no goodbye to the master, no chance to clean anything up.
      const first = agent as AgentProcess;
      first.proc.kill('SIGKILL');
      await first.exited;
      await sleep(6_000); // the short task exits (status 7) meanwhile
      assert.equal(startTime(pid), pidStart, 'the long task survived the agent');

      agent = await spawnAgent(agentArgs());
      assert.equal(agent.agentId, first.agentId, 'the agent recovered its id');

      const failed = await next('short', 'TASK_FAILED');
      assert.match(failed.message ?? '', /exited with status 7\b/, JSON.stringify(failed));
      assert.equal(failed.source, 'SOURCE_EXECUTOR');

      // The long task: still RUNNING, the same container and the same process.
      const state = await waitFor(
        'the agent to report the long task',
        async () => {
          const s = await getJson(`http://127.0.0.1:${agentPort}/state`).catch(() => undefined);
          const t = s?.frameworks?.flatMap((f: Json) => f.executors.flatMap((e: Json) => e.tasks)).find((x: Json) => x.id === 'long');
          return t ? { s, t } : undefined;
        },
        10_000,
        100,
      );
      assert.equal(state.t.state, 'TASK_RUNNING');
      assert.equal(startTime(pid), pidStart, 'the same process after the restart');
      const masterView = await getJson(`${master.base}/master/state`);
      const mt = masterView.frameworks.flatMap((f: Json) => f.tasks).find((t: Json) => t.id === 'long');
      assert.equal(mt?.state, 'TASK_RUNNING', 'the master still has the long task running');
      const ctr = state.s.frameworks.flatMap((f: Json) => f.executors).find((e: Json) => e.id === 'long');
      assert.equal(ctr?.container, containerId, 'the same container id');

      // The recovered agent still controls it: a kill ends it as TASK_KILLED.
      const k = await sched.call('KILL', { task_id: { value: 'long' }, agent_id: { value: agent.agentId } });
      assert.equal(k.status, 202, k.text);
      await next('long', 'TASK_KILLED');
      await waitFor('the long task to be gone', async () => (startTime(pid) === undefined ? true : undefined), 10_000, 100);

      // Nothing else: no duplicate terminal update, no TASK_LOST, nothing for unknown tasks.
      await sleep(1_000);
      for (const e of sched.ev.events) if (e.type === 'UPDATE') seen.includes(e.update.status) || seen.push(e.update.status);
      const summary = seen.map((s) => `${s.task_id.value}:${s.state}`);
      const terminals = summary.filter((s) => TERMINAL.includes(s.split(':')[1] as string));
      assert.deepEqual(terminals.sort(), ['long:TASK_KILLED', 'short:TASK_FAILED'], summary.join(' '));
      assert.ok(
        summary.every((s) => ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FAILED', 'TASK_KILLED'].includes(s.split(':')[1] as string)),
        summary.join(' '),
      );

      // The short task's container is cleaned up: no bundle, no rootfs mount, no cgroup.
      const shortCtr = seen.find((s) => s.task_id.value === 'short')?.container_status?.container_id?.value as string;
      assert.ok(existsSync(join(work, 'agent-run', 'bundles')), 'bundles live in the runtime dir');
      await waitFor(
        'the short container to be cleaned up',
        async () => (!existsSync(join(work, 'agent-run', 'bundles', shortCtr)) ? true : undefined),
        10_000,
        100,
      );
      assert.ok(!readFileSync('/proc/self/mounts', 'utf8').includes(shortCtr), 'no mount of the short container is left');
      await waitFor(
        'no cgroup of the short container in any hierarchy',
        async () => {
          const left = cgroupDirsNamed(join(cgRoot, shortCtr)).filter((d) => existsSync(d));
          if (left.length > 0) throw new Error(`left: ${left.join(' ')}`);
          return true;
        },
        10_000,
        100,
      );
    });
  });
}
