import { GatewayLog, type Probe } from './logic/components.js';
import { type Explained, explainError } from './logic/errors.js';

/**
 * What the page's own requests through the gateway saw: the dashboard's gateway health. The page
 * itself (index.html and its script) came through the gateway, so it starts answered.
 */
export const gatewayLog = new GatewayLog();
gatewayLog.record(true, Date.now(), 'this page');

/** fetch, with its outcome recorded: any HTTP status means the gateway answered. */
export async function gatewayFetch(path: string, what: string, init?: RequestInit): Promise<Response> {
  try {
    const res = await fetch(path, init);
    gatewayLog.record(true, Date.now(), what);
    return res;
  } catch (e) {
    gatewayLog.record(false, Date.now(), what);
    throw e;
  }
}

/** A GET whose status (undefined: no answer) and short body are returned; never throws. */
export async function probe(path: string, what: string): Promise<Probe> {
  try {
    const res = await gatewayFetch(path, what);
    const text = (await res.text().catch(() => '')).slice(0, 500);
    return { status: res.status, text };
  } catch {
    return {};
  }
}

/** A failed call to the gateway, explained in words. */
export class ApiError extends Error {
  constructor(
    readonly status: number | undefined,
    readonly explained: Explained,
  ) {
    super(explained.title);
  }
}

async function fail(what: string, res: Response | undefined): Promise<never> {
  const body = res ? await res.text().catch(() => '') : '';
  throw new ApiError(res?.status, explainError(what, res?.status, body));
}

export async function getJson<T>(path: string, what: string, init: RequestInit = {}): Promise<T> {
  let res: Response;
  try {
    res = await gatewayFetch(path, what, { ...init, headers: { Accept: 'application/json', ...(init.headers ?? {}) } });
  } catch {
    return fail(what, undefined);
  }
  if (!res.ok) return fail(what, res);
  return (await res.json()) as T;
}

export function operatorCall<T>(type: string, what: string, extra: Record<string, unknown> = {}): Promise<T> {
  return getJson<T>('/mesos/api/v1', what, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ type, ...extra }),
  });
}

export const agentPath = (agentId: string, rest: string): string => `/agent/${encodeURIComponent(agentId)}/${rest}`;
