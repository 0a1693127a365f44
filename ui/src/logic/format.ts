export function fmtNumber(n: number, digits = 1): string {
  if (!Number.isFinite(n)) return '—';
  return Number.isInteger(n) ? String(n) : n.toFixed(digits);
}

/** Mesos memory and disk are in MB (MiB). */
export function fmtMb(mb: number): string {
  if (!Number.isFinite(mb)) return '—';
  if (mb >= 1024 * 1024) return `${(mb / 1024 / 1024).toFixed(1)} TiB`;
  if (mb >= 1024) return `${(mb / 1024).toFixed(1)} GiB`;
  return `${fmtNumber(mb, 0)} MiB`;
}

export function fmtBytes(b: number): string {
  if (b >= 1024 * 1024) return `${(b / 1024 / 1024).toFixed(1)} MiB`;
  if (b >= 1024) return `${(b / 1024).toFixed(1)} KiB`;
  return `${b} B`;
}

export function pct(used: number, total: number): number {
  return total > 0 ? Math.min(100, Math.round((used / total) * 100)) : 0;
}

/** Mesos timestamps are seconds since the epoch (floating). */
export function fmtTime(seconds: number | undefined): string {
  if (seconds === undefined) return '—';
  const d = new Date(seconds * 1000);
  return d
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}
