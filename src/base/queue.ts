/** A FIFO with a hard capacity. push returns false when full; callers decide what that means. */
export class BoundedQueue<T> {
  private items: (T | undefined)[];
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    this.items = new Array(capacity);
  }

  get length(): number {
    return this.count;
  }

  push(item: T): boolean {
    if (this.count === this.capacity) return false;
    this.items[(this.head + this.count) % this.capacity] = item;
    this.count++;
    return true;
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    return item;
  }

  peek(): T | undefined {
    return this.count === 0 ? undefined : this.items[this.head];
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.count; i++) yield this.items[(this.head + i) % this.capacity] as T;
  }
}

/** Keeps the newest `capacity` items, dropping the oldest. */
export class RingBuffer<T> {
  private readonly q: BoundedQueue<T>;
  constructor(capacity: number) {
    this.q = new BoundedQueue<T>(capacity);
  }
  get length(): number {
    return this.q.length;
  }
  push(item: T): T | undefined {
    let dropped: T | undefined;
    if (this.q.length === this.q.capacity) dropped = this.q.shift();
    this.q.push(item);
    return dropped;
  }
  toArray(): T[] {
    return [...this.q];
  }
  [Symbol.iterator](): IterableIterator<T> {
    return this.q[Symbol.iterator]();
  }
}
