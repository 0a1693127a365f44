import type { Random } from '../base/random.js';
import type { CommandInfo } from '../model/mesos.js';
import type { CheckpointedContainer, ContainerHandle, ContainerRuntime, ExitStatus, LaunchSpec, RecoveredContainer } from '../ports/runtime.js';
import type { SimClock } from './clock.js';

/**
 * Fake containers on virtual time, for the real Agent service in the simulator. A container runs
 * its command's `sleep N` for N seconds and exits 0 (anything else runs until killed); a kill
 * ends it within the grace period with SIGTERM (exit 143); a crash fault ends it with SIGKILL.
 * The runtime belongs to the machine, not the agent process: containers outlive an agent crash
 * and are found again by `recover`, exactly like the process runtime's supervisor.
 */

interface Container {
  spec: LaunchSpec;
  pid: number;
  frameworkId: string;
  taskId: string;
  running: boolean;
  killing: boolean;
  exit: ExitStatus | undefined;
  waiters: ((e: ExitStatus) => void)[];
  timer: { cancel(): void } | undefined;
}

export interface SimRuntimeOptions {
  launchMinMs: number;
  launchMaxMs: number;
}

export class SimRuntime implements ContainerRuntime {
  private readonly containers = new Map<string, Container>();
  private nextPid = 1000;
  /** Set on every launch (the checker's cue that usage may have grown). */
  launchedSinceCheck = false;
  launches = 0;
  /** Injected bug: an OOM kill looks like any SIGKILL (shows the oom-reason check can fail). */
  forgetOom = false;

  constructor(
    private readonly clock: SimClock,
    private readonly random: Random,
    private readonly options: SimRuntimeOptions = { launchMinMs: 10, launchMaxMs: 500 },
  ) {}

  launch(spec: LaunchSpec): Promise<ContainerHandle> {
    if (this.containers.has(spec.containerId)) return Promise.reject(new Error(`container ${spec.containerId} exists`));
    const c: Container = {
      spec,
      pid: this.nextPid++,
      frameworkId: spec.env.MESOS_FRAMEWORK_ID ?? '',
      taskId: spec.env.MESOS_TASK_ID ?? '',
      running: true,
      killing: false,
      exit: undefined,
      waiters: [],
      timer: undefined,
    };
    this.containers.set(spec.containerId, c);
    this.launches++;
    this.launchedSinceCheck = true;
    const startMs = this.options.launchMinMs + this.random.next() * (this.options.launchMaxMs - this.options.launchMinMs);
    return new Promise((resolve) => {
      this.clock.setTimer(startMs, () => {
        const secs = sleepSeconds(spec);
        if (secs !== undefined && c.running && !c.killing) c.timer = this.clock.setTimer(secs * 1000, () => this.end(c, { exitCode: 0 }));
        resolve({ containerId: spec.containerId, pid: c.pid });
      });
    });
  }

  wait(containerId: string): Promise<ExitStatus> {
    const c = this.containers.get(containerId);
    if (!c) return Promise.reject(new Error(`unknown container ${containerId}`));
    if (c.exit) return Promise.resolve(c.exit);
    return new Promise((resolve) => c.waiters.push(resolve));
  }

  async kill(containerId: string, gracePeriodMs: number): Promise<void> {
    const c = this.containers.get(containerId);
    if (!c || !c.running) return;
    c.killing = true;
    c.timer?.cancel();
    const ms = this.random.next() * Math.max(0, Math.min(gracePeriodMs, 2000));
    c.timer = this.clock.setTimer(ms, () => this.end(c, { exitCode: 143, signal: 15 }));
  }

  async recover(checkpointed: readonly CheckpointedContainer[]): Promise<RecoveredContainer[]> {
    return checkpointed.map((k) => {
      const c = this.containers.get(k.containerId);
      if (!c) return { containerId: k.containerId, state: 'unknown' as const };
      // A dead agent's waiters are gone; the new agent waits again.
      c.waiters = [];
      if (c.running) return { containerId: k.containerId, state: 'running' as const, pid: c.pid };
      return { containerId: k.containerId, state: 'exited' as const, exit: c.exit ?? { message: 'exited' } };
    });
  }

  async cleanup(containerId: string): Promise<void> {
    const c = this.containers.get(containerId);
    if (c && !c.running) this.containers.delete(containerId);
  }

  /** The agent process died: nobody waits on the containers any more (they keep running). */
  detach(): void {
    for (const c of this.containers.values()) c.waiters = [];
  }

  /**
   * Fault: a running container dies of SIGKILL; with `oom`, sent by the OOM killer (which the
   * runtime reports, as the process runtime does from the cgroup's memory events). Returns its task.
   */
  crashOne(oom = false): { frameworkId: string; taskId: string } | undefined {
    const running = [...this.containers.values()].filter((c) => c.running && !c.killing);
    if (running.length === 0) return undefined;
    const c = running[this.random.int(running.length)]!;
    this.end(c, oom && !this.forgetOom ? { exitCode: 137, signal: 9, oomKilled: true } : { exitCode: 137, signal: 9 });
    return { frameworkId: c.frameworkId, taskId: c.taskId };
  }

  /** The machine reboots: every container is gone without a trace. */
  wipe(): void {
    for (const c of this.containers.values()) c.timer?.cancel();
    this.containers.clear();
  }

  /** Running containers not being killed, with their framework and task ids. */
  running(): { frameworkId: string; taskId: string }[] {
    const out: { frameworkId: string; taskId: string }[] = [];
    for (const c of this.containers.values()) if (c.running && !c.killing) out.push({ frameworkId: c.frameworkId, taskId: c.taskId });
    return out;
  }

  private end(c: Container, exit: ExitStatus): void {
    if (!c.running) return;
    c.running = false;
    c.exit = exit;
    c.timer?.cancel();
    c.timer = undefined;
    const ws = c.waiters.splice(0);
    for (const w of ws) w(exit);
  }
}

function sleepSeconds(spec: LaunchSpec): number | undefined {
  return sleepSecondsOf(spec.command);
}

/** `sleep N` (shell or argv form) → N; anything else (`sleep infinity`) runs until killed. */
export function sleepSecondsOf(cmd: CommandInfo): number | undefined {
  const text = cmd.shell === false ? (cmd.arguments ?? []).join(' ') : (cmd.value ?? '');
  const m = /(?:^|\s)sleep\s+(\d+(?:\.\d+)?)\s*$/.exec(text.trim());
  return m ? Number(m[1]) : undefined;
}
