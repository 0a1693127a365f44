/**
 * Mesos v1 operator API (POST /api/v1) and the legacy master endpoints in their legacy JSON shapes
 * (reference/api-contracts.md §0, §2, Appendix A). Real HTTP on loopback, one master per test.
 */
import assert from 'node:assert/strict';
import { type TestContext, describe, test } from 'node:test';
import type { MasterConfig } from '../src/services/master/config.js';
import { getJson, openStream, post, waitFor } from './lib/http.js';
import {
  FakeAgent,
  type Json,
  PARTITION_AWARE,
  Scheduler,
  closedWithin,
  frameworkInfo,
  framingErrors,
  legacyFramework,
  masterState,
  rawRequest,
  startTestMaster,
  taskInfo,
} from './lib/mesos.js';

async function setup(t: TestContext, config: Partial<MasterConfig> = {}) {
  const m = await startTestMaster({ config });
  const closers: (() => void)[] = [];
  t.after(async () => {
    for (const c of closers) c();
    await m.stop();
  });
  return {
    m,
    base: m.base,
    port: m.port,
    api: `${m.base}/api/v1`,
    async agent(opts: Parameters<typeof FakeAgent.start>[1] = {}) {
      const a = await FakeAgent.start(m.base, opts);
      closers.push(() => a.close());
      return a;
    },
    async sched(info: Json = frameworkInfo()) {
      const s = await Scheduler.subscribe(m.base, info);
      closers.push(() => s.close());
      return s;
    },
    onClose(fn: () => void) {
      closers.push(fn);
    },
  };
}

const ATTRS = [
  { name: 'rack', type: 'TEXT', text: { value: 'r1' } },
  { name: 'cores', type: 'SCALAR', scalar: { value: 8 } },
];

/** A master with one agent and one framework running task `web-1` (cpus 0.5, mem 128, ports 31000-31001). */
async function cluster(t: TestContext, config: Partial<MasterConfig> = {}, info: Json = frameworkInfo({ name: 'op-fw' })) {
  const env = await setup(t, config);
  const agent = await env.agent({ hostname: 'agent-op.test', attributes: ATTRS });
  const s = await env.sched(info);
  const offer = await s.offer();
  const ti = taskInfo(offer, 'web-1', { cpus: 0.5, mem: 128, name: 'web' });
  ti.resources.push({ name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31000, end: 31001 }] }, allocation_info: offer.allocation_info });
  await s.launch(offer, [ti]);
  await agent.command('RUN_TASK');
  await agent.update(s.frameworkId, 'web-1', 'TASK_RUNNING');
  await s.ack(await s.update('web-1', 'TASK_RUNNING'));
  return { ...env, agent, s };
}

async function ok(api: string, call: Json): Promise<Json> {
  const r = await post(api, call);
  assert.equal(r.status, 200, `${call.type}: ${r.text}`);
  const body = r.json() as Json;
  assert.equal(body.type, call.type);
  return body[call.type.toLowerCase()];
}

