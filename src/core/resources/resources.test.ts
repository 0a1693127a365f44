import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Resource } from '../../model/mesos.js';
import { formatRanges } from './ranges.js';
import {
  add,
  allocatedTo,
  contains,
  isEmpty,
  normalize,
  parseResources,
  reservationRole,
  scalarOf,
  subtract,
  toLegacy,
  unallocated,
  usableBy,
} from './resources.js';

// --- generators -------------------------------------------------------------------------------

const roleArb = fc.constantFrom('*', 'web', 'db');
// Scalars in whole thousandths, the precision Mesos keeps.
const milliArb = fc.integer({ min: 0, max: 64_000 }).map((m) => m / 1000);
const rangeListArb = fc.array(
  fc.record({ begin: fc.integer({ min: 31000, max: 31100 }), len: fc.integer({ min: 0, max: 10 }) }).map(({ begin, len }) => ({ begin, end: begin + len })),
  { maxLength: 4 },
);

function reserve(r: Resource, role: string): Resource {
  if (role !== '*') r.reservations = [{ type: 'STATIC', role }];
  return r;
}

const scalarResArb: fc.Arbitrary<Resource> = fc
  .record({ name: fc.constantFrom('cpus', 'mem', 'disk', 'gpus'), value: milliArb, role: roleArb })
  .map(({ name, value, role }) => reserve({ name, type: 'SCALAR', scalar: { value } }, role));
const rangesResArb: fc.Arbitrary<Resource> = fc
  .record({ range: rangeListArb, role: roleArb })
  .map(({ range, role }) => reserve({ name: 'ports', type: 'RANGES', ranges: { range } }, role));
const setResArb: fc.Arbitrary<Resource> = fc
  .record({ item: fc.subarray(['a', 'b', 'c', 'd']), role: roleArb })
  .map(({ item, role }) => reserve({ name: 'zones', type: 'SET', set: { item } }, role));

const scalarsArb = fc.array(scalarResArb, { maxLength: 8 });
const resourcesArb = fc.array(fc.oneof(scalarResArb, rangesResArb, setResArb), { maxLength: 8 });

// --- helpers ----------------------------------------------------------------------------------

/** A normalized list in a canonical entry order, for comparisons that ignore entry order. */
function canon(rs: readonly Resource[]): Resource[] {
  const key = (r: Resource) => `${r.name}/${r.type}/${reservationRole(r)}/${r.allocation_info?.role ?? ''}`;
  return normalize(rs).sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

function sameResources(a: readonly Resource[], b: readonly Resource[]): void {
  assert.deepEqual(canon(a), canon(b));
}

/** The text form the agent's --resources flag takes: `name(role):value;...`. */
function toText(rs: readonly Resource[]): string {
  return rs
    .map((r) => {
      const role = reservationRole(r);
      const head = role === '*' ? r.name : `${r.name}(${role})`;
      if (r.type === 'SCALAR') return `${head}:${r.scalar?.value ?? 0}`;
      if (r.type === 'RANGES') return `${head}:${formatRanges(r.ranges?.range ?? [])}`;
      return `${head}:{${(r.set?.item ?? []).join(',')}}`;
    })
    .join(';');
}

const runs = { numRuns: 300 };

// --- laws -------------------------------------------------------------------------------------

describe('normalize', () => {
  it('is idempotent', () => {
    fc.assert(
      fc.property(resourcesArb, (a) => {
        const once = normalize(a);
        assert.deepEqual(normalize(once), once);
      }),
      runs,
    );
  });

  it('does not depend on entry order', () => {
    fc.assert(
      fc.property(resourcesArb, (a) => {
        sameResources(normalize([...a].reverse()), normalize(a));
      }),
      runs,
    );
  });

  it('leaves no empty entries and at most one entry per kind', () => {
    fc.assert(
      fc.property(resourcesArb, (a) => {
        const n = normalize(a);
        const kinds = new Set(n.map((r) => `${r.name}/${reservationRole(r)}`));
        assert.equal(kinds.size, n.length);
        for (const r of n) {
          if (r.type === 'SCALAR') assert.ok((r.scalar?.value ?? 0) >= 0.001);
          if (r.type === 'RANGES') assert.ok((r.ranges?.range.length ?? 0) > 0);
          if (r.type === 'SET') assert.ok((r.set?.item.length ?? 0) > 0);
        }
      }),
      runs,
    );
  });

  it('does not share objects with its input', () => {
    const input: Resource[] = [{ name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 1, end: 2 }] } }];
    const n = normalize(input);
    (n[0]?.ranges?.range[0] as { end: number }).end = 99;
    assert.equal(input[0]?.ranges?.range[0]?.end, 2);
  });

  it('keeps sums of tenths exact: 0.1 + 0.2 cpus is 0.3', () => {
    const cpus = (v: number): Resource => ({ name: 'cpus', type: 'SCALAR', scalar: { value: v } });
    assert.deepEqual(normalize([cpus(0.1), cpus(0.2)]), [cpus(0.3)]);
  });
});

