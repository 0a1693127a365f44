import type { EventSink } from '../../ports/sink.js';

/** What Marathon needs of the master: the v1 scheduler API (in-process when co-located
 * with the master; over HTTP in adapters/scheduler-http.ts for `dcos marathon-server`). */
export interface SchedulerTransport {
  /** SUBSCRIBE; events arrive on `sink`. Resolves with an error result or undefined. */
  subscribe(call: Record<string, unknown>, sink: EventSink, streamId: string): Promise<{ status: number; body?: unknown } | undefined>;
  call(call: Record<string, unknown>, streamId: string): Promise<{ status: number; body?: unknown }>;
}

/** An in-process event sink: hands each event to `deliver` (which must not throw). */
export class CallbackSink implements EventSink {
  private isClosed = false;
  private readonly closeFns: (() => void)[] = [];
  constructor(private readonly deliver: (event: unknown) => void) {}
  get closed(): boolean {
    return this.isClosed;
  }
  send(event: unknown): boolean {
    if (this.isClosed) return false;
    this.deliver(event);
    return true;
  }
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const fn of this.closeFns.splice(0)) fn();
  }
  onClose(fn: () => void): void {
    if (this.isClosed) fn();
    else this.closeFns.push(fn);
  }
}
