import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Random } from '../../base/random.js';
import { MemoryStore } from '../../adapters/store/memory.js';
import type { EventSink } from '../../ports/sink.js';
import { ManualClock, settle } from '../agent/fakes.js';
import { Marathon } from './marathon.js';
import type { HealthProber } from './health.js';
import type { SchedulerTransport } from './transport.js';

// Scheduler calls as plain objects: the tests look into them.
type Json = Record<string, any>;

/** A master stand-in: records calls, hands out offers and status updates on demand. */
class FakeMaster implements SchedulerTransport {
  readonly calls: Json[] = [];
  sink: EventSink | undefined;
  private offerSeq = 0;
  async subscribe(call: Json, sink: EventSink): Promise<undefined> {
    this.sink = sink;
    const id = (call.framework_id as Json | undefined)?.value ?? 'fw-1';
    sink.send({ type: 'SUBSCRIBED', subscribed: { framework_id: { value: id }, master_info: { hostname: 'm', port: 5050 } } });
    return undefined;
  }
  async call(call: Json): Promise<{ status: number }> {
    this.calls.push(call);
    return { status: 202 };
  }
  of(type: string): Json[] {
    return this.calls.filter((c) => c.type === type);
  }
  offer(host: string, cpus = 4, mem = 4096, extra: Json = {}): void {
    const n = ++this.offerSeq;
    this.sink?.send({
      type: 'OFFERS',
      offers: {
        offers: [
          {
            id: { value: `o${n}` },
            framework_id: { value: 'fw-1' },
            agent_id: { value: `agent-${host}` },
            hostname: host,
            resources: [
              { name: 'cpus', type: 'SCALAR', scalar: { value: cpus } },
              { name: 'mem', type: 'SCALAR', scalar: { value: mem } },
              { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31000, end: 31100 }] } },
            ],
            ...extra,
          },
        ],
      },
    });
  }
  launched(): Json[] {
    return this.of('ACCEPT').flatMap((c) => c.accept.operations[0].launch.task_infos);
  }
  update(taskId: string, state: string, host = 'h1', extra: Json = {}): void {
    this.sink?.send({
      type: 'UPDATE',
      update: { status: { task_id: { value: taskId }, state, agent_id: { value: `agent-${host}` }, uuid: 'dXVpZA==', ...extra } },
    });
  }
}

async function setup(store = new MemoryStore(), clock = new ManualClock(), prober?: HealthProber) {
  const master = new FakeMaster();
  const m = new Marathon({ clock, random: new Random(7), store, transport: master, defer: (fn) => setImmediate(fn), ...(prober ? { prober } : {}) });
  await m.start();
  await settle(10);
  return { m, master, clock, store };
}

