/**
 * Master restart and agent partition: nothing stored is lost, agents and frameworks come back,
 * unacknowledged updates are re-delivered, unreachable agents' tasks are reported and recovered.
 * In-process masters on SQLite, and a real `dcos master` child process killed with SIGKILL.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, describe, test } from 'node:test';
import { getJson, post, waitFor } from './lib/http.js';
import {
  FakeAgent,
  type Json,
  PARTITION_AWARE,
  Scheduler,
  closedWithin,
  frameworkInfo,
  legacyFramework,
  masterState,
  startTestMaster,
  taskInfo,
} from './lib/mesos.js';
import { type MasterProcess, spawnMaster } from './lib/proc.js';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'dcos-ts-master-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The Task an agent reports on REREGISTER for a task it runs. */
function reportedTask(frameworkId: string, agentId: string, taskId: string, state = 'TASK_RUNNING'): Json {
  const alloc = { role: '*' };
  return {
    name: `task ${taskId}`,
    task_id: { value: taskId },
    framework_id: { value: frameworkId },
    agent_id: { value: agentId },
    state,
    resources: [
      { name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 }, allocation_info: alloc },
      { name: 'mem', type: 'SCALAR', scalar: { value: 32 }, allocation_info: alloc },
    ],
    statuses: [],
  };
}

/**
 * Builds the scenario the restart tests check: one agent, one framework, task `kept` RUNNING and
 * acknowledged, task `unacked` RUNNING but its update not acknowledged. Returns what to check.
 */
async function scenario(base: string, closers: (() => void)[]) {
  const agent = await FakeAgent.start(base);
  closers.push(() => agent.close());
  const s = await Scheduler.subscribe(base, frameworkInfo({ name: 'durable', failover_timeout: 3600, checkpoint: true }));
  closers.push(() => s.close());
  await s.runTask(agent, 'kept');
  const offer = await s.offer((o) => o.agent_id.value === agent.id);
  await s.launch(offer, [taskInfo(offer, 'unacked')]);
  await agent.command('RUN_TASK', (c) => c.task.task_id.value === 'unacked');
  const uuid = await agent.update(s.frameworkId, 'unacked', 'TASK_RUNNING');
  const seen = await s.update('unacked', 'TASK_RUNNING');
  assert.equal(seen.uuid, uuid);
  return { agent, s, unackedUuid: uuid };
}

/** Checks a freshly restarted master against the scenario, brings the agent and framework back. */
async function checkRecovered(base: string, sc: Awaited<ReturnType<typeof scenario>>, closers: (() => void)[]) {
  const { agent, s } = sc;
  // Before anyone reconnects: the framework is recovered and disconnected, the agent recovered.
  const st = await masterState(base);
  const fw = st.frameworks.find((f: Json) => f.id === s.frameworkId);
  assert.ok(fw, `framework ${s.frameworkId} recovered; state has ${JSON.stringify(st.frameworks.map((f: Json) => f.id))}`);
  assert.equal(fw.name, 'durable');
  assert.equal(fw.connected, false);
  assert.equal(fw.active, false);
  assert.equal(fw.recovered, true);
  assert.equal(fw.checkpoint, true);
  assert.deepEqual(fw.tasks.map((x: Json) => x.id).sort(), ['kept', 'unacked']);
  for (const task of fw.tasks) assert.equal(task.state, 'TASK_RUNNING');
  assert.deepEqual(st.slaves, []);
  assert.deepEqual(
    st.recovered_slaves.map((a: Json) => a.id),
    [agent.id],
  );
  const ops = await post(`${base}/api/v1`, { type: 'GET_AGENTS' });
  assert.deepEqual(
    ((ops.json() as Json).get_agents.recovered_agents ?? []).map((a: Json) => a.id.value),
    [agent.id],
  );

  // The agent reregisters with its tasks.
  agent.base = base;
  const re = await agent.reregister([reportedTask(s.frameworkId, agent.id, 'kept'), reportedTask(s.frameworkId, agent.id, 'unacked')], [s.info]);
  assert.equal(re.status, 200, re.text);
  assert.deepEqual((re.json() as Json).agent_id, { value: agent.id });
  await agent.subscribe();
  const st2 = await masterState(base);
  assert.deepEqual(st2.recovered_slaves, []);
  assert.equal(st2.slaves.length, 1);
  assert.equal(st2.slaves[0].id, agent.id);
  assert.equal(st2.slaves[0].active, true);
  assert.deepEqual(st2.slaves[0].used_resources, { cpus: 0.2, gpus: 0, mem: 64, disk: 0 });
  const fw2 = st2.frameworks.find((f: Json) => f.id === s.frameworkId);
  assert.deepEqual(fw2.tasks.map((x: Json) => [x.id, x.state]).sort(), [
    ['kept', 'TASK_RUNNING'],
    ['unacked', 'TASK_RUNNING'],
  ]);

  // The framework fails over to the new master with its id.
  const s2 = await Scheduler.subscribe(base, { ...s.info, id: { value: s.frameworkId } });
  closers.push(() => s2.close());
  assert.equal(s2.frameworkId, s.frameworkId);
  const again = await s2.update('unacked', 'TASK_RUNNING');
  assert.equal(again.uuid, sc.unackedUuid, 'the unacknowledged update is re-delivered with its uuid');
  await s2.ack(again);
  assert.equal((await s2.call('RECONCILE', { tasks: [{ task_id: { value: 'kept' }, agent_id: { value: agent.id } }] })).status, 202);
  const rec = await s2.update('kept');
  assert.equal(rec.state, 'TASK_RUNNING');
  assert.equal(rec.reason, 'REASON_RECONCILIATION');
  assert.equal(rec.uuid, undefined);
  const f3 = await legacyFramework(base, s.frameworkId);
  assert.equal(f3?.fw.connected, true);
  assert.equal(f3?.fw.active, true);
  // Resources not used by the tasks are offered again.
  const offer = await s2.offer((o) => o.agent_id.value === agent.id);
  const cpus = offer.resources.find((r: Json) => r.name === 'cpus');
  assert.equal(cpus.scalar.value, 3.8);
  return s2;
}

