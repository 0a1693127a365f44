import type { Clock, TimerHandle } from '../../base/clock.js';
import { isTerminal, type TaskStatus } from '../../model/mesos.js';
import type { Checkpointer } from '../../ports/runtime.js';
import { updatesFile } from './paths.js';

/** What the master said about one STATUS_UPDATE. */
export type SendOutcome = 'acked' | 'retry';

export interface StatusUpdateManagerOptions {
  clock: Clock;
  checkpointer: Checkpointer;
  /** Sends one update to the master; resolves 'acked' only on the master's 200. Never rejects. */
  send: (frameworkId: string, status: TaskStatus) => Promise<SendOutcome>;
  /** A task's terminal update was acknowledged and its stream is empty: the task is complete. */
  onTerminalAcked: (frameworkId: string, taskId: string) => void;
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Bound on unacknowledged updates per task; beyond it non-terminal updates are dropped. */
  maxPendingPerTask?: number;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
}

interface Stream {
  frameworkId: string;
  taskId: string;
  durable: boolean;
  pending: TaskStatus[];
  inFlight: boolean;
  timer: TimerHandle | undefined;
  backoffMs: number;
  /** Serializes checkpoint writes so the file has the same order as memory. */
  chain: Promise<void>;
  /** Records waiting for the write in flight to end: they go out together in one append. */
  batch: Batch | undefined;
  removed: boolean;
}

interface Batch {
  lines: string[];
  /** Whether the append is fsynced: any UPDATE in it needs that (ACKs alone do not). */
  sync: boolean;
  done: Promise<void>;
}

/** One checkpoint record per line. */
type Record_ = { type: 'UPDATE'; status: TaskStatus } | { type: 'ACK'; uuid: string };

/**
 * The agent's status update manager. Per task, a FIFO of updates: each is checkpointed (append +
 * fsync) before it is queued, only the head is in flight, and it is retried with backoff until
 * the master answers 200; then the next one goes. So per-task order always holds, and after an
 * agent restart the unacknowledged updates are read back and sent again.
 */
export class StatusUpdateManager {
  private readonly streams = new Map<string, Stream>();
  private paused = true;
  private stopped = false;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private readonly maxPending: number;

  constructor(private readonly o: StatusUpdateManagerOptions) {
    this.retryMinMs = o.retryMinMs ?? 10_000;
    this.retryMaxMs = o.retryMaxMs ?? 80_000;
    this.maxPending = o.maxPendingPerTask ?? 1000;
  }

