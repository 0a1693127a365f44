import { execFile } from 'node:child_process';
import { chmodSync, chownSync, existsSync, promises as fs, lstatSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ImageConfig, ImageStore, RootfsMount } from '../../ports/images.js';
import type { ContainerInfo } from '../../model/mesos.js';
import type { LaunchSpec } from '../../ports/runtime.js';
import type { Cgroups } from './cgroups.js';
import { removeTrees } from './remover.js';
import { cfsQuotaUs, cpuShares, v2LimitFiles } from './cgroups.js';
import { BUSYBOX, GATE_GO, ProcessRuntime, type ProcessRuntimeOptions } from './process.js';
import { defaultSeccompProfile } from './seccomp.js';
import { compileSeccompBpf } from './seccomp-bpf.js';
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
  /**
   * The OCI runtime's own state directory (its `--root`). Default: the runtime's machine-wide one
   * (/run/crun, /run/runc), shared by every agent and test on the machine, where one container id
   * used twice at once is refused; the agent gives each work dir its own.
   */
  stateRoot?: string;
  runtime?: OciRuntimeName;
  /** `default`: the deny-list profile of seccomp.ts for every image task; `unconfined`: none. */
  seccomp?: 'default' | 'unconfined';
  /**
   * Image tasks start through a second launcher that lives in a private mount namespace of its
   * own (default true): no `unshare -m` and `sh` per container. False: each gets its own.
   */
  isolatedLaunches?: boolean;
  /** The cluster DNS for image tasks: a resolv.conf of these, bind-mounted read-only at /etc/resolv.conf. */
  containerDns?: ContainerDns;
  /** The same for image tasks in a network namespace of their own (the bridge gateway's DNS relay). */
  containerNetDns?: ContainerDns;
}

/** Mesos' RLimitInfo and LinuxInfo.seccomp, read from ContainerInfo (not in model/mesos.ts yet). */
export interface RLimit {
  type: string;
  soft?: number;
  hard?: number;
}
type ContainerExtras = ContainerInfo & {
  rlimit_info?: { rlimits?: RLimit[] };
  linux_info?: { seccomp?: { unconfined?: boolean; profile_name?: string } };
};

