import { useEffect, useState } from 'react';
import { ApiError, gatewayFetch, getJson } from './api.js';
import { type FieldError, type Json, readMarathonError } from './logic/app-form.js';
import { type Explained, explainError } from './logic/errors.js';
import type { MarathonApp, MarathonInfo, QueueEntry } from '../../src/model/marathon-api.js';
import { queueByApp } from './logic/services.js';
import type { MarathonQueueLike } from './logic/status.js';

export type MarathonState =
  | { kind: 'probing' }
  | { kind: 'absent'; reason: string }
  | { kind: 'present'; apps: MarathonApp[]; queue: Map<string, MarathonQueueLike> }
  | { kind: 'error'; error: ApiError };

const APPS = '/service/marathon/v2/apps?embed=apps.counts&embed=apps.deployments';
const PROBE_AGAIN_MS = 60_000;
const WAITING_POLL_MS = 5_000;

const EVENTS = [
  'status_update_event',
  'deployment_success',
  'deployment_failed',
  'deployment_info',
  'deployment_step_success',
  'api_post_event',
  'app_terminated_event',
  'instance_changed_event',
];

/**
 * One EventSource on Marathon's SSE bus (/v2/events) shared by every screen that listens. Each
 * listener is told at most once per 300 ms however many events arrive (it refetches then).
 */
const busListeners = new Set<() => void>();
let bus: EventSource | undefined;
let busPending = false;

function onBusEvent(): void {
  if (busPending) return;
  busPending = true;
  setTimeout(() => {
    busPending = false;
    for (const l of busListeners) l();
  }, 300);
}

export function onMarathonEvent(fn: () => void): () => void {
  busListeners.add(fn);
  if (!bus) {
    bus = new EventSource('/service/marathon/v2/events');
    for (const t of EVENTS) bus.addEventListener(t, onBusEvent);
  }
  return () => {
    busListeners.delete(fn);
    if (busListeners.size === 0) {
      bus?.close();
      bus = undefined;
    }
  };
}

/**
 * Marathon's apps, kept current by its SSE bus: any event triggers one refetch (coalesced).
 * When Marathon does not answer (not installed yet) the screens fall back to the master's
 * frameworks and this probes again once a minute.
 */
export function useMarathon(): MarathonState {
  const [state, setState] = useState<MarathonState>({ kind: 'probing' });
  useEffect(() => {
    let stop = false;
    let off: (() => void) | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async (): Promise<void> => {
      try {
        const [r, q] = await Promise.all([
          getJson<{ apps: MarathonApp[] }>(APPS, 'Marathon apps'),
          getJson<{ queue: QueueEntry[] }>('/service/marathon/v2/queue', 'the launch queue').catch(() => ({ queue: [] })),
        ]);
        if (stop) return;
        const apps = r.apps ?? [];
        setState({ kind: 'present', apps, queue: queueByApp(q.queue ?? []) });
        if (!off) off = onMarathonEvent(() => void load());
        // Offers declined while an app waits change no event: look again while anything deploys.
        if (timer) clearTimeout(timer);
        timer = apps.some((a) => (a.deployments?.length ?? 0) > 0) ? setTimeout(load, WAITING_POLL_MS) : undefined;
      } catch (e) {
        if (stop) return;
        const err = e instanceof ApiError ? e : new ApiError(undefined, { title: 'Marathon failed', hint: String(e) });
        if (err.status === 404 || err.status === 502 || err.status === 503) {
          setState({ kind: 'absent', reason: 'Marathon is not running on this cluster yet.' });
          off?.();
          off = undefined;
        } else setState({ kind: 'error', error: err });
        if (timer) clearTimeout(timer);
        timer = setTimeout(load, PROBE_AGAIN_MS);
      }
    };
    void load();
    return () => {
      stop = true;
      off?.();
      if (timer) clearTimeout(timer);
    };
  }, []);
  return state;
}

/**
 * Marathon's framework id (from /v2/info), so that a service's tasks are looked for among its
 * framework's only; undefined while unknown or when Marathon does not answer.
 */
let frameworkIdCache: string | undefined;
export function useMarathonFrameworkId(): string | undefined {
  const [id, setId] = useState(frameworkIdCache);
  useEffect(() => {
    if (frameworkIdCache) return;
    let stop = false;
    getJson<MarathonInfo>('/service/marathon/v2/info', 'Marathon info').then(
      (info) => {
        if (typeof info.frameworkId === 'string' && info.frameworkId) frameworkIdCache = info.frameworkId;
        if (!stop) setId(frameworkIdCache);
      },
      () => undefined, // absent or failing: tasks are matched by their id prefix only
    );
    return () => {
      stop = true;
    };
  }, []);
  return id;
}

/** Loads a Marathon resource and loads it again on every event of the bus (and every `everyMs` if given). */
export function useMarathonResource<T>(path: string, what: string, everyMs?: number): { data?: T; error?: ApiError; loading: boolean; reload: () => void } {
  const [state, setState] = useState<{ data?: T; error?: ApiError; loading: boolean }>({ loading: true });
  const [nonce, setNonce] = useState(0);
  // biome-ignore lint/correctness/useExhaustiveDependencies: nonce forces a reload
  useEffect(() => {
    let stop = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = () => {
      if (timer) clearTimeout(timer);
      getJson<T>(path, what).then(
        (data) => !stop && setState({ data, loading: false }),
        (e) =>
          !stop &&
          setState((s) => ({
            ...s,
            error: e instanceof ApiError ? e : new ApiError(undefined, { title: `Loading ${what} failed`, hint: String(e) }),
            loading: false,
          })),
      );
      if (everyMs) timer = setTimeout(load, everyMs);
    };
    setState({ loading: true });
    load();
    const off = onMarathonEvent(load);
    return () => {
      stop = true;
      off();
      if (timer) clearTimeout(timer);
    };
  }, [path, nonce]);
  return { ...state, reload: () => setNonce((n) => n + 1) };
}

export type SendResult<T> =
  | { ok: true; value: T }
  | { ok: false; status?: number; message: string; details: FieldError[]; deployments: string[]; explained: Explained };

/** A change sent to Marathon; failures come back with Marathon's message, field details and the deployments in the way (409). */
export async function marathonSend<T = Json>(method: string, path: string, body?: unknown, what = 'the service'): Promise<SendResult<T>> {
  let res: Response;
  try {
    res = await gatewayFetch(`/service/marathon${path}`, what, {
      method,
      headers: { Accept: 'application/json', ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch {
    return { ok: false, message: 'The cluster did not answer.', details: [], deployments: [], explained: explainError(what, undefined, '') };
  }
  const text = await res.text().catch(() => '');
  if (res.ok) {
    let value = {} as T;
    try {
      value = JSON.parse(text) as T;
    } catch {
      // 204 and empty bodies
    }
    return { ok: true, value };
  }
  const m = readMarathonError(text);
  return { ok: false, status: res.status, ...m, explained: explainError(what, res.status, m.message) };
}
