import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { connect, createServer, type Server } from 'node:net';
import { after, describe, test } from 'node:test';
import type { Vip } from '../../core/vip/index.js';
import { ProxyDataPath } from './proxy.js';

const HOST = '127.0.0.1';

/** A UDP server answering every datagram with "<name>:<datagram>". */
async function udpEcho(name: string): Promise<{ socket: Socket; port: number; seen: string[] }> {
  const socket = createSocket('udp4');
  const seen: string[] = [];
  socket.on('message', (m, from) => {
    seen.push(`${from.port}:${m}`);
    socket.send(`${name}:${m}`, from.port, from.address);
  });
  await new Promise<void>((r) => socket.bind(0, HOST, () => r()));
  return { socket, port: socket.address().port, seen };
}

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, HOST, () => r()));
  const p = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

/** A client socket of its own (its own source port = its own flow). */
async function client(): Promise<{ ask(msg: string, timeoutMs?: number): Promise<string | undefined>; close(): void }> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, HOST, () => r()));
  return {
    ask(msg, timeoutMs = 1_000) {
      return new Promise((resolve) => {
        const t = setTimeout(() => {
          s.off('message', on);
          resolve(undefined);
        }, timeoutMs);
        const on = (m: Buffer) => {
          clearTimeout(t);
          s.off('message', on);
          resolve(String(m));
        };
        s.on('message', on);
        s.send(msg, vipPort, HOST);
      });
    },
    close: () => s.close(),
  };
}

let vipPort = 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function udpVip(port: number, backends: { port: number }[]): Vip {
  return {
    label: '/dns:53',
    kind: 'named',
    protocol: 'udp',
    ip: HOST,
    port,
    frameworks: ['marathon'],
    backends: backends.map((b, i) => ({ ip: HOST, port: b.port, taskId: `t${i}`, agentId: 'a' })),
  };
}

