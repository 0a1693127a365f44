import { createHash } from 'node:crypto';
import { createWriteStream, promises as fs } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * A Docker Registry HTTP API v2 client: anonymous, basic and bearer-token auth (the token realm
 * from WWW-Authenticate), manifest lists and OCI indexes resolved to linux/amd64, Docker schema2
 * and OCI manifests, and every blob's sha256 checked against its digest while it is written.
 */

export const MEDIA = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
} as const;

const MANIFEST_MAX_BYTES = 4 * 1024 * 1024;
const REQUEST_TIMEOUT_MS = 30_000;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
let partSeq = 0;

export interface ImageReference {
  registry: string;
  repository: string;
  /** A tag or a digest. */
  reference: string;
}

/** `host[:port]/repo[:tag|@digest]`; Docker Hub and `library/` when no registry is named. */
export function parseReference(name: string): ImageReference {
  let rest = name.trim();
  if (rest === '' || /\s/.test(rest)) throw new Error(`invalid image reference '${name}'`);
  let registry = 'registry-1.docker.io';
  const slash = rest.indexOf('/');
  if (slash > 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost') {
      registry = first;
      rest = rest.slice(slash + 1);
    }
  }
  let reference = 'latest';
  const at = rest.indexOf('@');
  if (at >= 0) {
    reference = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(reference)) throw new Error(`invalid digest in image reference '${name}'`);
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon > rest.lastIndexOf('/')) {
      reference = rest.slice(colon + 1);
      rest = rest.slice(0, colon);
    }
  }
  if (registry === 'registry-1.docker.io' && !rest.includes('/')) rest = `library/${rest}`;
  if (!/^[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/.test(rest)) throw new Error(`invalid repository in image reference '${name}'`);
  if (!/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/.test(reference) && !DIGEST.test(reference)) throw new Error(`invalid tag in image reference '${name}'`);
  return { registry, repository: rest, reference };
}

export interface RegistryClientOptions {
  /** Registries spoken to over plain HTTP (loopback ones always are). */
  insecure?: readonly string[];
  /** Credentials per registry host. */
  credentials?: Record<string, { username: string; password: string }>;
}

export interface Manifest {
  mediaType: string;
  digest: string;
  config: { digest: string; mediaType?: string; size?: number };
  layers: { digest: string; mediaType: string; size?: number }[];
}

export class RegistryClient {
  private readonly tokens = new Map<string, string>();

  constructor(private readonly options: RegistryClientOptions = {}) {}

  /** The image's manifest for linux/amd64. */
  async manifest(ref: ImageReference): Promise<Manifest> {
    let { body, mediaType, digest } = await this.getManifest(ref, ref.reference);
    let doc = parseJson(body, `the manifest of ${show(ref)}`) as Record<string, unknown>;
    const type = mediaType || (doc.mediaType as string) || '';
    if (type === MEDIA.dockerList || type === MEDIA.ociIndex || Array.isArray(doc.manifests)) {
      const list = (doc.manifests as { digest: string; platform?: { os?: string; architecture?: string } }[]) ?? [];
      const pick = list.find((m) => m.platform?.os === 'linux' && m.platform?.architecture === 'amd64');
      if (!pick) throw new Error(`image ${show(ref)} has no linux/amd64 manifest`);
      ({ body, mediaType, digest } = await this.getManifest(ref, pick.digest));
      if (digest !== pick.digest) throw new Error(`manifest digest mismatch for ${show(ref)}: expected ${pick.digest}, got ${digest}`);
      doc = parseJson(body, `the manifest of ${show(ref)}`) as Record<string, unknown>;
    }
    const mt = mediaType || (doc.mediaType as string) || MEDIA.ociManifest;
    if (doc.schemaVersion !== 2 || (mt !== MEDIA.dockerManifest && mt !== MEDIA.ociManifest)) {
      throw new Error(`image ${show(ref)}: unsupported manifest type '${mt}' (schema ${String(doc.schemaVersion)})`);
    }
    const config = doc.config as Manifest['config'] | undefined;
    const layers = doc.layers as Manifest['layers'] | undefined;
    if (!config || !DIGEST.test(config.digest) || !Array.isArray(layers) || layers.some((l) => !DIGEST.test(l?.digest))) {
      throw new Error(`image ${show(ref)}: malformed manifest`);
    }
    return { mediaType: mt, digest, config, layers };
  }

