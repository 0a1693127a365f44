/**
 * Marathon groups as stored objects: a group is a path with its own settings (dependencies,
 * enforceRole) and a version, the time its subtree last changed. Every change of the tree is
 * recorded as a snapshot (the groups and, per app, the app version current then), newest last;
 * a group's versions are the distinct versions it had across the snapshots kept.
 */
import { parentPath } from './path.js';

export interface GroupMeta {
  id: string;
  dependencies: string[];
  enforceRole: boolean;
  /** When the group or something below it last changed (ISO time). */
  version: string;
}

export interface GroupSnapshot {
  /** The root group's version: the time of the change. */
  version: string;
  groups: GroupMeta[];
  apps: { id: string; version: string }[];
}

/** Whether `id` is `group` or below it (`/` holds everything). */
export function isWithin(id: string, group: string): boolean {
  return group === '/' || id === group || id.startsWith(`${group}/`);
}

/** Whether `id` is strictly below `group`. */
export function isBelow(id: string, group: string): boolean {
  return id !== group && isWithin(id, group);
}

/** `/a/b/c` → [`/a/b`, `/a`, `/`]. */
export function ancestorsOf(id: string): string[] {
  const out: string[] = [];
  if (id === '/') return out;
  for (let g = parentPath(id); ; g = parentPath(g)) {
    out.push(g);
    if (g === '/') break;
  }
  return out;
}

/** The versions group `id` had in the snapshots (oldest first), newest first, without repeats. */
export function groupVersions(snapshots: readonly GroupSnapshot[], id: string): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (let i = snapshots.length - 1; i >= 0; i--) {
    const g = (snapshots[i] as GroupSnapshot).groups.find((x) => x.id === id);
    if (g && !seen.has(g.version)) {
      seen.add(g.version);
      out.push(g.version);
    }
  }
  return out;
}

/** The newest snapshot in which group `id` had `version`. */
export function snapshotOf(snapshots: readonly GroupSnapshot[], id: string, version: string): GroupSnapshot | undefined {
  for (let i = snapshots.length - 1; i >= 0; i--) {
    const s = snapshots[i] as GroupSnapshot;
    if (s.groups.some((g) => g.id === id && g.version === version)) return s;
  }
  return undefined;
}

/**
 * The kept snapshots, oldest first, at most `max`, with a count of references per app version
 * so that "is this app version still needed for a rollback" is a lookup, not a scan.
 */
export class GroupHistory {
  private readonly list: GroupSnapshot[] = [];
  private readonly refs = new Map<string, number>();

  constructor(private readonly max: number) {}

  get snapshots(): readonly GroupSnapshot[] {
    return this.list;
  }

  /** Whether a kept snapshot refers to this app version. */
  refersTo(appId: string, version: string): boolean {
    return this.refs.has(`${appId}@${version}`);
  }

  /**
   * Adds the newest snapshot (replacing one of the same version) and drops the oldest beyond
   * `max`. Returns the dropped snapshots and the app versions no kept snapshot refers to any more.
   */
  push(snap: GroupSnapshot): { dropped: GroupSnapshot[]; released: { id: string; version: string }[] } {
    const released: { id: string; version: string }[] = [];
    const dropped: GroupSnapshot[] = [];
    if (this.list.at(-1)?.version === snap.version) this.unref(this.list.pop() as GroupSnapshot, released);
    this.list.push(snap);
    for (const a of snap.apps) this.refs.set(`${a.id}@${a.version}`, (this.refs.get(`${a.id}@${a.version}`) ?? 0) + 1);
    while (this.list.length > this.max) {
      const old = this.list.shift() as GroupSnapshot;
      dropped.push(old);
      this.unref(old, released);
    }
    return { dropped, released: released.filter((a) => !this.refersTo(a.id, a.version)) };
  }

  private unref(s: GroupSnapshot, released: { id: string; version: string }[]): void {
    for (const a of s.apps) {
      const k = `${a.id}@${a.version}`;
      const n = (this.refs.get(k) ?? 0) - 1;
      if (n > 0) this.refs.set(k, n);
      else {
        this.refs.delete(k);
        released.push(a);
      }
    }
  }
}
