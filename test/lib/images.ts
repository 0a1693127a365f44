/** Image archives for tests, built with tar and sha256 only: `docker save` and OCI image layouts. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

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
