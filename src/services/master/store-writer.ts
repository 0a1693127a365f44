import type { Clock } from '../../base/clock.js';
import type { Store, StoreOp } from '../../ports/store.js';

/**
 * Group commit while the store is the bottleneck: after a commit of at least `minOps` writes,
 * the next commit starts no sooner than `intervalMs` after that one started, so the writes that
 * arrive meanwhile share one transaction (one fsync, ~3 ms here whatever its size up to a few
 * hundred KB) instead of each small group paying its own. A commit of fewer writes means the
 * burst is over: the next one starts at once, as before. The cost is at most `intervalMs` more
 * latency per write, and only during a burst (10,000 agents reregistering, a mass launch).
 */
export interface GroupCommit {
  clock: Clock;
  intervalMs: number;
  minOps: number;
}

export const DEFAULT_GROUP_COMMIT = { intervalMs: 10, minOps: 8 };

/**
 * Coalesces the master's writes into one atomic batch per turn: many status updates arriving
 * together cost one transaction. `flush()` resolves once everything written before it is durable.
 *
 * A put may carry a callback that runs once the value it wrote is committed (the status-update
 * path forwards an update only then). A later put or delete of the same key before the batch
 * is taken replaces the value, and with it the callback: what commits is the later value.
 */
export class StoreWriter {
  private pending = new Map<string, StoreOp>();
  private committed = new Map<string, () => void>();
  private flushing: Promise<void> | undefined;
  private scheduled: Promise<void> | undefined;
  /** Start time and size of the last commit (group commit). */
  private lastStartMs = Number.NEGATIVE_INFINITY;
  private lastOps = 0;
  /** Commits made, and writes in them (benchmarks). */
  commits = 0;
  writes = 0;

  constructor(
    private readonly store: Store,
    private readonly defer: (fn: () => void) => void,
    private readonly group?: GroupCommit,
  ) {}

  put(key: string, value: unknown, onCommitted?: () => void): void {
    this.pending.set(key, { type: 'put', key, value: JSON.stringify(value) });
    if (onCommitted) this.committed.set(key, onCommitted);
    else this.committed.delete(key);
  }

  delete(key: string): void {
    this.pending.set(key, { type: 'delete', key });
    this.committed.delete(key);
  }

  /** How long the next commit waits to gather more writes (0: commit at once). */
  private lingerMs(): number {
    const g = this.group;
    if (!g || g.intervalMs <= 0 || this.lastOps < g.minOps) return 0;
    return Math.max(0, this.lastStartMs + g.intervalMs - g.clock.nowMs());
  }

  /** Resolves when all writes queued so far are committed. */
  flush(): Promise<void> {
    if (this.scheduled) return this.scheduled;
    this.scheduled = new Promise<void>((resolve, reject) => {
      this.defer(() => {
        const prev = this.flushing ?? Promise.resolve();
        // A failed batch fails its own flush, not every later one.
        const run = prev
          .catch(() => {})
          .then(async () => {
            // Writes queued during the wait join this commit (flush() returns this promise until
            // the batch is taken).
            const wait = this.lingerMs();
            if (wait > 0) await new Promise<void>((r) => this.group?.clock.setTimer(wait, r));
            this.scheduled = undefined;
            const ops = [...this.pending.values()];
            const callbacks = [...this.committed.values()];
            this.pending = new Map();
            this.committed = new Map();
            this.lastStartMs = this.group ? this.group.clock.nowMs() : 0;
            this.lastOps = ops.length;
            if (ops.length > 0) {
              this.commits++;
              this.writes += ops.length;
              await this.store.batch(ops);
            }
            for (const fn of callbacks) fn();
          });
        this.flushing = run.finally(() => {
          if (this.flushing === tracked) this.flushing = undefined;
        });
        const tracked = this.flushing;
        // The chain above swallows a failure for the next flush; this one reports it.
        tracked.catch(() => {});
        run.then(resolve, reject);
      });
    });
    return this.scheduled;
  }
}
