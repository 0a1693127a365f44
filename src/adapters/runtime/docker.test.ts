import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { LaunchSpec } from '../../ports/runtime.js';
import { ContainerizerRouter, DockerClient, DockerRuntime, StreamDemuxer, logTimestampNs, splitImage, statisticsOf } from './docker.js';

const dir = mkdtempSync(join(tmpdir(), 'docker-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const frame = (type: number, text: string): Buffer => {
  const payload = Buffer.from(text);
  const h = Buffer.alloc(8);
  h[0] = type;
  h.writeUInt32BE(payload.length, 4);
  return Buffer.concat([h, payload]);
};

describe('StreamDemuxer (multiplexed stdout/stderr of a non-TTY container)', () => {
  test('frames split anywhere across chunks come out whole and in order', () => {
    const got: string[] = [];
    const d = new StreamDemuxer((s, p) => got.push(`${s}:${p.toString()}`));
    const all = Buffer.concat([frame(1, 'hello\n'), frame(2, 'oops\n'), frame(1, ''), frame(1, 'x'.repeat(70_000))]);
    for (let i = 0; i < all.length; i += 7) d.push(all.subarray(i, i + 7));
    assert.deepEqual(got.slice(0, 3), ['stdout:hello\n', 'stderr:oops\n', 'stdout:']);
    assert.equal(got[3]?.length, 'stdout:'.length + 70_000);
    assert.equal(d.pending, 0);
  });
  test('an unfinished frame waits', () => {
    const got: string[] = [];
    const d = new StreamDemuxer((_s, p) => got.push(p.toString()));
    const f = frame(1, 'abc');
    d.push(f.subarray(0, 9));
    assert.deepEqual(got, []);
    assert.equal(d.pending, 9);
    d.push(f.subarray(9));
    assert.deepEqual(got, ['abc']);
  });
});

test('splitImage: tags, registry ports and digests', () => {
  assert.deepEqual(splitImage('busybox'), { name: 'busybox', tag: 'latest' });
  assert.deepEqual(splitImage('busybox:1.36'), { name: 'busybox', tag: '1.36' });
  assert.deepEqual(splitImage('127.0.0.1:5000/dcos/busybox'), { name: '127.0.0.1:5000/dcos/busybox', tag: 'latest' });
  assert.deepEqual(splitImage('127.0.0.1:5000/dcos/busybox:1'), { name: '127.0.0.1:5000/dcos/busybox', tag: '1' });
  assert.deepEqual(splitImage('r:5000/a@sha256:abc'), { name: 'r:5000/a', tag: 'sha256:abc' });
});

test('logTimestampNs: RFC 3339 with nanoseconds, ordered as numbers', () => {
  const a = logTimestampNs('2026-12-03T08:02:20.581847887Z');
  const b = logTimestampNs('2026-12-03T08:02:20.5818479Z');
  assert.equal(a, BigInt(Date.parse('2026-12-03T08:02:20Z')) * 1_000_000n + 581_847_887n);
  assert.ok(a !== undefined && b !== undefined && b > a);
  assert.equal(logTimestampNs('not a time'), undefined);
});

describe('the create body', () => {
  const rt = new DockerRuntime({ socketPath: join(dir, 'none.sock'), stateDir: join(dir, 'state'), allowedHostPaths: [dir] });
  const spec = (over: Partial<LaunchSpec> = {}): LaunchSpec => ({
    containerId: 'c1',
    sandboxDir: '/sb/c1',
    command: { value: 'echo hi' },
    env: { MESOS_TASK_ID: 't1', A: 'b' },
    container: { type: 'DOCKER', docker: { image: 'busybox' } },
    resources: { cpus: 0.5, memMb: 64 },
    ...over,
  });
  const docker = (d: Record<string, unknown>) => ({ image: 'busybox', ...d }) as never;

  test('shell command, env, labels, sandbox bind, limits, host network by default', () => {
    const b = rt.createBody(spec(), docker({})) as Record<string, any>;
    assert.deepEqual(b.Entrypoint, ['/bin/sh', '-c']);
    assert.deepEqual(b.Cmd, ['echo hi']);
    assert.ok(b.Env.includes('A=b') && b.Env.includes('MESOS_SANDBOX=/mnt/mesos/sandbox') && b.Env.includes('MESOS_CONTAINER_NAME=mesos-c1'));
    assert.deepEqual(b.Labels, { 'dcos-ts.container-id': 'c1', 'dcos-ts.sandbox': '/sb/c1', 'dcos-ts.task-id': 't1' });
    assert.equal(b.WorkingDir, '/mnt/mesos/sandbox');
    assert.equal(b.Tty, false);
    const h = b.HostConfig;
    assert.deepEqual(h.Binds, ['/sb/c1:/mnt/mesos/sandbox:rw']);
    assert.equal(h.NetworkMode, 'host');
    assert.equal(h.Memory, 64 * 1024 * 1024);
    assert.equal(h.MemorySwap, 64 * 1024 * 1024);
    assert.equal(h.CpuShares, 512);
    assert.equal(h.CpuQuota, 50_000);
    assert.equal(h.CpuPeriod, 100_000);
    assert.equal(h.PidsLimit, 4096);
    assert.equal(h.Privileged, false);
  });

  test('argv form keeps the image entrypoint; no command keeps the image default', () => {
    const a = rt.createBody(spec({ command: { shell: false, value: 'ls', arguments: ['-l', '/'] } }), docker({})) as Record<string, any>;
    assert.equal(a.Entrypoint, undefined);
    assert.deepEqual(a.Cmd, ['ls', '-l', '/']);
    const n = rt.createBody(spec({ command: {} }), docker({})) as Record<string, any>;
    assert.equal(n.Cmd, undefined);
    assert.equal(n.Entrypoint, undefined);
  });

  test('BRIDGE with port mappings, NONE, privileged, volumes', () => {
    const b = rt.createBody(
      spec({
        container: {
          type: 'DOCKER',
          docker: { image: 'busybox' },
          volumes: [
            { container_path: 'data', mode: 'RW', source: { type: 'SANDBOX_PATH', sandbox_path: { type: 'SELF', path: 'd' } } },
            { container_path: '/host', mode: 'RO', host_path: dir },
          ],
        } as never,
      }),
      docker({
        network: 'BRIDGE',
        privileged: true,
        port_mappings: [
          { host_port: 31000, container_port: 80 },
          { host_port: 31001, container_port: 53, protocol: 'udp' },
        ],
      }),
    ) as Record<string, any>;
    assert.equal(b.HostConfig.NetworkMode, 'bridge');
    assert.deepEqual(b.HostConfig.PortBindings, { '80/tcp': [{ HostIp: '', HostPort: '31000' }], '53/udp': [{ HostIp: '', HostPort: '31001' }] });
    assert.deepEqual(Object.keys(b.ExposedPorts), ['80/tcp', '53/udp']);
    assert.equal(b.HostConfig.Privileged, true);
    assert.deepEqual(b.HostConfig.Binds.slice(1), ['/sb/c1/d:/mnt/mesos/sandbox/data:rw', `${dir}:/host:ro`]);
    assert.equal((rt.createBody(spec(), docker({ network: 'NONE' })) as Record<string, any>).HostConfig.NetworkMode, 'none');
    assert.throws(() => rt.createBody(spec(), docker({ network: 'USER' })), /docker.network 'USER' is not supported/);
    assert.throws(() => rt.createBody(spec(), docker({ port_mappings: [{ host_port: 1, container_port: 2 }] })), /need network BRIDGE/);
  });

  test('parameters map to Engine API fields; unknown ones fail the launch', () => {
    const b = rt.createBody(
      spec(),
      docker({
        parameters: [
          { key: 'env', value: 'X=1' },
          { key: 'label', value: 'team=a' },
          { key: 'cap-add', value: 'NET_ADMIN' },
          { key: 'ulimit', value: 'nofile=512:1024' },
          { key: 'shm-size', value: '64m' },
          { key: 'user', value: 'nobody' },
        ],
      }),
    ) as Record<string, any>;
    assert.ok(b.Env.includes('X=1'));
    assert.equal(b.Labels.team, 'a');
    assert.deepEqual(b.HostConfig.CapAdd, ['NET_ADMIN']);
    assert.deepEqual(b.HostConfig.Ulimits, [{ Name: 'nofile', Soft: 512, Hard: 1024 }]);
    assert.equal(b.HostConfig.ShmSize, 64 * 1024 * 1024);
    assert.equal(b.User, 'nobody');
    assert.throws(() => rt.createBody(spec(), docker({ parameters: [{ key: 'volumes-from', value: 'x' }] })), /'volumes-from' is not supported/);
    assert.throws(() => rt.createBody(spec(), docker({ parameters: [{ key: 'label', value: 'dcos-ts.sandbox=/' }] })), /agent's own/);
  });
});

test('statisticsOf: cgroup v1 and v2 figures', () => {
  const v1 = statisticsOf({
    read: '2026-12-03T08:00:00.5Z',
    pids_stats: { current: 3 },
    cpu_stats: { cpu_usage: { usage_in_usermode: 2_500_000_000, usage_in_kernelmode: 500_000_000 } },
    memory_stats: { usage: 10_000_000, limit: 67_108_864, stats: { total_rss: 4_000_000, total_inactive_file: 1_000_000 } },
  });
  assert.deepEqual(v1, {
    timestamp: Date.parse('2026-12-03T08:00:00.5Z') / 1000,
    cpus_user_time_secs: 2.5,
    cpus_system_time_secs: 0.5,
    mem_rss_bytes: 4_000_000,
    mem_total_bytes: 9_000_000,
    mem_limit_bytes: 67_108_864,
    processes: 3,
  });
  const v2 = statisticsOf({ read: '2026-12-03T08:00:00Z', memory_stats: { usage: 5, limit: 2 ** 63, stats: { anon: 4, inactive_file: 1 } } });
  assert.equal(v2.mem_rss_bytes, 4);
  assert.equal(v2.mem_limit_bytes, undefined, 'no limit is no figure');
});

describe('against a fake Engine API on a unix socket', () => {
  const socket = join(dir, 'fake.sock');
  const seen: string[] = [];
  let server: Server;
  after(() => new Promise<void>((r) => server.close(() => r())));

  test('pull: streamed progress, then an error message in the stream rejects with it', async () => {
    server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      if (req.url?.startsWith('/v1.41/images/create')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"status":"Pulling from dcos/busybox"}\n{"status":"Wait');
        res.end('ing"}\n{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}\n');
        return;
      }
      if (req.url === '/v1.41/_ping') return res.end('OK');
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"message":"No such container: x"}');
    });
    await new Promise<void>((r) => server.listen(socket, () => r()));
    const c = new DockerClient(socket);
    const progress: string[] = [];
    await assert.rejects(
      c.pull('127.0.0.1:5000/dcos/busybox:9', (s) => progress.push(s)),
      /manifest unknown/,
    );
    assert.deepEqual(progress, ['Pulling from dcos/busybox', 'Waiting']);
    assert.ok(seen.includes('POST /v1.41/images/create?fromImage=127.0.0.1%3A5000%2Fdcos%2Fbusybox&tag=9'), seen.join(' '));
    await c.ping();
    await assert.rejects(c.json('GET', '/containers/x/json'), (e: Error & { status?: number }) => e.status === 404 && /No such container/.test(e.message));
  });
});

describe('ContainerizerRouter', () => {
  const spec: LaunchSpec = {
    containerId: 'r1',
    sandboxDir: join(dir, 'sb-r1'),
    command: { value: 'true' },
    env: {},
    container: { type: 'DOCKER', docker: { image: 'busybox' } },
  };
  test('no daemon on the socket: the launch fails naming the socket', async () => {
    const sock = join(dir, 'no-daemon.sock');
    const router = new ContainerizerRouter(undefined, new DockerRuntime({ socketPath: sock, stateDir: join(dir, 'st') }), sock);
    await assert.rejects(router.launch(spec), new RegExp(`no Docker daemon answered at ${sock}: .*ENOENT`));
    // Nothing is left tracked for it, and recovery without a daemon finds nothing.
    assert.deepEqual(await router.recover([{ containerId: 'r1', sandboxDir: spec.sandboxDir }]), [{ containerId: 'r1', state: 'unknown' }]);
  });
  test('without the docker containerizer a DOCKER task fails with the flag to set', async () => {
    const router = new ContainerizerRouter(undefined, undefined, '/var/run/docker.sock');
    await assert.rejects(router.launch(spec), /--containerizers=mesos,docker/);
  });
});
