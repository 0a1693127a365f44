/**
 * Mesos v1 scheduler API conformance (reference/api-contracts.md §1, Appendix A), over real HTTP
 * on loopback. Each test starts its own master on port 0; agents are faked at the protocol level.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { type TestContext, describe, test } from 'node:test';
import type { MasterConfig } from '../src/services/master/config.js';
import { openStream, post, waitFor } from './lib/http.js';
import {
  EventLog,
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
  sleep,
  startTestMaster,
  taskInfo,
  utf8Len,
} from './lib/mesos.js';

const require = createRequire(import.meta.url);
const recordioRead = (require('@dcos/recordio') as { read: (input: string) => [string[], string] }).read;

async function setup(t: TestContext, config: Partial<MasterConfig> = {}) {
  const m = await startTestMaster({ config });
  const agents: FakeAgent[] = [];
  const scheds: Scheduler[] = [];
  t.after(async () => {
    for (const a of agents) a.close();
    for (const s of scheds) s.close();
    await m.stop();
  });
  return {
    m,
    base: m.base,
    url: `${m.base}/api/v1/scheduler`,
    async agent(opts: Parameters<typeof FakeAgent.start>[1] = {}) {
      const a = await FakeAgent.start(m.base, opts);
      agents.push(a);
      return a;
    },
    async sched(info: Json = frameworkInfo()) {
      const s = await Scheduler.subscribe(m.base, info);
      scheds.push(s);
      return s;
    },
  };
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

describe('scheduler API: SUBSCRIBE and the event stream', () => {
  test('SUBSCRIBE returns a chunked 200 with Mesos-Stream-Id and SUBSCRIBED first', async (t) => {
    const { base, url } = await setup(t, { heartbeatIntervalMs: 15_000 });
    const s = await openStream(url, { type: 'SUBSCRIBE', subscribe: { framework_info: frameworkInfo({ name: 'sub-test' }) } });
    t.after(() => s.close());
    assert.equal(s.status, 200);
    assert.equal(String(s.headers['content-type']).split(';')[0], 'application/json');
    assert.match(String(s.headers['mesos-stream-id']), UUID_RE);
    assert.equal(s.headers['transfer-encoding'], 'chunked');
    assert.equal(s.headers['content-length'], undefined);
    const first = (await s.next(() => true, 3000)) as Json;
    assert.equal(first.type, 'SUBSCRIBED');
    const sub = first.subscribed;
    assert.equal(typeof sub.framework_id.value, 'string');
    assert.ok(sub.framework_id.value.length > 0);
    assert.equal(sub.heartbeat_interval_seconds, 15);
    const port = Number(new URL(base).port);
    assert.equal(sub.master_info.port, port);
    assert.equal(sub.master_info.hostname, '127.0.0.1');
    assert.equal(sub.master_info.ip, 16777343, 'master_info.ip is 127.0.0.1 packed as Mesos does');
    assert.deepEqual(sub.master_info.address, { hostname: '127.0.0.1', ip: '127.0.0.1', port });
    assert.equal(typeof sub.master_info.id, 'string');
    assert.equal(typeof sub.master_info.version, 'string');
    // The framework is registered and connected.
    const f = await legacyFramework(base, sub.framework_id.value);
    assert.equal(f?.where, 'frameworks');
    assert.equal(f?.fw.name, 'sub-test');
    assert.equal(f?.fw.connected, true);
    assert.equal(f?.fw.active, true);
  });

  test('RecordIO: one `<bytes>\\n<compact json>` record per chunk, non-ASCII counted in bytes, @dcos/recordio parses it', async (t) => {
    const env = await setup(t);
    const name = 'fw-ünïcødé-框架-🚀';
    const agent = await env.agent({ attributes: [{ name: 'zone', type: 'TEXT', text: { value: 'zürich-東京-🚀' } }] });
    const s = await env.sched(frameworkInfo({ name }));
    const offer = await s.offer();
    assert.deepEqual(offer.attributes, [{ name: 'zone', type: 'TEXT', text: { value: 'zürich-東京-🚀' } }]);
    await s.launch(offer, [taskInfo(offer, 't-utf8', { name: 'tâche-任务-🚀' })]);
    const run = await agent.command('RUN_TASK');
    assert.equal(run.task.name, 'tâche-任务-🚀');
    assert.equal(run.framework_info.name, name);
    await agent.update(s.frameworkId, 't-utf8', 'TASK_RUNNING', { message: 'läuft — 运行中 ✓ 🚀' });
    const st = await s.update('t-utf8', 'TASK_RUNNING');
    assert.equal(st.message, 'läuft — 运行中 ✓ 🚀');

    for (const stream of [s.stream, agent.stream!]) {
      assert.deepEqual(framingErrors(stream), []);
      assert.equal(stream.chunks.length, stream.events.length, 'one chunk per event');
    }
    const all = s.stream.chunks.join('');
    assert.ok(utf8Len(all) > all.length, 'the stream really carried multi-byte characters');

    // @dcos/recordio over the whole stream and incrementally, chunk by chunk, as the DC/OS UI does.
    const [records, rest] = recordioRead(all);
    assert.equal(rest, '');
    assert.deepEqual(
      records.map((r) => JSON.parse(r)),
      s.stream.events,
    );
    let buf = '';
    const inc: Json[] = [];
    for (const c of s.stream.chunks) {
      const [rs, r] = recordioRead(buf + c);
      buf = r;
      for (const x of rs) inc.push(JSON.parse(x));
    }
    assert.equal(buf, '');
    assert.deepEqual(
      inc.map((e) => e.type),
      s.stream.events.map((e: Json) => e.type),
    );
  });

  test('HEARTBEAT events arrive at the configured interval', async (t) => {
    const env = await setup(t, { heartbeatIntervalMs: 100 });
    const s = await env.sched();
    assert.equal(s.subscribed.subscribed.heartbeat_interval_seconds, 0.1);
    const hb = await s.ev.take((e) => e.type === 'HEARTBEAT', 'HEARTBEAT', 2000);
    assert.deepEqual(hb, { type: 'HEARTBEAT' });
    await s.ev.take((e) => e.type === 'HEARTBEAT', 'second HEARTBEAT', 2000);
  });

  test('null fields (as protobufjs clients send them) are accepted', async (t) => {
    const env = await setup(t);
    await env.agent();
    const info = {
      user: 'root',
      name: 'nulls',
      id: null,
      failover_timeout: 3600,
      checkpoint: null,
      role: null,
      hostname: null,
      principal: null,
      webui_url: null,
      capabilities: null,
      labels: null,
    };
    const st = await openStream(env.url, { framework_id: null, type: 'SUBSCRIBE', subscribe: { framework_info: info, suppressed_roles: null }, accept: null });
    t.after(() => st.close());
    assert.equal(st.status, 200);
    const first = (await st.next(() => true, 3000)) as Json;
    assert.equal(first.type, 'SUBSCRIBED');
    const fwId = first.subscribed.framework_id.value;
    const offers = (await st.next((e) => e.type === 'OFFERS', 3000)) as Json;
    const offerId = offers.offers.offers[0].id;
    const r = await post(
      env.url,
      {
        framework_id: { value: fwId },
        type: 'DECLINE',
        subscribe: null,
        accept: null,
        decline: { offer_ids: [offerId], filters: null },
        revive: null,
        kill: null,
      },
      { 'Mesos-Stream-Id': String(st.headers['mesos-stream-id']) },
    );
    assert.equal(r.status, 202, r.text);
    const f = await legacyFramework(env.base, fwId);
    assert.equal(f?.fw.role, '*', '"role": null means "*"');
  });
});

describe('scheduler API: transport errors', () => {
  test('GET is 405 with Allow: POST', async (t) => {
    const { url } = await setup(t);
    const r = await rawRequest(url, { method: 'GET' });
    assert.equal(r.status, 405);
    assert.match(String(r.headers.allow), /POST/);
  });

  test('missing Content-Type is 400 "Expecting \'Content-Type\' to be present"', async (t) => {
    const { url } = await setup(t);
    const r = await rawRequest(url, { body: JSON.stringify({ type: 'SUBSCRIBE', subscribe: { framework_info: frameworkInfo() } }) });
    assert.equal(r.status, 400);
    assert.equal(r.text, "Expecting 'Content-Type' to be present");
  });

  test('Content-Type text/plain is 415', async (t) => {
    const { url } = await setup(t);
    const r = await rawRequest(url, {
      body: JSON.stringify({ type: 'SUBSCRIBE', subscribe: { framework_info: frameworkInfo() } }),
      headers: { 'Content-Type': 'text/plain' },
    });
    assert.equal(r.status, 415);
  });

  test('malformed JSON is 400 "Failed to parse body into JSON: ..."', async (t) => {
    const { url } = await setup(t);
    const r = await rawRequest(url, { body: '{"type": "SUBSCRIBE", ', headers: { 'Content-Type': 'application/json' } });
    assert.equal(r.status, 400);
    assert.ok(r.text.startsWith('Failed to parse body into JSON'), r.text);
  });

  test('SUBSCRIBE carrying Mesos-Stream-Id is 400', async (t) => {
    const { url } = await setup(t);
    const r = await post(
      url,
      { type: 'SUBSCRIBE', subscribe: { framework_info: frameworkInfo() } },
      { 'Mesos-Stream-Id': '0f0e6ad7-2f5c-4a52-9e45-6b7c8f0f7a11' },
    );
    assert.equal(r.status, 400);
    assert.equal(r.text, "Subscribe calls should not include the 'Mesos-Stream-Id' header");
  });

  test('an Accept the master cannot serve is 406; a missing or */* Accept means JSON', async (t) => {
    const { url } = await setup(t);
    const body = { type: 'SUBSCRIBE', subscribe: { framework_info: frameworkInfo() } };
    const r = await post(url, body, { Accept: 'application/x-protobuf' });
    assert.equal(r.status, 406);
    const any = await openStream(url, body, { Accept: '*/*' });
    t.after(() => any.close());
    assert.equal(any.status, 200);
    assert.equal(((await any.next(() => true, 3000)) as Json).type, 'SUBSCRIBED');
  });

  test('an invalid FrameworkInfo (no user) or an unknown call type is 400', async (t) => {
    const { url } = await setup(t);
    const r = await post(url, { type: 'SUBSCRIBE', subscribe: { framework_info: { name: 'no-user' } } });
    assert.equal(r.status, 400);
    assert.match(r.text, /user/);
    const u = await post(url, { type: 'FLY_TO_THE_MOON' });
    assert.equal(u.status, 400);
  });

  test('a call without Mesos-Stream-Id is 400', async (t) => {
    const env = await setup(t);
    const s = await env.sched();
    const r = await s.call('REVIVE', {}, {});
    assert.equal(r.status, 400);
    assert.equal(r.text, "All non-subscribe calls should include the 'Mesos-Stream-Id' header");
  });

  test('a call with another stream id is 400 (mismatch)', async (t) => {
    const env = await setup(t);
    const s = await env.sched();
    const wrong = '11111111-2222-4333-8444-555555555555';
    const r = await s.call('REVIVE', {}, { 'Mesos-Stream-Id': wrong });
    assert.equal(r.status, 400);
    assert.ok(r.text.startsWith(`The stream ID '${wrong}' included in this request didn't match`), r.text);
  });

  test('a call for an unknown framework id is 400 "Framework cannot be found"', async (t) => {
    const env = await setup(t);
    const s = await env.sched();
    const r = await post(env.url, { framework_id: { value: 'no-such-framework' }, type: 'REVIVE', revive: {} }, { 'Mesos-Stream-Id': s.streamId });
    assert.equal(r.status, 400);
    assert.equal(r.text, 'Framework cannot be found');
  });

  test('after the subscription stream closed, calls are 403 "Framework is not subscribed"', async (t) => {
    const env = await setup(t);
    const s = await env.sched(frameworkInfo({ failover_timeout: 3600 }));
    s.close();
    await waitFor('framework disconnected', async () => (await legacyFramework(env.base, s.frameworkId))?.fw.connected === false, 3000);
    const r = await s.call('REVIVE', {});
    assert.equal(r.status, 403);
    assert.equal(r.text, 'Framework is not subscribed');
    const f = await legacyFramework(env.base, s.frameworkId);
    assert.equal(f?.where, 'frameworks', 'still registered while within failover_timeout');
    assert.equal(f?.fw.active, false);
  });
});

