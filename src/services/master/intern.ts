import { type SharedTexts, taskRole } from '../../core/legacy.js';
import * as R from '../../core/resources/index.js';
import type { Id, Resource, Task } from '../../model/mesos.js';

interface Entry {
  value: object;
  /** JSON.stringify(value), also its key in the table. */
  json: string;
  /** For resource lists: the legacy texts, made on first use. */
  legacy?: { resources: string; role: string } | undefined;
}

/**
 * One object for equal values that many tasks hold: the resources of every instance of an app,
 * the ids of their framework and agent, labels, container and health check definitions. A task
 * keeps a reference to the shared object instead of its own copy, and the views serialize the
 * shared object's text, kept once here, instead of the object per task.
 *
 * Shared objects must never be mutated: every holder sees the change. The master only ever
 * replaces a task's parts, it does not edit them.
 *
 * The table is bounded (least recently used out): an evicted value stays shared by the tasks
 * that hold it, but loses its kept text (the views then serialize it per request) and new equal
 * values get a new object. Nothing here depends on the garbage collector, so the master stays
 * deterministic under the simulator.
 */
export class Interner implements SharedTexts {
  private readonly table = new Map<string, Entry>();
  private readonly byValue = new WeakMap<object, Entry>();
  private readonly ids = new Map<string, Id>();

  constructor(private readonly capacity = 16_384) {}

  /**
   * The shared object equal to `value` (JSON-equal: same keys in the same order): a copy of the
   * first such value seen, never the caller's object.
   */
  intern<T extends object>(value: T): T {
    const known = this.byValue.get(value);
    if (known) return known.value as T;
    const json = JSON.stringify(value);
    const hit = this.table.get(json);
    if (hit) {
      // Most recently used last.
      this.table.delete(json);
      this.table.set(json, hit);
      return hit.value as T;
    }
    // A copy of its own: the caller's object may be shared with, and changed by, its sender.
    const own = JSON.parse(json) as T;
    const entry: Entry = { value: own, json };
    this.table.set(json, entry);
    this.byValue.set(own, entry);
    if (this.table.size > this.capacity) {
      // Its holders keep the object; it only stops being found, and its text is let go.
      const oldest = this.table.keys().next().value as string;
      const e = this.table.get(oldest) as Entry;
      this.table.delete(oldest);
      this.byValue.delete(e.value);
    }
    return own;
  }

  /** A shared `{ value }` for an agent or framework id (a few thousand at most). */
  id(value: string): Id {
    let id = this.ids.get(value);
    if (!id) {
      if (this.ids.size >= this.capacity) {
        const oldest = this.ids.keys().next().value as string;
        this.byValue.delete(this.ids.get(oldest) as Id);
        this.ids.delete(oldest);
      }
      id = { value };
      this.ids.set(value, id);
      this.byValue.set(id, { value: id, json: JSON.stringify(id) });
    }
    return id;
  }

  json(value: object): string | undefined {
    return this.byValue.get(value)?.json;
  }

  legacy(rs: Resource[]): { resources: string; role: string } | undefined {
    const e = this.byValue.get(rs);
    if (!e) return undefined;
    if (!e.legacy) e.legacy = { resources: JSON.stringify(R.toLegacy(rs)), role: JSON.stringify(taskRole({ resources: rs } as Task)) };
    return e.legacy;
  }
}

/**
 * R.normalize of the concatenation of `lists`, computed once per distinct list (by identity)
 * with its scalars multiplied by how often it occurs: tasks share interned resource lists, so an
 * agent's or a framework's sum over its tasks costs a pass of pointer lookups and a normalize of
 * a few entries, not of two entries per task (what made the state views' first request slow).
 * Same result as the long way: scalars are kept to three decimals, so n additions of a value
 * and one multiplication by n round to the same number; ranges and sets are unions, so adding
 * a list once or n times gives the same; keys come out in the same first-seen order.
 */
export function sumOfLists(lists: readonly (readonly Resource[])[]): Resource[] {
  if (lists.length === 1) return R.normalize(lists[0] as Resource[]);
  const counts = new Map<readonly Resource[], number>();
  for (const rs of lists) counts.set(rs, (counts.get(rs) ?? 0) + 1);
  const scaled: Resource[] = [];
  for (const [rs, n] of counts) {
    for (const r of rs) {
      if (n > 1 && r.type === 'SCALAR' && r.scalar) scaled.push({ ...r, scalar: { value: R.roundScalar(n * R.roundScalar(r.scalar.value)) } });
      else scaled.push(r);
    }
  }
  return R.normalize(scaled);
}