/** What the bundle needs beyond the task and the image: who runs it, where, and the seccomp profile. */
export interface OciExtras {
  user?: { uid: number; gid: number; additionalGids?: number[] };
  /** The working directory inside the container (default: the sandbox). */
  cwd?: string;
  seccomp?: boolean;
  /** The default profile compiled to BPF (base64), for crun's run.oci.seccomp_bpf_data annotation. */
  seccompBpf?: string;
  /** Host path of a resolv.conf to bind read-only at /etc/resolv.conf (the cluster DNS). */
  resolvConf?: string;
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

/**
 * Run in place of the task in a mount namespace the host does not see: drops the hybrid v2 cgroup
 * mount where crun needs that (`hybrid`), mounts the container's overlay rootfs (or copies the
 * image and the prepared upper dir where overlayfs cannot be mounted), waits at the gate of a
 * gated launch, then execs the OCI runtime. Either evaluated by the isolated launcher's subshell
 * (`dcos-inline`; the supervisor unmounts the rootfs after the exit) or by a `sh` of its own after
 * `unshare -m` (the mount goes with that namespace when the runtime exits).
 * argv: hybrid|plain, overlay options, target, lower dir, upper dir, gated|open, then the
 * runtime's argv.
 */
const MOUNT_AND_RUN = [
  'if [ "$1" = hybrid ]; then umount /sys/fs/cgroup/unified || exit 125; fi',
  'mount -t overlay overlay -o "$2" "$3" 2>/dev/null || { cp -a "$4/." "$3" && cp -a "$5/." "$3"; } || exit 126',
  // A gated launch waits here for the agent's word (process.ts, GATE_GO); crun does not get fd 3.
  `if [ "$6" = gated ]; then read -r __g <&3; exec 3<&-; [ "$__g" = ${GATE_GO} ] || exit 120; fi`,
  'shift 6',
  'exec "$@"',
].join('; '); // one line: the launcher carries a command on one line

/**
 * The shell that runs MOUNT_AND_RUN: busybox's where it is installed. Its `umount` is an applet
 * that runs in a fork without an exec, its `mount` a re-exec of the same static binary, against
 * dash plus util-linux's dynamically linked umount and mount (libmount, libblkid, libselinux):
 * about 1.8 ms less per launch on this machine (8.6 → 6.8 ms for the whole supervisor chain, p50
 * of 150 runs interleaved).
 */
const MOUNT_SHELL = BUSYBOX ? [BUSYBOX, 'sh'] : ['/bin/sh'];
/** The private mount namespace of MOUNT_AND_RUN: busybox's unshare applet too (no dynamic loader). */
const MOUNT_UNSHARE = (utilLinux: string): string[] => (BUSYBOX ? [BUSYBOX, 'unshare'] : [utilLinux]);

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
  const runtimeBin = (): string => {
    const bin = findOciRuntime(name);
    if (!bin) throw new Error(`the OCI runtime '${name}' is not installed (Debian package ${name})`);
    return bin;
  };
  const rootArgs = options.stateRoot ? ['--root', options.stateRoot] : [];
  const ociArgv = (args: string[]): string[] => {
    const bin = runtimeBin();
    if (!wrapHybrid) return [bin, ...rootArgs, ...args];
    return [unshare, '-m', '--propagation', 'private', '/bin/sh', '-c', 'umount /sys/fs/cgroup/unified || exit 125; exec "$0" "$@"', bin, ...rootArgs, ...args];
  };
  const bundleOf = (id: string) => join(options.bundleDir, id);
  const stateRoot = options.stateRoot ?? (name === 'crun' ? '/run/crun' : '/run/runc');
  // The default seccomp profile as crun's BPF program, made once (by the first image task) and
  // handed to every bundle after it; see seccomp-bpf.ts. runc has no such annotation.
  let bpf: Promise<string | undefined> | undefined;
  const seccompBpf = (): Promise<string | undefined> => {
    if (name !== 'crun') return Promise.resolve(undefined);
    bpf ??= compileSeccompBpf({
      ociArgv,
      stateRoot,
      scratchDir: options.bundleDir,
      profile: defaultSeccompProfile(),
      cgroupsPath: options.cgroups ? options.cgroups.relativePath(`seccomp-compile-${process.pid}`) : `/dcos-ts/seccomp-compile-${process.pid}`,
    }).catch((e: Error) => {
      options.log?.('warn', `compiling the seccomp profile once failed (${e.message}); crun compiles it in every container start instead`);
      return undefined;
    });
    return bpf;
  };

