import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_DNS_CONFIG, Zone } from '../../core/dns/index.js';
import { DnsForwarder } from './forwarder.js';
import { DnsServer } from './server.js';
import { dig } from './testing.js';

describe('DNS forwarder (dig over UDP and TCP, through a real DnsServer)', () => {
  const zone = new Zone();
  let server: DnsServer;
  let fwd: DnsForwarder;

  before(async () => {
    zone.put('t1', [
      { name: 'web.marathon.mesos', type: 'A', ip: '127.0.0.2' },
      ...Array.from({ length: 60 }, (_, i) => ({ name: 'big.marathon.mesos', type: 'A' as const, ip: `10.1.0.${i}` })),
    ]);
    server = new DnsServer({ zone, config: DEFAULT_DNS_CONFIG, host: '127.0.0.1', port: 0, upstreams: [] });
    await server.start();
    fwd = new DnsForwarder({ host: '127.0.0.1', port: 0, upstream: { host: '127.0.0.1', port: server.port }, timeoutMs: 1000 });
    await fwd.start();
  });
  after(async () => {
    await fwd.stop();
    await server.close();
  });

  it('relays a query and its answer over UDP and over TCP', async () => {
    const u = await dig(fwd.port, 'web.marathon.mesos');
    assert.equal(u.status, 'NOERROR');
    assert.ok(u.flags.includes('aa'), 'the answer is the cluster DNS answer, unchanged');
    assert.deepEqual(
      u.answers.map((a) => a.data),
      ['127.0.0.2'],
    );
    const t = await dig(fwd.port, 'web.marathon.mesos', 'A', ['+tcp']);
    assert.deepEqual(
      t.answers.map((a) => a.data),
      ['127.0.0.2'],
    );
    const nx = await dig(fwd.port, 'nope.marathon.mesos');
    assert.equal(nx.status, 'NXDOMAIN');
    assert.ok(fwd.stats.udp >= 2 && fwd.stats.tcp >= 1);
  });

  it('a truncated UDP answer is retried over TCP in full', async () => {
    const r = await dig(fwd.port, 'big.marathon.mesos');
    assert.equal(r.answers.length, 60);
  });

  it('a second forwarder cannot take the same address and port', async () => {
    const other = new DnsForwarder({ host: '127.0.0.1', port: fwd.port, upstream: { host: '127.0.0.1', port: server.port } });
    await assert.rejects(other.start(), /EADDRINUSE/);
    assert.equal(other.listening, false);
  });

  it('an upstream that does not answer leaves the client to time out (no answer made up)', async () => {
    const dead = new DnsForwarder({ host: '127.0.0.1', port: 0, upstream: { host: '127.0.0.1', port: 9 }, timeoutMs: 300 });
    await dead.start();
    try {
      await assert.rejects(dig(dead.port, 'web.marathon.mesos'));
    } finally {
      await dead.stop();
    }
  });
});
