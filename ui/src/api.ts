import { type Explained, explainError } from './logic/errors.js';

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
    res = await fetch(path, { ...init, headers: { Accept: 'application/json', ...(init.headers ?? {}) } });
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
