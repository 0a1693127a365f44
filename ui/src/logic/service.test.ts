import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  emptyForm,
  errorsByField,
  fieldOf,
  formFromJson,
  jsonErrorOffset,
  jsonFromForm,
  parseDefinition,
  readMarathonError,
  validateDefinition,
} from './app-form.js';
import { VERSION_NOISE, diffJson } from './diff.js';
import { groupTree, queueByApp, tasksOfApp } from './services.js';
import { healthShown, serviceHealth, serviceStatus, stuckReason } from './status.js';
import { SUSPENDED_LABEL, parseInstances, resumeCount, resumePatch, suspendPatch } from './suspend.js';

describe('version diff', () => {
  test('reports changed, added and removed fields by JSON path, in document order', () => {
    const a = { id: '/web', cmd: 'a', env: { A: '1', B: '2' }, instances: 1 };
    const b = { id: '/web', cmd: 'b', env: { A: '1', C: '3' }, instances: 1, mem: 64 };
    assert.deepEqual(diffJson(a, b), [
      { kind: 'changed', path: '/cmd', before: 'a', after: 'b' },
      { kind: 'removed', path: '/env/B', before: '2' },
      { kind: 'added', path: '/env/C', after: '3' },
      { kind: 'added', path: '/mem', after: 64 },
    ]);
  });

  test('compares arrays by index and shows a longer tail as added', () => {
    const a = { portDefinitions: [{ port: 80 }] };
    const b = { portDefinitions: [{ port: 8080 }, { port: 0, name: 'x' }] };
    assert.deepEqual(diffJson(a, b), [
      { kind: 'changed', path: '/portDefinitions/0/port', before: 80, after: 8080 },
      { kind: 'added', path: '/portDefinitions/1', after: { port: 0, name: 'x' } },
    ]);
  });

  test('identical versions differ in nothing once the version fields are ignored', () => {
    const a = { id: '/x', version: '2024-01-01T00:00:00Z', versionInfo: { lastScalingAt: 'a' } };
    const b = { id: '/x', version: '2024-02-01T00:00:00Z', versionInfo: { lastScalingAt: 'b' } };
    assert.equal(diffJson(a, b).length, 2);
    assert.deepEqual(diffJson(a, b, VERSION_NOISE), []);
  });

  test('a type change is one change, and keys with a slash are escaped', () => {
    assert.deepEqual(diffJson({ x: [1] }, { x: { a: 1 } }), [{ kind: 'changed', path: '/x', before: [1], after: { a: 1 } }]);
    assert.deepEqual(diffJson({ labels: { 'a/b': '1' } }, { labels: {} }), [{ kind: 'removed', path: '/labels/a~1b', before: '1' }]);
  });
});

describe('service form and JSON editor', () => {
  const full = {
    id: '/prod/web',
    cmd: 'python3 -m http.server $PORT0',
    instances: 2,
    cpus: 0.5,
    mem: 256,
    disk: 0,
    container: { type: 'DOCKER', docker: { image: 'nginx:1' } },
    env: { MODE: 'prod', SECRET: { secret: 's1' } },
    labels: { team: 'web' },
    portDefinitions: [{ port: 0, name: 'http', protocol: 'tcp' }],
    healthChecks: [{ protocol: 'HTTP', path: '/health', portIndex: 0, gracePeriodSeconds: 30 }],
    constraints: [['hostname', 'UNIQUE']],
    upgradeStrategy: { minimumHealthCapacity: 0.5 },
  };

  test('JSON to form and back loses nothing, fields the form does not show included', () => {
    const { form, extra } = formFromJson(full);
    assert.equal(form.id, '/prod/web');
    assert.equal(form.image, 'nginx:1');
    assert.deepEqual(form.env, [{ key: 'MODE', value: 'prod' }]);
    assert.deepEqual(form.ports, [{ port: '0', name: 'http', protocol: 'tcp' }]);
    assert.equal(form.health.path, '/health');
    assert.deepEqual(extra.env, { SECRET: { secret: 's1' } });
    assert.deepEqual(extra.constraints, [['hostname', 'UNIQUE']]);
    assert.deepEqual(jsonFromForm(form, extra), full);
  });

  test('form to JSON and back keeps what was typed, even text that is not a number yet', () => {
    const form = { ...emptyForm(), id: '/a', cmd: 'sleep 1', cpus: 'lots', env: [{ key: 'A', value: '1' }] };
    const def = jsonFromForm(form, {});
    assert.equal(def.cpus, 'lots');
    const back = formFromJson(def);
    assert.deepEqual(back.form, form);
    assert.deepEqual(back.extra, {});
  });

  test('empty rows and empty inputs are left out of the JSON', () => {
    const def = jsonFromForm({ ...emptyForm(), id: '/a', cmd: 'x', disk: '', env: [{ key: '', value: '' }], labels: [] }, {});
    assert.deepEqual(def, { id: '/a', cmd: 'x', instances: 1, cpus: 0.1, mem: 128 });
  });

  test('the JSON editor names the line where the text stops being JSON', () => {
    const r = parseDefinition('{\n  "id": "/a",\n  "cmd": oops\n}');
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.line, 3);
    assert.equal(parseDefinition('[1]').ok, false);
    assert.equal(parseDefinition('{"id":"/a"}').ok, true);
  });
});

