import type { Range, Resource } from '../../model/mesos.js';
import { addRanges, coalesce, formatRanges, parseRanges, rangesContain, subtractRanges } from './ranges.js';

/**
 * Resource arithmetic over the wire form (`Resource[]`). A normalized list has at most one entry
 * per kind of resource (see `keyOf`: name, type, reservation role, allocation role, ...), no empty entries, coalesced ranges and sorted set items.
 * Scalars are rounded to three decimals as Mesos does, so sums of 0.1 stay exact.
 */

const EPSILON = 0.0005;

export const roundScalar = (v: number): number => Math.round(v * 1000) / 1000;

/** The role a resource is reserved for, or "*" when unreserved. */
export function reservationRole(r: Resource): string {
  const stack = r.reservations;
  if (stack && stack.length > 0) return stack[stack.length - 1]?.role ?? '*';
  return r.role ?? '*';
}

/**
 * Entries merge only when they are the same kind of resource: same name, type and reservation
 * role, and (as in Mesos' `Resources::addable`) the same allocation role, revocability, sharedness
 * and disk info. Merging cpus allocated to role "a" with cpus allocated to "b", or two persistent
 * volumes, would lose which is which.
 */
function keyOf(r: Resource): string {
  let k = `${r.name}\u0000${r.type}\u0000${reservationRole(r)}\u0000${r.allocation_info?.role ?? ''}`;
  if (r.revocable) k += '\u0000revocable';
  if (r.shared) k += '\u0000shared';
  if (r.disk !== undefined && r.disk !== null) k += `\u0000${JSON.stringify(r.disk)}`;
  return k;
}

function cloneEntry(r: Resource): Resource {
  const c: Resource = { name: r.name, type: r.type };
  if (r.scalar) c.scalar = { value: r.scalar.value };
  if (r.ranges) c.ranges = { range: r.ranges.range.map((x) => ({ begin: x.begin, end: x.end })) };
  if (r.set) c.set = { item: [...r.set.item] };
  if (r.role !== undefined) c.role = r.role;
  if (r.reservations) c.reservations = r.reservations.map((x) => ({ ...x }));
  if (r.allocation_info) c.allocation_info = { role: r.allocation_info.role };
  // Disk info (persistent volumes, mount sources) is opaque here: copied by value so that a
  // normalized list never shares it with its input.
  if (r.disk !== undefined && r.disk !== null) c.disk = JSON.parse(JSON.stringify(r.disk)) as unknown;
  if (r.revocable) c.revocable = {};
  if (r.shared) c.shared = {};
  return c;
}

function isEmptyEntry(r: Resource): boolean {
  switch (r.type) {
    case 'SCALAR':
      return !r.scalar || r.scalar.value < EPSILON;
    case 'RANGES':
      return !r.ranges || r.ranges.range.length === 0;
    case 'SET':
      return !r.set || r.set.item.length === 0;
    default:
      return true;
  }
}

function mergeInto(target: Resource, r: Resource): void {
  if (r.type === 'SCALAR') target.scalar = { value: roundScalar((target.scalar?.value ?? 0) + roundScalar(r.scalar?.value ?? 0)) };
  else if (r.type === 'RANGES') target.ranges = { range: addRanges(target.ranges?.range ?? [], r.ranges?.range ?? []) };
  else if (r.type === 'SET') target.set = { item: [...new Set([...(target.set?.item ?? []), ...(r.set?.item ?? [])])].sort() };
}

export function normalize(rs: readonly Resource[]): Resource[] {
  const byKey = new Map<string, Resource>();
  for (const r of rs) {
    const k = keyOf(r);
    const cur = byKey.get(k);
    if (cur) mergeInto(cur, r);
    else {
      const c = cloneEntry(r);
      if (c.type === 'RANGES') c.ranges = { range: coalesce(c.ranges?.range ?? []) };
      if (c.type === 'SET') c.set = { item: [...new Set(c.set?.item ?? [])].sort() };
      if (c.type === 'SCALAR') c.scalar = { value: roundScalar(c.scalar?.value ?? 0) };
      byKey.set(k, c);
    }
  }
  return [...byKey.values()].filter((r) => !isEmptyEntry(r));
}

export function add(a: readonly Resource[], b: readonly Resource[]): Resource[] {
  return normalize([...a, ...b]);
}

