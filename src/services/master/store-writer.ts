import type { Store, StoreOp } from '../../ports/store.js';

/**
 * Coalesces the master's writes into one atomic batch per turn: many status updates arriving
 * together cost one transaction. `flush()` resolves once everything written before it is durable.
 */
export class StoreWriter {
  private pending = new Map<string, StoreOp>();
  private flushing: Promise<void> | undefined;
  private scheduled: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly defer: (fn: () => void) => void,
  ) {}

  put(key: string, value: unknown): void {
    this.pending.set(key, { type: 'put', key, value: JSON.stringify(value) });
  }

  delete(key: string): void {
    this.pending.set(key, { type: 'delete', key });
  }

  /** Resolves when all writes queued so far are committed. */
  flush(): Promise<void> {
    if (this.scheduled) return this.scheduled;
    this.scheduled = new Promise<void>((resolve, reject) => {
      this.defer(() => {
        const prev = this.flushing ?? Promise.resolve();
        const run = prev.then(async () => {
          this.scheduled = undefined;
          const ops = [...this.pending.values()];
          this.pending = new Map();
          if (ops.length > 0) await this.store.batch(ops);
        });
        this.flushing = run.finally(() => {
          if (this.flushing === tracked) this.flushing = undefined;
        });
        const tracked = this.flushing;
        run.then(resolve, reject);
      });
    });
    return this.scheduled;
  }
}
