/**
 * The deterministic simulator (src/sim): the real master over virtual time, a faulty network and
 * protocol-level agents and schedulers. A bounded batch of seeds with every fault must hold every
 * invariant and converge; one seed run twice must give the same trace digest; and bugs injected
 * on purpose must be caught, so the checker is known to be able to fail.
 *
 * No master bug the simulator found is open, so the batch runs plainly; the seeds that found the
 * last ones run as regression tests, with the fault kinds of the day they were found (a new kind
 * draws from the seed's random stream and would make them other runs).
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, test } from 'node:test';
import { Random } from '../src/base/random.js';
import { SimClock } from '../src/sim/clock.js';
import { DEFAULT_SIM_OPTIONS, runSimulation, SimCluster, type SimOptions } from '../src/sim/cluster.js';
import { FAULT_KINDS, parseFaults } from '../src/sim/faults.js';
import { CLEAN_LINKS, SimNetwork } from '../src/sim/network.js';
import { Trace } from '../src/sim/trace.js';

const ALL = new Set(FAULT_KINDS);
/**
 * The fault kinds of the day seeds 5, 9, 29, 46, 94 and 102 found their bugs: all but the OOM
 * kill and the Marathon crash (which also brings Marathon into the run), added later.
 */
const BEFORE_OOM = new Set(FAULT_KINDS.filter((k) => k !== 'container-oom' && k !== 'marathon-crash'));
const wall = (): number => performance.now();
const small: Partial<SimOptions> = { agents: 30, frameworks: 2, minutes: 12, faults: ALL, log: () => {} };

describe('SimClock', () => {
  test('fires timers in (time, insertion) order and never reads the wall clock', async () => {
    const clock = new SimClock(0);
    const order: string[] = [];
    clock.setTimer(10, () => order.push('b'));
    clock.setTimer(5, () => order.push('a'));
    clock.setTimer(10, () => order.push('c'));
    const every = clock.setInterval(4, () => order.push(`i${clock.nowMs()}`));
    clock.setTimer(9, () => every.cancel());
    await clock.runUntil(20);
    assert.deepEqual(order, ['i4', 'a', 'i8', 'b', 'c']);
    assert.equal(clock.nowMs(), 20);
  });

  test('runs deferred work and pending microtasks before virtual time moves', async () => {
    const clock = new SimClock(0);
    const seen: number[] = [];
    clock.setTimer(1, () => {
      clock.defer(() => {
        void Promise.resolve().then(() => seen.push(clock.nowMs()));
      });
    });
    clock.setTimer(2, () => seen.push(clock.nowMs()));
    await clock.runUntil(5);
    assert.deepEqual(seen, [1, 2]);
  });
});

describe('SimNetwork', () => {
  test('a stream stays FIFO under random delays and holds events through a partition', async () => {
    const clock = new SimClock(0);
    const net = new SimNetwork(clock, new Random(7), new Trace(() => clock.nowMs()), { ...CLEAN_LINKS, delayMinMs: 1, delayMaxMs: 500 });
    net.setEndpoint('master', true);
    const s = net.openStream<number>('master', 'a', 'test');
    const got: number[] = [];
    s.attach(
      (n) => got.push(n),
      () => {},
    );
    for (let i = 0; i < 50; i++) clock.setTimer(i * 7, () => s.send(i));
    clock.setTimer(100, () => net.isolate('a'));
    await clock.runUntil(2000);
    const beforeHeal = got.length;
    assert.ok(beforeHeal < 50, 'events wait while partitioned');
    net.heal('a');
    await clock.runUntil(4000);
    assert.deepEqual(
      got,
      Array.from({ length: 50 }, (_, i) => i),
    );
  });

  test('a dropped reply times the caller out although the request ran', async () => {
    const clock = new SimClock(0);
    const net = new SimNetwork(clock, new Random(1), new Trace(() => clock.nowMs()), { ...CLEAN_LINKS, dropRate: 1 });
    net.setEndpoint('master', true);
    let ran = 0;
    const p = net.request('a', 'master', 'X', async () => ++ran);
    await assert.rejects(clock.drive(p), /timed out/);
    assert.equal(ran, 0, 'with every message dropped the request never arrives');
  });
});