/** a minus b, clamped at zero: callers check `contains` first when the difference must be exact. */
export function subtract(a: readonly Resource[], b: readonly Resource[]): Resource[] {
  const out = normalize(a);
  const byKey = new Map(out.map((r) => [keyOf(r), r] as const));
  for (const r of normalize(b)) {
    const cur = byKey.get(keyOf(r));
    if (!cur) continue;
    if (r.type === 'SCALAR') cur.scalar = { value: Math.max(0, roundScalar((cur.scalar?.value ?? 0) - (r.scalar?.value ?? 0))) };
    else if (r.type === 'RANGES') cur.ranges = { range: subtractRanges(cur.ranges?.range ?? [], r.ranges?.range ?? []) };
    else if (r.type === 'SET') {
      const drop = new Set(r.set?.item ?? []);
      cur.set = { item: (cur.set?.item ?? []).filter((x) => !drop.has(x)) };
    }
  }
  return out.filter((r) => !isEmptyEntry(r));
}

/** True when a holds all of b (same names, types and reservation roles). */
export function contains(a: readonly Resource[], b: readonly Resource[]): boolean {
  const byKey = new Map(normalize(a).map((r) => [keyOf(r), r] as const));
  for (const r of normalize(b)) {
    const cur = byKey.get(keyOf(r));
    if (!cur) return false;
    if (r.type === 'SCALAR' && (cur.scalar?.value ?? 0) + EPSILON < (r.scalar?.value ?? 0)) return false;
    if (r.type === 'RANGES' && !rangesContain(cur.ranges?.range ?? [], r.ranges?.range ?? [])) return false;
    if (r.type === 'SET') {
      const have = new Set(cur.set?.item ?? []);
      if (!(r.set?.item ?? []).every((x) => have.has(x))) return false;
    }
  }
  return true;
}

export function isEmpty(rs: readonly Resource[]): boolean {
  return normalize(rs).length === 0;
}

/** Sum of a scalar across reservation roles. */
export function scalarOf(rs: readonly Resource[], name: string): number {
  let v = 0;
  for (const r of rs) if (r.name === name && r.type === 'SCALAR') v += r.scalar?.value ?? 0;
  return roundScalar(v);
}

export function rangesOf(rs: readonly Resource[], name: string): Range[] {
  const all: Range[] = [];
  for (const r of rs) if (r.name === name && r.type === 'RANGES') all.push(...(r.ranges?.range ?? []));
  return coalesce(all);
}

/** Only the entries reserved for `role` or unreserved ("*"), i.e. what a framework in that role may use. */
export function usableBy(rs: readonly Resource[], role: string): Resource[] {
  return rs.filter((r) => {
    const rr = reservationRole(r);
    return rr === '*' || rr === role;
  });
}

/** Stamps allocation_info.role on every entry (what Mesos does for offers and tasks). */
export function allocatedTo(rs: readonly Resource[], role: string): Resource[] {
  return rs.map((r) => ({ ...cloneEntry(r), allocation_info: { role } }));
}

/** Removes allocation_info, so allocated resources compare with the agent's totals. */
export function unallocated(rs: readonly Resource[]): Resource[] {
  return rs.map((r) => {
    const c = cloneEntry(r);
    delete c.allocation_info;
    return c;
  });
}

/** The legacy flat form: {cpus, gpus, mem, disk, ports: "[a-b]"}; cpus/gpus/mem/disk always present. */
export function toLegacy(rs: readonly Resource[]): Record<string, number | string> {
  // One pass that sums by name (what normalize would give once reservations, allocation and disk
  // info are stripped), without cloning entries or merging ranges pairwise: a framework's used
  // resources are the sum over all its tasks, 400,000 entries at 100,000 tasks.
  const out: Record<string, number | string> = { cpus: 0, gpus: 0, mem: 0, disk: 0 };
  const scalars = new Map<string, number>();
  const rangeLists = new Map<string, Range[]>();
  const sets = new Map<string, Set<string>>();
  for (const r of rs) {
    const name = r.revocable ? `${r.name}_revocable` : r.name;
    if (r.type === 'SCALAR') scalars.set(name, (scalars.get(name) ?? 0) + roundScalar(r.scalar?.value ?? 0));
    else if (r.type === 'RANGES') {
      const list = rangeLists.get(name);
      if (list) for (const x of r.ranges?.range ?? []) list.push(x);
      else rangeLists.set(name, [...(r.ranges?.range ?? [])]);
    } else if (r.type === 'SET') {
      const set = sets.get(name) ?? new Set<string>();
      for (const item of r.set?.item ?? []) set.add(item);
      sets.set(name, set);
    }
  }
  for (const [name, v] of scalars) {
    const value = roundScalar(v);
    if (value >= EPSILON) out[name] = value;
  }
  for (const [name, list] of rangeLists) {
    const merged = coalesce(list);
    if (merged.length > 0) out[name] = formatRanges(merged);
  }
  for (const [name, set] of sets) if (set.size > 0) out[name] = `{${[...set].sort().join(', ')}}`;
  return out;
}

