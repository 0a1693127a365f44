import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, promises as fs } from 'node:fs';
import { basename, dirname, isAbsolute, join, normalize } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { CommandURI } from '../../model/mesos.js';

const run = promisify(execFile);

/**
 * The Mesos fetcher: CommandInfo.uris are downloaded into the sandbox before the task starts.
 *
 * - `http://`, `https://`, `file://` and absolute paths; anything else fails the launch.
 * - The file is named after the URI's last path segment, or `output_file` (relative to the sandbox).
 * - `executable`: mode 0755, never extracted. `extract` (the default, as in Mesos): `.tar`, `.tar.gz`,
 *   `.tgz`, `.tar.bz2`, `.tbz2`, `.tar.xz`, `.txz` with GNU tar and `.zip` with Debian's `unzip`,
 *   into the sandbox; the archive stays beside what it held.
 * - `cache`: kept under `<cacheDir>/<sha256 of the URI>`, reused by later tasks, bounded in bytes
 *   (least recently used files go first).
 * - Everything is written to a temporary name and renamed into place. When one URI fails, every
 *   file this launch fetched or extracted is removed again, and the error names the URI and the cause.
 */

export interface FetcherOptions {
  /** Absolute; the cache of `cache: true` URIs (e.g. `<work_dir>/fetch`). */
  cacheDir: string;
  /** Upper bound of the cache (Mesos' --fetcher_cache_size, 2 GiB). */
  cacheMaxBytes?: number;
  /** Per download (Mesos has a stall timeout instead; a total bound is simpler to reason about). */
  downloadTimeoutMs?: number;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
}

const ARCHIVES: [RegExp, 'tar' | 'zip'][] = [
  [/\.(tar|tar\.gz|tgz|tar\.bz2|tbz2|tar\.xz|txz)$/i, 'tar'],
  [/\.zip$/i, 'zip'],
];

export function archiveKind(name: string): 'tar' | 'zip' | undefined {
  return ARCHIVES.find(([re]) => re.test(name))?.[1];
}

/** The sandbox-relative name of a URI's file, or why it has none. */
export function outputName(uri: CommandURI): string {
  let name = uri.output_file;
  if (name === undefined || name === '') {
    const v = uri.value;
    name = v.startsWith('/') ? basename(v) : decodeURIComponent(basename(new URL(v).pathname));
  }
  const n = normalize(name);
  if (n === '' || n === '.' || isAbsolute(n) || n === '..' || n.startsWith('../')) throw new Error(`cannot name the fetched file '${name}' inside the sandbox`);
  return n;
}

export class Fetcher {
  private seq = 0;
  private readonly cacheMaxBytes: number;
  private readonly timeoutMs: number;

  constructor(private readonly options: FetcherOptions) {
    if (!isAbsolute(options.cacheDir)) throw new Error(`cacheDir must be absolute: ${options.cacheDir}`);
    this.cacheMaxBytes = options.cacheMaxBytes ?? 2 * 1024 * 1024 * 1024;
    this.timeoutMs = options.downloadTimeoutMs ?? 300_000;
  }

  /** Fetches every URI into the sandbox, or nothing (what was fetched is removed) and throws. */
  async fetch(uris: readonly CommandURI[], sandboxDir: string): Promise<void> {
    const made: string[] = [];
    try {
      for (const u of uris) {
        try {
          await this.one(u, sandboxDir, made);
        } catch (e) {
          throw new Error(`Failed to fetch '${u?.value}': ${(e as Error).message}`);
        }
      }
    } catch (e) {
      for (const p of made.reverse()) await fs.rm(p, { recursive: true, force: true }).catch(() => {});
      throw e;
    }
  }

  private async one(uri: CommandURI, sandbox: string, made: string[]): Promise<void> {
    if (typeof uri?.value !== 'string' || uri.value === '') throw new Error('the URI is empty');
    const source = parseSource(uri.value);
    const name = outputName(uri);
    const dest = join(sandbox, name);
    await fs.mkdir(dirname(dest), { recursive: true });
    const tmp = join(dirname(dest), `.${basename(dest)}.fetching-${process.pid}-${++this.seq}`);
    made.push(tmp);
    if (uri.cache === true) await this.viaCache(uri.value, source, tmp);
    else await this.download(source, tmp);
    await fs.rename(tmp, dest);
    made[made.length - 1] = dest;
    if (uri.executable === true) {
      await fs.chmod(dest, 0o755);
      return;
    }
    const kind = uri.extract === false ? undefined : archiveKind(name);
    if (kind) await this.extract(kind, dest, sandbox, made);
  }

