import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Task } from '../../model/mesos.js';
import { DEFAULT_DNS_CONFIG, domainFrag, hash5, lookup, QTYPE, rfc952, rfc1123, sha1, taskRecords, Zone, zbase32 } from './index.js';

const cfg = DEFAULT_DNS_CONFIG;
const agent = { id: 'abc-123-S1', ip: '10.0.0.5', port: 5051 };
const fw = { id: 'fw1', name: 'marathon' };

function task(over: Partial<Task> = {}): Task {
  return {
    name: 'app.group',
    task_id: { value: 'group_app.1234' },
    framework_id: { value: 'fw1' },
    agent_id: { value: 'abc-123-S1' },
    state: 'TASK_RUNNING',
    resources: [{ name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31000, end: 31001 }] } }],
    statuses: [{ task_id: { value: 'group_app.1234' }, state: 'TASK_RUNNING' }],
    ...over,
  };
}

describe('Mesos-DNS names', () => {
  it('sanitises labels per RFC 1123 as Mesos-DNS does: lowercase, dots and underscores to dashes, others dropped, 63 max', () => {
    assert.equal(rfc1123('app.group'), 'app-group');
    assert.equal(rfc1123('My_App!#'), 'my-app');
    assert.equal(rfc1123('--x--'), 'x');
    assert.equal(rfc1123('a'.repeat(70)), 'a'.repeat(63));
    assert.equal(rfc952('9lives-and-a-very-long-name-indeed'), 'lives-and-a-very-long-na');
  });
  it('keeps dots in framework names as separate labels', () => {
    assert.equal(domainFrag('marathon.Prod'), 'marathon.prod');
    assert.equal(domainFrag('a..b_c'), 'a.b-c');
  });
  it('hashes task ids with sha1 and z-base-32 like the canonical names', () => {
    for (const s of ['', 'abc', 'x'.repeat(200), 'group_app.1234']) assert.deepEqual(Buffer.from(sha1(s)), createHash('sha1').update(s).digest());
    assert.equal(zbase32(new Uint8Array([0xf0, 0xbf, 0xc7])), '6n9hq');
    assert.equal(hash5('group_app.1234').length, 5);
  });
});

describe('records of a running task', () => {
  it('give A, slave A, SRV per port and dcos-net names', () => {
    const rrs = taskRecords(task(), agent, fw, cfg);
    const names = new Set(rrs.map((r) => `${r.type} ${r.name}`));
    assert.ok(names.has('A app-group.marathon.mesos'));
    assert.ok(names.has('A app-group.marathon.slave.mesos'));
    assert.ok(names.has('SRV _app-group._tcp.marathon.mesos'));
    assert.ok(names.has('SRV _app-group._udp.marathon.slave.mesos'));
    assert.ok(names.has('A app-group.marathon.autoip.dcos.thisdcos.directory'));
    assert.ok(names.has('A app-group.marathon.agentip.dcos.thisdcos.directory'));
    const ports = rrs.filter((r) => r.type === 'SRV' && r.name === '_app-group._tcp.marathon.mesos').map((r) => (r.type === 'SRV' ? r.port : 0));
    assert.deepEqual(ports, [31000, 31001]);
    const canonical = `app-group-${hash5('group_app.1234')}-s1.marathon.slave.mesos`;
    assert.ok(rrs.some((r) => r.type === 'SRV' && r.target === canonical));
  });
  it('are none unless the task is running, and none for an unhealthy task when only healthy ones are wanted', () => {
    assert.deepEqual(taskRecords(task({ state: 'TASK_STAGING' }), agent, fw, cfg), []);
    const hc = task({ health_check: { type: 'COMMAND' } as Task['health_check'] });
    assert.ok(taskRecords(hc, agent, fw, cfg).length > 0);
    assert.deepEqual(taskRecords(hc, agent, fw, { ...cfg, onlyHealthy: true }), []);
  });
  it('use the container IP from network_infos first when IPSources says so, and name named discovery ports', () => {
    const t = task({
      statuses: [{ task_id: { value: 'x' }, state: 'TASK_RUNNING', container_status: { network_infos: [{ ip_addresses: [{ ip_address: '9.0.0.7' }] }] } }],
      discovery: { visibility: 'FRAMEWORK', ports: { ports: [{ number: 8080, name: 'http', protocol: 'tcp' }] } },
    });
    const rrs = taskRecords(t, agent, fw, { ...cfg, ipSources: ['netinfo', 'mesos', 'host'] });
    assert.ok(rrs.some((r) => r.type === 'A' && r.name === 'app-group.marathon.mesos' && r.ip === '9.0.0.7'));
    assert.ok(rrs.some((r) => r.type === 'A' && r.name === 'app-group.marathon.slave.mesos' && r.ip === '10.0.0.5'));
    assert.ok(rrs.some((r) => r.type === 'SRV' && r.name === '_http._app-group._tcp.marathon.mesos' && r.port === 8080));
    assert.ok(rrs.some((r) => r.type === 'A' && r.name === 'app-group.marathon.containerip.dcos.thisdcos.directory' && r.ip === '9.0.0.7'));
  });
});

