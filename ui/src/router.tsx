import { type MouseEvent, type ReactNode, useEffect, useSyncExternalStore } from 'react';

/** A tiny history router: paths are real URLs, so the gateway falls back to index.html for them. */
const listeners = new Set<() => void>();
window.addEventListener('popstate', () => {
  for (const l of listeners) l();
});

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  if (to === location.pathname + location.search) return;
  if (opts.replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  for (const l of listeners) l();
}

export function usePath(): { path: string; query: URLSearchParams } {
  const href = useSyncExternalStore(
    (fn) => {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    () => location.pathname + location.search,
  );
  const u = new URL(href, 'http://x');
  return { path: u.pathname, query: u.searchParams };
}

export function Link(props: { to: string; children: ReactNode; className?: string; current?: boolean; label?: string }) {
  const onClick = (e: MouseEvent<HTMLAnchorElement>) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(props.to);
  };
  return (
    <a href={props.to} onClick={onClick} className={props.className} aria-current={props.current ? 'page' : undefined} aria-label={props.label}>
      {props.children}
    </a>
  );
}

/** Sets the document title and moves focus to the main heading on navigation (screen readers hear the new page). */
export function usePageTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · dcos-ts`;
    const h = document.querySelector<HTMLElement>('main h1');
    if (h && document.activeElement?.tagName !== 'INPUT' && document.activeElement?.tagName !== 'SELECT') h.focus({ preventScroll: true });
  }, [title]);
}
