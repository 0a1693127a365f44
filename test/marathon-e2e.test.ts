import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { waitFor } from './lib/http.js';

const require = createRequire(import.meta.url);
const DCOS = resolve('dist/src/main/dcos.js');
type Json = any;

function dcos(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [DCOS, ...args], { env: { ...process.env, ...env }, timeout: 120_000 }, (err, stdout, stderr) => {
      res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/**
 * Marathon in a cluster of real processes (`dcos up`, three agents running real commands),
 * driven by the unchanged npm client marathon-node through the gateway, its SSE stream read with
 * the npm `eventsource` client, and the `dcos marathon` CLI.
 */
describe('Marathon on a local cluster of real processes', () => {
  const home = mkdtempSync(join(tmpdir(), 'dcos-marathon-e2e-'));
  const workDir = join(home, 'cluster');
  const env = { DCOS_TS_CONFIG_DIR: join(home, 'config'), DCOS_TS_HOME: home };
  let info: { url: string; marathon: string; pids: { agents: number[] } };
  let m: Json;
  const events: Json[] = [];
  let es: Json;

  const client = () => require('marathon-node')(`${info.url}/service/marathon`);
  const running = async (id: string, n: number) =>
    waitFor(
      `${id} to run ${n} tasks`,
      async () => {
        const { app } = await m.apps.getOne(id, { embed: 'app.tasks' });
        const ok = app.tasksRunning === n && app.tasks.length === n && app.deployments.length === 0;
        return ok ? app : undefined;
      },
      60_000,
      200,
    );
  const serves = (t: Json) =>
    waitFor(`http on ${t.host}:${t.ports[0]}`, async () => (await fetch(`http://${t.host}:${t.ports[0]}/`)).status === 200 || undefined, 30_000, 200);

  before(async () => {
    const r = await dcos(
      ['up', '--detach', '--json', '--agents=3', `--work-dir=${workDir}`, '--resources=cpus:2;mem:1024;disk:2048', '--agent-ping-timeout=1secs'],
      env,
    );
    assert.equal(r.code, 0, `dcos up failed: ${r.stderr}`);
    info = JSON.parse(r.stdout);
    m = client();
    const EventSource = require('eventsource');
    es = new EventSource(`${info.url}/service/marathon/v2/events?event_type=status_update_event&event_type=deployment_success`);
    for (const t of ['status_update_event', 'deployment_success', 'event_stream_attached'])
      es.addEventListener(t, (e: { data: string }) => events.push({ sse: t, ...JSON.parse(e.data) }));
  });

  after(async () => {
    es?.close();
    await dcos(['down', '--purge', `--work-dir=${workDir}`], env);
    rmSync(home, { recursive: true, force: true });
  });

  test('dcos up --json prints the Marathon URL; /v2/info answers there and through the gateway', async () => {
    assert.match(info.marathon, /^http:\/\/127\.0\.0\.1:\d+$/);
    const direct = (await (await fetch(`${info.marathon}/v2/info`)).json()) as Json;
    assert.equal(direct.name, 'marathon');
    const viaGateway = await m.info.get();
    assert.equal(viaGateway.frameworkId, direct.frameworkId);
    assert.equal((await fetch(`${info.url}/marathon/ping`)).status, 200);
  });

  test('marathon-node deploys an http server; it serves on $PORT0', async () => {
    const created = await m.apps.create({
      id: '/e2e/web',
      cmd: 'python3 -m http.server $PORT0',
      cpus: 0.1,
      mem: 64,
      instances: 1,
      constraints: [['hostname', 'UNIQUE']],
    });
    assert.equal(created.id, '/e2e/web');
    assert.equal(created.deployments.length, 1);
    const app = await running('/e2e/web', 1);
    await serves(app.tasks[0]);
    await waitFor(
      'events over SSE',
      () => events.some((e) => e.sse === 'status_update_event' && e.taskStatus === 'TASK_RUNNING' && e.appId === '/e2e/web') || undefined,
      10_000,
    );
    assert.ok(events.some((e) => e.sse === 'event_stream_attached'));
    for (const e of events) assert.equal(e.sse, e.eventType);
  });

  test('scaling to 3 with UNIQUE hostname spreads one server onto each agent', async () => {
    const { deploymentId } = await m.apps.update('/e2e/web', { instances: 3 }, false);
    assert.match(deploymentId, /^[0-9a-f-]{36}$/);
    const app = await running('/e2e/web', 3);
    assert.deepEqual(app.tasks.map((t: Json) => t.host).sort(), ['127.0.0.2', '127.0.0.3', '127.0.0.4']);
    for (const t of app.tasks) await serves(t);
    await waitFor('deployment_success over SSE', () => events.some((e) => e.sse === 'deployment_success' && e.id === deploymentId) || undefined, 10_000);
  });

  test('the CLI lists the app, explains an app no agent can hold and reports 422 paths', async () => {
    const list = await dcos(['marathon', 'app', 'list', '--json'], env);
    assert.equal(list.code, 0, list.stderr);
    const apps = JSON.parse(list.stdout);
    assert.equal(apps.find((a: Json) => a.id === '/e2e/web').tasksRunning, 3);
    const group = await dcos(['marathon', 'group', 'show', 'e2e', '--json'], env);
    assert.equal(group.code, 0, group.stderr);
    assert.deepEqual(
      JSON.parse(group.stdout).apps.map((a: Json) => a.id),
      ['/e2e/web'],
    );
    const tasks = await dcos(['marathon', 'task', 'list', '--json'], env);
    assert.equal(JSON.parse(tasks.stdout).filter((t: Json) => t.appId === '/e2e/web').length, 3);
    const deps = await dcos(['marathon', 'deployment', 'list'], env);
    assert.match(deps.stdout, /There are no deployments/);
    const file = join(home, 'app.json');
    writeFileSync(file, JSON.stringify({ id: '/e2e/never', cmd: 'sleep 100', cpus: 0.1, mem: 16, constraints: [['hostname', 'LIKE', 'nowhere']] }));
    const add = await dcos(['marathon', 'app', 'add', file], env);
    assert.equal(add.code, 0, add.stderr);
    const debug = await waitFor(
      'debug summary',
      async () => {
        const r = await dcos(['marathon', 'debug', 'summary', '/e2e/never'], env);
        return r.stdout.includes('No agent can ever run this app') ? r.stdout : undefined;
      },
      20_000,
      300,
    );
    assert.match(debug, /UnfulfilledConstraint\s+[1-9]/);
    const details = await dcos(['marathon', 'debug', 'details', '/e2e/never'], env);
    assert.equal(details.code, 0, details.stderr);
    assert.match(details.stdout, /HOSTNAME\s+ROLE\s+CONSTRAINTS\s+CPUS/);
    assert.match(details.stdout, /\n\S+\s+ok\s+-\s+ok/, 'an offered agent: role met, constraint not');
    const deployment = JSON.parse((await dcos(['marathon', 'deployment', 'list', '--json'], env)).stdout)[0].id as string;
    const watch = await dcos(['marathon', 'deployment', 'watch', deployment, '--max-count=2', '--interval=0.1'], env);
    assert.equal(watch.code, 0, watch.stderr);
    assert.equal(watch.stdout.trim().split('\n').length, 2, watch.stdout);
    assert.match(watch.stdout, new RegExp(`${deployment} step 1/2: StartApplication /e2e/never`));
    const rm = await dcos(['marathon', 'app', 'remove', '/e2e/never'], env);
    assert.equal(rm.code, 0, rm.stderr);
    const bad = await dcos(['marathon', 'app', 'update', '/e2e/web', 'cpus=-1'], env);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /\/cpus/);
  });

  test('a rolling restart (minimumHealthCapacity 0.5, as UNIQUE on three agents needs) replaces every task with one that serves', async () => {
    const before = (await m.apps.getTasks('/e2e/web')).tasks.map((t: Json) => t.id);
    // Not a runtime change: no task is replaced by this update.
    await m.apps.update('/e2e/web', { upgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0 } }, false);
    assert.deepEqual((await running('/e2e/web', 3)).tasks.map((t: Json) => t.id).sort(), [...before].sort());
    await m.apps.restart('/e2e/web', true);
    const app = await waitFor(
      'all tasks replaced',
      async () => {
        const a = await running('/e2e/web', 3);
        return a.tasks.every((t: Json) => !before.includes(t.id)) ? a : undefined;
      },
      90_000,
      500,
    );
    for (const t of app.tasks) await serves(t);
  });

  test('an HTTP health check gates a rolling restart: a version that never gets healthy replaces nothing, and rollback restores the old one', async () => {
    const hc = { protocol: 'HTTP', path: '/', portIndex: 0, gracePeriodSeconds: 3, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 2 };
    await m.apps.create({ id: '/e2e/hc', cmd: 'python3 -m http.server $PORT0', cpus: 0.1, mem: 32, instances: 2, healthChecks: [hc] });
    const healthy = async () =>
      waitFor(
        '/e2e/hc healthy',
        async () => {
          const { app } = await m.apps.getOne('/e2e/hc', { embed: 'app.tasks' });
          return app.tasksHealthy === 2 && app.deployments.length === 0 && app.tasks.length === 2 ? app : undefined;
        },
        60_000,
        200,
      );
    const good = await healthy();
    assert.ok(good.tasks.every((t: Json) => t.healthCheckResults[0].alive === true));
    const goodIds = good.tasks.map((t: Json) => t.id).sort();
    const { deploymentId } = await m.apps.update('/e2e/hc', { cmd: 'sleep 1000' }, false);
    // New tasks start but never pass the check; the old ones must stay (minimumHealthCapacity 1).
    await new Promise((r) => setTimeout(r, 8000));
    const stuck = (await m.apps.getOne('/e2e/hc', { embed: 'app.tasks' })).app;
    assert.equal(stuck.deployments[0]?.id, deploymentId, 'the deployment waits for health');
    for (const id of goodIds)
      assert.ok(
        stuck.tasks.some((t: Json) => t.id === id),
        `healthy old task ${id} kept`,
      );
    const rb = await m.deployments.destroy(deploymentId);
    assert.match(rb.deploymentId, /^[0-9a-f-]{36}$/);
    const back = await healthy();
    assert.equal(back.cmd, 'python3 -m http.server $PORT0');
    assert.deepEqual(back.tasks.map((t: Json) => t.id).sort(), goodIds, 'rollback keeps the old tasks and drops the new ones');
    await m.apps.destroy('/e2e/hc');
  });

  test('after dcos down and up, Marathon finds its app and the same running tasks again, and finishes a deployment it was in', async () => {
    const before = (await m.apps.getTasks('/e2e/web')).tasks.map((t: Json) => t.id).sort();
    // A deployment that cannot finish before the restart: its task turns healthy only once /ok exists, 12 s after it starts.
    const hc = { protocol: 'HTTP', path: '/ok', portIndex: 0, gracePeriodSeconds: 120, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 3 };
    const slow = await m.apps.create({
      id: '/e2e/slow',
      cmd: '(sleep 12; touch ok) & exec python3 -m http.server $PORT0',
      cpus: 0.1,
      mem: 32,
      healthChecks: [hc],
    });
    const deploymentId = slow.deployments[0].id as string;
    const open = (await m.deployments.getList()) as Json[];
    assert.ok(
      open.some((d) => d.id === deploymentId),
      'the deployment is still running when Marathon goes down',
    );
    const down = await dcos(['down', `--work-dir=${workDir}`], env);
    assert.equal(down.code, 0, down.stderr);
    const r = await dcos(['up', '--detach', '--json', `--work-dir=${workDir}`], env);
    assert.equal(r.code, 0, r.stderr);
    info = JSON.parse(r.stdout);
    m = client();
    const app = await running('/e2e/web', 3);
    assert.deepEqual(app.tasks.map((t: Json) => t.id).sort(), before, 'the same tasks, reconciled, none relaunched');
    for (const t of app.tasks) await serves(t);
    const after = (await m.deployments.getList()) as Json[];
    if (after.length > 0)
      assert.deepEqual(
        after.map((d) => d.id),
        [deploymentId],
        'the same deployment, recovered',
      );
    const done = await waitFor(
      'the recovered deployment to finish',
      async () => {
        const { app: s } = await m.apps.getOne('/e2e/slow', { embed: 'app.tasks' });
        return s.tasksHealthy === 1 && s.deployments.length === 0 ? s : undefined;
      },
      60_000,
      300,
    );
    assert.equal(done.tasks.length, 1);
    await m.apps.destroy('/e2e/slow');
  });

  test('removing the app stops its servers', async () => {
    const tasks = (await m.apps.getTasks('/e2e/web')).tasks;
    await m.apps.destroy('/e2e/web');
    await waitFor('app gone', async () => (await fetch(`${info.url}/service/marathon/v2/apps/e2e/web`)).status === 404 || undefined, 30_000);
    await waitFor(
      'servers stopped',
      async () => {
        for (const t of tasks) {
          const up = await fetch(`http://${t.host}:${t.ports[0]}/`).then(
            () => true,
            () => false,
          );
          if (up) return undefined;
        }
        return true;
      },
      30_000,
      300,
    );
    await waitFor('no deployments', async () => ((await m.deployments.getList()).length === 0 ? true : undefined), 30_000);
  });

  test('an agent killed with SIGKILL: its task becomes unreachable and is replaced on another agent', async () => {
    await m.apps.create({ id: '/e2e/survivor', cmd: 'python3 -m http.server $PORT0', cpus: 0.1, mem: 32, instances: 2 });
    const app = await running('/e2e/survivor', 2);
    const victim = app.tasks[0].host as string;
    const index = Number(victim.split('.')[3]) - 2;
    process.kill(info.pids.agents[index] as number, 'SIGKILL');
    const replaced = await waitFor(
      'a replacement elsewhere',
      async () => {
        const { app: a } = await m.apps.getOne('/e2e/survivor', { embed: 'app.tasks' });
        const live = a.tasks.filter((t: Json) => t.state === 'TASK_RUNNING' && t.host !== victim);
        return live.length === 2 ? a : undefined;
      },
      60_000,
      300,
    );
    assert.ok(
      replaced.tasks.some((t: Json) => t.host === victim && t.state === 'TASK_UNREACHABLE'),
      'the unreachable task is still known',
    );
    for (const t of replaced.tasks.filter((x: Json) => x.state === 'TASK_RUNNING')) await serves(t);
    // The agent comes back with its task still running: one instance too many, the surplus is killed
    // (and nothing is left behind for later clusters on this machine).
    const r = await dcos(['up', '--detach', '--json', `--work-dir=${workDir}`], env);
    assert.equal(r.code, 0, r.stderr);
    info = JSON.parse(r.stdout);
    m = client();
    const settled = await waitFor(
      'the surplus killed',
      async () => {
        const { app: a } = await m.apps.getOne('/e2e/survivor', { embed: 'app.tasks' });
        return a.tasks.length === 2 && a.tasks.every((t: Json) => t.state === 'TASK_RUNNING') && a.deployments.length === 0 ? a : undefined;
      },
      60_000,
      300,
    );
    for (const t of settled.tasks) await serves(t);
    await m.apps.destroy('/e2e/survivor');
    await waitFor('survivor gone', async () => (await fetch(`${info.url}/service/marathon/v2/apps/e2e/survivor`)).status === 404 || undefined, 30_000);
    await waitFor('no deployments', async () => ((await m.deployments.getList()).length === 0 ? true : undefined), 30_000);
  });
});
