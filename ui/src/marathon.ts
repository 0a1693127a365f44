import { useEffect, useState } from 'react';
import { ApiError, getJson } from './api.js';
import type { MarathonApp } from './logic/services.js';

export type MarathonState =
  | { kind: 'probing' }
  | { kind: 'absent'; reason: string }
  | { kind: 'present'; apps: MarathonApp[] }
  | { kind: 'error'; error: ApiError };

const APPS = '/service/marathon/v2/apps?embed=apps.counts&embed=apps.deployments';
const PROBE_AGAIN_MS = 60_000;

/**
 * Marathon's apps, kept current by its SSE bus (/v2/events) when it runs: any event triggers one
 * refetch (coalesced). When Marathon does not answer (not installed yet) the screens fall back to
 * the master's frameworks and this probes again once a minute.
 */
export function useMarathon(): MarathonState {
  const [state, setState] = useState<MarathonState>({ kind: 'probing' });
  useEffect(() => {
    let stop = false;
    let es: EventSource | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let pending = false;
    const load = async (): Promise<void> => {
      try {
        const r = await getJson<{ apps: MarathonApp[] }>(APPS, 'Marathon apps');
        if (stop) return;
        setState({ kind: 'present', apps: r.apps ?? [] });
        if (!es) {
          es = new EventSource('/service/marathon/v2/events');
          const refetch = () => {
            if (pending) return;
            pending = true;
            setTimeout(() => {
              pending = false;
              if (!stop) void load();
            }, 300);
          };
          for (const t of [
            'status_update_event',
            'deployment_success',
            'deployment_failed',
            'deployment_info',
            'api_post_event',
            'app_terminated_event',
            'instance_changed_event',
          ])
            es.addEventListener(t, refetch);
        }
      } catch (e) {
        if (stop) return;
        const err = e instanceof ApiError ? e : new ApiError(undefined, { title: 'Marathon failed', hint: String(e) });
        if (err.status === 404 || err.status === 502 || err.status === 503) {
          setState({ kind: 'absent', reason: 'Marathon is not running on this cluster yet.' });
          es?.close();
          es = undefined;
        } else setState({ kind: 'error', error: err });
        timer = setTimeout(load, PROBE_AGAIN_MS);
      }
    };
    void load();
    return () => {
      stop = true;
      es?.close();
      if (timer) clearTimeout(timer);
    };
  }, []);
  return state;
}
