/**
 * Running more in a task's container, and what the agent API shows of containers: an exec session
 * (Mesos' LAUNCH_NESTED_CONTAINER_SESSION) runs a command in a running task's namespaces and
 * cgroups, streams its output back, and leaves its wait status for WAIT_NESTED_CONTAINER.
 */

/** The running task container a session enters. */
export interface ExecTarget {
  containerId: string;
  /** The task's main pid (its environment is copied for process tasks). */
  pid: number | undefined;
  sandboxDir: string;
  /** True for tasks in an OCI bundle (entered with `crun exec`); false for process tasks. */
  oci: boolean;
  /** True for container.type DOCKER tasks (entered through the Docker daemon's exec). */
  docker?: boolean;
}

export type ExecStream = 'STDOUT' | 'STDERR';

export interface ExecSession {
  readonly id: string;
  readonly parentId: string;
  /**
   * Output as it is written. Output written before the first listener is kept (bounded) and
   * replayed to it, so nothing between launch and attach is lost.
   */
  onOutput(fn: (stream: ExecStream, data: Uint8Array) => void): void;
  /** The raw wait status as waitpid reports it (exit code << 8, or the signal number). */
  readonly done: Promise<number>;
  /** Writes to the command's stdin; false once stdin is closed. */
  writeStdin(data: Uint8Array): boolean;
  /** Closes stdin (EOF). */
  endStdin(): void;
  /** True while nobody has attached to stdin yet (only one input attach is allowed). */
  claimStdin(): boolean;
  /** Signals the command (and what it started). */
  kill(signal: string): void;
}

export interface ContainerExec {
  /** Starts a command in the target; rejects when it cannot be started. */
  launch(target: ExecTarget, sessionId: string, argv: string[]): Promise<ExecSession>;
  /** A running session, or undefined. */
  session(sessionId: string): ExecSession | undefined;
  /** The wait status of a session, once it has ended (kept for the newest sessions only). */
  waitStatus(sessionId: string): Promise<number> | undefined;
}

/** Resource usage of one container as Mesos' ResourceStatistics names it (JSON field names). */
export interface ResourceStatistics {
  timestamp: number;
  processes?: number;
  threads?: number;
  cpus_user_time_secs?: number;
  cpus_system_time_secs?: number;
  cpus_limit?: number;
  mem_rss_bytes?: number;
  mem_limit_bytes?: number;
  mem_total_bytes?: number;
  disk_limit_bytes?: number;
  disk_used_bytes?: number;
}

export interface StatsTarget {
  containerId: string;
  pid: number | undefined;
  sandboxDir: string;
}

export interface ContainerStatsSource {
  /** Figures read from the container's cgroups and sandbox; fields the machine cannot give are left out. */
  stats(target: StatsTarget): Promise<Partial<ResourceStatistics>>;
}
