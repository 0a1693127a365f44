import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, promises as fs, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseMountinfo } from './cgroups.js';
import { removeTrees } from './remover.js';
import type { ImageAdmin, ImageGcPolicy, ImageGcResult, ImageSummary } from '../../ports/image-admin.js';
import type { ImageConfig, ImageStore, PulledImage, RootfsMount } from '../../ports/images.js';
import { type ImageReference, MEDIA, RegistryClient, type RegistryClientOptions, parseReference } from './registry-client.js';
import { TarArchive } from './tar-reader.js';

const run = promisify(execFile);

/**
 * Images pulled from Docker registries, cached under `<dir>`:
 *
 *   blobs/sha256/<hex>        layers and configs, each verified against its digest once
 *   rootfs/<manifest hex>/    the layers applied in order (whiteouts honoured), shared read-only
 *   containers/<id>/          a container's overlayfs upper and work dirs, and `image` (its manifest)
 *   index.json                the images by normalised reference: manifest, layers, config, last use
 *
 * An image in the index is used without asking the registry again (`forcePull` asks anyway);
 * images also come from `docker save` and OCI-layout archives (load()). gc() removes unused
 * images by age and total size, least recently used first, with the blobs no other image shares;
 * an image with a container's `image` file naming it is never removed.
 *
 * A container's root filesystem is an overlay of the shared rootfs (copied instead where overlayfs
 * cannot be mounted). Layers are applied with GNU tar (gzip detected by tar); `.wh.<name>` removes
 * `<name>` from the layers below and `.wh..wh..opq` empties its directory first.
 */
