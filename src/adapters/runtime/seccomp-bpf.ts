import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The default seccomp profile compiled to BPF once per agent, for crun's
 * `run.oci.seccomp_bpf_data` annotation: crun then loads the program as it is instead of building
 * it from the profile's JSON with libseccomp in every container start (1.0-1.4 ms of each
 * `crun run` on these machines; the whole of the agent bundle's extra cost over a bare one).
 *
 * The program is crun's own: a throwaway container is created (not started) with the profile, the
 * `seccomp.bpf` crun wrote into its state directory for the container's init is read, and the
 * container is deleted. So the filter is byte for byte what crun would load from the JSON, on this
 * kernel and with this libseccomp. The bundle keeps the JSON profile too: a crun that does not know
 * the annotation ignores it and builds the same filter from the JSON.
 */
export interface SeccompCompileOptions {
  /** argv of the OCI runtime for the given runtime arguments (with --root and any wrapper). */
  ociArgv: (args: string[]) => string[];
  /** The runtime's state directory (its --root). */
  stateRoot: string;
  /** A scratch directory for the throwaway bundle (removed afterwards). */
  scratchDir: string;
  /** The linux.seccomp object to compile. */
  profile: Record<string, unknown>;
  /** The throwaway container's cgroupsPath (under the agent's own cgroup). */
  cgroupsPath: string;
}

let seq = 0;

/** Compiles the profile through crun; resolves to the BPF program in base64. */
export async function compileSeccompBpf(o: SeccompCompileOptions): Promise<string> {
  const id = `dcos-seccomp-${process.pid}-${++seq}`;
  const bundle = join(o.scratchDir, id);
  // An empty root with the one directory crun fills itself (its default devices).
  mkdirSync(join(bundle, 'rootfs', 'dev'), { recursive: true, mode: 0o700 });
  const config = {
    ociVersion: '1.0.2',
    // Never started: the init waits for `crun start`, and is killed by the delete below.
    process: { terminal: false, user: { uid: 0, gid: 0 }, args: ['/never-started'], cwd: '/' },
    root: { path: 'rootfs' },
    mounts: [],
    linux: { namespaces: [{ type: 'mount' }, { type: 'pid' }], cgroupsPath: o.cgroupsPath, seccomp: o.profile },
  };
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(config));
  // crun looks the program up before it creates anything: an empty file stands in for it.
  writeFileSync(join(bundle, 'rootfs', 'never-started'), '', { mode: 0o755 });
  try {
    await runArgv(o.ociArgv(['create', '--bundle', bundle, id]));
    const bpf = readFileSync(join(o.stateRoot, id, 'seccomp.bpf'));
    // A sock_filter is 8 bytes; a program ends in a return, so it has at least one.
    if (bpf.length === 0 || bpf.length % 8 !== 0) throw new Error(`crun wrote a seccomp program of ${bpf.length} bytes`);
    return bpf.toString('base64');
  } finally {
    await runArgv(o.ociArgv(['delete', '--force', id])).catch(() => {});
    rmSync(bundle, { recursive: true, force: true });
  }
}

/**
 * Runs a runtime command to its exit. Not to the end of its output: the created container's init
 * inherits the runtime's stdio and holds it until the delete.
 */
function runArgv(argv: string[]): Promise<void> {
  const [bin, ...args] = argv;
  return new Promise((resolve, reject) => {
    const child = spawn(bin as string, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr?.on('data', (d: Buffer) => {
      if (err.length < 4096) err += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      child.stderr?.destroy();
      if (code === 0) resolve();
      else reject(new Error(`${argv.join(' ').slice(0, 200)}: ${err.trim() || `exit ${code ?? signal}`}`));
    });
  });
}
