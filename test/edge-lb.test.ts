import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { type RunningEdgeLb, startEdgeLb } from '../src/main/edgelb.js';
import { waitFor } from './lib/http.js';

const run = promisify(execFile);
const HAPROXY = '/usr/sbin/haproxy';

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

async function curl(args: string[]): Promise<string> {
  try {
    return (await run('curl', ['-s', '-m', '5', ...args])).stdout.trim();
  } catch (e) {
    return `ERR ${(e as { code?: number }).code}`;
  }
}

/** A backend that answers its name, after delayMs (to hold connections in flight). */
async function backend(name: string, delayMs = 0): Promise<{ server: Server; port: number }> {
  const server = createServer((_q, r) => {
    setTimeout(() => r.end(name), delayMs);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as AddressInfo).port };
}

/** Just enough of Marathon: /v2/apps?embed=apps.tasks and the /v2/events stream. */
class FakeMarathon {
  apps: Record<string, unknown>[] = [];
  private streams = new Set<ServerResponse>();
  server = createServer((req, res) => {
    if (req.url?.startsWith('/v2/apps')) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ apps: this.apps }));
    } else if (req.url === '/v2/events') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write(': hello\n\n');
      this.streams.add(res);
      req.on('close', () => this.streams.delete(res));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  port = 0;
  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as AddressInfo).port;
  }
  emit(eventType: string): void {
    for (const s of this.streams) s.write(`event: ${eventType}\ndata: ${JSON.stringify({ eventType })}\n\n`);
  }
  async stop(): Promise<void> {
    for (const s of this.streams) s.destroy();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

const task = (id: string, port: number, state = 'TASK_RUNNING') => ({ id, host: '127.0.0.1', ports: [port], state });

describe('edge load balancer (HAProxy from Marathon labels)', () => {
  const skip = existsSync(HAPROXY) ? undefined : `${HAPROXY} is not installed (apt-get install haproxy)`;
  const dir = mkdtempSync(join(tmpdir(), 'dcos-edgelb-'));
  const marathon = new FakeMarathon();
  const backends: { server: Server; port: number }[] = [];
  let lb: RunningEdgeLb;
  let httpPort = 0;
  let tcpPort = 0;
  const problems: string[] = [];

  before(async () => {
    if (skip) return;
    await marathon.start();
    for (const [name, delay] of [
      ['a1', 0],
      ['a2', 0],
      ['b1', 0],
      ['slow', 1500],
    ] as const)
      backends.push(await backend(name, delay));
    httpPort = await freePort();
    tcpPort = await freePort();
    const [a1, a2, b1] = backends;
    marathon.apps = [
      {
        id: '/a',
        labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'a.example.com' },
        portDefinitions: [{ port: 0 }],
        tasks: [task('a1', a1?.port ?? 0), task('a2', a2?.port ?? 0)],
      },
      {
        id: '/b',
        labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'b.example.com', HAPROXY_0_BALANCE: 'leastconn' },
        portDefinitions: [{ port: tcpPort }],
        tasks: [task('b1', b1?.port ?? 0), task('b-killing', 1, 'TASK_KILLING')],
      },
      { id: '/bad', labels: { HAPROXY_GROUP: 'external', HAPROXY_0_BALANCE: 'fastest\n  bind :1' }, portDefinitions: [{ port: 0 }], tasks: [] },
    ];
    lb = await startEdgeLb({
      marathon: `http://127.0.0.1:${marathon.port}`,
      group: 'external',
      bind: '127.0.0.1',
      httpPort,
      workDir: dir,
      log: (level, msg) => problems.push(`${level} ${msg}`),
    });
  });

  after(async () => {
    if (skip) return;
    await lb?.stop();
    await marathon.stop();
    for (const b of backends) {
      b.server.closeAllConnections();
      b.server.close();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('two virtual hosts route to two apps; a service port gets a TCP frontend; bad labels are reported', { skip }, async () => {
    const a = new Set<string>();
    for (let i = 0; i < 6; i++) a.add(await curl(['-H', 'Host: a.example.com', `http://127.0.0.1:${httpPort}/`]));
    assert.deepEqual([...a].sort(), ['a1', 'a2']);
    assert.equal(await curl(['-H', 'Host: b.example.com:8080', `http://127.0.0.1:${httpPort}/`]), 'b1');
    assert.match(await curl(['-o', '/dev/null', '-w', '%{http_code}', '-H', 'Host: c.example.com', `http://127.0.0.1:${httpPort}/`]), /^503$/);
    assert.equal(await curl([`http://127.0.0.1:${tcpPort}/`]), 'b1');
    assert.ok(
      problems.some((p) => /HAPROXY_0_BALANCE/.test(p)),
      problems.join('\n'),
    );
  });

  test('a reload (new instance through the event stream) drops no connection in flight or arriving', { skip }, async () => {
    const slow = backends[3];
    assert.ok(slow);
    const reloads = lb.haproxy.counters.reloads;
    // Requests held by the slow backend while HAProxy reloads.
    marathon.apps[0] = { ...marathon.apps[0], tasks: [task('slow', slow.port)] };
    marathon.emit('status_update_event');
    await waitFor('reload 1', () => lb.haproxy.counters.reloads > reloads, 5000);
    const get = (host: string) =>
      new Promise<string>((resolve) => {
        const req = request({ host: '127.0.0.1', port: httpPort, path: '/', headers: { Host: host }, agent: false }, (res) => {
          let body = '';
          res.on('data', (d) => {
            body += d;
          });
          res.on('end', () => resolve(`${res.statusCode} ${body}`));
        });
        req.on('error', (e) => resolve(`ERR ${e.message}`));
        req.end();
      });
    const inFlight = Array.from({ length: 10 }, () => get('a.example.com'));
    await new Promise((r) => setTimeout(r, 200));
    // New connections keep arriving during the reloads.
    let stop = false;
    const arriving: Promise<string>[] = [];
    const pump = (async () => {
      while (!stop) {
        arriving.push(get('b.example.com'));
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    for (let i = 0; i < 3; i++) {
      const before = lb.haproxy.counters.reloads;
      const [a1] = backends;
      marathon.apps[0] = { ...marathon.apps[0], tasks: [task('slow', slow.port), ...(i % 2 === 0 ? [task('a1', a1?.port ?? 0)] : [])] };
      marathon.emit('status_update_event');
      await waitFor(`reload ${i + 2}`, () => lb.haproxy.counters.reloads > before, 5000);
    }
    stop = true;
    await pump;
    const held = await Promise.all(inFlight);
    const fresh = await Promise.all(arriving);
    assert.deepEqual(
      held.filter((r) => r !== '200 slow'),
      [],
      'in-flight requests all completed',
    );
    assert.ok(fresh.length > 20, `only ${fresh.length} requests sent during reloads`);
    assert.deepEqual(
      fresh.filter((r) => r !== '200 b1'),
      [],
      'requests arriving during reloads all served',
    );
  });

  test('a configuration HAProxy rejects never replaces the running one', { skip }, async () => {
    const good = lb.haproxy.current;
    const e = await lb.haproxy.load(`${good}\nbackend broken\n  balance nonsense\n`);
    assert.match(e ?? '', /rejected/);
    assert.equal(lb.haproxy.current, good);
    assert.equal(await curl(['-H', 'Host: b.example.com', `http://127.0.0.1:${httpPort}/`]), 'b1');
  });
});

describe('edge load balancer: HAPROXY_n_PATH and only healthy backends (real HAProxy)', () => {
  const skip = existsSync(HAPROXY) ? undefined : `${HAPROXY} is not installed (apt-get install haproxy)`;
  const dir = mkdtempSync(join(tmpdir(), 'dcos-edgelb-2-'));
  const marathon = new FakeMarathon();
  const backends = new Map<string, { server: Server; port: number }>();
  let lb: RunningEdgeLb;
  let httpPort = 0;
  let healthPort = 0;
  const problems: string[] = [];
  const port = (name: string) => backends.get(name)?.port ?? 0;
  const checked = (id: string, p: number, alive: boolean | undefined) => ({
    ...task(id, p),
    healthCheckResults: alive === undefined ? [] : [{ alive, consecutiveFailures: alive ? 0 : 3, instanceId: id }],
  });
  const healthApp = (sickAlive: boolean | undefined) => ({
    id: '/h',
    labels: { HAPROXY_GROUP: 'external' },
    portDefinitions: [{ port: healthPort }],
    healthChecks: [{ protocol: 'MESOS_HTTP', path: '/', portIndex: 0 }],
    tasks: [checked('h-ok', port('h-ok'), true), checked('h-sick', port('h-sick'), sickAlive), checked('h-new', port('h-new'), undefined)],
  });

  before(async () => {
    if (skip) return;
    await marathon.start();
    for (const name of ['api', 'web', 'h-ok', 'h-sick', 'h-new']) backends.set(name, await backend(name));
    httpPort = await freePort();
    healthPort = await freePort();
    marathon.apps = [
      {
        id: '/web',
        labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'c.example.com' },
        portDefinitions: [{ port: 0 }],
        tasks: [task('web', port('web'))],
      },
      {
        id: '/api',
        labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'c.example.com', HAPROXY_0_PATH: '/api' },
        portDefinitions: [{ port: 0 }],
        tasks: [task('api', port('api'))],
      },
      {
        id: '/nopath',
        labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'd.example.com', HAPROXY_0_PATH: 'api' },
        portDefinitions: [{ port: 0 }],
        tasks: [],
      },
      healthApp(false),
    ];
    lb = await startEdgeLb({
      marathon: `http://127.0.0.1:${marathon.port}`,
      group: 'external',
      bind: '127.0.0.1',
      httpPort,
      workDir: dir,
      log: (level, msg) => problems.push(`${level} ${msg}`),
    });
  });

  after(async () => {
    if (skip) return;
    await lb?.stop();
    await marathon.stop();
    for (const b of backends.values()) {
      b.server.closeAllConnections();
      b.server.close();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('HAPROXY_0_PATH routes a path prefix of a virtual host to its own app; the rest of the host to the other', { skip }, async () => {
    const get = (path: string, host = 'c.example.com') => curl(['-H', `Host: ${host}`, `http://127.0.0.1:${httpPort}${path}`]);
    assert.equal(await get('/api'), 'api');
    assert.equal(await get('/api/v1/things?x=1'), 'api');
    assert.equal(await get('/'), 'web');
    assert.equal(await get('/other/api'), 'web');
    assert.equal(await get('/API'), 'web', 'paths are case-sensitive');
    // A path label that is not a URL path is reported and ignored (the host alone routes).
    assert.ok(
      problems.some((p) => /HAPROXY_0_PATH 'api' is not a URL path/.test(p)),
      problems.join('\n'),
    );
    assert.match(lb.haproxy.current, /acl path_\d+ path_beg \/api\n/);
  });

  test('only tasks whose health checks all pass are servers; a task turning healthy joins after the event', { skip }, async () => {
    const seen = new Map<string, number>();
    for (let i = 0; i < 12; i++) {
      const body = await curl([`http://127.0.0.1:${healthPort}/`]);
      seen.set(body, (seen.get(body) ?? 0) + 1);
    }
    assert.deepEqual([...seen.keys()], ['h-ok'], 'the sick task and the one without a result yet get no traffic');
    assert.doesNotMatch(lb.haproxy.current, /server h-sick|server h-new/);

    const reloads = lb.haproxy.counters.reloads;
    marathon.apps[3] = healthApp(true);
    marathon.emit('health_status_changed_event');
    await waitFor('a reload after the health change', () => lb.haproxy.counters.reloads > reloads || undefined, 5000);
    const after2 = new Set<string>();
    for (let i = 0; i < 12; i++) after2.add(await curl([`http://127.0.0.1:${healthPort}/`]));
    assert.deepEqual([...after2].sort(), ['h-ok', 'h-sick']);
  });
});
