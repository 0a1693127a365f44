import { request } from 'node:http';
import { RecordIODecoder } from '../../src/base/recordio.js';

export interface StreamHandle {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Waits for the next event matching pred (events before it are consumed). */
  next(pred?: (e: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  events: Record<string, unknown>[];
  /** Raw chunks as received, for framing checks. */
  chunks: string[];
  close(): void;
  closed: Promise<void>;
}

/** Opens a RecordIO stream with a POST (SUBSCRIBE) and decodes events as they arrive. */
export function openStream(url: string, body: unknown, headers: Record<string, string> = {}): Promise<StreamHandle> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method: 'POST', headers: { 'Content-Type': 'application/json', ...headers } },
      (res) => {
        const dec = new RecordIODecoder();
        const events: Record<string, unknown>[] = [];
        const chunks: string[] = [];
        let waiters: (() => void)[] = [];
        let cursor = 0;
        let closedResolve: () => void = () => {};
        const closed = new Promise<void>((r) => {
          closedResolve = r;
        });
        let errorText = '';
        res.on('data', (c: Buffer) => {
          chunks.push(c.toString('utf8'));
          if ((res.statusCode ?? 0) >= 300) {
            errorText += c.toString('utf8');
            return;
          }
          for (const r of dec.push(c)) events.push(JSON.parse(r));
          const w = waiters;
          waiters = [];
          for (const f of w) f();
        });
        res.on('close', () => {
          closedResolve();
          const w = waiters;
          waiters = [];
          for (const f of w) f();
        });
        const handle: StreamHandle = {
          status: res.statusCode ?? 0,
          headers: res.headers,
          events,
          chunks,
          closed,
          close: () => req.destroy(),
          next(pred = () => true, timeoutMs = 10_000) {
            return new Promise((res2, rej2) => {
              let done = false;
              const check = () => {
                if (done) return;
                while (cursor < events.length) {
                  const e = events[cursor++] as Record<string, unknown>;
                  if (pred(e)) {
                    done = true;
                    clearTimeout(deadline);
                    res2(e);
                    return;
                  }
                }
                waiters.push(check);
              };
              // On timeout the waiter is retired, so it cannot swallow a later event.
              const deadline = setTimeout(() => {
                done = true;
                rej2(new Error(`timed out waiting for an event; got ${JSON.stringify(events.slice(cursor).map((e) => e.type))}`));
              }, timeoutMs);
              check();
            });
          },
        };
        Object.defineProperty(handle, 'errorText', { get: () => errorText });
        resolve(handle);
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; text: string; json: () => unknown }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) };
}

export async function getJson(url: string): Promise<any> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  return res.json();
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000, stepMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
