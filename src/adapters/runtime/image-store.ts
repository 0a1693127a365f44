import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ImageConfig, ImageStore, PulledImage } from '../../ports/images.js';
import { type ImageReference, RegistryClient, type RegistryClientOptions, parseReference } from './registry-client.js';

const run = promisify(execFile);

/**
 * Images pulled from Docker registries, cached under `<dir>`:
 *
 *   blobs/sha256/<hex>        layers and configs, each verified against its digest once
 *   rootfs/<manifest hex>/    the layers applied in order (whiteouts honoured), shared read-only
 *   containers/<id>/          a container's overlayfs upper and work dirs
 *
 * A container's root filesystem is an overlay of the shared rootfs (copied instead where overlayfs
 * cannot be mounted). Layers are applied with GNU tar (gzip detected by tar); `.wh.<name>` removes
 * `<name>` from the layers below and `.wh..wh..opq` empties its directory first.
 */
export class RegistryImageStore implements ImageStore {
  private readonly client: RegistryClient;
  private readonly building = new Map<string, Promise<void>>();
  private readonly pulled = new Map<string, PulledImage>();

  constructor(
    private readonly dir: string,
    options: RegistryClientOptions = {},
  ) {
    this.client = new RegistryClient(options);
  }

  async pull(reference: string, options: { forcePull?: boolean } = {}): Promise<PulledImage> {
    const cached = this.pulled.get(reference);
    if (cached && !options.forcePull && existsSync(this.rootfsDir(cached.manifestDigest))) return cached;
    const ref = parseReference(reference);
    const manifest = await this.client.manifest(ref);
    await fs.mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    const configPath = await this.fetchBlob(ref, manifest.config.digest);
    const config = parseConfig(await fs.readFile(configPath, 'utf8'), manifest.config.digest);
    for (const l of manifest.layers) await this.fetchBlob(ref, l.digest);
    const image: PulledImage = { reference, manifestDigest: manifest.digest, layers: manifest.layers.map((l) => l.digest), config };
    await this.buildRootfs(image);
    this.pulled.set(reference, image);
    return image;
  }

  async provision(image: PulledImage, containerId: string, targetDir: string): Promise<void> {
    const lower = this.rootfsDir(image.manifestDigest);
    const own = join(this.dir, 'containers', containerId);
    await fs.mkdir(join(own, 'upper'), { recursive: true });
    await fs.mkdir(join(own, 'work'), { recursive: true });
    await fs.mkdir(targetDir, { recursive: true });
    try {
      await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${join(own, 'upper')},workdir=${join(own, 'work')}`, targetDir]);
    } catch {
      await run('cp', ['-a', `${lower}/.`, targetDir]);
    }
  }

  async release(containerId: string, targetDir: string): Promise<void> {
    await run('umount', [targetDir]).catch(() => {});
    await fs.rm(targetDir, { recursive: true, force: true });
    await fs.rm(join(this.dir, 'containers', containerId), { recursive: true, force: true });
  }

  private rootfsDir(manifestDigest: string): string {
    return join(this.dir, 'rootfs', manifestDigest.slice('sha256:'.length));
  }

  private blobPath(digest: string): string {
    return join(this.dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
  }

  /** Blobs are stored only once verified, so one that exists is good. */
  private async fetchBlob(ref: ImageReference, digest: string): Promise<string> {
    const path = this.blobPath(digest);
    if (!existsSync(path)) await this.client.blob(ref, digest, path);
    return path;
  }

  private buildRootfs(image: PulledImage): Promise<void> {
    const target = this.rootfsDir(image.manifestDigest);
    if (existsSync(target)) return Promise.resolve();
    let p = this.building.get(target);
    if (!p) {
      p = this.applyLayers(image, target).finally(() => this.building.delete(target));
      this.building.set(target, p);
    }
    return p;
  }

  private async applyLayers(image: PulledImage, target: string): Promise<void> {
    const tmp = `${target}.tmp-${process.pid}`;
    await fs.rm(tmp, { recursive: true, force: true });
    await fs.mkdir(tmp, { recursive: true, mode: 0o755 });
    try {
      for (const digest of image.layers) {
        const blob = this.blobPath(digest);
        let names: string[];
        try {
          names = (await run('tar', ['-tf', blob], { maxBuffer: 64 * 1024 * 1024 })).stdout.split('\n');
        } catch (e) {
          throw new Error(`layer ${digest} of ${image.reference} is not a readable tar archive: ${firstLine(e)}`);
        }
        for (const raw of names) {
          const name = raw.replace(/^\.?\/+/, '').replace(/\/+$/, '');
          const slash = name.lastIndexOf('/');
          const base = name.slice(slash + 1);
          if (!base.startsWith('.wh.')) continue;
          const parent = safeJoin(tmp, name.slice(0, Math.max(0, slash)));
          if (!parent) continue;
          if (base === '.wh..wh..opq') {
            for (const e of await fs.readdir(parent).catch(() => [] as string[])) await fs.rm(join(parent, e), { recursive: true, force: true });
          } else {
            const victim = safeJoin(parent, base.slice(4));
            if (victim) await fs.rm(victim, { recursive: true, force: true });
          }
        }
        try {
          await run('tar', ['-xf', blob, '-C', tmp, '--numeric-owner', '--exclude=.wh.*', '--exclude=*/.wh.*'], { maxBuffer: 16 * 1024 * 1024 });
        } catch (e) {
          throw new Error(`cannot extract layer ${digest} of ${image.reference}: ${firstLine(e)}`);
        }
      }
      await fs.chmod(tmp, 0o755);
      await fs.rename(tmp, target);
    } catch (e) {
      await fs.rm(tmp, { recursive: true, force: true });
      throw e;
    }
  }
}

/** `dir/rel` when it stays inside `dir` (archives are hostile input), else undefined. */
function safeJoin(dir: string, rel: string): string | undefined {
  if (rel === '') return dir;
  if (rel.split('/').some((p) => p === '..')) return undefined;
  return join(dir, rel);
}

function parseConfig(text: string, digest: string): ImageConfig {
  let doc: { config?: { Env?: string[]; Entrypoint?: string[] | null; Cmd?: string[] | null; WorkingDir?: string; User?: string } };
  try {
    doc = JSON.parse(text);
  } catch {
    throw new Error(`image config ${digest} is not JSON`);
  }
  const c = doc.config ?? {};
  return {
    env: Array.isArray(c.Env) ? c.Env.filter((e) => typeof e === 'string') : [],
    entrypoint: Array.isArray(c.Entrypoint) ? c.Entrypoint : [],
    cmd: Array.isArray(c.Cmd) ? c.Cmd : [],
    ...(c.WorkingDir ? { workingDir: c.WorkingDir } : {}),
    ...(c.User ? { user: c.User } : {}),
  };
}

function firstLine(e: unknown): string {
  const err = e as { stderr?: string; message?: string };
  return (err.stderr || err.message || String(e)).trim().split('\n')[0] ?? '';
}
