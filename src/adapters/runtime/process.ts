import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, constants, existsSync, promises as fs, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type {
  CheckpointedContainer,
  ContainerHandle,
  ContainerRuntime,
  ContainerStats,
  ExitStatus,
  LaunchSpec,
  RecoveredContainer,
} from '../../ports/runtime.js';
import type { CommandURI } from '../../model/mesos.js';
import type { Cgroups } from './cgroups.js';
import { removeTrees } from './remover.js';
import { Launcher, type LauncherEvent } from './launcher.js';
import { resolveVolumes, type VolumeMount } from './volumes.js';

/**
 * The `process` runtime: each task runs as a process group in its sandbox, in its own cgroups
 * when the agent is given them (cpu, memory, pids; see cgroups.ts).
 *
 * Node cannot become a child subreaper, so a detached task would lose its exit status when the
 * agent restarts. Each task therefore runs under a tiny shell supervisor, started by the
 * long-lived launcher (launcher.ts; or spawned detached from here when a launch does not fit the
 * launcher's one line), that starts the task in a new session with `setsid`, records the task's
 * pid, waits for it, kills whatever is left of its process group, and writes the exit status to
 * `<stateDir>/<containerId>/exit_status` (one write by the shell's builtin echo, read only once
 * it ends in a newline; no extra process on the exit path). It also reports the pid and, once
 * the file is written, the exit status on its stdout (`<id> pid N`, `<id> exit N`): no file read
 * on the exit path. While the agent lives it hears that (or, for a spawned supervisor, its exit;
 * for a launched one, a liveness sweep catches a supervisor killed without a word); after a
 * restart it polls the file and the pids' liveness.
 *
 * The supervisor shell and `setsid` are busybox's where it is installed: one static binary, no
 * dynamic loader per exec (about 1 ms of CPU less per launch than dash and util-linux's setsid).
 */

const SUPERVISOR = [
  '__d="$1"; __s="$2"; __setsid="$3"; __id="$4"; __cg="$5"; __gate="$6"; __mnt="$7"; shift 7',
  // (Said on the pipe too: a launched supervisor is not the agent's child, no exit event.)
  'cd "$__s" || { echo "$__id exit 121"; exit 121; }',
  // A gated launch (see GATE_GO): the task's chain inherits the gate as fd 3, opened read-write
  // here so that it has a reader (the agent's write cannot fail) and never sees an end of file.
  'if [ -n "$__gate" ]; then mkfifo -m 600 "$__gate" && exec 3<>"$__gate" || { echo 120 >"$__d/exit_status"; echo "$__id exit 120"; exit 120; }; fi',
  'set -f',
  // The task joins its cgroups itself (writing 0 moves the writer) before it execs the command,
  // so nothing of it ever runs outside its limits; the supervisor stays in the agent's cgroup.
  // ($__setsid is one word or two, `busybox setsid`: split on purpose, with globbing off.)
  // An argv that starts with `dcos-inline <script>` is run by this subshell itself (eval, with the
  // rest as its arguments): a shell step before the task's exec costs no process start.
  '( for __g in $__cg; do echo 0 >"$__g/cgroup.procs" || exit 122; done',
  '  if [ "$1" = dcos-inline ]; then __x="$2"; shift 2; eval "$__x"; exit 127; fi',
  '  exec $__setsid "$@" ) </dev/null >>"$__s/stdout" 2>>"$__s/stderr" &',
  '__p=$!',
  '[ -z "$__gate" ] || exec 3<&-',
  // One short write each (echo is a builtin: no process); readers take a file only once it ends
  // in a newline, so a half-written one reads as not there yet.
  'echo "$__p" >"$__d/pid"',
  // Only now ignore SIGPIPE (the task was forked before and keeps the default disposition):
  // if the agent died before reading the pid, the echo below must not kill the supervisor.
  "trap '' PIPE",
  'echo "$__id pid $__p"',
  'exec 2>/dev/null',
  'wait "$__p"',
  '__c=$?',
  // The main process is gone: so is the rest of its process group (Mesos destroys the container).
  // (Without setsid the task has no group of its own: an OCI runtime's container dies with its
  // PID namespace.)
  '[ -z "$__setsid" ] || kill -KILL -"$__p"',
  'echo "$__c" >"$__d/exit_status"',
  // Then the agent hears it on the pipe (a dead agent's pipe fails quietly: SIGPIPE is ignored).
  'echo "$__id exit $__c"',
  // A mount the task's chain made in the launcher's own namespace (an image task's rootfs): gone
  // with the task (busybox's umount is a fork without an exec), after the exit has been told.
  '[ -z "$__mnt" ] || umount "$__mnt"',
].join('\n');

/**
 * The gate of a gated launch: a FIFO in the container's state dir that the supervisor makes and
 * opens as fd 3 of the task's chain. The chain does its slow part (for an image task: a private
 * mount namespace, the overlay mount, everything up to `crun run`) while the agent's checkpoint of
 * the task is still being written, then reads one word from fd 3: GATE_GO execs the runtime,
 * anything else ends the chain with exit 120 before any of the task has run. The agent writes the
 * word once the checkpoint is durable (or the launch is off) and removes the FIFO; a FIFO still
 * there after a crash names a chain held at the gate, which recovery lets go (its task was
 * checkpointed) or turns back (no checkpoint names it).
 */
export const GATE_GO = 'go';
const GATE_NO = 'no';
/** How long a turned-back launch waits for its chain to end before undoing the rest anyway. */
const GATE_NO_WAIT_MS = 2_000;

/**
 * Writes a word to a gate and removes the gate. False when nobody holds it open (the chain ended,
 * or the gate was never made); the word is then lost with nobody to read it.
 */
function signalGate(path: string, word: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch {
    rmSync(path, { force: true });
    return false;
  }
  try {
    writeSync(fd, `${word}\n`);
    return true;
  } catch {
    return false;
  } finally {
    closeSync(fd);
    rmSync(path, { force: true });
  }
}