describe('simulation', () => {
  test('a batch of seeds with every fault holds all invariants and converges, Marathon and its apps included', async () => {
    // `--faults all` brings the real Marathon with 3 apps × 3 instances (constraints, HTTP health
    // checks, user scales and restarts while faults are on, Marathon crashes).
    const seeds = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
    let marathonCrashes = 0;
    let marathonDeployments = 0;
    for (const seed of seeds) {
      const r = await runSimulation({ ...small, seed }, wall);
      assert.ok(r.ok, `seed ${seed} failed at step ${r.failedStep}: ${r.violations.map((v) => `[${v.invariant}] ${v.message}`).join('; ')}`);
      assert.ok(r.convergedAfterMs !== undefined, `seed ${seed} did not converge`);
      assert.ok(Object.keys(r.faults).length >= 3, `seed ${seed} injected too few kinds of faults: ${JSON.stringify(r.faults)}`);
      assert.ok(r.stats.tasksLaunchedOnAgents! > 0 && r.stats.statusUpdatesAcked! > 0);
      assert.ok(r.stats.marathonTasksLaunched! >= 9, `seed ${seed}: Marathon launched ${r.stats.marathonTasksLaunched} tasks`);
      marathonCrashes += r.faults['marathon-crash'] ?? 0;
      marathonDeployments += r.stats.marathonDeploymentsSucceeded!;
    }
    assert.ok(marathonCrashes > 0, 'Marathon crashed in some run');
    assert.ok(marathonDeployments > seeds.length * 3, `${marathonDeployments} deployments finished`);
  });

  test('Marathon restarted from its store re-subscribes as the same framework and brings its apps back after master crashes', async () => {
    const faults = parseFaults('marathon-crash,master-crash,agent-crash,partition');
    assert.ok(typeof faults !== 'string');
    // Seed 5: five Marathon crashes and three master crashes.
    const cluster = new SimCluster({ ...DEFAULT_SIM_OPTIONS, ...small, seed: 5, minutes: 12, faults });
    const r = await cluster.run(wall);
    assert.ok(r.ok, `failed at step ${r.failedStep}: ${r.violations.map((v) => `[${v.invariant}] ${v.message}`).join('; ')}`);
    assert.ok(r.faults['marathon-crash']! > 0 && r.faults['master-crash']! > 0, JSON.stringify(r.faults));
    assert.equal(r.stats.marathonIncarnations, r.faults['marathon-crash']! + 1);
    const master = cluster.host.master!;
    const marathons = [...master.frameworks.values()].filter((f) => f.info.name === 'marathon');
    assert.equal(marathons.length, 1, 'one framework: every incarnation re-subscribed with the stored id');
    assert.equal(marathons[0]!.id, cluster.marathon!.marathon!.frameworkId);
    const running = [...marathons[0]!.tasks.values()].filter((t) => t.task.state === 'TASK_RUNNING').length;
    const declared = [...cluster.marathon!.marathon!.apps.values()].reduce((n, a) => n + a.instances, 0);
    assert.ok(declared >= 3, `declared ${declared}`);
    assert.equal(running, declared, 'the master runs what the apps declare');
  });

  test('a Marathon that never hears of its tasks ending is caught (convergence names the app)', async () => {
    const r = await runSimulation({ ...small, seed: 1, bug: 'marathon-miss-terminal-updates' }, wall);
    assert.equal(r.ok, false);
    const v = r.violations[0];
    assert.equal(v?.invariant, 'convergence');
    assert.match(v?.message ?? '', /marathon (deployment|runs|task)/);
  });

  test('a delayed or duplicated REREGISTER cannot replace a newer task list (seeds that found it)', async () => {
    // Before 96d3b13 each of these lost an acknowledged update (update-lost) or left a task unaccounted.
    for (const seed of [5, 9, 29, 46]) {
      const r = await runSimulation({ ...small, seed, agents: 60, frameworks: 3, minutes: 20, faults: BEFORE_OOM }, wall);
      assert.ok(r.ok, `seed ${seed} failed at step ${r.failedStep}: ${r.violations.map((v) => `[${v.invariant}] ${v.message}`).join('; ')}`);
      assert.ok(r.convergedAfterMs !== undefined, `seed ${seed} did not converge`);
    }
  });

  test('an acknowledged update is never resent after its successor, and a stray kill reaches its agent (seeds that found them)', async () => {
    // Seed 94 failed update-order at step 3668: the master forwarded TASK_RUNNING before storing
    // it, crashed, and the next master resent TASK_STARTING after it (fixed by the stored-head
    // rule, docs/agent-protocol.md "Status update order"). Seed 102 did not converge: the kill for
    // a task its framework had been told was lost went on the command stream of a duplicated
    // SUBSCRIBE that never reached the agent (fixed by AgentRecord.strayKills). With the fixes the
    // master's timing changed, so these runs now take other paths (94 still crashes the master four
    // times, 102 not at all): src/services/master/master.test.ts pins both mechanisms.
    for (const seed of [94, 102]) {
      const r = await runSimulation({ ...small, seed, agents: 60, frameworks: 3, minutes: 20, faults: BEFORE_OOM }, wall);
      assert.ok(r.ok, `seed ${seed} failed at step ${r.failedStep}: ${r.violations.map((v) => `[${v.invariant}] ${v.message}`).join('; ')}`);
      assert.ok(r.convergedAfterMs !== undefined, `seed ${seed} did not converge`);
    }
  });

  test('a container the OOM killer ends reaches its framework as TASK_FAILED with the memory reason', async () => {
    const faults = parseFaults('container-oom,agent-crash,master-crash');
    assert.ok(typeof faults !== 'string');
    const r = await runSimulation({ ...small, seed: 7, minutes: 8, faults }, wall);
    assert.ok(r.ok, `failed at step ${r.failedStep}: ${r.violations.map((v) => `[${v.invariant}] ${v.message}`).join('; ')}`);
    assert.ok((r.faults['container-oom'] ?? 0) > 0 && r.stats.oomKillsReported! > 0, JSON.stringify({ faults: r.faults, stats: r.stats }));
  });

  test('a runtime that does not say the OOM killer ended a container is caught', async () => {
    const faults = parseFaults('container-oom');
    assert.ok(typeof faults !== 'string');
    const r = await runSimulation({ ...small, seed: 3, minutes: 6, faults, bug: 'runtime-forget-oom' }, wall);
    assert.equal(r.ok, false);
    assert.equal(r.violations[0]?.invariant, 'oom-reason');
    assert.match(r.violations[0]?.message ?? '', /TASK_FAILED \(no reason/);
  });

  test('the same seed gives the same run, event for event', async () => {
    const a = await runSimulation({ ...small, seed: 11, minutes: 8 }, wall);
    const b = await runSimulation({ ...small, seed: 11, minutes: 8 }, wall);
    const c = await runSimulation({ ...small, seed: 12, minutes: 8 }, wall);
    assert.equal(a.digest, b.digest);
    assert.equal(a.traceLines, b.traceLines);
    assert.equal(a.events, b.events);
    assert.notEqual(a.digest, c.digest, 'another seed is another run');
  });

  test('an agent that reorders its status updates is caught', async () => {
    const r = await runSimulation({ ...small, seed: 3, minutes: 6, faults: new Set(), bug: 'agent-reorder-updates' }, wall);
    assert.equal(r.ok, false);
    assert.equal(r.violations[0]?.invariant, 'update-order');
    assert.match(r.violations[0]?.message ?? '', /received update #0 \(TASK_STARTING\) .* after update #1/);
  });

  test('a broken capacity check fails the run, and the failure names seed, step and invariant', async () => {
    const r = await runSimulation({ ...small, seed: 5, minutes: 6, faults: new Set(), bug: 'checker-broken-capacity' }, wall);
    assert.equal(r.ok, false);
    assert.ok(r.failedStep !== undefined && r.failedStep > 0);
    assert.equal(r.violations[0]?.invariant, 'no-oversubscription');
  });

  test('an agent that never reports a crashed container keeps the system from converging', async () => {
    const faults = parseFaults('container-crash');
    assert.ok(typeof faults !== 'string');
    const r = await runSimulation({ ...small, seed: 4, minutes: 10, faults, bug: 'agent-forget-failure' }, wall);
    assert.equal(r.ok, false);
    assert.equal(r.violations[0]?.invariant, 'convergence');
  });
});
