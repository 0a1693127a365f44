/**
 * A one-way stream of events to a subscriber (a framework's SUBSCRIBE connection, an operator
 * stream, an agent's command stream). HTTP adapters frame events as RecordIO; the in-process and
 * simulated adapters hand the objects over directly.
 */
export interface EventSink<E = unknown> {
  /** Queues an event. Returns false when the subscriber is too slow and was disconnected. */
  send(event: E): boolean;
  close(): void;
  readonly closed: boolean;
  /** Called once when the connection ends, from either side. */
  onClose(fn: () => void): void;
}