  /**
   * Queues an update. The in-memory order is fixed when this is called; the promise resolves once
   * the update is durable. Non-durable streams (ids that cannot be paths) skip the checkpoint.
   */
  update(frameworkId: string, status: TaskStatus, durable = true): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const s = this.stream(frameworkId, status.task_id.value, durable);
    if (s.pending.length >= this.maxPending && !isTerminal(status.state)) {
      this.o.log?.('warn', `dropping ${status.state} for task ${s.taskId}: ${s.pending.length} updates are unacknowledged`);
      return Promise.resolve();
    }
    const write = s.durable ? this.appendRecord(s, { type: 'UPDATE', status }) : Promise.resolve();
    return write.then(() => {
      if (s.removed || this.stopped) return;
      s.pending.push(status);
      this.pump(s);
    });
  }

  /**
   * Reads a task's checkpointed stream back after a restart. Returns every update in order and
   * the ones still unacknowledged (which are queued again, sent after resume()).
   */
  async recover(frameworkId: string, taskId: string): Promise<{ all: TaskStatus[]; pending: TaskStatus[] }> {
    const text = (await this.o.checkpointer.read(updatesFile(frameworkId, taskId))) ?? '';
    const all: TaskStatus[] = [];
    const pending: TaskStatus[] = [];
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      let rec: Record_;
      try {
        rec = JSON.parse(line) as Record_;
      } catch {
        this.o.log?.('warn', `skipping a torn status update record of task ${taskId}`);
        continue;
      }
      if (rec.type === 'UPDATE' && rec.status?.task_id) {
        all.push(rec.status);
        pending.push(rec.status);
      } else if (rec.type === 'ACK') {
        const i = pending.findIndex((p) => p.uuid === rec.uuid);
        if (i >= 0) pending.splice(i, 1);
      }
    }
    if (pending.length > 0) {
      const s = this.stream(frameworkId, taskId, true);
      s.pending.push(...pending);
    }
    return { all, pending };
  }

  /** The master is away: stop sending (updates keep queueing). */
  pause(): void {
    this.paused = true;
  }

  /** (Re)registered: send every stream's head now, whatever its backoff said. */
  resume(): void {
    if (this.stopped) return;
    this.paused = false;
    for (const s of this.streams.values()) {
      s.timer?.cancel();
      s.timer = undefined;
      s.backoffMs = this.retryMinMs;
      this.pump(s);
    }
  }

  /** Unacknowledged updates of a task, oldest first. */
  pending(frameworkId: string, taskId: string): readonly TaskStatus[] {
    return this.streams.get(key(frameworkId, taskId))?.pending ?? [];
  }

  /** Total unacknowledged updates (a metric). */
  get pendingCount(): number {
    let n = 0;
    for (const s of this.streams.values()) n += s.pending.length;
    return n;
  }

  /** Drops a task's stream (the agent was removed, or everything is being cleaned up). */
  async remove(frameworkId: string, taskId: string): Promise<void> {
    const s = this.streams.get(key(frameworkId, taskId));
    if (!s) return;
    s.removed = true;
    s.timer?.cancel();
    this.streams.delete(key(frameworkId, taskId));
    await s.chain;
  }

  /** Waits for every checkpoint write queued so far. */
  async flush(): Promise<void> {
    await Promise.all([...this.streams.values()].map((s) => s.chain));
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.streams.values()) {
      s.timer?.cancel();
      s.timer = undefined;
    }
  }

  // ---------------------------------------------------------------------------------------------

  private stream(frameworkId: string, taskId: string, durable: boolean): Stream {
    const k = key(frameworkId, taskId);
    let s = this.streams.get(k);
    if (!s) {
      s = {
        frameworkId,
        taskId,
        durable,
        pending: [],
        inFlight: false,
        timer: undefined,
        backoffMs: this.retryMinMs,
        chain: Promise.resolve(),
        batch: undefined,
        removed: false,
      };
      this.streams.set(k, s);
    }
    return s;
  }

  /**
   * Appends a record after every one queued before it. Records that arrive while a write is in
   * flight are written together by the next one (group commit: one fsync for STARTING and RUNNING,
   * or for an ACK and the update behind it). An UPDATE is fsynced before its promise resolves; an
   * ACK alone is not (lost in a crash, it only makes the restarted agent send that update again,
   * which the master's acknowledgement by uuid absorbs, as it absorbs any retry).
   */
  private appendRecord(s: Stream, rec: Record_): Promise<void> {
    const line = `${JSON.stringify(rec)}\n`;
    const sync = rec.type === 'UPDATE';
    const open = s.batch;
    if (open) {
      open.lines.push(line);
      open.sync ||= sync;
      return open.done;
    }
    const batch: Batch = { lines: [line], sync, done: Promise.resolve() };
    batch.done = s.chain.then(() => {
      if (s.batch === batch) s.batch = undefined; // from here on, records go to the next write
      return this.o.checkpointer.append(updatesFile(s.frameworkId, s.taskId), batch.lines.join(''), { sync: batch.sync });
    });
    s.batch = batch;
    // A failed write must not wedge the chain; the callers see the failure through `done`.
    s.chain = batch.done.catch((e: Error) => this.o.log?.('error', `checkpointing a status update of task ${s.taskId} failed: ${e.message}`));
    return batch.done;
  }

  private pump(s: Stream): void {
    if (this.paused || this.stopped || s.removed || s.inFlight || s.timer || s.pending.length === 0) return;
    const head = s.pending[0] as TaskStatus;
    s.inFlight = true;
    void this.o.send(s.frameworkId, head).then(
      (outcome) => this.onReply(s, head, outcome),
      () => this.onReply(s, head, 'retry'),
    );
  }

  private onReply(s: Stream, head: TaskStatus, outcome: SendOutcome): void {
    s.inFlight = false;
    if (s.removed || this.stopped) return;
    if (outcome !== 'acked') {
      if (this.paused) return; // resume() sends again right away
      const delay = s.backoffMs;
      s.backoffMs = Math.min(s.backoffMs * 2, this.retryMaxMs);
      s.timer = this.o.clock.setTimer(delay, () => {
        s.timer = undefined;
        this.pump(s);
      });
      return;
    }
    if (s.pending[0] !== head) return;
    s.pending.shift();
    s.backoffMs = this.retryMinMs;
    if (s.durable && head.uuid) void this.appendRecord(s, { type: 'ACK', uuid: head.uuid }).catch(() => {});
    if (isTerminal(head.state) && s.pending.length === 0) {
      // The task is complete once its terminal update is acknowledged and nothing follows it.
      this.streams.delete(key(s.frameworkId, s.taskId));
      s.removed = true;
      void s.chain.then(() => this.o.onTerminalAcked(s.frameworkId, s.taskId));
      return;
    }
    this.pump(s);
  }
}

const key = (fw: string, task: string): string => `${fw}\u0000${task}`;
