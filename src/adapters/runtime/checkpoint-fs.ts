import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, sep } from 'node:path';
import type { Checkpointer } from '../../ports/runtime.js';

/**
 * The Checkpointer on a real file system, rooted at the agent's work dir. Every write is
 * durable before the promise resolves: data fsync, then rename, then a directory fsync so the
 * rename itself survives a power loss.
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
    await fs.mkdir(dir, { recursive: true });
    const tmp = `${target}.tmp-${process.pid}-${this.tmpSeq++}`;
    const fh = await fs.open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(data, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, target);
    await syncDir(dir);
  }

  async append(path: string, data: string, options: { sync?: boolean } = {}): Promise<void> {
    const target = this.abs(path);
    const dir = dirname(target);
    // The directory usually exists (an append follows a write there): make it only when missing.
    let fh: FileHandle;
    try {
      fh = await fs.open(target, 'a', 0o600);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      await fs.mkdir(dir, { recursive: true });
      fh = await fs.open(target, 'a', 0o600);
    }
    const sync = options.sync !== false;
    let created = false;
    try {
      // An empty file was just made (or left empty by a crash): its directory entry is synced too.
      if (sync) created = (await fh.stat()).size === 0;
      await fh.appendFile(data, 'utf8');
      if (sync) await fh.sync();
    } finally {
      await fh.close();
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

async function syncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } catch {
    // Some file systems refuse fsync on directories; the data itself is already synced.
  } finally {
    await fh.close();
  }
}
