import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dcos } from './lib/cluster.js';
import { getJson, post, waitFor } from './lib/http.js';

const HAPROXY = '/usr/sbin/haproxy';

/** GET with a Host header; the status and body, or the error code. */
function get(ip: string, port: number, path: string, host?: string): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((done) => {
    const req = request({ host: ip, port, path, headers: host ? { Host: host } : {}, timeout: 3_000 }, (res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => done({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => done({ error: (e as NodeJS.ErrnoException).code ?? e.message }));
    req.end();
  });
}

interface TaskJson {
  id: string;
  host: string;
  ports: number[];
  state: string;
  healthCheckResults?: { alive: boolean }[];
}

/**
 * The edge LB as a service: `dcos up` with one public agent (resources of role slave_public),
 * `dcos edgelb install` puts the LB on it as a Marathon app, an app labelled HAPROXY_GROUP=external
 * and HAPROXY_0_VHOST is reached through the LB task's HTTP port with that Host header, and
 * `dcos edgelb uninstall` takes it away.
 */
describe('edge LB as a Marathon service on a public agent', async () => {
  const skip = existsSync(HAPROXY) ? undefined : `${HAPROXY} is not installed`;
  const home = mkdtempSync(join(tmpdir(), 'dcos-edgelb-svc-'));
  const workDir = join(home, 'cluster');
  const env = { DCOS_TS_CONFIG_DIR: join(home, 'config'), DCOS_TS_HOME: home };
  let info: { url: string; agents: string[]; public_agents?: string[] };
  let marathon = '';

  before(async () => {
    if (skip) return;
    const r = await dcos(
      ['up', '--detach', '--json', '--agents=1', '--public-agents=1', `--work-dir=${workDir}`, '--resources=cpus:2;mem:1024;disk:2048;ports:[35420-35439]'],
      env,
    );
    assert.equal(r.code, 0, `dcos up failed: ${r.stderr}`);
    info = JSON.parse(r.stdout);
    marathon = `${info.url}/service/marathon`;
  });

  after(async () => {
    if (skip) return;
    await dcos(['down', '--purge', `--work-dir=${workDir}`], env);
    rmSync(home, { recursive: true, force: true });
  });

  test('install, route a vhost through the public agent, uninstall', { skip }, async () => {
    assert.equal(info.agents.length, 2);
    const publicAgent = info.public_agents?.[0] as string;
    assert.ok(publicAgent, `no public agent in ${JSON.stringify(info)}`);
    const publicIp = publicAgent.split(':')[0] as string;
    // The public agent's resources are reserved for slave_public.
    const slaves = (await getJson(`${info.url}/mesos/master/slaves`)).slaves as { hostname: string; reserved_resources?: Record<string, unknown> }[];
    assert.ok(
      slaves.some((s) => s.hostname === publicIp && s.reserved_resources?.slave_public),
      JSON.stringify(slaves.map((s) => [s.hostname, s.reserved_resources])),
    );

    // A role Marathon is not registered with could never be offered: refused, with the reason.
    const wrong = await dcos(['edgelb', 'install', '--public-agent-role=other'], env);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /Marathon runs with role 'slave_public'/);
    const bad = await dcos(['edgelb', 'install', '--http-port=x'], env);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--http-port: expected 0-65535/);

    const inst = await dcos(['edgelb', 'install', '--json'], env);
    assert.equal(inst.code, 0, inst.stderr);
    const app = JSON.parse(inst.stdout);
    assert.equal(app.id, '/edgelb');
    assert.deepEqual(app.acceptedResourceRoles, ['slave_public']);
    assert.match(app.cmd, /edgelb --marathon='http:\/\/127\.0\.0\.1:\d+\/service\/marathon'/);
    const again = await dcos(['edgelb', 'install'], env);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /already installed/);

    const lb = await waitFor(
      'the edge LB task running and healthy',
      async () => {
        const t = ((await getJson(`${marathon}/v2/apps/edgelb/tasks`)).tasks as TaskJson[])[0];
        return t && t.state === 'TASK_RUNNING' && t.healthCheckResults?.[0]?.alive ? t : undefined;
      },
      60_000,
      200,
    );
    assert.equal(lb.host, publicIp, 'the edge LB runs on the public agent');
    const [httpPort, statsPort] = lb.ports as [number, number];
    const health = await get(publicIp, statsPort, '/_haproxy_health_check');
    assert.equal('status' in health && health.status, 200, JSON.stringify(health));

    const server = `require("http").createServer((q,r)=>r.end("web:"+process.env.MESOS_TASK_ID)).listen(+process.env.PORT0, process.env.HOST)`;
    const w = await post(`${marathon}/v2/apps`, {
      id: '/web',
      cmd: `exec ${process.execPath} -e '${server}'`,
      instances: 1,
      cpus: 0.1,
      mem: 32,
      portDefinitions: [{ port: 0 }],
      labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'web.example.test' },
    });
    assert.equal(w.status, 201, w.text);
    const web = await waitFor(
      'the web task running',
      async () => {
        const t = ((await getJson(`${marathon}/v2/apps/web/tasks`)).tasks as TaskJson[])[0];
        return t?.state === 'TASK_RUNNING' ? t : undefined;
      },
      30_000,
    );
    // An app that does not ask for slave_public stays off the public agent.
    assert.notEqual(web.host, publicIp);
    const answer = await waitFor(
      'the vhost through the edge LB',
      async () => {
        const r = await get(publicIp, httpPort, '/', 'web.example.test');
        return 'status' in r && r.status === 200 ? r.body : undefined;
      },
      20_000,
      100,
    );
    assert.equal(answer, `web:${web.id}`);
    // Another host name is not routed to it.
    const other = await get(publicIp, httpPort, '/', 'other.example.test');
    assert.ok(!('status' in other) || other.status !== 200, JSON.stringify(other));

    const un = await dcos(['edgelb', 'uninstall', '--json'], env);
    assert.equal(un.code, 0, un.stderr);
    await waitFor(
      'the edge LB gone',
      async () => {
        const r = await get(publicIp, httpPort, '/', 'web.example.test');
        return 'error' in r ? true : undefined;
      },
      20_000,
      100,
    );
    const apps = (await getJson(`${marathon}/v2/apps`)).apps as { id: string }[];
    assert.deepEqual(
      apps.map((a) => a.id),
      ['/web'],
    );
    const un2 = await dcos(['edgelb', 'uninstall'], env);
    assert.notEqual(un2.code, 0);
    assert.match(un2.stderr, /not installed/);
  });
});
