import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Random } from '../../base/random.js';
import type { Resource } from '../../model/mesos.js';
import { formatRanges, normalize, parseResources, reservationRole, scalarOf, subtract, unallocated, usableBy } from '../resources/index.js';
import { HierarchicalAllocator } from './hierarchical.js';
import type { Allocation } from './types.js';

// --- helpers ----------------------------------------------------------------------------------

function res(text: string): Resource[] {
  const r = parseResources(text);
  assert.ok(typeof r !== 'string', r as string);
  return r;
}

const allocator = (seed = 1): HierarchicalAllocator => new HierarchicalAllocator({ random: new Random(seed) });

/** `cpus:2;mem(web):64;ports:[1-2]`: the flag form, reservation roles in parentheses, entries sorted. */
function fmt(rs: readonly Resource[]): string {
  return normalize(unallocated(rs))
    .map((r) => {
      const role = reservationRole(r);
      const head = role === '*' ? r.name : `${r.name}(${role})`;
      if (r.type === 'SCALAR') return `${head}:${r.scalar?.value}`;
      if (r.type === 'RANGES') return `${head}:${formatRanges(r.ranges?.range ?? [])}`;
      return `${head}:{${r.set?.item.join(',')}}`;
    })
    .sort()
    .join(';');
}

/** Offers as `framework@agent role cpus:..;mem:..`, sorted, for comparing with a table. */
function summary(offers: readonly Allocation[]): string[] {
  return offers.map((o) => `${o.frameworkId}@${o.agentId} ${o.role} ${fmt(o.resources)}`).sort();
}

const offeredTo = (offers: readonly Allocation[], fw: string): Allocation[] => offers.filter((o) => o.frameworkId === fw);

function declineAll(a: HierarchicalAllocator, offers: readonly Allocation[], refuseSeconds: number, nowMs: number): void {
  for (const o of offers) a.recoverResources(o.frameworkId, o.agentId, o.resources, { refuseSeconds, nowMs });
}

// --- DRF ordering -----------------------------------------------------------------------------

