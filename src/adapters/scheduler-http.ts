import { Agent as HttpAgent, type ClientRequest, request } from 'node:http';
import { RecordIODecoder } from '../base/recordio.js';
import type { EventSink } from '../ports/sink.js';
import { parseMasterUrl, readReply } from './master-http.js';

export { parseMasterUrl };

export interface HttpSchedulerOptions {
  /** The master, `http://host:port` or `host:port`. */
  master: string;
  /** A call (not SUBSCRIBE) that gets no reply in this time fails with 503. */
  callTimeoutMs?: number;
  /** Time to get the SUBSCRIBE answer's headers. */
  connectTimeoutMs?: number;
  /**
   * The stream is dropped when nothing arrives for this many heartbeat intervals (the interval
   * comes in SUBSCRIBED; Mesos schedulers conventionally allow a few missed heartbeats).
   */
  missedHeartbeats?: number;
  /** Largest event or reply accepted. */
  maxRecordBytes?: number;
}

const PATH = '/api/v1/scheduler';

/**
 * A scheduler's side of the Mesos v1 scheduler HTTP API: SUBSCRIBE opens a long-lived POST whose
 * answer is a RecordIO stream of JSON events and carries the `Mesos-Stream-Id` header; every
 * later call is its own POST with that header. The stream id Marathon generates for the
 * in-process transport is ignored here: over HTTP the master assigns it.
 *
 * It has the shape of Marathon's SchedulerTransport (adapters do not import services).
 * Reconnection is the caller's: when the stream ends (master gone, idle past the heartbeats,
 * a framing error) the sink is closed, and Marathon subscribes again with its framework id.
 */
export class HttpSchedulerTransport {
  private readonly host: string;
  private readonly port: number;
  private readonly pool = new HttpAgent({ keepAlive: true, maxSockets: 16 });
  private readonly callTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly missedHeartbeats: number;
  private readonly maxRecordBytes: number;
  private streamId: string | undefined;
  private stream: ClientRequest | undefined;

  constructor(options: HttpSchedulerOptions) {
    const { host, port } = parseMasterUrl(options.master);
    this.host = host;
    this.port = port;
    this.callTimeoutMs = options.callTimeoutMs ?? 10_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.missedHeartbeats = options.missedHeartbeats ?? 3;
    this.maxRecordBytes = options.maxRecordBytes ?? 64 * 1024 * 1024;
  }

  /** `http://host:port` of the master. */
  get url(): string {
    return `http://${this.host}:${this.port}`;
  }

  /** The stream id the master assigned to the current subscription (undefined when none). */
  get currentStreamId(): string | undefined {
    return this.streamId;
  }

  subscribe(call: Record<string, unknown>, sink: EventSink): Promise<{ status: number; body?: unknown } | undefined> {
    this.stream?.destroy();
    this.stream = undefined;
    this.streamId = undefined;
    const body = JSON.stringify(call);
    return new Promise((resolve) => {
      let opened = false;
      let settled = false;
      const settle = (v: { status: number; body?: unknown } | undefined): void => {
        if (settled) return;
        settled = true;
        resolve(v);
      };
      const req = request({
        host: this.host,
        port: this.port,
        method: 'POST',
        path: PATH,
        agent: false,
        headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'Content-Length': Buffer.byteLength(body) },
      });
      const end = (): void => {
        if (this.stream === req) {
          this.stream = undefined;
          this.streamId = undefined;
        }
        if (opened) sink.close();
      };
      req.on('response', (res) => {
        if (res.statusCode !== 200) {
          readReply(res, this.maxRecordBytes, 'labelled').then(settle, (e: Error) => settle({ status: 503, body: e.message }));
          return;
        }
        const streamId = res.headers['mesos-stream-id'];
        if (typeof streamId !== 'string' || streamId === '') {
          req.destroy();
          settle({ status: 502, body: 'the master answered SUBSCRIBE without a Mesos-Stream-Id header' });
          return;
        }
        opened = true;
        this.stream = req;
        this.streamId = streamId;
        sink.onClose(() => req.destroy());
        res.socket?.setKeepAlive(true, 10_000);
        // Until SUBSCRIBED says how often heartbeats come, allow a minute of silence.
        req.setTimeout(60_000, () => req.destroy(new Error('scheduler stream idle')));
        const decoder = new RecordIODecoder(this.maxRecordBytes);
        res.on('data', (chunk: Buffer) => {
          let records: string[];
          try {
            records = decoder.push(chunk);
          } catch {
            req.destroy();
            return;
          }
          for (const r of records) {
            if (sink.closed) return;
            let ev: { type?: string; subscribed?: { heartbeat_interval_seconds?: number } };
            try {
              ev = JSON.parse(r);
            } catch {
              continue; // a malformed record; the framing itself is intact
            }
            if (ev.type === 'SUBSCRIBED') {
              const hb = Number(ev.subscribed?.heartbeat_interval_seconds ?? 15);
              if (hb > 0) req.setTimeout(Math.round(hb * 1000 * this.missedHeartbeats), () => req.destroy(new Error('missed heartbeats')));
            }
            sink.send(ev);
          }
        });
        res.on('end', end);
        res.on('close', end);
        res.on('error', end);
        settle(undefined);
      });
      req.setTimeout(this.connectTimeoutMs, () => req.destroy(new Error(`master ${this.url} did not answer SUBSCRIBE within ${this.connectTimeoutMs} ms`)));
      req.on('error', (e) => {
        if (!opened) settle({ status: 503, body: `master ${this.url}: ${e.message}` });
        else end();
      });
      req.on('close', end);
      req.end(body);
    });
  }

  call(call: Record<string, unknown>): Promise<{ status: number; body?: unknown }> {
    const streamId = this.streamId;
    if (!streamId) return Promise.resolve({ status: 503, body: 'not subscribed' });
    const body = JSON.stringify(call);
    return new Promise((resolve) => {
      const req = request(
        {
          host: this.host,
          port: this.port,
          method: 'POST',
          path: PATH,
          agent: this.pool,
          headers: {
            'Content-Type': 'application/json',
            Accept: 'application/json',
            'Mesos-Stream-Id': streamId,
            'Content-Length': Buffer.byteLength(body),
          },
        },
        (res) => readReply(res, this.maxRecordBytes, 'labelled').then(resolve, (e: Error) => resolve({ status: 503, body: e.message })),
      );
      req.setTimeout(this.callTimeoutMs, () => req.destroy(new Error(`master ${this.url} did not answer within ${this.callTimeoutMs} ms`)));
      req.on('error', (e) => resolve({ status: 503, body: e.message }));
      req.end(body);
    });
  }

  /** Drops the stream and pooled connections. */
  close(): void {
    this.stream?.destroy();
    this.stream = undefined;
    this.pool.destroy();
  }
}
