import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Task } from '../../model/mesos.js';
import { haproxyConfig } from './edgelb.js';
import { renderNft } from './nft.js';
import { assignAddresses, parseRange, type VipRange } from './range.js';
import { parseVipLabel, vipDnsNames, vipTable, type VipTaskInput } from './table.js';

const range = parseRange('11.0.0.0/8') as VipRange;

function task(id: string, vip: string, port: number, over: Partial<Task> = {}): Task {
  return {
    name: 'web',
    task_id: { value: id },
    framework_id: { value: 'fw' },
    agent_id: { value: `a-${id}` },
    state: 'TASK_RUNNING',
    resources: [],
    statuses: [],
    discovery: { visibility: 'FRAMEWORK', ports: { ports: [{ number: port, protocol: 'tcp', labels: { labels: [{ key: 'VIP_0', value: vip }] } }] } },
    ...over,
  };
}
const input = (t: Task, agentIp = '127.0.0.2'): VipTaskInput => ({ task: t, agentIp, frameworkName: 'marathon' });

describe('VIP labels and addresses', () => {
  test('labels parse as named ("/name:port", "name:port") or IP VIPs; malformed ones say why', () => {
    assert.deepEqual(parseVipLabel('/web:80'), { kind: 'named', name: '/web', port: 80 });
    assert.deepEqual(parseVipLabel('grp/Web:8080'), { kind: 'named', name: '/grp/web', port: 8080 });
    assert.deepEqual(parseVipLabel('11.1.2.3:5000'), { kind: 'ip', ip: '11.1.2.3', port: 5000 });
    for (const bad of ['web', '/web:', '/web:0', '/web:70000', ':80', '/we b:80', '300.1.1.1:80']) assert.equal(typeof parseVipLabel(bad), 'string', bad);
  });

  test('ranges leave out network and broadcast, and reject host bits', () => {
    assert.deepEqual(parseRange('11.0.0.0/8'), { cidr: '11.0.0.0/8', first: 0x0b000001, last: 0x0bfffffe });
    assert.equal(typeof parseRange('11.0.0.1/8'), 'string');
    assert.equal(typeof parseRange('11.0.0.0/33'), 'string');
  });

  test('a name keeps its address while it exists; a colliding new name probes to the next free one', () => {
    const small = parseRange('11.0.0.0/30') as VipRange; // two usable addresses
    const a = assignAddresses(['/a'], new Set(), new Map(), small);
    const b = assignAddresses(['/a', '/b'], new Set(), a, small);
    assert.equal(b.get('/a'), a.get('/a'));
    assert.notEqual(b.get('/b'), b.get('/a'));
    assert.equal(assignAddresses(['/a', '/b', '/c'], new Set(), b, small).has('/c'), false, 'range full');
  });
});