  private async download(source: URL | string, to: string): Promise<void> {
    if (typeof source === 'string') {
      await fs.copyFile(source, to).catch((e: NodeJS.ErrnoException) => {
        throw new Error(e.code === 'ENOENT' ? `no such file ${source}` : e.message);
      });
      return;
    }
    let res: Response;
    try {
      res = await fetch(source, { signal: AbortSignal.timeout(this.timeoutMs), redirect: 'follow' });
    } catch (e) {
      const err = e as Error & { cause?: Error };
      throw new Error(err.name === 'TimeoutError' ? `no complete answer within ${this.timeoutMs} ms` : (err.cause?.message ?? err.message));
    }
    if (res.status !== 200 || !res.body) {
      await res.body?.cancel().catch(() => {});
      throw new Error(`HTTP ${res.status} ${res.statusText}`.trim());
    }
    await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), createWriteStream(to, { mode: 0o644 }));
  }

  private async viaCache(uri: string, source: URL | string, to: string): Promise<void> {
    const cached = join(this.options.cacheDir, createHash('sha256').update(uri).digest('hex'));
    if (!existsSync(cached)) {
      await fs.mkdir(this.options.cacheDir, { recursive: true });
      const tmp = `${cached}.tmp-${process.pid}-${++this.seq}`;
      try {
        await this.download(source, tmp);
        await fs.rename(tmp, cached);
      } finally {
        await fs.rm(tmp, { force: true });
      }
      await this.evict(cached);
    } else {
      const now = new Date();
      await fs.utimes(cached, now, now).catch(() => {});
    }
    await fs.copyFile(cached, to);
  }

  /** Keeps the cache under its bound: least recently used first, never the file just added. */
  private async evict(keep: string): Promise<void> {
    const entries: { path: string; size: number; mtimeMs: number }[] = [];
    for (const n of await fs.readdir(this.options.cacheDir)) {
      if (n.includes('.tmp-')) continue;
      const p = join(this.options.cacheDir, n);
      const st = await fs.stat(p).catch(() => undefined);
      if (st?.isFile()) entries.push({ path: p, size: st.size, mtimeMs: st.mtimeMs });
    }
    let total = entries.reduce((a, e) => a + e.size, 0);
    entries.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const e of entries) {
      if (total <= this.cacheMaxBytes) break;
      if (e.path === keep) continue;
      await fs.rm(e.path, { force: true });
      total -= e.size;
      this.options.log?.('info', `fetcher cache: evicted ${basename(e.path)} (${e.size} bytes)`);
    }
  }

  /** Extracts into a staging directory first, then moves its entries into the sandbox. */
  private async extract(kind: 'tar' | 'zip', archive: string, sandbox: string, made: string[]): Promise<void> {
    const staging = join(sandbox, `.fetch-extract-${process.pid}-${++this.seq}`);
    made.push(staging);
    await fs.mkdir(staging);
    try {
      if (kind === 'tar') await run('tar', ['-xf', archive, '-C', staging, '--no-same-owner']);
      else await run('unzip', ['-q', '-o', archive, '-d', staging]);
    } catch (e) {
      const err = e as Error & { stderr?: string; code?: string };
      if (err.code === 'ENOENT')
        throw new Error(`cannot extract: '${kind === 'tar' ? 'tar' : 'unzip'}' is not installed (Debian package ${kind === 'tar' ? 'tar' : 'unzip'})`);
      throw new Error(`cannot extract ${basename(archive)}: ${(err.stderr ?? err.message).trim().split('\n').slice(-2).join(' ')}`);
    }
    for (const entry of await fs.readdir(staging)) {
      const target = join(sandbox, entry);
      await fs.rm(target, { recursive: true, force: true });
      await fs.rename(join(staging, entry), target);
      made.push(target);
    }
    await fs.rm(staging, { recursive: true, force: true });
  }
}

/** A URL for http(s), a path for file:// and absolute paths. */
function parseSource(value: string): URL | string {
  if (value.startsWith('/')) return value;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error('not a URL or an absolute path');
  }
  if (url.protocol === 'file:') return fileURLToPath(url);
  if (url.protocol === 'http:' || url.protocol === 'https:') return url;
  throw new Error(`unsupported scheme '${url.protocol.slice(0, -1)}' (http, https and file are)`);
}
