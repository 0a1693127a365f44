import { execFile } from 'node:child_process';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ImageConfig, ImageStore } from '../../ports/images.js';
import type { LaunchSpec } from '../../ports/runtime.js';
import type { Cgroups } from './cgroups.js';
import { cfsQuotaUs, cpuShares } from './cgroups.js';
import { ProcessRuntime, type ProcessRuntimeOptions } from './process.js';
import { resolveVolumes, type VolumeMount } from './volumes.js';

const run = promisify(execFile);

/**
 * The Mesos containerizer: a task without an image runs as a process in its own cgroups (the
 * process runtime); a task with `container.mesos.image` (or `container.docker.image`) runs in an
 * OCI bundle by crun (or runc) under the same per-container supervisor, which waits on a
 * foreground `crun run`, so the exit status is never lost, even across agent restarts.
 *
 * Cgroups: the agent creates `<root>/<containerId>` with the cpu, memory and pids limits; the OCI
 * runtime gets `cgroupsPath: /<root>/<containerId>/ctr` below it (with cpu and pids limits of its
 * own). The memory limit sits on the agent's cgroup only: a foreground `crun run` deletes its leaf
 * on exit, and with it the leaf's OOM counter, while the agent's cgroup keeps `memory.failcnt`
 * (v1) and the hierarchical `memory.events` (v2) until the agent removes it.
 *
 * Hybrid cgroups (v1 hierarchies plus a v2 mount with controllers at /sys/fs/cgroup/unified):
 * crun refuses to run there. Each `crun` call then runs in a private mount namespace without that
 * mount (`unshare -m`, then `umount`), about 2.5 ms per start, and the machine is left as it is.
 */

export type OciRuntimeName = 'crun' | 'runc';

export interface OciOptions extends Omit<ProcessRuntimeOptions, 'prepare' | 'signal' | 'release' | 'execArgv' | 'diskPaths'> {
  images: ImageStore;
  /** The writable layer of a container's rootfs (counted against its disk limit). */
  upperDirOf?: (containerId: string) => string;
  /** Directory for bundles (config.json and the rootfs mount point per container). */
  bundleDir: string;
  runtime?: OciRuntimeName;
  /** The cluster DNS for image tasks: a resolv.conf of these, bind-mounted read-only at /etc/resolv.conf. */
  containerDns?: ContainerDns;
}

export interface ContainerDns {
  /** IPv4 addresses; resolv.conf has no port, so each must answer on port 53. */
  nameservers: string[];
  search: string[];
}

/** The resolv.conf text of a container (nameservers and search domains; ndots as Mesos-DNS suggests). */
export function resolvConfText(dns: ContainerDns): string {
  const lines = ['# written by the dcos-ts agent (--container_dns)', ...dns.nameservers.map((n) => `nameserver ${n}`)];
  if (dns.search.length > 0) lines.push(`search ${dns.search.join(' ')}`);
  lines.push('options ndots:1');
  return `${lines.join('\n')}\n`;
}

const SANDBOX_IN_CONTAINER = '/mnt/mesos/sandbox';
const DEFAULT_CAPS = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** Where the hybrid-cgroup trap applies: a v2 mount beside v1 that holds controllers. */
export function hybridCgroupTrap(): boolean {
  try {
    return readFileSync('/sys/fs/cgroup/unified/cgroup.controllers', 'utf8').trim() !== '';
  } catch {
    return false;
  }
}

/** The path of the OCI runtime binary, or undefined when it is not installed. */
export function findOciRuntime(name: OciRuntimeName): string | undefined {
  for (const d of ['/usr/bin', '/usr/sbin', '/usr/local/bin', '/bin', '/sbin']) if (existsSync(`${d}/${name}`)) return `${d}/${name}`;
  return undefined;
}