  /** Downloads a blob to `path`, checking its sha256; nothing is left at `path` when it fails. */
  async blob(ref: ImageReference, digest: string, path: string): Promise<void> {
    if (!DIGEST.test(digest)) throw new Error(`unsupported digest '${digest}'`);
    const res = await this.request(ref, `/v2/${ref.repository}/blobs/${digest}`, {});
    if (res.status !== 200 || !res.body) throw new Error(`cannot fetch blob ${digest} of ${show(ref)}: HTTP ${res.status}`);
    const hash = createHash('sha256');
    const tmp = `${path}.part-${process.pid}-${++partSeq}`;
    try {
      const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
      body.on('data', (d: Buffer) => hash.update(d));
      await pipeline(body, createWriteStream(tmp, { mode: 0o600 }));
      const got = `sha256:${hash.digest('hex')}`;
      if (got !== digest) throw new Error(`blob ${digest} of ${show(ref)} failed verification: its content hashes to ${got}`);
      await fs.rename(tmp, path);
    } catch (e) {
      await fs.rm(tmp, { force: true });
      throw e;
    }
  }

  private async getManifest(ref: ImageReference, reference: string): Promise<{ body: Buffer; mediaType: string; digest: string }> {
    const res = await this.request(ref, `/v2/${ref.repository}/manifests/${reference}`, {
      Accept: [MEDIA.dockerManifest, MEDIA.dockerList, MEDIA.ociManifest, MEDIA.ociIndex].join(', '),
    });
    if (res.status === 404) throw new Error(`image ${show(ref)} not found in registry ${ref.registry} (manifest ${reference}: HTTP 404)`);
    if (res.status !== 200) throw new Error(`cannot fetch the manifest of ${show(ref)}: HTTP ${res.status} ${await safeText(res)}`);
    const len = Number(res.headers.get('content-length') ?? '0');
    if (len > MANIFEST_MAX_BYTES) throw new Error(`the manifest of ${show(ref)} is too large (${len} bytes)`);
    const body = Buffer.from(await res.arrayBuffer());
    if (body.length > MANIFEST_MAX_BYTES) throw new Error(`the manifest of ${show(ref)} is too large`);
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    if (DIGEST.test(reference) && digest !== reference) throw new Error(`manifest ${reference} of ${show(ref)} failed verification: it hashes to ${digest}`);
    return { body, mediaType: (res.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? '', digest };
  }

  private base(registry: string): string {
    const host = registry.replace(/:\d+$/, '');
    const plain = host === 'localhost' || host.startsWith('127.') || host === '[::1]' || (this.options.insecure ?? []).includes(registry);
    return `${plain ? 'http' : 'https'}://${registry}`;
  }

  /** A GET with the registry's auth: a 401 with a Bearer challenge gets a token and one retry. */
  private async request(ref: ImageReference, path: string, headers: Record<string, string>): Promise<Response> {
    const url = `${this.base(ref.registry)}${path}`;
    const creds = this.options.credentials?.[ref.registry];
    const key = `${ref.registry}/${ref.repository}`;
    const auth = (): Record<string, string> => {
      const token = this.tokens.get(key);
      if (token) return { Authorization: `Bearer ${token}` };
      if (creds) return { Authorization: `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}` };
      return {};
    };
    let res = await get(url, { ...headers, ...auth() }, ref);
    if (res.status === 401) {
      const challenge = res.headers.get('www-authenticate') ?? '';
      await res.arrayBuffer().catch(() => {});
      if (!/^bearer /i.test(challenge)) {
        if (creds) throw new Error(`registry ${ref.registry} rejected the credentials for ${show(ref)} (HTTP 401)`);
        throw new Error(`registry ${ref.registry} requires credentials for ${show(ref)} (HTTP 401)`);
      }
      this.tokens.set(key, await this.token(challenge, ref));
      res = await get(url, { ...headers, ...auth() }, ref);
    }
    return res;
  }

  private async token(challenge: string, ref: ImageReference): Promise<string> {
    const params = new Map<string, string>();
    for (const m of challenge.slice(7).matchAll(/(\w+)="([^"]*)"/g)) params.set(m[1] as string, m[2] as string);
    const realm = params.get('realm');
    if (!realm) throw new Error(`registry ${ref.registry}: bearer challenge without a realm`);
    const u = new URL(realm);
    if (params.get('service')) u.searchParams.set('service', params.get('service') as string);
    u.searchParams.set('scope', params.get('scope') ?? `repository:${ref.repository}:pull`);
    const creds = this.options.credentials?.[ref.registry];
    const h: Record<string, string> = creds ? { Authorization: `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}` } : {};
    const res = await get(u.toString(), h, ref);
    if (res.status !== 200) throw new Error(`registry ${ref.registry}: the token service ${u.origin} answered HTTP ${res.status}`);
    const doc = (await res.json()) as { token?: string; access_token?: string };
    const token = doc.token ?? doc.access_token;
    if (!token) throw new Error(`registry ${ref.registry}: the token service gave no token`);
    return token;
  }
}

async function get(url: string, headers: Record<string, string>, ref: ImageReference): Promise<Response> {
  try {
    return await fetch(url, { headers, redirect: 'follow', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`cannot reach registry ${ref.registry} for ${show(ref)}: ${cause?.code ?? cause?.message ?? (e as Error).message}`);
  }
}

function show(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.reference.startsWith('sha256:') ? '@' : ':'}${ref.reference}`;
}

function parseJson(body: Buffer, what: string): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new Error(`${what} is not JSON`);
  }
}

async function safeText(res: Response): Promise<string> {
  try {
    return (await res.text()).slice(0, 200);
  } catch {
    return '';
  }
}

export type RegistryCredentials = Record<string, { username: string; password: string }>;

/**
 * Credentials from a Docker `config.json` (`docker login` writes it; Mesos' --docker_config reads
 * it): `{"auths": {"<registry>": {"auth": base64("user:password")}}}`, or `username` and
 * `password` fields. Keys may be URLs (`https://index.docker.io/v1/`); they are reduced to the
 * registry host as image references name it (Docker Hub → registry-1.docker.io).
 */
export function parseDockerConfig(text: string, source = 'the docker config'): RegistryCredentials {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(`${source} is not JSON: ${(e as Error).message}`);
  }
  const auths = (doc as { auths?: unknown })?.auths;
  if (!auths || typeof auths !== 'object' || Array.isArray(auths)) throw new Error(`${source} has no "auths" object`);
  const out: RegistryCredentials = {};
  for (const [key, entry] of Object.entries(auths as Record<string, unknown>)) {
    const e = (entry ?? {}) as { auth?: unknown; username?: unknown; password?: unknown };
    let username: string | undefined;
    let password: string | undefined;
    if (typeof e.auth === 'string' && e.auth !== '') {
      const plain = Buffer.from(e.auth, 'base64').toString('utf8');
      const i = plain.indexOf(':');
      if (i <= 0) throw new Error(`${source}: the auth of '${key}' is not base64 of user:password`);
      username = plain.slice(0, i);
      password = plain.slice(i + 1);
    } else if (typeof e.username === 'string' && typeof e.password === 'string') {
      username = e.username;
      password = e.password;
    } else {
      throw new Error(`${source}: '${key}' has neither "auth" nor "username" and "password"`);
    }
    out[registryHost(key)] = { username, password };
  }
  return out;
}

/** `https://index.docker.io/v1/` → `registry-1.docker.io`; `http://127.0.0.1:5000/x` → `127.0.0.1:5000`. */
function registryHost(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//i, '').split('/')[0] ?? key;
  return host === 'index.docker.io' || host === 'docker.io' ? 'registry-1.docker.io' : host;
}

/** --docker_config: inline JSON, or the path of a config.json. */
export async function loadDockerConfig(pathOrJson: string): Promise<RegistryCredentials> {
  if (pathOrJson.trim().startsWith('{')) return parseDockerConfig(pathOrJson, '--docker_config');
  let text: string;
  try {
    text = await fs.readFile(pathOrJson, 'utf8');
  } catch (e) {
    throw new Error(`--docker_config: cannot read ${pathOrJson}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseDockerConfig(text, `--docker_config ${pathOrJson}`);
}
