import type { CommandInfo, ContainerInfo } from '../model/mesos.js';

/**
 * The agent's edges to the machine: a ContainerRuntime that runs task processes, and a
 * Checkpointer that makes the agent's state survive a restart. Both are small on purpose: the
 * Mesos containerizer (process tasks, and crun/runc for image tasks), the docker runtime (the Docker
 * Engine API) and the simulator's in-memory runtime implement the same interfaces.
 */

/** What to run, where. The agent computes everything; the runtime only executes it. */
export interface LaunchSpec {
  /** Unique per run; names the runtime's own state (pid, exit status). */
  containerId: string;
  /** Absolute sandbox directory; created by the runtime; stdout and stderr go there. */
  sandboxDir: string;
  /** The command to run (shell form or argv form, as in Mesos CommandInfo). */
  command: CommandInfo;
  /** The complete environment of the task (the runtime adds nothing). */
  env: Record<string, string>;
  /** The task's ContainerInfo, if any: a runtime rejects what it cannot honour (e.g. an image). */
  container?: ContainerInfo;
  /** The task's scalar resources, for limits (cpu shares and quota, memory, pids). */
  resources?: { cpus?: number; memMb?: number };
  /** A network namespace the container joins (ports/network.ts); none: the host's network. */
  netnsPath?: string;
  /**
   * When set, the runtime may prepare the container meanwhile but runs nothing of the task before
   * this resolves (the agent's durable checkpoint of the task): it may start the container's own
   * machinery up to a gate right before the task (the process runtime's gated launches). When it
   * rejects, the launch fails with its error and undoes what it made. What a crash leaves in
   * between is the runtime's own state of a container whose task never ran: recover() removes it
   * when no checkpoint names it, and lets it go on when one does.
   */
  ready?: Promise<void>;
}

export interface ContainerHandle {
  containerId: string;
  /**
   * The pid of the task's main process (also its process group id). Docker containers: the
   * container's first process as the host sees it (0 when it had already exited at the launch).
   */
  pid: number;
}

/** How a container ended. A runtime that cannot tell leaves fields unset. */
export interface ExitStatus {
  /** The exit code as a shell reports it (128 + N when killed by signal N). */
  exitCode?: number;
  /** The signal number that ended the task, when known or inferred. */
  signal?: number;
  oomKilled?: boolean;
  /** Set when the runtime lost track of the exit status (e.g. its supervisor was killed). */
  message?: string;
}

/** A container found again after an agent restart. */
export type RecoveredContainer =
  | { containerId: string; state: 'running'; pid: number }
  | { containerId: string; state: 'exited'; exit: ExitStatus }
  /** The runtime has no trace of it (never launched, or its state was lost). */
  | { containerId: string; state: 'unknown' };

export interface CheckpointedContainer {
  containerId: string;
  sandboxDir: string;
}

export interface ContainerStats {
  timestampMs: number;
  cpuUserSeconds?: number;
  cpuSystemSeconds?: number;
  memRssBytes?: number;
}

export interface ContainerRuntime {
  /** launch() honours LaunchSpec.ready (else the agent waits for its checkpoint before calling it). */
  readonly waitsForReady?: boolean;
  /** Starts a container. Rejects when it could not be started (the task fails to launch). */
  launch(spec: LaunchSpec): Promise<ContainerHandle>;
  /**
   * Resolves once when the container's main process has exited (launched or recovered
   * containers). Rejects for a container this runtime does not know.
   */
  wait(containerId: string): Promise<ExitStatus>;
  /**
   * SIGTERM to the container's whole process group, SIGKILL after gracePeriodMs. Resolves when
   * the signals were delivered (the exit itself is reported through wait). Unknown or already
   * exited containers resolve quietly.
   */
  kill(containerId: string, gracePeriodMs: number): Promise<void>;
  /**
   * Reattaches to containers launched before an agent restart; wait works on running ones
   * afterwards. Called with every container the agent's checkpoints name (that this runtime may
   * hold); state of its own that none names and no process uses is removed.
   */
  recover(checkpointed: readonly CheckpointedContainer[]): Promise<RecoveredContainer[]>;
  /** Forgets a container whose exit was handled (frees the runtime's state for it). */
  cleanup?(containerId: string): Promise<void>;
  stats?(containerId: string): Promise<ContainerStats | undefined>;
  /**
   * Runs a command inside a running container (its namespaces, cgroups, sandbox and environment),
   * as Mesos runs COMMAND checks. Resolves with its exit code, or rejects (timeout, no container).
   */
  exec?(containerId: string, command: CommandInfo, env: Record<string, string>, timeoutMs: number): Promise<number>;
  /** Bytes the container uses on disk (its sandbox and its writable image layer), for `disk` limits. */
  diskUsage?(containerId: string): Promise<number | undefined>;
  /** Stops watching containers; running containers keep running (an agent restart). */
  close?(): void;
}

/**
 * Durable key-value files under the agent's work dir. Paths are relative ('meta/agent.json') and
 * use '/' separators; the agent validates every id it puts into one. Writes are durable when the
 * promise resolves (fsync): the agent relies on that before it acts on what it wrote.
 */
export interface Checkpointer {
  /** The file's contents, or undefined when it does not exist. */
  read(path: string): Promise<string | undefined>;
  /** Replaces the file atomically (temp file + fsync + rename + directory fsync). */
  write(path: string, data: string): Promise<void>;
  /**
   * Appends and fsyncs (`sync: false`: no fsync, for records whose loss only repeats work after
   * a restart). A crash may leave a torn last line: readers must skip it.
   */
  append(path: string, data: string, options?: { sync?: boolean }): Promise<void>;
  /** Names of the entries in a directory; empty when it does not exist. */
  list(dir: string): Promise<string[]>;
  /** Removes a file or a directory tree; quiet when missing. */
  remove(path: string): Promise<void>;
}
