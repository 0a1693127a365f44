import type { Clock, TimerHandle } from '../../base/clock.js';
import type { AgentCall, AgentCommand } from '../../model/agent-protocol.js';
import type { CommandStream, MasterLink, MasterLinkReply } from '../../ports/master-link.js';
import type { CheckpointedContainer, ContainerHandle, ContainerRuntime, ExitStatus, LaunchSpec, RecoveredContainer } from '../../ports/runtime.js';

/**
 * Test doubles for the agent: a manual clock, a scriptable master link and an in-memory
 * runtime. Kept out of *.test.ts so several test files (and later the simulator) can share them.
 */

export class ManualClock implements Clock {
  private now: number;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void; period?: number }>();

  constructor(startMs = 1_700_000_000_000) {
    this.now = startMs;
  }

  nowMs(): number {
    return this.now;
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { at: this.now + Math.max(0, delayMs), fn });
    return { cancel: () => this.timers.delete(id) };
  }

  setInterval(periodMs: number, fn: () => void): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { at: this.now + periodMs, fn, period: periodMs });
    return { cancel: () => this.timers.delete(id) };
  }

  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Moves time forward, firing due timers in time order (and letting promises settle between them). */
  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    for (let guard = 0; guard < 100_000; guard++) {
      let next: [number, { at: number; fn: () => void; period?: number }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      const [id, t] = next;
      this.now = t.at;
      if (t.period !== undefined) t.at += t.period;
      else this.timers.delete(id);
      t.fn();
      await settle();
    }
    this.now = end;
    await settle();
  }
}

/** Lets pending promise chains (and fs callbacks, with a macrotask hop) run. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}

type Responder = (call: AgentCall) => MasterLinkReply | Promise<MasterLinkReply> | 'unreachable';

/** A master link whose replies the test scripts; it records every call and can push commands. */
export class FakeMasterLink implements MasterLink {
  readonly calls: AgentCall[] = [];
  subscribes = 0;
  respond: Responder;
  subscribeReply: MasterLinkReply | 'unreachable' | undefined;
  private stream: { onCommand: (c: AgentCommand) => void; onClose: () => void; open: boolean } | undefined;

  constructor(respond?: Responder) {
    this.respond =
      respond ??
      ((call) => {
        if (call.type === 'REGISTER' || call.type === 'REREGISTER')
          return {
            status: 200,
            body: { agent_id: { value: call.type === 'REGISTER' ? 'agent-1' : call.agent_id.value }, master_id: 'm1', ping_interval_seconds: 15 },
          };
        return { status: 200, body: {} };
      });
  }

  async call(call: AgentCall): Promise<MasterLinkReply> {
    this.calls.push(structuredClone(call));
    const r = await this.respond(call);
    if (r === 'unreachable') throw new Error('connect ECONNREFUSED');
    return r;
  }

  async subscribe(_agentId: string, onCommand: (c: AgentCommand) => void, onClose: () => void): Promise<CommandStream | MasterLinkReply> {
    this.subscribes++;
    if (this.subscribeReply === 'unreachable') throw new Error('connect ECONNREFUSED');
    if (this.subscribeReply) return this.subscribeReply;
    const s = { onCommand, onClose, open: true };
    this.stream = s;
    return {
      close: () => {
        s.open = false;
      },
    };
  }

  get streamOpen(): boolean {
    return this.stream?.open === true;
  }

  push(command: AgentCommand): void {
    if (!this.stream?.open) throw new Error('no open command stream');
    this.stream.onCommand(command);
  }

  /** The master side drops the stream. */
  dropStream(): void {
    const s = this.stream;
    if (!s?.open) return;
    s.open = false;
    s.onClose();
  }

  callsOf<T extends AgentCall['type']>(type: T): Extract<AgentCall, { type: T }>[] {
    return this.calls.filter((c) => c.type === type) as Extract<AgentCall, { type: T }>[];
  }

  /** The states of STATUS_UPDATE calls, optionally for one task. */
  updateStates(taskId?: string): string[] {
    return this.callsOf('STATUS_UPDATE')
      .filter((c) => taskId === undefined || c.status.task_id.value === taskId)
      .map((c) => c.status.state);
  }
}

/** An in-memory runtime: containers run until the test exits or kills them. */
export class FakeRuntime implements ContainerRuntime {
  readonly launched: LaunchSpec[] = [];
  readonly killed: { containerId: string; gracePeriodMs: number }[] = [];
  failLaunch: string | undefined;
  private seq = 100;
  private readonly running = new Map<string, { pid: number; resolve: (s: ExitStatus) => void; done: Promise<ExitStatus>; exited: boolean }>();
  /** What recover() reports, by container id (default: unknown). */
  recovered = new Map<string, RecoveredContainer>();

  async launch(spec: LaunchSpec): Promise<ContainerHandle> {
    if (this.failLaunch) throw new Error(this.failLaunch);
    this.launched.push(spec);
    const pid = ++this.seq;
    this.track(spec.containerId, pid);
    return { containerId: spec.containerId, pid };
  }

  wait(containerId: string): Promise<ExitStatus> {
    const c = this.running.get(containerId);
    return c ? c.done : Promise.reject(new Error(`unknown container ${containerId}`));
  }

  async kill(containerId: string, gracePeriodMs: number): Promise<void> {
    this.killed.push({ containerId, gracePeriodMs });
    this.exit(containerId, { exitCode: 143, signal: 15 });
  }

  async recover(checkpointed: readonly CheckpointedContainer[]): Promise<RecoveredContainer[]> {
    return checkpointed.map((c) => {
      const r = this.recovered.get(c.containerId) ?? { containerId: c.containerId, state: 'unknown' as const };
      if (r.state === 'running') this.track(c.containerId, r.pid);
      return r;
    });
  }

  /** The container's process exits. */
  exit(containerId: string, status: ExitStatus): void {
    const c = this.running.get(containerId);
    if (!c || c.exited) return;
    c.exited = true;
    c.resolve(status);
  }

  private track(containerId: string, pid: number): void {
    let resolve!: (s: ExitStatus) => void;
    const done = new Promise<ExitStatus>((r) => {
      resolve = r;
    });
    this.running.set(containerId, { pid, resolve, done, exited: false });
  }
}