describe('DRF ordering', () => {
  it('gives the framework with the lowest dominant share the next offer', () => {
    // Cluster total: cpus 12, mem 12288.
    // | framework | cpus | mem  | cpus share | mem share | dominant share |
    // | f1        | 2    | 512  | 0.167      | 0.042     | 0.167          |
    // | f2        | 1    | 3072 | 0.083      | 0.25      | 0.25           |
    // f2 holds fewer cpus, but its dominant share (mem) is larger: a3 goes to f1.
    const a = allocator();
    a.addFramework('f1', { roles: ['r'] });
    a.addFramework('f2', { roles: ['r'] });
    a.addAgent('a1', { hostname: 'h1', total: res('cpus:2;mem:512'), used: [{ frameworkId: 'f1', role: 'r', resources: res('cpus:2;mem:512') }] });
    a.addAgent('a2', { hostname: 'h2', total: res('cpus:1;mem:3072'), used: [{ frameworkId: 'f2', role: 'r', resources: res('cpus:1;mem:3072') }] });
    a.addAgent('a3', { hostname: 'h3', total: res('cpus:9;mem:8704') });
    assert.deepEqual(summary(a.allocate(0)), ['f1@a3 r cpus:9;mem:8704']);
  });

  it('updates shares after each offer, so equal frameworks split equal agents', () => {
    // Total cpus 4 on four agents of 1 cpu. Shares after each offer, in agent order:
    // | after | f1   | f2   | f3   | next offer to |
    // | -     | 0    | 0    | 0    | f1 (seq)      |
    // | 1st   | 0.25 | 0    | 0    | f2            |
    // | 2nd   | 0.25 | 0.25 | 0    | f3            |
    // | 3rd   | 0.25 | 0.25 | 0.25 | f1 (seq)      |
    const a = allocator();
    for (const f of ['f1', 'f2', 'f3']) a.addFramework(f, { roles: ['r'] });
    for (let i = 1; i <= 4; i++) a.addAgent(`a${i}`, { hostname: `h${i}`, total: res('cpus:1;mem:256') });
    const offers = a.allocate(0);
    const count = (f: string) => offeredTo(offers, f).length;
    assert.deepEqual([count('f1'), count('f2'), count('f3')], [2, 1, 1]);
    assert.equal(new Set(offers.map((o) => o.agentId)).size, 4);
  });

  it('sorts roles before frameworks: the role with the lower share goes first', () => {
    // Total cpus 20 (mem only on the free agent).
    // | role | framework | cpus | framework share | role share |
    // | a    | fa1       | 3    | 0.15            | 0.30       |
    // | a    | fa2       | 3    | 0.15            |            |
    // | b    | fb        | 4    | 0.20            | 0.20       |
    // fa1 and fa2 each hold less than fb, but role b holds less than role a: fb goes first.
    const a = allocator();
    a.addFramework('fa1', { roles: ['a'] });
    a.addFramework('fa2', { roles: ['a'] });
    a.addFramework('fb', { roles: ['b'] });
    a.addAgent('used', {
      hostname: 'h0',
      total: res('cpus:10'),
      used: [
        { frameworkId: 'fa1', role: 'a', resources: res('cpus:3') },
        { frameworkId: 'fa2', role: 'a', resources: res('cpus:3') },
        { frameworkId: 'fb', role: 'b', resources: res('cpus:4') },
      ],
    });
    a.addAgent('free', { hostname: 'h1', total: res('cpus:10;mem:1000') });
    assert.deepEqual(summary(a.allocate(0)), ['fb@free b cpus:10;mem:1000']);
  });

  it('divides a role share by its weight', () => {
    // Total cpus 12, mem 64 (all on the free agent).
    // | role | weight | cpus | share | weighted share |
    // | a    | 2      | 3    | 0.25  | 0.125          |
    // | b    | 1      | 2    | 0.167 | 0.167          |
    // Unweighted, b would go first; with weight 2, a does.
    const build = () => {
      const a = allocator();
      a.addFramework('fa', { roles: ['a'] });
      a.addFramework('fb', { roles: ['b'] });
      a.addAgent('used', {
        hostname: 'h0',
        total: res('cpus:5'),
        used: [
          { frameworkId: 'fa', role: 'a', resources: res('cpus:3') },
          { frameworkId: 'fb', role: 'b', resources: res('cpus:2') },
        ],
      });
      a.addAgent('free', { hostname: 'h1', total: res('cpus:7;mem:64') });
      return a;
    };
    const plain = build();
    assert.deepEqual(summary(plain.allocate(0)), ['fb@free b cpus:7;mem:64']);
    const weighted = build();
    weighted.setWeights({ a: 2 });
    assert.deepEqual(weighted.getWeights(), { a: 2 });
    assert.deepEqual(summary(weighted.allocate(0)), ['fa@free a cpus:7;mem:64']);
  });

  it('breaks ties deterministically, and the same seed gives the same offers', () => {
    const run = (seed: number) => {
      const a = allocator(seed);
      for (let f = 0; f < 5; f++) a.addFramework(`f${f}`, { roles: [f % 2 === 0 ? 'even' : 'odd'] });
      for (let i = 0; i < 20; i++) a.addAgent(`a${i}`, { hostname: `h${i}`, total: res(`cpus:${1 + (i % 4)};mem:${256 * (1 + (i % 3))}`) });
      const first = a.allocate(0).map((o) => `${o.frameworkId}@${o.agentId} ${fmt(o.resources)}`);
      declineAll(a, a.allocate(1000), 0, 1000); // nothing left: no offers to decline
      return first;
    };
    assert.deepEqual(run(42), run(42));
    assert.notDeepEqual(run(42), run(43)); // the agent order comes from the seed
  });
});

// --- quota ------------------------------------------------------------------------------------