  // Image tasks start through a launcher in a mount namespace of its own (see prepare below).
  const isolatedLaunches = options.isolatedLaunches !== false && options.launcher !== false;
  return new ProcessRuntime({
    ...options,
    launcherScripts: [MOUNT_AND_RUN],
    ...(isolatedLaunches
      ? {
          isolatedLauncher: {
            shell: [...MOUNT_UNSHARE(unshare), '-m', '--propagation', 'private', ...MOUNT_SHELL],
            // Its commands fail with crun's own message should this not work.
            ...(wrapHybrid ? { prelude: 'umount /sys/fs/cgroup/unified 2>/dev/null' } : {}),
          },
        }
      : {}),
    prepare: async (spec, argv) => {
      const image = spec.container?.mesos?.image?.docker?.name ?? spec.container?.docker?.image;
      if (!image) {
        if (argv.length === 0) throw new Error('command.value (or arguments) is required');
        return { argv, joinCgroups: true };
      }
      if (spec.container?.type === 'DOCKER') throw new Error('container type DOCKER needs the docker containerizer; use type MESOS with an image');
      const bundle = bundleOf(spec.containerId);
      let mount: RootfsMount | undefined;
      let hostPaths = false;
      try {
        const pulled = await options.images.pull(image, { forcePull: spec.container?.docker?.force_pull_image === true });
        options.trace?.(spec.containerId, 'oci: image looked up');
        // The launch path's small file operations are synchronous: each is tens of microseconds
        // here, against 0.1-0.4 ms for a round trip through the thread pool and the event loop.
        mkdirSync(bundle, { recursive: true, mode: 0o700 });
        const rootfs = join(bundle, 'rootfs');
        // The overlay is mounted by the supervisor right before `crun run` and unmounted by it
        // right after (one process spawn per container); the image's own files are read below.
        mount = options.images.prepareMount ? await options.images.prepareMount(pulled, spec.containerId, rootfs) : undefined;
        if (!mount) await options.images.provision(pulled, spec.containerId, rootfs);
        options.trace?.(spec.containerId, 'oci: rootfs dirs made');
        const imageRoot = mount ? mount.lowerDir : rootfs;
        const ensureDir = (path: string) => (mount ? ensureDirInUpper(mount.lowerDir, mount.upperDir, path) : mkdirInRootfs(rootfs, path));
        await ensureDir(SANDBOX_IN_CONTAINER);
        const volumes = resolveVolumes(spec.container?.volumes ?? [], {
          sandboxDir: spec.sandboxDir,
          sandboxInContainer: SANDBOX_IN_CONTAINER,
          allowedHostPaths: options.allowedHostPaths ?? [],
        });
        for (const v of volumes) if (v.source.startsWith(`${spec.sandboxDir}/`)) await fs.mkdir(v.source, { recursive: true });
        hostPaths = volumes.some((v) => !v.source.startsWith(`${spec.sandboxDir}/`));
        const userName = spec.command.user || pulled.config.user || '';
        const user = userName === '' ? { uid: 0, gid: 0 } : await resolveUser(userName, imageRoot);
        // As Mesos does: the sandbox belongs to the task's user, so a non-root task can write it.
        if (user.uid !== 0) await fs.chown(spec.sandboxDir, user.uid, user.gid);
        const cwd = pulled.config.workingDir || undefined;
        if (cwd) await ensureDir(cwd);
        const extras = spec.container as ContainerExtras | undefined;
        const seccomp = options.seccomp !== 'unconfined' && extras?.linux_info?.seccomp?.unconfined !== true;
        const bpfData = seccomp ? await seccompBpf() : undefined;
        const dns = (spec.netnsPath ? options.containerNetDns : undefined) ?? options.containerDns;
        const resolvConf = dns ? join(bundle, 'resolv.conf') : undefined;
        if (resolvConf && dns) writeFileSync(resolvConf, resolvConfText(dns), { mode: 0o644 });
        options.trace?.(spec.containerId, 'oci: user, dirs, volumes');
        const config = ociConfig(spec, pulled.config, argv, options.cgroups, volumes, {
          user,
          ...(cwd ? { cwd } : {}),
          seccomp,
          ...(bpfData ? { seccompBpf: bpfData } : {}),
          ...(resolvConf ? { resolvConf } : {}),
        });
        options.trace?.(spec.containerId, 'oci: config built');
        writeFileSync(join(bundle, 'config.json'), serializeConfig(config));
      } catch (e) {
        await options.images.release(spec.containerId, join(bundle, 'rootfs')).catch(() => {});
        await fs.rm(bundle, { recursive: true, force: true });
        throw e;
      }
      const runArgs = ['run', '--bundle', bundle, spec.containerId];
      if (!mount) return { argv: ociArgv(runArgs), joinCgroups: false, newSession: false };
      // Gated when the agent's checkpoint is still being written: all of this runs meanwhile.
      const gated = spec.ready !== undefined;
      // MOUNT_AND_RUN's arguments after hybrid|plain.
      const mountArgs = [
        `lowerdir=${mount.lowerDir},upperdir=${mount.upperDir},workdir=${mount.workDir}`,
        mount.target,
        mount.lowerDir,
        mount.upperDir,
        gated ? 'gated' : 'open',
        runtimeBin(),
        ...rootArgs,
        ...runArgs,
      ];
      // Through the isolated launcher (a mount namespace made once, the hybrid v2 mount dropped
      // there once): the supervisor's own subshell mounts the rootfs and execs the runtime, and
      // unmounts it after the exit. Not for a task whose network namespace or host path volumes may
      // be mounts made after that namespace was (it would not see them): those get one of their own.
      if (isolatedLaunches && !spec.netnsPath && !hostPaths) {
        return {
          argv: ['dcos-inline', MOUNT_AND_RUN, 'plain', ...mountArgs],
          joinCgroups: false,
          newSession: false,
          gated,
          isolated: true,
          unmountAfter: mount.target,
        };
      }
      const wrapper = [
        ...MOUNT_UNSHARE(unshare),
        '-m',
        '--propagation',
        'private',
        ...MOUNT_SHELL,
        '-c',
        MOUNT_AND_RUN,
        'dcos-rootfs',
        wrapHybrid ? 'hybrid' : 'plain',
      ];
      return {
        argv: [...wrapper, ...mountArgs],
        joinCgroups: false,
        newSession: false,
        gated,
      };
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
      // A foreground `crun run` removed its own state when it ended; it is left only when the
      // runtime was killed (a SIGKILL to the process group), and only then is a delete spawned.
      if (existsSync(join(stateRoot, containerId))) {
        const [bin, ...args] = ociArgv(['delete', '--force', containerId]);
        await run(bin as string, args).catch(() => {});
      }
      await options.images.release(containerId, join(bundle, 'rootfs'));
      options.trace?.(containerId, 'cleanup: image released');
      // A few files of our own (config.json, resolv.conf, the empty rootfs mount point): removed by
      // the remover thread, not in some ten thread-pool round trips nor on the event loop.
      await removeTrees([bundle]);
      options.trace?.(containerId, 'cleanup: bundle removed');
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
  extras: OciExtras = {},
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
  let resources: Record<string, unknown> = { pids: { limit: 4096 } };
  if (cpus !== undefined && cpus > 0) resources.cpu = { shares: cpuShares(cpus), quota: cfsQuotaUs(cpus), period: 100_000 };
  // cgroup v2: the files themselves, as the agent writes them (crun < 1.23 and runc < 1.3 map shares 1024 to weight 39).
  if (cgroups?.mode.kind === 'v2') resources = { unified: v2LimitFiles({ cpus: cpus ?? 0, pidsMax: 4096 }) };
  // Without agent cgroups the memory limit goes on the runtime's own cgroup (OOM then shows only as 137).
  if (!cgroups && spec.resources?.memMb) resources.memory = { limit: Math.round(spec.resources.memMb * 1024 * 1024) };
  const cgroupsPath = cgroups ? `${cgroups.relativePath(spec.containerId)}/ctr` : `/dcos-ts/${spec.containerId}`;
  const rlimits = bundleRlimits((spec.container as ContainerExtras | undefined)?.rlimit_info?.rlimits ?? []);
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: extras.user ?? { uid: 0, gid: 0 },
      args,
      env: [...env].map(([k, v]) => `${k}=${v}`),
      cwd: extras.cwd ?? SANDBOX_IN_CONTAINER,
      capabilities: { bounding: DEFAULT_CAPS, effective: DEFAULT_CAPS, permitted: DEFAULT_CAPS },
      rlimits,
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
      ...(extras.resolvConf ? [{ destination: '/etc/resolv.conf', type: 'bind', source: extras.resolvConf, options: ['bind', 'ro'] }] : []),
    ],
    linux: {
      namespaces: [
        { type: 'pid' },
        { type: 'mount' },
        { type: 'uts' },
        { type: 'ipc' },
        // A container network (CNI): join the namespace the agent attached; none: the host's network.
        ...(spec.netnsPath ? [{ type: 'network', path: spec.netnsPath }] : []),
      ],
      cgroupsPath,
      resources,
      maskedPaths: ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/proc/sched_debug', '/sys/firmware', '/proc/scsi'],
      readonlyPaths: ['/proc/asound', '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
      ...(extras.seccomp ? { seccomp: defaultSeccompProfile() } : {}),
    },
    // crun loads this program as it is (the JSON profile above stays for runtimes without it).
    ...(extras.seccomp && extras.seccompBpf ? { annotations: { 'run.oci.seccomp_bpf_data': extras.seccompBpf } } : {}),
  };
}

/** RLIM_INFINITY: 2^64-1 does not fit a JS number, so it is a marker until serialisation. */
const RLIM_INFINITY = 'RLIM_INFINITY';

/** config.json text: the unlimited marker becomes the uint64 the runtimes expect. */
export function serializeConfig(config: Record<string, unknown>): string {
  return JSON.stringify(config, null, 2).replace(new RegExp(`"${RLIM_INFINITY}"`, 'g'), '18446744073709551615');
}

const RLIMIT_TYPES = [
  'AS',
  'CORE',
  'CPU',
  'DATA',
  'FSIZE',
  'LOCKS',
  'MEMLOCK',
  'MSGQUEUE',
  'NICE',
  'NOFILE',
  'NPROC',
  'RSS',
  'RTPRIO',
  'RTTIME',
  'SIGPENDING',
  'STACK',
];
/** The rows of /proc/self/limits per RLIMIT name. */
const LIMIT_ROWS: Record<string, string> = {
  AS: 'Max address space',
  CORE: 'Max core file size',
  CPU: 'Max cpu time',
  DATA: 'Max data size',
  FSIZE: 'Max file size',
  LOCKS: 'Max file locks',
  MEMLOCK: 'Max locked memory',
  MSGQUEUE: 'Max msgqueue size',
  NICE: 'Max nice priority',
  NOFILE: 'Max open files',
  NPROC: 'Max processes',
  RSS: 'Max resident set',
  RTPRIO: 'Max realtime priority',
  RTTIME: 'Max realtime timeout',
  SIGPENDING: 'Max pending signals',
  STACK: 'Max stack size',
};

/**
 * The bundle's rlimits: RLIMIT_NOFILE by default (no higher than the agent's own hard limit), and
 * ContainerInfo.rlimit_info as Mesos reads it: `RLMT_<NAME>`, soft and hard both set, or both
 * unset for unlimited. Root lacks CAP_SYS_RESOURCE on some machines, so a hard limit above the
 * agent's own cannot be granted: that fails the launch with a message instead of inside crun.
 */
export function bundleRlimits(requested: readonly RLimit[], own: (name: string) => number | 'unlimited' | undefined = ownHardLimit): Record<string, unknown>[] {
  const nofile = own('NOFILE');
  const nofileHard = typeof nofile === 'number' ? nofile : 1024;
  const out = new Map<string, Record<string, unknown>>([['NOFILE', { type: 'RLIMIT_NOFILE', hard: nofileHard, soft: Math.min(nofileHard, 65_536) }]]);
  for (const r of requested) {
    const name = typeof r?.type === 'string' ? r.type.replace(/^RLMT_/, '') : '';
    if (!r?.type?.startsWith('RLMT_') || !RLIMIT_TYPES.includes(name))
      throw new Error(`rlimit_info: unknown rlimit type '${String(r?.type)}' (expected RLMT_NOFILE, RLMT_NPROC, ...)`);
    const hasSoft = r.soft !== undefined && r.soft !== null;
    const hasHard = r.hard !== undefined && r.hard !== null;
    if (hasSoft !== hasHard) throw new Error(`rlimit_info: ${r.type} needs both soft and hard (or neither, for unlimited)`);
    let soft: number | string = RLIM_INFINITY;
    let hard: number | string = RLIM_INFINITY;
    if (hasSoft) {
      if (!Number.isInteger(r.soft) || !Number.isInteger(r.hard) || (r.soft as number) < 0 || (r.soft as number) > (r.hard as number))
        throw new Error(`rlimit_info: ${r.type} needs integers with 0 <= soft <= hard, got soft ${r.soft} hard ${r.hard}`);
      soft = r.soft as number;
      hard = r.hard as number;
    }
    const limit = own(name);
    if (limit !== 'unlimited' && limit !== undefined && (hard === RLIM_INFINITY || (hard as number) > limit))
      throw new Error(`rlimit_info: ${r.type} hard limit ${hard === RLIM_INFINITY ? 'unlimited' : hard} is above the agent's own (${limit})`);
    out.set(name, { type: `RLIMIT_${name}`, hard, soft });
  }
  return [...out.values()];
}

/** The agent's own hard limit (root may lack CAP_SYS_RESOURCE: never ask for more). */
function ownHardLimit(name: string): number | 'unlimited' | undefined {
  try {
    const row = LIMIT_ROWS[name];
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => row !== undefined && l.startsWith(row));
    const hard = line?.slice(26).trim().split(/\s+/)[1];
    if (hard === 'unlimited') return 'unlimited';
    const n = Number(hard);
    return Number.isInteger(n) && n >= 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A task's user in its image: `uid[:gid]` numerically, or `name[:group]` looked up in the
 * rootfs's /etc/passwd and /etc/group (with the user's supplementary groups from /etc/group).
 */
export async function resolveUser(user: string, rootfs: string): Promise<{ uid: number; gid: number; additionalGids?: number[] }> {
  const [u = '', g] = user.split(':', 2);
  const read = async (f: string): Promise<string[][]> => {
    try {
      return (await fs.readFile(join(rootfs, 'etc', f), 'utf8'))
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => l.split(':'));
    } catch {
      return [];
    }
  };
  const passwd = await read('passwd');
  let uid: number;
  let gid: number | undefined;
  let name: string | undefined;
  if (/^\d+$/.test(u)) {
    uid = Number(u);
    const row = passwd.find((p) => p[2] === u);
    if (row) {
      gid = Number(row[3]);
      name = row[0];
    }
  } else {
    const row = passwd.find((p) => p[0] === u);
    if (!row) throw new Error(`user '${u}' is not in the image's /etc/passwd`);
    uid = Number(row[2]);
    gid = Number(row[3]);
    name = u;
  }
  const groups = await read('group');
  if (g !== undefined && g !== '') {
    if (/^\d+$/.test(g)) gid = Number(g);
    else {
      const row = groups.find((x) => x[0] === g);
      if (!row) throw new Error(`group '${g}' is not in the image's /etc/group`);
      gid = Number(row[2]);
    }
  }
  if (!Number.isInteger(uid) || uid < 0 || !Number.isInteger(gid ?? 0) || (gid ?? 0) < 0) throw new Error(`cannot resolve user '${user}' in the image`);
  const extra = name === undefined ? [] : groups.filter((x) => (x[3] ?? '').split(',').includes(name as string)).map((x) => Number(x[2]));
  const additionalGids = [...new Set(extra.filter((x) => Number.isInteger(x) && x !== gid))];
  return { uid, gid: gid ?? 0, ...(additionalGids.length > 0 ? { additionalGids } : {}) };
}

/**
 * Makes an absolute directory exist in an overlay that is not mounted yet: the components the
 * image (lower) lacks are made in the container's upper dir, their parents there with the
 * image's modes and owners (an upper directory's attributes win in the merged view). A symlink in
 * the image stops the walk (the runtime resolves it inside the rootfs).
 */
async function ensureDirInUpper(lower: string, upper: string, path: string): Promise<void> {
  if (!path.startsWith('/') || path.split('/').includes('..')) throw new Error(`'${path}' is not a clean absolute path`);
  const parts = path.split('/').filter(Boolean);
  let missing = parts.length;
  // Synchronous, as the rest of the launch path's small file operations (see prepare).
  for (let i = 0; i < parts.length; i++) {
    const st = lstatSync(join(lower, ...parts.slice(0, i + 1)), { throwIfNoEntry: false });
    if (!st) {
      missing = i;
      break;
    }
    if (st.isSymbolicLink()) return;
    if (!st.isDirectory()) throw new Error(`'${path}' is not a directory in the image`);
  }
  if (missing === parts.length) return;
  for (let i = 0; i < parts.length; i++) {
    const dir = join(upper, ...parts.slice(0, i + 1));
    if (existsSync(dir)) continue;
    mkdirSync(dir, { mode: 0o755 });
    if (i < missing) {
      const st = statSync(join(lower, ...parts.slice(0, i + 1)));
      chmodSync(dir, st.mode & 0o7777);
      chownSync(dir, st.uid, st.gid);
    }
  }
}

/** Makes an absolute path inside the rootfs without following symlinks out of it. */
async function mkdirInRootfs(rootfs: string, path: string): Promise<void> {
  if (!path.startsWith('/') || path.split('/').includes('..')) throw new Error(`the image's WorkingDir '${path}' is not a clean absolute path`);
  let cur = rootfs;
  for (const part of path.split('/').filter(Boolean)) {
    cur = join(cur, part);
    const st = await fs.lstat(cur).catch(() => undefined);
    if (!st) await fs.mkdir(cur, { mode: 0o755 });
    else if (st.isSymbolicLink())
      return; // the runtime resolves it inside the rootfs
    else if (!st.isDirectory()) throw new Error(`the image's WorkingDir '${path}' is not a directory`);
  }
}
