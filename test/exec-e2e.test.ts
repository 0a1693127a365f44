/**
 * Into running containers through the whole cluster (dcos up: real master, gateway and agent
 * processes): `dcos task exec` in a process task and in a crun task whose image came from
 * `dcos image load`, stdin, exit codes, bad targets; `dcos task metrics` from cgroups;
 * `dcos task ls` with hostile paths; image list, prune and KILL_CONTAINER.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { findOciRuntime } from '../src/adapters/runtime/oci.js';
import { getJson, post, waitFor } from './lib/http.js';
import { dockerSaveArchive, makeRootfs, ociArchive } from './lib/images.js';
import { type Json, Scheduler, frameworkInfo, taskInfo } from './lib/mesos.js';

const DCOS = resolve('dist/src/main/dcos.js');
const busybox = existsSync('/bin/busybox') ? '/bin/busybox' : undefined;
const root = process.getuid?.() === 0;
const imageSkip = !root ? 'needs root' : !findOciRuntime('crun') ? 'crun is not installed' : !busybox ? 'busybox-static is not installed' : false;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function dcos(args: string[], env: Record<string, string>, input?: string): Promise<Run> {
  return new Promise((res) => {
    const p = spawn(process.execPath, [DCOS, ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => {
      stdout += d;
    });
    p.stderr.on('data', (d) => {
      stderr += d;
    });
    const t = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('close', (code) => {
      clearTimeout(t);
      res({ code: code ?? 1, stdout, stderr });
    });
    if (input !== undefined) p.stdin.end(input);
    else p.stdin.end();
  });
}

describe('exec, metrics, files and images through the cluster', { skip: !root && 'needs root (cgroups)' }, () => {
  const home = mkdtempSync(join(tmpdir(), 'dcos-exec-e2e-'));
  const workDir = join(home, 'cluster');
  const env = { DCOS_TS_CONFIG_DIR: join(home, 'config'), DCOS_TS_HOME: home };
  let info: { url: string; mesos: string };
  let sched: Scheduler;
  let agentId = '';

  async function launch(id: string, command: string, container?: Json): Promise<Json> {
    const offer = await sched.offer(() => true, 15_000);
    agentId = offer.agent_id.value;
    const t = taskInfo(offer, id, { cpus: 0.2, mem: 64 });
    t.command = { shell: true, value: command };
    if (container) t.container = container;
    await sched.launch(offer, [t]);
    return waitState(id, 'TASK_RUNNING');
  }
  async function waitState(id: string, state: string): Promise<Json> {
    for (;;) {
      const st = await sched.update(id, undefined, 30_000);
      if (st.uuid) await sched.ack(st);
      if (st.state === state) return st;
      if (['TASK_FAILED', 'TASK_ERROR', 'TASK_LOST', 'TASK_KILLED', 'TASK_FINISHED'].includes(st.state))
        throw new Error(`${id}: ${st.state} ${st.message ?? ''}`);
    }
  }

  before(async () => {
    const r = await dcos(['up', '--detach', '--json', '--agents=1', `--work-dir=${workDir}`, '--resources=cpus:4;mem:2048;disk:2048'], env);
    assert.equal(r.code, 0, `dcos up failed: ${r.stderr}`);
    info = JSON.parse(r.stdout);
    sched = await Scheduler.subscribe(info.mesos, frameworkInfo({ name: 'exec-e2e' }));
  });

  after(async () => {
    // Tasks outlive 'dcos down': tear the framework down and wait until the agent has none left.
    if (sched) {
      await sched.call('TEARDOWN');
      sched.close();
      await waitFor(
        'the tasks to be killed',
        async () => {
          const st = await getJson(`${info.url}/agent/${agentId}/state`).catch(() => undefined);
          return st?.frameworks.every((f: Json) => f.executors.length === 0) ? true : undefined;
        },
        20_000,
        200,
      ).catch(() => {});
    }
    await dcos(['down', '--purge', `--work-dir=${workDir}`], env);
    for (const m of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
      const target = m.split(' ')[1];
      if (target?.startsWith(home)) execFileSync('umount', ['-l', target], { stdio: 'ignore' });
    }
    rmSync(home, { recursive: true, force: true });
  });

  test('dcos task exec runs in a process task: its cgroup, env and sandbox; output streamed; the exit code returned', async () => {
    await launch('proc-1', 'echo data > file.txt; mkdir sub; ln -s /etc etc-link; MARK=task-env exec sleep 600');
    const r = await dcos(
      ['task', 'exec', 'proc-1', '--', 'sh', '-c', 'echo out $MESOS_TASK_ID; echo err >&2; cat file.txt; grep memory /proc/self/cgroup; exit 7'],
      env,
    );
    assert.equal(r.code, 7, r.stderr);
    const st = await getJson(`${info.url}/agent/${agentId}/state`);
    const container = st.frameworks.flatMap((f: Json) => f.executors).find((e: Json) => e.id === 'proc-1').container;
    assert.match(r.stdout, /^out proc-1\ndata\n/);
    assert.ok(r.stdout.includes(`/${container}\n`), `the exec joined the task's memory cgroup: ${r.stdout}`);
    assert.match(r.stderr, /^err\n$/);
    // stdin with --interactive
    const cat = await dcos(['task', 'exec', '--interactive', 'proc-1', 'cat'], env, 'hello over stdin\n');
    assert.equal(cat.code, 0, cat.stderr);
    assert.equal(cat.stdout, 'hello over stdin\n');
    // killed by a signal: 128 + 9
    const killed = await dcos(['task', 'exec', 'proc-1', '--', 'sh', '-c', 'kill -9 $$'], env);
    assert.equal(killed.code, 137);
  });

  test('exec into an unknown or a finished task, or without a command, fails with a clear error', async () => {
    const unknown = await dcos(['task', 'exec', 'no-such-task', '--', 'true'], env);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /No task matches 'no-such-task'/);
    const offer = await sched.offer(() => true, 15_000);
    const t = taskInfo(offer, 'done-1');
    t.command = { shell: true, value: 'true' };
    await sched.launch(offer, [t]);
    await waitState('done-1', 'TASK_FINISHED');
    const finished = await dcos(['task', 'exec', 'done-1', '--', 'true'], env);
    assert.notEqual(finished.code, 0);
    assert.match(finished.stderr, /Task done-1 is not running \(TASK_FINISHED\)/);
    const nocmd = await dcos(['task', 'exec', 'proc-1'], env);
    assert.match(nocmd.stderr, /Missing the command/);
    // The agent API itself: an unknown parent container is a 400 in Mesos' words.
    const api = `${info.url}/agent/${agentId}/api/v1`;
    const r = await post(api, {
      type: 'LAUNCH_NESTED_CONTAINER_SESSION',
      launch_nested_container_session: { container_id: { value: 'x1', parent: { value: 'nope' } }, command: { value: 'true' } },
    });
    assert.equal(r.status, 400);
    assert.match(r.text, /Unknown parent container nope/);
    const w = await post(api, { type: 'WAIT_NESTED_CONTAINER', wait_nested_container: { container_id: { value: 'never-launched' } } });
    assert.equal(w.status, 404);
  });

  test('dcos task metrics shows cgroup figures; GET_CONTAINERS and /monitor/statistics carry them', async () => {
    const r = await dcos(['task', 'metrics', 'proc-1', '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout).statistics;
    assert.equal(s.cpus_limit, 0.2);
    assert.equal(s.mem_limit_bytes, 64 * 1024 * 1024);
    assert.ok(s.mem_rss_bytes > 0, JSON.stringify(s));
    assert.ok(s.processes >= 1 && s.threads >= 1, JSON.stringify(s));
    assert.ok(s.disk_used_bytes > 0, JSON.stringify(s));
    assert.ok(typeof s.cpus_user_time_secs === 'number' && typeof s.cpus_system_time_secs === 'number');
    assert.ok(Math.abs(s.timestamp - Date.now() / 1000) < 60);
    const table = await dcos(['task', 'metrics', 'proc-1'], env);
    assert.match(table.stdout, /memory rss\s+[\d.]+ MB/);
    const mon = await getJson(`${info.url}/agent/${agentId}/monitor/statistics`);
    assert.ok(mon.some((e: Json) => e.source === 'proc-1' && e.statistics.mem_rss_bytes > 0));
    const gc = await post(`${info.url}/agent/${agentId}/api/v1`, { type: 'GET_CONTAINERS' });
    const c = (gc.json() as Json).get_containers.containers.find((x: Json) => x.executor_id.value === 'proc-1');
    assert.ok(c.resource_statistics.processes >= 1);
  });

  test('dcos task ls lists the sandbox like ls -l, and refuses paths that leave it', async () => {
    const r = await dcos(['task', 'ls', 'proc-1'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^-rw-r--r--\s+1\s+root\s+root\s+5\s+\w{3}\s+\d+\s+\d\d:\d\d\s+file\.txt$/m);
    assert.match(r.stdout, /^d[rwx-]{9}\s+\d+\s+root\s+root\s+\d+\s+.*\ssub$/m);
    assert.match(r.stdout, /^-.*\sstdout$/m);
    const json = JSON.parse((await dcos(['task', 'ls', 'proc-1', '--json'], env)).stdout);
    assert.ok(json.some((e: Json) => e.path.endsWith('/file.txt') && e.size === 5));
    const climb = await dcos(['task', 'ls', 'proc-1', '../../..'], env);
    assert.notEqual(climb.code, 0);
    assert.match(climb.stderr, /leads outside the task's sandbox/);
    const abs = await dcos(['task', 'ls', 'proc-1', '/etc'], env);
    assert.match(abs.stderr, /is absolute/);
    const link = await dcos(['task', 'ls', 'proc-1', 'etc-link'], env);
    assert.notEqual(link.code, 0);
    assert.match(link.stderr, /leads outside the sandbox/);
    const missing = await dcos(['task', 'ls', 'proc-1', 'nothere'], env);
    assert.match(missing.stderr, /No such file or directory/);
  });

  test('dcos image load: a corrupt archive is refused; docker save and OCI archives load and list', { skip: imageSkip }, async () => {
    const rootfs = makeRootfs(mkdtempSync(join(home, 'img-')), { 'etc/image-name': 'loaded busybox\n' }, busybox);
    const bad = await dcos(['image', 'load', dockerSaveArchive(home, rootfs, 'example/busybox:1', true)], env);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /failed verification: expected sha256:[a-f0-9]{64}/);
    const junk = join(home, 'junk.tar');
    writeFileSync(junk, 'x'.repeat(5000));
    assert.match((await dcos(['image', 'load', junk], env)).stderr, /not a tar archive/);
    const ok = await dcos(['image', 'load', dockerSaveArchive(home, rootfs, 'example/busybox:1')], env);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /Loaded example\/busybox:1 \(sha256:[a-f0-9]{12}/);
    const other = makeRootfs(mkdtempSync(join(home, 'img-')), { 'etc/image-name': 'other\n' });
    assert.equal((await dcos(['image', 'load', ociArchive(home, other, 'example/other:2')], env)).code, 0);
    const list = JSON.parse((await dcos(['image', 'list', '--json'], env)).stdout) as Json[];
    assert.deepEqual(list.map((i) => i.reference).sort(), ['example/busybox:1', 'example/other:2']);
    assert.ok(list.every((i) => i.sizeBytes > 0 && /^sha256:/.test(i.manifestDigest)));
    assert.match((await dcos(['image', 'list'], env)).stdout, /REFERENCE\s+DIGEST\s+SIZE\s+LAST USED/);
  });

  test('dcos task exec enters a crun task from a loaded image (its UTS and mount namespaces); prune keeps the image it uses', { skip: imageSkip }, async () => {
    const image = { type: 'MESOS', mesos: { image: { type: 'DOCKER', docker: { name: 'example/busybox:1' } } } };
    await launch('img-1', 'exec sleep 600', image);
    const r = await dcos(['task', 'exec', 'img-1', '--', 'sh', '-c', 'hostname; cat /etc/image-name; pwd; echo $MESOS_TASK_ID; exit 3'], env);
    assert.equal(r.code, 3, r.stderr);
    const [host, name, cwd, taskId] = r.stdout.split('\n');
    assert.match(host ?? '', /^[0-9a-f-]{36}$/, 'the task container hostname');
    assert.equal(name, 'loaded busybox');
    assert.equal(cwd, '/mnt/mesos/sandbox');
    assert.equal(taskId, 'img-1', 'the task environment');
    const m = JSON.parse((await dcos(['task', 'metrics', 'img-1', '--json'], env)).stdout).statistics;
    assert.ok(m.processes >= 1 && m.mem_rss_bytes > 0, JSON.stringify(m));
    const pr = await dcos(['image', 'prune'], env);
    assert.equal(pr.code, 0, pr.stderr);
    const left = JSON.parse((await dcos(['image', 'list', '--json'], env)).stdout) as Json[];
    assert.deepEqual(
      left.map((i) => [i.reference, i.inUse]),
      [['example/busybox:1', 1]],
    );
  });

  test('KILL_CONTAINER signals a task container; the task ends', async () => {
    const st = await getJson(`${info.url}/agent/${agentId}/state`);
    const ex = st.frameworks.flatMap((f: Json) => f.executors).find((e: Json) => e.id === 'proc-1');
    const r = await post(`${info.url}/agent/${agentId}/api/v1`, {
      type: 'KILL_CONTAINER',
      kill_container: { container_id: { value: ex.container }, signal: 15 },
    });
    assert.equal(r.status, 200, r.text);
    const s = await waitFor(
      'proc-1 to end',
      async () => {
        const u = await sched.update('proc-1', undefined, 15_000);
        if (u.uuid) await sched.ack(u);
        return ['TASK_FAILED', 'TASK_KILLED'].includes(u.state) ? u : undefined;
      },
      20_000,
    );
    assert.match(s.message ?? '', /signal Terminated|status 143/);
    const unknown = await post(`${info.url}/agent/${agentId}/api/v1`, { type: 'KILL_CONTAINER', kill_container: { container_id: { value: 'nope' } } });
    assert.equal(unknown.status, 404);
  });
});