/** busybox, where installed: its sh, setsid and unshare are applets of one static binary. */
export const BUSYBOX = existsSync('/bin/busybox') ? '/bin/busybox' : undefined;
const SUPERVISOR_SHELL = BUSYBOX ? [BUSYBOX, 'sh'] : ['/bin/sh'];

/**
 * Volumes of a process task: the task gets its own mount namespace (`unshare -m`, private
 * propagation, so the host never sees the mounts) and each volume is bind-mounted there before the
 * command is exec'd; RO is a read-only remount. argv: count, then (source, target, ro|rw) triples,
 * then the command. The pid stays the same through unshare, sh and exec.
 */
const VOLUME_SCRIPT = [
  '__n="$1"; shift;',
  'while [ "$__n" -gt 0 ]; do',
  '  mount --bind "$1" "$2" || exit 124;',
  '  if [ "$3" = ro ]; then mount -o remount,bind,ro "$2" || exit 124; fi;',
  '  shift 3; __n=$((__n - 1));',
  'done;',
  'exec "$@"',
].join(' '); // one line: the launcher carries a command on one line

/** A COMMAND check of a process task: in the task's mount namespace and cgroups, then the command. */
// (Entering a mount namespace moves the working directory to its root: cd back into the sandbox.)
const EXEC_SCRIPT = [
  'for __g in $DCOS_CHECK_CGROUPS; do echo 0 >"$__g/cgroup.procs" || exit 122; done',
  'cd "$DCOS_CHECK_SANDBOX" || exit 121',
  'unset DCOS_CHECK_CGROUPS DCOS_CHECK_SANDBOX',
  'exec "$@"',
].join('\n');

/** The environment of the isolated launcher's supervisors. */
const ISOLATED_ENV: Record<string, string> = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };
/** Launches per isolated launcher (and its mount namespace) before a fresh one takes over. */
const ISOLATED_GENERATION = 64;
const LAUNCH_TIMEOUT_MS = 10_000;
const PIPE_CLOSE_WAIT_MS = 200;
const SWEEP_INTERVAL_MS = 1_000;
const DEFAULT_PIDS_MAX = 4096;
const KILL_POLL_MS = 20;
const AFTER_SIGKILL_WAIT_MS = 2_000;
const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;

export interface ProcessRuntimeOptions {
  /** Absolute directory for the runtime's own per-container state (pid, exit status). */
  stateDir: string;
  /** How often recovered containers are polled for their exit. */
  pollIntervalMs?: number;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** Per-container cgroups (cpu, memory, pids limits; OOM evidence; stats). None: no isolation. */
  cgroups?: Cgroups;
  /** The pids limit of each container's cgroup. */
  pidsMax?: number;
  /**
   * Turns a launch into the argv the supervisor runs (the OCI runtime wraps `crun run` here) and
   * says whether the container joins its cgroups through the supervisor (false: the OCI runtime
   * puts it under them itself), and whether the task starts a session of its own (default true:
   * `setsid`, so its whole process group can be signalled; an OCI runtime's container has its
   * own PID namespace and is signalled through the runtime, one process start less). `gated`:
   * the argv waits at the gate (fd 3, see GATE_GO) before its last exec, so it may be started
   * before spec.ready resolves. Throws to fail the launch.
   */
  prepare?: (spec: LaunchSpec, argv: string[]) => Promise<Prepared>;
  /** Extra kill step (e.g. `crun kill`) before the process group is signalled. */
  signal?: (containerId: string, signal: 'SIGTERM' | 'SIGKILL') => Promise<void>;
  /** Removes what prepare() made (bundles, rootfs mounts). */
  release?: (containerId: string) => Promise<void>;
  /** Downloads CommandInfo.uris into the sandbox before the task starts (the Mesos fetcher). */
  fetcher?: { fetch(uris: readonly CommandURI[], sandboxDir: string): Promise<void> };
  /** Host paths that HOST_PATH volumes may use (the agent's --allowed-host-paths); none: no host paths. */
  allowedHostPaths?: readonly string[];
  /** The argv that runs a command inside an image container (`crun exec`), or undefined for process tasks. */
  execArgv?: (containerId: string, argv: string[], env: Record<string, string>) => string[] | undefined;
  /** More directories a container writes to (its overlay upper dir), counted against its disk limit. */
  diskPaths?: (containerId: string) => string[];
  /** Marks points of a container's launch and exit path (the launch benchmark's breakdown). */
  trace?: (containerId: string, point: string) => void;
  /** Start supervisors through one long-lived launcher shell (default) or spawn each from Node (false). */
  launcher?: boolean;
  /**
   * A second launcher for the launches whose prepare() asks for it (`isolated`): its shell argv
   * (e.g. busybox's `unshare -m` then `sh`: a mount namespace of its own, made once) and a
   * prelude it runs once before its loop. Its launches must carry everything on one line.
   */
  isolatedLauncher?: { shell: string[]; prelude?: string };
  /** Long scripts that prepare() puts in argv: the launcher holds one copy of each. */
  launcherScripts?: string[];
}

/** What prepare() makes of a launch (see ProcessRuntimeOptions.prepare). */
export interface Prepared {
  argv: string[];
  joinCgroups: boolean;
  newSession?: boolean;
  gated?: boolean;
  /** Start it through the isolated launcher (ProcessRuntimeOptions.isolatedLauncher). */
  isolated?: boolean;
  /** A mount the argv makes in the launcher's namespace: the supervisor unmounts it after the exit. */
  unmountAfter?: string;
}

interface RuntimeRecord {
  supervisorPid?: number;
  supervisorStart?: string;
  pid: number;
  pidStart?: string;
  sandboxDir: string;
}