describe('quota', () => {
  it('meets a guarantee first, even for a role with the larger share', () => {
    // Total cpus 5.
    // | role | framework | cpus held | share | guarantee | unmet |
    // | q    | fq        | 2         | 0.4   | cpus 4    | 2     |
    // | r    | fr        | 1         | 0.2   | -         | -     |
    // By DRF alone fr would get the free agent; the unmet guarantee of q comes first.
    const build = () => {
      const a = allocator();
      a.addFramework('fq', { roles: ['q'] });
      a.addFramework('fr', { roles: ['r'] });
      a.addAgent('used', {
        hostname: 'h0',
        total: res('cpus:3;mem:64'),
        used: [
          { frameworkId: 'fq', role: 'q', resources: res('cpus:2') },
          { frameworkId: 'fr', role: 'r', resources: res('cpus:1;mem:64') },
        ],
      });
      a.addAgent('free', { hostname: 'h1', total: res('cpus:2;mem:512') });
      return a;
    };
    assert.deepEqual(summary(build().allocate(0)), ['fr@free r cpus:2;mem:512']);
    const a = build();
    a.setQuota('q', { guarantees: { cpus: 4 }, limits: {} });
    assert.deepEqual(a.getQuotas(), { q: { guarantees: { cpus: 4 }, limits: {} } });
    assert.deepEqual(summary(a.allocate(0)), ['fq@free q cpus:2;mem:512']);
  });

  it('gives a quota role beyond its guarantee only what other guarantees leave over', () => {
    // One agent of cpus 8, mem 1024.
    // | role | guarantee | framework | stage 1 offer                          |
    // | q    | cpus 3    | fq        | cpus 3 guaranteed + 1 of surplus        |
    // | p    | cpus 4    | -         | (held back: headroom)                   |
    // | r    | -         | fr        | nothing: surplus 8 - (3 + 4) = 1 is gone |
    // Mem is guaranteed to nobody, so it comes along with fq's offer (as in Mesos).
    const a = allocator();
    a.addFramework('fr', { roles: ['r'] });
    a.addFramework('fq', { roles: ['q'] });
    a.setQuota('q', { guarantees: { cpus: 3 }, limits: {} });
    a.setQuota('p', { guarantees: { cpus: 4 }, limits: {} });
    a.addAgent('a1', { hostname: 'h1', total: res('cpus:8;mem:1024') });
    assert.deepEqual(summary(a.allocate(0)), ['fq@a1 q cpus:4;mem:1024']);
    // Without p's guarantee, fq's offer holds the whole agent.
    a.setQuota('p', undefined);
    a.recoverResources('fq', 'a1', res('cpus:4;mem:1024'));
    assert.deepEqual(summary(a.allocate(1000)), ['fq@a1 q cpus:8;mem:1024']);
  });

  it('holds back from other roles what unmet guarantees need (headroom)', () => {
    // Free: cpus 6 on two agents. q is guaranteed cpus 4 but has no framework yet, so the
    // required headroom is cpus 4 and role r may take only cpus 2 in all.
    const a = allocator();
    a.setQuota('q', { guarantees: { cpus: 4 }, limits: {} });
    a.addFramework('fr', { roles: ['r'] });
    a.addAgent('a1', { hostname: 'h1', total: res('cpus:3;mem:512') });
    a.addAgent('a2', { hostname: 'h2', total: res('cpus:3;mem:512') });
    const offers = a.allocate(0);
    assert.equal(
      offers.reduce((n, o) => n + scalarOf(o.resources, 'cpus'), 0),
      2,
    );
    assert.equal(
      offers.reduce((n, o) => n + scalarOf(o.resources, 'mem'), 0),
      1024,
    );
    // Once q's framework arrives it gets the cpus held for it.
    a.addFramework('fq', { roles: ['q'] });
    assert.equal(
      offeredTo(a.allocate(1000), 'fq').reduce((n, o) => n + scalarOf(o.resources, 'cpus'), 0),
      4,
    );
  });

  it('trims offers to a role limit, and offers nothing more once the limit is reached', () => {
    // | role | limit  | offered cpus |
    // | r    | cpus 3 | 3            |
    // | s    | -      | 5 (the rest) |
    const a = allocator();
    a.addFramework('fr', { roles: ['r'] });
    a.addFramework('fs', { roles: ['s'] });
    a.setQuota('r', { guarantees: {}, limits: { cpus: 3 } });
    a.addAgent('a1', { hostname: 'h1', total: res('cpus:8;mem:1024') });
    assert.deepEqual(summary(a.allocate(0)), ['fr@a1 r cpus:3;mem:1024', 'fs@a1 s cpus:5']);
    a.addAgent('a2', { hostname: 'h2', total: res('cpus:8;mem:1024') });
    // fr already holds cpus 3: only fs can take a2's cpus; fr is offered nothing (mem alone
    // would be allocatable, but fs has the lower share... both are checked below).
    const next = a.allocate(1000);
    assert.equal(
      offeredTo(next, 'fr').reduce((n, o) => n + scalarOf(o.resources, 'cpus'), 0),
      0,
    );
    assert.ok(offeredTo(next, 'fs').some((o) => scalarOf(o.resources, 'cpus') === 8));
  });

  it('counts unallocated reservations toward a guarantee, so no headroom is held for them', () => {
    // q is guaranteed cpus 4 and has cpus(q):4 reserved on a1: its guarantee is consumed by
    // the reservation, so role r may take all the unreserved cpus.
    const a = allocator();
    a.setQuota('q', { guarantees: { cpus: 4 }, limits: {} });
    a.addFramework('fr', { roles: ['r'] });
    a.addAgent('a1', { hostname: 'h1', total: res('cpus(q):4;cpus:2;mem:512') });
    a.addAgent('a2', { hostname: 'h2', total: res('cpus:3;mem:512') });
    assert.deepEqual(summary(a.allocate(0)), ['fr@a1 r cpus:2;mem:512', 'fr@a2 r cpus:3;mem:512']);
  });

  it('rejects a guarantee above its limit', () => {
    assert.throws(() => allocator().setQuota('q', { guarantees: { cpus: 4 }, limits: { cpus: 2 } }));
  });
});

