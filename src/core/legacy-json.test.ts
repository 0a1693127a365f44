import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Task } from '../model/mesos.js';
import { type SharedTexts, legacyTask, legacyTaskJson, taskJson } from './legacy.js';
import { toLegacy } from './resources/index.js';

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

describe('task JSON built piecewise', () => {
  it('follows every change the master makes to a task (nothing is cached per task)', () => {
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

  it('takes the text of shared parts from SharedTexts, and is still JSON.stringify byte for byte', () => {
    const t = task();
    const shared = t.resources;
    let asked = 0;
    const texts: SharedTexts = {
      json: (v) => {
        asked++;
        return v === shared ? JSON.stringify(shared) : undefined;
      },
      legacy: (rs) => (rs === shared ? { resources: JSON.stringify(toLegacy(rs)), role: '"*"' } : undefined),
    };
    t.labels = { labels: [{ key: 'k', value: 'v "quoted" \u2028' }] };
    t.user = 'nobody';
    (t as unknown as Record<string, unknown>).skipped = undefined;
    t.statuses = [{ task_id: t.task_id, state: 'TASK_RUNNING', timestamp: 3, uuid: 'u', healthy: true, container_status: { container_id: { value: 'c' } } }];
    assert.equal(taskJson(t, texts), JSON.stringify(t));
    assert.equal(legacyTaskJson(t, texts), JSON.stringify(legacyTask(t)));
    assert.ok(asked > 0);
  });
});
