import type { Store, StoreEntry, StoreOp } from '../../ports/store.js';

/** An in-memory Store for tests and the simulator. Same semantics as the durable adapters. */
export class MemoryStore implements Store {
  private readonly data = new Map<string, { value: string; version: number }>();
  private readonly watchers = new Set<{ prefix: string; fn: (op: StoreOp) => void }>();
  /** Number of committed batches, for tests and benchmarks. */
  commits = 0;

  async get(key: string): Promise<StoreEntry | undefined> {
    const e = this.data.get(key);
    return e ? { key, value: e.value, version: e.version } : undefined;
  }

  async put(key: string, value: string): Promise<number> {
    await this.batch([{ type: 'put', key, value }]);
    return this.data.get(key)?.version ?? 0;
  }

  async compareAndSet(key: string, expectedVersion: number, value: string): Promise<boolean> {
    const cur = this.data.get(key)?.version ?? 0;
    if (cur !== expectedVersion) return false;
    await this.batch([{ type: 'put', key, value }]);
    return true;
  }

  async delete(key: string): Promise<void> {
    await this.batch([{ type: 'delete', key }]);
  }

  async list(prefix: string): Promise<StoreEntry[]> {
    const out: StoreEntry[] = [];
    for (const [key, e] of this.data) if (key.startsWith(prefix)) out.push({ key, value: e.value, version: e.version });
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async batch(ops: StoreOp[]): Promise<void> {
    this.applySync(ops);
  }

  /** Synchronous apply (the simulator uses it to avoid promise turns). */
  applySync(ops: StoreOp[]): void {
    this.commits++;
    for (const op of ops) {
      if (op.type === 'put') {
        const prev = this.data.get(op.key)?.version ?? 0;
        this.data.set(op.key, { value: op.value, version: prev + 1 });
      } else this.data.delete(op.key);
      for (const w of this.watchers) if (op.key.startsWith(w.prefix)) w.fn(op);
    }
  }

  watch(prefix: string, fn: (op: StoreOp) => void): () => void {
    const w = { prefix, fn };
    this.watchers.add(w);
    return () => this.watchers.delete(w);
  }

  async close(): Promise<void> {}

  get size(): number {
    return this.data.size;
  }
}