// --- filters, suppression, activity -----------------------------------------------------------

describe('refuse filters and suppression', () => {
  it('keeps a declined agent from the framework until the filter ends', () => {
    const a = allocator();
    a.addFramework('f1', { roles: ['r'] });
    a.addAgent('a1', { hostname: 'h1', total: res('cpus:1;mem:64') });
    const first = a.allocate(1000);
    assert.equal(first.length, 1);
    declineAll(a, first, 5, 1000); // filtered until 6000
    assert.equal(a.stats().filters, 1);
    assert.deepEqual(a.allocate(2000), []);
    assert.deepEqual(a.allocate(5999), []);
    assert.deepEqual(summary(a.allocate(6000)), ['f1@a1 r cpus:1;mem:64']);
    assert.equal(a.stats().filters, 0);
  });

  it('filters only the declined agent, and only for the declining framework', () => {
    const a = allocator();
    a.addFramework('f1', { roles: ['r'] });
    a.addAgent('a1', { hostname: 'h1', total: res('cpus:1;mem:64') });
    a.addAgent('a2', { hostname: 'h2', total: res('cpus:1;mem:64') });
    const first = a.allocate(0);
    assert.equal(first.length, 2);
    declineAll(
      a,
      first.filter((o) => o.agentId === 'a1'),
      60,
      0,
    );
    declineAll(
      a,
      first.filter((o) => o.agentId === 'a2'),
      0,
      0,
    );
    assert.deepEqual(summary(a.allocate(1000)), ['f1@a2 r cpus:1;mem:64']);
    a.addFramework('f2', { roles: ['r'] });
    declineAll(a, a.allocate(2000), 0, 2000); // nothing is free: a2 is still offered to f1
    a.recoverResources('f1', 'a2', res('cpus:1;mem:64'));
    // f1 now holds nothing, f2 nothing: f1 has the lower seq but a1 is filtered for it.
    assert.deepEqual(summary(a.allocate(3000)), ['f1@a2 r cpus:1;mem:64', 'f2@a1 r cpus:1;mem:64']);
  });

  it('offers nothing to a suppressed role until revive, and revive clears filters', () => {
    const a = allocator();
    a.addFramework('f1', { roles: ['r'] });
    a.addFramework('f2', { roles: ['r'] });
    a.addAgent('a1', { hostname: 'h1', total: res('cpus:1;mem:64') });
    a.suppress('f1');
    assert.deepEqual(summary(a.allocate(0)), ['f2@a1 r cpus:1;mem:64']);
    declineAll(a, [{ frameworkId: 'f2', agentId: 'a1', role: 'r', resources: res('cpus:1;mem:64') }], 3600, 0);
    assert.deepEqual(a.allocate(1000), []); // f1 suppressed, f2 filtered
    a.revive('f1');
    assert.deepEqual(summary(a.allocate(2000)), ['f1@a1 r cpus:1;mem:64']);
    a.recoverResources('f1', 'a1', res('cpus:1;mem:64'), { refuseSeconds: 3600, nowMs: 2000 });
    assert.deepEqual(a.allocate(3000), []);
    a.revive('f2', ['r']);
    assert.deepEqual(summary(a.allocate(4000)), ['f2@a1 r cpus:1;mem:64']);
  });

  it('a removed agent takes its filters with it', () => {
    const a = allocator();
    a.addFramework('f1', { roles: ['r'] });
    a.addAgent('a1', { hostname: 'h1', total: res('cpus:1;mem:64') });
    declineAll(a, a.allocate(0), 3600, 0);
    assert.equal(a.stats().filters, 1);
    a.removeAgent('a1');
    assert.equal(a.stats().filters, 0);
    a.addAgent('a1', { hostname: 'h1', total: res('cpus:1;mem:64') });
    assert.deepEqual(summary(a.allocate(1000)), ['f1@a1 r cpus:1;mem:64']);
  });

  it('makes no offers from a deactivated agent or to a deactivated framework', () => {
    const a = allocator();
    a.addFramework('f1', { roles: ['r'] });
    a.addAgent('a1', { hostname: 'h1', total: res('cpus:1;mem:64'), active: false });
    assert.deepEqual(a.allocate(0), []);
    a.activateAgent('a1');
    a.deactivateFramework('f1');
    assert.deepEqual(a.allocate(1000), []);
    a.activateFramework('f1');
    assert.deepEqual(summary(a.allocate(2000)), ['f1@a1 r cpus:1;mem:64']);
    a.recoverResources('f1', 'a1', res('cpus:1;mem:64'));
    a.deactivateAgent('a1');
    assert.deepEqual(a.allocate(3000), []);
  });

  it('takes suppressed roles from updateFramework', () => {
    const a = allocator();
    a.addFramework('f1', { roles: ['r', 's'], suppressedRoles: ['r'] });
    a.addAgent('a1', { hostname: 'h1', total: res('cpus:1;mem:64') });
    assert.deepEqual(summary(a.allocate(0)), ['f1@a1 s cpus:1;mem:64']);
    a.recoverResources('f1', 'a1', res('cpus:1;mem:64'));
    a.updateFramework('f1', { roles: ['r', 's'], suppressedRoles: ['s'] });
    assert.deepEqual(summary(a.allocate(1000)), ['f1@a1 r cpus:1;mem:64']);
  });

  it('drops a filter of a role the framework leaves', () => {
    const a = allocator();
    a.addFramework('f1', { roles: ['r'] });
    a.addAgent('a1', { hostname: 'h1', total: res('cpus:1;mem:64') });
    declineAll(a, a.allocate(0), 3600, 0);
    a.updateFramework('f1', { roles: ['s'] });
    assert.equal(a.stats().filters, 0);
    assert.deepEqual(summary(a.allocate(1000)), ['f1@a1 s cpus:1;mem:64']);
    assert.deepEqual([...a.roles()], [['s', ['f1']]]);
  });
});

