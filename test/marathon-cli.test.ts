/**
 * The `dcos marathon` CLI, run as the real program (dist/src/main/dcos.js) against a master in
 * this process with Marathon and its gateway, over three fake agents that run what they are
 * told (RUN_TASK → RUNNING, KILL_TASK → KILLED) over the agent protocol.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RunningMaster } from '../src/main/master.js';
import { dcos as runDcos } from './lib/cluster.js';
import { waitFor } from './lib/http.js';
import { startMarathonCluster, type TaskAgent } from './lib/marathon.js';
import type { Json } from './lib/mesos.js';

describe('dcos marathon CLI against Marathon in a master process', { timeout: 120_000 }, () => {
  let running: RunningMaster;
  let agents: TaskAgent[] = [];
  let base = '';
  const dir = mkdtempSync(join(tmpdir(), 'mara-cli-'));
  let env: Record<string, string> = {};

  const dcos = (...args: string[]) => runDcos(['marathon', ...args], env, 60_000);
  const ok = async (...args: string[]): Promise<string> => {
    const r = await dcos(...args);
    assert.equal(r.code, 0, `dcos marathon ${args.join(' ')}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  const okJson = async (...args: string[]): Promise<Json> => JSON.parse(await ok(...args));
  const api = async (path: string): Promise<Json> => (await fetch(`${base}${path}`)).json();
  const noDeployments = () => waitFor('no deployments', async () => ((await api('/v2/deployments')).length === 0 ? true : undefined), 10_000);
  const file = (name: string, v: unknown): string => {
    const p = join(dir, name);
    writeFileSync(p, JSON.stringify(v));
    return p;
  };
  const running_ = async (appId: string): Promise<string[]> =>
    ((await api(`/v2/apps${appId}/tasks`)).tasks as Json[])
      .filter((t) => t.state === 'TASK_RUNNING')
      .map((t) => t.id as string)
      .sort();

  before(async () => {
    ({ running, agents } = await startMarathonCluster([{ hostname: 'c1.test' }, { hostname: 'c2.test' }, { hostname: 'c3.test' }], { gateway: true }));
    base = `http://127.0.0.1:${running.marathon?.port}`;
    env = { DCOS_URL: `http://127.0.0.1:${running.gatewayPort}`, DCOS_TS_CONFIG_DIR: join(dir, 'config') };
  });
  after(async () => {
    for (const a of agents) a.close();
    agents = [];
    await running.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('app add, list, show, update, version list, restart, kill, stop, start, remove', async () => {
    const def = file('web.json', { id: '/cli/web', cmd: 'sleep 100', cpus: 0.1, mem: 16 });
    assert.match(await ok('app', 'add', def), /^Created app \/cli\/web; deployment [0-9a-f-]{36}/);
    await noDeployments();
    const list = await okJson('app', 'list', '--json');
    assert.deepEqual(
      list.map((a: Json) => [a.id, a.tasksRunning]),
      [['/cli/web', 1]],
    );
    assert.match(await ok('app', 'list'), /\/cli\/web\s+16\s+0\.1\s+1\/1/);
    const shown = await okJson('app', 'show', 'cli/web');
    assert.equal(shown.id, '/cli/web');
    assert.equal(shown.tasks.length, 1);
    const [first] = await running_('/cli/web');

    assert.match(await ok('app', 'update', '/cli/web', 'mem=32', 'labels={"team":"cli"}'), /^Updated \/cli\/web/);
    await noDeployments();
    const updated = (await api('/v2/apps/cli/web')).app;
    assert.equal(updated.mem, 32);
    assert.deepEqual(updated.labels, { team: 'cli' });
    const versions = (await ok('app', 'version', 'list', '/cli/web')).trim().split('\n');
    assert.equal(versions.length, 2, versions.join());
    const old = await okJson('app', 'show', '/cli/web', `--app-version=${versions[1]}`);
    assert.equal(old.mem, 16, 'the first version');

    const beforeRestart = await running_('/cli/web');
    assert.notDeepEqual(beforeRestart, [first], 'the mem change replaced the task');
    assert.match(await ok('app', 'restart', '/cli/web'), /^Restarting \/cli\/web; deployment/);
    await noDeployments();
    const afterRestart = await running_('/cli/web');
    assert.equal(afterRestart.length, 1);
    assert.ok(!beforeRestart.includes(afterRestart[0] as string), 'restart replaced the task');

    assert.match(await ok('app', 'kill', '/cli/web'), /^Killed tasks: 1/);
    await waitFor('a replacement after kill', async () => {
      const ids = await running_('/cli/web');
      return ids.length === 1 && ids[0] !== afterRestart[0] ? true : undefined;
    });

    assert.match(await ok('app', 'stop', '/cli/web'), /^Scaling \/cli\/web to 0/);
    await noDeployments();
    assert.equal((await api('/v2/apps/cli/web')).app.tasksRunning, 0);
    assert.match(await ok('app', 'start', '/cli/web', '2'), /^Scaling \/cli\/web to 2/);
    await noDeployments();
    assert.equal((await running_('/cli/web')).length, 2);

    const missing = await dcos('app', 'show', '/cli/nope');
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /App '\/cli\/nope' does not exist/);
    const bad = await dcos('app', 'add', file('bad.json', { id: '/cli/bad', cmd: 'x', mem: -1 }));
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /\/mem/);
  });

  test('task list, show and stop', async () => {
    const tasks = await okJson('task', 'list', '/cli/web', '--json');
    assert.equal(tasks.length, 2);
    const t = tasks[0];
    assert.match(await ok('task', 'list'), new RegExp(t.id.replace(/\./g, '\\.')));
    const shown = await okJson('task', 'show', t.id);
    assert.equal(shown.id, t.id);
    assert.equal(shown.appId, '/cli/web');
    assert.match(await ok('task', 'stop', t.id), new RegExp(`^Stopping ${t.id.replace(/\./g, '\\.')}`));
    await waitFor('the stopped task replaced', async () => {
      const ids = await running_('/cli/web');
      return ids.length === 2 && !ids.includes(t.id) ? true : undefined;
    });
    const none = await dcos('task', 'show', 'no-such-task');
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /No Marathon task 'no-such-task'/);
  });

  test('deployment list, rollback and stop', async () => {
    // A change no agent can hold keeps its deployment open.
    assert.match(await ok('app', 'update', '/cli/web', 'cpus=64'), /^Updated/);
    const [dep] = await okJson('deployment', 'list', '--json');
    assert.deepEqual(dep.affectedApps, ['/cli/web']);
    assert.match(await ok('deployment', 'list'), new RegExp(`/cli/web .*${dep.id}`));
    assert.match(await ok('deployment', 'rollback', dep.id), /^Rolling back with deployment [0-9a-f-]{36}/);
    await noDeployments();
    assert.equal((await api('/v2/apps/cli/web')).app.cpus, 0.1, 'rolled back');
    assert.equal((await running_('/cli/web')).length, 2);

    await ok('app', 'update', '/cli/web', 'cpus=64');
    const [dep2] = await okJson('deployment', 'list', '--json');
    assert.match(await ok('deployment', 'stop', dep2.id), new RegExp(`^Stopped deployment ${dep2.id}`));
    assert.deepEqual(await api('/v2/deployments'), []);
    assert.equal((await api('/v2/apps/cli/web')).app.cpus, 64, 'stop keeps the new definition');
    assert.match(await ok('app', 'remove', '/cli/web', '--force'), /^Removing \/cli\/web/);
    await waitFor('app gone', async () => ((await fetch(`${base}/v2/apps/cli/web`)).status === 404 ? true : undefined));
    const gone = await dcos('deployment', 'rollback', 'nope');
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /DeploymentPlan nope does not exist/);
  });

  test('group add, list, show, scale, update, remove', async () => {
    const g = file('shop.json', {
      id: '/shop',
      apps: [
        { id: 'db', cmd: 'sleep 100', cpus: 0.1, mem: 16 },
        { id: 'web', cmd: 'sleep 100', cpus: 0.1, mem: 16, dependencies: ['/shop/db'] },
      ],
    });
    assert.match(await ok('group', 'add', g), /^Created group; deployment/);
    await noDeployments();
    assert.match(await ok('group', 'list'), /\/shop\s+2/);
    const shown = await okJson('group', 'show', 'shop');
    assert.deepEqual(shown.apps.map((a: Json) => a.id).sort(), ['/shop/db', '/shop/web']);
    assert.match(await ok('group', 'scale', '/shop', '2'), /^Scaling \/shop by 2/);
    await noDeployments();
    assert.equal((await running_('/shop/db')).length, 2);
    assert.equal((await running_('/shop/web')).length, 2);
    const upd = file('shop2.json', { apps: [{ id: 'db', cmd: 'sleep 200', cpus: 0.1, mem: 16, instances: 1 }] });
    assert.match(await ok('group', 'update', '/shop', upd), /^Updated \/shop/);
    await noDeployments();
    const db = (await api('/v2/apps/shop/db')).app;
    assert.equal(db.cmd, 'sleep 200');
    assert.equal(db.instances, 1);
    assert.match(await ok('group', 'remove', '/shop'), /^Removing \/shop/);
    await noDeployments();
    assert.equal((await fetch(`${base}/v2/groups/shop`)).status, 404);
    const bad = await dcos('group', 'scale', '/shop', 'lots');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /scale factor/);
  });
});