interface Tracked {
  containerId: string;
  dir: string;
  rec: RuntimeRecord;
  exit: ExitStatus | undefined;
  done: Promise<ExitStatus>;
  resolve: (s: ExitStatus) => void;
  poll: NodeJS.Timeout | undefined;
  killing: Promise<void> | undefined;
  child?: ChildProcess | undefined;
  /** Started by the launcher: its end is heard on the pipe, or found by the liveness sweep. */
  viaLauncher?: boolean;
  /** Ends the wait for the supervisor (the sweep found it gone); set while it runs. */
  endNow?: (() => void) | undefined;
}

/** A supervisor being started: the task's pid once reported, and its end. */
interface SupervisorStart {
  pid: Promise<number>;
  supervisorPid: () => number | undefined;
  /** Called once the supervisor ended, with the exit status it reported on the pipe (if it did). */
  onEnd: (cb: (piped: ExitStatus | undefined) => void) => void;
  /** Ends it now (the sweep found the supervisor gone): the status is then read from its file. */
  endNow: () => void;
  child: ChildProcess | undefined;
  viaLauncher: boolean;
}

export class ProcessRuntime implements ContainerRuntime {
  readonly waitsForReady = true;
  private readonly containers = new Map<string, Tracked>();
  private readonly setsidPath: string;
  private readonly launcher: Launcher | undefined;
  private isolatedLauncher: Launcher | undefined;
  /** Launches through the current isolated launcher, and the ones retired with containers still reporting. */
  private isolatedLaunches = 0;
  private readonly retiredLaunchers = new Set<Launcher>();
  /** Checks that supervisors started by the launcher are alive (they are not the agent's children). */
  private sweep: NodeJS.Timeout | undefined;
  private readonly pollIntervalMs: number;
  private closed = false;

  constructor(private readonly options: ProcessRuntimeOptions) {
    if (!isAbsolute(options.stateDir)) throw new Error(`stateDir must be absolute: ${options.stateDir}`);
    this.setsidPath = BUSYBOX ? `${BUSYBOX} setsid` : findTool('setsid', 'util-linux');
    this.launcher =
      options.launcher === false ? undefined : new Launcher(SUPERVISOR_SHELL, [SUPERVISOR, VOLUME_SCRIPT, ...(options.launcherScripts ?? [])], options.log);
    this.pollIntervalMs = options.pollIntervalMs ?? 250;
  }

  /** The launcher's pid while one runs (the benchmark counts its CPU; tests kill it). */
  get launcherPid(): number | undefined {
    return this.launcher?.pid;
  }

  /** The isolated launcher's pid while one runs (the benchmark counts its CPU). */
  get isolatedLauncherPid(): number | undefined {
    return this.isolatedLauncher?.pid;
  }

  /**
   * The isolated launcher, made at its first launch and replaced by a fresh one (a fresh mount
   * namespace) every ISOLATED_GENERATION launches: its namespace holds the rootfs of every
   * container it started that still runs, and each new container's start copies that mount table
   * (about 5 µs a mount here: +1.1 ms per launch with 200 running). A retired launcher ends; its
   * supervisors keep reporting through it.
   */
  private isolated(): Launcher {
    const o = this.options.isolatedLauncher;
    if (!o) throw new Error('this runtime has no isolated launcher');
    if (this.isolatedLauncher && this.isolatedLaunches >= ISOLATED_GENERATION) {
      this.isolatedLauncher.retire();
      this.retiredLaunchers.add(this.isolatedLauncher);
      this.isolatedLauncher = undefined;
    }
    if (!this.isolatedLauncher) {
      this.isolatedLauncher = new Launcher(o.shell, [SUPERVISOR, VOLUME_SCRIPT, ...(this.options.launcherScripts ?? [])], this.options.log, o.prelude);
      this.isolatedLaunches = 0;
    }
    this.isolatedLaunches++;
    return this.isolatedLauncher;
  }

  /** Stops routing a container's events, in every launcher (a retired one is dropped once idle). */
  private forgetLaunch(id: string): void {
    this.launcher?.forget(id);
    this.isolatedLauncher?.forget(id);
    for (const l of this.retiredLaunchers) {
      l.forget(id);
      if (l.idle) this.retiredLaunchers.delete(l);
    }
  }