describe('Marathon service (fake master, manual clock)', () => {
  test('wants nothing: suppresses; an app to run: revives, launches on a fitting offer, declines the rest with a filter', async () => {
    const { m, master } = await setup();
    assert.equal(master.of('SUPPRESS').length, 1);
    const r = await m.createApp({ id: '/a', cmd: 'sleep 1', cpus: 1, mem: 64 }, false);
    assert.ok(r.ok);
    assert.equal(master.of('REVIVE').length, 1);
    master.offer('small', 0.5);
    await settle(10);
    assert.equal(master.of('DECLINE').length, 1);
    assert.ok(master.of('DECLINE')[0]?.decline.filters.refuse_seconds > 0);
    master.offer('h1');
    await settle(10);
    assert.equal(master.launched().length, 1);
    assert.equal(master.launched()[0]?.name, 'a');
    assert.equal(master.of('SUPPRESS').length, 2, 'suppressed again once nothing is wanted');
    const q = m.queue();
    assert.equal(q.length, 0);
  });

  test('a REVIVE that failed is sent again while apps wait and no offer comes (sim seed 33)', async () => {
    const { m, master, clock } = await setup();
    const call = master.call.bind(master);
    let failRevive = true;
    master.call = async (c: Json) => {
      if (c.type === 'REVIVE' && failRevive) {
        failRevive = false;
        master.calls.push(c);
        return { status: 503 };
      }
      return call(c);
    };
    assert.ok((await m.createApp({ id: '/r', cmd: 'sleep 1', cpus: 1, mem: 64 }, false)).ok);
    await settle(10);
    assert.equal(master.of('REVIVE').length, 1, 'revived for the new app (the master never got it)');
    await clock.advance(20_000);
    await settle(10);
    assert.equal(master.of('REVIVE').length, 1, 'not again within 30 s');
    await clock.advance(11_000);
    await settle(10);
    assert.equal(master.of('REVIVE').length, 2, 'revived again: demand and no offer for 30 s');
    master.offer('h1');
    await settle(10);
    assert.equal(master.launched().length, 1);
    await clock.advance(60_000);
    await settle(10);
    assert.equal(master.of('REVIVE').length, 2, 'nothing wanted any more: no further REVIVE');
  });

  test('an explicit reconciliation the master did not take is sent again within seconds, not at the next interval (sim seed 9)', async () => {
    const { m, master, clock } = await setup();
    await m.createApp({ id: '/q', cmd: 'sleep 1', cpus: 1, mem: 64 }, false);
    master.offer('h1');
    await settle(10);
    const taskId = master.launched()[0]?.task_id.value as string;
    assert.ok(taskId);
    const explicit = () => master.of('RECONCILE').filter((c) => c.reconcile.tasks.length > 0);
    const call = master.call.bind(master);
    let failNext = true;
    master.call = async (c: Json) => {
      if (c.type === 'RECONCILE' && c.reconcile.tasks.length > 0 && failNext) {
        failNext = false;
        master.calls.push(c);
        return { status: 503 };
      }
      return call(c);
    };
    // The subscription is renewed (a master failover): Marathon reconciles; that request is lost.
    const sink = master.sink!;
    sink.send({ type: 'SUBSCRIBED', subscribed: { framework_id: { value: 'fw-1' }, master_info: { hostname: 'm', port: 5050 } } });
    await settle(10);
    assert.equal(explicit().length, 1);
    await clock.advance(11_000);
    await settle(10);
    assert.equal(explicit().length, 2, 'tried again');
    assert.deepEqual(
      explicit()[1]?.reconcile.tasks.map((t: Json) => t.task_id.value),
      [taskId],
    );
    // Taken this time: the next one waits for the interval.
    await clock.advance(60_000);
    await settle(10);
    assert.equal(explicit().length, 2);
  });

  test('a failed task is relaunched only after backoffSeconds × backoffFactor^n', async () => {
    const { m, master, clock } = await setup();
    await m.createApp({ id: '/f', cmd: 'false', cpus: 1, mem: 64, backoffSeconds: 10, backoffFactor: 2 }, false);
    master.offer('h1');
    await settle(10);
    const first = master.launched()[0]?.task_id.value as string;
    master.update(first, 'TASK_FAILED');
    await settle(10);
    master.offer('h1');
    await settle(10);
    assert.equal(master.launched().length, 1, 'still in backoff');
    assert.equal(m.queue()[0]?.delay.timeLeftSeconds, 10);
    await clock.advance(10_000);
    master.offer('h1');
    await settle(10);
    assert.equal(master.launched().length, 2);
    master.update(master.launched()[1]?.task_id.value, 'TASK_FAILED');
    await settle(10);
    assert.equal(m.queue()[0]?.delay.timeLeftSeconds, 20, 'the second failure doubles the delay');
    assert.ok(m.resetDelay('/f'));
    master.offer('h1');
    await settle(10);
    assert.equal(master.launched().length, 3, 'DELETE /v2/queue/{app}/delay lets it launch at once');
  });

  test('scale down kills by killSelection: YOUNGEST_FIRST kills the last launched', async () => {
    const { m, master, clock } = await setup();
    await m.createApp({ id: '/s', cmd: 'sleep 1', cpus: 0.1, mem: 16, instances: 3 }, false);
    for (let i = 0; i < 3; i++) {
      master.offer('h1', 0.1, 16);
      await settle(10);
      await clock.advance(1000);
    }
    const ids = master.launched().map((t) => t.task_id.value as string);
    assert.equal(ids.length, 3);
    for (const id of ids) master.update(id, 'TASK_RUNNING');
    await settle(10);
    const r = await m.updateApp('/s', { instances: 1 }, { force: false, partial: true });
    assert.ok(r.ok);
    await settle(10);
    assert.deepEqual(
      master
        .of('KILL')
        .map((k) => k.kill.task_id.value)
        .sort(),
      [ids[1], ids[2]].sort(),
    );
  });

  test('a restarted Marathon re-subscribes as the same framework, reconciles its tasks and finishes the deployment', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock();
    const one = await setup(store, clock);
    await one.m.createApp({ id: '/r', cmd: 'sleep 1', cpus: 0.1, mem: 16, instances: 2 }, false);
    one.master.offer('h1', 0.1, 16);
    await settle(10);
    const [t1] = one.master.launched().map((t) => t.task_id.value as string);
    await one.m.stop();
    const two = await setup(store, clock);
    assert.equal(two.m.frameworkId, 'fw-1');
    assert.equal(two.m.apps.get('/r')?.instances, 2);
    assert.equal(two.m.deployments.size, 1, 'the deployment survived');
    const explicit = two.master.of('RECONCILE').find((c) => c.reconcile.tasks.length > 0);
    assert.deepEqual(
      explicit?.reconcile.tasks.map((t: Json) => t.task_id.value),
      [t1],
    );
    two.master.update(t1 as string, 'TASK_RUNNING');
    two.master.offer('h2', 0.1, 16);
    await settle(10);
    const [t2] = two.master.launched().map((t) => t.task_id.value as string);
    two.master.update(t2 as string, 'TASK_RUNNING', 'h2');
    await settle(10);
    assert.equal(two.m.deployments.size, 0, 'finished after the restart');
  });

  test('an app waits for the apps it depends on: /web launches only once /db runs', async () => {
    const { m, master } = await setup();
    const r = await m.updateGroup(
      '/shop',
      {
        apps: [
          { id: 'db', cmd: 'db', cpus: 0.1, mem: 16 },
          { id: 'web', cmd: 'web', cpus: 0.1, mem: 16, dependencies: ['db'] },
        ],
      },
      { force: false, create: true },
    );
    assert.ok(r.ok);
    master.offer('h1');
    await settle(10);
    assert.deepEqual(
      master.launched().map((t) => t.name),
      ['db.shop'],
      'only the dependency starts',
    );
    master.update(master.launched()[0]?.task_id.value, 'TASK_RUNNING');
    await settle(10);
    master.offer('h1');
    await settle(10);
    assert.deepEqual(
      master.launched().map((t) => t.name),
      ['db.shop', 'web.shop'],
    );
  });

  test('a task the master reports that Marathon does not know is killed', async () => {
    const { master } = await setup();
    master.update('other.instance-00000000-0000-4000-8000-000000000000._app.1', 'TASK_RUNNING');
    await settle(10);
    assert.equal(master.of('KILL')[0]?.kill.task_id.value, 'other.instance-00000000-0000-4000-8000-000000000000._app.1');
  });
});