describe('vipTable', () => {
  test('running tasks with the same VIP label are one VIP with a backend each, at agent IP and host port', () => {
    const t = vipTable([input(task('t1', '/web:80', 31001), '127.0.0.2'), input(task('t2', '/web:80', 31002), '127.0.0.3')], range);
    assert.equal(t.vips.length, 1);
    const v = t.vips[0];
    assert.ok(v);
    assert.equal(v.label, '/web:80');
    assert.match(v.ip, /^11\./);
    assert.deepEqual(
      v.backends.map((b) => `${b.ip}:${b.port}`),
      ['127.0.0.2:31001', '127.0.0.3:31002'],
    );
    assert.deepEqual(vipDnsNames(v, 'thisdcos.directory'), ['web.marathon.l4lb.thisdcos.directory']);
  });

  test('killing, staging and unhealthy tasks are not backends; the VIP stays with what is left', () => {
    const hc = { type: 'TCP' as const, tcp: { port: 1 } } as unknown as Task['health_check'];
    const t = vipTable(
      [
        input(task('ok', '/web:80', 1)),
        input(task('killing', '/web:80', 2, { state: 'TASK_KILLING' })),
        input(task('staging', '/web:80', 3, { state: 'TASK_STAGING' })),
        input(
          task('sick', '/web:80', 4, {
            health_check: hc,
            statuses: [{ task_id: { value: 'sick' }, state: 'TASK_RUNNING', healthy: false }] as Task['statuses'],
          }),
        ),
        input(
          task('well', '/web:80', 5, {
            health_check: hc,
            statuses: [{ task_id: { value: 'well' }, state: 'TASK_RUNNING', healthy: true }] as Task['statuses'],
          }),
        ),
      ],
      range,
    );
    assert.deepEqual(
      t.vips[0]?.backends.map((b) => b.taskId),
      ['ok', 'well'],
    );
  });

  test('malformed labels and IP VIPs outside the range are reported, not applied', () => {
    const t = vipTable([input(task('a', 'nonsense', 1)), input(task('b', '8.8.8.8:53', 2)), input(task('c', '11.9.9.9:53', 3))], range);
    assert.deepEqual(
      t.vips.map((v) => v.label),
      ['11.9.9.9:53'],
    );
    assert.equal(t.problems.length, 2);
    assert.match(t.problems[1]?.message ?? '', /outside the VIP range/);
  });

  test('the nft script replaces one table in one transaction and spreads over the backends', () => {
    const t = vipTable(
      [input(task('t1', '/web:80', 31001)), input(task('t2', '/web:80', 31002), '127.0.0.3'), input(task('t3', '/empty:81', 0, { state: 'TASK_STAGING' }))],
      range,
    );
    const s = renderNft(t.vips, { table: 'dcos_vip_1', range, spread: 'inc' });
    const lines = s.split('\n');
    assert.deepEqual(lines.slice(0, 3), ['table ip dcos_vip_1', 'delete table ip dcos_vip_1', 'table ip dcos_vip_1 {']);
    assert.match(s, /numgen inc mod 2 map \{ 0 : 127\.0\.0\.2 \. 31001, 1 : 127\.0\.0\.3 \. 31002 \}/);
    assert.equal((s.match(/jump vip_/g) ?? []).length, 1, 'a VIP without backends has no DNAT (the input chain refuses it)');
  });
});

describe('edge LB configuration', () => {
  const app = (id: string, labels: Record<string, string>, tasks: unknown[], extra = {}) => ({
    id,
    labels,
    portDefinitions: [{ port: 10001 }],
    tasks,
    ...extra,
  });
  const running = (id: string, port: number) => ({ id, host: '127.0.0.2', ports: [port], state: 'TASK_RUNNING' });

  test('virtual hosts route to their app; only running, healthy tasks are servers; other groups are left out', () => {
    const c = haproxyConfig(
      [
        app('/a', { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'a.example.com' }, [running('a1', 31000), { ...running('a2', 31001), state: 'TASK_KILLING' }]),
        app(
          '/b',
          { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'b.example.com' },
          [running('b1', 31002), { ...running('b2', 31003), healthCheckResults: [{ alive: false }] }],
          {
            healthChecks: [{}],
            portDefinitions: [{ port: 10002 }],
          },
        ),
        app('/c', { HAPROXY_GROUP: 'internal' }, [running('c1', 31004)], { portDefinitions: [{ port: 10003 }] }),
      ],
      { group: 'external', bind: '127.0.0.1', httpPort: 8080, socketPath: '/tmp/x.sock' },
    );
    assert.deepEqual(
      c.backends.map((b) => [b.name, b.mode, b.servers.map((s) => s.port)]),
      [
        ['a_10001', 'http', [31000]],
        ['b_10002', 'http', []],
      ],
    );
    assert.match(c.text, /use_backend a_10001 if host_\d/);
    assert.match(c.text, /bind 127\.0\.0\.1:10001/);
  });

  test('label values that could inject configuration are reported and left out', () => {
    const c = haproxyConfig(
      [app('/a', { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'a.com\n  bind :1', HAPROXY_0_BALANCE: 'roundrobin\nx', HAPROXY_0_MODE: 'udp' }, [])],
      {
        group: 'external',
        bind: '127.0.0.1',
        httpPort: 8080,
        socketPath: '/tmp/x.sock',
      },
    );
    assert.equal(c.problems.length, 3);
    assert.doesNotMatch(c.text, /bind :1/);
  });
});

