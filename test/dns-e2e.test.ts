import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dig } from '../src/adapters/dns/testing.js';
import { dcos } from './lib/cluster.js';
import { getJson } from './lib/http.js';
import { frameworkInfo, Scheduler, taskInfo } from './lib/mesos.js';

/** Polls dig until pred holds; returns the milliseconds it took. */
async function until(port: number, name: string, type: string, pred: (r: Awaited<ReturnType<typeof dig>>) => boolean, limitMs: number): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const r = await dig(port, name, type);
    if (pred(r)) return performance.now() - t0;
    if (performance.now() - t0 > limitMs) throw new Error(`${name} ${type}: still ${r.status} with ${r.answers.length} answers after ${limitMs} ms`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

/**
 * `dcos up` with real processes; Debian's dig is the client. A task's names appear when it runs
 * and go when it is killed, within 1 s, pushed from the master's events.
 */
describe('cluster DNS on a local cluster', () => {
  const home = mkdtempSync(join(tmpdir(), 'dcos-dns-e2e-'));
  const workDir = join(home, 'cluster');
  const env = { DCOS_TS_CONFIG_DIR: join(home, 'config'), DCOS_TS_HOME: home };
  let info: { url: string; mesos: string; dns: string };
  let port = 0;

  before(async () => {
    const r = await dcos(['up', '--detach', '--json', '--agents=1', `--work-dir=${workDir}`, '--resources=cpus:2;mem:1024;disk:2048;ports:[31000-31009]'], env);
    assert.equal(r.code, 0, `dcos up failed: ${r.stderr}`);
    info = JSON.parse(r.stdout);
    port = Number(info.dns.split(':')[1]);
  });

  after(async () => {
    await dcos(['down', '--purge', `--work-dir=${workDir}`], env);
    rmSync(home, { recursive: true, force: true });
  });

  test('dcos up --json prints the cluster DNS address, which answers leader.mesos and slave.mesos', async () => {
    assert.match(info.dns, /^127\.0\.0\.1:\d+$/);
    assert.deepEqual(
      (await dig(port, 'leader.mesos')).answers.map((a) => a.data),
      ['127.0.0.1'],
    );
    assert.deepEqual(
      (await dig(port, 'slave.mesos')).answers.map((a) => a.data),
      ['127.0.0.2'],
    );
    assert.deepEqual(
      (await dig(port, 'master.mesos', 'A', ['+tcp'])).answers.map((a) => a.data),
      ['127.0.0.1'],
    );
  });

  test('a running task gets A, SRV (its ports) and dcos-net names within 1 s, and loses them by the time its kill is reported', async () => {
    const sched = await Scheduler.subscribe(info.mesos, frameworkInfo({ name: 'marathon' }));
    try {
      const offer = await sched.offer(() => true, 10_000);
      const task = taskInfo(offer, 'web-1', { name: 'web.group' });
      task.resources.push({
        name: 'ports',
        type: 'RANGES',
        ranges: { range: [{ begin: 31002, end: 31003 }] },
        allocation_info: offer.allocation_info ?? { role: '*' },
      });
      task.discovery = { visibility: 'FRAMEWORK', name: 'web.group', ports: { ports: [{ number: 31002, name: 'http', protocol: 'tcp' }] } };
      assert.equal((await dig(port, 'web-group.marathon.mesos')).status, 'NXDOMAIN');
      await sched.launch(offer, [task]);
      await sched.ack(await sched.update('web-1', 'TASK_STARTING', 15_000));
      const running = await sched.update('web-1', 'TASK_RUNNING', 15_000);
      await sched.ack(running);
      const appearMs = await until(port, 'web-group.marathon.mesos', 'A', (r) => r.answers.length === 1, 1000);
      assert.ok(appearMs < 1000, `appeared after ${appearMs} ms`);
      assert.deepEqual(
        (await dig(port, 'web-group.marathon.mesos')).answers.map((a) => a.data),
        ['127.0.0.2'],
      );
      assert.deepEqual(
        (await dig(port, 'web-group.marathon.slave.mesos')).answers.map((a) => a.data),
        ['127.0.0.2'],
      );
      const srv = await dig(port, '_web-group._tcp.marathon.mesos', 'SRV');
      assert.deepEqual(srv.answers.map((a) => Number(a.data.split(' ')[2])).sort(), [31002, 31003]);
      const named = await dig(port, '_http._web-group._tcp.marathon.mesos', 'SRV');
      assert.deepEqual(
        named.answers.map((a) => Number(a.data.split(' ')[2])),
        [31002],
      );
      assert.deepEqual(
        (await dig(port, 'web-group.marathon.autoip.dcos.thisdcos.directory')).answers.map((a) => a.data),
        ['127.0.0.2'],
      );

      // The Mesos-DNS HTTP API through the gateway, and the CLI.
      const hosts = await getJson(`${info.url}/mesos_dns/v1/hosts/web-group.marathon.mesos`);
      assert.deepEqual(hosts, [{ host: 'web-group.marathon.mesos.', ip: '127.0.0.2' }]);
      const services = await getJson(`${info.url}/mesos_dns/v1/services/_web-group._tcp.marathon.mesos.`);
      assert.deepEqual(services.map((s: { port: string }) => s.port).sort(), ['31002', '31003']);
      const en = await getJson(`${info.url}/mesos_dns/v1/enumerate`);
      assert.ok(en.frameworks.some((f: { name: string; tasks: { id: string }[] }) => f.name === 'marathon' && f.tasks.some((t) => t.id === 'web-1')));
      const cli = await dcos(['node', 'dns', 'web-group.marathon.mesos', '--json'], env);
      assert.equal(cli.code, 0, cli.stderr);
      assert.deepEqual(
        JSON.parse(cli.stdout).answers.map((a: { ip: string }) => a.ip),
        ['127.0.0.2'],
      );
      const cliTable = await dcos(['node', 'dns', '_web-group._tcp.marathon.mesos'], env);
      assert.match(cliTable.stdout, /SRV\s+web-group-\w{5}-s\d+\.marathon\.slave\.mesos\.:3100[23]/);

      const t0 = performance.now();
      const r = await sched.call('KILL', { task_id: { value: 'web-1' }, agent_id: offer.agent_id });
      assert.equal(r.status, 202);
      await until(port, 'web-group.marathon.mesos', 'A', (x) => x.status === 'NXDOMAIN', 5000);
      const killedMs = performance.now() - t0;
      const st = await sched.update('web-1', 'TASK_KILLED', 15_000);
      await sched.ack(st);
      // The agent's kill grace period counts in killedMs; the DNS part is what follows TASK_KILLED.
      assert.equal((await dig(port, '_web-group._tcp.marathon.mesos', 'SRV')).status, 'NXDOMAIN');
      assert.ok(killedMs < 5000, `gone ${killedMs} ms after KILL`);
      const gone = await dcos(['node', 'dns', 'web-group.marathon.mesos'], env);
      assert.notEqual(gone.code, 0);
      assert.match(gone.stderr, /NXDOMAIN/);
    } finally {
      sched.close();
    }
  });
});
