import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Resource } from '../../model/mesos.js';
import { type App, backoffDelayMs, runtimeKey, validateApp } from './app.js';
import { type AgentFacts, failedConstraint } from './constraints.js';
import { planDeployment, rollingStep } from './deployment.js';
import { appIdOfTask, resolvePath, safePath, taskName } from './path.js';
import { matchOffer, neverPlaceable } from './placement.js';
import { isoTime, parseIsoTime } from './time.js';

const NOW = '2026-01-01T00:00:00.000Z';
const app = (over: Record<string, unknown> = {}): App => {
  const v = validateApp({ id: '/web', cmd: 'sleep 1000', ...over }, NOW);
  if (!v.ok) throw new Error(JSON.stringify(v.details));
  return v.app;
};
const host = (hostname: string, attributes: Record<string, string> = {}): AgentFacts => ({ hostname, attributes });
const offer = (cpus = 4, mem = 4096, ports: [number, number] = [31000, 31010]): Resource[] => [
  { name: 'cpus', type: 'SCALAR', scalar: { value: cpus } },
  { name: 'mem', type: 'SCALAR', scalar: { value: mem } },
  { name: 'disk', type: 'SCALAR', scalar: { value: 1000 } },
  { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: ports[0], end: ports[1] }] } },
];

describe('app definitions', () => {
  test('a minimal app gets every Marathon default', () => {
    const a = app();
    assert.equal(a.instances, 1);
    assert.equal(a.cpus, 1);
    assert.equal(a.mem, 128);
    assert.equal(a.disk, 0);
    assert.equal(a.gpus, 0);
    assert.deepEqual(a.upgradeStrategy, { minimumHealthCapacity: 1, maximumOverCapacity: 1 });
    assert.deepEqual(a.unreachableStrategy, { inactiveAfterSeconds: 0, expungeAfterSeconds: 0 });
    assert.equal(a.killSelection, 'YOUNGEST_FIRST');
    assert.equal(a.backoffSeconds, 1);
    assert.equal(a.backoffFactor, 1.15);
    assert.equal(a.maxLaunchDelaySeconds, 300);
    assert.deepEqual(a.portDefinitions, [{ port: 0, protocol: 'tcp', name: 'default' }]);
    assert.deepEqual(a.networks, [{ mode: 'host' }]);
    assert.equal(a.requirePorts, false);
    assert.deepEqual(a.constraints, []);
    assert.equal(a.version, NOW);
  });

  test('every bad field is reported with its JSON path', () => {
    const v = validateApp(
      { id: '/Bad_Id', cmd: 'x', cpus: -1, mem: 'lots', instances: 1.5, constraints: [['hostname', 'NEAR']], upgradeStrategy: { minimumHealthCapacity: 2 } },
      NOW,
    );
    assert.equal(v.ok, false);
    if (v.ok) return;
    const paths = v.details.map((d) => d.path).sort();
    assert.deepEqual(paths, ['/constraints(0)', '/cpus', '/id', '/instances', '/mem', '/upgradeStrategy/minimumHealthCapacity']);
    assert.deepEqual(v.details.find((d) => d.path === '/upgradeStrategy/minimumHealthCapacity')?.errors, ['is greater than 1']);
  });

  test('bad health and readiness checks are reported by path; two Mesos-level health checks are refused', () => {
    const v = validateApp(
      {
        id: '/a',
        cmd: 'x',
        healthChecks: [{ protocol: 'MESOS_HTTP', intervalSeconds: 0 }, { protocol: 'COMMAND', command: { value: 'true' } }, { protocol: 'PING' }],
        readinessChecks: [{ portName: 'nope', intervalSeconds: 5, timeoutSeconds: 5, httpStatusCodesForReady: [] }],
      },
      NOW,
    );
    assert.equal(v.ok, false);
    if (v.ok) return;
    const by = Object.fromEntries(v.details.map((d) => [d.path, d.errors]));
    assert.deepEqual(Object.keys(by).sort(), [
      '/',
      '/healthChecks(0)/intervalSeconds',
      '/healthChecks(2)/protocol',
      '/readinessChecks(0)/httpStatusCodesForReady',
      '/readinessChecks(0)/portName',
      '/readinessChecks(0)/timeoutSeconds',
    ]);
    assert.deepEqual(by['/'], ['AppDefinition can contain at most one Mesos health check']);
    assert.deepEqual(by['/readinessChecks(0)/portName'], ['Must be one of the port names: [default]']);
  });

  test('readiness checks get Marathon defaults', () => {
    const a = app({ portDefinitions: [{ port: 0, name: 'http-api' }], readinessChecks: [{}] });
    assert.deepEqual(a.readinessChecks, [
      {
        name: 'readinessCheck',
        protocol: 'HTTP',
        path: '/',
        portName: 'http-api',
        intervalSeconds: 30,
        timeoutSeconds: 10,
        httpStatusCodesForReady: [200],
        preserveLastResponse: false,
      },
    ]);
  });

  test('cmd and args together are invalid, and so is neither without an image', () => {
    assert.equal(validateApp({ id: '/a', cmd: 'x', args: ['y'] }, NOW).ok, false);
    assert.equal(validateApp({ id: '/a' }, NOW).ok, false);
    assert.equal(validateApp({ id: '/a', container: { type: 'DOCKER', docker: { image: 'nginx' } } }, NOW).ok, true);
  });

  test('relative ids resolve against the base; names and task ids follow Marathon', () => {
    assert.equal(resolvePath('b/../c', '/a'), '/a/c');
    assert.equal(resolvePath('//x//y'), '/x/y');
    assert.equal(safePath('/my-group/my-app'), 'my-group_my-app');
    assert.equal(taskName('/my-group/my-app'), 'my-app.my-group');
    assert.equal(appIdOfTask('g_app.instance-0b5c8f2e-1111-4222-8333-444455556666._app.1'), '/g/app');
  });

  test('labels or instances alone leave the runtime key unchanged; cmd changes it', () => {
    const a = app();
    assert.equal(runtimeKey(a), runtimeKey({ ...a, instances: 5, labels: { x: 'y' } }));
    assert.notEqual(runtimeKey(a), runtimeKey({ ...a, cmd: 'sleep 2' }));
  });

  test('backoff grows by backoffFactor and stops at maxLaunchDelaySeconds', () => {
    const a = { backoffSeconds: 1, backoffFactor: 2, maxLaunchDelaySeconds: 10 };
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 6].map((n) => backoffDelayMs(a, n)),
      [0, 1000, 2000, 4000, 8000, 10000, 10000],
    );
  });

  test('ISO timestamps round-trip without the ambient Date', () => {
    for (const ms of [0, 1_700_000_000_123, 951_782_400_000 /* 2000-02-29 */]) {
      assert.equal(isoTime(ms), new Date(ms).toISOString());
      assert.equal(parseIsoTime(isoTime(ms)), ms);
    }
  });
});

