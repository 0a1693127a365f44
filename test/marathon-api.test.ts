import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { type AddressInfo, type Socket, createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { RunningMaster } from '../src/main/master.js';
import { waitFor } from './lib/http.js';
import { startMarathonCluster, TaskAgent } from './lib/marathon.js';
import { FakeAgent, type Json, sleep } from './lib/mesos.js';

/**
 * Marathon in a master process (in-process scheduler transport) over three fake agents that
 * speak the agent protocol: every launch and kill goes through the real master.
 */

describe('Marathon v2 API over a master with three agents', () => {
  let running: RunningMaster;
  let base: string;
  let agents: TaskAgent[] = [];
  const fwId = () => running.marathon?.marathon.frameworkId ?? '';

  const req = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const r = await fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? headers : { 'Content-Type': 'application/json', ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await r.text();
    let json: Json;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {}
    return { status: r.status, headers: r.headers, json, text };
  };
  const noDeployments = () =>
    waitFor('deployments to finish', async () => ((await req('GET', '/v2/deployments')).json.length === 0 ? true : undefined), 10_000).catch(async (e) => {
      const state = {
        deployments: (await req('GET', '/v2/deployments')).json,
        queue: (await req('GET', '/v2/queue')).json,
        tasks: (await req('GET', '/v2/tasks')).json,
      };
      throw new Error(`${(e as Error).message}: ${JSON.stringify(state).slice(0, 3000)}`);
    });
  const allLaunched = () => agents.flatMap((a) => a.launched);
  const allRunning = () => agents.flatMap((a) => [...a.running.values()]);

  before(async () => {
    const rack = (r: string) => [{ name: 'rack', type: 'TEXT', text: { value: r } }];
    ({ running, agents } = await startMarathonCluster([
      { hostname: 'a1.test', attributes: rack('r0') },
      { hostname: 'a2.test', attributes: rack('r1') },
      { hostname: 'a3.test', attributes: rack('r0') },
    ]));
    base = `http://127.0.0.1:${running.marathon?.port}`;
  });
  after(async () => {
    for (const a of agents) a.close();
    agents = [];
    await running.stop();
  });

  test('POST /v2/apps answers 201 with Location and Marathon-Deployment-Id, and the task runs with Marathon ids, name and env', async () => {
    const r = await req('POST', '/v2/apps', {
      id: '/prod/web',
      cmd: 'python3 -m http.server $PORT0',
      cpus: 0.1,
      mem: 32,
      constraints: [['hostname', 'UNIQUE']],
    });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.headers.get('location'), '/prod/web');
    assert.match(r.headers.get('marathon-deployment-id') ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(r.json.deployments[0].id, r.headers.get('marathon-deployment-id'));
    assert.deepEqual(r.json.upgradeStrategy, { minimumHealthCapacity: 1, maximumOverCapacity: 1 });
    assert.equal(r.json.tasksRunning, 0);
    assert.ok(r.json.portDefinitions[0].port >= 10000, 'a service port was assigned');
    await noDeployments();
    const [task] = allLaunched();
    assert.equal(task.name, 'web.prod');
    assert.match(task.task_id.value, /^prod_web\.instance-[0-9a-f-]{36}\._app\.1$/);
    const env = Object.fromEntries(task.command.environment.variables.map((v: Json) => [v.name, v.value]));
    assert.match(env.PORT0, /^\d+$/);
    assert.equal(env.PORT_DEFAULT, env.PORT0);
    assert.equal(env.PORTS, env.PORT0);
    assert.match(env.HOST, /^a\d\.test$/);
    assert.equal(env.MARATHON_APP_ID, '/prod/web');
    const app = (await req('GET', '/v2/apps/prod/web?embed=app.tasks')).json.app;
    assert.equal(app.tasksRunning, 1);
    assert.equal(app.tasks[0].state, 'TASK_RUNNING');
    assert.deepEqual(app.tasks[0].ports, [Number(env.PORT0)]);
  });

  test('a duplicate POST is 409, an unknown app 404, a bad definition 422 with paths', async () => {
    const dup = await req('POST', '/v2/apps', { id: 'prod/web', cmd: 'x' });
    assert.equal(dup.status, 409);
    assert.equal(dup.json.message, 'An app with id [/prod/web] already exists.');
    const nf = await req('GET', '/v2/apps/nope');
    assert.equal(nf.status, 404);
    assert.deepEqual(nf.json, { message: "App '/nope' does not exist" });
    const bad = await req('POST', '/v2/apps', { id: '/x', cmd: 'x', cpus: 0, mem: -1 });
    assert.equal(bad.status, 422);
    assert.equal(bad.json.message, 'Object is not valid');
    assert.deepEqual(bad.json.details.map((d: Json) => d.path).sort(), ['/cpus', '/mem']);
    const raw = await fetch(`${base}/v2/apps`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{not json' });
    assert.equal(raw.status, 400);
    assert.equal(((await raw.json()) as Json).message, 'Invalid JSON');
  });

  test('scaling to 3 with UNIQUE hostname puts one task on each agent; a 4th is declined with the constraint as reason', async () => {
    let r = await req('PUT', '/v2/apps/prod/web', { instances: 3 });
    assert.equal(r.status, 200, r.text);
    await noDeployments();
    const hosts = (await req('GET', '/v2/apps/prod/web/tasks')).json.tasks.map((t: Json) => t.host).sort();
    assert.deepEqual(hosts, ['a1.test', 'a2.test', 'a3.test']);
    r = await req('PATCH', '/v2/apps/prod/web', { instances: 4 });
    assert.equal(r.status, 200);
    const q = await waitFor('queue to explain', async () => {
      const item = (await req('GET', '/v2/queue')).json.queue.find((x: Json) => x.app.id === '/prod/web');
      const c = item?.processedOffersSummary.rejectSummaryLastOffers.find((x: Json) => x.reason === 'UnfulfilledConstraint');
      return c && c.declined > 0 ? item : undefined;
    });
    assert.equal(q.count, 1);
    // The app's own JSON carries the same summary while it waits; the declined offers on request.
    assert.equal((await req('GET', '/v2/apps/prod/web')).json.app.processedOffersSummary, undefined, 'only on request');
    const app = (await req('GET', '/v2/apps/prod/web?embed=app.processedOffersSummary')).json.app;
    const c = app.processedOffersSummary.rejectSummaryLastOffers.find((x: Json) => x.reason === 'UnfulfilledConstraint');
    assert.ok(c.declined > 0 && app.processedOffersSummary.unusedOffersCount > 0, JSON.stringify(app.processedOffersSummary));
    assert.match(app.lastUnusedOfferDetail, /constraint|UNIQUE|hostname/i);
    assert.equal(app.lastUnusedOffers, undefined, 'the declined offers only with the embed');
    const listed = (await req('GET', '/v2/apps?id=/prod/web&embed=apps.lastUnusedOffers')).json.apps[0];
    assert.ok(listed.lastUnusedOffers.length > 0);
    assert.ok(listed.lastUnusedOffers[0].reason.includes('UnfulfilledConstraint'), JSON.stringify(listed.lastUnusedOffers[0]));
    assert.match(listed.lastUnusedOffers[0].offer.hostname, /^a\d\.test$/);
    assert.equal(q.app.processedOffersSummary, undefined, 'the queue item carries it once, beside the app');
    const busy = await req('PUT', '/v2/apps/prod/web', { instances: 3 });
    assert.equal(busy.status, 409);
    assert.match(busy.json.message, /locked by one or more deployments/);
    assert.equal(busy.json.deployments.length, 1);
    const forced = await req('PUT', '/v2/apps/prod/web?force=True', { instances: 3 });
    assert.equal(forced.status, 200);
    await noDeployments();
    assert.equal(
      (await req('GET', '/v2/apps/prod/web?embed=app.processedOffersSummary')).json.app.processedOffersSummary,
      undefined,
      'an app that waits for nothing has no summary',
    );
  });

  test('a change to labels or instances alone replaces no task; a cmd change rolls every task', async () => {
    const before = allLaunched().length;
    const r = await req('PUT', '/v2/apps/prod/web', { labels: { team: 'a' } });
    assert.equal(r.status, 200);
    await noDeployments();
    await sleep(200);
    assert.equal(allLaunched().length, before, 'labels restart nothing');
    const oldIds = new Set(allRunning().map((t) => t.task_id.value));
    await req('PUT', '/v2/apps/prod/web', {
      cmd: 'python3 -m http.server $PORT0 --bind 0.0.0.0',
      constraints: [],
      upgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0 },
    });
    await noDeployments();
    const now = (await req('GET', '/v2/apps/prod/web/tasks')).json.tasks;
    assert.equal(now.length, 3);
    for (const t of now) assert.ok(!oldIds.has(t.id), 'every task was replaced');
    const versions = (await req('GET', '/v2/apps/prod/web/versions')).json.versions;
    assert.ok(versions.length >= 3);
    const v0 = await req('GET', `/v2/apps/prod/web/versions/${versions[versions.length - 1]}`);
    assert.equal(v0.json.instances, 1);
  });

  test('restart replaces tasks; killing a task with scale=true lowers instances', async () => {
    const ids = new Set(allRunning().map((t) => t.task_id.value));
    const r = await req('POST', '/v2/apps/prod/web/restart?force=false');
    assert.equal(r.status, 200);
    assert.match(r.json.deploymentId, /^[0-9a-f-]{36}$/);
    await noDeployments();
    const tasks = (await req('GET', '/v2/apps/prod/web/tasks')).json.tasks;
    assert.ok(tasks.every((t: Json) => !ids.has(t.id)));
    const k = await req('DELETE', `/v2/apps/prod/web/tasks/${tasks[0].id}?scale=TRUE`);
    assert.equal(k.status, 200, k.text);
    await noDeployments();
    assert.equal((await req('GET', '/v2/apps/prod/web')).json.app.instances, 2);
    assert.equal((await req('GET', '/v2/apps/prod/web/tasks')).json.tasks.length, 2);
  });

  test('a failed task is replaced after a backoff and shows as lastTaskFailure', async () => {
    await req('POST', '/v2/apps', { id: '/flaky', cmd: 'false', cpus: 0.1, mem: 16, backoffSeconds: 0.2 });
    for (const a of agents) a.failNext = 1;
    const app = await waitFor('a replacement running', async () => {
      const a = (await req('GET', '/v2/apps/flaky')).json.app;
      return a.lastTaskFailure && a.tasksRunning === 1 ? a : undefined;
    });
    assert.equal(app.lastTaskFailure.state, 'TASK_FAILED');
    for (const a of agents) a.failNext = 0;
    await noDeployments();
  });

  test('an app no agent can hold says so in the queue and in its JSON', async () => {
    await req('POST', '/v2/apps', { id: '/huge', cmd: 'sleep 1', cpus: 100, mem: 16 });
    const cpusDeclined = (x: Json) => x.processedOffersSummary.rejectSummaryLastOffers.find((r: Json) => r.reason === 'InsufficientCpus').declined;
    const item = await waitFor('unplaceable', async () =>
      (await req('GET', '/v2/queue')).json.queue.find((x: Json) => x.app.id === '/huge' && x.unplaceable && cpusDeclined(x) > 0),
    );
    assert.match(item.unplaceable, /No agent can ever run this app.*cpus/);
    assert.match((await req('GET', '/v2/apps/huge')).json.app.placementStatus.message, /cpus/);
  });

  test('DELETE /v2/deployments rolls back; force=true just stops it', async () => {
    const dep = (await req('GET', '/v2/deployments')).json.find((d: Json) => d.affectedApps.includes('/huge'));
    assert.ok(dep);
    assert.equal(dep.steps[0].actions[0].action, 'StartApplication');
    const rb = await req('DELETE', `/v2/deployments/${dep.id}`);
    assert.equal(rb.status, 200);
    await noDeployments();
    assert.equal((await req('GET', '/v2/apps/huge')).status, 404, 'rolling back a creation removes the app');
    assert.equal((await req('DELETE', '/v2/deployments/nope')).json.message, 'DeploymentPlan nope does not exist');
  });

  test('the SSE stream names each event by its eventType and filters by event_type', async () => {
    const ac = new AbortController();
    const res = await fetch(`${base}/v2/events?event_type=deployment_success&event_type=api_post_event`, {
      headers: { Accept: 'text/event-stream' },
      signal: ac.signal,
    });
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    const dec = new TextDecoder();
    const read = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        text += dec.decode(value);
      }
    })().catch(() => {});
    await waitFor('attached', () => text.includes('event_stream_attached') || undefined);
    await req('POST', '/v2/apps', { id: '/sse', cmd: 'sleep 100', cpus: 0.1, mem: 16 });
    await waitFor('deployment_success', () => text.includes('event: deployment_success') || undefined);
    ac.abort();
    await read;
    const frames = text.split('\n\n').filter((f) => f.startsWith('event:'));
    for (const f of frames) {
      const [ev, data] = f.split('\n');
      const json = JSON.parse((data ?? '').replace(/^data: /, ''));
      assert.equal(ev, `event: ${json.eventType}`);
      assert.match(json.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
    assert.ok(!text.includes('status_update_event'), 'filtered out');
    assert.ok(text.includes('event: api_post_event'));
    assert.equal((await req('GET', '/v2/events')).status, 405);
  });

  test('GET /v2/apps filters by label selector and embeds; /v2/tasks, /v2/info, /v2/leader, /ping, /metrics answer', async () => {
    const apps = (await req('GET', '/v2/apps?label=team==a&embed=apps.tasks')).json.apps;
    assert.deepEqual(
      apps.map((a: Json) => a.id),
      ['/prod/web'],
    );
    assert.equal(apps[0].tasks.length, 2);
    assert.ok((await req('GET', '/v2/tasks?status=running')).json.tasks.length >= 3);
    const info = (await req('GET', '/v2/info')).json;
    assert.equal(info.name, 'marathon');
    assert.equal(info.frameworkId, fwId());
    assert.equal((await req('GET', '/v2/leader')).json.leader, info.leader);
    assert.equal((await req('GET', '/ping')).text, 'pong');
    assert.ok((await req('GET', '/metrics')).json.gauges['marathon.apps.active.gauge'].value >= 2);
  });

  test('groups: POST creates apps relative to the group, GET shows the tree, scaleBy scales, DELETE removes', async () => {
    const c = await req('POST', '/v2/groups', {
      id: '/shop',
      apps: [{ id: 'db', cmd: 'sleep 100', cpus: 0.1, mem: 16 }],
      groups: [{ id: 'front', apps: [{ id: 'ui', cmd: 'sleep 100', cpus: 0.1, mem: 16 }] }],
    });
    assert.equal(c.status, 201, c.text);
    assert.match(c.json.deploymentId, /^[0-9a-f-]{36}$/);
    assert.equal((await req('POST', '/v2/groups', { id: '/shop' })).status, 409);
    await noDeployments();
    const g = (await req('GET', '/v2/groups/shop?embed=group.apps&embed=group.apps.tasks&embed=group.groups')).json;
    assert.deepEqual(
      g.apps.map((a: Json) => a.id),
      ['/shop/db'],
    );
    assert.equal(g.apps[0].tasks.length, 1);
    assert.deepEqual(
      g.groups.map((x: Json) => x.id),
      ['/shop/front'],
    );
    assert.deepEqual(
      g.groups[0].apps.map((a: Json) => a.id),
      ['/shop/front/ui'],
    );
    const root = (await req('GET', '/v2/groups')).json;
    assert.equal(root.id, '/');
    assert.ok(root.groups.some((x: Json) => x.id === '/shop'));
    const s = await req('PUT', '/v2/groups/shop', { scaleBy: 2 });
    assert.equal(s.status, 200);
    await noDeployments();
    assert.equal((await req('GET', '/v2/apps/shop/front/ui')).json.app.instances, 2);
    const bad = await req('PUT', '/v2/groups/shop', { apps: [{ id: 'db', cmd: 'x', mem: -5 }] });
    assert.equal(bad.status, 422);
    assert.deepEqual(
      bad.json.details.map((d: Json) => d.path),
      ['/apps(0)/mem'],
    );
    assert.equal((await req('DELETE', '/v2/groups/shop')).status, 200);
    await noDeployments();
    assert.equal((await req('GET', '/v2/groups/shop')).status, 404);
  });

  test('DELETE /v2/apps/{id} kills its tasks and the app is gone', async () => {
    const r = await req('DELETE', '/v2/apps//prod/web');
    assert.equal(r.status, 200);
    await noDeployments();
    assert.equal((await req('GET', '/v2/apps/prod/web')).status, 404);
    assert.equal(allRunning().filter((t) => t.name === 'web.prod').length, 0);
  });

  test('a MESOS_TCP check reaches the agent in TaskInfo.health_check; the deployment ends only once the agent reports healthy', async () => {
    for (const a of agents) a.health = undefined;
    const r = await req('POST', '/v2/apps', {
      id: '/mh',
      cmd: 'serve',
      cpus: 0.1,
      mem: 16,
      healthChecks: [{ protocol: 'MESOS_TCP', intervalSeconds: 2, timeoutSeconds: 1 }],
    });
    assert.equal(r.status, 201);
    await waitFor('launched', () => allLaunched().find((t) => t.name === 'mh'));
    const t = allLaunched().find((x) => x.name === 'mh');
    assert.equal(t.health_check.type, 'TCP');
    assert.equal(t.health_check.tcp.port, t.discovery.ports.ports[0].number);
    await sleep(300);
    assert.equal((await req('GET', '/v2/deployments')).json.length, 1, 'running but not reported healthy');
    const owner = agents.find((a) => a.running.has(t.task_id.value));
    await owner?.agent.update(fwId(), t.task_id.value, 'TASK_RUNNING', { healthy: true, reason: 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED' });
    await noDeployments();
    const app = (await req('GET', '/v2/apps/mh?embed=app.tasks')).json.app;
    assert.equal(app.tasksHealthy, 1);
    assert.equal(app.tasks[0].healthCheckResults[0].alive, true);
    for (const a of agents) a.health = true;
    assert.equal((await req('DELETE', '/v2/apps/mh')).status, 200);
    await noDeployments();
  });

  test('PUT /v2/groups?dryRun=true answers the steps; a group with a bad app is a 422 with the path', async () => {
    const dry = await req('PUT', '/v2/groups/dry?dryRun=True', {
      apps: [
        { id: 'a', cmd: 'a' },
        { id: 'b', cmd: 'b', dependencies: ['a'] },
      ],
    });
    assert.equal(dry.status, 200);
    assert.deepEqual(
      dry.json.steps.map((s: Json) => s.actions.map((a: Json) => `${a.action} ${a.app}`).join()),
      ['StartApplication /dry/a', 'ScaleApplication /dry/a', 'StartApplication /dry/b', 'ScaleApplication /dry/b'],
    );
    assert.equal((await req('GET', '/v2/apps/dry/a')).status, 404);
    const bad = await req('PUT', '/v2/groups/dry', { groups: [{ id: 'x', apps: [{ id: 'a', cmd: 'a', mem: -1 }] }] });
    assert.equal(bad.status, 422);
    assert.deepEqual(
      bad.json.details.map((d: Json) => d.path),
      ['/groups(0)/apps(0)/mem'],
    );
  });

  test("Debian's python3-marathon, unchanged, creates an app, scales it, lists its tasks and deletes it", async (t) => {
    // Debian's interpreter: the package lives in /usr/lib/python3/dist-packages.
    const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
    const probe = spawnSync(python, ['-c', 'import marathon'], { encoding: 'utf8' });
    if (probe.status !== 0) return t.skip('python3-marathon is not installed (apt-get install python3-marathon)');
    const script = `
import json, sys, time
from marathon import MarathonClient
from marathon.models import MarathonApp
c = MarathonClient(sys.argv[1])
app = c.create_app('py-web', MarathonApp(cmd='sleep 1000', cpus=0.1, mem=16, instances=1))
out = {'created': app.id}
c.scale_app('py-web', instances=2, force=True)
deadline = time.time() + 10
while time.time() < deadline and len(c.list_tasks('py-web')) < 2:
    time.sleep(0.1)
out['tasks'] = sorted(t.app_id for t in c.list_tasks('py-web'))
out['instances'] = c.get_app('py-web').instances
out['listed'] = [a.id for a in c.list_apps()]
c.delete_app('py-web', force=True)
print(json.dumps(out))
`;
    // Asynchronously: the server answering it runs in this process.
    const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(python, ['-c', script, base], { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) =>
        resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop() as string);
    assert.equal(out.created, '/py-web');
    assert.equal(out.instances, 2);
    assert.deepEqual(out.tasks, ['/py-web', '/py-web']);
    assert.ok(out.listed.includes('/py-web'));
    await noDeployments();
    assert.equal((await req('GET', '/v2/apps/py-web')).status, 404);
  });

  test('fetch, user and taskKillGracePeriodSeconds reach TaskInfo; DELETE /v2/queue/{app}/delay over HTTP ends a backoff', async () => {
    for (const a of agents) a.failNext = 1;
    const r = await req('POST', '/v2/apps', {
      id: '/fields',
      cmd: 'sleep 100',
      cpus: 0.1,
      mem: 16,
      user: 'nobody',
      taskKillGracePeriodSeconds: 7,
      backoffSeconds: 600,
      fetch: [
        { uri: 'http://127.0.0.1:1/pkg.tgz', extract: true, executable: false, cache: false },
        { uri: 'http://127.0.0.1:1/run.sh', executable: true },
      ],
    });
    assert.equal(r.status, 201, r.text);
    const item = await waitFor('the first task failed and the app backs off', async () => {
      const q = (await req('GET', '/v2/queue')).json.queue.find((x: Json) => x.app.id === '/fields');
      return q && q.delay.timeLeftSeconds > 0 ? q : undefined;
    });
    assert.ok(item.delay.timeLeftSeconds > 200, `600 s, capped by maxLaunchDelaySeconds 300: ${JSON.stringify(item.delay)}`);
    for (const a of agents) a.failNext = 0;
    const task = allLaunched().find((t) => t.name === 'fields');
    assert.ok(task, 'launched');
    assert.equal(task.command.user, 'nobody');
    assert.deepEqual(
      task.command.uris.map((u: Json) => [u.value, u.extract, u.executable]),
      [
        ['http://127.0.0.1:1/pkg.tgz', true, false],
        ['http://127.0.0.1:1/run.sh', true, true],
      ],
      'extract defaults to true, executable to false, as in Marathon',
    );
    assert.equal(Number(task.kill_policy.grace_period.nanoseconds), 7e9);
    assert.equal((await req('DELETE', '/v2/queue/nope/delay')).status, 404);
    const d = await req('DELETE', '/v2/queue/fields/delay');
    assert.equal(d.status, 204);
    const app = await waitFor('launched again without waiting out the backoff', async () => {
      const a = (await req('GET', '/v2/apps/fields')).json.app;
      return a.tasksRunning === 1 ? a : undefined;
    });
    assert.equal(app.lastTaskFailure.state, 'TASK_FAILED');
    await noDeployments();
  });

  test('POST /v2/tasks/delete?wipe=true forgets the task at once and a replacement launches; scale and wipe together are a 400', async () => {
    const [old] = (await req('GET', '/v2/apps/fields/tasks')).json.tasks;
    assert.ok(old);
    const both = await req('POST', '/v2/tasks/delete?wipe=true&scale=true', { ids: [old.id] });
    assert.equal(both.status, 400);
    assert.equal(both.json.message, 'You cannot use scale and wipe at the same time.');
    const w = await req('POST', '/v2/tasks/delete?wipe=true', { ids: [old.id] });
    assert.equal(w.status, 200, w.text);
    assert.deepEqual(
      w.json.tasks.map((t: Json) => t.id),
      [old.id],
    );
    const right = (await req('GET', '/v2/apps/fields/tasks')).json.tasks.map((t: Json) => t.id);
    assert.ok(!right.includes(old.id), 'gone from Marathon at once, before the agent confirms the kill');
    assert.ok(!running.marathon?.marathon.instances.has(old.id), 'expunged, not only being killed');
    const fresh = await waitFor('a replacement running', async () => {
      const ts = (await req('GET', '/v2/apps/fields/tasks')).json.tasks;
      return ts.length === 1 && ts[0].state === 'TASK_RUNNING' && ts[0].id !== old.id ? ts[0] : undefined;
    });
    assert.notEqual(fresh.id, old.id);
    await waitFor('the agent killed the wiped task', () => (allRunning().some((t) => t.task_id.value === old.id) ? undefined : true));
    assert.equal((await req('GET', '/v2/apps/fields')).json.app.instances, 1, 'wipe does not scale');
    assert.equal((await req('DELETE', '/v2/apps/fields?force=true')).status, 200);
    await noDeployments();
  });

  test('a TCP health check Marathon runs itself: healthy while the port answers; once it stops, the task is killed after maxConsecutiveFailures', async () => {
    const server = createServer((sock) => sock.destroy());
    const sockets = new Set<Socket>();
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const local = new TaskAgent(await FakeAgent.start(`http://127.0.0.1:${running.port}`, { hostname: '127.0.0.1' }), fwId);
    local.agent.startPinging(200);
    const events: Json[] = [];
    const off = running.marathon?.marathon.onEventBus((e) => events.push(e));
    try {
      const r = await req('POST', '/v2/apps', {
        id: '/tcpcheck',
        cmd: 'sleep 100',
        cpus: 0.1,
        mem: 16,
        constraints: [['hostname', 'LIKE', '127\\.0\\.0\\.1']],
        healthChecks: [{ protocol: 'TCP', port, intervalSeconds: 1, timeoutSeconds: 1, gracePeriodSeconds: 1, maxConsecutiveFailures: 2 }],
      });
      assert.equal(r.status, 201, r.text);
      const app = await waitFor(
        'healthy by the TCP check',
        async () => {
          const a = (await req('GET', '/v2/apps/tcpcheck?embed=app.tasks')).json.app;
          return a.tasksHealthy === 1 ? a : undefined;
        },
        10_000,
      );
      assert.equal(app.tasks[0].host, '127.0.0.1');
      assert.equal(app.tasks[0].healthCheckResults[0].alive, true);
      assert.equal(local.launched[0]?.health_check, undefined, 'TCP (not MESOS_TCP) is not sent to the agent');
      await noDeployments();
      const taskId = app.tasks[0].id;
      await new Promise<void>((r) => {
        server.close(() => r());
        for (const s of sockets) s.destroy();
      });
      await waitFor('the unhealthy task killed', () => (local.running.has(taskId) ? undefined : true), 15_000);
      const kill = events.find((e) => e.eventType === 'unhealthy_instance_kill_event');
      assert.ok(kill, `events: ${events.map((e) => e.eventType).join(',')}`);
      assert.equal(kill.taskId, taskId);
    } finally {
      off?.();
      server.close();
      await req('DELETE', '/v2/apps/tcpcheck?force=true');
      await waitFor('tcpcheck gone', async () => ((await req('GET', '/v2/apps/tcpcheck')).status === 404 ? true : undefined));
      local.close();
    }
  });
});
