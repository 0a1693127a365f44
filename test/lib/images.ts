/**
 * Images for the container tests: Debian's docker-registry on loopback with a config of our own,
 * and a one-layer busybox image pushed to it over plain HTTP; image archives built with tar and
 * sha256 only (`docker save` and OCI image layouts) for `dcos image load`.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

/** Starts the registry with its storage under `work`; resolves once it answers /v2/. */
export async function startRegistry(work: string, registryBin: string): Promise<{ child: ChildProcess; addr: string }> {
  const port = await freePort();
  const addr = `127.0.0.1:${port}`;
  const cfg = join(work, 'registry.yml');
  writeFileSync(
    cfg,
    `version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: ${join(work, 'registry')}}, delete: {enabled: true}}\nhttp: {addr: ${addr}}\n`,
  );
  const child = spawn(registryBin, ['serve', cfg], { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    const ok = await fetch(`http://${addr}/v2/`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return { child, addr };
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error('the registry did not start');
}

/**
 * Builds a one-layer image from busybox-static and pushes it over plain HTTP (upload, PUT with
 * the digest, PUT the manifest). `corrupt`: the registry stores a layer whose content does not
 * match the digest the manifest names (its blob is overwritten on disk after the push).
 */
export async function pushBusybox(
  work: string,
  busybox: string,
  registry: string,
  repo: string,
  tag: string,
  corrupt: boolean,
  extra: { user?: string; workingDir?: string; files?: Record<string, string>; executables?: Record<string, Uint8Array> } = {},
): Promise<void> {
  const dir = mkdtempSync(join(work, 'img-'));
  const rootfs = join(dir, 'rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  execFileSync('cp', [busybox, join(rootfs, 'bin', 'busybox')]);
  execFileSync('chroot', [rootfs, '/bin/busybox', '--install', '-s', '/bin']);
  for (const d of ['proc', 'sys', 'dev', 'tmp', 'etc', 'mnt/mesos/sandbox']) mkdirSync(join(rootfs, d), { recursive: true });
  // Its own layer digest: the registry stores blobs by content, and only this image's may be corrupted.
  writeFileSync(join(rootfs, 'etc', 'image-name'), `${repo}:${tag}\n`);
  for (const [p, text] of Object.entries(extra.files ?? {})) writeFileSync(join(rootfs, p), text);
  for (const [p, bytes] of Object.entries(extra.executables ?? {})) writeFileSync(join(rootfs, p), bytes, { mode: 0o755 });
  const layerPath = join(dir, 'layer.tar.gz');
  execFileSync('tar', ['-czf', layerPath, '--numeric-owner', '-C', rootfs, '.']);
  const layer = readFileSync(layerPath);
  const diffId = `sha256:${createHash('sha256')
    .update(execFileSync('gzip', ['-dc', layerPath], { maxBuffer: 64 << 20 }))
    .digest('hex')}`;
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {
        Env: ['PATH=/bin'],
        Cmd: ['/bin/sh'],
        ...(extra.user ? { User: extra.user } : {}),
        ...(extra.workingDir ? { WorkingDir: extra.workingDir } : {}),
      },
      rootfs: { type: 'layers', diff_ids: [diffId] },
    }),
  );
  const base = `http://${registry}/v2/${repo}`;
  const upload = async (blob: Buffer): Promise<string> => {
    const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
    const start = await fetch(`${base}/blobs/uploads/`, { method: 'POST' });
    assert.equal(start.status, 202, `upload start: ${start.status}`);
    const loc = new URL(start.headers.get('location') as string, `http://${registry}`);
    loc.searchParams.set('digest', digest);
    const put = await fetch(loc, { method: 'PUT', body: blob, headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(put.status, 201, `blob put: ${put.status} ${await put.text()}`);
    return digest;
  };
  const layerDigest = await upload(layer);
  const configDigest = await upload(config);
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: config.length, digest: configDigest },
    layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: layer.length, digest: layerDigest }],
  };
  const res = await fetch(`${base}/manifests/${tag}`, {
    method: 'PUT',
    body: JSON.stringify(manifest),
    headers: { 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json' },
  });
  assert.equal(res.status, 201, `manifest put: ${res.status} ${await res.text()}`);
  if (corrupt) {
    const hex = layerDigest.slice(7);
    const data = join(work, 'registry', 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
    const bad = Buffer.from(layer);
    bad[bad.length - 20] = (bad[bad.length - 20] ?? 0) ^ 0xff;
    writeFileSync(data, bad);
  }
}

/** Every cgroup directory named `rel` (e.g. `<root>/<container>`): each v1 hierarchy, or the v2 mount. */
export function cgroupDirsNamed(rel: string): string[] {
  const out = new Set<string>();
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const fstype = line.slice(sep + 3).split(' ')[0];
    const point = line.slice(0, sep).split(' ')[4];
    if ((fstype === 'cgroup' || fstype === 'cgroup2') && point) out.add(join(point, rel));
  }
  return [...out];
}