  async launch(spec: LaunchSpec): Promise<ContainerHandle> {
    if (this.closed) throw new Error('runtime is closed');
    if (!CONTAINER_ID.test(spec.containerId)) throw new Error(`invalid container id '${spec.containerId}'`);
    if (this.containers.has(spec.containerId)) throw new Error(`container ${spec.containerId} already exists`);
    if (!isAbsolute(spec.sandboxDir)) throw new Error(`sandbox must be absolute: ${spec.sandboxDir}`);
    const image = spec.container?.docker?.image ?? spec.container?.mesos?.image;
    if (image && !this.options.prepare)
      throw new Error('container images are not supported by the process runtime (the oci and docker runtimes will run them)');
    let argv: string[] = [];
    try {
      argv = commandArgv(spec.command);
    } catch (e) {
      // An image may supply the command (its entrypoint and cmd).
      if (!this.options.prepare) throw e;
    }
    const dir = join(this.options.stateDir, spec.containerId);
    const trace = this.options.trace ?? (() => {});
    // The launch path's small directory operations are synchronous: tens of microseconds each,
    // against 0.1-0.4 ms for a round trip through the thread pool and back to the event loop.
    mkdirSync(spec.sandboxDir, { recursive: true, mode: 0o755 });
    trace(spec.containerId, 'runtime: sandbox made');
    const uris = spec.command.uris ?? [];
    if (uris.length > 0) {
      if (!this.options.fetcher) throw new Error('this agent has no fetcher for command.uris');
      await this.options.fetcher.fetch(uris, spec.sandboxDir);
    }
    // Image tasks get their volumes as bind mounts in the bundle (prepare); process tasks here.
    const volumes = image ? [] : await processVolumes(spec, this.options.allowedHostPaths ?? []);
    // The runtime's state dir first: whatever else is made for the container, recover() finds
    // through it should the agent die before the container starts (spec.ready).
    const made = mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Only a directory that was there already can hold a pid or exit status of an earlier run.
    if (made === undefined) await Promise.all(['pid', 'exit_status'].map((f) => fs.rm(join(dir, f), { force: true })));
    trace(spec.containerId, 'runtime: state dir made');
    // The bundle (prepare), the cgroups and the agent's checkpoint (ready) do not depend on each
    // other: side by side. A gated launch starts its chain before the checkpoint is durable and
    // holds it at the gate; any other waits for ready before anything starts.
    const cg = this.options.cgroups;
    const readySettled = spec.ready
      ? spec.ready.then(
          () => undefined,
          (e: Error) => e,
        )
      : Promise.resolve(undefined);
    const [prepared, created] = await Promise.allSettled([
      this.options.prepare?.(spec, argv).then((p) => {
        trace(spec.containerId, 'runtime: prepared (oci)');
        return p;
      }),
      cg
        ?.create(spec.containerId, {
          ...(spec.resources?.cpus !== undefined ? { cpus: spec.resources.cpus } : {}),
          ...(spec.resources?.memMb !== undefined ? { memBytes: Math.round(spec.resources.memMb * 1024 * 1024) } : {}),
          pidsMax: this.options.pidsMax ?? DEFAULT_PIDS_MAX,
        })
        .then((dirs) => {
          trace(spec.containerId, 'runtime: cgroups made');
          return dirs;
        }),
    ]);
    const p = prepared.status === 'fulfilled' ? prepared.value : undefined;
    const gate = spec.ready && p?.gated === true ? join(dir, 'gate') : undefined;
    // Not checkpointed (or no longer wanted): nothing of it may remain.
    const notWanted = async (reason: Error): Promise<never> => {
      await this.releaseAll(spec.containerId);
      await fs.rm(dir, { recursive: true, force: true });
      throw reason;
    };
    if (!gate || prepared.status === 'rejected' || created.status === 'rejected') {
      const notReady = await readySettled;
      if (notReady) return notWanted(notReady);
    }
    let cgroupDirs: string[] = [];
    try {
      for (const r of [prepared, created]) if (r.status === 'rejected') throw r.reason;
      let joinCg = true;
      if (p) {
        argv = p.argv;
        joinCg = p.joinCgroups;
      }
      if (volumes.length > 0) {
        const unshare = findTool('unshare', 'util-linux');
        const triples = volumes.flatMap((v) => [v.source, v.target, v.readOnly ? 'ro' : 'rw']);
        argv = [unshare, '-m', '--propagation', 'private', '/bin/sh', '-c', VOLUME_SCRIPT, 'dcos-volumes', String(volumes.length), ...triples, ...argv];
      }
      if (spec.netnsPath && !image) {
        // A container network (CNI): the task runs in its namespace; nsenter execs, so the pid stays.
        argv = [findTool('nsenter', 'util-linux'), `--net=${spec.netnsPath}`, '--', ...argv];
      }
      if (joinCg && created.status === 'fulfilled' && created.value) cgroupDirs = created.value;
    } catch (e) {
      await this.releaseAll(spec.containerId);
      throw e;
    }
    for (const d of cgroupDirs) if (/\s/.test(d)) throw new Error(`cgroup path with whitespace: ${d}`);

    const setsid = p?.newSession === false ? '' : this.setsidPath;
    let sup: SupervisorStart;
    try {
      sup = this.startSupervisor(spec, [dir, spec.sandboxDir, setsid, spec.containerId, cgroupDirs.join(' '), gate ?? '', p?.unmountAfter ?? '', ...argv], {
        isolated: p?.isolated === true,
      });
    } catch (e) {
      if (gate) await readySettled;
      await this.releaseAll(spec.containerId);
      throw e;
    }
    trace(spec.containerId, 'runtime: supervisor spawned');
    // Listen for the end right away: a short task can end before launch() returns.
    let ended: { piped: ExitStatus | undefined } | undefined;
    let onExit: ((piped: ExitStatus | undefined) => void) | undefined;
    sup.onEnd((piped) => {
      trace(spec.containerId, 'runtime: supervisor exit event');
      ended = { piped };
      onExit?.(piped);
    });
    let pid: number;
    try {
      pid = await sup.pid;
      trace(spec.containerId, 'runtime: pid read');
    } catch (e) {
      if (gate) await readySettled; // everything settled before anything is undone
      await this.releaseAll(spec.containerId);
      throw e;
    }
    if (gate) {
      // The chain is at (or on its way to) the gate; the task itself runs only after the go.
      const notReady = await readySettled;
      if (notReady) {
        // Turned back: the chain ends without running anything (exit 120); then undo the rest.
        if (signalGate(gate, GATE_NO)) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, GATE_NO_WAIT_MS);
            onExit = () => {
              clearTimeout(timer);
              resolve();
            };
            if (ended) onExit(ended.piped);
          });
        }
        return notWanted(notReady);
      }
      signalGate(gate, GATE_GO);
      trace(spec.containerId, 'runtime: gate opened');
    }
    const rec: RuntimeRecord = { pid, sandboxDir: spec.sandboxDir };
    const supervisorPid = sup.supervisorPid();
    if (supervisorPid !== undefined) {
      rec.supervisorPid = supervisorPid;
      const s = procStartTime(supervisorPid);
      if (s !== undefined) rec.supervisorStart = s;
    }
    const ps = procStartTime(pid);
    if (ps !== undefined) rec.pidStart = ps;
    await fs.writeFile(join(dir, 'runtime.json'), JSON.stringify(rec));
    trace(spec.containerId, 'runtime: runtime.json written');
    const t = this.track(spec.containerId, dir, rec);
    // The child stays referenced while tracked (it keeps a waiting agent alive); close() lets go.
    onExit = (piped) => {
      t.child = undefined;
      t.endNow = undefined;
      void this.onSupervisorExit(t, piped);
    };
    if (ended) onExit(ended.piped);
    else {
      t.child = sup.child;
      if (sup.viaLauncher) {
        t.viaLauncher = true;
        t.endNow = sup.endNow;
        this.startSweep();
      }
    }
    return { containerId: spec.containerId, pid };
  }

  wait(containerId: string): Promise<ExitStatus> {
    const t = this.containers.get(containerId);
    if (!t) return Promise.reject(new Error(`unknown container ${containerId}`));
    return t.done;
  }

  kill(containerId: string, gracePeriodMs: number): Promise<void> {
    const t = this.containers.get(containerId);
    if (!t || t.exit) return Promise.resolve();
    if (!t.killing) t.killing = this.killGroup(t, Math.max(0, gracePeriodMs));
    return t.killing;
  }

  async recover(checkpointed: readonly CheckpointedContainer[]): Promise<RecoveredContainer[]> {
    const out: RecoveredContainer[] = [];
    await this.sweepOrphans(new Set(checkpointed.map((c) => c.containerId)));
    for (const c of checkpointed) {
      if (!CONTAINER_ID.test(c.containerId)) {
        out.push({ containerId: c.containerId, state: 'unknown' });
        continue;
      }
      const known = this.containers.get(c.containerId);
      if (known) {
        out.push(
          known.exit ? { containerId: c.containerId, state: 'exited', exit: known.exit } : { containerId: c.containerId, state: 'running', pid: known.rec.pid },
        );
        continue;
      }
      const dir = join(this.options.stateDir, c.containerId);
      // Held at its gate when the agent stopped: its task was checkpointed, so it goes on.
      if (existsSync(join(dir, 'gate')) && signalGate(join(dir, 'gate'), GATE_GO))
        this.options.log?.('info', `container ${c.containerId} was held at its gate when the agent stopped; its task is checkpointed: let go`);
      const exit = await readExitStatus(dir);
      if (exit) {
        out.push({ containerId: c.containerId, state: 'exited', exit: await this.withOom(c.containerId, exit) });
        continue;
      }
      const rec = await readRecord(dir, c.sandboxDir);
      if (!rec) {
        out.push({ containerId: c.containerId, state: 'unknown' });
        continue;
      }
      const t = this.track(c.containerId, dir, rec);
      if (this.supervisorAlive(rec) || processAlive(rec.pid, rec.pidStart)) {
        this.startPolling(t);
        out.push({ containerId: c.containerId, state: 'running', pid: rec.pid });
        continue;
      }
      // Both are gone: the exit status may have landed between the two reads.
      const late = await readExitStatus(dir);
      const status = late ?? lostStatus();
      if (!late) signalGroup(rec.pid, 'SIGKILL');
      this.finish(t, status);
      out.push({ containerId: c.containerId, state: 'exited', exit: status });
    }
    return out;
  }

  async cleanup(containerId: string): Promise<void> {
    const t = this.containers.get(containerId);
    if (t?.poll) clearInterval(t.poll);
    this.forgetLaunch(containerId);
    this.containers.delete(containerId);
    if (!CONTAINER_ID.test(containerId)) return;
    this.options.trace?.(containerId, 'cleanup: start');
    await this.releaseAll(containerId);
    // The runtime's own few small files (launch, pid, exit_status, runtime.json), off the event loop.
    await removeTrees([join(this.options.stateDir, containerId)]);
  }

  async stats(containerId: string): Promise<ContainerStats | undefined> {
    const t = this.containers.get(containerId);
    if (!t || t.exit) return undefined;
    const cg = await this.options.cgroups?.stats(containerId);
    if (cg) return { timestampMs: Date.now(), ...cg };
    try {
      const stat = parseProcStat(await fs.readFile(`/proc/${t.rec.pid}/stat`, 'utf8'));
      const statm = (await fs.readFile(`/proc/${t.rec.pid}/statm`, 'utf8')).trim().split(/\s+/);
      const hz = 100; // USER_HZ on Linux
      return {
        timestampMs: Date.now(),
        cpuUserSeconds: Number(stat[13]) / hz,
        cpuSystemSeconds: Number(stat[14]) / hz,
        memRssBytes: Number(statm[1]) * 4096,
      };
    } catch {
      return undefined;
    }
  }

  async exec(containerId: string, command: LaunchSpec['command'], env: Record<string, string>, timeoutMs: number): Promise<number> {
    const t = this.containers.get(containerId);
    if (!t || t.exit) throw new Error(`container ${containerId} is not running`);
    const cmd = commandArgv(command);
    const checkEnv = { ...env };
    for (const v of command.environment?.variables ?? []) if (typeof v?.name === 'string' && typeof v.value === 'string') checkEnv[v.name] = v.value;
    let argv = this.options.execArgv?.(containerId, cmd, checkEnv);
    if (!argv) {
      // A process task: enter its mount namespace (its volumes) and join its cgroups, in its sandbox.
      const nsenter = findTool('nsenter', 'util-linux');
      checkEnv.DCOS_CHECK_SANDBOX = t.rec.sandboxDir;
      checkEnv.DCOS_CHECK_CGROUPS = (this.options.cgroups?.dirs(containerId) ?? []).filter((d) => existsSync(d)).join(' ');
      argv = [nsenter, '-t', String(t.rec.pid), '-m', '-n', '--', '/bin/sh', '-c', EXEC_SCRIPT, 'dcos-check', ...cmd];
    }
    const [bin, ...args] = argv as [string, ...string[]];
    return new Promise<number>((resolve, reject) => {
      const child = spawn(bin, args, { cwd: t.rec.sandboxDir, env: checkEnv, detached: true, stdio: 'ignore' });
      const timer = setTimeout(() => {
        if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
        reject(new Error(`the command did not finish within ${timeoutMs} ms`));
      }, timeoutMs);
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        resolve(code ?? 128 + (signal ? (osSignals[signal] ?? 0) : 0));
      });
    });
  }

  async diskUsage(containerId: string): Promise<number | undefined> {
    const t = this.containers.get(containerId);
    if (!t || t.exit) return undefined;
    const paths = [t.rec.sandboxDir, ...(this.options.diskPaths?.(containerId) ?? [])].filter((p) => existsSync(p));
    if (paths.length === 0) return undefined;
    // Blocks in use, as Mesos' disk/du isolator counts them; -x: not across mounts.
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn('du', ['-s', '-k', '-x', ...paths], { stdio: ['ignore', 'pipe', 'ignore'] });
      let buf = '';
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (d: string) => {
        buf += d;
      });
      child.once('error', reject);
      child.once('close', () => resolve(buf));
    });
    let kb = 0;
    for (const line of out.split('\n')) {
      const n = Number(line.split('\t')[0]);
      if (Number.isFinite(n)) kb += n;
    }
    return kb * 1024;
  }

  close(): void {
    this.closed = true;
    if (this.sweep) clearInterval(this.sweep);
    this.sweep = undefined;
    this.launcher?.unref();
    this.isolatedLauncher?.unref();
    for (const l of this.retiredLaunchers) l.unref();
    for (const t of this.containers.values()) {
      if (t.poll) clearInterval(t.poll);
      t.poll = undefined;
      t.child?.unref();
      (t.child?.stdout as { unref?: () => void } | null | undefined)?.unref?.();
    }
  }

  // ---------------------------------------------------------------------------------------------

  /**
   * Removes runtime state that no checkpoint names and no process can be using: a launch cut
   * short by a crash before its task's checkpoint was durable (never started: no pid, no
   * runtime.json), or a container that had ended and whose task was complete before the crash
   * came between it and its cleanup. A container that started and has not ended is never touched.
   */
  private async sweepOrphans(known: ReadonlySet<string>): Promise<void> {
    let names: string[];
    try {
      names = await fs.readdir(this.options.stateDir);
    } catch {
      return;
    }
    for (const id of names) {
      if (known.has(id) || this.containers.has(id) || !CONTAINER_ID.test(id)) continue;
      const dir = join(this.options.stateDir, id);
      // Held at its gate when the agent stopped, and no checkpoint names it: nothing of the task
      // ran; turned back, its chain ends at once and the state below goes with the rest.
      if (existsSync(join(dir, 'gate')) && signalGate(join(dir, 'gate'), GATE_NO)) {
        this.options.log?.('info', `container ${id} was held at its gate when the agent stopped and no checkpoint names it: turned back`);
        for (const end = Date.now() + GATE_NO_WAIT_MS; Date.now() < end && !existsSync(join(dir, 'exit_status')); ) await sleep(10);
      }
      const started = existsSync(join(dir, 'pid')) || existsSync(join(dir, 'runtime.json'));
      if (started && !(await readExitStatus(dir))) continue;
      this.options.log?.('info', `removing the state of container ${id}: no checkpoint names it and it does not run`);
      await this.releaseAll(id);
      await fs.rm(dir, { recursive: true, force: true });
    }
  }

  /**
   * Starts the supervisor of a container: through the launcher where the launch fits one shell
   * line, else spawned from here. args: state dir, sandbox, setsid, container id, cgroups, argv.
   */
  private startSupervisor(spec: LaunchSpec, args: string[], o: { isolated: boolean }): SupervisorStart {
    const id = spec.containerId;
    let supervisorPid: number | undefined;
    let piped: ExitStatus | undefined;
    let pidKnown = false;
    let ended = false;
    let endCb: ((piped: ExitStatus | undefined) => void) | undefined;
    let resolvePid!: (pid: number) => void;
    let rejectPid!: (e: Error) => void;
    const pid = new Promise<number>((res, rej) => {
      resolvePid = res;
      rejectPid = rej;
    });
    let child: ChildProcess | undefined;
    const end = (): void => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      this.forgetLaunch(id);
      if (!pidKnown) rejectPid(new Error('the task supervisor exited before the task started'));
      endCb?.(piped);
    };
    const onEvent = (e: LauncherEvent): void => {
      if (e.kind === 'spawned') supervisorPid = e.pid;
      else if (e.kind === 'pid') {
        if (pidKnown) return;
        pidKnown = true;
        clearTimeout(timer);
        resolvePid(e.pid);
      } else if (e.kind === 'exit') {
        // After the file: the supervisor is done (a spawned one: its exit and pipe close follow).
        piped = parseExitStatus(e.text);
        if (!child) end();
      }
    };
    const timer = setTimeout(() => {
      if (pidKnown || ended) return;
      try {
        if (child?.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        else if (supervisorPid !== undefined) process.kill(supervisorPid, 'SIGKILL');
      } catch {
        // already gone
      }
      pidKnown = true; // no later pid line resolves it
      rejectPid(new Error(`the task did not start within ${LAUNCH_TIMEOUT_MS} ms`));
    }, LAUNCH_TIMEOUT_MS);
    const [shell, ...shellArgs] = SUPERVISOR_SHELL as [string, ...string[]];
    // The isolated launcher's supervisors get a fixed PATH, not the task's environment (an image
    // task's is in its bundle), so that their line can always be carried.
    const launcher = o.isolated ? this.isolated() : this.launcher;
    const env = o.isolated ? ISOLATED_ENV : spec.env;
    const viaLauncher = launcher !== undefined && Launcher.canCarry(id, spec.sandboxDir, env, args);
    if (o.isolated && !viaLauncher) throw new Error(`launch of ${id} cannot go through the isolated launcher (a newline in its arguments?)`);
    if (viaLauncher) launcher?.start(id, spec.sandboxDir, env, args, onEvent, join(this.options.stateDir, id, 'launch'));
    else {
      child = spawn(shell, [...shellArgs, '-c', SUPERVISOR, 'dcos-supervisor', ...args], {
        cwd: spec.sandboxDir,
        env: spec.env,
        detached: true,
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      supervisorPid = child.pid;
      child.once('error', (e) => {
        if (!pidKnown) {
          pidKnown = true;
          rejectPid(new Error(`cannot start the task supervisor: ${e.message}`));
        }
      });
      let buf = '';
      child.stdout?.setEncoding('utf8');
      child.stdout?.on('data', (d: string) => {
        buf += d;
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          const [lineId, kind, value = ''] = buf.slice(0, nl).trim().split(' ');
          buf = buf.slice(nl + 1);
          if (lineId !== id) continue;
          if (kind === 'exit') onEvent({ kind, text: `${value}\n` });
          else if (kind === 'pid' && Number.isInteger(Number(value)) && Number(value) > 1) onEvent({ kind, pid: Number(value) });
          else if (kind === 'pid') {
            pidKnown = true;
            rejectPid(new Error(`the task supervisor reported a bad pid '${value}'`));
          }
        }
        if (buf.length > 4096) buf = '';
      });
      // 'close': the supervisor has exited and its last line has been read from the pipe.
      child.once('close', end);
      // Should anything else hold the pipe open, the exit alone is enough (the status is in its file).
      child.once('exit', () => setTimeout(end, PIPE_CLOSE_WAIT_MS).unref());
    }
    return {
      pid,
      supervisorPid: () => supervisorPid,
      onEnd: (cb) => {
        endCb = cb;
        if (ended) cb(piped);
      },
      endNow: end,
      child,
      viaLauncher,
    };
  }

  /**
   * Supervisors started by the launcher are not this process's children: no exit event. Their
   * exit line normally says they ended; this sweep finds one that died without it (killed).
   */
  private startSweep(): void {
    if (this.sweep || this.closed) return;
    this.sweep = setInterval(() => {
      let watching = 0;
      for (const t of this.containers.values()) {
        if (!t.viaLauncher || t.exit || !t.endNow) continue;
        watching++;
        // (Its pid comes from the launcher's line; without it, the task's liveness stands in.)
        if (t.rec.supervisorPid !== undefined ? this.supervisorAlive(t.rec) : processAlive(t.rec.pid, t.rec.pidStart)) continue;
        // Its last line may still be in the pipe: give it a moment before reading the file.
        const endNow = t.endNow;
        setTimeout(() => endNow(), PIPE_CLOSE_WAIT_MS).unref();
      }
      if (watching === 0 && this.sweep) {
        clearInterval(this.sweep);
        this.sweep = undefined;
      }
    }, SWEEP_INTERVAL_MS);
    this.sweep.unref();
  }

  private track(containerId: string, dir: string, rec: RuntimeRecord): Tracked {
    let resolve!: (s: ExitStatus) => void;
    const done = new Promise<ExitStatus>((r) => {
      resolve = r;
    });
    const t: Tracked = { containerId, dir, rec, exit: undefined, done, resolve, poll: undefined, killing: undefined };
    this.containers.set(containerId, t);
    return t;
  }

  /** Cgroups, bundles and mounts of a container; errors are logged (the exit is already known). */
  private async releaseAll(containerId: string): Promise<void> {
    // Independent: the cgroups, and the bundle and rootfs (the container's processes are gone).
    const warn = (e: Error) => this.options.log?.('warn', `container ${containerId}: ${e.message}`);
    await Promise.all([
      this.options.cgroups
        ?.remove(containerId)
        .then(() => this.options.trace?.(containerId, 'cleanup: cgroups removed'))
        .catch(warn),
      this.options.release?.(containerId).catch(warn),
    ]);
  }

  /** Adds the OOM evidence of the container's cgroup (read before the cgroup is removed). */
  private async withOom(containerId: string, status: ExitStatus): Promise<ExitStatus> {
    const cg = this.options.cgroups;
    if (!cg || status.exitCode === 0) return status;
    try {
      if (await cg.oomKilled(containerId, status.signal === 9)) return { ...status, oomKilled: true };
    } catch {
      // no evidence
    }
    return status;
  }

  private finish(t: Tracked, status: ExitStatus): void {
    if (t.exit) return;
    t.exit = status;
    if (t.poll) clearInterval(t.poll);
    t.poll = undefined;
    t.resolve(status);
  }

  /** The supervisor ended; `piped` is the exit status it wrote on its stdout (after the file). */
  private async onSupervisorExit(t: Tracked, piped?: ExitStatus): Promise<void> {
    const exit = piped ?? (await readExitStatus(t.dir));
    this.options.trace?.(t.containerId, 'runtime: exit_status read');
    if (exit) {
      this.finish(t, await this.withOom(t.containerId, exit));
      return;
    }
    // The supervisor died without recording anything (it was killed): watch the task itself.
    if (processAlive(t.rec.pid, t.rec.pidStart)) {
      this.options.log?.('warn', `supervisor of container ${t.containerId} died; watching pid ${t.rec.pid}`);
      this.startPolling(t);
      return;
    }
    signalGroup(t.rec.pid, 'SIGKILL');
    this.finish(t, lostStatus());
  }

  private startPolling(t: Tracked): void {
    if (this.closed || t.poll || t.exit) return;
    let busy = false;
    t.poll = setInterval(() => {
      if (busy) return;
      busy = true;
      void (async () => {
        try {
          const exit = await readExitStatus(t.dir);
          if (exit) return this.finish(t, await this.withOom(t.containerId, exit));
          if (this.supervisorAlive(t.rec) || processAlive(t.rec.pid, t.rec.pidStart)) return;
          const late = await readExitStatus(t.dir);
          if (!late) signalGroup(t.rec.pid, 'SIGKILL');
          this.finish(t, late ?? lostStatus());
        } finally {
          busy = false;
        }
      })();
    }, this.pollIntervalMs);
  }

  private supervisorAlive(rec: RuntimeRecord): boolean {
    return rec.supervisorPid !== undefined && processAlive(rec.supervisorPid, rec.supervisorStart);
  }

  private async killGroup(t: Tracked, graceMs: number): Promise<void> {
    const pid = t.rec.pid;
    // A pid that now belongs to another process (reused) must not be signalled.
    if (t.rec.pidStart !== undefined && existsSync(`/proc/${pid}`) && procStartTime(pid) !== t.rec.pidStart) return;
    await this.options.signal?.(t.containerId, 'SIGTERM').catch(() => {});
    if (!signalTask(pid, 'SIGTERM')) return;
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline) {
      if (!taskAlive(pid)) return;
      await sleep(Math.min(KILL_POLL_MS, Math.max(1, deadline - Date.now())));
    }
    await this.options.signal?.(t.containerId, 'SIGKILL').catch(() => {});
    if (!signalTask(pid, 'SIGKILL')) return;
    const killDeadline = Date.now() + AFTER_SIGKILL_WAIT_MS;
    while (taskAlive(pid) && Date.now() < killDeadline) await sleep(KILL_POLL_MS);
  }
}