describe('scheduler API: offers and launches', () => {
  test('OFFERS use the real nested shape offers.offers[] with allocation_info', async (t) => {
    const env = await setup(t);
    const agent = await env.agent({ hostname: 'offer-host.test', attributes: [{ name: 'rack', type: 'TEXT', text: { value: 'r1' } }] });
    const s = await env.sched();
    const e = await s.ev.take((e) => e.type === 'OFFERS', 'OFFERS');
    assert.equal(Array.isArray(e.offers), false, 'offers is an object, not the doc-bug flat array');
    assert.ok(Array.isArray(e.offers.offers));
    assert.equal(e.offers.offers.length, 1);
    const o = e.offers.offers[0];
    assert.equal(typeof o.id.value, 'string');
    assert.deepEqual(o.framework_id, { value: s.frameworkId });
    assert.deepEqual(o.agent_id, { value: agent.id });
    assert.equal(o.hostname, 'offer-host.test');
    assert.deepEqual(o.allocation_info, { role: '*' });
    const byName = Object.fromEntries(o.resources.map((r: Json) => [r.name, r]));
    assert.deepEqual(Object.keys(byName).sort(), ['cpus', 'disk', 'mem', 'ports']);
    assert.deepEqual(byName.cpus.scalar, { value: 4 });
    assert.equal(byName.cpus.type, 'SCALAR');
    assert.deepEqual(byName.mem.scalar, { value: 4096 });
    assert.deepEqual(byName.ports.ranges, { range: [{ begin: 31000, end: 32000 }] });
    for (const r of o.resources) assert.deepEqual(r.allocation_info, { role: '*' }, `${r.name} has allocation_info.role`);
    assert.deepEqual(o.attributes, [{ name: 'rack', type: 'TEXT', text: { value: 'r1' } }]);
  });

  test('ACCEPT with LAUNCH is 202 and the agent receives RUN_TASK with the TaskInfo; its update reaches the framework with the same uuid', async (t) => {
    const env = await setup(t);
    const agent = await env.agent();
    const s = await env.sched(frameworkInfo({ name: 'launcher' }));
    const offer = await s.offer();
    const ti = taskInfo(offer, 'sleeper-1', { cpus: 0.5, mem: 64 });
    ti.labels = { labels: [{ key: 'k', value: 'v' }] };
    const r = await s.accept([offer.id.value], [{ type: 'LAUNCH', launch: { task_infos: [ti] } }]);
    assert.equal(r.status, 202, r.text);
    assert.equal(r.text, '');
    const cmd = await agent.command('RUN_TASK');
    assert.deepEqual(cmd.framework_id, { value: s.frameworkId });
    assert.equal(cmd.framework_info.name, 'launcher');
    assert.deepEqual(cmd.task.task_id, { value: 'sleeper-1' });
    assert.deepEqual(cmd.task.agent_id, { value: agent.id });
    assert.equal(cmd.task.name, 'task sleeper-1');
    assert.deepEqual(cmd.task.command, { shell: true, value: 'sleep 1000' });
    assert.deepEqual(cmd.task.labels, { labels: [{ key: 'k', value: 'v' }] });
    const cpus = cmd.task.resources.find((x: Json) => x.name === 'cpus');
    assert.equal(cpus.scalar.value, 0.5);

    const state = await masterState(env.base);
    const task = state.frameworks[0].tasks[0];
    assert.equal(task.id, 'sleeper-1');
    assert.equal(task.state, 'TASK_STAGING');

    const uuid = await agent.update(s.frameworkId, 'sleeper-1', 'TASK_RUNNING');
    const st = await s.update('sleeper-1', 'TASK_RUNNING');
    assert.equal(st.uuid, uuid);
    assert.deepEqual(st.agent_id, { value: agent.id });
    assert.equal(st.source, 'SOURCE_EXECUTOR');
    assert.equal(typeof st.timestamp, 'number');
  });

  test('a non-MULTI_ROLE framework may launch with resources lacking allocation_info (the master injects the offer role)', async (t) => {
    const env = await setup(t);
    const agent = await env.agent();
    const s = await env.sched();
    const offer = await s.offer();
    const ti = taskInfo(offer, 'legacy-1');
    for (const r of ti.resources) delete r.allocation_info;
    await s.launch(offer, [ti]);
    const cmd = await agent
      .command('RUN_TASK', () => true, 3000)
      .catch(async (e) => {
        throw new Error(`${(e as Error).message}; framework got ${JSON.stringify(s.ev.events.filter((x: Json) => x.type === 'UPDATE'))}`);
      });
    assert.equal(cmd.task.task_id.value, 'legacy-1');
  });

  test('updates are retried until ACKNOWLEDGE, then stop', async (t) => {
    const env = await setup(t, { statusUpdateRetryMs: 200 });
    const agent = await env.agent();
    const s = await env.sched();
    const offer = await s.offer();
    await s.launch(offer, [taskInfo(offer, 'retry-1')]);
    await agent.command('RUN_TASK');
    const uuid = await agent.update(s.frameworkId, 'retry-1', 'TASK_RUNNING');
    const first = await s.update('retry-1', 'TASK_RUNNING');
    assert.equal(first.uuid, uuid);
    const again = await s.update('retry-1', 'TASK_RUNNING', 2000);
    assert.equal(again.uuid, uuid, 'the retry carries the same uuid');
    await s.ack(first);
    await sleep(50);
    s.ev.skipAll();
    await s.ev.none((e) => e.type === 'UPDATE' && e.update.status.uuid === uuid, 'retry after ACKNOWLEDGE', 800);
    const m = await (await fetch(`${env.base}/metrics/snapshot`)).json();
    assert.ok((m as Json)['master/valid_status_update_acknowledgements'] >= 1);
  });

  test('per-task update order holds: each update only after the previous one is acknowledged', async (t) => {
    const env = await setup(t);
    const agent = await env.agent();
    const s = await env.sched();
    const offer = await s.offer();
    await s.launch(offer, [taskInfo(offer, 'ordered')]);
    await agent.command('RUN_TASK');
    const uuids = [
      await agent.update(s.frameworkId, 'ordered', 'TASK_STARTING'),
      await agent.update(s.frameworkId, 'ordered', 'TASK_RUNNING'),
      await agent.update(s.frameworkId, 'ordered', 'TASK_FINISHED'),
    ];
    const isTask = (e: Json) => e.type === 'UPDATE' && e.update.status.task_id.value === 'ordered';
    const starting = await s.update('ordered');
    assert.equal(starting.state, 'TASK_STARTING');
    assert.equal(starting.uuid, uuids[0]);
    await s.ev.none((e) => isTask(e) && e.update.status.state !== 'TASK_STARTING', 'an update before STARTING was acknowledged', 400);
    await s.ack(starting);
    const running = await s.update('ordered', 'TASK_RUNNING');
    assert.equal(running.uuid, uuids[1]);
    await s.ev.none((e) => isTask(e) && e.update.status.state === 'TASK_FINISHED', 'FINISHED before RUNNING was acknowledged', 300);
    await s.ack(running);
    const finished = await s.update('ordered', 'TASK_FINISHED');
    assert.equal(finished.uuid, uuids[2]);
    await s.ack(finished);
    const seen = s.ev.events.filter(isTask).map((e: Json) => e.update.status.state);
    assert.deepEqual(seen, ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED']);
    await waitFor(
      'task completed',
      async () => {
        const f = await legacyFramework(env.base, s.frameworkId);
        return f?.fw.completed_tasks.find((x: Json) => x.id === 'ordered');
      },
      3000,
    );
    const f = await legacyFramework(env.base, s.frameworkId);
    const done = f?.fw.completed_tasks.find((x: Json) => x.id === 'ordered');
    assert.equal(done.state, 'TASK_FINISHED');
    assert.deepEqual(
      done.statuses.map((x: Json) => x.state),
      ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED'],
    );
    assert.equal(f?.fw.tasks.length, 0);
  });

  test('DECLINE with refuse_seconds filters the agent for that long, then it is offered again', async (t) => {
    const env = await setup(t);
    const agent = await env.agent();
    const s = await env.sched();
    const offer = await s.offer();
    const t0 = Date.now();
    const r = await s.call('DECLINE', { offer_ids: [offer.id], filters: { refuse_seconds: 1 } });
    assert.equal(r.status, 202, r.text);
    await s.ev.none((e) => e.type === 'OFFERS', 'an offer inside the refuse window', 700);
    const again = await s.offer((o) => o.agent_id.value === agent.id, 4000);
    assert.ok(Date.now() - t0 >= 950, `re-offered after ${Date.now() - t0} ms`);
    assert.notEqual(again.id.value, offer.id.value);
  });

  test('REVIVE clears refuse filters', async (t) => {
    const env = await setup(t);
    await env.agent();
    const s = await env.sched();
    const offer = await s.offer();
    assert.equal((await s.call('DECLINE', { offer_ids: [offer.id], filters: { refuse_seconds: 3600 } })).status, 202);
    await s.ev.none((e) => e.type === 'OFFERS', 'an offer while filtered', 400);
    const t0 = Date.now();
    assert.equal((await s.call('REVIVE', {})).status, 202);
    await s.offer(() => true, 2000);
    assert.ok(Date.now() - t0 < 2000);
  });

  test('SUPPRESS stops offers until REVIVE', async (t) => {
    const env = await setup(t);
    await env.agent();
    const s = await env.sched();
    const offer = await s.offer();
    assert.equal((await s.call('SUPPRESS', {})).status, 202);
    assert.equal((await s.call('DECLINE', { offer_ids: [offer.id], filters: { refuse_seconds: 0 } })).status, 202);
    await s.ev.none((e) => e.type === 'OFFERS', 'an offer while suppressed', 700);
    assert.equal((await s.call('REVIVE', {})).status, 202);
    await s.offer(() => true, 2000);
  });

  test('SUBSCRIBE with suppressed_roles gets no offers until REVIVE', async (t) => {
    const env = await setup(t);
    await env.agent();
    const st = await openStream(env.url, { type: 'SUBSCRIBE', subscribe: { framework_info: frameworkInfo(), suppressed_roles: ['*'] } });
    t.after(() => st.close());
    const first = (await st.next(() => true, 3000)) as Json;
    assert.equal(first.type, 'SUBSCRIBED');
    const log = new EventLog(st);
    await log.none((e) => e.type === 'OFFERS', 'an offer while suppressed', 600);
    const r = await post(
      env.url,
      { framework_id: first.subscribed.framework_id, type: 'REVIVE', revive: { roles: ['*'] } },
      { 'Mesos-Stream-Id': String(st.headers['mesos-stream-id']) },
    );
    assert.equal(r.status, 202, r.text);
    const o = await log.take((e) => e.type === 'OFFERS', 'an offer after REVIVE', 3000);
    assert.equal(o.offers.offers.length, 1);
  });

  test('ACCEPT with an unknown offer id: TASK_LOST (TASK_DROPPED if PARTITION_AWARE), REASON_INVALID_OFFERS, no uuid', async (t) => {
    const env = await setup(t);
    const agent = await env.agent();
    const plain = await env.sched(frameworkInfo({ name: 'plain' }));
    const pa = await env.sched(frameworkInfo({ name: 'pa', ...PARTITION_AWARE }));
    for (const [s, expected] of [
      [plain, 'TASK_LOST'],
      [pa, 'TASK_DROPPED'],
    ] as const) {
      const ti = taskInfo({ agent_id: { value: agent.id } }, `bad-offer-${expected}`);
      const r = await s.accept(['no-such-offer'], [{ type: 'LAUNCH', launch: { task_infos: [ti] } }]);
      assert.equal(r.status, 202, r.text);
      const st = await s.update(`bad-offer-${expected}`);
      assert.equal(st.state, expected);
      assert.equal(st.reason, 'REASON_INVALID_OFFERS');
      assert.equal(st.source, 'SOURCE_MASTER');
      assert.equal(st.uuid, undefined, 'master-generated updates carry no uuid');
    }
    await agent.commands!.none((c) => c.type === 'RUN_TASK', 'RUN_TASK for an invalid offer', 200);
  });

  test('a retried ACCEPT whose offer its first copy used says nothing about the task it launched (found by the simulator)', async (t) => {
    const env = await setup(t);
    const agent = await env.agent();
    const s = await env.sched();
    const offer = await s.offer();
    const ti = taskInfo(offer, 'launched-once');
    await s.launch(offer, [ti]);
    await agent.command('RUN_TASK', (c) => c.task.task_id.value === 'launched-once');
    // The same request again, as a client retrying after a lost reply would send it.
    const again = await s.accept([offer.id.value], [{ type: 'LAUNCH', launch: { task_infos: [ti] } }]);
    assert.equal(again.status, 202, again.text);
    await assert.rejects(s.update('launched-once', undefined, 300), /timed out/, 'no TASK_DROPPED/TASK_LOST for a task that is running');
    await agent.update(s.frameworkId, 'launched-once', 'TASK_RUNNING');
    assert.equal((await s.update('launched-once')).state, 'TASK_RUNNING');
  });

  test('a task asking for more than the offer gets TASK_ERROR REASON_TASK_INVALID', async (t) => {
    const env = await setup(t);
    const agent = await env.agent();
    const s = await env.sched();
    const offer = await s.offer();
    await s.launch(offer, [taskInfo(offer, 'too-big', { cpus: 100 })]);
    const st = await s.update('too-big');
    assert.equal(st.state, 'TASK_ERROR');
    assert.equal(st.reason, 'REASON_TASK_INVALID');
    assert.equal(st.source, 'SOURCE_MASTER');
    assert.equal(st.uuid, undefined);
    await agent.commands!.none((c) => c.type === 'RUN_TASK', 'RUN_TASK for an invalid task', 300);
    const f = await legacyFramework(env.base, s.frameworkId);
    assert.equal(f?.fw.tasks.length, 0);
  });

  test('a duplicate task id gets TASK_ERROR and is not launched twice', async (t) => {
    const env = await setup(t);
    const agent = await env.agent();
    const s = await env.sched();
    await s.runTask(agent, 'dup');
    const offer = await s.offer((o) => o.agent_id.value === agent.id);
    await s.launch(offer, [taskInfo(offer, 'dup')]);
    const st = await s.update('dup', 'TASK_ERROR');
    assert.equal(st.reason, 'REASON_TASK_INVALID');
    assert.equal(st.uuid, undefined);
    await agent.commands!.none((c) => c.type === 'RUN_TASK', 'a second RUN_TASK for the duplicate', 300);
    const f = await legacyFramework(env.base, s.frameworkId);
    assert.equal(f?.fw.tasks.length, 1);
    assert.equal(f?.fw.tasks[0].state, 'TASK_RUNNING', 'the original task is untouched');
  });
});

describe('scheduler API: more events', () => {
  test('a MULTI_ROLE framework gets offers allocated to its role', async (t) => {
    const env = await setup(t);
    const agent = await env.agent();
    const s = await env.sched(frameworkInfo({ roles: ['dev'], capabilities: [{ type: 'MULTI_ROLE' }] }));
    const o = await s.offer();
    assert.deepEqual(o.allocation_info, { role: 'dev' });
    for (const r of o.resources) assert.deepEqual(r.allocation_info, { role: 'dev' });
    await s.launch(o, [taskInfo(o, 'dev-task')]);
    const run = await agent.command('RUN_TASK');
    assert.equal(run.task.task_id.value, 'dev-task');
    const f = await legacyFramework(env.base, s.frameworkId);
    assert.deepEqual(f?.fw.roles, ['dev']);
    assert.equal(f?.fw.tasks[0].role, 'dev');
  });

  test('offers not used within offer_timeout are rescinded with RESCIND{offer_id} and offered again', async (t) => {
    const env = await setup(t, { offerTimeoutMs: 200 });
    await env.agent();
    const s = await env.sched();
    const o = await s.offer();
    const r = await s.ev.take((e) => e.type === 'RESCIND', 'RESCIND', 3000);
    assert.deepEqual(r, { type: 'RESCIND', rescind: { offer_id: o.id } });
    const again = await s.offer(() => true, 3000);
    assert.notEqual(again.id.value, o.id.value);
    const late = await s.accept([o.id.value], [{ type: 'LAUNCH', launch: { task_infos: [taskInfo(o, 'late')] } }]);
    assert.equal(late.status, 202);
    assert.equal((await s.update('late')).reason, 'REASON_INVALID_OFFERS');
  });

  test('an agent marked gone: its outstanding offers are rescinded', async (t) => {
    const env = await setup(t);
    const agent = await env.agent();
    const s = await env.sched();
    const o = await s.offer();
    assert.equal((await post(`${env.base}/api/v1`, { type: 'MARK_AGENT_GONE', mark_agent_gone: { agent_id: { value: agent.id } } })).status, 202);
    const r = await s.ev.take((e) => e.type === 'RESCIND', 'RESCIND', 3000);
    assert.deepEqual(r.rescind.offer_id, o.id);
  });

  test('an agent that is removed (marked gone) is reported to frameworks with FAILURE{agent_id}', {}, async (t) => {
    const env = await setup(t);
    const agent = await env.agent();
    const s = await env.sched();
    await s.offer();
    assert.equal((await post(`${env.base}/api/v1`, { type: 'MARK_AGENT_GONE', mark_agent_gone: { agent_id: { value: agent.id } } })).status, 202);
    const f = await s.ev.take((e) => e.type === 'FAILURE', 'FAILURE', 2000);
    assert.deepEqual(f.failure, { agent_id: { value: agent.id } });
  });

  test('MESSAGE goes to the agent as FRAMEWORK_MESSAGE; an executor message reaches the framework as MESSAGE', async (t) => {
    const env = await setup(t);
    const agent = await env.agent();
    const s = await env.sched();
    await s.runTask(agent, 'chatty');
    const data = Buffer.from('hello executor').toString('base64');
    const r = await s.call('MESSAGE', { agent_id: { value: agent.id }, executor_id: { value: 'chatty' }, data });
    assert.equal(r.status, 202, r.text);
    const m = await agent.command('FRAMEWORK_MESSAGE');
    assert.deepEqual(m.executor_id, { value: 'chatty' });
    assert.deepEqual(m.framework_id, { value: s.frameworkId });
    assert.equal(m.data, data);
    const back = Buffer.from('hello scheduler').toString('base64');
    const e = await agent.call({
      type: 'EXECUTOR_MESSAGE',
      agent_id: { value: agent.id },
      framework_id: { value: s.frameworkId },
      executor_id: { value: 'chatty' },
      data: back,
    });
    assert.equal(e.status, 200);
    const ev = await s.ev.take((x) => x.type === 'MESSAGE', 'MESSAGE');
    assert.deepEqual(ev.message, { agent_id: { value: agent.id }, executor_id: { value: 'chatty' }, data: back });
  });

  test('an agent retrying the same update (same uuid) does not produce a second update', async (t) => {
    const env = await setup(t);
    const agent = await env.agent();
    const s = await env.sched();
    const offer = await s.offer();
    await s.launch(offer, [taskInfo(offer, 'dedup')]);
    await agent.command('RUN_TASK');
    const status = {
      task_id: { value: 'dedup' },
      state: 'TASK_RUNNING',
      uuid: Buffer.from('0123456789abcdef').toString('base64'),
      source: 'SOURCE_EXECUTOR',
      timestamp: Date.now() / 1000,
    };
    const call = { type: 'STATUS_UPDATE', agent_id: { value: agent.id }, framework_id: { value: s.frameworkId }, status };
    assert.equal((await agent.call(call)).status, 200);
    assert.equal((await agent.call(call)).status, 200);
    const st = await s.update('dedup', 'TASK_RUNNING');
    await s.ack(st);
    await s.ev.none((e) => e.type === 'UPDATE', 'a duplicate update', 400);
    const f = await legacyFramework(env.base, s.frameworkId);
    assert.equal(f?.fw.tasks[0].statuses.length, 1);
  });
});

describe('scheduler API: KILL, RECONCILE, UPDATE_FRAMEWORK', () => {
  test('KILL sends KILL_TASK to the agent; KILL of an unknown task answers TASK_LOST', async (t) => {
    const env = await setup(t);
    const agent = await env.agent();
    const s = await env.sched();
    await s.runTask(agent, 'victim');
    const r = await s.call('KILL', { task_id: { value: 'victim' }, agent_id: { value: agent.id } });
    assert.equal(r.status, 202, r.text);
    const kill = await agent.command('KILL_TASK');
    assert.deepEqual(kill.task_id, { value: 'victim' });
    assert.deepEqual(kill.framework_id, { value: s.frameworkId });

    assert.equal((await s.call('KILL', { task_id: { value: 'ghost' } })).status, 202);
    const st = await s.update('ghost');
    assert.equal(st.state, 'TASK_LOST');
    assert.equal(st.source, 'SOURCE_MASTER');
    assert.equal(st.uuid, undefined);
    await agent.commands!.none((c) => c.type === 'KILL_TASK' && c.task_id.value === 'ghost', 'KILL_TASK for an unknown task', 200);
  });

  test('explicit RECONCILE: latest state for a known task; TASK_GONE (PARTITION_AWARE) / TASK_LOST for an unknown one', async (t) => {
    const env = await setup(t);
    const agent = await env.agent();
    const pa = await env.sched(frameworkInfo({ name: 'pa', ...PARTITION_AWARE }));
    await pa.runTask(agent, 'known');
    const r = await pa.call('RECONCILE', {
      tasks: [
        { task_id: { value: 'known' }, agent_id: { value: agent.id } },
        { task_id: { value: 'unknown' }, agent_id: { value: agent.id } },
      ],
    });
    assert.equal(r.status, 202, r.text);
    const known = await pa.update('known', 'TASK_RUNNING');
    assert.equal(known.reason, 'REASON_RECONCILIATION');
    assert.equal(known.source, 'SOURCE_MASTER');
    assert.equal(known.uuid, undefined);
    assert.deepEqual(known.agent_id, { value: agent.id });
    assert.equal(known.message, 'Reconciliation: Latest task state');
    const gone = await pa.update('unknown');
    assert.equal(gone.state, 'TASK_GONE');
    assert.equal(gone.reason, 'REASON_RECONCILIATION');
    assert.equal(gone.message, 'Reconciliation: Task is unknown to the agent');
    assert.equal(gone.uuid, undefined);
    // Without an agent id, an unknown task is TASK_UNKNOWN to a partition-aware framework.
    assert.equal((await pa.call('RECONCILE', { tasks: [{ task_id: { value: 'nowhere' } }] })).status, 202);
    assert.equal((await pa.update('nowhere')).state, 'TASK_UNKNOWN');

    const plain = await env.sched(frameworkInfo({ name: 'plain' }));
    assert.equal((await plain.call('RECONCILE', { tasks: [{ task_id: { value: 'unknown' }, agent_id: { value: agent.id } }] })).status, 202);
    const lost = await plain.update('unknown');
    assert.equal(lost.state, 'TASK_LOST');
    assert.equal(lost.reason, 'REASON_RECONCILIATION');
    assert.equal(lost.uuid, undefined);
  });

  test('implicit RECONCILE (empty list) answers every non-terminal task and nothing else', async (t) => {
    const env = await setup(t);
    const agent = await env.agent();
    const s = await env.sched();
    await s.runTask(agent, 'a');
    await s.runTask(agent, 'b');
    await s.runTask(agent, 'c');
    await agent.update(s.frameworkId, 'c', 'TASK_FINISHED');
    await s.ack(await s.update('c', 'TASK_FINISHED'));
    await waitFor('c completed', async () => (await legacyFramework(env.base, s.frameworkId))?.fw.completed_tasks.length === 1, 3000);
    s.ev.skipAll();
    assert.equal((await s.call('RECONCILE', { tasks: [] })).status, 202);
    const got = new Map<string, Json>();
    for (let i = 0; i < 2; i++) {
      const e = await s.ev.take((e) => e.type === 'UPDATE', 'reconciliation UPDATE');
      got.set(e.update.status.task_id.value, e.update.status);
    }
    assert.deepEqual([...got.keys()].sort(), ['a', 'b']);
    for (const st of got.values()) {
      assert.equal(st.state, 'TASK_RUNNING');
      assert.equal(st.reason, 'REASON_RECONCILIATION');
      assert.equal(st.uuid, undefined);
    }
    await s.ev.none((e) => e.type === 'UPDATE', 'a reconciliation update for a terminal task', 300);
  });

  test('UPDATE_FRAMEWORK returns 200 (not 202); changing user is 400', async (t) => {
    const env = await setup(t);
    const s = await env.sched(frameworkInfo({ name: 'before' }));
    const r = await s.call('UPDATE_FRAMEWORK', { framework_info: frameworkInfo({ name: 'after', id: { value: s.frameworkId } }) });
    assert.equal(r.status, 200, r.text);
    assert.equal((await legacyFramework(env.base, s.frameworkId))?.fw.name, 'after');
    const bad = await s.call('UPDATE_FRAMEWORK', { framework_info: frameworkInfo({ name: 'after', user: 'someone-else', id: { value: s.frameworkId } }) });
    assert.equal(bad.status, 400);
    assert.match(bad.text, /user/);
    assert.equal((await legacyFramework(env.base, s.frameworkId))?.fw.user, 'root');
  });
});

describe('scheduler API: TEARDOWN and failover', () => {
  test('TEARDOWN: 202, the stream closes, the framework is completed and the agent gets SHUTDOWN_FRAMEWORK', async (t) => {
    const env = await setup(t);
    const agent = await env.agent();
    const s = await env.sched();
    await s.runTask(agent, 'doomed');
    const r = await s.call('TEARDOWN');
    assert.equal(r.status, 202, r.text);
    assert.equal(await closedWithin(s.stream, 3000), true, 'the subscription stream closes');
    const cmd = await agent.command('SHUTDOWN_FRAMEWORK');
    assert.deepEqual(cmd.framework_id, { value: s.frameworkId });
    const state = await masterState(env.base);
    assert.equal(
      state.frameworks.some((f: Json) => f.id === s.frameworkId),
      false,
    );
    const done = state.completed_frameworks.find((f: Json) => f.id === s.frameworkId);
    assert.ok(done, 'in completed_frameworks');
    assert.equal(done.active, false);
    assert.equal(done.completed_tasks[0].id, 'doomed');
    assert.equal(done.completed_tasks[0].state, 'TASK_KILLED');
  });

  test(
    're-SUBSCRIBE with the same id fails over: same id, new stream id, the old stream gets ERROR and closes; the new instance gets offers',
    {},
    async (t) => {
      const env = await setup(t);
      await env.agent();
      const a = await env.sched(frameworkInfo({ name: 'failover' }));
      await a.offer(); // the old instance holds an offer when the new one takes over
      const b = await env.sched(frameworkInfo({ name: 'failover', id: { value: a.frameworkId } }));
      assert.equal(b.frameworkId, a.frameworkId);
      assert.notEqual(b.streamId, a.streamId);
      const err = await a.ev.take((e) => e.type === 'ERROR', 'ERROR on the old stream', 3000);
      assert.equal(typeof err.error.message, 'string');
      assert.equal(await closedWithin(a.stream, 3000), true);
      const stale = await a.call('REVIVE', {});
      assert.equal(stale.status, 400, 'the old stream id no longer matches');
      assert.equal((await b.call('REVIVE', {})).status, 202);
      await b.offer(() => true, 2000);
      const f = await legacyFramework(env.base, a.frameworkId);
      assert.equal(f?.fw.connected, true);
    },
  );

  test('updates that arrive while the framework is disconnected are delivered after it re-subscribes', async (t) => {
    const env = await setup(t);
    const agent = await env.agent();
    const s = await env.sched(frameworkInfo({ name: 'away', failover_timeout: 3600 }));
    await s.runTask(agent, 'while-away');
    s.close();
    await waitFor('framework disconnected', async () => (await legacyFramework(env.base, s.frameworkId))?.fw.connected === false, 3000);
    const uuid = await agent.update(s.frameworkId, 'while-away', 'TASK_FAILED', { message: 'boom' });
    const s2 = await env.sched(frameworkInfo({ name: 'away', failover_timeout: 3600, id: { value: s.frameworkId } }));
    const st = await s2.update('while-away', 'TASK_FAILED');
    assert.equal(st.uuid, uuid);
    assert.equal(st.message, 'boom');
  });

  test('re-SUBSCRIBE cannot change user (it is ignored)', async (t) => {
    const env = await setup(t);
    const s = await env.sched(frameworkInfo({ name: 'u' }));
    s.close();
    await waitFor('framework disconnected', async () => (await legacyFramework(env.base, s.frameworkId))?.fw.connected === false, 3000);
    const s2 = await env.sched(frameworkInfo({ name: 'u2', user: 'mallory', id: { value: s.frameworkId } }));
    assert.equal(s2.frameworkId, s.frameworkId);
    const f = await legacyFramework(env.base, s.frameworkId);
    assert.equal(f?.fw.user, 'root');
    assert.equal(f?.fw.name, 'u2');
  });

  test('re-SUBSCRIBE of a torn-down framework gets an ERROR event', async (t) => {
    const env = await setup(t);
    const s = await env.sched();
    assert.equal((await s.call('TEARDOWN')).status, 202);
    await closedWithin(s.stream, 3000);
    const info = frameworkInfo({ id: { value: s.frameworkId } });
    const again = await openStream(env.url, { type: 'SUBSCRIBE', framework_id: { value: s.frameworkId }, subscribe: { framework_info: info } });
    t.after(() => again.close());
    assert.equal(again.status, 200);
    const e = (await again.next(() => true, 3000)) as Json;
    assert.equal(e.type, 'ERROR');
    assert.equal(typeof e.error.message, 'string');
    assert.ok(e.error.message.length > 0);
    assert.equal(e.message, undefined, 'not the doc-bug flat form');
    assert.equal(await closedWithin(again, 3000), true);
    const state = await masterState(env.base);
    assert.equal(state.frameworks.length, 0);
  });

  test('failover_timeout 0: the framework is removed as soon as it disconnects and its tasks are killed', async (t) => {
    const env = await setup(t);
    const agent = await env.agent();
    const s = await env.sched(frameworkInfo({ failover_timeout: 0 }));
    await s.runTask(agent, 'orphan');
    s.close();
    const cmd = await agent.command('SHUTDOWN_FRAMEWORK', () => true, 3000);
    assert.deepEqual(cmd.framework_id, { value: s.frameworkId });
    const f = await waitFor(
      'framework completed',
      async () => {
        const x = await legacyFramework(env.base, s.frameworkId);
        return x?.where === 'completed_frameworks' ? x : undefined;
      },
      3000,
    );
    const task = f.fw.completed_tasks.find((x: Json) => x.id === 'orphan');
    assert.equal(task.state, 'TASK_KILLED');
    const metrics = (await (await fetch(`${env.base}/metrics/snapshot`)).json()) as Json;
    assert.equal(metrics['master/tasks_running'], 0);
  });
});
