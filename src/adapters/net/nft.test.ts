import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * The real NftDataPath in a network namespace of the test's own (so the host's route and tables
 * are untouched), with a 50-port ephemeral range so port exhaustion shows in a few seconds:
 * sequential connections to a VIP for 3 s, each a 1-byte echo closed by the client (so the
 * client keeps the TIME_WAIT socket). Reports the local addresses seen, successes and errors.
 */
const CHILD = `
import { connect, createServer } from 'node:net';
const [nftUrl, vipUrl, src] = process.argv.slice(1);
const { NftDataPath } = await import(nftUrl);
const { parseRange } = await import(vipUrl);
const server = createServer((s) => { s.on('data', () => s.write('from-backend')); s.on('error', () => {}); });
await new Promise((r) => server.listen(7100, '127.0.0.2', r));
const nft = new NftDataPath({ range: parseRange('11.0.0.0/8'), table: 'dcos_vip_test', ...(src === '-' ? {} : { src }) });
await nft.start();
await nft.apply([{ label: '/t:80', kind: 'named', protocol: 'tcp', ip: '11.0.0.10', port: 80, frameworks: [], backends: [{ ip: '127.0.0.2', port: 7100, taskId: 't', agentId: 'a' }] }]);
const locals = new Set(); const errors = {}; let ok = 0; // errors: body or error code → count
const one = () => new Promise((resolve) => {
  const s = connect({ host: '11.0.0.10', port: 80 });
  let body = '';
  s.once('connect', () => { locals.add(s.localAddress); s.write('x'); });
  s.on('data', (d) => { body += d; if (body === 'from-backend') { ok++; s.end(); } });
  s.once('close', () => { if (body !== 'from-backend') errors[body] = (errors[body] ?? 0) + 1; resolve(body === 'from-backend'); });
  s.once('error', (e) => { body = e.code; });
});
const end = Date.now() + 3000;
while (Date.now() < end) if (!(await one())) await new Promise((r) => setTimeout(r, 50));
await nft.stop();
server.close();
process.stdout.write(JSON.stringify({ ok, locals: [...locals], errors }));
`;

async function unavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'not root';
  try {
    await run('nft', ['--version']);
    await run('ip', ['-V']);
    return undefined;
  } catch (e) {
    return `nft or ip missing: ${(e as Error).message}`;
  }
}

describe('NftDataPath local route source (in a private network namespace)', async () => {
  const skip = await unavailable();
  const nsBase = `nftsrc${process.pid % 100000}`;
  const made: string[] = [];
  after(async () => {
    for (const ns of made) await run('ip', ['netns', 'del', ns]).catch(() => {});
  });

  async function inNamespace(src: string): Promise<{ ok: number; locals: string[]; errors: Record<string, number> }> {
    const ns = `${nsBase}${made.length}`;
    made.push(ns);
    await run('ip', ['netns', 'add', ns]);
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    await run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.ip_local_port_range=40000 40049']);
    await run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.tcp_tw_reuse=2']);
    const nftUrl = new URL('./nft.js', import.meta.url).href;
    const vipUrl = new URL('../../core/vip/index.js', import.meta.url).href;
    const r = await run('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', CHILD, nftUrl, vipUrl, src], { timeout: 30_000 });
    return JSON.parse(r.stdout);
  }

  test('with src 127.0.0.1, local clients of a VIP get 127.0.0.1 as source and TIME_WAIT ports are reused', { skip }, async () => {
    const r = await inNamespace('127.0.0.1');
    console.log(`# with src: ${JSON.stringify(r)}`);
    assert.deepEqual(r.locals, ['127.0.0.1']);
    // 50 ports; tcp_tw_reuse=2 hands a TIME_WAIT port out again a second later, so 3 s give
    // well over 50 connections. Every success got the backend's answer.
    assert.ok(r.ok > 75, `only ${r.ok} connections in 3 s over 50 ports (errors ${JSON.stringify(r.errors)})`);
  });

  test('without a preferred source the VIP is the source, and the port range runs out', { skip }, async () => {
    const r = await inNamespace('-');
    console.log(`# without src: ${JSON.stringify(r)}`);
    assert.deepEqual(r.locals, ['11.0.0.10']);
    assert.ok(r.ok <= 50, `${r.ok} connections over 50 ports`);
    assert.ok((r.errors.EADDRNOTAVAIL ?? 0) > 0, JSON.stringify(r.errors));
  });
});