describe('master recovery (in process, SQLite)', () => {
  test('a restarted master recovers frameworks, agents and tasks; the agent reregisters; the framework re-subscribes, gets its unacknowledged update again and reconciles', async (t) => {
    const dir = tempDir(t);
    const closers: (() => void)[] = [];
    const m1 = await startTestMaster({ store: 'sqlite', workDir: dir });
    t.after(async () => {
      for (const c of closers) c();
      await m1.stop();
    });
    const sc = await scenario(m1.base, closers);
    await m1.stop();
    sc.agent.close();
    sc.s.close();

    const m2 = await startTestMaster({ store: 'sqlite', workDir: dir });
    t.after(() => m2.stop());
    await checkRecovered(m2.base, sc, closers);
  });

  test('weights and quota survive a restart', async (t) => {
    const dir = tempDir(t);
    const m1 = await startTestMaster({ store: 'sqlite', workDir: dir });
    t.after(() => m1.stop());
    assert.equal((await post(`${m1.base}/api/v1`, { type: 'UPDATE_WEIGHTS', update_weights: { weight_infos: [{ role: 'dev', weight: 3 }] } })).status, 202);
    assert.equal(
      (
        await post(`${m1.base}/api/v1`, {
          type: 'UPDATE_QUOTA',
          update_quota: { quota_configs: [{ role: 'dev', guarantees: { cpus: { value: 1 } }, limits: { cpus: { value: 2 } } }] },
        })
      ).status,
      202,
    );
    await m1.stop();
    const m2 = await startTestMaster({ store: 'sqlite', workDir: dir });
    t.after(() => m2.stop());
    const w = (await post(`${m2.base}/api/v1`, { type: 'GET_WEIGHTS' })).json() as Json;
    assert.deepEqual(
      w.get_weights.weight_infos.find((x: Json) => x.role === 'dev'),
      { role: 'dev', weight: 3 },
    );
    const q = (await post(`${m2.base}/api/v1`, { type: 'GET_QUOTA' })).json() as Json;
    assert.deepEqual(
      q.get_quota.status.configs.find((x: Json) => x.role === 'dev'),
      { role: 'dev', guarantees: { cpus: { value: 1 } }, limits: { cpus: { value: 2 } } },
    );
  });

  test('a torn-down framework stays completed after a restart and cannot re-subscribe', async (t) => {
    const dir = tempDir(t);
    const m1 = await startTestMaster({ store: 'sqlite', workDir: dir });
    t.after(() => m1.stop());
    const s = await Scheduler.subscribe(m1.base, frameworkInfo({ name: 'gone' }));
    assert.equal((await s.call('TEARDOWN')).status, 202);
    await closedWithin(s.stream, 3000);
    await m1.stop();
    const m2 = await startTestMaster({ store: 'sqlite', workDir: dir });
    t.after(() => m2.stop());
    const f = await legacyFramework(m2.base, s.frameworkId);
    assert.equal(f?.where, 'completed_frameworks');
    await assert.rejects(Scheduler.subscribe(m2.base, frameworkInfo({ name: 'gone', id: { value: s.frameworkId } })), /ERROR/);
  });
});

