import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type ComponentInputs, GatewayLog, componentHealth, gatewayRow } from './components.js';

const base: ComponentInputs = {
  gateway: [{ answered: true, atMs: 1, what: 'this page' }],
  link: { kind: 'live' },
  master: { status: 200 },
  nodes: { active: 2, unreachable: 0, removed: 0 },
  marathon: { status: 200, text: 'pong' },
  dns: { status: 200, text: '{"Service":"Mesos-DNS","Version":"2.0.0"}' },
};
const row = (i: ComponentInputs, name: string) => componentHealth(i).find((r) => r.name === name);

describe('component health on the dashboard', () => {
  test('every component is listed, and healthy when its probe and the stream say so', () => {
    const rows = componentHealth({ ...base, version: '2.1.0' });
    assert.deepEqual(
      rows.map((r) => [r.name, r.shown.label]),
      [
        ['Gateway', 'Healthy'],
        ['Mesos master', 'Healthy'],
        ['Mesos agents', 'Healthy'],
        ['Marathon', 'Healthy'],
        ['DNS', 'Healthy'],
      ],
    );
    assert.match(rows[0]?.detail ?? '', /version 2\.1\.0/);
    assert.match(rows[4]?.detail ?? '', /version 2\.0\.0/);
  });

  test('the gateway is unreachable when the last request got no answer, degraded after an earlier one did', () => {
    const log = new GatewayLog(3);
    log.record(true, 1, 'this page');
    log.record(false, 2, 'the event stream');
    assert.equal(gatewayRow(log.outcomes()).shown.label, 'Unreachable');
    assert.match(gatewayRow(log.outcomes()).detail, /no answer to the event stream.*dcos up/);
    log.record(true, 3, 'Marathon apps');
    assert.equal(gatewayRow(log.outcomes()).shown.label, 'Degraded');
    // Bounded: the failure falls out of the ring after `max` answered requests.
    log.record(true, 4, 'a');
    log.record(true, 5, 'b');
    assert.equal(log.outcomes().length, 3);
    assert.equal(gatewayRow(log.outcomes()).shown.label, 'Healthy');
    assert.equal(gatewayRow([]).shown.label, 'Checking');
  });

  test('a probe answered 404 is not running, 5xx failing, no answer unknown', () => {
    assert.equal(row({ ...base, marathon: { status: 404 } }, 'Marathon')?.shown.label, 'Not running');
    assert.equal(row({ ...base, dns: { status: 503 } }, 'DNS')?.shown.label, 'Failing');
    assert.match(row({ ...base, dns: { status: 503 } }, 'DNS')?.detail ?? '', /HTTP 503/);
    assert.equal(row({ ...base, dns: {} }, 'DNS')?.shown.label, 'Unknown');
    const { dns: _, ...noDns } = base;
    assert.equal(row(noDns, 'DNS')?.shown.label, 'Checking');
  });

  test('the master follows the event stream first, then its health endpoint', () => {
    assert.equal(row({ ...base, link: { kind: 'down', error: 'stream ended' } }, 'Mesos master')?.shown.label, 'Unreachable');
    assert.equal(row({ ...base, master: { status: 500 } }, 'Mesos master')?.shown.label, 'Failing');
    assert.equal(row({ ...base, link: { kind: 'connecting' } }, 'Mesos master')?.shown.label, 'Checking');
  });

  test('agents: degraded with some unreachable, unreachable with none active', () => {
    const agents = (active: number, unreachable: number) => row({ ...base, nodes: { active, unreachable, removed: 0 } }, 'Mesos agents');
    assert.equal(agents(1, 1)?.shown.label, 'Degraded');
    assert.equal(agents(1, 1)?.detail, '1 active, 1 unreachable');
    assert.equal(agents(0, 2)?.shown.label, 'Unreachable');
    assert.equal(agents(0, 0)?.shown.label, 'None');
  });
});