describe('validation, the client and Marathon alike', () => {
  test('the client flags a missing id, nothing to run and bad numbers, with Marathon paths', () => {
    const errs = validateDefinition({ instances: -1, cpus: 0, mem: 'x' });
    assert.deepEqual(
      errs.map((e) => e.path),
      ['/id', '/cmd', '/instances', '/cpus', '/mem'],
    );
    assert.deepEqual(validateDefinition({ id: '/Bad_Id', cmd: 'x' })[0]?.path, '/id');
    assert.deepEqual(validateDefinition({ id: '/ok/app-1', cmd: 'x', portDefinitions: [{ port: 70000 }] }), [
      { path: '/portDefinitions(0)/port', errors: ['A port is a whole number from 0 to 65535 (0 = any free port).'] },
    ]);
    assert.deepEqual(validateDefinition({ id: '/ok', container: { docker: { image: 'busybox' } } }), []);
  });

  test("Marathon's 422 details land on the matching field: env rows by name, ports by index, the rest in general", () => {
    const form = {
      ...emptyForm(),
      env: [
        { key: 'GOOD', value: '1' },
        { key: '1BAD', value: '2' },
      ],
      ports: [{ port: '80', name: 'HTTP', protocol: '' }],
      health: { ...emptyForm().health, protocol: 'HTTP' },
    };
    const body = JSON.stringify({
      message: 'Object is not valid',
      details: [
        { path: '/env/1BAD', errors: ['must be a valid environment variable name'] },
        { path: '/portDefinitions(0)/name', errors: ["must fully match regular expression '^[a-z0-9-]+$'"] },
        { path: '/id', errors: ['error.path.missing'] },
        { path: '/healthChecks(0)/protocol', errors: ['error.expected.validenumvalue'] },
        { path: '/killSelection', errors: ['error.expected.validenumvalue'] },
      ],
    });
    const { message, details } = readMarathonError(body);
    assert.equal(message, 'Object is not valid');
    const by = errorsByField(details, form);
    assert.deepEqual(by.get('env.1.key'), ['Must be a valid environment variable name']);
    assert.deepEqual(by.get('ports.0.name'), ["Must fully match regular expression '^[a-z0-9-]+$'"]);
    assert.deepEqual(by.get('id'), ['Is required.']);
    assert.deepEqual(by.get('health.protocol'), ['Is not one of the allowed values.']);
    assert.deepEqual(by.get('general'), ['/killSelection: Is not one of the allowed values.']);
  });

  test('paths map to fields however Marathon writes indexes', () => {
    const form = emptyForm();
    assert.equal(fieldOf('/container/docker/image', form), 'image');
    assert.equal(fieldOf('/portDefinitions[2]/port', form), 'ports.2.port');
    assert.equal(fieldOf('/env/MISSING', form), 'env');
    assert.equal(fieldOf('/healthChecks(0)/path', form), 'general', 'no health check in the form: general');
    assert.equal(fieldOf('/args', form), 'cmd');
  });

  test('a 409 body gives its message and the deployments in the way; text bodies are kept', () => {
    const r = readMarathonError(JSON.stringify({ message: 'App is locked', deployments: [{ id: 'd1' }] }));
    assert.deepEqual(r, { message: 'App is locked', details: [], deployments: ['d1'] });
    assert.equal(readMarathonError('Bad gateway').message, 'Bad gateway');
  });
});

