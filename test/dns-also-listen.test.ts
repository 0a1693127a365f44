import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { after, describe, test } from 'node:test';
import { dig } from '../src/adapters/dns/testing.js';
import { type RunningMaster, startMaster } from '../src/main/master.js';
import { QUIET } from './lib/mesos.js';

/** A UDP port on 127.0.0.1 held by someone else for the test's duration. */
async function holdUdpPort(): Promise<{ port: number; close: () => void }> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return { port: s.address().port, close: () => s.close() };
}

describe('--dns_also_listen: a second address for the cluster DNS', () => {
  const masters: RunningMaster[] = [];
  after(async () => {
    for (const m of masters) await m.stop();
  });

  test('answers the same zone on the second address', async () => {
    const free = await holdUdpPort();
    free.close(); // a port that was just free
    const logs: string[] = [];
    const m = await startMaster({
      port: 0,
      store: 'memory',
      dnsPort: 0,
      dnsHttpPort: 0,
      dnsResolvers: [],
      dnsAlsoListen: `127.0.0.1:${free.port}`,
      config: QUIET,
      log: (l, msg) => logs.push(`${l} ${msg}`),
    });
    masters.push(m);
    assert.equal(m.dns?.alsoListen, `127.0.0.1:${free.port}`, logs.join('\n'));
    assert.deepEqual(
      (await dig(free.port, 'leader.mesos')).answers.map((a) => a.data),
      ['127.0.0.1'],
    );
    assert.deepEqual(
      (await dig(m.dns?.dnsPort ?? 0, 'leader.mesos')).answers.map((a) => a.data),
      ['127.0.0.1'],
    );
  });

  test('when the address cannot be bound the DNS still runs on its own port, with a warning', async () => {
    const held = await holdUdpPort();
    const logs: string[] = [];
    try {
      const m = await startMaster({
        port: 0,
        store: 'memory',
        dnsPort: 0,
        dnsHttpPort: 0,
        dnsResolvers: [],
        dnsAlsoListen: `127.0.0.1:${held.port}`,
        config: QUIET,
        log: (l, msg) => logs.push(`${l} ${msg}`),
      });
      masters.push(m);
      assert.equal(m.dns?.alsoListen, undefined);
      assert.ok(
        logs.some((l) => l.startsWith('warn') && l.includes(`not also on 127.0.0.1:${held.port}`)),
        logs.join('\n'),
      );
      assert.equal((await dig(m.dns?.dnsPort ?? 0, 'leader.mesos')).status, 'NOERROR');
    } finally {
      held.close();
    }
  });
});
