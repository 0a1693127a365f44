/**
 * Follows a master's operator event stream over HTTP (`POST /api/v1 {"type":"SUBSCRIBE"}`,
 * RecordIO of JSON): the SUBSCRIBED event's `get_state` is the snapshot, every later event is
 * applied on top. On a dropped stream (or heartbeats missing for three intervals) it reconnects
 * after a short wait and starts again from a fresh snapshot. This is how a node that is not the
 * master (an agent running the VIP data path) sees the cluster's tasks.
 */
import { type ClientRequest, request } from 'node:http';
import { RecordIODecoder } from '../../base/recordio.js';

export type OperatorEventJson = { type: string } & Record<string, any>;

export interface MasterEventsOptions {
  /** "host:port" or "http://host:port". */
  master: string;
  /** A fresh snapshot (first connect and every reconnect). */
  onSnapshot(getState: Record<string, any>): void;
  onEvent(event: OperatorEventJson): void;
  log: (level: string, msg: string) => void;
  /** Wait before reconnecting (default 1000 ms). */
  retryMs?: number;
}

export interface MasterEvents {
  /** Resolves on the first snapshot. */
  readonly ready: Promise<void>;
  readonly counters: { connects: number; events: number };
  stop(): void;
}

export function masterBaseUrl(master: string): URL {
  return new URL(/^https?:\/\//.test(master) ? master : `http://${master}`);
}

export function followMasterEvents(opts: MasterEventsOptions): MasterEvents {
  const base = masterBaseUrl(opts.master);
  const counters = { connects: 0, events: 0 };
  let stopped = false;
  let req: ClientRequest | undefined;
  let retry: NodeJS.Timeout | undefined;
  let watchdog: NodeJS.Timeout | undefined;
  let markReady: () => void = () => {};
  const ready = new Promise<void>((r) => {
    markReady = r;
  });

  const again = (why: string) => {
    if (watchdog) clearTimeout(watchdog);
    watchdog = undefined;
    if (stopped || retry) return;
    opts.log('warn', `master event stream from ${base.host}: ${why}; reconnecting`);
    retry = setTimeout(() => {
      retry = undefined;
      connect();
    }, opts.retryMs ?? 1_000);
  };

  const connect = () => {
    if (stopped) return;
    const body = JSON.stringify({ type: 'SUBSCRIBE' });
    const decoder = new RecordIODecoder();
    let hbMs = 15_000;
    let failed = false;
    // One reconnect per connection, however many of error/end/HTTP status report its end.
    const fail = (why: string) => {
      if (failed) return;
      failed = true;
      again(why);
    };
    const feed = () => {
      if (watchdog) clearTimeout(watchdog);
      watchdog = setTimeout(() => req?.destroy(new Error('no heartbeat')), hbMs * 3 + 5_000);
    };
    req = request(
      {
        host: base.hostname,
        port: base.port || 80,
        path: '/api/v1',
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'Content-Length': Buffer.byteLength(body) },
      },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          fail(`HTTP ${res.statusCode}`);
          return;
        }
        counters.connects++;
        feed();
        res.on('data', (chunk: Buffer) => {
          feed();
          let records: string[];
          try {
            records = decoder.push(chunk);
          } catch (e) {
            res.destroy(e as Error);
            return;
          }
          for (const r of records) {
            let ev: OperatorEventJson;
            try {
              ev = JSON.parse(r) as OperatorEventJson;
            } catch {
              continue;
            }
            if (ev.type === 'HEARTBEAT') continue;
            if (ev.type === 'SUBSCRIBED') {
              const s = ev.subscribed ?? {};
              if (typeof s.heartbeat_interval_seconds === 'number' && s.heartbeat_interval_seconds > 0) hbMs = s.heartbeat_interval_seconds * 1000;
              opts.onSnapshot(s.get_state ?? {});
              markReady();
              continue;
            }
            counters.events++;
            opts.onEvent(ev);
          }
        });
        res.on('error', (e) => fail(e.message));
        res.on('end', () => fail('stream ended'));
      },
    );
    req.on('error', (e) => fail(e.message));
    req.end(body);
  };

  connect();
  return {
    ready,
    counters,
    stop() {
      stopped = true;
      if (retry) clearTimeout(retry);
      if (watchdog) clearTimeout(watchdog);
      req?.destroy();
    },
  };
}
