import { clusterUrl } from './config.js';
import { CliError } from './output.js';

/** HTTP to the cluster gateway, with errors that say what to do next. */
export class ClusterClient {
  constructor(readonly baseUrl: string = clusterUrl()) {}

  async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    const url = `${this.baseUrl}${path}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: body === undefined ? headers : { 'Content-Type': 'application/json', ...headers },
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
      throw new CliError(
        `Cannot reach the cluster at ${this.baseUrl} (${cause}).`,
        "Is it running? Start a local one with 'dcos up', or check 'dcos cluster list'.",
      );
    }
    return res;
  }

  async getJson<T = any>(path: string): Promise<T> {
    const res = await this.request('GET', path);
    if (!res.ok) throw await httpError(res, `GET ${path}`);
    return (await res.json()) as T;
  }

  async operator<T = any>(call: Record<string, unknown>): Promise<T> {
    const res = await this.request('POST', '/mesos/api/v1', call);
    if (!res.ok) throw await httpError(res, String(call.type));
    const text = await res.text();
    return (text ? JSON.parse(text) : {}) as T;
  }
}

export async function httpError(res: Response, what: string): Promise<CliError> {
  let text = await res.text();
  try {
    const j = JSON.parse(text) as { message?: string };
    if (j.message) text = j.message;
  } catch {}
  return new CliError(`${what} failed: ${res.status} ${text.trim() || res.statusText}`);
}