describe('suspend and resume', () => {
  test('suspend scales to 0 and remembers the count in a label; resume restores it and forgets the label', () => {
    const app = { instances: 3, labels: { team: 'web' } };
    const s = suspendPatch(app);
    assert.deepEqual(s, { instances: 0, labels: { team: 'web', [SUSPENDED_LABEL]: '3' } });
    const suspended = { ...app, ...s };
    assert.equal(resumeCount(suspended), 3);
    assert.deepEqual(resumePatch(suspended), { instances: 3, labels: { team: 'web' } });
    assert.deepEqual(resumePatch(suspended, 5), { instances: 5, labels: { team: 'web' } });
  });

  test('suspending twice keeps the first count; an app suspended elsewhere resumes to 1', () => {
    const once = { instances: 0, labels: { [SUSPENDED_LABEL]: '4' } };
    assert.deepEqual(suspendPatch(once), { instances: 0, labels: { [SUSPENDED_LABEL]: '4' } });
    assert.equal(resumeCount({ instances: 0 }), 1);
    assert.equal(resumeCount({ instances: 0, labels: { [SUSPENDED_LABEL]: 'junk' } }), 1);
  });

  test('the scale dialog accepts whole numbers only', () => {
    assert.deepEqual(parseInstances(' 2 '), { ok: true, n: 2 });
    assert.equal(parseInstances('-1').ok, false);
    assert.equal(parseInstances('1.5').ok, false);
    assert.equal(parseInstances('').ok, false);
    assert.equal(parseInstances('20000').ok, false);
  });
});

describe('JSON error position', () => {
  test('the scanner agrees with JSON.parse on what is valid and points at the first bad character', () => {
    for (const ok of ['{}', '[1, 2.5e3, "a\\"b", true, false, null, {"x": []}]', ' "x" ']) assert.equal(jsonErrorOffset(ok), -1, ok);
    assert.equal(jsonErrorOffset('{"a": 1,}'), 8);
    assert.equal(jsonErrorOffset('{"a" 1}'), 5);
    assert.equal(jsonErrorOffset('[1] x'), 4);
    assert.equal(jsonErrorOffset('{"a": tru}'), 6);
  });
});

describe('tasks of a service', () => {
  const t = (id: string, state: 'TASK_RUNNING' | 'TASK_KILLED', ts: number) =>
    ({ task_id: { value: id }, state, statuses: [{ state, timestamp: ts }] }) as unknown as Parameters<typeof tasksOfApp>[0] extends Iterable<infer T>
      ? T
      : never;
  test('are found by the app path prefix, active first, not confused with a longer sibling name', () => {
    const got = tasksOfApp(
      [
        t('prod_web.instance-1._app.1', 'TASK_KILLED', 5),
        t('prod_web.instance-2._app.1', 'TASK_RUNNING', 1),
        t('prod_web2.instance-3._app.1', 'TASK_RUNNING', 9),
      ],
      '/prod/web',
    );
    assert.deepEqual(
      got.map((x) => x.task_id.value),
      ['prod_web.instance-2._app.1', 'prod_web.instance-1._app.1'],
    );
  });
});

describe('service status with the launch queue', () => {
  test('a deploying app whose offers were all declined is Waiting; one in backoff is Delayed', () => {
    const apps = [
      { id: '/a', instances: 1, tasksRunning: 0, deployments: [{}] },
      { id: '/b', instances: 1, tasksRunning: 0, deployments: [{}] },
      { id: '/c', instances: 1, tasksRunning: 0, deployments: [{}] },
    ];
    const q = queueByApp([
      { app: { id: '/a' }, count: 1, processedOffersSummary: { processedOffersCount: 4, unusedOffersCount: 4 } },
      { app: { id: '/b' }, count: 1, delay: { timeLeftSeconds: 30, overdue: false } },
    ]);
    const t = groupTree(apps, q);
    assert.deepEqual(
      t.apps.map((x) => x.status),
      ['Waiting', 'Delayed', 'Deploying'],
    );
  });
});