const osSignals: Record<string, number> = { SIGKILL: 9, SIGTERM: 15, SIGINT: 2, SIGHUP: 1, SIGSEGV: 11, SIGABRT: 6 };

/** Resolves a process task's volumes and makes their sources and mount points. */
async function processVolumes(spec: LaunchSpec, allowedHostPaths: readonly string[]): Promise<VolumeMount[]> {
  const volumes = spec.container?.volumes ?? [];
  if (volumes.length === 0) return [];
  const mounts = resolveVolumes(volumes, { sandboxDir: spec.sandboxDir, sandboxInContainer: undefined, allowedHostPaths });
  for (const m of mounts) {
    if (m.source.startsWith(`${spec.sandboxDir}/`)) await fs.mkdir(m.source, { recursive: true });
    if (m.inSandbox) {
      if (m.directory) await fs.mkdir(m.target, { recursive: true });
      else {
        await fs.mkdir(join(m.target, '..'), { recursive: true });
        await fs.writeFile(m.target, '', { flag: 'a' });
      }
    } else if (!existsSync(m.target)) {
      throw new Error(
        `volume container_path '${m.target}' does not exist on the host: a task without an image mounts over an existing path (or use a relative container_path, under the sandbox)`,
      );
    }
  }
  return mounts;
}

