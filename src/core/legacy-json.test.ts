import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Task } from '../model/mesos.js';
import { legacyTask, legacyTaskJson, taskJson } from './legacy.js';

function task(): Task {
  return {
    name: 't',
    task_id: { value: 't1' },
    framework_id: { value: 'f' },
    agent_id: { value: 'a' },
    state: 'TASK_STAGING',
    resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 1 } }],
    statuses: [],
  };
}

describe('cached task JSON', () => {
  it('follows every change the master makes to a task', () => {
    const t = task();
    const check = () => {
      assert.equal(legacyTaskJson(t), JSON.stringify(legacyTask(t)));
      assert.equal(taskJson(t), JSON.stringify(t));
    };
    check();
    t.state = 'TASK_RUNNING';
    t.statuses.push({ task_id: t.task_id, state: 'TASK_RUNNING', timestamp: 1, uuid: 'u1' });
    check();
    t.status_update_state = 'TASK_RUNNING';
    t.status_update_uuid = 'u1';
    check();
    // Trimmed to the same length, with a different last status.
    t.statuses.splice(0, 1);
    t.statuses.push({ task_id: t.task_id, state: 'TASK_RUNNING', timestamp: 2, uuid: 'u2', healthy: false });
    check();
    t.kill_policy = { grace_period: { nanoseconds: 1e9 } };
    check();
  });

  it('returns the same string object while nothing changed', () => {
    const t = task();
    assert.equal(legacyTaskJson(t), legacyTaskJson(t));
  });
});
