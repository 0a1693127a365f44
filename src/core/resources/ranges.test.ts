import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Range } from '../../model/mesos.js';
import { addRanges, coalesce, formatRanges, parseRanges, rangesContain, rangesSize, subtractRanges, takeFromRanges } from './ranges.js';

// Ranges over a small domain, so that overlaps and adjacency are common, and the set of values
// a list stands for can be spelled out and compared directly.
const rangeArb: fc.Arbitrary<Range> = fc
  .record({ begin: fc.integer({ min: 0, max: 120 }), len: fc.integer({ min: 0, max: 15 }) })
  .map(({ begin, len }) => ({ begin, end: begin + len }));
const listArb = fc.array(rangeArb, { maxLength: 8 });

function values(rs: readonly Range[]): Set<number> {
  const out = new Set<number>();
  for (const r of rs) for (let v = r.begin; v <= r.end; v++) out.add(v);
  return out;
}

const sorted = (s: Set<number>): number[] => [...s].sort((a, b) => a - b);

function isCoalesced(rs: readonly Range[]): boolean {
  for (let i = 0; i < rs.length; i++) {
    const r = rs[i] as Range;
    if (r.end < r.begin) return false;
    // Sorted, non-overlapping and non-adjacent: a gap of at least one value between entries.
    if (i > 0 && (rs[i - 1] as Range).end + 1 >= r.begin) return false;
  }
  return true;
}

const runs = { numRuns: 300 };

describe('coalesce', () => {
  it('keeps the same values, sorted, with no overlapping or adjacent entries', () => {
    fc.assert(
      fc.property(listArb, (a) => {
        const c = coalesce(a);
        assert.ok(isCoalesced(c), JSON.stringify(c));
        assert.deepEqual(sorted(values(c)), sorted(values(a)));
      }),
      runs,
    );
  });

  it('is idempotent and does not change its input', () => {
    fc.assert(
      fc.property(listArb, (a) => {
        const before = JSON.stringify(a);
        const once = coalesce(a);
        assert.deepEqual(coalesce(once), once);
        assert.equal(JSON.stringify(a), before);
      }),
      runs,
    );
  });

  it('merges adjacent ranges: [1-2] and [3-4] are [1-4]', () => {
    assert.deepEqual(
      coalesce([
        { begin: 3, end: 4 },
        { begin: 1, end: 2 },
      ]),
      [{ begin: 1, end: 4 }],
    );
  });
});

describe('range arithmetic', () => {
  it('addRanges is the union of values', () => {
    fc.assert(
      fc.property(listArb, listArb, (a, b) => {
        const sum = addRanges(a, b);
        assert.ok(isCoalesced(sum));
        assert.deepEqual(sorted(values(sum)), sorted(new Set([...values(a), ...values(b)])));
      }),
      runs,
    );
  });

  it('subtractRanges is the difference of values', () => {
    fc.assert(
      fc.property(listArb, listArb, (a, b) => {
        const diff = subtractRanges(a, b);
        const vb = values(b);
        assert.ok(isCoalesced(diff), JSON.stringify(diff));
        assert.deepEqual(
          sorted(values(diff)),
          sorted(values(a)).filter((v) => !vb.has(v)),
        );
      }),
      runs,
    );
  });

  it('rangesContain holds exactly when every value of b is in a', () => {
    fc.assert(
      fc.property(listArb, listArb, (a, b) => {
        const va = values(a);
        const expected = [...values(b)].every((v) => va.has(v));
        assert.equal(rangesContain(a, b), expected);
      }),
      runs,
    );
  });

  it('a union contains both sides, and subtracting then adding back restores a superset', () => {
    fc.assert(
      fc.property(listArb, listArb, (a, b) => {
        const sum = addRanges(a, b);
        assert.ok(rangesContain(sum, a));
        assert.ok(rangesContain(sum, b));
        assert.deepEqual(subtractRanges(sum, b), subtractRanges(a, b));
        assert.ok(rangesContain(addRanges(subtractRanges(a, b), b), a));
        if (rangesContain(a, b)) assert.deepEqual(addRanges(subtractRanges(a, b), b), coalesce(a));
      }),
      runs,
    );
  });

  it('rangesSize of a coalesced list counts its distinct values', () => {
    fc.assert(
      fc.property(listArb, (a) => {
        assert.equal(rangesSize(coalesce(a)), values(a).size);
      }),
      runs,
    );
  });

  it('takeFromRanges takes the lowest `count` values, or undefined when there are fewer', () => {
    fc.assert(
      fc.property(listArb, fc.integer({ min: 0, max: 200 }), (a, count) => {
        const taken = takeFromRanges(a, count);
        const all = sorted(values(a));
        if (count > all.length) {
          assert.equal(taken, undefined);
          return;
        }
        assert.ok(taken);
        assert.deepEqual(sorted(values(taken)), all.slice(0, count));
        assert.ok(rangesContain(a, taken));
      }),
      runs,
    );
  });
});

describe('range text', () => {
  it('parseRanges reads back what formatRanges prints', () => {
    fc.assert(
      fc.property(listArb, (a) => {
        const c = coalesce(a);
        assert.deepEqual(parseRanges(formatRanges(c)), c);
      }),
      runs,
    );
  });

  it('parses with or without brackets and rejects malformed text', () => {
    assert.deepEqual(parseRanges('31000-31005, 31006-31010'), [{ begin: 31000, end: 31010 }]);
    assert.deepEqual(parseRanges('[]'), []);
    assert.equal(parseRanges('[5-1]'), undefined);
    assert.equal(parseRanges('[1-2,]'), undefined);
    assert.equal(parseRanges('[a-b]'), undefined);
  });
});