describe('constraints', () => {
  const a1 = host('a1', { rack: 'r1' });
  const a2 = host('a2', { rack: 'r2' });
  const a3 = host('a3', {});
  test('UNIQUE hostname refuses an agent that already runs a task', () => {
    assert.ok(failedConstraint([['hostname', 'UNIQUE']], a1, [a1]));
    assert.equal(failedConstraint([['hostname', 'UNIQUE']], a2, [a1]), undefined);
  });
  test('CLUSTER with a value pins; without one follows the first task', () => {
    assert.ok(failedConstraint([['rack', 'CLUSTER', 'r2']], a1, []));
    assert.equal(failedConstraint([['rack', 'CLUSTER']], a1, []), undefined);
    assert.ok(failedConstraint([['rack', 'CLUSTER']], a2, [a1]));
  });
  test('GROUP_BY places on the least used value', () => {
    assert.ok(failedConstraint([['rack', 'GROUP_BY', '2']], a1, [a1]));
    assert.equal(failedConstraint([['rack', 'GROUP_BY', '2']], a2, [a1]), undefined);
    assert.equal(failedConstraint([['rack', 'GROUP_BY', '2']], a1, [a1, a2]), undefined);
  });
  test('LIKE and UNLIKE fully match; a missing attribute passes only UNLIKE', () => {
    assert.equal(failedConstraint([['rack', 'LIKE', 'r[12]']], a1, []), undefined);
    assert.ok(failedConstraint([['rack', 'LIKE', 'r']], a1, []));
    assert.ok(failedConstraint([['rack', 'LIKE', '.*']], a3, []));
    assert.equal(failedConstraint([['rack', 'UNLIKE', 'r1']], a3, []), undefined);
    assert.ok(failedConstraint([['rack', 'UNLIKE', 'r1']], a1, []));
  });
  test('MAX_PER allows n per value; IS compares text and numbers', () => {
    assert.equal(failedConstraint([['rack', 'MAX_PER', '2']], a1, [a1]), undefined);
    assert.ok(failedConstraint([['rack', 'MAX_PER', '2']], a1, [a1, a1]));
    assert.equal(failedConstraint([['cores', 'IS', '8']], host('x', { cores: '8.0' }), []), undefined);
    assert.ok(failedConstraint([['rack', 'IS', 'r2']], a1, []));
  });
  test('@region and @zone read the agent fault domain; an agent without one fails them', () => {
    const at = (hostname: string, region: string, zone: string): AgentFacts => ({ hostname, attributes: {}, region, zone });
    const e1 = at('e1', 'us-east', 'us-east-1a');
    const e2 = at('e2', 'us-east', 'us-east-1b');
    const w1 = at('w1', 'eu-west', 'eu-west-1a');
    assert.equal(failedConstraint([['@region', 'IS', 'us-east']], e1, []), undefined);
    assert.ok(failedConstraint([['@region', 'IS', 'us-east']], w1, []));
    assert.ok(failedConstraint([['@region', 'IS', 'us-east']], a1, []), 'no fault domain');
    assert.equal(failedConstraint([['@region', 'LIKE', 'us-.*']], e2, []), undefined);
    assert.ok(failedConstraint([['@region', 'LIKE', 'us-.*']], w1, []));
    assert.ok(failedConstraint([['@zone', 'UNIQUE']], at('e3', 'us-east', 'us-east-1a'), [e1]), 'one task per zone');
    assert.equal(failedConstraint([['@zone', 'UNIQUE']], e2, [e1]), undefined);
    assert.ok(failedConstraint([['@zone', 'GROUP_BY', '2']], e1, [e1]));
    assert.equal(failedConstraint([['@zone', 'GROUP_BY', '2']], e2, [e1]), undefined);
    assert.ok(failedConstraint([['@region', 'CLUSTER']], w1, [e1]), 'CLUSTER follows the first task');
    assert.equal(failedConstraint([['@region', 'MAX_PER', '2']], e2, [e1]), undefined);
    assert.ok(failedConstraint([['@region', 'MAX_PER', '2']], e2, [e1, e2]));
  });
});

