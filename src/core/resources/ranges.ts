import type { Range } from '../../model/mesos.js';

/** Range lists are kept sorted by begin, non-overlapping and non-adjacent ("coalesced"). */
export function coalesce(ranges: readonly Range[]): Range[] {
  const sorted = ranges.filter((r) => r.end >= r.begin).sort((a, b) => a.begin - b.begin);
  const out: Range[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.begin <= last.end + 1) {
      if (r.end > last.end) last.end = r.end;
    } else out.push({ begin: r.begin, end: r.end });
  }
  return out;
}

export function addRanges(a: readonly Range[], b: readonly Range[]): Range[] {
  return coalesce([...a, ...b]);
}

/** a minus b; parts of b outside a are ignored. */
export function subtractRanges(a: readonly Range[], b: readonly Range[]): Range[] {
  let out = coalesce(a);
  for (const cut of coalesce(b)) {
    const next: Range[] = [];
    for (const r of out) {
      if (cut.end < r.begin || cut.begin > r.end) {
        next.push(r);
        continue;
      }
      if (cut.begin > r.begin) next.push({ begin: r.begin, end: cut.begin - 1 });
      if (cut.end < r.end) next.push({ begin: cut.end + 1, end: r.end });
    }
    out = next;
  }
  return out;
}

/** True when every value in b is in a. */
export function rangesContain(a: readonly Range[], b: readonly Range[]): boolean {
  const ca = coalesce(a);
  for (const r of coalesce(b)) {
    if (!ca.some((x) => x.begin <= r.begin && r.end <= x.end)) return false;
  }
  return true;
}

export function rangesSize(a: readonly Range[]): number {
  let n = 0;
  for (const r of a) n += r.end - r.begin + 1;
  return n;
}

/** "[31000-31005, 31010-31010]" as the legacy endpoints print ranges. */
export function formatRanges(a: readonly Range[]): string {
  return `[${a.map((r) => `${r.begin}-${r.end}`).join(', ')}]`;
}

/** Parses "[31000-32000, 33000-33010]" (brackets optional). */
export function parseRanges(text: string): Range[] | undefined {
  const body = text.trim().replace(/^\[/, '').replace(/\]$/, '').trim();
  if (body === '') return [];
  const out: Range[] = [];
  for (const part of body.split(',')) {
    const m = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(part);
    if (!m) return undefined;
    const begin = Number(m[1]);
    const end = Number(m[2]);
    if (end < begin) return undefined;
    out.push({ begin, end });
  }
  return coalesce(out);
}

/** Takes the first `count` values from a range list (lowest first), or undefined if too few. */
export function takeFromRanges(a: readonly Range[], count: number): Range[] | undefined {
  const out: Range[] = [];
  let left = count;
  for (const r of coalesce(a)) {
    if (left <= 0) break;
    const size = r.end - r.begin + 1;
    const n = Math.min(size, left);
    out.push({ begin: r.begin, end: r.begin + n - 1 });
    left -= n;
  }
  return left > 0 ? undefined : out;
}
