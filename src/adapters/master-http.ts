import type { IncomingMessage } from 'node:http';

/**
 * Pieces shared by the HTTP clients of the master (the agent's link and the scheduler
 * transport): reading a `--master` address and reading one bounded reply.
 */

/** `http://host:port`, `host:port` or `[v6]:port` (a trailing path is ignored) → host and port. */
export function parseMasterUrl(text: string): { host: string; port: number } {
  const t = text.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(t);
  if (!m || m[1] === '') throw new Error(`--master must be http://host:port or host:port, got '${text}'`);
  const port = Number(m[2]);
  if (!(port > 0 && port < 65536)) throw new Error(`--master has an invalid port: '${text}'`);
  return { host: m[1] as string, port };
}

export interface MasterReply {
  status: number;
  /** The parsed JSON, else the text; undefined when the body is empty. */
  body: unknown;
}

/**
 * Reads a whole reply of at most `maxBytes` (past that the response is destroyed and the promise
 * rejects). `json: 'labelled'` parses the body only when its Content-Type says JSON; `'any'` parses
 * any body that is valid JSON and keeps the text otherwise (a plain-text error).
 */
export function readReply(res: IncomingMessage, maxBytes: number, json: 'labelled' | 'any'): Promise<MasterReply> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) {
        res.destroy(new Error(`reply from the master exceeds ${maxBytes} bytes`));
        return;
      }
      chunks.push(c);
    });
    res.on('error', reject);
    res.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text === '' ? undefined : text;
      if (text !== '' && (json === 'any' || /json/.test(String(res.headers['content-type'] ?? '')))) {
        try {
          body = JSON.parse(text);
        } catch {
          // keep the text
        }
      }
      resolve({ status: res.statusCode ?? 0, body });
    });
  });
}
