import type { Random } from '../base/random.js';
import type { MemoryStore } from '../adapters/store/memory.js';
import type { Store, StoreEntry, StoreOp } from '../ports/store.js';
import type { SimClock } from './clock.js';

/**
 * The master's view of its registry in the simulator: a MemoryStore (the durable part, which
 * outlives master crashes) behind a per-incarnation facade that adds commit latency (fsync) and
 * dies with its master. A batch commits at the end of its latency, in order; a batch still in
 * flight when the master crashes is lost, exactly like an uncommitted transaction.
 */
export class SimStore implements Store {
  private dead = false;
  private lastCommitMs = 0;
  /** Batches committed through this facade. */
  commits = 0;
  /** Test hook for injected bugs: returns false to silently lose an op (never set in a normal run). */
  filterOp: ((op: StoreOp) => boolean) | undefined;

  constructor(
    readonly durable: MemoryStore,
    private readonly clock: SimClock,
    private readonly random: Random,
    private readonly latencyMinMs = 0,
    private readonly latencyMaxMs = 0,
  ) {}

  /** The master died: nothing more commits, nothing more resolves. */
  kill(): void {
    this.dead = true;
  }

  private never<T>(): Promise<T> {
    return new Promise<T>(() => {});
  }

  async get(key: string): Promise<StoreEntry | undefined> {
    if (this.dead) return this.never();
    return this.durable.get(key);
  }

  async list(prefix: string): Promise<StoreEntry[]> {
    if (this.dead) return this.never();
    return this.durable.list(prefix);
  }

  async put(key: string, value: string): Promise<number> {
    await this.batch([{ type: 'put', key, value }]);
    return (await this.durable.get(key))?.version ?? 0;
  }

  async compareAndSet(key: string, expectedVersion: number, value: string): Promise<boolean> {
    if (this.dead) return this.never();
    const cur = (await this.durable.get(key))?.version ?? 0;
    if (cur !== expectedVersion) return false;
    await this.batch([{ type: 'put', key, value }]);
    return true;
  }

  async delete(key: string): Promise<void> {
    await this.batch([{ type: 'delete', key }]);
  }

  batch(ops: StoreOp[]): Promise<void> {
    if (this.dead) return this.never();
    const apply = (): void => {
      const kept = this.filterOp ? ops.filter(this.filterOp) : ops;
      this.durable.applySync(kept);
      this.commits++;
    };
    if (this.latencyMaxMs <= 0) {
      apply();
      return Promise.resolve();
    }
    const now = this.clock.nowMs();
    const lat = this.latencyMinMs + this.random.next() * (this.latencyMaxMs - this.latencyMinMs);
    // Commits are serialised, as in SQLite or etcd: a later batch never lands before an earlier one.
    const at = Math.max(now + lat, this.lastCommitMs);
    this.lastCommitMs = at;
    return new Promise<void>((resolve) => {
      this.clock.setTimer(at - now, () => {
        if (this.dead) return;
        apply();
        resolve();
      });
    });
  }

  watch(prefix: string, fn: (op: StoreOp) => void): () => void {
    return this.durable.watch(prefix, fn);
  }

  async close(): Promise<void> {}
}
