import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { getJson, waitFor } from './lib/http.js';
import { Scheduler, frameworkInfo, taskInfo } from './lib/mesos.js';

const require = createRequire(import.meta.url);
const DCOS = resolve('dist/src/main/dcos.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function dcos(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((res) => {
    execFile(process.execPath, [DCOS, ...args], { env: { ...process.env, ...env }, timeout: 120_000 }, (err, stdout, stderr) => {
      res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/**
 * A cluster of real processes brought up with `dcos up`, driven by the unchanged npm package
 * mesos-framework (a third-party Mesos v1 HTTP scheduler) and by the CLI.
 */
describe('a local cluster of real processes', () => {
  const home = mkdtempSync(join(tmpdir(), 'dcos-e2e-'));
  const workDir = join(home, 'cluster');
  const env = { DCOS_TS_CONFIG_DIR: join(home, 'config'), DCOS_TS_HOME: home };
  let info: { url: string; mesos: string; workDir: string };

  before(async () => {
    const r = await dcos(
      ['up', '--detach', '--json', '--agents=2', `--work-dir=${workDir}`, '--resources=cpus:2;mem:1024;disk:2048', '--agent-ping-timeout=1secs'],
      env,
    );
    assert.equal(r.code, 0, `dcos up failed: ${r.stderr}`);
    info = JSON.parse(r.stdout);
  });

  after(async () => {
    await dcos(['down', '--purge', `--work-dir=${workDir}`], env);
    rmSync(home, { recursive: true, force: true });
  });

  test('dcos up --json prints the cluster URL, the master address and the work dir', async () => {
    assert.match(info.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(info.mesos, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(info.workDir, workDir);
    const version = await getJson(`${info.url}/dcos-metadata/dcos-version.json`);
    assert.equal(typeof version.version, 'string');
    const state = await getJson(`${info.url}/mesos/master/state`);
    assert.equal(state.slaves.length, 2);
    assert.deepEqual(state.slaves.map((s: { hostname: string }) => s.hostname).sort(), ['127.0.0.2', '127.0.0.3']);
  });

  test('dcos node list shows the master and both agents, as a table and as JSON', async () => {
    const table = await dcos(['node', 'list'], env);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /master \(leader\)/);
    assert.match(table.stdout, /127\.0\.0\.2/);
    const json = await dcos(['node', 'list', '--json'], env);
    const nodes = JSON.parse(json.stdout);
    assert.equal(nodes.length, 2);
    assert.ok(nodes.every((n: { active: boolean }) => n.active));
  });

  test('mesos-framework subscribes, launches command tasks, gets updates, reconciles and tears down', async () => {
    const { Scheduler, Mesos } = require('mesos-framework');
    const M = Mesos.getMesos();
    const mesosUrl = new URL(info.mesos);
    const logDir = join(home, 'fw-logs');
    const seen: { id: string; state: string }[] = [];
    let frameworkId = '';
    const scheduler = new Scheduler({
      masterUrl: mesosUrl.hostname,
      port: Number(mesosUrl.port),
      frameworkName: 'acceptance-fw',
      logging: { level: 'error', path: logDir, fileName: 'fw.log' },
      tasks: {
        echoer: {
          priority: 1,
          instances: 2,
          commandInfo: new M.CommandInfo(null, null, true, 'echo "hello from $MESOS_TASK_ID on port $PORT0"; sleep 30', null, null),
          resources: { cpus: 0.1, mem: 32, ports: 1, disk: 0 },
        },
      },
    });
    // The library's own UPDATE handler tracks tasks and acknowledges; we only watch.
    scheduler.on('update', (update: { status: { task_id: { value: string }; state: string } }) => {
      seen.push({ id: update.status.task_id.value, state: update.status.state });
    });
    const errors: unknown[] = [];
    scheduler.on('error', (e: unknown) => errors.push(e));
    scheduler.on('subscribed', (o: { frameworkId: string }) => {
      frameworkId = o.frameworkId;
    });
    scheduler.on('ready', () => scheduler.subscribe());
    try {
      await waitFor('two tasks running', () => new Set(seen.filter((s) => s.state === 'TASK_RUNNING').map((s) => s.id)).size >= 2, 30_000);
      assert.ok(frameworkId, 'the framework got an id');
      const state = await getJson(`${info.url}/mesos/master/state`);
      const fw = state.frameworks.find((f: { id: string }) => f.id === frameworkId);
      assert.equal(fw.name, 'acceptance-fw');
      assert.equal(fw.tasks.filter((t: { state: string }) => t.state === 'TASK_RUNNING').length, 2);
      // Each task got one port from its agent's range and the Mesos environment.
      const taskId = fw.tasks[0].id as string;
      const log = await waitFor(
        'the task log',
        async () => {
          const r = await dcos(['task', 'log', taskId], env);
          return r.code === 0 && r.stdout.includes('hello from') ? r.stdout : undefined;
        },
        15_000,
        250,
      );
      assert.match(log, new RegExp(`hello from ${taskId} on port 3\\d{4}`));

      // Reconcile: the framework asks for every task's latest state.
      const before = seen.length;
      scheduler.reconcile();
      await waitFor('reconciliation answers', () => seen.length >= before + 2, 10_000);

      // CLI views of the same state.
      const services = JSON.parse((await dcos(['service', 'list', '--json'], env)).stdout);
      assert.ok(services.some((s: { name: string }) => s.name === 'acceptance-fw'));
      const tasks = JSON.parse((await dcos(['task', 'list', '--json'], env)).stdout);
      assert.equal(tasks.filter((t: { framework_id: string }) => t.framework_id === frameworkId).length, 2);

      assert.deepEqual(errors, [], 'no errors before the teardown');
      scheduler.teardown();
      await waitFor(
        'the framework to be completed',
        async () => {
          const s = await getJson(`${info.url}/mesos/master/state`);
          return s.completed_frameworks.some((f: { id: string }) => f.id === frameworkId) ? true : undefined;
        },
        15_000,
      );
    } finally {
      try {
        scheduler.httpAgent?.destroy?.();
      } catch {}
    }
  });

  test('dcos task log for an unknown task fails with one line and a hint', async () => {
    const r = await dcos(['task', 'log', 'no-such-task'], env);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^Error: No task matches 'no-such-task'/);
  });

  let ticker: { taskId: string; agentId: string; frameworkId: string } | undefined;

  test("dcos task log --follow streams a running task's output as it is written", async () => {
    const sched = await Scheduler.subscribe(info.mesos, frameworkInfo({ name: 'ticker', failover_timeout: 3600 }));
    try {
      const offer = await sched.offer(() => true, 10_000);
      const task = taskInfo(offer, 'ticker-1');
      // Bounded, so nothing can outlive the test run by much.
      task.command.value = 'for i in $(seq 1 3000); do echo "tick $i"; sleep 0.2; done';
      await sched.launch(offer, [task]);
      for (const state of ['TASK_STARTING', 'TASK_RUNNING']) await sched.ack(await sched.update('ticker-1', state, 15_000));
      ticker = { taskId: 'ticker-1', agentId: offer.agent_id.value, frameworkId: sched.frameworkId };
      const child = spawn(process.execPath, [DCOS, 'task', 'log', 'ticker-1', '--follow', '--lines=1'], { env: { ...process.env, ...env } });
      let out = '';
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
      });
      try {
        const ticks = await waitFor(
          'three new ticks while following',
          () => {
            const n = [...out.matchAll(/tick (\d+)/g)].map((m) => Number(m[1]));
            return n.length >= 4 ? n : undefined;
          },
          15_000,
        );
        // Consecutive lines, in order: the follower neither skips nor repeats output.
        for (let i = 1; i < ticks.length; i++) assert.equal(ticks[i], (ticks[i - 1] as number) + 1);
      } finally {
        child.kill('SIGINT');
      }
    } finally {
      sched.close();
    }
  });

  test('dcos down stops the cluster and dcos up brings back the same agents', async () => {
    const before = await getJson(`${info.url}/mesos/master/state`);
    const ids = before.slaves.map((s: { id: string }) => s.id).sort();
    const down = await dcos(['down', `--work-dir=${workDir}`], env);
    assert.equal(down.code, 0, down.stderr);
    await assert.rejects(fetch(`${info.url}/mesos/master/state`));
    const again = await dcos(['up', '--detach', '--json', `--work-dir=${workDir}`], env);
    assert.equal(again.code, 0, again.stderr);
    info = JSON.parse(again.stdout);
    const after = await waitFor(
      'both agents to reregister',
      async () => {
        const s = await getJson(`${info.url}/mesos/master/state`);
        return s.slaves.length === 2 ? s : undefined;
      },
      20_000,
    );
    assert.deepEqual(after.slaves.map((s: { id: string }) => s.id).sort(), ids);
    // The torn-down framework is remembered across the restart.
    assert.ok(after.completed_frameworks.some((f: { name: string }) => f.name === 'acceptance-fw'));
    // The task kept running while the cluster was down; its agent reattached it.
    assert.ok(ticker, 'the ticker task was launched');
    const running = await waitFor(
      'the ticker task to be running again',
      async () => {
        const s = await getJson(`${info.url}/mesos/master/state`);
        const fw = s.frameworks.find((f: { id: string }) => f.id === ticker?.frameworkId);
        return fw?.tasks.find((t: { id: string; state: string }) => t.id === 'ticker-1' && t.state === 'TASK_RUNNING');
      },
      20_000,
    );
    assert.equal(running.slave_id, ticker?.agentId);
  });

  test('an agent killed with SIGKILL becomes unreachable after the ping timeout', async () => {
    const cluster = JSON.parse(readFileSync(join(workDir, 'cluster.json'), 'utf8'));
    // Kill the agent that does not run the ticker, so the purge at the end can still stop it.
    const state = await getJson(`${info.url}/mesos/master/state`);
    const tickerHost = state.slaves.find((a: { id: string }) => a.id === ticker?.agentId)?.hostname;
    const victim = cluster.agents.findIndex((a: { ip: string }) => a.ip !== tickerHost);
    const pid = cluster.pids.agents[victim] as number;
    process.kill(pid, 'SIGKILL');
    // agent_ping_timeout 1 s × 5 missed pings.
    const s = await waitFor(
      'the agent to be marked unreachable',
      async () => {
        const st = await getJson(`${info.url}/mesos/master/state`);
        return st.unreachable_slaves === 1 ? st : undefined;
      },
      20_000,
      250,
    );
    assert.equal(s.slaves.length, 1);
    const nodes = await dcos(['node', 'list'], env);
    assert.match(nodes.stdout, /1 agent\(s\) unreachable/);
  });
});
