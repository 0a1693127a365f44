import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_DNS_CONFIG } from '../../core/dns/index.js';
import type { EventSink } from '../../ports/sink.js';
import { DnsService } from './dns.js';

const task = (state: string) => ({
  name: 'web',
  task_id: { value: 't1' },
  framework_id: { value: 'fw1' },
  agent_id: { value: 'm-S0' },
  state,
  resources: [],
  statuses: [],
});

describe('DnsService', () => {
  it('adds a task name on TASK_RUNNING and removes it on a terminal update, pushed by events', () => {
    const svc = new DnsService(DEFAULT_DNS_CONFIG);
    let sink: EventSink | undefined;
    svc.start({
      snapshot: () => ({
        state: {
          get_agents: { agents: [{ agent_info: { id: { value: 'm-S0' }, hostname: 'h' }, pid: 'slave(1)@127.0.0.2:5051' }] },
          get_frameworks: { frameworks: [{ framework_info: { id: { value: 'fw1' }, name: 'marathon', user: 'root' } }] },
        },
        leader: { ip: '127.0.0.1', port: 5050 },
        masters: [{ ip: '127.0.0.1', port: 5050 }],
      }),
      subscribe: (s) => {
        sink = s;
      },
    });
    assert.ok(svc.zone.has('leader.mesos') && svc.zone.has('slave.mesos'));
    sink?.send({ type: 'TASK_ADDED', task_added: { task: task('TASK_STAGING') } });
    assert.equal(svc.zone.has('web.marathon.mesos'), false);
    const status = { task_id: { value: 't1' }, state: 'TASK_RUNNING' };
    sink?.send({ type: 'TASK_UPDATED', task_updated: { framework_id: { value: 'fw1' }, status, state: 'TASK_RUNNING' } });
    assert.deepEqual(svc.zone.records('web.marathon.mesos'), [{ name: 'web.marathon.mesos', type: 'A', ip: '127.0.0.2' }]);
    sink?.send({ type: 'TASK_UPDATED', task_updated: { framework_id: { value: 'fw1' }, status: { ...status, state: 'TASK_KILLED' }, state: 'TASK_KILLED' } });
    assert.equal(svc.zone.has('web.marathon.mesos'), false);
    assert.equal(svc.tasks.size, 0);
  });

  it('drops an agent’s task names when the agent is removed', () => {
    const svc = new DnsService(DEFAULT_DNS_CONFIG);
    svc.load(
      {
        get_agents: { agents: [{ agent_info: { id: { value: 'm-S0' }, hostname: 'h' }, pid: 'slave(1)@127.0.0.2:5051' }] },
        get_frameworks: { frameworks: [{ framework_info: { id: { value: 'fw1' }, name: 'marathon', user: 'root' } }] },
        get_tasks: { tasks: [task('TASK_RUNNING') as never] },
      },
      undefined,
      [],
    );
    assert.ok(svc.zone.has('web.marathon.mesos'));
    svc.apply({ type: 'AGENT_REMOVED', agent_removed: { agent_id: { value: 'm-S0' } } });
    assert.equal(svc.zone.has('web.marathon.mesos'), false);
    assert.equal(svc.zone.has('slave.mesos'), false);
  });
});
