/** A change between two JSON values, at a JSON path such as `/env/PORT` or `/portDefinitions/0/port`. */
export type Change =
  | { kind: 'added'; path: string; after: unknown }
  | { kind: 'removed'; path: string; before: unknown }
  | { kind: 'changed'; path: string; before: unknown; after: unknown };

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const esc = (k: string): string => k.replace(/~/g, '~0').replace(/\//g, '~1');

/** Fields every version differs in, left out of a version diff by default. */
export const VERSION_NOISE = ['/version', '/versionInfo'];

/**
 * The changes from `a` to `b`, in document order, descending into objects and arrays (arrays by
 * index; a longer or shorter array shows its tail as added or removed). Paths under any of
 * `ignore` are skipped. Pure: the versions tab renders what this returns.
 */
export function diffJson(a: unknown, b: unknown, ignore: readonly string[] = [], path = ''): Change[] {
  if (ignore.some((p) => path === p || path.startsWith(`${p}/`))) return [];
  if (isObj(a) && isObj(b)) {
    const out: Change[] = [];
    const keys = [...Object.keys(a), ...Object.keys(b).filter((k) => !(k in a))];
    for (const k of keys) {
      const p = `${path}/${esc(k)}`;
      if (ignore.some((x) => p === x || p.startsWith(`${x}/`))) continue;
      if (!(k in b)) out.push({ kind: 'removed', path: p, before: a[k] });
      else if (!(k in a)) out.push({ kind: 'added', path: p, after: b[k] });
      else out.push(...diffJson(a[k], b[k], ignore, p));
    }
    return out;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const out: Change[] = [];
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const p = `${path}/${i}`;
      if (i >= b.length) out.push({ kind: 'removed', path: p, before: a[i] });
      else if (i >= a.length) out.push({ kind: 'added', path: p, after: b[i] });
      else out.push(...diffJson(a[i], b[i], ignore, p));
    }
    return out;
  }
  if (a === b || (Number.isNaN(a) && Number.isNaN(b))) return [];
  return [{ kind: 'changed', path: path || '/', before: a, after: b }];
}

/** A value as one short line for the diff table. */
export function showValue(v: unknown): string {
  if (v === undefined) return '—';
  const s = JSON.stringify(v);
  return s.length > 200 ? `${s.slice(0, 199)}…` : s;
}