describe('master recovery: agents that do not come back', () => {
  test('a recovered agent that does not reregister within the ping budget becomes unreachable; reconciliation says so', async (t) => {
    const dir = tempDir(t);
    const closers: (() => void)[] = [];
    t.after(() => {
      for (const c of closers) c();
    });
    const m1 = await startTestMaster({ store: 'sqlite', workDir: dir });
    t.after(() => m1.stop());
    const agent = await FakeAgent.start(m1.base);
    closers.push(() => agent.close());
    const s = await Scheduler.subscribe(m1.base, frameworkInfo({ name: 'pa', ...PARTITION_AWARE }));
    closers.push(() => s.close());
    await s.runTask(agent, 'stranded');
    await m1.stop();
    agent.close();
    s.close();

    const m2 = await startTestMaster({ store: 'sqlite', workDir: dir, config: { agentPingTimeoutMs: 100, maxAgentPingTimeouts: 2 } });
    t.after(() => m2.stop());
    const st = await waitFor(
      'agent unreachable',
      async () => {
        const x = await masterState(m2.base);
        return x.unreachable_slaves === 1 ? x : undefined;
      },
      3000,
    );
    assert.deepEqual(st.recovered_slaves, []);
    const fw = st.frameworks.find((f: Json) => f.id === s.frameworkId);
    assert.deepEqual(
      fw.unreachable_tasks.map((x: Json) => [x.id, x.state]),
      [['stranded', 'TASK_UNREACHABLE']],
    );
    const s2 = await Scheduler.subscribe(m2.base, { ...s.info, id: { value: s.frameworkId } });
    closers.push(() => s2.close());
    assert.equal((await s2.call('RECONCILE', { tasks: [{ task_id: { value: 'stranded' }, agent_id: { value: agent.id } }] })).status, 202);
    const r = await s2.ev.take((e) => e.type === 'UPDATE' && e.update.status.reason === 'REASON_RECONCILIATION', 'reconciliation');
    assert.equal(r.update.status.state, 'TASK_UNREACHABLE');
    assert.equal(r.update.status.uuid, undefined);
  });
});

describe('agent partition', () => {
  test('an agent that stops pinging becomes unreachable: TASK_UNREACHABLE (PARTITION_AWARE) / TASK_LOST; after REREGISTER the task runs again', async (t) => {
    const m = await startTestMaster({ config: { agentPingTimeoutMs: 100, maxAgentPingTimeouts: 2 } });
    const closers: (() => void)[] = [];
    t.after(async () => {
      for (const c of closers) c();
      await m.stop();
    });
    const agent = await FakeAgent.start(m.base);
    closers.push(() => agent.close());
    agent.startPinging(30);
    const pa = await Scheduler.subscribe(m.base, frameworkInfo({ name: 'pa', ...PARTITION_AWARE }));
    closers.push(() => pa.close());
    const plain = await Scheduler.subscribe(m.base, frameworkInfo({ name: 'plain' }));
    closers.push(() => plain.close());
    await pa.runTask(agent, 'pa-task');
    await plain.runTask(agent, 'plain-task');

    const t0 = Date.now();
    agent.stopPinging();
    const unreachable = await pa.update('pa-task', 'TASK_UNREACHABLE', 3000);
    assert.ok(Date.now() - t0 >= 150, `marked unreachable after ${Date.now() - t0} ms, before the ping budget (2 x 100 ms) ran out`);
    assert.equal(unreachable.source, 'SOURCE_MASTER');
    assert.equal(unreachable.uuid, undefined);
    assert.equal(typeof unreachable.unreachable_time?.nanoseconds, 'number');
    const lost = await plain.update('plain-task', undefined, 3000);
    assert.equal(lost.state, 'TASK_LOST');
    assert.equal(lost.uuid, undefined);
    assert.equal(await closedWithin(agent.stream!, 2000), true, "the agent's command stream is closed");

    const st = await masterState(m.base);
    assert.equal(st.unreachable_slaves, 1);
    assert.equal(st.slaves.length, 0);
    const paFw = st.frameworks.find((f: Json) => f.id === pa.frameworkId);
    assert.deepEqual(
      paFw.unreachable_tasks.map((x: Json) => [x.id, x.state]),
      [['pa-task', 'TASK_UNREACHABLE']],
    );
    assert.deepEqual(paFw.tasks, []);
    const metrics = await getJson(`${m.base}/metrics/snapshot`);
    assert.equal(metrics['master/slaves_unreachable'], 1);
    assert.equal(metrics['master/tasks_unreachable'], 1);
    assert.equal((await agent.ping()) >= 400, true, 'an unreachable agent must reregister before pinging');
    // Reconciliation tells the PA framework the task is unreachable.
    assert.equal((await pa.call('RECONCILE', { tasks: [{ task_id: { value: 'pa-task' }, agent_id: { value: agent.id } }] })).status, 202);
    const r = await pa.update('pa-task', 'TASK_UNREACHABLE');
    assert.equal(r.reason, 'REASON_RECONCILIATION');

    // The agent comes back with both tasks still running.
    const re = await agent.reregister(
      [reportedTask(pa.frameworkId, agent.id, 'pa-task'), reportedTask(plain.frameworkId, agent.id, 'plain-task')],
      [pa.info, plain.info],
    );
    assert.equal(re.status, 200, re.text);
    agent.startPinging(30);
    await agent.subscribe();
    const st2 = await masterState(m.base);
    assert.equal(st2.unreachable_slaves, 0);
    assert.equal(st2.slaves.length, 1);
    const paFw2 = st2.frameworks.find((f: Json) => f.id === pa.frameworkId);
    assert.deepEqual(
      paFw2.tasks.map((x: Json) => [x.id, x.state]),
      [['pa-task', 'TASK_RUNNING']],
    );
    assert.deepEqual(paFw2.unreachable_tasks, []);
    assert.equal((await getJson(`${m.base}/metrics/snapshot`))['master/tasks_running'] >= 1, true);
    // The master may tell the PA framework right away (REASON_AGENT_REREGISTERED, no uuid); a
    // reconciliation must say TASK_RUNNING in any case.
    assert.equal((await pa.call('RECONCILE', { tasks: [{ task_id: { value: 'pa-task' } }] })).status, 202);
    const isPa = (e: Json) => e.type === 'UPDATE' && e.update.status.task_id.value === 'pa-task';
    const back = (await pa.ev.take((e) => isPa(e) && e.update.status.reason === 'REASON_RECONCILIATION', 'reconciliation of pa-task')).update.status;
    assert.equal(back.state, 'TASK_RUNNING');
    assert.equal(back.uuid, undefined);
    for (const e of pa.ev.events.filter((e: Json) => isPa(e) && e.update.status.reason === 'REASON_AGENT_REREGISTERED')) {
      assert.equal(e.update.status.state, 'TASK_RUNNING');
      assert.equal(e.update.status.uuid, undefined);
    }
  });
});

