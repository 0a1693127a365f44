import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, statfsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The agent's runtime directory (Mesos' `--runtime_dir`): state that must outlive the agent
 * process but not the machine. The containers' runtime state (pid, exit status, launch file,
 * gate), their OCI bundles and the OCI runtime's own state (`--root`). Each container makes and
 * removes a couple of dozen such entries; on a tmpfs they cost nothing of the disk, where on this
 * kind of VM (ext4 without a journal) every inode made after many deletions is searched for
 * (`recently_deleted`) and every directory change is written out by the next fsync.
 * After a reboot it is empty, as the containers are gone: recovery then finds no runtime state
 * for the checkpointed tasks.
 */

const TMPFS_MAGIC = 0x01021994;

export function isTmpfs(path: string): boolean {
  try {
    return statfsSync(path).type === TMPFS_MAGIC;
  } catch {
    return false;
  }
}

/** `<base>/dcos-ts/<hash of the work dir>`: one runtime dir per agent work dir under a shared base. */
export function runtimeDirUnder(base: string, workDir: string): string {
  return join(base, 'dcos-ts', createHash('sha256').update(workDir).digest('hex').slice(0, 16));
}

/** `/run/dcos-ts/<hash of the work dir>` where /run is a tmpfs (most hosts), else `<work dir>/run`. */
export function defaultRuntimeDir(workDir: string): string {
  return isTmpfs('/run') ? runtimeDirUnder('/run', workDir) : join(workDir, 'run');
}

/**
 * Makes the runtime directory (mode 0700) and checks that it is a real directory of this user's:
 * under a shared parent (/dev/shm) somebody else could have made it first, or a symlink to
 * somewhere else. Throws with what to do.
 */
export function prepareRuntimeDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  const uid = process.geteuid?.() ?? 0;
  if (!st.isDirectory() || st.isSymbolicLink()) throw new Error(`--runtime_dir ${dir} is not a directory; remove it or pass another --runtime_dir`);
  if (st.uid !== uid) throw new Error(`--runtime_dir ${dir} belongs to uid ${st.uid}, not to this agent (uid ${uid}); remove it or pass another --runtime_dir`);
  if ((st.mode & 0o022) !== 0)
    throw new Error(`--runtime_dir ${dir} is writable by others (mode ${(st.mode & 0o777).toString(8)}); chmod 700 it or pass another --runtime_dir`);
}

/** The runtime directory's parts. */
export function runtimeLayout(dir: string): { containers: string; bundles: string; oci: string } {
  return { containers: join(dir, 'containers'), bundles: join(dir, 'bundles'), oci: join(dir, 'oci') };
}