// --- reservations and accounting --------------------------------------------------------------

describe('reservations and accounting', () => {
  it('offers reserved resources only to their role, stamped with allocation_info', () => {
    // Agent: cpus(web):2;mem(web):64 reserved, cpus:1;mem:64 unreserved.
    // db goes first (lower seq, equal shares) and can use only the unreserved part.
    const a = allocator();
    a.addFramework('fdb', { roles: ['db'] });
    a.addFramework('fweb', { roles: ['web'] });
    a.addAgent('a1', { hostname: 'h1', total: res('cpus(web):2;mem(web):64;cpus:1;mem:64') });
    const offers = a.allocate(0);
    assert.deepEqual(summary(offers), ['fdb@a1 db cpus:1;mem:64', 'fweb@a1 web cpus(web):2;mem(web):64']);
    for (const o of offers) for (const r of o.resources) assert.equal(r.allocation_info?.role, o.role);
  });

  it('never offers resources reserved for another role, even when nobody else wants them', () => {
    const a = allocator();
    a.addFramework('fdb', { roles: ['db'] });
    a.addAgent('a1', { hostname: 'h1', total: res('cpus(web):2;mem(web):64') });
    assert.deepEqual(a.allocate(0), []);
  });

  it('counts offered resources as allocated until they are recovered', () => {
    const a = allocator();
    a.addFramework('f1', { roles: ['r'] });
    a.addAgent('a1', { hostname: 'h1', total: res('cpus:4;mem:256;ports:[31000-31009]') });
    const [offer] = a.allocate(0);
    assert.ok(offer);
    assert.equal(fmt(a.roleAllocation('r')), 'cpus:4;mem:256;ports:[31000-31009]');
    assert.deepEqual(a.allocate(1000), []);
    // A task used cpus 1, mem 64 and one port; the rest comes back.
    a.recoverResources(
      'f1',
      'a1',
      subtract(
        offer.resources,
        res('cpus:1;mem:64;ports:[31000-31000]').map((r) => ({ ...r, allocation_info: { role: 'r' } })),
      ),
    );
    assert.equal(fmt(a.roleAllocation('r')), 'cpus:1;mem:64;ports:[31000-31000]');
    assert.deepEqual(summary(a.allocate(2000)), ['f1@a1 r cpus:3;mem:192;ports:[31001-31009]']);
  });

  it('keeps its books straight across many allocations and partial recoveries on one agent', () => {
    const a = allocator();
    a.addFramework('f1', { roles: ['r'] });
    a.addAgent('a1', { hostname: 'h1', total: res('cpus:10;mem:1000') });
    for (let i = 0; i < 10; i++) a.addAllocation('f1', 'a1', 'r', res('cpus:1;mem:100'));
    assert.equal(fmt(a.roleAllocation('r')), 'cpus:10;mem:1000');
    assert.deepEqual(a.allocate(0), []);
    for (let i = 0; i < 5; i++) a.recoverResources('f1', 'a1', res('cpus:1;mem:100'));
    assert.equal(fmt(a.roleAllocation('r')), 'cpus:5;mem:500');
    const offers = a.allocate(1000);
    assert.deepEqual(summary(offers), ['f1@a1 r cpus:5;mem:500']);
    declineAll(a, offers, 0, 1000);
    assert.equal(fmt(a.roleAllocation('r')), 'cpus:5;mem:500');
    assert.deepEqual(summary(a.allocate(2000)), ['f1@a1 r cpus:5;mem:500']);
  });

  it('clamps a recovery to what the framework holds', () => {
    const a = allocator();
    a.addFramework('f1', { roles: ['r'] });
    a.addAgent('a1', { hostname: 'h1', total: res('cpus:4;mem:256') });
    a.allocate(0);
    a.recoverResources('f1', 'a1', res('cpus:40;mem:2560'));
    assert.deepEqual(a.roleAllocation('r'), []);
    assert.deepEqual(summary(a.allocate(1000)), ['f1@a1 r cpus:4;mem:256']);
  });

  it('forgets what frameworks held on a removed agent', () => {
    // Before: f1 holds all of a1 (cpus 8 of 10), f2 all of a2 (cpus 2 of 10).
    // After a1 goes: f1 holds nothing, so the new agent a3 goes to f1, not f2.
    const a = allocator();
    a.addFramework('f1', { roles: ['r'] });
    a.addFramework('f2', { roles: ['r'] });
    a.addAgent('a1', { hostname: 'h1', total: res('cpus:8;mem:64'), used: [{ frameworkId: 'f1', role: 'r', resources: res('cpus:8;mem:64') }] });
    a.addAgent('a2', { hostname: 'h2', total: res('cpus:2;mem:64'), used: [{ frameworkId: 'f2', role: 'r', resources: res('cpus:2;mem:64') }] });
    a.removeAgent('a1');
    a.addAgent('a3', { hostname: 'h3', total: res('cpus:2;mem:64') });
    assert.deepEqual(summary(a.allocate(0)), ['f1@a3 r cpus:2;mem:64']);
    assert.equal(fmt(a.roleAllocation('r')), 'cpus:4;mem:128');
  });

  it('gives a removed framework’s resources to the others', () => {
    const a = allocator();
    a.addFramework('f1', { roles: ['r'] });
    a.addAgent('a1', { hostname: 'h1', total: res('cpus:2;mem:128') });
    a.allocate(0);
    a.addFramework('f2', { roles: ['r'] });
    assert.deepEqual(a.allocate(1000), []);
    a.removeFramework('f1');
    assert.deepEqual(summary(a.allocate(2000)), ['f2@a1 r cpus:2;mem:128']);
    assert.deepEqual([...a.roles()], [['r', ['f2']]]);
  });

  it('tracks allocations recovered after a master restart, before the framework returns', () => {
    // The agent reregisters first, reporting what f1 runs; f1 is not known yet.
    const a = allocator();
    a.addFramework('f2', { roles: ['r'] });
    a.addAgent('a1', { hostname: 'h1', total: res('cpus:4;mem:256'), used: [{ frameworkId: 'f1', role: 'r', resources: res('cpus:3;mem:64') }] });
    a.addAllocation('f1', 'a1', 'r', res('mem:64'));
    assert.deepEqual(summary(a.allocate(0)), ['f2@a1 r cpus:1;mem:128']);
    assert.equal(a.stats().frameworks, 1);
    a.addFramework('f1', { roles: ['r'] });
    assert.equal(a.stats().frameworks, 2);
    a.removeFramework('f1');
    assert.deepEqual(summary(a.allocate(1000)), ['f2@a1 r cpus:3;mem:128']);
  });

  it('makes at most one offer per framework per agent per cycle', () => {
    // f1 is in roles a and b; the agent has resources reserved for each.
    const a = allocator();
    a.addFramework('f1', { roles: ['a', 'b'] });
    a.addAgent('a1', { hostname: 'h1', total: res('cpus(a):1;mem(a):64;cpus(b):1;mem(b):64') });
    const first = a.allocate(0);
    assert.equal(first.length, 1);
    const second = a.allocate(1000);
    assert.equal(second.length, 1);
    assert.notEqual(first[0]?.role, second[0]?.role);
  });

  it('does not offer leftovers too small to use (Mesos min allocatable: cpus 0.01 or mem 32)', () => {
    const a = allocator();
    a.addFramework('f1', { roles: ['r'] });
    a.addAgent('a1', {
      hostname: 'h1',
      total: res('cpus:1;mem:64;disk:100;ports:[1-10]'),
      used: [{ frameworkId: 'x', role: 'r', resources: res('cpus:1;mem:40') }],
    });
    assert.deepEqual(a.allocate(0), []);
  });

  it('reports its size', () => {
    const a = allocator();
    a.addFramework('f1', { roles: ['r', 's'] });
    a.addAgent('a1', { hostname: 'h1', total: res('cpus:1;mem:64') });
    a.allocate(0);
    a.allocate(1000);
    assert.deepEqual(a.stats(), { agents: 1, frameworks: 1, roles: 2, allocationRuns: 2, filters: 0 });
  });
});

