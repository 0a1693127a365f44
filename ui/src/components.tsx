import { type ReactNode, useLayoutEffect, useRef, useState } from 'react';
import type { ApiError } from './api.js';
import type { Explained } from './logic/errors.js';
import { pct } from './logic/format.js';
import type { Shown } from './logic/status.js';
import { visibleWindow } from './logic/virtual.js';

export function Badge({ shown }: { shown: Shown }) {
  return <span className={`badge tone-${shown.tone}`}>{shown.label}</span>;
}

export function ErrorBox({ error, what }: { error: ApiError | Explained; what?: string }) {
  const ex = 'explained' in error ? error.explained : error;
  return (
    <div className="error" role="alert">
      <strong>{ex.title}</strong>
      <p>{ex.hint}</p>
      {what ? <p className="muted">{what}</p> : null}
    </div>
  );
}

export function Page({ title, children, actions }: { title: string; children: ReactNode; actions?: ReactNode }) {
  return (
    <>
      <header className="page-head">
        <h1 tabIndex={-1}>{title}</h1>
        {actions}
      </header>
      {children}
    </>
  );
}

export function Meter({ label, used, total, text }: { label: string; used: number; total: number; text: string }) {
  const p = pct(used, total);
  return (
    <div className="meter">
      <div className="meter-label">
        <span>{label}</span>
        <span>{text}</span>
      </div>
      <div
        className="meter-bar"
        role="meter"
        aria-label={`${label} allocated`}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={p}
        aria-valuetext={`${p}% (${text})`}
      >
        <div style={{ width: `${p}%` }} />
      </div>
    </div>
  );
}

/** A small line plot of a percentage over time; with `times`, x follows time (a reload's gap shows as a gap in time). */
export function Sparkline({ points, label, times }: { points: number[]; label: string; times?: number[] }) {
  const w = 240;
  const h = 48;
  if (points.length < 2) {
    return (
      <svg width={w} height={h} role="img" aria-label={`${label}: collecting samples`} className="spark">
        <line x1={0} y1={h - 1} x2={w} y2={h - 1} />
      </svg>
    );
  }
  const t0 = times?.[0] ?? 0;
  const span = (times?.[times.length - 1] ?? 0) - t0;
  const x = (i: number) => (times && span > 0 ? (((times[i] ?? t0) - t0) / span) * w : (i * w) / (points.length - 1));
  const d = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(i).toFixed(1)},${(h - 2 - (Math.min(100, p) / 100) * (h - 4)).toFixed(1)}`).join(' ');
  const last = points[points.length - 1] ?? 0;
  return (
    <svg
      width={w}
      height={h}
      viewBox={`0 0 ${w} ${h}`}
      role="img"
      aria-label={`${label}: ${Math.round(last)}% now, ${points.length} samples`}
      className="spark"
    >
      <path d={d} />
    </svg>
  );
}

export interface Column<T> {
  title: string;
  width: string;
  cell: (row: T) => ReactNode;
}

const ROW_PX = 36;

/**
 * A table that renders only the rows in view (plus a few each side), so 10,000 rows cost as
 * much as 40. Real table semantics for screen readers: aria-rowcount and aria-rowindex.
 */
export function VirtualTable<T>({
  rows,
  columns,
  rowKey,
  label,
  heightPx = 560,
}: {
  rows: readonly T[];
  columns: Column<T>[];
  rowKey: (r: T) => string;
  label: string;
  heightPx?: number;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(heightPx);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setViewport(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  const win = visibleWindow(scrollTop, viewport, ROW_PX, rows.length);
  const template = columns.map((c) => c.width).join(' ');
  return (
    <div className="vtable" role="table" aria-label={label} aria-rowcount={rows.length + 1}>
      <div role="rowgroup" className="vhead">
        <div role="row" aria-rowindex={1} className="vrow" style={{ gridTemplateColumns: template }}>
          {columns.map((c) => (
            <div role="columnheader" key={c.title}>
              {c.title}
            </div>
          ))}
        </div>
      </div>
      <div role="rowgroup" className="vbody" ref={ref} style={{ maxHeight: heightPx }} onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}>
        <div style={{ height: win.padTop }} aria-hidden="true" />
        {rows.slice(win.start, win.end).map((r, i) => (
          <div role="row" aria-rowindex={win.start + i + 2} key={rowKey(r)} className="vrow" style={{ gridTemplateColumns: template, height: ROW_PX }}>
            {columns.map((c) => (
              <div role="cell" key={c.title}>
                {c.cell(r)}
              </div>
            ))}
          </div>
        ))}
        <div style={{ height: win.padBottom }} aria-hidden="true" />
        {rows.length === 0 ? <p className="empty">Nothing to show.</p> : null}
      </div>
    </div>
  );
}