describe('userspace VIP proxy, UDP', () => {
  const closers: (() => unknown)[] = [];
  after(async () => {
    for (const c of closers) await c();
  });

  test('spreads new client flows over the backends; a client stays on its backend; replies come from the VIP', async () => {
    const a = await udpEcho('A');
    const b = await udpEcho('B');
    closers.push(
      () => a.socket.close(),
      () => b.socket.close(),
    );
    vipPort = await freeUdpPort();
    const proxy = new ProxyDataPath(() => {});
    closers.push(() => proxy.stop());
    await proxy.apply([udpVip(vipPort, [a, b])]);
    const per = new Map<string, number>();
    for (let i = 0; i < 6; i++) {
      const c = await client();
      const first = await c.ask(`c${i}-0`);
      assert.ok(first, `client ${i} got no answer`);
      const backend = first.split(':')[0] as string;
      assert.equal(first, `${backend}:c${i}-0`);
      for (let j = 1; j < 4; j++) assert.equal(await c.ask(`c${i}-${j}`), `${backend}:c${i}-${j}`, 'a flow stays on its backend');
      per.set(backend, (per.get(backend) ?? 0) + 1);
      c.close();
    }
    assert.deepEqual([...per.entries()].sort(), [
      ['A', 3],
      ['B', 3],
    ]);
    assert.equal(proxy.udpFlows(`${HOST}:${vipPort}`), 6);
    assert.equal(proxy.counters.udpFlows, 6);
    assert.equal(proxy.counters.udpDatagrams, 24);
    // Each flow has one source port at the backend, whatever the client count.
    assert.equal(new Set(a.seen.map((x) => x.split(':')[0])).size, 3);
    await proxy.stop();
  });

  test('idle flows expire; the table is bounded (least recently used goes); a backend leaving closes its flows', async () => {
    const a = await udpEcho('A');
    const b = await udpEcho('B');
    closers.push(
      () => a.socket.close(),
      () => b.socket.close(),
    );
    vipPort = await freeUdpPort();
    const proxy = new ProxyDataPath(() => {}, { udpIdleMs: 150, udpMaxFlows: 2 });
    closers.push(() => proxy.stop());
    const key = `${HOST}:${vipPort}`;
    await proxy.apply([udpVip(vipPort, [a, b])]);

    // Idle timeout.
    const c1 = await client();
    assert.match((await c1.ask('x')) ?? '', /^[AB]:x$/);
    assert.equal(proxy.udpFlows(key), 1);
    const deadline = Date.now() + 3_000;
    while (proxy.udpFlows(key) > 0 && Date.now() < deadline) await sleep(20);
    assert.equal(proxy.udpFlows(key), 0, 'an idle flow is closed');
    assert.equal(proxy.counters.udpExpired, 1);
    // The client still gets answers after its flow expired (a new flow).
    assert.match((await c1.ask('y')) ?? '', /^[AB]:y$/);

    // Bound: a third client evicts the least recently used flow.
    const c2 = await client();
    const c3 = await client();
    assert.ok(await c2.ask('2'));
    assert.ok(await c1.ask('1 again')); // c1 is now the most recently used
    assert.ok(await c3.ask('3'));
    assert.equal(proxy.udpFlows(key), 2);
    assert.equal(proxy.counters.udpEvicted, 1);

    // A backend leaves the table: its flows close, and their clients go to the one left.
    const on = ((await c1.ask('which')) ?? '?')[0] as string;
    const [gone, left] = on === 'A' ? [a, b] : [b, a];
    const leftName = on === 'A' ? 'B' : 'A';
    const flowsBefore = proxy.counters.udpFlows;
    await proxy.apply([udpVip(vipPort, [left])]);
    assert.equal(await c1.ask('after'), `${leftName}:after`, `c1 was on ${on} (port ${gone.port}), which left`);
    assert.equal(proxy.counters.udpFlows, flowsBefore + 1, 'c1 got a new flow');
    assert.match((await c3.ask('after')) ?? '', new RegExp(`^${leftName}:after$`));

    // No backend: datagrams are dropped, not answered.
    await proxy.apply([udpVip(vipPort, [])]);
    const dropped = proxy.counters.udpDropped;
    const c4 = await client();
    assert.equal(await c4.ask('nobody', 300), undefined);
    assert.equal(proxy.counters.udpDropped, dropped + 1);

    // The VIP removed: its socket closes (the port can be bound again).
    await proxy.apply([]);
    const again = createSocket('udp4');
    await new Promise<void>((r, j) => {
      again.once('error', j);
      again.bind(vipPort, HOST, () => r());
    });
    again.close();
    for (const c of [c1, c2, c3, c4]) c.close();
    await proxy.stop();
  });
});

describe('userspace VIP proxy, TCP', () => {
  test('connections go round-robin to the backends', async () => {
    const servers: Server[] = [];
    const ports: number[] = [];
    for (const name of ['A', 'B']) {
      const s = createServer((c) => c.end(name));
      await new Promise<void>((r) => s.listen(0, HOST, () => r()));
      servers.push(s);
      ports.push((s.address() as { port: number }).port);
    }
    const tmp = createServer();
    await new Promise<void>((r) => tmp.listen(0, HOST, () => r()));
    const port = (tmp.address() as { port: number }).port;
    await new Promise((r) => tmp.close(r));
    const proxy = new ProxyDataPath(() => {});
    await proxy.apply([
      {
        ...udpVip(
          port,
          ports.map((p) => ({ port: p })),
        ),
        protocol: 'tcp',
      },
    ]);
    const got: string[] = [];
    for (let i = 0; i < 4; i++) {
      got.push(
        await new Promise<string>((resolve, reject) => {
          let body = '';
          const c = connect({ host: HOST, port });
          c.on('data', (d) => {
            body += d;
          });
          c.on('end', () => resolve(body));
          c.on('error', reject);
        }),
      );
    }
    assert.deepEqual(got.sort(), ['A', 'A', 'B', 'B']);
    await proxy.stop();
    for (const s of servers) s.close();
  });
});