describe('add and subtract', () => {
  it('add is commutative and associative', () => {
    fc.assert(
      fc.property(resourcesArb, resourcesArb, resourcesArb, (a, b, c) => {
        sameResources(add(a, b), add(b, a));
        sameResources(add(add(a, b), c), add(a, add(b, c)));
      }),
      runs,
    );
  });

  it('a sum contains both of its parts', () => {
    fc.assert(
      fc.property(resourcesArb, resourcesArb, (a, b) => {
        const sum = add(a, b);
        assert.ok(contains(sum, a));
        assert.ok(contains(sum, b));
      }),
      runs,
    );
  });

  it('subtract undoes add for scalars', () => {
    fc.assert(
      fc.property(scalarsArb, scalarsArb, (a, b) => {
        sameResources(subtract(add(a, b), b), a);
      }),
      runs,
    );
  });

  it('adding back what was subtracted restores a, when a contains it', () => {
    fc.assert(
      fc.property(resourcesArb, resourcesArb, (a, b) => {
        // b' = the part of b that a holds, so that a contains b' by construction.
        const part = subtract(a, subtract(a, b));
        assert.ok(contains(a, part));
        sameResources(add(subtract(a, part), part), a);
      }),
      runs,
    );
  });

  it('subtract clamps at zero: the result is within a and has no negative or empty entries', () => {
    fc.assert(
      fc.property(resourcesArb, resourcesArb, (a, b) => {
        const d = subtract(a, b);
        assert.ok(contains(a, d));
        for (const r of d) if (r.type === 'SCALAR') assert.ok((r.scalar?.value ?? 0) >= 0.001);
        assert.ok(isEmpty(subtract(a, a)));
        assert.ok(isEmpty(subtract(b, add(a, b))));
      }),
      runs,
    );
  });

  it('scalarOf adds up across sums', () => {
    fc.assert(
      fc.property(resourcesArb, resourcesArb, fc.constantFrom('cpus', 'mem', 'disk', 'gpus'), (a, b, name) => {
        assert.equal(scalarOf(add(a, b), name), Math.round((scalarOf(a, name) + scalarOf(b, name)) * 1000) / 1000);
      }),
      runs,
    );
  });
});

describe('contains', () => {
  it('is reflexive and holds for the empty list', () => {
    fc.assert(
      fc.property(resourcesArb, (a) => {
        assert.ok(contains(a, a));
        assert.ok(contains(a, []));
      }),
      runs,
    );
  });

  it('is false when b needs more than a has', () => {
    fc.assert(
      fc.property(resourcesArb, scalarResArb, (a, extra) => {
        fc.pre((extra.scalar?.value ?? 0) >= 0.001);
        assert.ok(!contains(a, add(a, [extra])));
      }),
      runs,
    );
  });

  it('does not let resources reserved for one role stand in for another', () => {
    const a = parseResources('cpus(web):4') as Resource[];
    assert.ok(!contains(a, parseResources('cpus:1') as Resource[]));
    assert.ok(!contains(a, parseResources('cpus(db):1') as Resource[]));
    assert.ok(contains(a, parseResources('cpus(web):4') as Resource[]));
  });
});

describe('roles', () => {
  it('usableBy keeps exactly the unreserved entries and those reserved for the role', () => {
    fc.assert(
      fc.property(resourcesArb, roleArb, (a, role) => {
        const u = usableBy(a, role);
        assert.ok(contains(a, u));
        for (const r of u) assert.ok(['*', role].includes(reservationRole(r)));
        for (const r of subtract(a, u)) assert.ok(!['*', role].includes(reservationRole(r)));
      }),
      runs,
    );
  });

  it('keeps allocations to different roles apart, and unallocated merges them back', () => {
    fc.assert(
      fc.property(scalarsArb, scalarsArb, (a, b) => {
        const sum = add(allocatedTo(normalize(a), 'x'), allocatedTo(normalize(b), 'y'));
        sameResources(
          sum.filter((r) => r.allocation_info?.role === 'x'),
          allocatedTo(normalize(a), 'x'),
        );
        sameResources(unallocated(sum), add(a, b));
      }),
      runs,
    );
  });

  it('keeps revocable and disk info through normalize', () => {
    const rev: Resource = { name: 'cpus', type: 'SCALAR', scalar: { value: 2 }, revocable: {} };
    const vol: Resource = { name: 'disk', type: 'SCALAR', scalar: { value: 64 }, disk: { persistence: { id: 'v1' } } };
    const rs = normalize([rev, vol, { name: 'cpus', type: 'SCALAR', scalar: { value: 1 } }]);
    assert.equal(rs.length, 3);
    assert.deepEqual(rs[0]?.revocable, {});
    assert.deepEqual(rs[1]?.disk, { persistence: { id: 'v1' } });
    assert.deepEqual(toLegacy(rs), { cpus: 1, cpus_revocable: 2, gpus: 0, mem: 0, disk: 64 });
  });

  it('toLegacy sums across reservation and allocation roles', () => {
    const rs = add(allocatedTo(parseResources('cpus:1;mem:10') as Resource[], 'a'), parseResources('cpus(b):2;ports:[1-3]') as Resource[]);
    assert.deepEqual(toLegacy(rs), { cpus: 3, gpus: 0, mem: 10, disk: 0, ports: '[1-3]' });
  });
});

