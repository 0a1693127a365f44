import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GroupHistory, type GroupSnapshot, ancestorsOf, groupVersions, isBelow, isWithin, snapshotOf } from './group.js';

const snap = (version: string, groups: [string, string][], apps: [string, string][]): GroupSnapshot => ({
  version,
  groups: groups.map(([id, v]) => ({ id, version: v, dependencies: [], enforceRole: false })),
  apps: apps.map(([id, v]) => ({ id, version: v })),
});

describe('group paths and history', () => {
  test('paths: within, below, ancestors', () => {
    assert.ok(isWithin('/a/b', '/a') && isWithin('/a', '/a') && isWithin('/x', '/'));
    assert.ok(!isWithin('/ab', '/a'), 'a prefix of a segment is not enclosing');
    assert.ok(isBelow('/a/b', '/a') && !isBelow('/a', '/a'));
    assert.deepEqual(ancestorsOf('/a/b/c'), ['/a/b', '/a', '/']);
    assert.deepEqual(ancestorsOf('/'), []);
  });

  test("a group's versions are its distinct versions across snapshots, newest first; snapshotOf finds the newest holding one", () => {
    const s = [
      snap(
        't1',
        [
          ['/', 't1'],
          ['/g', 't1'],
        ],
        [],
      ),
      snap(
        't2',
        [
          ['/', 't2'],
          ['/g', 't1'],
          ['/h', 't2'],
        ],
        [],
      ),
      snap(
        't3',
        [
          ['/', 't3'],
          ['/g', 't3'],
          ['/h', 't2'],
        ],
        [],
      ),
    ];
    assert.deepEqual(groupVersions(s, '/g'), ['t3', 't1']);
    assert.deepEqual(groupVersions(s, '/h'), ['t2']);
    assert.deepEqual(groupVersions(s, '/'), ['t3', 't2', 't1']);
    assert.equal(snapshotOf(s, '/g', 't1')?.version, 't2');
    assert.equal(snapshotOf(s, '/g', 't2'), undefined);
  });

  test('GroupHistory keeps the last max snapshots and releases app versions no kept snapshot refers to', () => {
    const h = new GroupHistory(2);
    assert.deepEqual(h.push(snap('t1', [], [['/a', 'v1']])).released, []);
    h.push(snap('t2', [], [['/a', 'v1']]));
    const third = h.push(snap('t3', [], [['/a', 'v2']]));
    assert.deepEqual(
      third.dropped.map((x) => x.version),
      ['t1'],
    );
    assert.deepEqual(third.released, [], 't2 still refers to /a@v1');
    assert.ok(h.refersTo('/a', 'v1'));
    const fourth = h.push(snap('t4', [], [['/a', 'v2']]));
    assert.deepEqual(fourth.released, [{ id: '/a', version: 'v1' }]);
    assert.ok(!h.refersTo('/a', 'v1') && h.refersTo('/a', 'v2'));
    // A snapshot of the same time replaces the last one.
    h.push(snap('t4', [], [['/b', 'v9']]));
    assert.deepEqual(
      h.snapshots.map((x) => x.version),
      ['t3', 't4'],
    );
    assert.ok(h.refersTo('/b', 'v9'));
  });
});
