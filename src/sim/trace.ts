import { createHash, type Hash } from 'node:crypto';

/**
 * The run's event trace: every message delivered, every fault, every step boundary, hashed into
 * one digest. Two runs from one seed must end with the same digest; the last lines are kept so
 * a failure can show what led to it.
 */
export class Trace {
  private readonly hash: Hash = createHash('sha256');
  private readonly tail: string[] = [];
  private tailStart = 0;
  /** Lines recorded (hashed). */
  count = 0;
  /** Print every line as it is recorded (--verbose). */
  echo: ((line: string) => void) | undefined;

  constructor(
    private readonly nowMs: () => number,
    readonly enabled = true,
    private readonly tailMax = 200,
  ) {}

  /** Records one event. `detail` is serialised only when tracing is enabled. */
  record(kind: string, detail?: unknown): void {
    if (!this.enabled) return;
    const line = `${this.nowMs()} ${kind}${detail === undefined ? '' : ` ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`}`;
    this.hash.update(line);
    this.hash.update('\n');
    this.count++;
    if (this.tail.length < this.tailMax) this.tail.push(line);
    else {
      this.tail[this.tailStart] = line;
      this.tailStart = (this.tailStart + 1) % this.tailMax;
    }
    this.echo?.(line);
  }

  /** The most recent lines, oldest first. */
  last(n: number): string[] {
    const ordered = [...this.tail.slice(this.tailStart), ...this.tail.slice(0, this.tailStart)];
    return ordered.slice(Math.max(0, ordered.length - n));
  }

  /** Hex digest of everything recorded so far (the hash itself is not consumed). */
  digest(): string {
    return this.hash.copy().digest('hex').slice(0, 32);
  }
}