// --- the incremental sort against a plain re-sorting model ------------------------------------

/**
 * A direct transcription of the DRF rules that recomputes and re-sorts every share for every
 * agent: slow, obviously right, and used to check the allocator's incremental bookkeeping.
 * Single-role frameworks, no quota.
 */
class ReferenceDrf {
  agents: { id: string; total: Resource[]; active: boolean }[] = [];
  frameworks: { id: string; role: string }[] = [];
  held = new Map<string, Resource[]>(); // `${fw}|${agent}`
  filters = new Map<string, number>();
  weights: Record<string, number> = {};

  constructor(private readonly random: Random) {}

  private all(pred: (fw: string, agent: string) => boolean): Resource[] {
    const out: Resource[] = [];
    for (const [k, rs] of this.held) {
      const [fw, agent] = k.split('|') as [string, string];
      if (pred(fw, agent)) out.push(...rs);
    }
    return normalize(out);
  }

  private free(agent: string): Resource[] {
    const a = this.agents.find((x) => x.id === agent) as { total: Resource[] };
    return subtract(
      a.total,
      this.all((_, ag) => ag === agent),
    );
  }

  private share(rs: Resource[]): number {
    const total = normalize(this.agents.flatMap((a) => a.total));
    let s = 0;
    for (const n of ['cpus', 'mem', 'disk', 'gpus']) {
      const t = scalarOf(total, n);
      if (t > 0) s = Math.max(s, scalarOf(rs, n) / t);
    }
    return s;
  }

