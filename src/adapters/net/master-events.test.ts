import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { test } from 'node:test';
import { encodeRecord } from '../../base/recordio.js';
import { followMasterEvents, type OperatorEventJson } from './master-events.js';

/**
 * A master stand-in speaking the operator SUBSCRIBE stream (RecordIO of JSON). The follower gets
 * the snapshot and events; when the stream drops it reconnects and gets a fresh snapshot.
 */
test('follows SUBSCRIBE over HTTP and starts again from a fresh snapshot after a drop', async () => {
  const streams: ServerResponse[] = [];
  const calls: string[] = [];
  let generation = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      calls.push(`${req.method} ${req.url} ${req.headers.accept} ${body}`);
      generation++;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write(encodeRecord(JSON.stringify({ type: 'SUBSCRIBED', subscribed: { get_state: { generation }, heartbeat_interval_seconds: 15 } })));
      streams.push(res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const snapshots: unknown[] = [];
  const events: OperatorEventJson[] = [];
  const f = followMasterEvents({
    master: `127.0.0.1:${port}`,
    onSnapshot: (s) => snapshots.push(s),
    onEvent: (e) => events.push(e),
    log: () => {},
    retryMs: 50,
  });
  await f.ready;
  assert.deepEqual(snapshots, [{ generation: 1 }]);
  assert.equal(calls[0], 'POST /api/v1 application/json {"type":"SUBSCRIBE"}');

  // Events, one split across two chunks; heartbeats are not passed on.
  const ev = encodeRecord(JSON.stringify({ type: 'TASK_ADDED', task_added: { task: { name: 'x' } } }));
  const s0 = streams[0] as ServerResponse;
  s0.write(encodeRecord(JSON.stringify({ type: 'HEARTBEAT' })));
  s0.write(ev.slice(0, 7));
  await new Promise((r) => setTimeout(r, 20));
  s0.write(ev.slice(7));
  const until = async (what: string, ok: () => boolean) => {
    const end = Date.now() + 3_000;
    while (!ok()) {
      if (Date.now() > end) throw new Error(`timed out: ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  await until('the event', () => events.length === 1);
  assert.equal(events[0]?.type, 'TASK_ADDED');

  // The master goes away mid-stream: a new SUBSCRIBE, a fresh snapshot.
  s0.destroy();
  await until('a second snapshot', () => snapshots.length === 2);
  assert.deepEqual(snapshots[1], { generation: 2 });
  assert.equal(f.counters.connects, 2);

  f.stop();
  for (const s of streams) s.destroy();
  await new Promise((r) => server.close(r));
});

test('an HTTP error is retried, not fatal', async () => {
  let n = 0;
  const server = createServer((_req, res) => {
    n++;
    if (n === 1) {
      res.writeHead(503).end('not the leader yet');
      return;
    }
    res.writeHead(200);
    res.write(encodeRecord(JSON.stringify({ type: 'SUBSCRIBED', subscribed: { get_state: { ok: true } } })));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const logs: string[] = [];
  const f = followMasterEvents({ master: `http://127.0.0.1:${port}`, onSnapshot: () => {}, onEvent: () => {}, log: (_l, m) => logs.push(m), retryMs: 20 });
  await f.ready;
  assert.equal(n, 2);
  assert.match(logs[0] ?? '', /HTTP 503/);
  f.stop();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});
