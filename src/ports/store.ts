/**
 * The Store port: what the master (and later marathon, metronome, cosmos, IAM) must remember.
 * Values are JSON strings; versions increase on every write of a key (0 means "absent").
 * Adapters: sqlite (embedded default), memory (tests and the simulator), etcd (HA, later).
 */
export interface StoreEntry {
  key: string;
  value: string;
  version: number;
}

export type StoreOp = { type: 'put'; key: string; value: string } | { type: 'delete'; key: string };

export interface Store {
  get(key: string): Promise<StoreEntry | undefined>;
  put(key: string, value: string): Promise<number>;
  /** Writes only if the key's version equals expectedVersion (0: the key must not exist). */
  compareAndSet(key: string, expectedVersion: number, value: string): Promise<boolean>;
  delete(key: string): Promise<void>;
  /** All entries whose key starts with prefix, in key order. */
  list(prefix: string): Promise<StoreEntry[]>;
  /**
   * Optional: calls fn with each entry under prefix, in key order, without holding them all at
   * once (a master recovering 100,000 tasks parses each value and drops its text at once, so the
   * text never outlives the young generation). Adapters without it are read with `list`.
   */
  scan?(prefix: string, fn: (entry: StoreEntry) => void): Promise<void>;
  /** Applies all operations atomically and durably. */
  batch(ops: StoreOp[]): Promise<void>;
  /** Calls fn with each committed change under prefix; returns an unsubscribe function. */
  watch(prefix: string, fn: (op: StoreOp) => void): () => void;
  close(): Promise<void>;
}