export function scalar(name: string, value: number, role?: string): Resource {
  const r: Resource = { name, type: 'SCALAR', scalar: { value: roundScalar(value) } };
  if (role && role !== '*') r.reservations = [{ type: 'STATIC', role }];
  return r;
}

export function ranges(name: string, rs: Range[], role?: string): Resource {
  const r: Resource = { name, type: 'RANGES', ranges: { range: coalesce(rs) } };
  if (role && role !== '*') r.reservations = [{ type: 'STATIC', role }];
  return r;
}

/**
 * Parses the agent's --resources flag: `cpus:4;mem:2048;disk(role):100;ports:[31000-32000];gpus:0`
 * or a JSON array of Resource objects. Returns an error string for malformed input.
 */
export function parseResources(text: string): Resource[] | string {
  const t = text.trim();
  if (t.startsWith('[')) {
    try {
      const parsed = JSON.parse(t) as Resource[];
      if (!Array.isArray(parsed)) return 'resources JSON must be an array';
      return normalize(parsed);
    } catch (e) {
      return `resources JSON does not parse: ${(e as Error).message}`;
    }
  }
  const out: Resource[] = [];
  for (const part of t.split(';')) {
    if (part.trim() === '') continue;
    const m = /^\s*([a-zA-Z_][\w.-]*)(?:\(([^)]*)\))?\s*:\s*(.+?)\s*$/.exec(part);
    if (!m) return `cannot parse resource '${part}': expected name[(role)]:value`;
    const [, name, role, value] = m as unknown as [string, string, string | undefined, string];
    if (value.startsWith('[')) {
      const rs = parseRanges(value);
      if (!rs) return `cannot parse ranges '${value}' of resource '${name}'`;
      out.push(ranges(name, rs, role));
    } else if (value.startsWith('{')) {
      const items = value
        .slice(1, -1)
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);
      const r: Resource = { name, type: 'SET', set: { item: items } };
      if (role && role !== '*') r.reservations = [{ type: 'STATIC', role }];
      out.push(r);
    } else {
      const v = Number(value);
      if (!Number.isFinite(v) || v < 0) return `resource '${name}' needs a non-negative number, got '${value}'`;
      out.push(scalar(name, v, role));
    }
  }
  return normalize(out);
}

/** Validates a Resource list from a client. Returns an error message or undefined. */
export function validateResources(rs: unknown): string | undefined {
  if (!Array.isArray(rs)) return 'resources must be an array';
  for (const r of rs as Resource[]) {
    if (!r || typeof r !== 'object') return 'each resource must be an object';
    if (typeof r.name !== 'string' || r.name === '') return 'resource is missing a name';
    if (r.type === 'SCALAR') {
      const v = r.scalar?.value;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) return `resource '${r.name}' has an invalid scalar value`;
    } else if (r.type === 'RANGES') {
      if (!Array.isArray(r.ranges?.range)) return `resource '${r.name}' has no ranges`;
      for (const x of r.ranges.range)
        if (typeof x?.begin !== 'number' || typeof x?.end !== 'number' || x.end < x.begin) return `resource '${r.name}' has an invalid range`;
    } else if (r.type === 'SET') {
      if (!Array.isArray(r.set?.item)) return `resource '${r.name}' has no set items`;
    } else return `resource '${r.name}' has an unknown type '${String(r.type)}'`;
  }
  return undefined;
}