describe('parseResources', () => {
  it('reads back the flag text it is given', () => {
    fc.assert(
      fc.property(resourcesArb, (a) => {
        const n = normalize(a);
        const parsed = parseResources(toText(n));
        assert.ok(typeof parsed !== 'string', String(parsed));
        sameResources(parsed, n);
      }),
      runs,
    );
  });

  it('reads back the JSON form', () => {
    fc.assert(
      fc.property(resourcesArb, (a) => {
        const parsed = parseResources(JSON.stringify(a));
        assert.ok(typeof parsed !== 'string', String(parsed));
        sameResources(parsed, a);
      }),
      runs,
    );
  });

  it('parses the Mesos flag example', () => {
    assert.deepEqual(toLegacy(parseResources('cpus:24;mem:4096;disk(ops):100;ports:[31000-32000];gpus:0') as Resource[]), {
      cpus: 24,
      gpus: 0,
      mem: 4096,
      disk: 100,
      ports: '[31000-32000]',
    });
  });

  it('returns an error string for malformed input', () => {
    assert.equal(typeof parseResources('cpus'), 'string');
    assert.equal(typeof parseResources('cpus:-1'), 'string');
    assert.equal(typeof parseResources('ports:[5-1]'), 'string');
    assert.equal(typeof parseResources('[{"name": '), 'string');
    assert.equal(typeof parseResources('[null]'), 'string');
  });
});

describe('toLegacy against its definition', () => {
  // The definition: strip reservations, allocation, disk info and sharedness, normalize, flatten.
  function reference(rs: Resource[]): Record<string, number | string> {
    const out: Record<string, number | string> = { cpus: 0, gpus: 0, mem: 0, disk: 0 };
    const flat = rs.map((x) => {
      const c: Resource = { ...x, role: '*' };
      delete c.reservations;
      delete c.allocation_info;
      delete c.disk;
      delete c.shared;
      return c;
    });
    for (const r of normalize(flat)) {
      const name = r.revocable ? `${r.name}_revocable` : r.name;
      if (r.type === 'SCALAR') out[name] = r.scalar?.value ?? 0;
      else if (r.type === 'RANGES') out[name] = formatRanges(r.ranges?.range ?? []);
      else if (r.type === 'SET') out[name] = `{${(r.set?.item ?? []).join(', ')}}`;
    }
    return out;
  }
  const resourceArb: fc.Arbitrary<Resource> = fc.oneof(
    fc
      .record({
        name: fc.constantFrom('cpus', 'mem', 'gpus', 'disk', 'foo'),
        value: fc.integer({ min: 0, max: 5000 }).map((v) => v / 1000),
        role: fc.constantFrom(undefined, 'a', 'b'),
        revocable: fc.boolean(),
      })
      .map(({ name, value, role, revocable }) => ({
        name,
        type: 'SCALAR' as const,
        scalar: { value },
        ...(role ? { reservations: [{ type: 'STATIC' as const, role }] } : {}),
        ...(revocable ? { revocable: {} } : {}),
      })),
    fc.array(fc.record({ begin: fc.integer({ min: 1, max: 60 }), len: fc.integer({ min: 0, max: 5 }) }), { maxLength: 4 }).map((rs) => ({
      name: 'ports',
      type: 'RANGES' as const,
      ranges: { range: rs.map(({ begin, len }) => ({ begin, end: begin + len })) },
    })),
    fc.array(fc.constantFrom('x', 'y', 'z'), { maxLength: 3 }).map((item) => ({ name: 'tags', type: 'SET' as const, set: { item } })),
  );
  it('sums like normalize does, for any mix of scalars, ranges and sets', () => {
    fc.assert(
      fc.property(fc.array(resourceArb, { maxLength: 30 }), (rs) => {
        assert.deepEqual(toLegacy(rs), reference(rs));
      }),
      { numRuns: 500 },
    );
  });
});