describe('placement', () => {
  test('a task that fits gets its resources and host ports from the offer', () => {
    const m = matchOffer(app({ cpus: 0.5, mem: 64, portDefinitions: [{ port: 0 }, { port: 0 }] }), offer(), host('a1'), []);
    assert.ok(m.ok);
    if (!m.ok) return;
    assert.deepEqual(m.hostPorts, [31000, 31001]);
  });
  test('the first missing resource is the reason', () => {
    const r = (over: Record<string, unknown>, o = offer()) => {
      const m = matchOffer(app(over), o, host('a1'), []);
      return m.ok ? 'ok' : m.reason;
    };
    assert.equal(r({ cpus: 8 }), 'InsufficientCpus');
    assert.equal(r({ cpus: 1, mem: 9000 }), 'InsufficientMemory');
    assert.equal(r({ cpus: 1, disk: 5000 }), 'InsufficientDisk');
    assert.equal(r({ cpus: 1, portDefinitions: [{ port: 0 }, { port: 0 }] }, offer(4, 4096, [31000, 31000])), 'InsufficientPorts');
    assert.equal(r({ cpus: 1, constraints: [['rack', 'IS', 'x']] }), 'UnfulfilledConstraint');
    assert.equal(r({ cpus: 1, acceptedResourceRoles: ['slave_public'] }), 'UnfulfilledRole');
  });
  test('requirePorts takes exactly the declared ports', () => {
    const m = matchOffer(app({ requirePorts: true, portDefinitions: [{ port: 31005 }] }), offer(), host('a1'), []);
    assert.ok(m.ok && m.hostPorts[0] === 31005);
    assert.equal(matchOffer(app({ requirePorts: true, portDefinitions: [{ port: 80 }] }), offer(), host('a1'), []).ok, false);
  });
  test('an app bigger than every agent, or constrained away from all, can never be placed', () => {
    const agents = [{ facts: host('a1', { rack: 'r1' }), cpus: 4, mem: 4096, disk: 1000, gpus: 0 }];
    assert.match(neverPlaceable(app({ cpus: 64 }), agents) ?? '', /cpus/);
    assert.match(neverPlaceable(app({ cpus: 1, constraints: [['rack', 'LIKE', 'r9']] }), agents) ?? '', /constraint/);
    assert.equal(neverPlaceable(app({ cpus: 1 }), agents), undefined);
  });
});

