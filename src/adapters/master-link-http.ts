import { Agent as HttpAgent, type ClientRequest, request } from 'node:http';
import { RecordIODecoder } from '../base/recordio.js';
import type { AgentCall, AgentCommand } from '../model/agent-protocol.js';
import type { CommandStream, MasterLink, MasterLinkReply } from '../ports/master-link.js';
import { parseMasterUrl, readReply } from './master-http.js';

export interface HttpMasterLinkOptions {
  /** `host:port` (an `http://` prefix is accepted). */
  master: string;
  /** Per-call timeout: a call that gets no reply in this time rejects. */
  callTimeoutMs?: number;
  /** The stream is dropped when nothing (not even a master PING) arrives for this long. */
  streamIdleTimeoutMs?: number;
  /** Largest reply body accepted from the master. */
  maxReplyBytes?: number;
}

const CALL_PATH = '/master/internal/agent';
const STREAM_PATH = '/master/internal/agent/stream';

/**
 * The agent's HTTP link to the master: calls over a keep-alive connection pool, the command
 * stream on its own long-lived connection decoded as RecordIO.
 */
export class HttpMasterLink implements MasterLink {
  private readonly host: string;
  private readonly port: number;
  private readonly pool = new HttpAgent({ keepAlive: true, maxSockets: 8 });
  private readonly streams = new Set<ClientRequest>();
  private readonly callTimeoutMs: number;
  private readonly streamIdleTimeoutMs: number;
  private readonly maxReplyBytes: number;

  constructor(options: HttpMasterLinkOptions) {
    const { host, port } = parseMasterUrl(options.master);
    this.host = host;
    this.port = port;
    this.callTimeoutMs = options.callTimeoutMs ?? 10_000;
    this.streamIdleTimeoutMs = options.streamIdleTimeoutMs ?? 60_000;
    this.maxReplyBytes = options.maxReplyBytes ?? 16 * 1024 * 1024;
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  call(call: AgentCall): Promise<MasterLinkReply> {
    const body = JSON.stringify(call);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: this.host,
          port: this.port,
          method: 'POST',
          path: CALL_PATH,
          agent: this.pool,
          headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'Content-Length': Buffer.byteLength(body) },
        },
        (res) => {
          readReply(res, this.maxReplyBytes, 'any').then(resolve, reject);
        },
      );
      req.setTimeout(this.callTimeoutMs, () => req.destroy(new Error(`master ${this.address} did not answer within ${this.callTimeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  subscribe(agentId: string, onCommand: (command: AgentCommand) => void, onClose: () => void): Promise<CommandStream | MasterLinkReply> {
    const body = JSON.stringify({ type: 'SUBSCRIBE', agent_id: { value: agentId } });
    return new Promise((resolve, reject) => {
      let opened = false;
      let closed = false;
      const close = (): void => {
        if (closed) return;
        closed = true;
        this.streams.delete(req);
        if (opened) onClose();
      };
      const req = request(
        {
          host: this.host,
          port: this.port,
          method: 'POST',
          path: STREAM_PATH,
          agent: false,
          headers: { 'Content-Type': 'application/json', Accept: 'application/recordio', 'Content-Length': Buffer.byteLength(body) },
        },
        (res) => {
          if (res.statusCode !== 200) {
            readReply(res, this.maxReplyBytes, 'any').then(resolve, reject);
            return;
          }
          opened = true;
          req.setTimeout(this.streamIdleTimeoutMs, () => req.destroy(new Error('command stream idle')));
          res.socket?.setKeepAlive(true, 10_000);
          const decoder = new RecordIODecoder(this.maxReplyBytes);
          res.on('data', (chunk: Buffer) => {
            let records: string[];
            try {
              records = decoder.push(chunk);
            } catch {
              req.destroy();
              return;
            }
            for (const r of records) {
              if (closed) return;
              const command = parseCommand(r);
              if (command) onCommand(command);
            }
          });
          res.on('end', close);
          res.on('close', close);
          res.on('error', close);
          resolve({
            close: () => {
              req.destroy();
              close();
            },
          });
        },
      );
      this.streams.add(req);
      req.setTimeout(this.callTimeoutMs, () => req.destroy(new Error(`master ${this.address} did not open the stream within ${this.callTimeoutMs} ms`)));
      req.on('error', (e) => {
        if (!opened) {
          closed = true;
          this.streams.delete(req);
          reject(e);
        } else close();
      });
      req.on('close', close);
      req.end(body);
    });
  }

  /** Drops pooled connections and open streams. */
  close(): void {
    for (const s of this.streams) s.destroy();
    this.streams.clear();
    this.pool.destroy();
  }
}

function parseCommand(record: string): AgentCommand | undefined {
  try {
    const v = JSON.parse(record) as { type?: unknown; command?: AgentCommand };
    if (v && typeof v === 'object' && typeof v.type === 'string') return v as AgentCommand;
    if (v?.command && typeof v.command.type === 'string') return v.command;
  } catch {
    // a malformed record is skipped; the stream itself is still framed correctly
  }
  return undefined;
}
