import assert from 'node:assert/strict';
import { type ChildProcess, execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { findOciRuntime } from '../src/adapters/runtime/oci.js';
import { dig } from '../src/adapters/dns/testing.js';
import { dcos, waitForTaskOutput } from './lib/cluster.js';
import { getJson, post, waitFor } from './lib/http.js';
import { pushBusybox, startRegistry, unmountUnder } from './lib/images.js';

const run = promisify(execFile);

const registryBin = ['/usr/bin/docker-registry', '/usr/bin/registry'].find((p) => existsSync(p));
const busybox = existsSync('/bin/busybox') ? '/bin/busybox' : undefined;
const imageSkip =
  process.getuid?.() !== 0
    ? 'not root (port 53, crun)'
    : !findOciRuntime('crun')
      ? 'crun is not installed'
      : !registryBin
        ? 'docker-registry is not installed'
        : !busybox
          ? 'busybox-static is not installed'
          : false;
if (imageSkip) process.stdout.write(`# SKIP the container DNS test: ${imageSkip}\n`);

/**
 * `dcos up --dns-only-healthy`: Debian's dig sees a task whose Mesos health check fails left out
 * while a healthy one and one without a check are in; and an OCI busybox task resolves cluster
 * names through the resolv.conf the agent gives it (the DNS on port 53 of 127.53.x.y).
 */
describe('cluster DNS: only healthy tasks, and containers resolving cluster names', () => {
  const home = mkdtempSync(join(tmpdir(), 'dcos-dns-cluster-e2e-'));
  const workDir = join(home, 'cluster');
  const env = { DCOS_TS_CONFIG_DIR: join(home, 'config'), DCOS_TS_HOME: home };
  let info: { url: string; mesos: string; dns: string; container_dns?: string };
  let port = 0;
  let marathon = '';
  let registry: ChildProcess | undefined;
  let registryAddr = '';

  before(async () => {
    const r = await dcos(
      ['up', '--detach', '--json', '--agents=1', '--dns-only-healthy', `--work-dir=${workDir}`, '--resources=cpus:2;mem:1024;disk:2048;ports:[35240-35259]'],
      env,
    );
    assert.equal(r.code, 0, `dcos up failed: ${r.stderr}`);
    info = JSON.parse(r.stdout);
    port = Number(info.dns.split(':')[1]);
    marathon = `${info.url}/service/marathon`;
    if (imageSkip) return;
    const reg = await startRegistry(home, registryBin as string);
    registry = reg.child;
    registryAddr = reg.addr;
    await pushBusybox(home, busybox as string, registryAddr, 'library/busybox', '1', false);
  });

  after(async () => {
    await dcos(['down', '--purge', `--work-dir=${workDir}`], env);
    registry?.kill('SIGKILL');
    unmountUnder(home);
    rmSync(home, { recursive: true, force: true });
  });

  test('with --dns-only-healthy an unhealthy task has no record; healthy and unchecked ones do', async () => {
    const check = (cmd: string) => ({
      protocol: 'COMMAND',
      command: { value: cmd },
      gracePeriodSeconds: 0,
      intervalSeconds: 1,
      timeoutSeconds: 2,
      delaySeconds: 0,
      maxConsecutiveFailures: 100_000,
    });
    const apps = [
      { id: '/dh/good', cmd: 'sleep 1000', cpus: 0.1, mem: 32, instances: 1, healthChecks: [check('true')] },
      { id: '/dh/bad', cmd: 'sleep 1000', cpus: 0.1, mem: 32, instances: 1, healthChecks: [check('false')] },
      { id: '/dh/plain', cmd: 'sleep 1000', cpus: 0.1, mem: 32, instances: 1 },
    ];
    for (const a of apps) {
      const r = await post(`${marathon}/v2/apps`, a);
      assert.equal(r.status, 201, r.text);
    }
    await waitFor(
      'good healthy, bad unhealthy, plain running',
      async () => {
        const got = await Promise.all(apps.map(async (a) => (await getJson(`${marathon}/v2/apps${a.id}`)).app));
        const [g, b, p] = got;
        return g.tasksHealthy === 1 && b.tasksUnhealthy === 1 && b.tasksRunning === 1 && p.tasksRunning === 1 ? got : undefined;
      },
      60_000,
      300,
    );
    // The master sees the bad task running, with an unhealthy status from the agent.
    const { tasks } = await getJson(`${info.mesos}/master/tasks`);
    const bad = tasks.find((t: { id: string }) => t.id.startsWith('dh_bad.'));
    assert.equal(bad?.state, 'TASK_RUNNING');
    assert.equal(bad.statuses.at(-1).healthy, false, JSON.stringify(bad.statuses));

    const a = async (name: string) => (await dig(port, name)).answers.filter((x) => x.type === 'A').map((x) => x.data);
    await waitFor('good-dh in the DNS', async () => ((await a('good-dh.marathon.mesos')).length === 1 ? true : undefined), 5_000);
    assert.deepEqual(await a('good-dh.marathon.mesos'), ['127.0.0.2']);
    assert.deepEqual(await a('plain-dh.marathon.mesos'), ['127.0.0.2']);
    const r = await dig(port, 'bad-dh.marathon.mesos');
    assert.equal(r.status, 'NXDOMAIN', r.raw);
    assert.equal((await dig(port, '_bad-dh._tcp.marathon.mesos', 'SRV')).status, 'NXDOMAIN');
    // The Mesos-DNS API agrees.
    const api = await getJson(`${info.url}/mesos_dns/v1/hosts/bad-dh.marathon.mesos`);
    assert.ok(!JSON.stringify(api).includes('127.0.0.2'), JSON.stringify(api));
  });

  test('an OCI task resolves cluster names through the cluster DNS on port 53', { skip: imageSkip }, async () => {
    assert.match(info.container_dns ?? '', /^127\.53\.\d+\.\d+:53$/, 'dcos up bound the DNS on port 53 of its own address');
    const dnsIp = (info.container_dns as string).split(':')[0] as string;
    // The second listener answers like the first.
    const { stdout } = await run('dig', [`@${dnsIp}`, '-p', '53', 'leader.mesos', 'A', '+short', '+time=2', '+tries=1']);
    assert.equal(stdout.trim(), '127.0.0.1');

    const script = [
      'echo ==resolv; cat /etc/resolv.conf',
      'for i in $(seq 1 30); do nslookup probe-dh.marathon.mesos > /tmp/out 2>&1 && break; sleep 1; done',
      'echo ==probe; cat /tmp/out',
      'echo ==leader; nslookup leader.mesos',
      'echo ==done; sleep 1000',
    ].join('; ');
    const r = await post(`${marathon}/v2/apps`, {
      id: '/dh/probe',
      cmd: script,
      cpus: 0.1,
      mem: 32,
      instances: 1,
      container: { type: 'MESOS', docker: { image: `${registryAddr}/library/busybox:1` } },
    });
    assert.equal(r.status, 201, r.text);
    const out = await waitForTaskOutput('the probe task printed its lookups', join(workDir, 'agents'), ['==resolv', '==done'], 60_000);
    console.log(`# the task's output:\n${out.replace(/^/gm, '#   ')}`);
    const resolv = out.split('==probe')[0] as string;
    assert.match(resolv, new RegExp(`^nameserver ${dnsIp.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(resolv, /^search marathon\.mesos mesos$/m);
    assert.ok(!/^nameserver (?!127\.53\.)/m.test(resolv), `only the cluster DNS: ${resolv}`);
    const probe = out.split('==probe')[1]?.split('==leader')[0] ?? '';
    assert.match(probe, /probe-dh\.marathon\.mesos/);
    assert.match(probe, /Address:\s+127\.0\.0\.2/, probe);
    const leader = out.split('==leader')[1]?.split('==done')[0] ?? '';
    assert.match(leader, /Address:\s+127\.0\.0\.1/, leader);
  });
});