describe('deployment planner', () => {
  test('a new app is started then scaled; a removed app stopped; labels alone do nothing', () => {
    const a = app();
    const steps = planDeployment(new Map(), new Map([[a.id, a]]));
    assert.deepEqual(steps, [{ actions: [{ action: 'StartApplication', app: '/web' }] }, { actions: [{ action: 'ScaleApplication', app: '/web' }] }]);
    assert.deepEqual(planDeployment(new Map([[a.id, a]]), new Map()), [{ actions: [{ action: 'StopApplication', app: '/web' }] }]);
    assert.deepEqual(planDeployment(new Map([[a.id, a]]), new Map([[a.id, { ...a, labels: { x: '1' } }]])), []);
    assert.deepEqual(planDeployment(new Map([[a.id, a]]), new Map([[a.id, { ...a, cmd: 'sleep 5' }]])), [
      { actions: [{ action: 'RestartApplication', app: '/web' }] },
    ]);
  });
  test('dependencies start first and stop last', () => {
    const db = app({ id: '/db' });
    const web = app({ id: '/web', dependencies: ['/db'] });
    const up = planDeployment(
      new Map(),
      new Map([
        [db.id, db],
        [web.id, web],
      ]),
    );
    assert.deepEqual(
      up.map((s) => s.actions.map((x) => `${x.action}:${x.app}`)),
      [['StartApplication:/db'], ['ScaleApplication:/db'], ['StartApplication:/web'], ['ScaleApplication:/web']],
    );
    const down = planDeployment(
      new Map([
        [db.id, db],
        [web.id, web],
      ]),
      new Map(),
    );
    assert.deepEqual(
      down.map((s) => s.actions.map((x) => x.app)),
      [['/web'], ['/db']],
    );
  });
  test('rolling restart with minimumHealthCapacity 1 starts new tasks before killing old ones', () => {
    const base = { instances: 3, minimumHealthCapacity: 1, maximumOverCapacity: 1 };
    assert.deepEqual(rollingStep({ ...base, old: 3, oldHealthy: 3, fresh: 0, freshHealthy: 0 }), { start: 3, killOld: 0, killFresh: 0 });
    assert.deepEqual(rollingStep({ ...base, old: 3, oldHealthy: 3, fresh: 3, freshHealthy: 1 }), { start: 0, killOld: 1, killFresh: 0 });
    assert.deepEqual(rollingStep({ ...base, old: 1, oldHealthy: 1, fresh: 3, freshHealthy: 3 }), { start: 0, killOld: 1, killFresh: 0 });
  });
  test('minimumHealthCapacity 0 kills everything old at once; 0.5 keeps half', () => {
    assert.equal(rollingStep({ instances: 4, old: 4, oldHealthy: 4, fresh: 0, freshHealthy: 0, minimumHealthCapacity: 0, maximumOverCapacity: 0 }).killOld, 4);
    assert.equal(
      rollingStep({ instances: 4, old: 4, oldHealthy: 4, fresh: 0, freshHealthy: 0, minimumHealthCapacity: 0.5, maximumOverCapacity: 0 }).killOld,
      2,
    );
  });
  test('with no room at all (1, 0) one old task is killed to make progress', () => {
    assert.deepEqual(rollingStep({ instances: 2, old: 2, oldHealthy: 2, fresh: 0, freshHealthy: 0, minimumHealthCapacity: 1, maximumOverCapacity: 0 }), {
      start: 0,
      killOld: 1,
      killFresh: 0,
    });
  });
  test('a forced scale-down in the middle of a rolling restart sheds old tasks down to the new over-capacity bound (sim seed 50)', () => {
    // 3 instances restarting (min 1, over 0.5): 2 old healthy tasks and 2 new staging ones are
    // live when a forced change scales the app to 2, whose bound is 2 + floor(2 × 0.5) = 3.
    const step = rollingStep({ instances: 2, old: 2, oldHealthy: 2, fresh: 2, freshHealthy: 0, minimumHealthCapacity: 1, maximumOverCapacity: 0.5 });
    assert.deepEqual(step, { start: 0, killOld: 1, killFresh: 0 });
    // The same with 3 new tasks: the surplus new one goes, then old ones down to the bound.
    assert.deepEqual(rollingStep({ instances: 2, old: 2, oldHealthy: 2, fresh: 3, freshHealthy: 1, minimumHealthCapacity: 1, maximumOverCapacity: 0.5 }), {
      start: 0,
      killOld: 1,
      killFresh: 1,
    });
  });
  test('after any step the live tasks fit instances + floor(instances × maximumOverCapacity)', () => {
    for (const instances of [1, 2, 3, 5])
      for (const [minimumHealthCapacity, maximumOverCapacity] of [
        [1, 0.5],
        [1, 0],
        [0.5, 0],
        [0.5, 1],
        [0, 0],
        [1, 1],
      ] as const)
        for (let old = 0; old <= 8; old++)
          for (let oldHealthy = 0; oldHealthy <= old; oldHealthy++)
            for (let fresh = 0; fresh <= 8; fresh++)
              for (let freshHealthy = 0; freshHealthy <= fresh; freshHealthy++) {
                const input = { instances, old, oldHealthy, fresh, freshHealthy, minimumHealthCapacity, maximumOverCapacity };
                const s = rollingStep(input);
                const maxLive = instances + Math.floor(instances * maximumOverCapacity + 1e-9);
                const live = old - s.killOld + fresh - s.killFresh + s.start;
                assert.ok(live <= maxLive, `${JSON.stringify(input)} -> ${JSON.stringify(s)}: ${live} live, bound ${maxLive}`);
                assert.ok(s.killOld <= old && s.killFresh <= fresh && s.start >= 0, JSON.stringify({ input, s }));
              }
  });
  test('scaling down kills surplus fresh tasks and starts none', () => {
    assert.deepEqual(rollingStep({ instances: 1, old: 0, oldHealthy: 0, fresh: 3, freshHealthy: 3, minimumHealthCapacity: 1, maximumOverCapacity: 1 }), {
      start: 0,
      killOld: 0,
      killFresh: 2,
    });
  });
});
