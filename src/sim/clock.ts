import type { Clock, TimerHandle } from '../base/clock.js';

/**
 * Virtual time for the simulator. Timers live in a binary heap ordered by (time, sequence), so
 * two timers due at the same instant always fire in the order they were set: the run is a pure
 * function of the seed.
 *
 * No real timer, Date or setImmediate is ever touched. Services' promises still resolve in
 * microtasks; after every event the clock runs its `defer` queue (the master's "end of turn"
 * work, e.g. the store writer) and yields to the microtask queue `settleTicks` times so that
 * the async chains the event started finish before virtual time moves. The microtask queue is
 * FIFO and nothing else runs in the process, so even a chain longer than that is deterministic:
 * it only finishes during a later event.
 */

interface Timer {
  atMs: number;
  seq: number;
  fn: () => void;
  periodMs: number;
  cancelled: boolean;
}

/** Fixed epoch so timestamps look real (2024-01-01T00:00:00Z) and replay identically. */
export const SIM_EPOCH_MS = 1_704_067_200_000;

export class SimClock implements Clock {
  private now: number;
  private seq = 0;
  private readonly heap: Timer[] = [];
  private deferred: (() => void)[] = [];
  /** Events (timer callbacks) run so far. */
  eventsRun = 0;
  /** Microtask yields after each event; see the class comment. */
  settleTicks = 32;
  /**
   * Run every event due at one instant before settling (deferred work then runs once per
   * instant, as setImmediate runs once per event-loop turn after all ready I/O). The scale
   * benchmarks use it so the master's store writer coalesces a burst into one transaction.
   */
  coalesceInstants = false;
  /** Called with any exception a timer callback throws; the default rethrows (the run fails). */
  onError: (e: unknown) => void = (e) => {
    throw e;
  };

  constructor(startMs = SIM_EPOCH_MS) {
    this.now = startMs;
  }

  nowMs(): number {
    return this.now;
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const t = this.push(delayMs, fn, 0);
    return { cancel: () => void (t.cancelled = true) };
  }

  setInterval(periodMs: number, fn: () => void): TimerHandle {
    const p = Math.max(1, periodMs);
    const t = this.push(p, fn, p);
    return { cancel: () => void (t.cancelled = true) };
  }

  /** Runs fn at the end of the current event, before virtual time moves (the master's `defer`). */
  defer(fn: () => void): void {
    this.deferred.push(fn);
  }

  /** Timers still queued (including cancelled ones not yet popped). */
  get queued(): number {
    return this.heap.length;
  }

  /** Due time of the next live timer, or undefined. */
  nextAtMs(): number | undefined {
    while (this.heap.length > 0 && this.heap[0]!.cancelled) this.pop();
    return this.heap[0]?.atMs;
  }

  /** Runs every event due at or before endMs, then sets the clock to endMs. */
  async runUntil(endMs: number): Promise<void> {
    await this.settle();
    for (;;) {
      const next = this.heap[0];
      if (!next || next.atMs > endMs) break;
      this.pop();
      if (next.cancelled) continue;
      this.now = next.atMs;
      if (next.periodMs > 0) {
        next.atMs += next.periodMs;
        next.seq = this.seq++;
        this.insert(next);
      }
      this.eventsRun++;
      try {
        next.fn();
      } catch (e) {
        this.onError(e);
      }
      if (this.coalesceInstants && this.heap[0] && this.heap[0].atMs === this.now) continue;
      await this.settle();
    }
    await this.settle();
    if (endMs > this.now) this.now = endMs;
  }

  /**
   * Runs events until `p` settles (or `limitMs` of virtual time passes) and returns its value.
   * Use it instead of a bare `await` on anything that needs the simulated world to move.
   */
  async drive<T>(p: Promise<T>, limitMs = 3_600_000): Promise<T> {
    let done = false;
    let value: T | undefined;
    let error: unknown;
    let failed = false;
    p.then(
      (v) => {
        done = true;
        value = v;
      },
      (e: unknown) => {
        done = true;
        failed = true;
        error = e;
      },
    );
    const endMs = this.now + limitMs;
    await this.settle();
    while (!done) {
      const next = this.nextAtMs();
      if (next === undefined || next > endMs) throw new Error(`drive: nothing left to run before the promise settled (at ${this.now - SIM_EPOCH_MS} ms)`);
      await this.runUntil(next);
    }
    if (failed) throw error;
    return value as T;
  }

  /** Runs deferred work and lets pending microtasks finish, repeatedly, until nothing is deferred. */
  async settle(): Promise<void> {
    let rounds = 0;
    do {
      while (this.deferred.length > 0) {
        const batch = this.deferred;
        this.deferred = [];
        for (const fn of batch) {
          try {
            fn();
          } catch (e) {
            this.onError(e);
          }
        }
      }
      for (let i = 0; i < this.settleTicks; i++) await null;
      // Bounded: a deferred callback that always defers again would spin forever.
    } while (this.deferred.length > 0 && ++rounds < 10_000);
  }

  /** Drops cancelled timers from the queue (so what they reference can be collected). */
  compact(): void {
    const live = this.heap.filter((t) => !t.cancelled);
    this.heap.length = 0;
    for (const t of live) this.insert(t);
  }

  private push(delayMs: number, fn: () => void, periodMs: number): Timer {
    const d = Number.isFinite(delayMs) && delayMs > 0 ? delayMs : 0;
    const t: Timer = { atMs: this.now + d, seq: this.seq++, fn, periodMs, cancelled: false };
    this.insert(t);
    return t;
  }

  private insert(t: Timer): void {
    const h = this.heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(h[i]!, h[p]!)) break;
      const tmp = h[i]!;
      h[i] = h[p]!;
      h[p] = tmp;
      i = p;
    }
  }

  private pop(): Timer | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && less(h[l]!, h[m]!)) m = l;
        if (r < h.length && less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        const tmp = h[i]!;
        h[i] = h[m]!;
        h[m] = tmp;
        i = m;
      }
    }
    return top;
  }
}

function less(a: Timer, b: Timer): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
}