describe('operator API: simple calls', () => {
  test('GET_HEALTH', async (t) => {
    const { api } = await setup(t);
    const r = await fetch(api, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ type: 'GET_HEALTH' }) });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type')?.split(';')[0], 'application/json');
    assert.deepEqual(await r.json(), { type: 'GET_HEALTH', get_health: { healthy: true } });
  });

  test('unknown query parameters such as ?_ts= are ignored', async (t) => {
    const { api } = await setup(t);
    const r = await post(`${api}?_ts=1700000000123`, { type: 'GET_HEALTH' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json(), { type: 'GET_HEALTH', get_health: { healthy: true } });
  });

  test('GET_FLAGS lists name/value strings', async (t) => {
    const { api, port } = await setup(t, { allocationIntervalMs: 50, agentPingTimeoutMs: 15_000 });
    const flags = (await ok(api, { type: 'GET_FLAGS' })).flags as Json[];
    assert.ok(Array.isArray(flags) && flags.length > 0);
    for (const f of flags) {
      assert.equal(typeof f.name, 'string');
      assert.equal(typeof f.value, 'string', `flag ${f.name} has a string value`);
    }
    const get = (n: string) => flags.find((f) => f.name === n)?.value;
    assert.equal(get('port'), String(port));
    assert.equal(get('agent_ping_timeout'), '15secs');
    assert.equal(get('allocation_interval'), '50ms');
  });

  test('GET_VERSION matches /version', async (t) => {
    const { api, base } = await setup(t);
    const v = (await ok(api, { type: 'GET_VERSION' })).version_info;
    assert.equal(typeof v.version, 'string');
    assert.match(v.version, /^\d+\.\d+\.\d+/);
    assert.equal(typeof v.build_date, 'string');
    assert.equal(typeof v.build_time, 'number');
    assert.equal(typeof v.build_user, 'string');
    assert.deepEqual(await getJson(`${base}/version`), v);
  });

  test('GET_METRICS returns {name, value} numbers', async (t) => {
    const env = await setup(t);
    await env.agent();
    const metrics = (await ok(env.api, { type: 'GET_METRICS', get_metrics: { timeout: { nanoseconds: 1e9 } } })).metrics as Json[];
    for (const m of metrics) assert.equal(typeof m.value, 'number', m.name);
    const get = (n: string) => metrics.find((m) => m.name === n)?.value;
    assert.equal(get('master/elected'), 1);
    assert.equal(get('master/slaves_active'), 1);
  });

  test('GET_MASTER', async (t) => {
    const { api, port } = await setup(t);
    const g = await ok(api, { type: 'GET_MASTER' });
    assert.equal(g.master_info.port, port);
    assert.equal(g.master_info.address.ip, '127.0.0.1');
    assert.equal(typeof g.master_info.id, 'string');
    assert.equal(typeof g.start_time, 'number');
    assert.equal(typeof g.elected_time, 'number');
    assert.ok(g.elected_time >= g.start_time);
  });

  test('malformed JSON is 400; an unknown call type is 400', async (t) => {
    const { api } = await setup(t);
    const bad = await rawRequest(api, { body: '{"type":', headers: { 'Content-Type': 'application/json' } });
    assert.equal(bad.status, 400);
    assert.ok(bad.text.startsWith('Failed to parse body into JSON'), bad.text);
    const unknown = await post(api, { type: 'MAKE_COFFEE' });
    assert.equal(unknown.status, 400);
    const missing = await rawRequest(api, { body: '{"type":"GET_HEALTH"}' });
    assert.equal(missing.status, 400);
    assert.equal(missing.text, "Expecting 'Content-Type' to be present");
  });
});

