/**
 * Marathon v2 groups over HTTP: a master in this process with Marathon and its gateway, two fake
 * agents that run what they are told over the agent protocol (RUN_TASK → RUNNING, KILL_TASK →
 * KILLED). Groups as stored objects (empty ones too), their versions as snapshots of the tree,
 * rollbacks through deployments, deletes, bad input, the CLI, and a Marathon restart on SQLite.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type RunningMaster, startMaster } from '../src/main/master.js';
import { dcos as runDcos } from './lib/cluster.js';
import { waitFor } from './lib/http.js';
import { startMarathonCluster, type TaskAgent } from './lib/marathon.js';
import { type Json, QUIET } from './lib/mesos.js';

type Reply = { status: number; json: Json; text: string; headers: Headers };

async function call(base: string, method: string, path: string, body?: unknown): Promise<Reply> {
  const r = await fetch(`${base}${path}`, {
    method,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'Content-Type': 'application/json' } }),
  });
  const text = await r.text();
  let json: Json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {}
  return { status: r.status, json, text, headers: r.headers };
}

const paths = (r: Reply): string[] => (r.json?.details ?? []).map((d: Json) => d.path);

describe('Marathon v2 groups over a master with two agents', { timeout: 120_000 }, () => {
  let running: RunningMaster;
  let base = '';
  let runners: TaskAgent[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'mara-groups-'));
  let env: Record<string, string> = {};
  const req = (method: string, path: string, body?: unknown) => call(base, method, path, body);
  const noDeployments = () =>
    waitFor('no deployments', async () => ((await req('GET', '/v2/deployments')).json.length === 0 ? true : undefined), 10_000).catch(async (e) => {
      throw new Error(`${(e as Error).message}: ${JSON.stringify((await req('GET', '/v2/deployments')).json).slice(0, 2000)}`);
    });
  const runningCmds = (name: string) =>
    runners
      .flatMap((r) => [...r.running.values()])
      .filter((t) => t.name === name)
      .map((t) => t.command.value as string)
      .sort();
  const dcos = (...args: string[]) => runDcos(['marathon', ...args], env, 60_000);

  before(async () => {
    ({ running, agents: runners } = await startMarathonCluster([{ hostname: 'g1.test' }, { hostname: 'g2.test' }], { gateway: true }));
    base = `http://127.0.0.1:${running.marathon?.port}`;
    env = { DCOS_URL: `http://127.0.0.1:${running.gatewayPort}`, DCOS_TS_CONFIG_DIR: join(dir, 'config') };
  });
  after(async () => {
    for (const r of runners) r.close();
    runners = [];
    await running.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('an empty group persists with its own version, dependencies and enforceRole; POST creates nested groups', async () => {
    const c = await req('POST', '/v2/groups', { id: '/empty', dependencies: ['/other'], enforceRole: true });
    assert.equal(c.status, 201, c.text);
    assert.equal(c.headers.get('location'), '/empty');
    assert.match(c.json.deploymentId, /^[0-9a-f-]{36}$/);
    assert.equal(c.headers.get('marathon-deployment-id'), c.json.deploymentId);
    const g = await req('GET', '/v2/groups/empty');
    assert.equal(g.status, 200, g.text);
    assert.deepEqual(g.json, { id: '/empty', apps: [], pods: [], groups: [], dependencies: ['/other'], version: c.json.version, enforceRole: true });
    const again = await req('POST', '/v2/groups', { id: 'empty' });
    assert.equal(again.status, 409);
    assert.equal(again.json.message, 'Group /empty is already created. Use PUT to change this group.');

    const t = await req('POST', '/v2/groups', { id: '/tree', groups: [{ id: 'a', groups: [{ id: 'b', dependencies: ['c', '/empty'] }] }, { id: 'c' }] });
    assert.equal(t.status, 201, t.text);
    const b = (await req('GET', '/v2/groups/tree/a/b')).json;
    assert.equal(b.id, '/tree/a/b');
    assert.deepEqual(b.dependencies, ['/tree/a/c', '/empty'], 'relative to the enclosing group');
    // Only what is embedded: group.groups without group.apps has no apps.
    const onlyGroups = (await req('GET', '/v2/groups/tree?embed=group.groups')).json;
    assert.equal(onlyGroups.apps, undefined);
    assert.deepEqual(
      onlyGroups.groups.map((x: Json) => [x.id, x.groups.map((y: Json) => y.id)]),
      [
        ['/tree/a', ['/tree/a/b']],
        ['/tree/c', []],
      ],
    );
    const onlyApps = (await req('GET', '/v2/groups/tree?embed=group.apps')).json;
    assert.deepEqual(onlyApps.apps, []);
    assert.equal(onlyApps.groups, undefined);
    const root = (await req('GET', '/v2/groups')).json;
    assert.equal(root.id, '/');
    assert.deepEqual(
      root.groups.map((x: Json) => x.id).filter((x: string) => ['/empty', '/tree'].includes(x)),
      ['/empty', '/tree'],
    );
    assert.ok(root.version >= t.json.version, 'the root group took the version of the last change');

    // An app created by /v2/apps makes its enclosing groups, which stay when it goes.
    assert.equal((await req('POST', '/v2/apps', { id: '/impl/sub/x', cmd: 'sleep 50', cpus: 0.1, mem: 16, instances: 0 })).status, 201);
    await noDeployments();
    assert.equal((await req('DELETE', '/v2/apps/impl/sub/x')).status, 200);
    await noDeployments();
    const sub = await req('GET', '/v2/groups/impl/sub');
    assert.equal(sub.status, 200);
    assert.deepEqual(sub.json.apps, []);

    // PATCH sets enforceRole on a top-level group only.
    const patched = await req('PATCH', '/v2/groups/empty', { enforceRole: false });
    assert.equal(patched.status, 200, patched.text);
    assert.equal((await req('GET', '/v2/groups/empty')).json.enforceRole, false);
    assert.equal((await req('PATCH', '/v2/groups/tree/a', { enforceRole: true })).status, 422);
    assert.equal((await req('PATCH', '/v2/groups/nope', { enforceRole: true })).status, 404);
  });

  test('every change is a version: /versions newest first, /versions/{v} the group then, PUT {version} rolls back through a deployment', async () => {
    const v1 = await req('POST', '/v2/groups', { id: '/rb', apps: [{ id: 'web', cmd: 'sleep 101', cpus: 0.1, mem: 16 }] });
    assert.equal(v1.status, 201, v1.text);
    await noDeployments();
    assert.deepEqual(runningCmds('web.rb'), ['sleep 101']);
    const v2 = await req('PUT', '/v2/groups/rb', {
      apps: [
        { id: 'web', cmd: 'sleep 102', cpus: 0.1, mem: 16, instances: 2 },
        { id: 'api', cmd: 'sleep 103', cpus: 0.1, mem: 16 },
      ],
    });
    assert.equal(v2.status, 200, v2.text);
    await noDeployments();
    assert.deepEqual(runningCmds('web.rb'), ['sleep 102', 'sleep 102']);
    assert.deepEqual(runningCmds('api.rb'), ['sleep 103']);
    // Another group's change is no version of /rb.
    assert.equal((await req('POST', '/v2/groups', { id: '/unrelated' })).status, 201);
    const vs = await req('GET', '/v2/groups/rb/versions');
    assert.equal(vs.status, 200);
    assert.deepEqual(vs.json, [v2.json.version, v1.json.version]);
    assert.ok((await req('GET', '/v2/groups/versions')).json.length >= 3, 'the root group has a version per change');

    const then = await req('GET', `/v2/groups/rb/versions/${v1.json.version}`);
    assert.equal(then.status, 200, then.text);
    assert.equal(then.json.id, '/rb');
    assert.equal(then.json.version, v1.json.version);
    assert.deepEqual(
      then.json.apps.map((a: Json) => [a.id, a.cmd, a.instances]),
      [['/rb/web', 'sleep 101', 1]],
    );
    const missing = await req('GET', '/v2/groups/rb/versions/2001-01-01T00:00:00.000Z');
    assert.equal(missing.status, 404);
    assert.equal(missing.json.message, "Group '/rb' does not exist in version 2001-01-01T00:00:00.000Z");

    const rb = await req('PUT', '/v2/groups/rb', { version: v1.json.version });
    assert.equal(rb.status, 200, rb.text);
    assert.equal(rb.headers.get('marathon-deployment-id'), rb.json.deploymentId);
    const deps = (await req('GET', '/v2/deployments')).json as Json[];
    const d = deps.find((x) => x.id === rb.json.deploymentId);
    assert.ok(d, 'the rollback is a deployment');
    assert.deepEqual([...d.affectedApps].sort(), ['/rb/api', '/rb/web']);
    await noDeployments();
    assert.equal((await req('GET', '/v2/apps/rb/api')).status, 404, 'an app the version did not have is gone');
    const web = (await req('GET', '/v2/apps/rb/web')).json.app;
    assert.equal(web.cmd, 'sleep 101');
    assert.equal(web.instances, 1);
    assert.deepEqual(runningCmds('web.rb'), ['sleep 101']);
    assert.deepEqual(runningCmds('api.rb'), []);
    const after = (await req('GET', '/v2/groups/rb/versions')).json;
    assert.equal(after.length, 3);
    assert.equal(after[0], rb.json.version);
    const bogus = await req('PUT', '/v2/groups/rb', { version: '2001-01-01T00:00:00.000Z' });
    assert.equal(bogus.status, 404);
    assert.match(bogus.json.message, /Group '\/rb' does not exist in version/);

    // A deleted group comes back by a rollback to one of its versions.
    assert.equal((await req('DELETE', '/v2/groups/rb')).status, 200);
    await noDeployments();
    assert.equal((await req('GET', '/v2/groups/rb')).status, 404);
    const back = await req('PUT', '/v2/groups/rb', { version: v2.json.version });
    assert.equal(back.status, 200, back.text);
    await noDeployments();
    assert.deepEqual(runningCmds('web.rb'), ['sleep 102', 'sleep 102']);
    assert.deepEqual(runningCmds('api.rb'), ['sleep 103']);
    assert.equal((await req('DELETE', '/v2/groups/rb')).status, 200);
    await noDeployments();
  });

  test('PUT with apps and groups replaces them: what is left out goes; scaleBy scales every app below', async () => {
    assert.equal(
      (
        await req('POST', '/v2/groups', {
          id: '/rep',
          apps: [
            { id: 'a', cmd: 'sleep 201', cpus: 0.1, mem: 16 },
            { id: 'b', cmd: 'sleep 202', cpus: 0.1, mem: 16 },
          ],
          groups: [{ id: 'sub', apps: [{ id: 'c', cmd: 'sleep 203', cpus: 0.1, mem: 16 }] }, { id: 'keep' }],
        })
      ).status,
      201,
    );
    await noDeployments();
    const s = await req('PUT', '/v2/groups/rep', { scaleBy: 2 });
    assert.equal(s.status, 200, s.text);
    await noDeployments();
    assert.deepEqual(runningCmds('c.sub.rep'), ['sleep 203', 'sleep 203']);
    const u = await req('PUT', '/v2/groups/rep', { apps: [{ id: 'a', cmd: 'sleep 201', cpus: 0.1, mem: 16, instances: 2 }], groups: [{ id: 'keep' }] });
    assert.equal(u.status, 200, u.text);
    await noDeployments();
    const g = (await req('GET', '/v2/groups/rep')).json;
    assert.deepEqual(
      g.apps.map((a: Json) => a.id),
      ['/rep/a'],
    );
    assert.deepEqual(
      g.groups.map((x: Json) => x.id),
      ['/rep/keep'],
    );
    assert.equal((await req('GET', '/v2/groups/rep/sub')).status, 404);
    assert.deepEqual(runningCmds('b.rep'), []);
    assert.deepEqual(runningCmds('c.sub.rep'), []);
    assert.deepEqual(runningCmds('a.rep'), ['sleep 201', 'sleep 201'], 'an unchanged app keeps its tasks');
    // Without `apps`, the apps stay: only the settings change.
    assert.equal((await req('PUT', '/v2/groups/rep', { dependencies: ['/empty'] })).status, 200);
    const g2 = (await req('GET', '/v2/groups/rep')).json;
    assert.deepEqual(g2.dependencies, ['/empty']);
    assert.equal(g2.apps.length, 1);
    assert.equal((await req('DELETE', '/v2/groups/rep')).status, 200);
    await noDeployments();
  });

  test('DELETE removes every app and group below; 409 while a deployment holds an app, force overrides; 404 for an unknown group', async () => {
    const c = await req('POST', '/v2/groups', {
      id: '/del',
      groups: [{ id: 'deep', apps: [{ id: 'huge', cmd: 'sleep 300', cpus: 64, mem: 16 }] }, { id: 'bare' }],
    });
    assert.equal(c.status, 201, c.text);
    const locked = await req('DELETE', '/v2/groups/del');
    assert.equal(locked.status, 409, locked.text);
    assert.deepEqual(locked.json.deployments, [{ id: c.json.deploymentId }]);
    assert.match(locked.json.message, /locked by one or more deployments/);
    assert.equal((await req('GET', '/v2/groups/del/bare')).status, 200, 'nothing went on the 409');
    const forced = await req('DELETE', '/v2/groups/del?force=true');
    assert.equal(forced.status, 200, forced.text);
    await noDeployments();
    for (const p of ['/v2/groups/del', '/v2/groups/del/deep', '/v2/groups/del/bare', '/v2/apps/del/deep/huge'])
      assert.equal((await req('GET', p)).status, 404, p);
    const unknown = await req('DELETE', '/v2/groups/nope');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.message, "Group '/nope' does not exist");
  });

  test('bad group definitions are 422s with a path per bad field; unknown ids 404; bad JSON 400; nothing is created', async () => {
    const cases: [unknown, string[], RegExp?][] = [
      [{ apps: [{ id: '/elsewhere/x', cmd: 'x' }] }, ['/apps(0)/id'], /identifier \/elsewhere\/x is not child of \/bad/],
      [
        {
          apps: [
            { id: 'a', cmd: 'x' },
            { id: 'a', cmd: 'y' },
          ],
        },
        ['/apps(1)/id'],
        /more than once/,
      ],
      [{ apps: [{ id: 'a', cmd: 'x' }], groups: [{ id: 'a' }] }, ['/groups(0)/id'], /same identifier/],
      [{ groups: [{ id: 'x', apps: [{ id: '../../y', cmd: 'x' }] }] }, ['/groups(0)/apps(0)/id'], /not child of \/bad\/x/],
      [{ groups: [{ id: 'x', enforceRole: true }] }, ['/groups(0)/enforceRole']],
      [{ apps: [{ cmd: 'x' }] }, ['/apps(0)/id']],
      [{ apps: [{ id: 'ok', cmd: 'x', mem: -1 }, 'nope'] }, ['/apps(1)', '/apps(0)/mem']],
      [{ apps: {} }, ['/apps']],
      [{ dependencies: 'x' }, ['/dependencies']],
      [{ scaleBy: -1 }, ['/scaleBy']],
      [{ version: 5 }, ['/version']],
      [{ id: 7 }, ['/id']],
    ];
    for (const [body, want, msg] of cases) {
      const r = await req('PUT', '/v2/groups/bad', body);
      assert.equal(r.status, 422, `${JSON.stringify(body)} → ${r.text}`);
      assert.equal(r.json.message, 'Object is not valid');
      assert.deepEqual(paths(r).sort(), [...want].sort(), JSON.stringify(body));
      if (msg) assert.match(JSON.stringify(r.json.details), msg);
    }
    assert.equal((await req('GET', '/v2/groups/bad')).status, 404, 'no bad update created the group');
    const badJson = await req('PUT', '/v2/groups/bad', '{"apps": [');
    assert.equal(badJson.status, 400);
    assert.equal(badJson.json.message, 'Invalid JSON');
    const post = await req('POST', '/v2/groups', { id: '/Bad Name' });
    assert.equal(post.status, 422);
    assert.deepEqual(paths(post), ['/id']);
    for (const p of ['/v2/groups/nope', '/v2/groups/nope/versions', '/v2/groups/nope/versions/2001-01-01T00:00:00.000Z']) {
      const r = await req('GET', p);
      assert.equal(r.status, 404, p);
      assert.match(r.json.message, /^Group '\/nope' does not exist/);
    }
    assert.equal((await req('PUT', '/v2/groups/nope', { scaleBy: 2 })).status, 404);
    // An app may not take a group's id, nor live below an app.
    const clash = await req('POST', '/v2/apps', { id: '/empty', cmd: 'x', instances: 0 });
    assert.equal(clash.status, 422, clash.text);
    assert.deepEqual(paths(clash), ['/id']);
    assert.match(clash.json.details[0].errors[0], /same identifier/);
    assert.equal((await req('POST', '/v2/apps', { id: '/solo', cmd: 'x', instances: 0 })).status, 201);
    const below = await req('POST', '/v2/apps', { id: '/solo/inner', cmd: 'x', instances: 0 });
    assert.equal(below.status, 422, below.text);
    const grp = await req('POST', '/v2/groups', { id: '/solo' });
    assert.equal(grp.status, 409);
    assert.equal(grp.json.message, 'An app with the path /solo already exists.');
    assert.equal((await req('POST', '/v2/apps', { id: '/solo3/a', cmd: 'x', instances: 0 })).status, 201);
    const asGroup = await req('PUT', '/v2/groups/solo3', { groups: [{ id: 'a' }] });
    assert.equal(asGroup.status, 422, asGroup.text);
    assert.deepEqual(paths(asGroup), ['/groups(0)/id']);
    assert.match(asGroup.json.details[0].errors[0], /same identifier/);
    assert.equal((await req('PUT', '/v2/groups/solo3', { apps: [], groups: [{ id: 'a' }] })).status, 200, 'the app goes, the group comes');
    const sub = await req('PUT', '/v2/groups/solo2', { groups: [{ id: 'x' }] });
    assert.equal(sub.status, 200, sub.text);
    assert.equal((await req('POST', '/v2/apps', { id: '/solo2/x', cmd: 'x', instances: 0 })).status, 422, 'an app with a group id');
    assert.equal((await req('PUT', '/v2/groups/solo', { groups: [{ id: 'y' }] })).status, 409, 'a group with an app id');
    assert.equal((await req('DELETE', '/v2/apps/solo')).status, 200);
  });

  test('dcos marathon group: add, show, version list, show --version, rollback, scale, remove', async () => {
    const ok = async (...args: string[]) => {
      const r = await dcos(...args);
      assert.equal(r.code, 0, `dcos marathon ${args.join(' ')}: ${r.stderr}${r.stdout}`);
      return r.stdout;
    };
    const f1 = join(dir, 'cg1.json');
    writeFileSync(f1, JSON.stringify({ id: '/cg', apps: [{ id: 'w', cmd: 'sleep 401', cpus: 0.1, mem: 16 }] }));
    assert.match(await ok('group', 'add', f1), /^Created group; deployment [0-9a-f-]{36}/);
    await noDeployments();
    const f2 = join(dir, 'cg2.json');
    writeFileSync(f2, JSON.stringify({ apps: [{ id: 'w', cmd: 'sleep 402', cpus: 0.1, mem: 16 }] }));
    assert.match(await ok('group', 'update', '/cg', f2), /^Updated \/cg/);
    await noDeployments();
    const versions = JSON.parse(await ok('group', 'version', 'list', 'cg', '--json')) as string[];
    assert.equal(versions.length, 2);
    assert.equal((await ok('group', 'version', 'list', 'cg')).trim().split('\n').length, 2);
    const old = JSON.parse(await ok('group', 'show', 'cg', `--version=${versions[1]}`));
    assert.equal(old.apps[0].cmd, 'sleep 401');
    assert.equal(JSON.parse(await ok('group', 'show', 'cg')).apps[0].cmd, 'sleep 402');
    assert.match(await ok('group', 'rollback', 'cg', versions[1] as string), /^Rolling \/cg back to/);
    await noDeployments();
    assert.deepEqual(runningCmds('w.cg'), ['sleep 401']);
    assert.match(await ok('group', 'scale', 'cg', '2'), /^Scaling \/cg by 2/);
    await noDeployments();
    assert.deepEqual(runningCmds('w.cg'), ['sleep 401', 'sleep 401']);
    const bad = await dcos('group', 'show', 'cg', '--version=2001-01-01T00:00:00.000Z');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /does not exist in version/);
    assert.match(await ok('group', 'remove', 'cg'), /^Removing \/cg/);
    await noDeployments();
  });

  test("Debian's python3-marathon, unchanged: create_group, scale_group, rollback_group (PUT .../versions/{v}), delete_group", async (t) => {
    const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
    if (spawnSync(python, ['-c', 'import marathon'], { encoding: 'utf8' }).status !== 0)
      return t.skip('python3-marathon is not installed (apt-get install python3-marathon)');
    const script = `
import json, sys, time
from marathon import MarathonClient
from marathon.models import MarathonApp, MarathonGroup
c = MarathonClient(sys.argv[1])
def settle():
    deadline = time.time() + 10
    while time.time() < deadline and c.list_deployments():
        time.sleep(0.1)
out = {}
r = c.create_group(MarathonGroup(id='/pyg', apps=[MarathonApp(id='w', cmd='sleep 501', cpus=0.1, mem=16, instances=1)]))
out['v1'] = r['version']
settle()
out['scaled'] = 'deploymentId' in c.scale_group('/pyg', 3)
settle()
out['instances'] = c.get_app('/pyg/w').instances
out['rollback'] = 'deploymentId' in c.rollback_group('/pyg', out['v1'])
settle()
out['after'] = c.get_app('/pyg/w').instances
c.delete_group('/pyg')
settle()
print(json.dumps(out))
`;
    const r = await new Promise<{ status: number; stdout: string; stderr: string }>((done) => {
      execFile(python, ['-c', script, base], { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) =>
        done({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop() as string);
    assert.deepEqual([out.scaled, out.instances, out.rollback, out.after], [true, 3, true, 1]);
    assert.equal((await req('GET', '/v2/groups/pyg')).status, 404);
    assert.deepEqual(runningCmds('w.pyg'), []);
  });
});

describe('groups, their versions and rollbacks survive a Marathon restart (SQLite store)', { timeout: 60_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), 'mara-groups-db-'));
  after(() => rmSync(work, { recursive: true, force: true }));

  test('an empty group, a nested app group and its history are there after a restart; a rollback then works', async () => {
    const start = () => startMaster({ port: 0, store: 'sqlite', workDir: work, marathonPort: 0, config: QUIET });
    let m = await start();
    let base = `http://127.0.0.1:${m.marathon?.port}`;
    const r1 = await call(base, 'POST', '/v2/groups', { id: '/keep', dependencies: ['/x'], enforceRole: true });
    assert.equal(r1.status, 201, r1.text);
    const r2 = await call(base, 'POST', '/v2/groups', { id: '/keep/sub', apps: [{ id: 'a', cmd: 'echo one', instances: 0 }] });
    assert.equal(r2.status, 201, r2.text);
    const r3 = await call(base, 'PUT', '/v2/groups/keep/sub', { apps: [{ id: 'a', cmd: 'echo two', instances: 0 }] });
    assert.equal(r3.status, 200, r3.text);
    const before = (await call(base, 'GET', '/v2/groups/keep')).json;
    const versions = (await call(base, 'GET', '/v2/groups/keep/sub/versions')).json;
    assert.deepEqual(versions, [r3.json.version, r2.json.version]);
    await m.stop();

    m = await start();
    base = `http://127.0.0.1:${m.marathon?.port}`;
    try {
      const g = await call(base, 'GET', '/v2/groups/keep');
      assert.equal(g.status, 200, g.text);
      assert.deepEqual(g.json, before, 'the same tree, settings and versions');
      assert.equal(g.json.enforceRole, true);
      assert.deepEqual(g.json.dependencies, ['/x']);
      assert.equal(g.json.groups[0].apps[0].role, 'keep', 'enforceRole gave the app its role');
      assert.deepEqual((await call(base, 'GET', '/v2/groups/keep/sub/versions')).json, versions);
      const old = await call(base, 'GET', `/v2/groups/keep/sub/versions/${r2.json.version}`);
      assert.equal(old.status, 200, old.text);
      assert.equal(old.json.apps[0].cmd, 'echo one');
      const rb = await call(base, 'PUT', '/v2/groups/keep/sub', { version: r2.json.version });
      assert.equal(rb.status, 200, rb.text);
      assert.equal((await call(base, 'GET', '/v2/apps/keep/sub/a')).json.app.cmd, 'echo one');
      assert.equal((await call(base, 'POST', '/v2/groups', { id: '/keep' })).status, 409, 'still there for POST too');
    } finally {
      await m.stop();
    }
  });
});
