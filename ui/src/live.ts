import { useEffect, useState, useSyncExternalStore } from 'react';
import { ApiError, gatewayFetch } from './api.js';
import type { OperatorEvent } from '../../src/model/operator.js';
import { ClusterModel, History } from './logic/cluster.js';
import { explainError, type Explained } from './logic/errors.js';
import { readRecords } from './logic/recordio-stream.js';

export type LinkState = { kind: 'connecting' } | { kind: 'live'; sinceMs: number } | { kind: 'down'; error: Explained; retryInMs: number };

const SAMPLE_EVERY_MS = 5000;
const MAX_RETRY_MS = 15_000;
/** localStorage key of the plot samples (one origin is one cluster). */
const HISTORY_KEY = 'dcos-ts.dashboard.history';

/**
 * The one store of cluster state: the operator API SUBSCRIBE stream (one long POST, RecordIO)
 * gives the snapshot and then every change. Listeners are told at most once per animation frame,
 * so a burst of thousands of events costs one render.
 */
class Live {
  readonly model = new ClusterModel();
  readonly history = new History(720); // one hour at one sample per 5 s
  link: LinkState = { kind: 'connecting' };
  private readonly listeners = new Set<() => void>();
  private scheduled = false;
  private started = false;
  private snapshot = 0;
  private failures = 0;

  start(): void {
    if (this.started) return;
    this.started = true;
    try {
      this.history.restore(localStorage.getItem(HISTORY_KEY), Date.now());
    } catch {
      // storage disabled: the plots start empty
    }
    void this.loop();
    setInterval(() => {
      if (this.link.kind === 'live') this.sample();
    }, SAMPLE_EVERY_MS);
  }

  /** One allocation sample, kept for the plots and stored so that a reload keeps the last hour. */
  private sample(): void {
    this.history.add(Date.now(), this.model.summary());
    try {
      localStorage.setItem(HISTORY_KEY, this.history.serialize());
    } catch {
      // storage full or disabled: the plots still work for this page
    }
    this.notify();
  }

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  getVersion = (): number => this.snapshot;

  private notify(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const flush = () => {
      this.scheduled = false;
      this.snapshot++;
      for (const l of this.listeners) l();
    };
    if (typeof requestAnimationFrame === 'function' && document.visibilityState === 'visible') requestAnimationFrame(flush);
    else setTimeout(flush, 50);
  }

  private setLink(l: LinkState): void {
    this.link = l;
    this.notify();
  }

  private async loop(): Promise<void> {
    for (;;) {
      try {
        await this.once();
        this.failures = 0;
        throw new ApiError(undefined, { title: 'The event stream from the master ended.', hint: 'The master may have restarted; reconnecting.' });
      } catch (e) {
        this.failures++;
        const retryInMs = Math.min(MAX_RETRY_MS, 500 * 2 ** Math.min(this.failures, 5));
        const error = e instanceof ApiError ? e.explained : explainError('the event stream', undefined, String(e));
        this.setLink({ kind: 'down', error, retryInMs });
        await new Promise((r) => setTimeout(r, retryInMs));
        this.setLink({ kind: 'connecting' });
      }
    }
  }

  private async once(): Promise<void> {
    let res: Response;
    try {
      res = await gatewayFetch('/mesos/api/v1', 'the event stream', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ type: 'SUBSCRIBE' }),
      });
    } catch {
      throw new ApiError(undefined, explainError('the event stream', undefined, ''));
    }
    if (!res.ok || !res.body) throw new ApiError(res.status, explainError('the event stream', res.status, await res.text().catch(() => '')));
    for await (const ev of readRecords<OperatorEvent>(res.body)) {
      if (ev.type === 'SUBSCRIBED') {
        this.model.apply(ev);
        this.failures = 0;
        this.link = { kind: 'live', sinceMs: Date.now() };
        this.sample();
      } else if (this.model.apply(ev)) this.notify();
    }
  }
}

export const live = new Live();

/** Re-renders the caller when the cluster changes (at most once per frame). */
export function useLive(): Live {
  useSyncExternalStore(live.subscribe, live.getVersion);
  return live;
}

/** Loads something once per key change; `reload` every `everyMs` if given (for non-streamed data only). */
export function useFetch<T>(key: string, load: () => Promise<T>, everyMs?: number): { data?: T; error?: ApiError; loading: boolean } {
  const [state, setState] = useState<{ data?: T; error?: ApiError; loading: boolean }>({ loading: true });
  // biome-ignore lint/correctness/useExhaustiveDependencies: the key stands for load
  useEffect(() => {
    let stop = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = () => {
      load()
        .then(
          (data) => !stop && setState({ data, loading: false }),
          (error) =>
            !stop &&
            setState((s) => ({
              ...s,
              error: error instanceof ApiError ? error : new ApiError(undefined, explainError(key, undefined, String(error))),
              loading: false,
            })),
        )
        .finally(() => {
          if (!stop && everyMs) timer = setTimeout(run, everyMs);
        });
    };
    setState({ loading: true });
    run();
    return () => {
      stop = true;
      if (timer) clearTimeout(timer);
    };
  }, [key]);
  return state;
}