describe('operator API: cluster state', () => {
  test('GET_STATE, GET_AGENTS, GET_FRAMEWORKS, GET_TASKS describe the cluster in protobuf JSON', async (t) => {
    const c = await cluster(t);
    const st = await ok(c.api, { type: 'GET_STATE' });
    assert.deepEqual(Object.keys(st).sort(), ['get_agents', 'get_executors', 'get_frameworks', 'get_tasks']);
    const task = st.get_tasks.tasks[0];
    assert.deepEqual(task.task_id, { value: 'web-1' });
    assert.deepEqual(task.framework_id, { value: c.s.frameworkId });
    assert.deepEqual(task.agent_id, { value: c.agent.id });
    assert.equal(task.state, 'TASK_RUNNING');
    assert.equal(task.name, 'web');
    assert.ok(Array.isArray(task.resources) && task.resources.every((r: Json) => typeof r.type === 'string'));
    assert.equal(st.get_frameworks.frameworks[0].framework_info.id.value, c.s.frameworkId);
    assert.equal(st.get_agents.agents[0].agent_info.id.value, c.agent.id);

    const agents = await ok(c.api, { type: 'GET_AGENTS' });
    assert.equal(agents.agents.length, 1);
    const a = agents.agents[0];
    assert.equal(a.active, true);
    assert.equal(a.pid, 'slave(1)@127.0.0.1:5051');
    assert.equal(a.agent_info.hostname, 'agent-op.test');
    assert.equal(typeof a.registered_time.nanoseconds, 'number');
    const cpus = a.total_resources.find((r: Json) => r.name === 'cpus');
    assert.deepEqual(cpus.scalar, { value: 4 });
    const used = a.allocated_resources.find((r: Json) => r.name === 'cpus');
    assert.equal(used.scalar.value, 0.5);

    const fws = await ok(c.api, { type: 'GET_FRAMEWORKS' });
    assert.equal(fws.frameworks.length, 1);
    const f = fws.frameworks[0];
    assert.equal(f.framework_info.name, 'op-fw');
    assert.equal(f.active, true);
    assert.equal(f.connected, true);
    assert.equal(f.recovered, false);
    assert.equal(typeof f.registered_time.nanoseconds, 'number');

    const tasks = await ok(c.api, { type: 'GET_TASKS' });
    assert.deepEqual(
      tasks.tasks.map((x: Json) => x.task_id.value),
      ['web-1'],
    );
  });

  test('GET_ROLES', async (t) => {
    const c = await cluster(t);
    const roles = (await ok(c.api, { type: 'GET_ROLES' })).roles as Json[];
    const star = roles.find((r) => r.name === '*');
    assert.ok(star, JSON.stringify(roles));
    assert.equal(star.weight, 1);
    assert.deepEqual(star.frameworks, [{ value: c.s.frameworkId }]);
  });

  test('UPDATE_WEIGHTS is 202 and GET_WEIGHTS/GET_ROLES/roles reflect it', async (t) => {
    const { api, base } = await setup(t);
    const r = await post(api, { type: 'UPDATE_WEIGHTS', update_weights: { weight_infos: [{ role: 'dev', weight: 2.5 }] } });
    assert.equal(r.status, 202, r.text);
    assert.equal(r.text, '');
    const w = await ok(api, { type: 'GET_WEIGHTS' });
    assert.deepEqual(
      w.weight_infos.find((x: Json) => x.role === 'dev'),
      { role: 'dev', weight: 2.5 },
    );
    const roles = (await ok(api, { type: 'GET_ROLES' })).roles as Json[];
    assert.equal(roles.find((x) => x.name === 'dev')?.weight, 2.5);
    const legacy = await getJson(`${base}/master/roles`);
    assert.equal(legacy.roles.find((x: Json) => x.name === 'dev')?.weight, 2.5);
  });

  test('UPDATE_QUOTA is 202 and GET_QUOTA reflects it; guarantee > limit is 400', async (t) => {
    const { api } = await setup(t);
    const r = await post(api, {
      type: 'UPDATE_QUOTA',
      update_quota: {
        force: false,
        quota_configs: [{ role: 'dev', guarantees: { cpus: { value: 1 } }, limits: { cpus: { value: 2 }, mem: { value: 1024 } } }],
      },
    });
    assert.equal(r.status, 202, r.text);
    const q = await ok(api, { type: 'GET_QUOTA' });
    const dev = q.status.configs.find((x: Json) => x.role === 'dev');
    assert.deepEqual(dev, { role: 'dev', guarantees: { cpus: { value: 1 } }, limits: { cpus: { value: 2 }, mem: { value: 1024 } } });
    const bad = await post(api, {
      type: 'UPDATE_QUOTA',
      update_quota: { quota_configs: [{ role: 'dev', guarantees: { cpus: { value: 4 } }, limits: { cpus: { value: 2 } } }] },
    });
    assert.equal(bad.status, 400);
    const after = await ok(api, { type: 'GET_QUOTA' });
    assert.deepEqual(
      after.status.configs.find((x: Json) => x.role === 'dev'),
      dev,
      'a rejected update changes nothing',
    );
  });

  test('TEARDOWN is 202: the framework is removed and its stream closes', async (t) => {
    const c = await cluster(t);
    const r = await post(c.api, { type: 'TEARDOWN', teardown: { framework_id: { value: c.s.frameworkId } } });
    assert.equal(r.status, 202, r.text);
    assert.equal(await closedWithin(c.s.stream, 3000), true);
    const shutdown = await c.agent.command('SHUTDOWN_FRAMEWORK');
    assert.deepEqual(shutdown.framework_id, { value: c.s.frameworkId });
    const f = await legacyFramework(c.base, c.s.frameworkId);
    assert.equal(f?.where, 'completed_frameworks');
    const unknown = await post(c.api, { type: 'TEARDOWN', teardown: { framework_id: { value: 'nope' } } });
    assert.equal(unknown.status, 400);
  });

  test('MARK_AGENT_GONE: TASK_GONE_BY_OPERATOR for PARTITION_AWARE frameworks, SHUTDOWN to the agent, its REREGISTER is refused', async (t) => {
    const c = await cluster(t, {}, frameworkInfo({ name: 'pa', ...PARTITION_AWARE }));
    const r = await post(c.api, { type: 'MARK_AGENT_GONE', mark_agent_gone: { agent_id: { value: c.agent.id } } });
    assert.equal(r.status, 202, r.text);
    const st = await c.s.update('web-1', 'TASK_GONE_BY_OPERATOR');
    assert.equal(st.reason, 'REASON_AGENT_REMOVED_BY_OPERATOR');
    assert.equal(st.source, 'SOURCE_MASTER');
    assert.equal(st.uuid, undefined);
    const cmd = await c.agent.command('SHUTDOWN');
    assert.equal(typeof cmd.message, 'string');
    const state = await masterState(c.base);
    assert.equal(state.slaves.length, 0);
    const re = await c.agent.reregister([], []);
    assert.equal(re.status, 403, re.text);
    const ping = await c.agent.ping();
    assert.equal(ping, 403);
  });

  test('MARK_AGENT_GONE: a non-partition-aware framework gets TASK_LOST', async (t) => {
    const c = await cluster(t);
    assert.equal((await post(c.api, { type: 'MARK_AGENT_GONE', mark_agent_gone: { agent_id: { value: c.agent.id } } })).status, 202);
    const st = await c.s.update('web-1');
    assert.equal(st.state, 'TASK_LOST');
    assert.equal(st.uuid, undefined);
  });
});