describe('records of a task on a container network (Marathon container/bridge)', () => {
  // Host port 31000 -> container port 8080 on mesos-bridge; the task's own address 172.31.254.7.
  const bridge = (scope: 'host' | 'container') =>
    task({
      resources: [{ name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31000, end: 31000 }] } }],
      container: { type: 'MESOS', network_infos: [{ name: 'mesos-bridge', port_mappings: [{ host_port: 31000, container_port: 8080, protocol: 'tcp' }] }] },
      statuses: [
        {
          task_id: { value: 'x' },
          state: 'TASK_RUNNING',
          container_status: { network_infos: [{ name: 'mesos-bridge', ip_addresses: [{ ip_address: '172.31.254.7' }] }] },
        },
      ],
      discovery: {
        visibility: 'FRAMEWORK',
        ports: {
          ports: [
            {
              number: scope === 'host' ? 31000 : 8080,
              name: 'http',
              protocol: 'tcp',
              labels: { labels: [{ key: 'network-scope', value: scope }] },
            },
          ],
        },
      },
    });

  /** Every address:port an SRV of the task leads to (through the A records of its target). */
  function endpoints(t: Task, c = cfg): Set<string> {
    const rrs = taskRecords(t, agent, fw, c);
    const out = new Set<string>();
    for (const r of rrs) {
      if (r.type !== 'SRV') continue;
      const as = rrs.filter((x) => x.type === 'A' && x.name === r.target);
      assert.ok(as.length > 0, `SRV ${r.name} -> ${r.target} has no A record`);
      for (const x of as) if (x.type === 'A') out.add(`${x.ip}:${r.port}`);
    }
    return out;
  }

  for (const scope of ['host', 'container'] as const) {
    for (const ipSources of [cfg.ipSources, ['netinfo', 'mesos', 'host'] as const]) {
      it(`pair each SRV port with the address it is open on (discovery scope ${scope}, IPSources ${ipSources.join(',')})`, () => {
        const eps = endpoints(bridge(scope), { ...cfg, ipSources: [...ipSources] });
        for (const ep of eps) assert.ok(ep === '10.0.0.5:31000' || ep === '172.31.254.7:8080', `SRV leads to ${ep}`);
        assert.ok(eps.has('10.0.0.5:31000'));
      });
    }
  }

  it('by default (as DC/OS) the task name is the agent, containerip the container, and .mesos SRV the host port', () => {
    const rrs = taskRecords(bridge('host'), agent, fw, cfg);
    const a = (name: string) => rrs.filter((r) => r.type === 'A' && r.name === name).map((r) => (r.type === 'A' ? r.ip : ''));
    assert.deepEqual(a('app-group.marathon.mesos'), ['10.0.0.5']);
    assert.deepEqual(a('app-group.marathon.containerip.dcos.thisdcos.directory'), ['172.31.254.7']);
    assert.deepEqual(a('app-group.marathon.autoip.dcos.thisdcos.directory'), ['172.31.254.7']);
    const srvs = rrs.filter((r) => r.type === 'SRV' && r.name === '_app-group._tcp.marathon.mesos').map((r) => (r.type === 'SRV' ? r.port : 0));
    assert.deepEqual(srvs, [31000]);
    const named = rrs.filter((r) => r.type === 'SRV' && r.name === '_http._app-group._tcp.marathon.mesos').map((r) => (r.type === 'SRV' ? r.port : 0));
    assert.deepEqual(named, [31000]);
  });
});

describe('lookup', () => {
  const zone = new Zone();
  zone.put('t1', taskRecords(task(), agent, fw, cfg));
  it('answers A for a task name, case-insensitively and with a trailing dot', () => {
    const a = lookup(zone, 'App-Group.Marathon.MESOS.', QTYPE.A, cfg);
    assert.equal(a.kind, 'answer');
    if (a.kind === 'answer') assert.deepEqual(a.answers, [{ name: 'app-group.marathon.mesos', type: 'A', ip: '10.0.0.5' }]);
  });
  it('tells NXDOMAIN (no such name) from NODATA (name exists, not that type)', () => {
    const nx = lookup(zone, 'nope.marathon.mesos', QTYPE.A, cfg);
    const nodata = lookup(zone, 'app-group.marathon.mesos', QTYPE.AAAA, cfg);
    assert.ok(nx.kind === 'answer' && nx.rcode === 3 && nx.authority[0]?.type === 'SOA');
    assert.ok(nodata.kind === 'answer' && nodata.rcode === 0 && nodata.answers.length === 0 && nodata.authority[0]?.type === 'SOA');
  });
  it('adds the A records of SRV targets, answers SOA and NS at the apex, and forwards other names', () => {
    const s = lookup(zone, '_app-group._tcp.marathon.mesos', QTYPE.SRV, cfg);
    assert.ok(s.kind === 'answer' && s.answers.length === 2 && s.additional.some((r) => r.type === 'A'));
    const soa = lookup(zone, 'mesos', QTYPE.SOA, cfg);
    assert.ok(soa.kind === 'answer' && soa.answers[0]?.type === 'SOA');
    assert.deepEqual(lookup(zone, 'example.com', QTYPE.A, cfg), { kind: 'forward' });
  });
  it('forgets a source when its records are replaced by none', () => {
    const z = new Zone();
    z.put('t1', taskRecords(task(), agent, fw, cfg));
    const v = z.version;
    z.put('t1', []);
    assert.equal(z.size, 0);
    assert.ok(z.version > v);
  });
});