/** A ProcessRuntime that also runs image tasks through crun or runc. */
export function createMesosContainerizer(options: OciOptions): ProcessRuntime {
  const name = options.runtime ?? 'crun';
  const unshare = findOciRuntime('unshare' as OciRuntimeName) ?? '/usr/bin/unshare';
  const wrapHybrid = name === 'crun' && hybridCgroupTrap();
  const ociArgv = (args: string[]): string[] => {
    const bin = findOciRuntime(name);
    if (!bin) throw new Error(`the OCI runtime '${name}' is not installed (Debian package ${name})`);
    if (!wrapHybrid) return [bin, ...args];
    return [unshare, '-m', '--propagation', 'private', '/bin/sh', '-c', 'umount /sys/fs/cgroup/unified || exit 125; exec "$0" "$@"', bin, ...args];
  };
  const bundleOf = (id: string) => join(options.bundleDir, id);

  return new ProcessRuntime({
    ...options,
    prepare: async (spec, argv) => {
      const image = spec.container?.mesos?.image?.docker?.name ?? spec.container?.docker?.image;
      if (!image) {
        if (argv.length === 0) throw new Error('command.value (or arguments) is required');
        return { argv, joinCgroups: true };
      }
      if (spec.container?.type === 'DOCKER') throw new Error('container type DOCKER needs the docker containerizer; use type MESOS with an image');
      const bundle = bundleOf(spec.containerId);
      try {
        const pulled = await options.images.pull(image, { forcePull: spec.container?.docker?.force_pull_image === true });
        await fs.mkdir(bundle, { recursive: true, mode: 0o700 });
        await options.images.provision(pulled, spec.containerId, join(bundle, 'rootfs'));
        await fs.mkdir(join(bundle, 'rootfs', 'mnt', 'mesos', 'sandbox'), { recursive: true });
        const volumes = resolveVolumes(spec.container?.volumes ?? [], {
          sandboxDir: spec.sandboxDir,
          sandboxInContainer: SANDBOX_IN_CONTAINER,
          allowedHostPaths: options.allowedHostPaths ?? [],
        });
        for (const v of volumes) if (v.source.startsWith(`${spec.sandboxDir}/`)) await fs.mkdir(v.source, { recursive: true });
        const resolvConf = options.containerDns ? join(bundle, 'resolv.conf') : undefined;
        if (resolvConf && options.containerDns) await fs.writeFile(resolvConf, resolvConfText(options.containerDns), { mode: 0o644 });
        const config = ociConfig(spec, pulled.config, argv, options.cgroups, volumes, resolvConf);
        await fs.writeFile(join(bundle, 'config.json'), JSON.stringify(config, null, 2));
      } catch (e) {
        await options.images.release(spec.containerId, join(bundle, 'rootfs')).catch(() => {});
        await fs.rm(bundle, { recursive: true, force: true });
        throw e;
      }
      return { argv: ociArgv(['run', '--bundle', bundle, spec.containerId]), joinCgroups: false };
    },
    signal: async (containerId, signal) => {
      if (!existsSync(bundleOf(containerId))) return;
      const [bin, ...args] = ociArgv(['kill', containerId, signal.slice(3)]);
      await run(bin as string, args).catch(() => {});
    },
    execArgv: (containerId, argv, env) => {
      if (!existsSync(join(bundleOf(containerId), 'config.json'))) return undefined;
      const envArgs = Object.entries({ ...env, MESOS_SANDBOX: SANDBOX_IN_CONTAINER }).flatMap(([k, v]) => ['--env', `${k}=${v}`]);
      return ociArgv(['exec', '--cwd', SANDBOX_IN_CONTAINER, ...envArgs, containerId, ...argv]);
    },
    diskPaths: (containerId) => (options.upperDirOf ? [options.upperDirOf(containerId)] : []),
    release: async (containerId) => {
      const bundle = bundleOf(containerId);
      if (!existsSync(bundle)) return;
      const [bin, ...args] = ociArgv(['delete', '--force', containerId]);
      await run(bin as string, args).catch(() => {});
      await options.images.release(containerId, join(bundle, 'rootfs'));
      await fs.rm(bundle, { recursive: true, force: true });
    },
  });
}

/** The OCI runtime config (config.json) for one task. */
export function ociConfig(
  spec: LaunchSpec,
  image: ImageConfig,
  commandArgv: string[],
  cgroups: Cgroups | undefined,
  volumes: readonly VolumeMount[] = [],
  /** Host path of a resolv.conf to bind read-only at /etc/resolv.conf (the cluster DNS). */
  resolvConf?: string,
): Record<string, unknown> {
  let args = commandArgv;
  if (spec.command.shell === false && !spec.command.value && (spec.command.arguments ?? []).length === 0) args = [...image.entrypoint, ...image.cmd];
  else if (spec.command.shell === false && image.entrypoint.length > 0 && !spec.command.value) args = [...image.entrypoint, ...(spec.command.arguments ?? [])];
  if (args.length === 0) throw new Error('the task has no command and its image neither an entrypoint nor a cmd');
  const env = new Map<string, string>();
  for (const e of image.env) {
    const i = e.indexOf('=');
    if (i > 0) env.set(e.slice(0, i), e.slice(i + 1));
  }
  for (const [k, v] of Object.entries(spec.env)) env.set(k, v);
  env.set('MESOS_SANDBOX', SANDBOX_IN_CONTAINER);
  const cpus = spec.resources?.cpus;
  const resources: Record<string, unknown> = { pids: { limit: 4096 } };
  if (cpus !== undefined && cpus > 0) resources.cpu = { shares: cpuShares(cpus), quota: cfsQuotaUs(cpus), period: 100_000 };
  // Without agent cgroups the memory limit goes on the runtime's own cgroup (OOM then shows only as 137).
  if (!cgroups && spec.resources?.memMb) resources.memory = { limit: Math.round(spec.resources.memMb * 1024 * 1024) };
  const cgroupsPath = cgroups ? `${cgroups.relativePath(spec.containerId)}/ctr` : `/dcos-ts/${spec.containerId}`;
  const nofile = hardNofile();
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args,
      env: [...env].map(([k, v]) => `${k}=${v}`),
      cwd: SANDBOX_IN_CONTAINER,
      capabilities: { bounding: DEFAULT_CAPS, effective: DEFAULT_CAPS, permitted: DEFAULT_CAPS },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: nofile, soft: Math.min(nofile, 65_536) }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: false },
    hostname: spec.containerId.slice(0, 63),
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: SANDBOX_IN_CONTAINER, type: 'bind', source: spec.sandboxDir, options: ['rbind', 'rw'] },
      // Volumes after the sandbox: a relative container_path lands inside it.
      ...volumes.map((v) => ({ destination: v.target, type: 'bind', source: v.source, options: ['rbind', v.readOnly ? 'ro' : 'rw'] })),
      ...(resolvConf ? [{ destination: '/etc/resolv.conf', type: 'bind', source: resolvConf, options: ['bind', 'ro'] }] : []),
    ],
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'uts' }, { type: 'ipc' }],
      cgroupsPath,
      resources,
      maskedPaths: ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/proc/sched_debug', '/sys/firmware', '/proc/scsi'],
      readonlyPaths: ['/proc/asound', '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

/** The agent's own hard RLIMIT_NOFILE (root lacks CAP_SYS_RESOURCE here: never ask for more). */
function hardNofile(): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const hard = Number(line?.trim().split(/\s+/)[4]);
    if (Number.isInteger(hard) && hard > 0) return hard;
  } catch {
    // fall through
  }
  return 1024;
}