describe('operator API: SUBSCRIBE', () => {
  test('the stream starts with SUBSCRIBED (get_state) and carries AGENT_ADDED, FRAMEWORK_ADDED, TASK_ADDED, TASK_UPDATED, HEARTBEAT', async (t) => {
    const env = await setup(t, { heartbeatIntervalMs: 200 });
    const op = await openStream(`${env.api}?_ts=1`, { type: 'SUBSCRIBE' });
    env.onClose(() => op.close());
    assert.equal(op.status, 200);
    assert.equal(String(op.headers['content-type']).split(';')[0], 'application/json');
    assert.equal(op.headers['mesos-stream-id'], undefined, 'no stream id on operator subscriptions');
    const first = (await op.next(() => true, 3000)) as Json;
    assert.equal(first.type, 'SUBSCRIBED');
    assert.ok(first.subscribed.get_state);
    assert.ok('get_agents' in first.subscribed.get_state);
    assert.equal(first.subscribed.heartbeat_interval_seconds, 0.2);

    const agent = await env.agent();
    const added = (await op.next((e) => e.type === 'AGENT_ADDED', 3000)) as Json;
    assert.equal(added.agent_added.agent.agent_info.id.value, agent.id);
    const s = await env.sched(frameworkInfo({ name: 'watched' }));
    const fa = (await op.next((e) => e.type === 'FRAMEWORK_ADDED', 3000)) as Json;
    assert.equal(fa.framework_added.framework.framework_info.id.value, s.frameworkId);
    assert.equal(fa.framework_added.framework.framework_info.name, 'watched');
    const offer = await s.offer();
    await s.launch(offer, [taskInfo(offer, 'seen')]);
    const ta = (await op.next((e) => e.type === 'TASK_ADDED', 3000)) as Json;
    assert.deepEqual(ta.task_added.task.task_id, { value: 'seen' });
    assert.equal(ta.task_added.task.state, 'TASK_STAGING');
    await agent.command('RUN_TASK');
    await agent.update(s.frameworkId, 'seen', 'TASK_RUNNING');
    const tu = (await op.next((e) => e.type === 'TASK_UPDATED', 3000)) as Json;
    assert.deepEqual(Object.keys(tu.task_updated).sort(), ['framework_id', 'state', 'status']);
    assert.deepEqual(tu.task_updated.framework_id, { value: s.frameworkId });
    assert.equal(tu.task_updated.state, 'TASK_RUNNING');
    assert.deepEqual(tu.task_updated.status.task_id, { value: 'seen' });
    assert.deepEqual(tu.task_updated.status.agent_id, { value: agent.id });
    assert.equal(tu.task_updated.task_id, undefined, 'no doc-bug top-level task_id');
    const hb = (await op.next((e) => e.type === 'HEARTBEAT', 3000)) as Json;
    assert.deepEqual(hb, { type: 'HEARTBEAT' });
    assert.deepEqual(framingErrors(op), []);
  });
});