  recover(fw: string, agent: string, rs: Resource[], refuseSeconds: number, nowMs: number): void {
    const k = `${fw}|${agent}`;
    const rest = subtract(this.held.get(k) ?? [], unallocated(rs));
    if (rest.length > 0) this.held.set(k, rest);
    else this.held.delete(k);
    if (refuseSeconds > 0) this.filters.set(k, nowMs + refuseSeconds * 1000);
  }

  allocate(nowMs: number): Allocation[] {
    const offers: Allocation[] = [];
    const order = this.agents.filter((a) => a.active && this.free(a.id).length > 0);
    this.random.shuffle(order);
    const frameworkShare = (fw: string) => this.share(this.all((f) => f === fw));
    for (const agent of order) {
      const roleNames = [...new Set(this.frameworks.map((f) => f.role))];
      const roleShare = (role: string) => this.share(this.all((f) => this.frameworks.find((x) => x.id === f)?.role === role)) / (this.weights[role] ?? 1);
      const firstSeen = (role: string) => this.frameworks.findIndex((f) => f.role === role);
      roleNames.sort((x, y) => roleShare(x) - roleShare(y) || firstSeen(x) - firstSeen(y));
      for (const role of roleNames) {
        const fws = this.frameworks.filter((f) => f.role === role);
        fws.sort((x, y) => frameworkShare(x.id) - frameworkShare(y.id) || this.frameworks.indexOf(x) - this.frameworks.indexOf(y));
        const fw = fws.find((f) => nowMs >= (this.filters.get(`${f.id}|${agent.id}`) ?? Number.NEGATIVE_INFINITY));
        if (fw === undefined) continue;
        const usable = usableBy(this.free(agent.id), role);
        if (scalarOf(usable, 'cpus') < 0.01 && scalarOf(usable, 'mem') < 32) continue;
        const k = `${fw.id}|${agent.id}`;
        this.held.set(k, normalize([...(this.held.get(k) ?? []), ...usable]));
        offers.push({ frameworkId: fw.id, agentId: agent.id, role, resources: usable });
      }
    }
    return offers;
  }
}

