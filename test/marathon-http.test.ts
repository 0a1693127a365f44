/**
 * Marathon as its own process (`dcos marathon-server`) over the master's scheduler HTTP API:
 * a real `dcos master` (no Marathon inside), a real `dcos agent` running the tasks, and Marathon
 * in a third process. Marathon is killed with SIGKILL and comes back with its state; the master
 * is killed with SIGKILL and Marathon re-subscribes as the same framework with its tasks.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { getJson, waitFor } from './lib/http.js';
import type { Json } from './lib/mesos.js';
import { type MasterProcess, REPO_ROOT, spawnMaster } from './lib/proc.js';

const DCOS = resolve(REPO_ROOT, 'dist/src/main/dcos.js');

interface Proc {
  proc: ChildProcess;
  ready: Json;
  stderr(): string;
  kill(): Promise<void>;
}

/** Spawns `dcos <args>` and resolves on its first JSON line with `event` (ready/registered). */
function spawnDcos(args: string[], timeoutMs = 15_000): Promise<Proc> {
  const proc = spawn(process.execPath, [DCOS, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  let out = '';
  proc.stderr?.on('data', (c: Buffer) => {
    err = (err + c.toString('utf8')).slice(-100_000);
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      fail(new Error(`dcos ${args[0]} not ready in ${timeoutMs} ms: ${err.slice(-2000)}`));
    }, timeoutMs);
    void exited.then(() => {
      clearTimeout(timer);
      fail(new Error(`dcos ${args[0]} exited before ready: ${err.slice(-2000)}`));
    });
    proc.stdout?.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      for (const line of out.split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          const ready = JSON.parse(line) as Json;
          if (!ready.event) continue;
          clearTimeout(timer);
          ok({
            proc,
            ready,
            stderr: () => err,
            async kill() {
              if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
              await exited;
            },
          });
          return;
        } catch {}
      }
    });
  });
}

/** Pids of processes whose command line contains `marker`. */
function pidsWith(marker: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(marker)) pids.push(Number(d));
    } catch {}
  }
  return pids;
}