describe('service health from Marathon counts', () => {
  const hc = [{ protocol: 'COMMAND', command: { value: 'true' } }];
  test('no checks, idle, unknown, healthy and unhealthy are told apart', () => {
    assert.equal(serviceHealth({ instances: 2, tasksRunning: 2, tasksHealthy: 0 }), 'No health checks');
    assert.equal(serviceHealth({ instances: 2, tasksRunning: 2, healthChecks: [] }), 'No health checks');
    assert.equal(serviceHealth({ instances: 0, tasksRunning: 0, healthChecks: hc }), 'Idle');
    assert.equal(serviceHealth({ instances: 2, tasksRunning: 2, tasksHealthy: 1, tasksUnhealthy: 0, healthChecks: hc }), 'Unknown');
    assert.equal(serviceHealth({ instances: 2, tasksRunning: 2, tasksHealthy: 2, tasksUnhealthy: 0, healthChecks: hc }), 'Healthy');
    assert.equal(serviceHealth({ instances: 2, tasksRunning: 2, tasksHealthy: 1, tasksUnhealthy: 1, healthChecks: hc }), 'Unhealthy');
    assert.equal(healthShown('Unhealthy').tone, 'bad');
    assert.equal(healthShown('Healthy').tone, 'ok');
  });

  test('the tree counts health per group, beside status', () => {
    const t = groupTree([
      { id: '/prod/a', instances: 1, tasksRunning: 1, tasksHealthy: 1, healthChecks: hc },
      { id: '/prod/b', instances: 1, tasksRunning: 1, tasksUnhealthy: 1, healthChecks: hc },
      { id: '/c', instances: 1, tasksRunning: 1 },
    ]);
    assert.deepEqual(t.health, { Healthy: 1, Unhealthy: 1, 'No health checks': 1 });
    assert.deepEqual(t.groups[0]?.health, { Healthy: 1, Unhealthy: 1 });
    assert.deepEqual(
      t.groups[0]?.apps.map((a) => a.health),
      ['Healthy', 'Unhealthy'],
    );
  });
});

describe('why a service is stuck', () => {
  const deploying = { instances: 1, tasksRunning: 0, deployments: [{}] };
  test('an app the server calls never placeable is Waiting and says so, even before any offer', () => {
    const app = { ...deploying, placementStatus: { placeable: false, message: 'no agent has 64 CPUs.' } };
    assert.equal(serviceStatus(app), 'Waiting');
    assert.equal(stuckReason(app, 'Waiting'), 'Cannot be placed: no agent has 64 CPUs');
    // The queue entry's `unplaceable` alone (an older server) gives the same answer.
    const q = queueByApp([{ app: { id: '/x' }, count: 1, unplaceable: 'No agent can ever run this app (2 agent(s) seen): cpus 64 > 2' }]).get('/x');
    assert.equal(serviceStatus(deploying, q), 'Waiting');
    assert.equal(stuckReason(deploying, 'Waiting', q), 'Cannot be placed: no agent can ever run this app (2 agent(s) seen): cpus 64 > 2');
    // Running all it wants: not stuck, whatever the flag says.
    assert.equal(serviceStatus({ instances: 1, tasksRunning: 1, placementStatus: { placeable: false } }), 'Running');
  });

  test('Waiting names the two most frequent declined-offer reasons in words', () => {
    const q = queueByApp([
      {
        app: { id: '/x' },
        count: 1,
        processedOffersSummary: {
          processedOffersCount: 6,
          unusedOffersCount: 6,
          rejectSummaryLastOffers: [
            { reason: 'InsufficientMemory', declined: 2, processed: 6 },
            { reason: 'UnfulfilledRole', declined: 0, processed: 6 },
            { reason: 'InsufficientCpus', declined: 6, processed: 6 },
            { reason: 'UnfulfilledConstraint', declined: 1, processed: 6 },
          ],
        },
      },
    ]).get('/x');
    const status = serviceStatus(deploying, q);
    assert.equal(status, 'Waiting');
    assert.equal(stuckReason(deploying, status, q), 'Offers declined: not enough CPUs (6 of 6), not enough memory (2 of 6)');
  });

  test('Delayed gives the backoff left; Running and Deploying have no reason', () => {
    const q = queueByApp([{ app: { id: '/x' }, count: 1, delay: { timeLeftSeconds: 12, overdue: false } }]).get('/x');
    assert.equal(serviceStatus(deploying, q), 'Delayed');
    assert.equal(stuckReason(deploying, 'Delayed', q), 'Backing off after failed launches: next try in 12 s');
    assert.equal(stuckReason(deploying, 'Deploying'), undefined);
    assert.equal(stuckReason({ instances: 1, tasksRunning: 1 }, 'Running'), undefined);
  });

  test('the tree carries the reason on the row of a stuck app only', () => {
    const q = queueByApp([{ app: { id: '/big' }, count: 1, unplaceable: 'needs 64 CPUs' }]);
    const t = groupTree(
      [
        { id: '/big', ...deploying },
        { id: '/ok', instances: 1, tasksRunning: 1 },
      ],
      q,
    );
    assert.deepEqual(
      t.apps.map((a) => a.stuck),
      ['Cannot be placed: needs 64 CPUs', undefined],
    );
  });
});
