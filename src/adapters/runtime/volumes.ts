import { existsSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, normalize } from 'node:path';
import type { Volume } from '../../model/mesos.js';

/**
 * ContainerInfo.volumes → bind mounts. Two kinds, as Mesos' volume/sandbox_path and
 * volume/host_path isolators:
 *
 * - SANDBOX_PATH with `sandbox_path.type` SELF: a path inside the task's own sandbox (created if
 *   missing). PARENT needs a parent container (nested containers of a task group): command tasks
 *   have none, so it fails the launch.
 * - HOST_PATH (`host_path`, or `source.host_path.path`): a path on the host that must exist and
 *   lie under one of the agent's --allowed-host-paths (symlinks resolved first); without the flag
 *   no host path is allowed.
 *
 * The target: an absolute `container_path` inside the container (image tasks; for process tasks
 * a path that must exist on the host, mounted over in the task's own mount namespace), a
 * relative one under the sandbox.
 */
export interface VolumeMount {
  /** Absolute host path. */
  source: string;
  /** Absolute: in the container's root (image tasks) or on the host (process tasks). */
  target: string;
  /** container_path relative to the sandbox (target is then under it). */
  inSandbox: boolean;
  readOnly: boolean;
  /** Whether the source is a directory (else a file: the target is a file too). */
  directory: boolean;
}

export function resolveVolumes(
  volumes: readonly Volume[],
  o: { sandboxDir: string; sandboxInContainer: string | undefined; allowedHostPaths: readonly string[] },
): VolumeMount[] {
  const out: VolumeMount[] = [];
  for (const [i, v] of volumes.entries()) {
    const what = `volume ${i} (container_path '${v?.container_path}')`;
    if (typeof v?.container_path !== 'string' || v.container_path === '') throw new Error(`${what}: container_path is required`);
    if (v.mode !== undefined && v.mode !== 'RW' && v.mode !== 'RO') throw new Error(`${what}: mode must be RW or RO`);
    const cp = normalize(v.container_path);
    const inSandbox = !isAbsolute(cp);
    if (inSandbox && (cp === '..' || cp.startsWith('../'))) throw new Error(`${what}: a relative container_path must stay inside the sandbox`);
    let source: string;
    const type = v.source?.type ?? (v.host_path !== undefined ? 'HOST_PATH' : undefined);
    if (type === 'SANDBOX_PATH') {
      const sp = v.source?.sandbox_path;
      if (!sp || typeof sp.path !== 'string') throw new Error(`${what}: SANDBOX_PATH needs source.sandbox_path.path`);
      if ((sp.type ?? 'SELF') === 'PARENT')
        throw new Error(`${what}: a PARENT sandbox path needs a parent container (only nested containers of a task group have one)`);
      if (sp.type !== undefined && sp.type !== 'SELF') throw new Error(`${what}: unknown sandbox_path type '${sp.type}'`);
      const p = normalize(sp.path);
      if (isAbsolute(p) || p === '..' || p.startsWith('../')) throw new Error(`${what}: sandbox_path.path must be relative and stay inside the sandbox`);
      source = join(o.sandboxDir, p);
    } else if (type === 'HOST_PATH') {
      const hp = v.source?.host_path?.path ?? v.host_path;
      if (typeof hp !== 'string' || !isAbsolute(hp)) throw new Error(`${what}: the host path must be absolute`);
      if (!existsSync(hp)) throw new Error(`${what}: host path '${hp}' does not exist`);
      const real = realpathSync(hp);
      const allowed = o.allowedHostPaths.map((a) => (existsSync(a) ? realpathSync(a) : normalize(a)));
      if (!allowed.some((a) => real === a || real.startsWith(a.endsWith('/') ? a : `${a}/`))) {
        throw new Error(
          `${what}: host path '${hp}'${real !== hp ? ` (${real})` : ''} is not allowed: ${allowed.length === 0 ? 'the agent allows no host paths' : `not under --allowed-host-paths=${o.allowedHostPaths.join(',')}`}`,
        );
      }
      source = real;
    } else {
      throw new Error(`${what}: unsupported volume source '${type ?? 'none'}' (SANDBOX_PATH and HOST_PATH are supported)`);
    }
    let target: string;
    if (inSandbox) target = join(o.sandboxInContainer ?? o.sandboxDir, cp);
    else target = cp;
    const directory = existsSync(source) ? statSync(source).isDirectory() : true;
    out.push({ source, target, inSandbox, readOnly: v.mode === 'RO', directory });
  }
  return out;
}