describe('Marathon in its own process over the scheduler HTTP API', { timeout: 180_000 }, () => {
  const dirs: string[] = [];
  const tmp = (p: string) => {
    const d = mkdtempSync(join(tmpdir(), p));
    dirs.push(d);
    return d;
  };
  const masterDir = tmp('mara-http-master-');
  const agentDir = tmp('mara-http-agent-');
  const marathonDir = tmp('mara-http-marathon-');
  const marker = `mara-http-${process.pid}-${Date.now()}`;
  let master: MasterProcess;
  let agent: Proc;
  let marathon: Proc;
  let base = '';
  const masterArgs = ['--marathon_port=none', '--dns_port=none', '--vip_mode=none', '--allocation_interval=100ms', '--gateway_port=0'];

  const startMarathon = async () => {
    marathon = await spawnDcos(['marathon-server', `--master=http://127.0.0.1:${master.port}`, `--work_dir=${marathonDir}`, '--http_port=0']);
    base = `http://127.0.0.1:${marathon.ready.http_port}`;
  };
  const marathonFramework = async () => ((await getJson(`${master.base}/master/state`)) as Json).frameworks.filter((f: Json) => f.name === 'marathon');
  const runningTasks = async (): Promise<string[]> => {
    const r = await fetch(`${base}/v2/apps/http/worker/tasks`);
    if (r.status !== 200) return [];
    return ((await r.json()) as Json).tasks
      .filter((t: Json) => t.state === 'TASK_RUNNING')
      .map((t: Json) => t.id as string)
      .sort();
  };
  const settled = async (n: number) =>
    waitFor(
      `${n} tasks running and no deployment`,
      async () => {
        const deps = (await getJson(`${base}/v2/deployments`).catch(() => undefined)) as Json[] | undefined;
        const ids = await runningTasks().catch(() => []);
        return deps && deps.length === 0 && ids.length === n ? ids : undefined;
      },
      45_000,
      200,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\nmarathon: ${marathon.stderr().slice(-3000)}\nmaster: ${master.stderr().slice(-2000)}`);
    });

  before(async () => {
    master = await spawnMaster(masterDir, masterArgs);
    agent = await spawnDcos([
      'agent',
      `--master=127.0.0.1:${master.port}`,
      '--port=0',
      `--work_dir=${agentDir}`,
      '--isolation=none',
      '--resources=cpus:2;mem:1024;disk:1024;ports:[31000-31100]',
    ]);
    await startMarathon();
  });
  after(async () => {
    await marathon?.kill();
    await agent?.kill();
    await master?.kill();
    for (const p of pidsWith(marker)) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {}
    }
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  let frameworkId = '';
  let tasks: string[] = [];

  test('subscribes as framework marathon over HTTP and deploys an app whose tasks run on the real agent', async () => {
    const fws = await waitFor('marathon framework at the master', async () => {
      const f = await marathonFramework();
      return f.length === 1 && f[0].active ? f : undefined;
    });
    frameworkId = fws[0].id;
    const info = (await getJson(`${base}/v2/info`)) as Json;
    assert.equal(info.frameworkId, frameworkId);
    assert.equal(info.marathon_config.master, `http://127.0.0.1:${master.port}`);
    const r = await fetch(`${base}/v2/apps`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ id: '/http/worker', cmd: `while true; do sleep 1; done # ${marker}`, cpus: 0.1, mem: 16, instances: 2 }),
    });
    assert.equal(r.status, 201, await r.text());
    tasks = await settled(2);
    const state = (await getJson(`${master.base}/master/state`)) as Json;
    const atMaster = state.frameworks
      .find((f: Json) => f.id === frameworkId)
      .tasks.filter((t: Json) => t.state === 'TASK_RUNNING')
      .map((t: Json) => t.id)
      .sort();
    assert.deepEqual(atMaster, tasks);
    assert.equal(pidsWith(marker).length >= 2, true, 'the task processes run');
    // The master's gateway reaches this Marathon by its framework webui_url, so the CLI works too.
    const gateway = `http://127.0.0.1:${master.ready.gateway_port}`;
    const viaGateway = (await getJson(`${gateway}/service/marathon/v2/apps/http/worker`)) as Json;
    assert.equal(viaGateway.app.tasksRunning, 2);
    const cli = await new Promise<{ code: number; stdout: string; stderr: string }>((res) =>
      execFile(
        process.execPath,
        [DCOS, 'marathon', 'task', 'list', '/http/worker', '--json'],
        { env: { ...process.env, DCOS_URL: gateway } },
        (err, stdout, stderr) => res({ code: err ? 1 : 0, stdout, stderr }),
      ),
    );
    assert.equal(cli.code, 0, cli.stderr);
    assert.deepEqual(
      JSON.parse(cli.stdout)
        .map((t: Json) => t.id)
        .sort(),
      tasks,
    );
  });

  test('Marathon killed with SIGKILL: restarted, it recovers the app, the same framework and tasks, and reconciles a task that died meanwhile', async () => {
    await marathon.kill();
    await waitFor('the master to see marathon disconnected', async () => ((await marathonFramework())[0]?.active === false ? true : undefined), 15_000);
    // One task dies while Marathon is away: its update waits at the master.
    // The task's own shell (`/bin/sh -c <cmd>`), not the agent's supervisor around it.
    const victim = pidsWith(marker).find((p) => {
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      return argv[1] === '-c' && argv[2]?.includes(marker);
    });
    assert.ok(victim, 'a task process to kill');
    process.kill(victim as number, 'SIGKILL');
    await startMarathon();
    const info = (await getJson(`${base}/v2/info`)) as Json;
    assert.equal(info.frameworkId, frameworkId, 'the stored framework id is reused');
    const now = await waitFor(
      'the dead task replaced',
      async () => {
        const ids = await settled(2);
        return ids.filter((t) => tasks.includes(t)).length === 1 ? ids : undefined;
      },
      45_000,
      200,
    );
    const fws = await marathonFramework();
    assert.equal(fws.length, 1, 'still one marathon framework');
    assert.equal(fws[0].id, frameworkId);
    assert.equal(fws[0].active, true);
    const app = ((await getJson(`${base}/v2/apps/http/worker`)) as Json).app;
    assert.ok(app.lastTaskFailure, 'the task that died is recorded as a failure');
    assert.ok(tasks.includes(app.lastTaskFailure.taskId));
    tasks = now;
  });

  test('the master killed with SIGKILL and restarted: Marathon re-subscribes with the same framework id and keeps its tasks', async () => {
    const port = master.port;
    await master.kill();
    master = await spawnMaster(masterDir, [...masterArgs, `--port=${port}`]);
    assert.equal(master.port, port);
    await waitFor(
      'marathon to re-subscribe',
      async () => {
        const f = await marathonFramework();
        return f.length === 1 && f[0].active && f[0].id === frameworkId ? true : undefined;
      },
      45_000,
      200,
    );
    await waitFor(
      'the agent to re-register with its tasks',
      async () => {
        const s = (await getJson(`${master.base}/master/state`)) as Json;
        const fw = s.frameworks.find((f: Json) => f.id === frameworkId);
        return fw && fw.tasks.filter((t: Json) => t.state === 'TASK_RUNNING').length === 2 ? true : undefined;
      },
      45_000,
      200,
    );
    const now = await settled(2);
    assert.deepEqual(now, tasks, 'no task replaced');
    // Marathon works after the failover: a scale-up launches through the new stream.
    const r = await fetch(`${base}/v2/apps/http/worker`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ instances: 3 }),
    });
    assert.equal(r.status, 200);
    const scaled = await settled(3);
    for (const t of tasks) assert.ok(scaled.includes(t));
  });
});
