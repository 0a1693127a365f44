import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_DNS_CONFIG, type Rr, Zone } from '../../core/dns/index.js';
import { DnsServer, parseResolvConf, parseUpstream } from './server.js';
import { dig } from './testing.js';

describe('DNS server (dig over UDP and TCP)', () => {
  const cfg = DEFAULT_DNS_CONFIG;
  const zone = new Zone();
  const upZone = new Zone();
  let server: DnsServer;
  let upstream: DnsServer;

  before(async () => {
    // A tiny upstream on loopback: its own zone `upstream.test`, answering nothing else.
    upZone.put('x', [{ name: 'www.upstream.test', type: 'A', ip: '127.0.9.9' }]);
    upstream = new DnsServer({
      zone: upZone,
      config: { ...cfg, domain: 'upstream.test', dcosDomain: 'none.invalid' },
      host: '127.0.0.1',
      port: 0,
      upstreams: [],
    });
    await upstream.start();
    zone.put('t1', [
      { name: 'web.marathon.mesos', type: 'A', ip: '127.0.0.2' },
      { name: '_web._tcp.marathon.mesos', type: 'SRV', target: 'web-abcde-s1.marathon.slave.mesos', port: 31005, priority: 0, weight: 1 },
      { name: 'web-abcde-s1.marathon.slave.mesos', type: 'A', ip: '127.0.0.2' },
    ]);
    const many: Rr[] = [];
    for (let i = 0; i < 100; i++) many.push({ name: 'big.marathon.mesos', type: 'A', ip: `10.1.${i >> 8}.${i & 255}` });
    zone.put('big', many);
    server = new DnsServer({ zone, config: cfg, host: '127.0.0.1', port: 0, upstreams: [{ host: '127.0.0.1', port: upstream.port }], forwardTimeoutMs: 1000 });
    await server.start();
  });
  after(async () => {
    await server.close();
    await upstream.close();
  });

  it('answers A for a task name over UDP and over TCP, authoritatively', async () => {
    const u = await dig(server.port, 'web.marathon.mesos');
    assert.equal(u.status, 'NOERROR');
    assert.ok(u.flags.includes('aa'));
    assert.deepEqual(
      u.answers.map((a) => a.data),
      ['127.0.0.2'],
    );
    const t = await dig(server.port, 'WEB.Marathon.mesos', 'A', ['+tcp']);
    assert.deepEqual(
      t.answers.map((a) => [a.name, a.data]),
      [['web.marathon.mesos.', '127.0.0.2']],
    );
    assert.match(t.raw, /QUESTION SECTION:\n;WEB\.Marathon\.mesos\./, 'the question comes back as the client spelled it');
  });

  it('answers SRV with the port and the target', async () => {
    const r = await dig(server.port, '_web._tcp.marathon.mesos', 'SRV');
    assert.deepEqual(
      r.answers.map((a) => a.data),
      ['0 1 31005 web-abcde-s1.marathon.slave.mesos.'],
    );
    assert.match(r.raw, /ADDITIONAL SECTION:\nweb-abcde-s1\.marathon\.slave\.mesos\.\s+\d+\s+IN\s+A\s+127\.0\.0\.2/);
  });

  it('says NXDOMAIN for a missing name and NODATA (NOERROR, no answer, SOA) for a missing type', async () => {
    const nx = await dig(server.port, 'nothing.marathon.mesos');
    assert.equal(nx.status, 'NXDOMAIN');
    assert.match(nx.raw, /AUTHORITY SECTION:\nmesos\.\s+\d+\s+IN\s+SOA\s+ns1\.mesos\./);
    const nodata = await dig(server.port, 'web.marathon.mesos', 'AAAA');
    assert.equal(nodata.status, 'NOERROR');
    assert.equal(nodata.answers.length, 0);
    assert.match(nodata.raw, /AUTHORITY SECTION:\nmesos\./);
  });

  it('answers SOA and NS at the apex', async () => {
    const soa = await dig(server.port, 'mesos', 'SOA');
    assert.match(soa.answers[0]?.data ?? '', /^ns1\.mesos\. root\.ns1\.mesos\. 1 60 600 86400 60$/);
    const ns = await dig(server.port, 'mesos', 'NS');
    assert.deepEqual(
      ns.answers.map((a) => a.data),
      ['ns1.mesos.'],
    );
  });

  it('truncates a large answer over UDP (TC) and gives it whole over TCP', async () => {
    const udp = await dig(server.port, 'big.marathon.mesos', 'A', ['+noedns', '+ignore']);
    assert.ok(udp.flags.includes('tc'), udp.raw);
    assert.equal(udp.answers.length, 0);
    const retried = await dig(server.port, 'big.marathon.mesos', 'A', ['+noedns']);
    assert.equal(retried.answers.length, 100);
    const tcp = await dig(server.port, 'big.marathon.mesos', 'A', ['+tcp']);
    assert.equal(tcp.answers.length, 100);
  });

  it('forwards other names to the upstream resolver over UDP and TCP, and passes its NXDOMAIN on', async () => {
    const u = await dig(server.port, 'www.upstream.test');
    assert.deepEqual(
      u.answers.map((a) => a.data),
      ['127.0.9.9'],
    );
    const t = await dig(server.port, 'www.upstream.test', 'A', ['+tcp']);
    assert.deepEqual(
      t.answers.map((a) => a.data),
      ['127.0.9.9'],
    );
    const nx = await dig(server.port, 'nope.upstream.test');
    assert.equal(nx.status, 'NXDOMAIN');
  });

  it('sees a zone change at the next query (the answer cache follows the zone version)', async () => {
    await dig(server.port, 'web.marathon.mesos');
    zone.put('t2', [{ name: 'web.marathon.mesos', type: 'A', ip: '127.0.0.3' }]);
    const r = await dig(server.port, 'web.marathon.mesos');
    assert.deepEqual(r.answers.map((a) => a.data).sort(), ['127.0.0.2', '127.0.0.3']);
    zone.put('t2', []);
    assert.equal((await dig(server.port, 'web.marathon.mesos')).answers.length, 1);
  });

  it('reads upstreams from resolv.conf and from host:port', () => {
    assert.deepEqual(parseResolvConf('# x\nnameserver 10.0.0.2\nsearch a\nnameserver ::1\n'), [
      { host: '10.0.0.2', port: 53 },
      { host: '::1', port: 53 },
    ]);
    assert.deepEqual(parseUpstream('127.0.0.1:5353'), { host: '127.0.0.1', port: 5353 });
    assert.deepEqual(parseUpstream('127.0.0.1'), { host: '127.0.0.1', port: 53 });
  });
});
