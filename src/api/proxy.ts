import { type IncomingMessage, type ServerResponse, request } from 'node:http';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);

/**
 * Streams a request to an upstream HTTP server and the response back, chunk by chunk (event
 * streams pass through unbuffered). Answers 502 with a reason when the upstream cannot be reached.
 */
export function proxyHttp(req: IncomingMessage, res: ServerResponse, target: { host: string; port: number; path: string }): void {
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
  headers.host = `${target.host}:${target.port}`;
  headers['x-forwarded-for'] = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
  const upstream = request({ host: target.host, port: target.port, path: target.path, method: req.method, headers }, (up) => {
    const out: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
    res.writeHead(up.statusCode ?? 502, out);
    res.flushHeaders();
    up.on('data', (chunk: Buffer) => res.write(chunk));
    up.on('end', () => res.end());
    up.on('error', () => res.destroy());
  });
  upstream.on('error', (e) => {
    if (res.headersSent) return res.destroy();
    const body = JSON.stringify({ code: 502, message: `Upstream ${target.host}:${target.port} is not reachable: ${e.message}` });
    res.writeHead(502, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
  res.on('close', () => upstream.destroy());
  req.pipe(upstream);
}
