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

/** `app@version` keys of every app version some snapshot refers to (kept for rollbacks). */
export function referencedAppVersions(snapshots: readonly GroupSnapshot[]): Set<string> {
  const out = new Set<string>();
  for (const s of snapshots) for (const a of s.apps) out.add(`${a.id}@${a.version}`);
  return out;
}