/** The argv a CommandInfo runs: shell form through /bin/sh, argv form as Mesos execs it. */
export function commandArgv(command: LaunchSpec['command']): string[] {
  if (command.shell !== false) {
    if (typeof command.value !== 'string' || command.value.trim() === '') throw new Error('command.value is required for a shell command');
    return ['/bin/sh', '-c', command.value];
  }
  // Mesos: execvp(value, arguments) where arguments[0] is argv[0]. POSIX sh cannot set argv[0],
  // so arguments[0] is dropped in favour of value. Without a value, arguments[0] is the program.
  const args = command.arguments ?? [];
  const exe = command.value && command.value !== '' ? command.value : args[0];
  if (!exe) throw new Error('command.value (or arguments) is required for a non-shell command');
  return [exe, ...args.slice(1)];
}

function findTool(name: string, pkg: string): string {
  for (const d of ['/usr/bin', '/bin', '/usr/sbin', '/sbin', '/usr/local/bin']) {
    const p = `${d}/${name}`;
    if (existsSync(p)) return p;
  }
  throw new Error(`the process runtime needs '${name}' (Debian package ${pkg})`);
}

async function readExitStatus(dir: string): Promise<ExitStatus | undefined> {
  let text: string;
  try {
    text = await fs.readFile(join(dir, 'exit_status'), 'utf8');
  } catch {
    return undefined;
  }
  return parseExitStatus(text);
}