/** Lazily unmounts every mount under `dir` (rootfs overlays a failed test left behind). */
export function unmountUnder(dir: string): void {
  const targets = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((m) => m.split(' ')[1])
    .filter((t): t is string => t?.startsWith(`${dir}/`) === true);
  for (const t of targets.reverse()) {
    try {
      execFileSync('umount', ['-l', t], { stdio: 'ignore' });
    } catch {
      // gone meanwhile
    }
  }
}

/**
 * Removes a cgroup directory tree, deepest first, killing what is left in it. A process that was
 * just killed can keep a cgroup busy for a moment (EBUSY): the removal is retried for a while.
 */
export async function removeCgroupTree(dir: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (!existsSync(dir)) return;
    const all: string[] = [];
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
      all.push(d);
    };
    walk(dir);
    try {
      for (const d of all) {
        for (const pid of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            // already gone
          }
        }
        execFileSync('rmdir', [d], { stdio: 'ignore' });
      }
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

// --- image archives -------------------------------------------------------------------------

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** A root filesystem: busybox-static installed into /bin (when given), plus files of our own. */
export function makeRootfs(dir: string, files: Record<string, string>, busybox?: string): string {
  const rootfs = join(dir, 'rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  if (busybox) {
    execFileSync('cp', [busybox, join(rootfs, 'bin', 'busybox')]);
    execFileSync('chroot', [rootfs, '/bin/busybox', '--install', '-s', '/bin']);
  }
  for (const d of ['proc', 'sys', 'dev', 'tmp', 'etc', 'mnt/mesos/sandbox']) mkdirSync(join(rootfs, d), { recursive: true });
  for (const [p, text] of Object.entries(files)) writeFileSync(join(rootfs, p), text);
  return rootfs;
}

function layerOf(rootfs: string, dir: string): { tar: Buffer; diffId: string } {
  const path = join(dir, `layer-${Math.random().toString(36).slice(2)}.tar`);
  execFileSync('tar', ['-cf', path, '--numeric-owner', '-C', rootfs, '.']);
  const tar = readFileSync(path);
  return { tar, diffId: `sha256:${sha(tar)}` };
}

function configOf(diffId: string): Buffer {
  return Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Env: ['PATH=/bin'], Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: [diffId] } }),
  );
}

/** A `docker save`-style tarball (manifest.json, <config>.json, <id>/layer.tar). `corrupt`: the layer is changed after hashing. */
export function dockerSaveArchive(work: string, rootfs: string, repoTag: string, corrupt = false): string {
  const dir = mkdtempSync(join(work, 'save-'));
  const { tar, diffId } = layerOf(rootfs, dir);
  const config = configOf(diffId);
  const out = join(dir, 'out');
  const layerId = sha(`layer ${diffId}`);
  mkdirSync(join(out, layerId), { recursive: true });
  const layer = Buffer.from(tar);
  if (corrupt) layer[layer.length - 2000] = (layer[layer.length - 2000] ?? 0) ^ 0xff;
  writeFileSync(join(out, layerId, 'layer.tar'), layer);
  writeFileSync(join(out, `${sha(config)}.json`), config);
  writeFileSync(join(out, 'manifest.json'), JSON.stringify([{ Config: `${sha(config)}.json`, RepoTags: [repoTag], Layers: [`${layerId}/layer.tar`] }]));
  const archive = join(work, `${repoTag.replace(/[^a-z0-9]/gi, '_')}${corrupt ? '-corrupt' : ''}.docker.tar`);
  execFileSync('tar', ['-cf', archive, '-C', out, '.']);
  return archive;
}

/** An OCI image-layout archive (gzip layer) whose index names the image `name`. */
export function ociArchive(work: string, rootfs: string, name: string): string {
  const dir = mkdtempSync(join(work, 'oci-'));
  const { tar, diffId } = layerOf(rootfs, dir);
  const gz = execFileSync('gzip', ['-c'], { input: tar, maxBuffer: 256 << 20 });
  const config = configOf(diffId);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${sha(config)}`, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${sha(gz)}`, size: gz.length }],
    }),
  );
  const out = join(dir, 'out');
  mkdirSync(join(out, 'blobs', 'sha256'), { recursive: true });
  for (const b of [gz, config, manifest]) writeFileSync(join(out, 'blobs', 'sha256', sha(b)), b);
  writeFileSync(join(out, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    join(out, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: `sha256:${sha(manifest)}`,
          size: manifest.length,
          annotations: { 'org.opencontainers.image.ref.name': name },
        },
      ],
    }),
  );
  const archive = join(work, `${name.replace(/[^a-z0-9]/gi, '_')}.oci.tar`);
  execFileSync('tar', ['-cf', archive, '-C', out, '.']);
  return archive;
}