export class RegistryImageStore implements ImageStore, ImageAdmin {
  private readonly client: RegistryClient;
  private readonly building = new Map<string, Promise<void>>();
  /** Blob downloads in flight: tasks launched together that share a layer download it once. */
  private readonly fetching = new Map<string, Promise<void>>();
  private readonly nowMs: () => number;
  private indexCache: ImageIndex | undefined;
  /** Serialises changes of the index (pull, load, gc). */
  private lock: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly dir: string,
    options: RegistryClientOptions & { nowMs?: () => number } = {},
  ) {
    this.client = new RegistryClient(options);
    this.nowMs = options.nowMs ?? (() => Date.now());
  }

  async pull(reference: string, options: { forcePull?: boolean } = {}): Promise<PulledImage> {
    const ref = parseReference(reference);
    const key = refKey(ref);
    const known = (await this.index()).images[key];
    if (known && !options.forcePull && existsSync(this.rootfsDir(known.manifestDigest))) {
      // The last use is kept to the minute on disk: no index write on every launch.
      const now = this.nowMs();
      if (now - known.lastUsedMs > LAST_USED_RESOLUTION_MS) {
        await this.update((ix) => {
          const e = ix.images[key];
          if (e) e.lastUsedMs = now;
        });
      }
      return { reference, manifestDigest: known.manifestDigest, layers: known.layers, config: known.config };
    }
    const manifest = await this.client.manifest(ref);
    await fs.mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    const configPath = await this.fetchBlob(ref, manifest.config.digest);
    const config = parseConfig(await fs.readFile(configPath, 'utf8'), manifest.config.digest);
    for (const l of manifest.layers) await this.fetchBlob(ref, l.digest);
    const image: PulledImage = { reference, manifestDigest: manifest.digest, layers: manifest.layers.map((l) => l.digest), config };
    await this.buildRootfs(image);
    await this.record(key, image, manifest.config.digest, 'registry');
    return image;
  }

  async provision(image: PulledImage, containerId: string, targetDir: string): Promise<void> {
    const m = await this.prepareMount(image, containerId, targetDir);
    try {
      await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${m.lowerDir},upperdir=${m.upperDir},workdir=${m.workDir}`, targetDir]);
    } catch {
      await run('cp', ['-a', `${m.lowerDir}/.`, targetDir]);
    }
  }

  async prepareMount(image: PulledImage, containerId: string, targetDir: string): Promise<RootfsMount> {
    const lower = this.rootfsDir(image.manifestDigest);
    const own = join(this.dir, 'containers', containerId);
    // Synchronous: four small operations on the launch path (a thread-pool round trip each
    // would cost more than the operation).
    mkdirSync(join(own, 'upper'), { recursive: true });
    mkdirSync(join(own, 'work'), { recursive: true });
    mkdirSync(targetDir, { recursive: true });
    // Marks the image in use until release(): gc() never removes it meanwhile.
    writeFileSync(join(own, 'image'), image.manifestDigest);
    return { lowerDir: lower, upperDir: join(own, 'upper'), workDir: join(own, 'work'), target: targetDir };
  }

  async release(containerId: string, targetDir: string): Promise<void> {
    // The container's supervisor normally unmounted it already: no umount process then.
    let mounted = isMountPoint(targetDir);
    if (mounted) {
      await run('umount', [targetDir]).catch(() => {});
      mounted = isMountPoint(targetDir);
    }
    const own = join(this.dir, 'containers', containerId);
    // A container that wrote nothing leaves an empty upper dir and overlayfs' own work dir: a few
    // entries, removed by the remover thread. One that wrote files (any amount) through the pool.
    let upperEntries: number;
    try {
      upperEntries = readdirSync(join(own, 'upper')).length;
    } catch {
      upperEntries = 0;
    }
    if (upperEntries === 0 && !mounted) {
      await removeTrees([targetDir, own]);
      return;
    }
    await Promise.all([fs.rm(targetDir, { recursive: true, force: true }), fs.rm(own, { recursive: true, force: true })]);
  }

  // --- ImageAdmin --------------------------------------------------------------------------------

  async list(): Promise<ImageSummary[]> {
    const ix = await this.index();
    const inUse = await this.inUse();
    const blobSizes = await this.blobSizes(ix);
    return Object.entries(ix.images)
      .map(([name, e]) => ({
        reference: e.name ?? name,
        manifestDigest: e.manifestDigest,
        sizeBytes: imageBytes(ix, e, blobSizes),
        layers: e.layers,
        lastUsedMs: e.lastUsedMs,
        inUse: inUse.get(e.manifestDigest) ?? 0,
        source: e.source,
      }))
      .sort((a, b) => a.reference.localeCompare(b.reference));
  }

  async load(archivePath: string, nowMs: number): Promise<ImageSummary[]> {
    const tmp = join(
      this.dir,
      'incoming',
      `load-${process.pid}-${createHash('sha256').update(`${archivePath}${nowMs}${Math.random()}`).digest('hex').slice(0, 12)}`,
    );
    await fs.mkdir(tmp, { recursive: true });
    try {
      const tar = await TarArchive.open(archivePath);
      const loaded = tar.has('manifest.json') ? await this.loadDockerSave(tar, tmp) : tar.has('index.json') ? await this.loadOciLayout(tar, tmp) : undefined;
      if (!loaded) throw new Error('not an image archive: it has neither manifest.json (docker save) nor index.json (OCI image layout)');
      const names: string[] = [];
      for (const l of loaded) {
        await this.buildRootfs(l.image);
        for (const n of l.names) {
          await this.record(refKey(parseReference(n)), { ...l.image, reference: n }, l.configDigest, 'archive', n, nowMs);
          names.push(n);
        }
      }
      const all = await this.list();
      return all.filter((s) => names.includes(s.reference));
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
      await fs.rm(`${archivePath}.tar`, { force: true });
    }
  }

  async gc(policy: ImageGcPolicy, nowMs: number): Promise<ImageGcResult> {
    return this.exclusive(async () => {
      const ix = await this.index();
      const inUse = await this.inUse();
      const sizes = await this.blobSizes(ix);
      const excluded = new Set((policy.exclude ?? []).map((n) => refKey(parseReference(n))));
      // One candidate per manifest: its names, its last use, and whether anything pins it.
      const groups = new Map<string, { names: string[]; lastUsedMs: number; pinned: boolean }>();
      for (const [key, e] of Object.entries(ix.images)) {
        const g = groups.get(e.manifestDigest) ?? { names: [], lastUsedMs: 0, pinned: false };
        g.names.push(key);
        g.lastUsedMs = Math.max(g.lastUsedMs, e.lastUsedMs);
        if (excluded.has(key) || (inUse.get(e.manifestDigest) ?? 0) > 0) g.pinned = true;
        groups.set(e.manifestDigest, g);
      }
      const total = () => {
        let n = 0;
        const seen = new Set<string>();
        for (const e of Object.values(ix.images)) {
          if (seen.has(e.manifestDigest)) continue;
          seen.add(e.manifestDigest);
          n += ix.rootfsBytes[e.manifestDigest] ?? 0;
        }
        for (const d of referencedBlobs(ix)) n += sizes.get(d) ?? 0;
        return n;
      };
      const before = total();
      const removed: string[] = [];
      const drop = (manifest: string) => {
        const g = groups.get(manifest);
        if (!g) return;
        for (const k of g.names) {
          removed.push(ix.images[k]?.name ?? k);
          delete ix.images[k];
        }
        groups.delete(manifest);
      };
      const unused = [...groups.entries()].filter(([, g]) => !g.pinned).sort((a, b) => a[1].lastUsedMs - b[1].lastUsedMs);
      for (const [m, g] of unused) if (policy.maxAgeMs !== undefined && nowMs - g.lastUsedMs > policy.maxAgeMs) drop(m);
      if (policy.maxBytes !== undefined) for (const [m] of unused) if (groups.has(m) && total() > policy.maxBytes) drop(m);
      if (removed.length === 0) return { removed, freedBytes: 0, keptBytes: before };
      const keepManifests = new Set(Object.values(ix.images).map((e) => e.manifestDigest));
      const keepBlobs = referencedBlobs(ix);
      await this.saveIndex(ix);
      for (const hex of await fs.readdir(join(this.dir, 'rootfs')).catch(() => [] as string[])) {
        if (hex.includes('.tmp-') || keepManifests.has(`sha256:${hex}`) || inUse.has(`sha256:${hex}`)) continue;
        await fs.rm(join(this.dir, 'rootfs', hex), { recursive: true, force: true });
        delete ix.rootfsBytes[`sha256:${hex}`];
      }
      for (const hex of await fs.readdir(join(this.dir, 'blobs', 'sha256')).catch(() => [] as string[])) {
        if (!keepBlobs.has(`sha256:${hex}`)) await fs.rm(join(this.dir, 'blobs', 'sha256', hex), { force: true });
      }
      await this.saveIndex(ix);
      const after = total();
      return { removed, freedBytes: Math.max(0, before - after), keptBytes: after };
    });
  }

  /** `docker save`: manifest.json lists Config, RepoTags and Layers (uncompressed tars = diff ids). */
  private async loadDockerSave(tar: TarArchive, tmp: string): Promise<Loaded[]> {
    let entries: { Config?: string; RepoTags?: string[] | null; Layers?: string[] }[];
    try {
      entries = JSON.parse(await tar.readText('manifest.json'));
    } catch (e) {
      throw new Error(`manifest.json of the archive is not JSON: ${(e as Error).message}`);
    }
    if (!Array.isArray(entries) || entries.length === 0) throw new Error('manifest.json of the archive lists no image');
    const out: Loaded[] = [];
    for (const m of entries.slice(0, 100)) {
      if (typeof m.Config !== 'string' || !Array.isArray(m.Layers)) throw new Error('manifest.json: an entry without Config or Layers');
      const names = (m.RepoTags ?? []).filter((t) => typeof t === 'string');
      if (names.length === 0) throw new Error('an image in the archive has no RepoTags (docker save <name:tag> names it)');
      const configDigest = await this.importBlob(tar, m.Config, tmp, digestFromPath(m.Config));
      const configText = await fs.readFile(this.blobPath(configDigest), 'utf8');
      const config = parseConfig(configText, configDigest);
      const diffIds = ((JSON.parse(configText) as { rootfs?: { diff_ids?: string[] } }).rootfs?.diff_ids ?? []) as string[];
      if (diffIds.length !== m.Layers.length) throw new Error(`image ${names[0]}: ${m.Layers.length} layers but ${diffIds.length} diff_ids in its config`);
      const layers: string[] = [];
      for (const [i, path] of m.Layers.entries()) layers.push(await this.importBlob(tar, path, tmp, diffIds[i] as string));
      const manifest = JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA.dockerManifest,
        config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: configDigest, size: Buffer.byteLength(configText) },
        layers: layers.map((d) => ({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar', digest: d })),
      });
      const manifestDigest = await this.storeBytes(manifest);
      out.push({ names, configDigest, image: { reference: names[0] as string, manifestDigest, layers, config } });
    }
    return out;
  }

  /** OCI image layout: index.json → (index →) manifest → config and layers, all under blobs/. */
  private async loadOciLayout(tar: TarArchive, tmp: string): Promise<Loaded[]> {
    type Desc = { mediaType?: string; digest?: string; annotations?: Record<string, string>; platform?: { os?: string; architecture?: string } };
    const readJson = async (digest: string): Promise<any> => {
      const d = await this.importBlob(tar, `blobs/sha256/${hexOf(digest)}`, tmp, digest);
      return JSON.parse(await fs.readFile(this.blobPath(d), 'utf8'));
    };
    let index: { manifests?: Desc[] };
    try {
      index = JSON.parse(await tar.readText('index.json'));
    } catch (e) {
      throw new Error(`index.json of the archive is not JSON: ${(e as Error).message}`);
    }
    const out: Loaded[] = [];
    for (const top of (index.manifests ?? []).slice(0, 100)) {
      const name = top.annotations?.['io.containerd.image.name'] ?? top.annotations?.['org.opencontainers.image.ref.name'];
      if (!name || typeof top.digest !== 'string') continue;
      let desc: Desc = top;
      let doc = await readJson(top.digest);
      for (let depth = 0; Array.isArray(doc.manifests) && depth < 4; depth++) {
        const pick = (doc.manifests as Desc[]).find((m) => !m.platform || (m.platform.os === 'linux' && m.platform.architecture === 'amd64'));
        if (!pick?.digest) throw new Error(`image ${name}: no linux/amd64 manifest in its index`);
        desc = pick;
        doc = await readJson(pick.digest);
      }
      if (!doc.config?.digest || !Array.isArray(doc.layers)) throw new Error(`image ${name}: its manifest has no config or layers`);
      const configDigest = await this.importBlob(tar, `blobs/sha256/${hexOf(doc.config.digest)}`, tmp, doc.config.digest);
      const config = parseConfig(await fs.readFile(this.blobPath(configDigest), 'utf8'), configDigest);
      const layers: string[] = [];
      for (const l of doc.layers as Desc[]) layers.push(await this.importBlob(tar, `blobs/sha256/${hexOf(l.digest ?? '')}`, tmp, l.digest ?? ''));
      out.push({ names: [name], configDigest, image: { reference: name, manifestDigest: desc.digest as string, layers, config } });
    }
    if (out.length === 0) throw new Error('index.json of the archive names no image (org.opencontainers.image.ref.name)');
    return out;
  }

  /** Copies a member into the blob cache when its sha256 is `want`; otherwise fails naming it. */
  private async importBlob(tar: TarArchive, member: string, tmp: string, want: string | undefined): Promise<string> {
    if (want !== undefined && !DIGEST.test(want)) throw new Error(`bad digest '${want}' for ${member}`);
    if (want && existsSync(this.blobPath(want))) return want;
    await fs.mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    const t = join(tmp, `blob-${createHash('sha256').update(member).digest('hex').slice(0, 16)}`);
    const got = await tar.copyOut(member, t);
    if (want && got !== want) throw new Error(`${member} in the archive failed verification: expected ${want}, got ${got}`);
    await fs.rename(t, this.blobPath(got));
    return got;
  }

  private async storeBytes(text: string): Promise<string> {
    const d = `sha256:${createHash('sha256').update(text).digest('hex')}`;
    await fs.mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    if (!existsSync(this.blobPath(d))) await fs.writeFile(this.blobPath(d), text);
    return d;
  }

  private async record(
    key: string,
    image: PulledImage,
    configDigest: string,
    source: 'registry' | 'archive',
    name?: string,
    nowMs = this.nowMs(),
  ): Promise<void> {
    const rootfsBytes = await duBytes(this.rootfsDir(image.manifestDigest));
    await this.update((ix) => {
      ix.images[key] = {
        ...(name ? { name } : { name: image.reference }),
        manifestDigest: image.manifestDigest,
        layers: image.layers,
        configDigest,
        config: image.config,
        source,
        lastUsedMs: nowMs,
      };
      ix.rootfsBytes[image.manifestDigest] = rootfsBytes;
    });
  }

  /** Manifests in use by containers (their provision() marker), with counts. */
  private async inUse(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const id of await fs.readdir(join(this.dir, 'containers')).catch(() => [] as string[])) {
      const m = await fs.readFile(join(this.dir, 'containers', id, 'image'), 'utf8').catch(() => '');
      if (m) out.set(m.trim(), (out.get(m.trim()) ?? 0) + 1);
    }
    return out;
  }

  private async blobSizes(ix: ImageIndex): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const d of referencedBlobs(ix)) {
      const st = await fs.stat(this.blobPath(d)).catch(() => undefined);
      out.set(d, st?.size ?? 0);
    }
    return out;
  }

  private async index(): Promise<ImageIndex> {
    if (this.indexCache) return this.indexCache;
    try {
      const ix = JSON.parse(await fs.readFile(join(this.dir, 'index.json'), 'utf8')) as ImageIndex;
      if (typeof ix.images !== 'object' || ix.images === null) throw new Error('bad index');
      ix.rootfsBytes ??= {};
      this.indexCache = ix;
    } catch {
      this.indexCache = { images: {}, rootfsBytes: {} };
    }
    return this.indexCache;
  }

  private update(fn: (ix: ImageIndex) => void): Promise<void> {
    return this.exclusive(async () => {
      const ix = await this.index();
      fn(ix);
      await this.saveIndex(ix);
    });
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.lock.then(fn, fn);
    this.lock = p.catch(() => {});
    return p;
  }

  private async saveIndex(ix: ImageIndex): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
    const tmp = join(this.dir, `index.json.tmp-${process.pid}`);
    await fs.writeFile(tmp, JSON.stringify(ix));
    await fs.rename(tmp, join(this.dir, 'index.json'));
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
    if (existsSync(path)) return path;
    let p = this.fetching.get(digest);
    if (!p) {
      p = this.client.blob(ref, digest, path).finally(() => this.fetching.delete(digest));
      this.fetching.set(digest, p);
    }
    await p;
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
      // The sandbox's mount point, made once in the image's tree (as Mesos makes it in a
      // provisioned rootfs) rather than in every container's upper dir, which then stays empty
      // for a container that writes nothing. Only where the path is plain directories (or
      // missing): a symlink there is left to the launch, which refuses to follow it out.
      ensurePlainDirs(tmp, ['mnt', 'mesos', 'sandbox']);
      await fs.rename(tmp, target);
    } catch (e) {
      await fs.rm(tmp, { recursive: true, force: true });
      throw e;
    }
  }
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;
const LAST_USED_RESOLUTION_MS = 60_000;

interface IndexEntry {
  name?: string;
  manifestDigest: string;
  layers: string[];
  configDigest: string;
  config: ImageConfig;
  source: 'registry' | 'archive';
  lastUsedMs: number;
}

interface ImageIndex {
  images: Record<string, IndexEntry>;
  /** Unpacked root filesystem sizes by manifest digest. */
  rootfsBytes: Record<string, number>;
}

interface Loaded {
  names: string[];
  configDigest: string;
  image: PulledImage;
}

/** The key of an image in the index: `registry/repository:tag` (or `@digest`). */
function refKey(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.reference.startsWith('sha256:') ? '@' : ':'}${ref.reference}`;
}

function referencedBlobs(ix: ImageIndex): Set<string> {
  const out = new Set<string>();
  for (const e of Object.values(ix.images)) {
    out.add(e.configDigest);
    for (const l of e.layers) out.add(l);
  }
  return out;
}

function imageBytes(ix: ImageIndex, e: IndexEntry, blobSizes: Map<string, number>): number {
  let n = ix.rootfsBytes[e.manifestDigest] ?? 0;
  for (const d of [e.configDigest, ...e.layers]) n += blobSizes.get(d) ?? 0;
  return n;
}

function hexOf(digest: string): string {
  if (!DIGEST.test(digest)) throw new Error(`bad digest '${digest}' in the archive`);
  return digest.slice('sha256:'.length);
}

/** `<hex>.json` or `blobs/sha256/<hex>` names its own digest; anything else is hashed as it comes. */
function digestFromPath(path: string): string | undefined {
  const m = /(?:^|\/)([a-f0-9]{64})(?:\.json)?$/.exec(path);
  return m ? `sha256:${m[1]}` : undefined;
}

async function duBytes(dir: string): Promise<number> {
  try {
    const { stdout } = await run('du', ['-s', '--block-size=1', dir]);
    return Number(stdout.split(/\s/)[0]) || 0;
  } catch {
    return 0;
  }
}

/** `dir/rel` when it stays inside `dir` (archives are hostile input), else undefined. */
function safeJoin(dir: string, rel: string): string | undefined {
  if (rel === '') return dir;
  if (rel.split('/').some((p) => p === '..')) return undefined;
  return join(dir, rel);
}

/** Whether `path` is a mount point of this mount namespace (/proc/self/mountinfo; octal escapes decoded). */
export function isMountPoint(path: string): boolean {
  let text: string;
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return true; // cannot tell: let umount decide
  }
  return parseMountinfo(text).some((m) => m.point === path);
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

/** Makes root/a/b/c as plain directories (0755) where each is missing; stops at anything else. */
function ensurePlainDirs(root: string, parts: string[]): void {
  let dir = root;
  for (const p of parts) {
    dir = join(dir, p);
    const st = lstatSync(dir, { throwIfNoEntry: false });
    if (!st) mkdirSync(dir, { mode: 0o755 });
    else if (!st.isDirectory()) return;
  }
}