describe('operator API: SUBSCRIBE removals', () => {
  test('FRAMEWORK_REMOVED on teardown and AGENT_REMOVED when an agent is marked gone', async (t) => {
    const c = await cluster(t);
    const op = await openStream(c.api, { type: 'SUBSCRIBE' });
    c.onClose(() => op.close());
    await op.next((e) => e.type === 'SUBSCRIBED', 3000);
    assert.equal((await c.s.call('TEARDOWN')).status, 202);
    const fr = (await op.next((e) => e.type === 'FRAMEWORK_REMOVED', 3000)) as Json;
    assert.deepEqual(fr.framework_removed.framework_info.id, { value: c.s.frameworkId });
    assert.equal((await post(c.api, { type: 'MARK_AGENT_GONE', mark_agent_gone: { agent_id: { value: c.agent.id } } })).status, 202);
    const ar = (await op.next((e) => e.type === 'AGENT_REMOVED', 3000)) as Json;
    assert.deepEqual(ar.agent_removed, { agent_id: { value: c.agent.id } });
  });
});

describe('legacy master endpoints', () => {
  test('/master/state has the legacy shape Mesos-DNS reads (also /state, /state.json, /master/state.json)', async (t) => {
    const c = await cluster(t);
    const s = await masterState(c.base);
    assert.equal(s.leader, `master@127.0.0.1:${c.port}`);
    assert.equal(s.pid, `master@127.0.0.1:${c.port}`);
    assert.equal(typeof s.id, 'string');
    assert.equal(s.hostname, '127.0.0.1');
    assert.equal(s.activated_slaves, 1);
    assert.equal(s.leader_info.port, c.port);
    assert.equal(typeof s.version, 'string');
    assert.equal(typeof s.start_time, 'number');
    assert.ok(s.flags && typeof s.flags === 'object' && !Array.isArray(s.flags));
    for (const v of Object.values(s.flags)) assert.equal(typeof v, 'string');
    assert.deepEqual(s.orphan_tasks, []);
    assert.deepEqual(s.unregistered_frameworks, []);
    assert.deepEqual(s.recovered_slaves, []);
    assert.deepEqual(s.completed_frameworks, []);

    assert.equal(s.slaves.length, 1);
    const a = s.slaves[0];
    assert.equal(a.id, c.agent.id);
    assert.equal(a.pid, 'slave(1)@127.0.0.1:5051');
    assert.equal(a.hostname, 'agent-op.test');
    assert.equal(a.port, 5051);
    assert.equal(a.active, true);
    assert.deepEqual(a.attributes, { rack: 'r1', cores: 8 });
    assert.deepEqual(a.resources, { cpus: 4, gpus: 0, mem: 4096, disk: 10000, ports: '[31000-32000]' });
    assert.deepEqual(a.used_resources, { cpus: 0.5, gpus: 0, mem: 128, disk: 0, ports: '[31000-31001]' });
    assert.equal(typeof a.registered_time, 'number');

    assert.equal(s.frameworks.length, 1);
    const f = s.frameworks[0];
    assert.equal(f.id, c.s.frameworkId);
    assert.equal(f.name, 'op-fw');
    assert.equal(f.user, 'root');
    assert.equal(f.role, '*');
    assert.equal(f.active, true);
    assert.equal(f.connected, true);
    assert.equal(f.failover_timeout, 3600);
    assert.equal(f.checkpoint, false);
    assert.deepEqual(f.used_resources, { cpus: 0.5, gpus: 0, mem: 128, disk: 0, ports: '[31000-31001]' });
    assert.match(String(f.pid), /^scheduler-.+@127\.0\.0\.1:\d+$/, 'Mesos-DNS reads frameworks[].pid');
    assert.equal(typeof f.hostname, 'string');
    assert.ok(Array.isArray(f.offers) && Array.isArray(f.completed_tasks) && Array.isArray(f.unreachable_tasks) && Array.isArray(f.executors));
    assert.equal(f.tasks.length, 1);
    const task = f.tasks[0];
    assert.equal(task.id, 'web-1');
    assert.equal(task.name, 'web');
    assert.equal(task.framework_id, c.s.frameworkId);
    assert.equal(task.slave_id, c.agent.id);
    assert.equal(task.state, 'TASK_RUNNING');
    assert.equal(typeof task.executor_id, 'string');
    assert.deepEqual(task.resources, { cpus: 0.5, gpus: 0, mem: 128, disk: 0, ports: '[31000-31001]' });
    assert.equal(task.statuses.length, 1);
    assert.equal(task.statuses[0].state, 'TASK_RUNNING');
    assert.equal(typeof task.statuses[0].timestamp, 'number');
    for (const st of task.statuses) {
      for (const k of Object.keys(st)) assert.ok(['state', 'timestamp', 'labels', 'container_status', 'healthy'].includes(k), `unexpected status key ${k}`);
    }

    // The rest of the agent is offered again: legacy offers are flat too.
    await c.s.offer();
    const s2 = await masterState(c.base);
    const lo = s2.frameworks[0].offers[0];
    assert.equal(typeof lo.id, 'string');
    assert.equal(lo.framework_id, c.s.frameworkId);
    assert.equal(lo.slave_id, c.agent.id);
    assert.deepEqual(lo.resources, { cpus: 3.5, gpus: 0, mem: 3968, disk: 10000, ports: '[31002-32000]' });
    assert.deepEqual(s2.slaves[0].offered_resources, lo.resources);

    for (const p of ['/state', '/state.json', '/master/state.json']) {
      const alias = await getJson(`${c.base}${p}`);
      assert.equal(alias.id, s.id, p);
      assert.equal(alias.leader, s.leader, p);
      assert.equal(alias.frameworks[0].tasks[0].id, 'web-1', p);
    }
  });

  test('?jsonp=cb wraps the body', async (t) => {
    const { base } = await setup(t);
    const r = await fetch(`${base}/master/state?jsonp=myCallback`);
    assert.equal(r.status, 200);
    const text = await r.text();
    const m = /^myCallback\((.*)\);?$/s.exec(text);
    assert.ok(m, text.slice(0, 100));
    assert.equal(JSON.parse(m[1] as string).leader.startsWith('master@'), true);
    const v = await (await fetch(`${base}/version?jsonp=cb`)).text();
    assert.match(v, /^cb\(\{.*\}\);?$/s);
  });

  test('/master/state-summary counts tasks per agent and framework', async (t) => {
    const c = await cluster(t);
    const s = await getJson(`${c.base}/master/state-summary`);
    assert.equal(s.hostname, '127.0.0.1');
    const a = s.slaves.find((x: Json) => x.id === c.agent.id);
    assert.equal(a.TASK_RUNNING, 1);
    assert.equal(a.TASK_STAGING, 0);
    assert.equal(a.TASK_UNREACHABLE, 0);
    assert.deepEqual(a.framework_ids, [c.s.frameworkId]);
    assert.equal(a.pid, 'slave(1)@127.0.0.1:5051');
    const f = s.frameworks.find((x: Json) => x.id === c.s.frameworkId);
    assert.equal(f.TASK_RUNNING, 1);
    assert.equal(f.TASK_FINISHED, 0);
    assert.deepEqual(f.slave_ids, [c.agent.id]);
    assert.equal(f.tasks, undefined, 'the summary has no task lists');
  });

  test('/master/slaves and /master/frameworks, with id filters', async (t) => {
    const c = await cluster(t);
    const sl = await getJson(`${c.base}/master/slaves`);
    assert.deepEqual(Object.keys(sl).sort(), ['recovered_slaves', 'slaves']);
    assert.equal(sl.slaves.length, 1);
    assert.equal(sl.slaves[0].id, c.agent.id);
    assert.deepEqual(sl.slaves[0].resources, { cpus: 4, gpus: 0, mem: 4096, disk: 10000, ports: '[31000-32000]' });
    assert.ok(Array.isArray(sl.slaves[0].used_resources_full));
    assert.ok(Array.isArray(sl.slaves[0].unreserved_resources_full));
    assert.equal((await getJson(`${c.base}/master/slaves?slave_id=nope`)).slaves.length, 0);
    assert.equal((await getJson(`${c.base}/master/slaves?slave_id=${c.agent.id}`)).slaves.length, 1);

    const fw = await getJson(`${c.base}/master/frameworks`);
    assert.deepEqual(Object.keys(fw).sort(), ['completed_frameworks', 'frameworks', 'unregistered_frameworks']);
    assert.equal(fw.frameworks[0].id, c.s.frameworkId);
    assert.equal(fw.frameworks[0].tasks[0].id, 'web-1');
    assert.deepEqual(fw.unregistered_frameworks, []);
    assert.equal((await getJson(`${c.base}/master/frameworks?framework_id=nope`)).frameworks.length, 0);
    assert.equal((await getJson(`${c.base}/master/frameworks?framework_id=${c.s.frameworkId}`)).frameworks.length, 1);
  });

  test('/master/tasks supports limit, offset and order', async (t) => {
    const env = await setup(t);
    const agent = await env.agent();
    const s = await env.sched();
    for (const id of ['t1', 't2', 't3']) {
      await s.runTask(agent, id);
      await new Promise((r) => setTimeout(r, 15));
    }
    const ids = async (q: string) => ((await getJson(`${env.base}/master/tasks${q}`)).tasks as Json[]).map((x) => x.id);
    assert.deepEqual(await ids(''), ['t3', 't2', 't1'], 'default order is descending');
    assert.deepEqual(await ids('?order=asc'), ['t1', 't2', 't3']);
    assert.deepEqual(await ids('?order=desc'), ['t3', 't2', 't1']);
    assert.deepEqual(await ids('?limit=1'), ['t3']);
    assert.deepEqual(await ids('?order=asc&offset=1&limit=1'), ['t2']);
    assert.deepEqual(await ids('?order=asc&offset=5'), []);
    const one = (await getJson(`${env.base}/master/tasks?limit=1`)).tasks[0];
    assert.equal(one.framework_id, s.frameworkId);
    assert.equal(one.slave_id, agent.id);
    assert.equal(one.state, 'TASK_RUNNING');
    assert.equal(typeof one.resources.cpus, 'number');
    assert.equal((await getJson(`${env.base}/master/tasks.json?order=asc`)).tasks.length, 3);
  });

  test('/master/roles', async (t) => {
    const c = await cluster(t);
    const r = await getJson(`${c.base}/master/roles`);
    const star = r.roles.find((x: Json) => x.name === '*');
    assert.ok(star);
    assert.equal(star.weight, 1);
    assert.deepEqual(star.frameworks, [c.s.frameworkId]);
    assert.equal(typeof star.resources.cpus, 'number');
  });

  test('/master/health is 200 with an empty body; /master/redirect is 307 to //host:port', async (t) => {
    const { base, port } = await setup(t);
    const h = await rawRequest(`${base}/master/health`, { method: 'GET' });
    assert.equal(h.status, 200);
    assert.equal(h.text, '');
    const r = await rawRequest(`${base}/master/redirect`, { method: 'GET' });
    assert.equal(r.status, 307);
    assert.equal(r.headers.location, `//127.0.0.1:${port}`);
  });

  test('/version and /metrics/snapshot', async (t) => {
    const c = await cluster(t);
    const v = await getJson(`${c.base}/version`);
    assert.equal(typeof v.version, 'string');
    assert.equal(typeof v.build_time, 'number');
    const m = await getJson(`${c.base}/metrics/snapshot`);
    for (const [k, val] of Object.entries(m)) assert.equal(typeof val, 'number', k);
    assert.equal(m['master/tasks_running'], 1);
    assert.equal(m['master/tasks_staging'], 0);
    assert.equal(m['master/slaves_active'], 1);
    assert.equal(m['master/frameworks_active'], 1);
    assert.equal(m['master/elected'], 1);
    assert.equal(m['master/cpus_total'], 4);
    assert.equal(m['master/cpus_used'], 0.5);
    assert.equal(typeof m['master/uptime_secs'], 'number');
  });

  test('a completed framework shows in completed_frameworks with its completed tasks', async (t) => {
    const c = await cluster(t);
    assert.equal((await c.s.call('TEARDOWN')).status, 202);
    await waitFor('framework completed', async () => (await masterState(c.base)).completed_frameworks.length === 1, 3000);
    const s = await masterState(c.base);
    assert.equal(s.frameworks.length, 0);
    const f = s.completed_frameworks[0];
    assert.equal(f.id, c.s.frameworkId);
    assert.equal(f.completed_tasks[0].id, 'web-1');
    assert.equal(f.completed_tasks[0].state, 'TASK_KILLED');
    assert.equal(typeof f.unregistered_time, 'number');
    assert.ok(f.unregistered_time > 0);
  });
});