describe('vipTable on container networks', () => {
  /** A Marathon container/bridge task: host port 31005 maps to container port 8080 on mesos-bridge. */
  function bridgeTask(id: string, cip: string | undefined, scope: 'host' | 'container' = 'host'): Task {
    const number = scope === 'host' ? 31005 : 8080;
    const labels = [
      { key: 'VIP_0', value: '/web:80' },
      { key: 'network-scope', value: scope },
      ...(scope === 'container' ? [{ key: 'network-name', value: 'mesos-bridge' }] : []),
    ];
    return task(id, '/web:80', number, {
      container: { type: 'MESOS', network_infos: [{ name: 'mesos-bridge', port_mappings: [{ host_port: 31005, container_port: 8080, protocol: 'tcp' }] }] },
      discovery: { visibility: 'FRAMEWORK', ports: { ports: [{ number, protocol: 'tcp', labels: { labels } }] } },
      statuses: [
        {
          task_id: { value: id },
          state: 'TASK_RUNNING',
          source: 'SOURCE_EXECUTOR',
          timestamp: 1,
          ...(cip ? { container_status: { network_infos: [{ name: 'mesos-bridge', ip_addresses: [{ protocol: 'IPv4', ip_address: cip }] }] } } : {}),
        } as Task['statuses'][number],
      ],
    });
  }

  test('a bridge task is a backend at its container IP and the mapping container port, not agentIP:hostPort', () => {
    const t = vipTable([input(bridgeTask('b1', '172.31.254.7'), '127.0.0.2'), input(bridgeTask('b2', '172.31.254.9'), '127.0.0.3')], range);
    const v = t.vips[0];
    assert.ok(v);
    assert.deepEqual(
      v.backends.map((b) => `${b.ip}:${b.port} ${b.network}`),
      ['172.31.254.7:8080 mesos-bridge', '172.31.254.9:8080 mesos-bridge'],
    );
  });

  test('a container-scoped discovery port is already the container port', () => {
    const t = vipTable([input(bridgeTask('c1', '172.31.254.7', 'container'))], range);
    assert.deepEqual(
      t.vips[0]?.backends.map((b) => `${b.ip}:${b.port}`),
      ['172.31.254.7:8080'],
    );
  });

  test('host networking (no address of its own, or the agent IP in an unnamed network_info) keeps agentIP:hostPort', () => {
    const noIp = vipTable([input(bridgeTask('h1', undefined), '127.0.0.2')], range);
    assert.deepEqual(
      noIp.vips[0]?.backends.map((b) => `${b.ip}:${b.port} ${b.network}`),
      ['127.0.0.2:31005 undefined'],
    );
    const hostTask = task('h2', '/web:80', 31002, {
      statuses: [
        {
          task_id: { value: 'h2' },
          state: 'TASK_RUNNING',
          source: 'SOURCE_EXECUTOR',
          timestamp: 1,
          container_status: { network_infos: [{ ip_addresses: [{ protocol: 'IPv4', ip_address: '127.0.0.2' }] }] },
        } as Task['statuses'][number],
      ],
    });
    assert.deepEqual(
      vipTable([input(hostTask, '127.0.0.2')], range).vips[0]?.backends.map((b) => `${b.ip}:${b.port}`),
      ['127.0.0.2:31002'],
    );
  });

  test('nft masquerades VIP connections to container backends only', () => {
    const t = vipTable([input(bridgeTask('b1', '172.31.254.7')), input(task('h1', '/web:80', 31001))], range);
    const script = renderNft(t.vips, { table: 'dcos_vip_t', range, spread: 'inc' });
    assert.match(script, /type nat hook postrouting priority 100;/);
    assert.match(script, /ct original ip daddr 11\.0\.0\.0\/8 ip daddr \{ 172\.31\.254\.7 \} masquerade/);
    assert.match(script, /127\.0\.0\.2 \. 31001/);
    assert.match(script, /172\.31\.254\.7 \. 8080/);
    const hostOnly = renderNft(vipTable([input(task('h1', '/web:80', 31001))], range).vips, { table: 'dcos_vip_t', range, spread: 'inc' });
    assert.doesNotMatch(hostOnly, /postrouting/);
  });
});