/** An exit status as the supervisor writes it (a shell's `$?` and a newline); undefined if torn. */
function parseExitStatus(text: string): ExitStatus | undefined {
  if (!text.endsWith('\n')) return undefined; // still being written
  const code = Number(text.trim());
  if (!Number.isInteger(code) || code < 0) return { message: `unreadable exit status '${text.trim()}'` };
  return code > 128 && code <= 128 + 64 ? { exitCode: code, signal: code - 128 } : { exitCode: code };
}

async function readRecord(dir: string, sandboxDir: string): Promise<RuntimeRecord | undefined> {
  try {
    const rec = JSON.parse(await fs.readFile(join(dir, 'runtime.json'), 'utf8')) as RuntimeRecord;
    if (Number.isInteger(rec.pid) && rec.pid > 1) return rec;
  } catch {
    // fall through: the agent may have died before writing runtime.json
  }
  try {
    const text = await fs.readFile(join(dir, 'pid'), 'utf8');
    const pid = text.endsWith('\n') ? Number(text.trim()) : Number.NaN;
    if (Number.isInteger(pid) && pid > 1) return { pid, sandboxDir };
  } catch {
    // nothing recorded
  }
  return undefined;
}

function lostStatus(): ExitStatus {
  return { message: 'the task exited but its exit status was lost (its supervisor was killed)' };
}

/** Fields of /proc/<pid>/stat after the command name (index 0 = state, field 3 of the man page). */
function parseProcStat(text: string): string[] {
  const close = text.lastIndexOf(')');
  return text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
}

/** The process's start time in clock ticks since boot (survives pid reuse checks); undefined if gone. */
function procStartTime(pid: number): string | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'))[19];
  } catch {
    return undefined;
  }
}

/** Alive, not a zombie, and (when known) still the same process. */
function processAlive(pid: number, startTime: string | undefined): boolean {
  let fields: string[];
  try {
    fields = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
  if (fields[0] === 'Z' || fields[0] === 'X') return false;
  return startTime === undefined || fields[19] === startTime;
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Signals a task: its whole process group, or, in the moment right after a launch when the task
 * has not reached its own `setsid` yet (no group of that id exists), the process itself, which
 * then dies before it execs the command. False when neither exists.
 */
function signalTask(pid: number, signal: NodeJS.Signals): boolean {
  if (signalGroup(pid, signal)) return true;
  if (!processAlive(pid, undefined)) return false;
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

function taskAlive(pid: number): boolean {
  return groupAlive(pid) || processAlive(pid, undefined);
}

/** Signals a whole process group; false when the group no longer exists. */
function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
