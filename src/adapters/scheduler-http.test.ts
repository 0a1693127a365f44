import assert from 'node:assert/strict';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { encodeRecord } from '../base/recordio.js';
import type { EventSink } from '../ports/sink.js';
import { HttpSchedulerTransport, parseMasterUrl } from './scheduler-http.js';

/** Collects events; records when it was closed. */
class ListSink implements EventSink {
  readonly events: Record<string, any>[] = [];
  closed = false;
  private readonly fns: (() => void)[] = [];
  closedAt = 0;
  send(e: unknown): boolean {
    if (this.closed) return false;
    this.events.push(e as Record<string, any>);
    return true;
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closedAt = Date.now();
    for (const f of this.fns.splice(0)) f();
  }
  onClose(fn: () => void): void {
    if (this.closed) fn();
    else this.fns.push(fn);
  }
}

async function serve(handler: (req: IncomingMessage, body: string, res: ServerResponse) => void): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString('utf8');
    });
    req.on('end', () => handler(req, body, res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const until = async (what: string, fn: () => boolean, ms = 3000): Promise<void> => {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('HttpSchedulerTransport (the v1 scheduler HTTP API, client side)', () => {
  test('SUBSCRIBE decodes RecordIO split across writes; later calls carry the Mesos-Stream-Id the master gave', async () => {
    const calls: { headers: IncomingMessage['headers']; body: any }[] = [];
    const { server, url } = await serve((req, body, res) => {
      const call = JSON.parse(body);
      if (call.type === 'SUBSCRIBE') {
        assert.equal(req.headers['mesos-stream-id'], undefined);
        res.writeHead(200, { 'Content-Type': 'application/json', 'Mesos-Stream-Id': 'sid-42' });
        const a = encodeRecord(JSON.stringify({ type: 'SUBSCRIBED', subscribed: { framework_id: { value: 'fw' }, heartbeat_interval_seconds: 15 } }));
        const b = encodeRecord(JSON.stringify({ type: 'HEARTBEAT' }));
        const both = a + b;
        res.write(both.slice(0, 7));
        setTimeout(() => res.write(both.slice(7)), 20);
        return;
      }
      calls.push({ headers: req.headers, body: call });
      res.writeHead(202);
      res.end();
    });
    const t = new HttpSchedulerTransport({ master: url });
    const sink = new ListSink();
    assert.equal(await t.subscribe({ type: 'SUBSCRIBE', subscribe: { framework_info: { user: 'u', name: 'n' } } }, sink), undefined);
    await until('two events', () => sink.events.length === 2);
    assert.deepEqual(
      sink.events.map((e) => e.type),
      ['SUBSCRIBED', 'HEARTBEAT'],
    );
    assert.equal(t.currentStreamId, 'sid-42');
    const r = await t.call({ type: 'REVIVE', framework_id: { value: 'fw' } });
    assert.equal(r.status, 202);
    assert.equal(calls[0]?.headers['mesos-stream-id'], 'sid-42');
    assert.equal(calls[0]?.body.type, 'REVIVE');
    // Closing the sink (Marathon stopping) drops the stream.
    sink.close();
    await until('no stream', () => t.currentStreamId === undefined);
    assert.deepEqual(await t.call({ type: 'REVIVE' }), { status: 503, body: 'not subscribed' });
    t.close();
    server.closeAllConnections();
    server.close();
  });

  test('a stream silent past 3 heartbeat intervals is dropped (the sink closes); so is one the master ends', async () => {
    const { server, url } = await serve((_req, _body, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Mesos-Stream-Id': 's' });
      res.write(encodeRecord(JSON.stringify({ type: 'SUBSCRIBED', subscribed: { framework_id: { value: 'fw' }, heartbeat_interval_seconds: 0.1 } })));
    });
    const t = new HttpSchedulerTransport({ master: url });
    const sink = new ListSink();
    const t0 = Date.now();
    assert.equal(await t.subscribe({ type: 'SUBSCRIBE' }, sink), undefined);
    await until('closed after missed heartbeats', () => sink.closed);
    assert.ok(sink.closedAt - t0 >= 250, `closed after ${sink.closedAt - t0} ms, not before 3 × 100 ms`);
    const again = new ListSink();
    assert.equal(await t.subscribe({ type: 'SUBSCRIBE' }, again), undefined);
    server.closeAllConnections();
    await until('closed when the master goes', () => again.closed);
    t.close();
    server.close();
  });

  test('a refused SUBSCRIBE comes back as the status and text; an unreachable master as 503', async () => {
    const { server, url } = await serve((_req, _body, res) => {
      res.writeHead(400, { 'Content-Type': 'text/plain' });
      res.end("Failed to validate scheduler::Call: Expecting 'subscribe' to be present");
    });
    const t = new HttpSchedulerTransport({ master: url });
    const sink = new ListSink();
    assert.deepEqual(await t.subscribe({ type: 'SUBSCRIBE' }, sink), {
      status: 400,
      body: "Failed to validate scheduler::Call: Expecting 'subscribe' to be present",
    });
    assert.equal(sink.closed, false, 'a refused subscription never opened, so nothing to close');
    server.close();
    await new Promise((r) => server.once('close', r));
    const gone = await t.subscribe({ type: 'SUBSCRIBE' }, new ListSink());
    assert.equal(gone?.status, 503);
    assert.match(String(gone?.body), /ECONNREFUSED/);
    t.close();
  });

  test('master URLs: http://host:port or host:port', () => {
    assert.deepEqual(parseMasterUrl('http://127.0.0.1:5050'), { host: '127.0.0.1', port: 5050 });
    assert.deepEqual(parseMasterUrl('10.0.0.1:5050/'), { host: '10.0.0.1', port: 5050 });
    assert.throws(() => parseMasterUrl('127.0.0.1'), /host:port/);
    assert.throws(() => parseMasterUrl('h:0'), /invalid port/);
  });
});
