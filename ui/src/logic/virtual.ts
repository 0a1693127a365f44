/** The rows a virtualised list renders: a window around the viewport, plus `overscan` each side. */
export interface Window {
  start: number;
  end: number;
  padTop: number;
  padBottom: number;
}

export function visibleWindow(scrollTop: number, viewportPx: number, rowPx: number, count: number, overscan = 8): Window {
  if (count <= 0 || rowPx <= 0) return { start: 0, end: 0, padTop: 0, padBottom: 0 };
  const first = Math.max(0, Math.floor(scrollTop / rowPx));
  const shown = Math.ceil(Math.max(viewportPx, rowPx) / rowPx) + 1;
  const start = Math.max(0, Math.min(count - 1, first - overscan));
  const end = Math.min(count, first + shown + overscan);
  return { start, end, padTop: start * rowPx, padBottom: (count - end) * rowPx };
}