describe('incremental sorting', () => {
  it('makes the same offers as re-sorting every share for every agent', () => {
    const roleArb = fc.constantFrom('a', 'b', 'c');
    const agentArb = fc.record({
      cpus: fc.integer({ min: 1, max: 8 }),
      mem: fc.integer({ min: 0, max: 4 }).map((m) => m * 256),
      reservedCpus: fc.integer({ min: 0, max: 2 }),
      reservedRole: roleArb,
      active: fc.boolean(),
    });
    const scenario = fc.record({
      seed: fc.integer({ min: 0, max: 1000 }),
      agents: fc.array(agentArb, { minLength: 1, maxLength: 8 }),
      frameworks: fc.array(roleArb, { minLength: 1, maxLength: 5 }),
      weights: fc.record({ a: fc.constantFrom(1, 2, 3), b: fc.constantFrom(1, 2), c: fc.constantFrom(1, 0.5) }),
      // Per cycle and offer: 0 keep, 1 decline, 2 decline with a 2 s filter.
      declines: fc.array(fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 10, maxLength: 10 }), { minLength: 4, maxLength: 4 }),
    });
    fc.assert(
      fc.property(scenario, (sc) => {
        const real = allocator(sc.seed);
        const ref = new ReferenceDrf(new Random(sc.seed));
        real.setWeights(sc.weights);
        ref.weights = sc.weights;
        sc.frameworks.forEach((role, i) => {
          real.addFramework(`f${i}`, { roles: [role] });
          ref.frameworks.push({ id: `f${i}`, role });
        });
        sc.agents.forEach((ag, i) => {
          const text = `cpus:${ag.cpus};mem:${ag.mem}${ag.reservedCpus > 0 ? `;cpus(${ag.reservedRole}):${ag.reservedCpus}` : ''}`;
          real.addAgent(`a${i}`, { hostname: `h${i}`, total: res(text), active: ag.active });
          ref.agents.push({ id: `a${i}`, total: res(text), active: ag.active });
        });
        for (let cycle = 0; cycle < sc.declines.length; cycle++) {
          const nowMs = cycle * 1000;
          const got = real.allocate(nowMs);
          const want = ref.allocate(nowMs);
          assert.deepEqual(summary(got), summary(want));
          got.forEach((o, j) => {
            const d = sc.declines[cycle]?.[j % 10] ?? 0;
            if (d === 0) return;
            const refuseSeconds = d === 2 ? 2 : 0;
            real.recoverResources(o.frameworkId, o.agentId, o.resources, { refuseSeconds, nowMs });
            ref.recover(o.frameworkId, o.agentId, o.resources, refuseSeconds, nowMs);
          });
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('allocation over some agents', () => {
  it('a cycle given agent ids offers only those agents (unknown ids and repeats ignored); a full cycle then offers the rest', () => {
    const a = allocator();
    a.addFramework('f1', { roles: ['r'] });
    for (const id of ['a1', 'a2', 'a3']) a.addAgent(id, { hostname: id, total: res('cpus:2;mem:512') });
    assert.deepEqual(summary(a.allocate(0, ['a2', 'nope', 'a2'])), ['f1@a2 r cpus:2;mem:512']);
    assert.deepEqual(summary(a.allocate(0, [])), [], 'no agents named, nothing offered');
    assert.deepEqual(summary(a.allocate(0)), ['f1@a1 r cpus:2;mem:512', 'f1@a3 r cpus:2;mem:512']);
  });

  it('DRF order holds within the agents named', () => {
    const a = allocator();
    a.addFramework('f1', { roles: ['r'] });
    a.addFramework('f2', { roles: ['r'] });
    a.addAgent('a1', { hostname: 'h1', total: res('cpus:4;mem:512'), used: [{ frameworkId: 'f1', role: 'r', resources: res('cpus:4;mem:512') }] });
    a.addAgent('a2', { hostname: 'h2', total: res('cpus:4;mem:512') });
    a.addAgent('a3', { hostname: 'h3', total: res('cpus:4;mem:512') });
    // f1 holds a1: f2, with nothing, gets the agent named.
    assert.deepEqual(summary(a.allocate(0, ['a3'])), ['f2@a3 r cpus:4;mem:512']);
  });
});
