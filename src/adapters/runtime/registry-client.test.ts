/**
 * Registry auth against a small Docker Registry v2 server in this test (127.0.0.1 only): basic
 * auth, bearer tokens from the WWW-Authenticate realm, wrong and missing credentials, and the
 * credentials of a docker config.json (the agent's --docker_config).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RegistryImageStore } from './image-store.js';
import { RegistryClient, loadDockerConfig, parseDockerConfig, parseReference } from './registry-client.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

describe('registry auth', () => {
  const work = mkdtempSync(join(tmpdir(), 'registry-auth-'));
  let server: Server;
  let addr = '';
  let mode: 'basic' | 'bearer' = 'basic';
  const tokenRequests: { auth: string | undefined; service: string | null; scope: string | null }[] = [];
  const issued = new Set<string>();
  const blobs = new Map<string, Buffer>();
  let manifest: Buffer;

  before(async () => {
    const dir = join(work, 'layer');
    mkdirSync(join(dir, 'etc'), { recursive: true });
    writeFileSync(join(dir, 'etc', 'hello'), 'from a private registry\n');
    execFileSync('tar', ['-czf', join(work, 'layer.tgz'), '--numeric-owner', '-C', dir, '.']);
    const layer = readFileSync(join(work, 'layer.tgz'));
    const diffId = sha(execFileSync('gzip', ['-dc', join(work, 'layer.tgz')]));
    const config = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: [diffId] } }),
    );
    blobs.set(sha(layer), layer);
    blobs.set(sha(config), config);
    manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
        config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: config.length, digest: sha(config) },
        layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: layer.length, digest: sha(layer) }],
      }),
    );
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url ?? '/', `http://${addr}`);
      const auth = req.headers.authorization;
      if (url.pathname === '/token') {
        tokenRequests.push({ auth, service: url.searchParams.get('service'), scope: url.searchParams.get('scope') });
        if (auth !== basic('alice', 'secret')) return void res.writeHead(401).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
        const token = `tok-${issued.size + 1}`;
        issued.add(token);
        return void res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token }));
      }
      const ok = mode === 'basic' ? auth === basic('alice', 'secret') : issued.has(auth?.replace(/^Bearer /, '') ?? '');
      if (!ok) {
        const challenge =
          mode === 'basic' ? 'Basic realm="test registry"' : `Bearer realm="http://${addr}/token",service="reg.test",scope="repository:private/app:pull"`;
        return void res.writeHead(401, { 'WWW-Authenticate': challenge, 'Content-Type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      }
      if (url.pathname === '/v2/private/app/manifests/1')
        return void res.writeHead(200, { 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json' }).end(manifest);
      const m = /^\/v2\/private\/app\/blobs\/(sha256:[a-f0-9]{64})$/.exec(url.pathname);
      const blob = m ? blobs.get(m[1] as string) : undefined;
      if (blob) return void res.writeHead(200).end(blob);
      res.writeHead(404).end('{"errors":[{"code":"NOT_FOUND"}]}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const a = server.address();
    addr = `127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  });

  after(() => {
    server?.close();
    for (const m of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
      const t = m.split(' ')[1];
      if (t?.startsWith(work)) execFileSync('umount', ['-l', t]);
    }
    rmSync(work, { recursive: true, force: true });
  });

  const ref = () => parseReference(`${addr}/private/app:1`);

  test('basic auth: the credentials are sent; none or wrong ones fail naming the registry', async () => {
    mode = 'basic';
    const m = await new RegistryClient({ credentials: { [addr]: { username: 'alice', password: 'secret' } } }).manifest(ref());
    assert.equal(m.layers.length, 1);
    await assert.rejects(new RegistryClient().manifest(ref()), new RegExp(`registry ${addr} requires credentials for ${addr}/private/app:1 \\(HTTP 401\\)`));
    await assert.rejects(
      new RegistryClient({ credentials: { [addr]: { username: 'alice', password: 'wrong' } } }).manifest(ref()),
      new RegExp(`registry ${addr} rejected the credentials`),
    );
  });

  test('bearer: a token from the realm (service and scope passed, basic credentials to the token service), then the pull', async () => {
    mode = 'bearer';
    tokenRequests.length = 0;
    const client = new RegistryClient({ credentials: { [addr]: { username: 'alice', password: 'secret' } } });
    const m = await client.manifest(ref());
    const path = join(work, 'blob');
    await client.blob(ref(), m.layers[0]?.digest as string, path);
    assert.equal(sha(readFileSync(path)), m.layers[0]?.digest);
    assert.equal(tokenRequests.length, 1, 'the token is reused for the blob');
    assert.deepEqual(tokenRequests[0], { auth: basic('alice', 'secret'), service: 'reg.test', scope: 'repository:private/app:pull' });
    await assert.rejects(
      new RegistryClient({ credentials: { [addr]: { username: 'alice', password: 'wrong' } } }).manifest(ref()),
      new RegExp(`registry ${addr}: the token service http://${addr} answered HTTP 401`),
    );
  });

  test('a docker config.json (--docker_config) feeds the image store: the whole image is pulled with bearer auth', async () => {
    mode = 'bearer';
    const cfg = join(work, 'config.json');
    writeFileSync(cfg, JSON.stringify({ auths: { [`http://${addr}/v2/`]: { auth: Buffer.from('alice:secret').toString('base64') } } }));
    const store = new RegistryImageStore(join(work, 'images'), { credentials: await loadDockerConfig(cfg) });
    const image = await store.pull(`${addr}/private/app:1`);
    assert.equal(image.layers.length, 1);
    assert.equal(image.manifestDigest, sha(manifest));
    assert.ok(existsSync(join(work, 'images', 'rootfs', image.manifestDigest.slice(7), 'etc', 'hello')));
    const anonymous = new RegistryImageStore(join(work, 'images2'));
    await assert.rejects(anonymous.pull(`${addr}/private/app:1`), /the token service .* answered HTTP 401/);
  });
});

test('docker config.json: auth or username/password, URL keys reduced to hosts, Docker Hub, clear errors', async () => {
  const creds = parseDockerConfig(
    JSON.stringify({
      auths: {
        'https://index.docker.io/v1/': { auth: Buffer.from('hub:pw:with:colons').toString('base64') },
        'registry.example:5000': { username: 'u', password: 'p' },
      },
    }),
  );
  assert.deepEqual(creds, {
    'registry-1.docker.io': { username: 'hub', password: 'pw:with:colons' },
    'registry.example:5000': { username: 'u', password: 'p' },
  });
  assert.throws(() => parseDockerConfig('{'), /is not JSON/);
  assert.throws(() => parseDockerConfig('{"credsStore":"x"}'), /has no "auths" object/);
  assert.throws(() => parseDockerConfig('{"auths":{"r":{}}}'), /'r' has neither "auth" nor "username" and "password"/);
  assert.throws(() => parseDockerConfig(`{"auths":{"r":{"auth":"${Buffer.from('nocolon').toString('base64')}"}}}`), /not base64 of user:password/);
  await assert.rejects(loadDockerConfig('/nonexistent/config.json'), /--docker_config: cannot read \/nonexistent\/config.json: ENOENT/);
  assert.deepEqual(await loadDockerConfig('{"auths":{"r:1":{"username":"a","password":"b"}}}'), { 'r:1': { username: 'a', password: 'b' } });
});
