import type { Store, StoreOp } from '../../ports/store.js';

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

  constructor(
    private readonly store: Store,
    private readonly defer: (fn: () => void) => void,
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
            this.scheduled = undefined;
            const ops = [...this.pending.values()];
            const callbacks = [...this.committed.values()];
            this.pending = new Map();
            this.committed = new Map();
            if (ops.length > 0) await this.store.batch(ops);
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
