import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Store, StoreEntry, StoreOp } from '../../ports/store.js';

/** Rows per read when scanning (see `scan`). */
const SCAN_PAGE = 2000;

/**
 * The embedded default Store: one SQLite file in WAL mode with synchronous=FULL, so a batch
 * that resolved survives kill -9 and power loss. better-sqlite3 is synchronous; each batch is
 * one transaction.
 */
export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly watchers = new Set<{ prefix: string; fn: (op: StoreOp) => void }>();
  private readonly stmtGet: Database.Statement;
  private readonly stmtPut: Database.Statement;
  private readonly stmtDel: Database.Statement;
  private readonly stmtList: Database.Statement;
  private readonly stmtPage: Database.Statement;
  private readonly stmtPageAfter: Database.Statement;
  private readonly tx: (ops: StoreOp[]) => void;

  constructor(
    readonly path: string,
    options: { fsync?: boolean } = {},
  ) {
    mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${options.fsync === false ? 'NORMAL' : 'FULL'}`);
    this.db.pragma('busy_timeout = 5000');
    this.db.exec('CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, version INTEGER NOT NULL) WITHOUT ROWID');
    this.stmtGet = this.db.prepare('SELECT key, value, version FROM kv WHERE key = ?');
    this.stmtPut = this.db.prepare(
      'INSERT INTO kv (key, value, version) VALUES (?, ?, 1) ON CONFLICT(key) DO UPDATE SET value = excluded.value, version = kv.version + 1',
    );
    this.stmtDel = this.db.prepare('DELETE FROM kv WHERE key = ?');
    this.stmtList = this.db.prepare('SELECT key, value, version FROM kv WHERE key >= ? AND key < ? ORDER BY key');
    this.stmtPage = this.db.prepare('SELECT key, value, version FROM kv WHERE key >= ? AND key < ? ORDER BY key LIMIT ?');
    this.stmtPageAfter = this.db.prepare('SELECT key, value, version FROM kv WHERE key > ? AND key < ? ORDER BY key LIMIT ?');
    this.tx = this.db.transaction((ops: StoreOp[]) => {
      for (const op of ops) {
        if (op.type === 'put') this.stmtPut.run(op.key, op.value);
        else this.stmtDel.run(op.key);
      }
    });
  }

  async get(key: string): Promise<StoreEntry | undefined> {
    return this.stmtGet.get(key) as StoreEntry | undefined;
  }

  async put(key: string, value: string): Promise<number> {
    await this.batch([{ type: 'put', key, value }]);
    return (this.stmtGet.get(key) as StoreEntry).version;
  }

  async compareAndSet(key: string, expectedVersion: number, value: string): Promise<boolean> {
    const cas = this.db.transaction(() => {
      const cur = (this.stmtGet.get(key) as StoreEntry | undefined)?.version ?? 0;
      if (cur !== expectedVersion) return false;
      this.stmtPut.run(key, value);
      return true;
    });
    const okay = cas() as boolean;
    if (okay) this.notify([{ type: 'put', key, value }]);
    return okay;
  }

  async delete(key: string): Promise<void> {
    await this.batch([{ type: 'delete', key }]);
  }

  async list(prefix: string): Promise<StoreEntry[]> {
    return this.stmtList.all(prefix, `${prefix}\uffff`) as StoreEntry[];
  }

  /**
   * Pages of SCAN_PAGE rows, each read with one call (a row-by-row iterator crosses into native
   * code per row and cost more than it saved): a page's text dies young, where `list` of 100,000
   * tasks keeps ~100 MB of it alive until the last row is parsed (half the GC of a recovery).
   */
  async scan(prefix: string, fn: (entry: StoreEntry) => void): Promise<void> {
    const end = `${prefix}\uffff`;
    let rows = this.stmtPage.all(prefix, end, SCAN_PAGE) as StoreEntry[];
    for (;;) {
      for (const e of rows) fn(e);
      if (rows.length < SCAN_PAGE) return;
      rows = this.stmtPageAfter.all((rows[rows.length - 1] as StoreEntry).key, end, SCAN_PAGE) as StoreEntry[];
    }
  }

  async batch(ops: StoreOp[]): Promise<void> {
    if (ops.length === 0) return;
    this.tx(ops);
    this.notify(ops);
  }

  watch(prefix: string, fn: (op: StoreOp) => void): () => void {
    const w = { prefix, fn };
    this.watchers.add(w);
    return () => this.watchers.delete(w);
  }

  private notify(ops: StoreOp[]): void {
    if (this.watchers.size === 0) return;
    for (const op of ops) for (const w of this.watchers) if (op.key.startsWith(w.prefix)) w.fn(op);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
