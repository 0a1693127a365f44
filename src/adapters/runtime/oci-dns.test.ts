import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LaunchSpec } from '../../ports/runtime.js';
import { ociConfig, resolvConfText } from './oci.js';

const spec: LaunchSpec = {
  containerId: 'c1',
  sandboxDir: '/var/lib/dcos-ts/agent/sandbox/c1',
  command: { value: 'nslookup leader.mesos' },
  env: {},
  container: { type: 'MESOS', mesos: { image: { type: 'DOCKER', docker: { name: 'busybox' } } } },
};
const image = { env: [], entrypoint: [], cmd: [] };
type Mount = { destination: string; type: string; source: string; options?: string[] };

describe('container DNS (--container_dns)', () => {
  it('resolv.conf names the cluster DNS and the search domains', () => {
    assert.equal(
      resolvConfText({ nameservers: ['127.53.19.186', '10.0.0.5'], search: ['marathon.mesos', 'mesos'] }),
      '# written by the dcos-ts agent (--container_dns)\nnameserver 127.53.19.186\nnameserver 10.0.0.5\nsearch marathon.mesos mesos\noptions ndots:1\n',
    );
  });

  it('the OCI config binds it read-only at /etc/resolv.conf, after the other mounts', () => {
    const cfg = ociConfig(spec, image, ['/bin/sh', '-c', 'x'], undefined, [], { resolvConf: '/bundles/c1/resolv.conf' });
    const mounts = cfg.mounts as Mount[];
    const m = mounts.filter((x) => x.destination === '/etc/resolv.conf');
    assert.deepEqual(m, [{ destination: '/etc/resolv.conf', type: 'bind', source: '/bundles/c1/resolv.conf', options: ['bind', 'ro'] }]);
    assert.equal(mounts.at(-1)?.destination, '/etc/resolv.conf');
  });

  it('without it the image keeps its own resolv.conf', () => {
    const cfg = ociConfig(spec, image, ['/bin/sh', '-c', 'x'], undefined, []);
    assert.ok(!(cfg.mounts as Mount[]).some((x) => x.destination === '/etc/resolv.conf'));
  });
});