describe('master as a child process', () => {
  async function spawn(t: TestContext, dir: string): Promise<MasterProcess> {
    const p = await spawnMaster(dir, ['--allocation_interval=50ms']);
    t.after(() => p.kill());
    return p;
  }

  test('SIGKILL and restart on the same work_dir loses nothing: agents, frameworks, tasks, unacknowledged updates', async (t) => {
    const dir = tempDir(t);
    const closers: (() => void)[] = [];
    t.after(() => {
      for (const c of closers) c();
    });
    const p1 = await spawn(t, dir);
    const sc = await scenario(p1.base, closers);
    const before = await masterState(p1.base);
    p1.proc.kill('SIGKILL');
    const exit = await p1.exited;
    assert.equal(exit.signal, 'SIGKILL');
    sc.agent.close();
    sc.s.close();

    const p2 = await spawn(t, dir);
    assert.notEqual(p2.ready.master_id, p1.ready.master_id);
    await checkRecovered(p2.base, sc, closers);
    const after = await masterState(p2.base);
    assert.deepEqual(
      after.frameworks.map((f: Json) => f.id),
      before.frameworks.map((f: Json) => f.id),
    );
    assert.deepEqual(
      after.slaves.map((a: Json) => [a.id, a.hostname, a.resources]),
      before.slaves.map((a: Json) => [a.id, a.hostname, a.resources]),
    );
  });

  test('SIGTERM stops the master promptly even with a subscribed framework', {}, async (t) => {
    const dir = tempDir(t);
    const p = await spawn(t, dir);
    const s = await Scheduler.subscribe(p.base, frameworkInfo({ failover_timeout: 3600 }));
    t.after(() => s.close());
    p.proc.kill('SIGTERM');
    const exit = await Promise.race([p.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 3000))]);
    assert.ok(exit, `still running 3 s after SIGTERM; stderr: ${p.stderr().slice(-500)}`);
    assert.equal(exit.code, 0);
  });

  test('SIGTERM with no framework connected exits 0 and the registry survives', async (t) => {
    const dir = tempDir(t);
    const p = await spawn(t, dir);
    const agent = await FakeAgent.register(p.base, { hostname: 'term.test' });
    p.proc.kill('SIGTERM');
    const exit = await Promise.race([p.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000))]);
    assert.ok(exit, 'exited within 5 s');
    assert.equal(exit.code, 0);
    const p2 = await spawn(t, dir);
    const st = await waitFor(
      'recovered agent',
      async () => {
        const s = await masterState(p2.base);
        return s.recovered_slaves.length > 0 ? s : undefined;
      },
      3000,
    );
    assert.deepEqual(
      st.recovered_slaves.map((a: Json) => [a.id, a.hostname]),
      [[agent.id, 'term.test']],
    );
  });
});
