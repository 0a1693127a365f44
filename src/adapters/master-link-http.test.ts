import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { encodeRecord } from '../base/recordio.js';
import type { AgentCommand } from '../model/agent-protocol.js';
import { HttpMasterLink } from './master-link-http.js';

let server: Server;
let port: number;
const bodies: unknown[] = [];
let streamRes: ServerResponse | undefined;
let streamReply: { status: number; body: string } | undefined;

before(async () => {
  server = createServer((req, res) => {
    let text = '';
    req.on('data', (c) => {
      text += c;
    });
    req.on('end', () => {
      const body = JSON.parse(text);
      bodies.push(body);
      if (req.url === '/master/internal/agent') {
        if (body.type === 'PING' && body.agent_id.value === 'unknown') {
          res.writeHead(404, { 'Content-Type': 'text/plain' });
          res.end('Agent unknown is not registered');
        } else if (body.type === 'PING' && body.agent_id.value === 'slow') {
          // never answers
        } else {
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ agent_id: { value: 'a1' }, master_id: 'm', ping_interval_seconds: 15 }));
        }
      } else if (req.url === '/master/internal/agent/stream') {
        if (streamReply) {
          res.writeHead(streamReply.status, { 'Content-Type': 'application/json' });
          res.end(streamReply.body);
          return;
        }
        res.writeHead(200, { 'Content-Type': 'application/recordio' });
        res.flushHeaders();
        streamRes = res;
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

async function until(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('HTTP master link', () => {
  test('a call posts the JSON body and returns status and parsed JSON', async () => {
    const link = new HttpMasterLink({ master: `127.0.0.1:${port}` });
    const r = await link.call({ type: 'REGISTER', agent_info: { hostname: 'h', resources: [] }, ip: '127.0.0.1', version: 'v' });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { agent_id: { value: 'a1' }, master_id: 'm', ping_interval_seconds: 15 });
    assert.equal((bodies.at(-1) as { type: string }).type, 'REGISTER');
    link.close();
  });

  test('an error status comes back as a reply with the text body', async () => {
    const link = new HttpMasterLink({ master: `http://127.0.0.1:${port}` });
    const r = await link.call({ type: 'PING', agent_id: { value: 'unknown' } });
    assert.deepEqual(r, { status: 404, body: 'Agent unknown is not registered' });
    link.close();
  });

  test('a call without an answer rejects after the timeout', async () => {
    const link = new HttpMasterLink({ master: `127.0.0.1:${port}`, callTimeoutMs: 200 });
    await assert.rejects(link.call({ type: 'PING', agent_id: { value: 'slow' } }), /did not answer within 200 ms/);
    link.close();
  });

  test('an unreachable master rejects', async () => {
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const deadPort = (dead.address() as AddressInfo).port;
    await new Promise((r) => dead.close(r));
    const link = new HttpMasterLink({ master: `127.0.0.1:${deadPort}` });
    await assert.rejects(link.call({ type: 'PING', agent_id: { value: 'a' } }), /ECONNREFUSED/);
    link.close();
  });

  test('the stream decodes RecordIO commands split across chunks, and reports its end once', async () => {
    streamReply = undefined;
    const link = new HttpMasterLink({ master: `127.0.0.1:${port}` });
    const got: AgentCommand[] = [];
    let closes = 0;
    const s = await link.subscribe(
      'a1',
      (c) => got.push(c),
      () => closes++,
    );
    assert.ok(!('status' in s));
    assert.deepEqual(bodies.at(-1), { type: 'SUBSCRIBE', agent_id: { value: 'a1' } });
    await until(() => streamRes !== undefined);
    const two = encodeRecord(JSON.stringify({ type: 'PING' })) + encodeRecord(JSON.stringify({ type: 'SHUTDOWN_FRAMEWORK', framework_id: { value: 'f€' } }));
    const bytes = Buffer.from(two);
    streamRes!.write(bytes.subarray(0, 5));
    streamRes!.write(bytes.subarray(5, bytes.length - 3));
    await new Promise((r) => setTimeout(r, 20));
    streamRes!.write(bytes.subarray(bytes.length - 3));
    await until(() => got.length === 2);
    assert.deepEqual(got, [{ type: 'PING' }, { type: 'SHUTDOWN_FRAMEWORK', framework_id: { value: 'f€' } }]);
    streamRes!.end();
    await until(() => closes === 1);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(closes, 1);
    link.close();
  });

  test('closing the stream from the agent side ends it and fires onClose', async () => {
    streamReply = undefined;
    streamRes = undefined;
    const link = new HttpMasterLink({ master: `127.0.0.1:${port}` });
    let closes = 0;
    const s = await link.subscribe(
      'a1',
      () => {},
      () => closes++,
    );
    await until(() => streamRes !== undefined);
    let serverSawClose = false;
    streamRes!.on('close', () => {
      serverSawClose = true;
    });
    if ('close' in s) s.close();
    await until(() => serverSawClose && closes === 1);
    link.close();
  });

  test("a refused stream resolves with the master's reply", async () => {
    streamReply = { status: 409, body: '"Agent must reregister"' };
    const link = new HttpMasterLink({ master: `127.0.0.1:${port}` });
    let closes = 0;
    const r = await link.subscribe(
      'a1',
      () => {},
      () => closes++,
    );
    assert.deepEqual(r, { status: 409, body: 'Agent must reregister' });
    assert.equal(closes, 0);
    streamReply = undefined;
    link.close();
  });

  test('a bad master address is refused at construction', () => {
    assert.throws(() => new HttpMasterLink({ master: 'localhost' }), /host:port/);
  });
});
