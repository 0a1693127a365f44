import { closeSync, fstatSync, fsync, mkdirSync, openSync, promises as fs, renameSync, writeSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize, sep } from 'node:path';
import type { Checkpointer } from '../../ports/runtime.js';

/**
 * The Checkpointer on a real file system, rooted at the agent's work dir. Every write is
 * durable before the promise resolves: data fsync, then rename, then a directory fsync so the
 * rename itself survives a power loss.
 *
 * Only the fsyncs go through libuv's thread pool: the opens, writes, renames and closes around
 * them are short calls made in place (tens of microseconds each, against 0.1-0.4 ms per round
 * trip through the pool and back to the event loop; a checkpoint took nine such trips before, and
 * it is on the path of every task launch).
 */
export class FsCheckpointer implements Checkpointer {
  private tmpSeq = 0;

  constructor(private readonly root: string) {
    if (!isAbsolute(root)) throw new Error(`checkpoint root must be absolute: ${root}`);
  }

  async read(path: string): Promise<string | undefined> {
    try {
      return await fs.readFile(this.abs(path), 'utf8');
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async write(path: string, data: string): Promise<void> {
    const target = this.abs(path);
    const dir = dirname(target);
    mkdirSync(dir, { recursive: true });
    const tmp = `${target}.tmp-${process.pid}-${this.tmpSeq++}`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeAll(fd, data);
      await fsyncFd(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, target);
    await syncDir(dir);
  }

  async append(path: string, data: string, options: { sync?: boolean } = {}): Promise<void> {
    const target = this.abs(path);
    const dir = dirname(target);
    // The directory usually exists (an append follows a write there): make it only when missing.
    let fd: number;
    try {
      fd = openSync(target, 'a', 0o600);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      mkdirSync(dir, { recursive: true });
      fd = openSync(target, 'a', 0o600);
    }
    const sync = options.sync !== false;
    let created = false;
    try {
      // An empty file was just made (or left empty by a crash): its directory entry is synced too.
      if (sync) created = fstatSync(fd).size === 0;
      writeAll(fd, data);
      if (sync) await fsyncFd(fd);
    } finally {
      closeSync(fd);
    }
    if (created) await syncDir(dir);
  }

  async list(dir: string): Promise<string[]> {
    try {
      return (await fs.readdir(this.abs(dir))).filter((n) => !n.includes('.tmp-'));
    } catch (e) {
      if (isNotFound(e) || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
      throw e;
    }
  }

  async remove(path: string): Promise<void> {
    await fs.rm(this.abs(path), { recursive: true, force: true });
  }

  /** Resolves a relative checkpoint path, refusing anything that would leave the root. */
  private abs(path: string): string {
    if (path === '' || isAbsolute(path) || path.includes('\0')) throw new Error(`bad checkpoint path: ${JSON.stringify(path)}`);
    const n = normalize(path);
    if (n === '..' || n.startsWith(`..${sep}`)) throw new Error(`checkpoint path escapes the root: ${path}`);
    return join(this.root, n);
  }
}

function isNotFound(e: unknown): boolean {
  return (e as NodeJS.ErrnoException)?.code === 'ENOENT';
}

/** Writes the whole string (a short write is continued, as for a pipe or a full disk's last block). */
function writeAll(fd: number, data: string): void {
  const buf = Buffer.from(data, 'utf8');
  for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
}

/** fsync in the thread pool: the one call here that waits on the disk. */
function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (e) => (e ? reject(e) : resolve())));
}

async function syncDir(dir: string): Promise<void> {
  const fd = openSync(dir, 'r');
  try {
    await fsyncFd(fd);
  } catch {
    // Some file systems refuse fsync on directories; the data itself is already synced.
  } finally {
    closeSync(fd);
  }
}
