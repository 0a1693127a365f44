/**
 * Constraints as small filter plugins (api-contracts.md §4.3). Each operator is one function:
 * given the candidate agent and the agents the app's tasks already run on, may one more task go
 * there? Pure: no state, no time.
 */
import type { Constraint } from './app.js';

/** What placement knows about an agent: hostname, flat attributes, fault domain. */
export interface AgentFacts {
  hostname: string;
  attributes: Record<string, string>;
  region?: string;
  zone?: string;
}

/** The value of a constraint field on an agent, or undefined if the agent lacks it. */
export function fieldValue(agent: AgentFacts, field: string): string | undefined {
  if (field === 'hostname' || field === '@hostname') return agent.hostname;
  if (field === '@region') return agent.region;
  if (field === '@zone') return agent.zone;
  return agent.attributes[field];
}

export type ConstraintFilter = (value: string | undefined, placed: (string | undefined)[], arg: string | undefined) => boolean;

const count = (xs: (string | undefined)[], v: string | undefined): number => xs.filter((x) => x === v).length;
const fullMatch = (v: string, re: string): boolean => new RegExp(`^(?:${re})$`).test(v);
const sameValue = (a: string, b: string): boolean => {
  const na = Number(a);
  const nb = Number(b);
  return a === b || (a.trim() !== '' && b.trim() !== '' && Number.isFinite(na) && Number.isFinite(nb) && na === nb);
};

/** The registry: operator name → filter. A missing attribute passes only UNLIKE. */
export const CONSTRAINT_FILTERS: Record<string, ConstraintFilter> = {
  UNIQUE: (v, placed) => v !== undefined && count(placed, v) === 0,
  CLUSTER: (v, placed, arg) => {
    if (v === undefined) return false;
    if (arg !== undefined && arg !== '') return sameValue(v, arg);
    const first = placed.find((p) => p !== undefined);
    return first === undefined || first === v;
  },
  GROUP_BY: (v, placed, arg) => {
    if (v === undefined) return false;
    // Spread evenly: place only where the value is among the least used ones. With a known
    // group count n, values not yet used count as 0 while fewer than n values are in use.
    const counts = new Map<string, number>();
    for (const p of placed) if (p !== undefined) counts.set(p, (counts.get(p) ?? 0) + 1);
    const n = arg ? Number(arg) : 0;
    const mine = counts.get(v) ?? 0;
    if (!counts.has(v)) return true;
    const min = n > 0 && counts.size < n ? 0 : Math.min(...counts.values());
    return mine <= min;
  },
  LIKE: (v, _placed, arg) => v !== undefined && fullMatch(v, arg ?? ''),
  UNLIKE: (v, _placed, arg) => v === undefined || !fullMatch(v, arg ?? ''),
  MAX_PER: (v, placed, arg) => v !== undefined && count(placed, v) < Number(arg),
  IS: (v, _placed, arg) => v !== undefined && sameValue(v, arg ?? ''),
};

/** The first constraint the candidate fails, or undefined when all pass. */
export function failedConstraint(constraints: readonly Constraint[], candidate: AgentFacts, placedOn: readonly AgentFacts[]): Constraint | undefined {
  for (const c of constraints) {
    const [field, op, arg] = c;
    const filter = CONSTRAINT_FILTERS[op];
    if (!filter) return c;
    if (
      !filter(
        fieldValue(candidate, field),
        placedOn.map((a) => fieldValue(a, field)),
        arg,
      )
    )
      return c;
  }
  return undefined;
}

/**
 * True when the constraint can never hold on this agent whatever else runs (LIKE/UNLIKE/IS and
 * CLUSTER with a value look only at the agent): used to say "no agent can ever hold this app".
 */
export function staticallyFails(c: Constraint, candidate: AgentFacts): boolean {
  const [field, op, arg] = c;
  if (op === 'LIKE' || op === 'UNLIKE' || op === 'IS' || (op === 'CLUSTER' && arg)) {
    return !(CONSTRAINT_FILTERS[op] as ConstraintFilter)(fieldValue(candidate, field), [], arg);
  }
  return fieldValue(candidate, field) === undefined && op !== 'UNLIKE';
}