describe('Marathon health and readiness (fake master, manual clock)', () => {
  const mesosHttp = {
    protocol: 'MESOS_HTTP',
    path: '/health',
    portIndex: 0,
    gracePeriodSeconds: 30,
    intervalSeconds: 5,
    timeoutSeconds: 2,
    maxConsecutiveFailures: 4,
    delaySeconds: 1,
  };

  test("a MESOS_HTTP check goes to the agent in TaskInfo.health_check with Marathon's field mapping", async () => {
    const { m, master } = await setup();
    await m.createApp({ id: '/h', cmd: 'serve', cpus: 0.1, mem: 16, healthChecks: [mesosHttp] }, false);
    master.offer('h1');
    await settle(10);
    const [t] = master.launched();
    const port = t.discovery.ports.ports[0].number;
    assert.deepEqual(t.health_check, {
      type: 'HTTP',
      delay_seconds: 1,
      interval_seconds: 5,
      timeout_seconds: 2,
      consecutive_failures: 4,
      grace_period_seconds: 30,
      http: { port, scheme: 'http', path: '/health' },
    });
  });

  test('MESOS_TCP uses the host port at portIndex, COMMAND a shell command; HTTP checks stay with the scheduler', async () => {
    const { m, master } = await setup();
    await m.createApp(
      { id: '/t', cmd: 'serve', cpus: 0.1, mem: 16, portDefinitions: [{ port: 0 }, { port: 0 }], healthChecks: [{ protocol: 'MESOS_TCP', portIndex: 1 }] },
      false,
    );
    await m.createApp({ id: '/c', cmd: 'serve', cpus: 0.1, mem: 16, healthChecks: [{ protocol: 'COMMAND', command: { value: 'test -f ok' } }] }, false);
    await m.createApp({ id: '/s', cmd: 'serve', cpus: 0.1, mem: 16, healthChecks: [{ protocol: 'HTTP' }] }, false);
    master.offer('h1');
    await settle(10);
    const byName = new Map(master.launched().map((t) => [t.name, t]));
    const tcp = byName.get('t');
    assert.deepEqual(tcp?.health_check.tcp, { port: tcp?.discovery.ports.ports[1].number });
    assert.equal(tcp?.health_check.delay_seconds, 15, 'delaySeconds defaults to 15');
    assert.equal(tcp?.health_check.grace_period_seconds, 300);
    assert.deepEqual(byName.get('c')?.health_check.command, { shell: true, value: 'test -f ok' });
    assert.equal(byName.get('c')?.health_check.type, 'COMMAND');
    assert.equal(byName.get('s')?.health_check, undefined);
  });

  test('TaskStatus.healthy from the agent gates the deployment and shows in counts and events', async () => {
    const { m, master } = await setup();
    const events: string[] = [];
    m.onEventBus((e) => events.push(e.eventType));
    await m.createApp({ id: '/h', cmd: 'serve', cpus: 0.1, mem: 16, healthChecks: [mesosHttp] }, false);
    master.offer('h1');
    await settle(10);
    const id = master.launched()[0]?.task_id.value as string;
    master.update(id, 'TASK_RUNNING');
    await settle(10);
    assert.equal(m.deployments.size, 1, 'running but not yet healthy: the deployment waits');
    master.update(id, 'TASK_RUNNING', 'h1', { healthy: false, reason: 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED' });
    await settle(10);
    const app = m.apps.get('/h');
    assert.ok(app);
    assert.equal(m.appInfo(app, new Set()).tasksUnhealthy, 1);
    assert.equal(m.deployments.size, 1);
    master.update(id, 'TASK_RUNNING', 'h1', { healthy: true, reason: 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED' });
    await settle(10);
    assert.equal(m.appInfo(app, new Set()).tasksHealthy, 1);
    assert.equal(m.deployments.size, 0, 'healthy: the deployment is done');
    assert.ok(events.includes('health_status_changed_event'));
    assert.ok(events.includes('instance_health_changed_event'));
  });

  test('a task the agent killed for failing its health check counts as a failure', async () => {
    const { m, master } = await setup();
    await m.createApp({ id: '/h', cmd: 'serve', cpus: 0.1, mem: 16, healthChecks: [mesosHttp] }, false);
    master.offer('h1');
    await settle(10);
    const id = master.launched()[0]?.task_id.value as string;
    master.update(id, 'TASK_KILLED', 'h1', { healthy: false, message: 'health check failed 4 times' });
    await settle(10);
    const app = m.apps.get('/h');
    assert.ok(app);
    assert.equal(m.appInfo(app, new Set(['lastTaskFailure'])).lastTaskFailure?.state, 'TASK_KILLED');
    assert.ok((m.queue()[0]?.delay.timeLeftSeconds ?? 0) > 0, 'relaunch waits for the backoff');
  });

  test('readiness: a new task counts only once its readiness check answers with an accepted status', async () => {
    const answers: number[] = [503, 503, 200];
    const probes: string[] = [];
    const prober: HealthProber = {
      http: async () => ({ ok: true }),
      tcp: async () => ({ ok: true }),
      get: async (host, port, path) => {
        probes.push(`${host}:${port}${path}`);
        const status = answers.shift() ?? 200;
        return { status, contentType: 'text/plain', body: status === 200 ? 'ready' : 'warming up' };
      },
    };
    const clock = new ManualClock();
    const { m, master } = await setup(new MemoryStore(), clock, prober);
    await m.createApp(
      {
        id: '/r',
        cmd: 'serve',
        cpus: 0.1,
        mem: 16,
        portDefinitions: [{ port: 0, name: 'http-api' }],
        readinessChecks: [{ path: '/ready', intervalSeconds: 2, timeoutSeconds: 1, preserveLastResponse: true }],
      },
      false,
    );
    master.offer('h1');
    await settle(10);
    const t = master.launched()[0];
    master.update(t.task_id.value, 'TASK_RUNNING');
    await settle(10);
    await clock.advance(1000);
    await settle(10);
    assert.equal(probes[0], `h1:${t.discovery.ports.ports[0].number}/ready`);
    const [d] = [...m.deployments.values()];
    assert.ok(d, 'not ready yet: the deployment waits');
    const shown = m.deploymentJson(d).currentActions[0].readinessCheckResults;
    assert.deepEqual(shown, [
      { name: 'readinessCheck', taskId: t.task_id.value, ready: false, lastResponse: { status: 503, contentType: 'text/plain', body: 'warming up' } },
    ]);
    for (let i = 0; i < 3 && m.deployments.size > 0; i++) {
      await clock.advance(2000);
      await settle(10);
    }
    assert.equal(probes.length, 3);
    assert.equal(m.deployments.size, 0, 'ready: the deployment is done');
    await clock.advance(10_000);
    await settle(10);
    assert.equal(probes.length, 3, 'a ready task is not probed again');
  });
});

describe('Marathon groups, roles and task statistics (fake master, manual clock)', () => {
  test('group dependencies: apps of /shop/web wait until every app of /shop/db runs', async () => {
    const { m, master } = await setup();
    const r = await m.updateGroup(
      '/shop',
      {
        groups: [
          { id: 'db', apps: [{ id: 'pg', cmd: 'pg', cpus: 0.1, mem: 16 }] },
          { id: 'web', dependencies: ['/shop/db'], apps: [{ id: 'front', cmd: 'front', cpus: 0.1, mem: 16 }] },
        ],
      },
      { force: false, create: true },
    );
    assert.ok(r.ok);
    const [d] = [...m.deployments.values()];
    assert.deepEqual(
      d?.steps.map((s) => s.actions.map((a) => `${a.action} ${a.app}`)),
      [['StartApplication /shop/db/pg'], ['ScaleApplication /shop/db/pg'], ['StartApplication /shop/web/front'], ['ScaleApplication /shop/web/front']],
    );
    master.offer('h1');
    await settle(10);
    assert.deepEqual(
      master.launched().map((t) => t.name),
      ['pg.db.shop'],
    );
    master.update(master.launched()[0]?.task_id.value, 'TASK_RUNNING');
    await settle(10);
    master.offer('h1');
    await settle(10);
    assert.deepEqual(
      master.launched().map((t) => t.name),
      ['pg.db.shop', 'front.web.shop'],
    );
    assert.deepEqual(m.groupJson('/shop/web', (a) => a)?.dependencies, ['/shop/db']);
  });

  test('dryRun returns the steps and changes nothing', async () => {
    const { m } = await setup();
    const r = await m.updateGroup('/g', { apps: [{ id: 'a', cmd: 'a' }] }, { force: false, create: false, dryRun: true });
    assert.ok(r.ok && 'steps' in r.value);
    assert.deepEqual(
      r.value.steps.map((s) => s.actions[0]?.action),
      ['StartApplication', 'ScaleApplication'],
    );
    assert.equal(m.apps.size, 0);
    assert.equal(m.deployments.size, 0);
  });

  test('enforceRole: apps of the top-level group get its role, another role is a 422 at /apps(i)/role', async () => {
    const { m } = await setup();
    const bad = await m.updateGroup('/dev', { enforceRole: true, apps: [{ id: 'x', cmd: 'x', role: '*' }] }, { force: false, create: true });
    assert.ok(!bad.ok && bad.error.status === 422 && 'details' in bad.error);
    assert.deepEqual(
      bad.error.details.map((d) => d.path),
      ['/apps(0)/role'],
    );
    const ok = await m.updateGroup('/dev', { enforceRole: true, apps: [{ id: 'x', cmd: 'x' }] }, { force: false, create: true });
    assert.ok(ok.ok);
    assert.equal(m.apps.get('/dev/x')?.role, 'dev');
    assert.equal(m.groupJson('/dev', (a) => a)?.enforceRole, true);
    const nested = await m.updateGroup('/dev/sub', { enforceRole: true }, { force: false, create: true });
    assert.ok(!nested.ok && nested.error.status === 422);
    const other = await m.createApp({ id: '/ops/y', cmd: 'y', role: 'dev' }, false);
    assert.ok(!other.ok && other.error.status === 422, 'a role other than * or the top-level group name is refused');
  });

  test('taskStats counts tasks by config; lastTaskFailure survives a restart', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock();
    const one = await setup(store, clock);
    await one.m.createApp({ id: '/s', cmd: 's', cpus: 0.1, mem: 16, instances: 2 }, false);
    one.master.offer('h1');
    await settle(10);
    const [a, b] = one.master.launched().map((t) => t.task_id.value as string);
    one.master.update(a as string, 'TASK_RUNNING');
    one.master.update(b as string, 'TASK_FAILED', 'h1', { message: 'exit 3' });
    await settle(10);
    await clock.advance(4000);
    const app = one.m.apps.get('/s');
    assert.ok(app);
    const stats = one.m.appInfo(app, new Set(['taskStats'])).tasksStats;
    assert.deepEqual(stats.withLatestConfig.stats.counts, { staged: 0, running: 1, healthy: 0, unhealthy: 0 });
    assert.equal(stats.totalSummary.stats.lifeTime.averageSeconds, 4);
    assert.equal(stats.withOutdatedConfig, undefined);
    await one.m.stop();
    const two = await setup(store, clock);
    const again = two.m.apps.get('/s');
    assert.ok(again);
    assert.equal(two.m.appInfo(again, new Set(['lastTaskFailure'])).lastTaskFailure?.message, 'exit 3');
  });

  test('unreachableStrategy {60, 120}: replaced after 60 s, expunged after 120 s, killed when it comes back', async () => {
    const { m, master, clock } = await setup();
    const events: Json[] = [];
    m.onEventBus((e) => events.push(e));
    const strategy = { inactiveAfterSeconds: 60, expungeAfterSeconds: 120 };
    await m.createApp({ id: '/u', cmd: 'u', cpus: 0.1, mem: 16, unreachableStrategy: strategy }, false);
    master.offer('h1');
    await settle(10);
    const first = master.launched()[0]?.task_id.value as string;
    master.update(first, 'TASK_RUNNING');
    await settle(10);
    master.update(first, 'TASK_UNREACHABLE');
    await settle(10);
    await clock.advance(59_000);
    master.offer('h2');
    await settle(10);
    assert.equal(master.launched().length, 1, 'not replaced before inactiveAfterSeconds');
    await clock.advance(2_000);
    master.offer('h2');
    await settle(10);
    assert.equal(master.launched().length, 2, 'replaced once inactive');
    master.update(master.launched()[1]?.task_id.value, 'TASK_RUNNING', 'h2');
    await settle(10);
    await clock.advance(57_000);
    assert.ok(m.instances.has(first), 'still known before expungeAfterSeconds');
    assert.equal(events.filter((e) => e.condition === 'Gone').length, 0);
    await clock.advance(2_000);
    assert.ok(!m.instances.has(first), 'expunged after expungeAfterSeconds');
    assert.deepEqual(
      events.filter((e) => e.condition === 'Gone').map((e) => e.instanceId),
      [first.replace(/\._app\.\d+$/, '')],
    );
    master.update(first, 'TASK_RUNNING');
    await settle(10);
    assert.ok(
      master.of('KILL').some((k) => k.kill.task_id.value === first),
      'an expunged task that comes back is killed',
    );
    assert.equal(m.tasksOf('/u').length, 1);
  });

  test("the default unreachableStrategy {0, 0} replaces at the next pass and expunges after 30 s (not never, as Marathon's expunge job)", async () => {
    const { m, master, clock } = await setup();
    const app = await m.createApp({ id: '/d', cmd: 'd', cpus: 0.1, mem: 16 }, false);
    assert.ok(app.ok);
    assert.deepEqual(app.value.app.unreachableStrategy, { inactiveAfterSeconds: 0, expungeAfterSeconds: 0 });
    master.offer('h1');
    await settle(10);
    const first = master.launched()[0]?.task_id.value as string;
    master.update(first, 'TASK_RUNNING');
    await settle(10);
    master.update(first, 'TASK_UNREACHABLE');
    await settle(10);
    await clock.advance(1_000);
    master.offer('h2');
    await settle(10);
    assert.equal(master.launched().length, 2, 'replaced at once');
    assert.ok(m.instances.has(first), 'still known for a while');
    await clock.advance(28_000);
    assert.ok(m.instances.has(first));
    await clock.advance(2_000);
    assert.ok(!m.instances.has(first), 'expunged 30 s after it became unreachable');
    master.update(first, 'TASK_RUNNING');
    await settle(10);
    assert.ok(master.of('KILL').some((k) => k.kill.task_id.value === first));
  });

  test("unreachableStrategy 'disabled' keeps waiting for the task", async () => {
    const { m, master, clock } = await setup();
    await m.createApp({ id: '/w', cmd: 'w', cpus: 0.1, mem: 16, unreachableStrategy: 'disabled' }, false);
    master.offer('h1');
    await settle(10);
    const first = master.launched()[0]?.task_id.value as string;
    master.update(first, 'TASK_UNREACHABLE');
    await settle(10);
    await clock.advance(3_600_000);
    master.offer('h2');
    await settle(10);
    assert.equal(master.launched().length, 1);
    assert.ok(m.instances.has(first));
  });

  test('@zone UNIQUE and @region IS read the fault domain of the offer', async () => {
    const { m, master } = await setup();
    const domain = (region: string, zone: string) => ({ domain: { fault_domain: { region: { name: region }, zone: { name: zone } } } });
    await m.createApp(
      {
        id: '/z',
        cmd: 'z',
        cpus: 0.1,
        mem: 16,
        instances: 2,
        constraints: [
          ['@zone', 'UNIQUE'],
          ['@region', 'IS', 'east'],
        ],
      },
      false,
    );
    master.offer('h1', 4, 4096, domain('east', 'a'));
    await settle(10);
    master.offer('h2', 4, 4096, domain('east', 'a'));
    await settle(10);
    master.offer('h3', 4, 4096, domain('west', 'b'));
    await settle(10);
    master.offer('h4', 4, 4096);
    await settle(10);
    assert.deepEqual(
      master.launched().map((t) => t.agent_id.value),
      ['agent-h1'],
      'zone a is taken, west is the wrong region, h4 has no fault domain',
    );
    const q = m.queue()[0]?.processedOffersSummary.rejectSummaryLastOffers.find((r: Json) => r.reason === 'UnfulfilledConstraint');
    assert.equal(q?.declined, 3);
    master.offer('h5', 4, 4096, domain('east', 'b'));
    await settle(10);
    assert.deepEqual(
      master.launched().map((t) => t.agent_id.value),
      ['agent-h1', 'agent-h5'],
    );
  });

  test('SUBSCRIBE is retried with backoff (1 s, 2 s, 4 s, ...) and again 1 s after a dropped stream once subscribed', async () => {
    const clock = new ManualClock();
    const attempts: number[] = [];
    const t0 = clock.nowMs();
    let sink: EventSink | undefined;
    const transport: SchedulerTransport = {
      async subscribe(call, s) {
        attempts.push(clock.nowMs() - t0);
        if (attempts.length <= 3) return { status: 503, body: 'master down' };
        sink = s;
        s.send({ type: 'SUBSCRIBED', subscribed: { framework_id: { value: (call.framework_id as Json | undefined)?.value ?? 'fw-9' } } });
        return undefined;
      },
      async call() {
        return { status: 202 };
      },
    };
    const m = new Marathon({ clock, random: new Random(3), store: new MemoryStore(), transport, defer: (fn) => setImmediate(fn) });
    await m.start();
    await settle(10);
    await clock.advance(1_000);
    await clock.advance(2_000);
    await clock.advance(4_000);
    await settle(10);
    assert.deepEqual(attempts, [0, 1_000, 3_000, 7_000]);
    assert.ok(m.isConnected);
    assert.equal(m.frameworkId, 'fw-9');
    sink?.close();
    await settle(10);
    assert.equal(m.isConnected, false);
    await clock.advance(1_000);
    await settle(10);
    assert.deepEqual(attempts, [0, 1_000, 3_000, 7_000, 8_000], 'the backoff starts over after a success');
    assert.ok(m.isConnected);
    assert.equal(m.frameworkId, 'fw-9', 'the same framework id');
    await m.stop();
  });
});

describe('Marathon group history (fake master, manual clock)', () => {
  const start = async (store: MemoryStore, clock: ManualClock, maxGroupVersions: number) => {
    const m = new Marathon({ clock, random: new Random(3), store, transport: new FakeMaster(), defer: (fn) => setImmediate(fn), config: { maxGroupVersions } });
    await m.start();
    await settle(5);
    return m;
  };

  test('keeps the last maxGroupVersions snapshots; app versions of a removed app go once no kept snapshot refers to them', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock();
    const m = await start(store, clock, 3);
    const versions: string[] = [];
    for (let i = 0; i < 5; i++) {
      await clock.advance(1000);
      const r = await m.updateGroup('/h', { apps: [{ id: 'a', cmd: `c${i}`, instances: 0 }] }, { force: true, create: false });
      assert.ok(r.ok && 'version' in r.value);
      versions.push(r.value.version);
    }
    assert.deepEqual(m.groupVersionList('/h'), versions.slice(2).reverse(), 'the last 3, newest first');
    assert.equal((await store.list('marathon/groupversions/')).length, 3);
    assert.equal(await m.groupAtVersion('/h', versions[0] as string, { apps: true, groups: true, pods: true }), undefined, 'dropped');
    const kept = await m.groupAtVersion('/h', versions[2] as string, { apps: true, groups: true, pods: true });
    assert.equal(kept?.apps[0].cmd, 'c2');
    // The app goes: its versions the kept snapshots refer to stay for rollbacks, the others go.
    await clock.advance(1000);
    assert.ok((await m.deleteGroup('/h', true)).ok);
    const left = (await store.list('marathon/versions/h/a/')).map((e) => e.key.split('/').pop());
    assert.deepEqual(left.sort(), versions.slice(3).sort(), 'versions 3 and 4 are still in kept snapshots');
    // Three more changes drop the snapshots that held /h/a: its versions go with them.
    for (let i = 0; i < 3; i++) {
      await clock.advance(1000);
      assert.ok((await m.updateGroup(`/other${i}`, {}, { force: false, create: true })).ok);
    }
    assert.deepEqual(await store.list('marathon/versions/h/a/'), []);
    assert.equal(m.groupVersionList('/h'), undefined, 'the group is gone');
  });

  test('a store written before groups were stored: enclosing groups are made with versions and a first snapshot', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock();
    const first = await start(store, clock, 50);
    assert.ok((await first.createApp({ id: '/old/sub/app', cmd: 'x', instances: 0 }, false)).ok);
    await first.stop();
    // As an older Marathon left it: apps, a group's settings without a version, no snapshots.
    for (const e of await store.list('marathon/groups')) await store.delete(e.key);
    for (const e of await store.list('marathon/groupversions/')) await store.delete(e.key);
    await store.put('marathon/groups/old', JSON.stringify({ id: '/old', dependencies: ['/db'], enforceRole: false }));
    const m = await start(store, clock, 50);
    const app = m.apps.get('/old/sub/app');
    const g = m.groupJson('/old', (a) => a);
    assert.equal(g?.version, app?.version);
    assert.deepEqual(g?.dependencies, ['/db']);
    assert.deepEqual(
      g?.groups.map((x: Json) => [x.id, x.apps.map((a: Json) => a.id)]),
      [['/old/sub', ['/old/sub/app']]],
    );
    assert.deepEqual(m.groupVersionList('/old'), [app?.version]);
    assert.ok(await store.get('marathon/groups/old/sub'), 'the recovered groups are stored');
  });
});
