import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import { RuntimeProbes } from '../adapters/checks/probes.js';
import { BridgeDns, subnetGateway } from '../adapters/net/bridge-dns.js';
import { CniNetworks, DEFAULT_BRIDGE_SUBNET, DEFAULT_CNI_PLUGINS_DIR } from '../adapters/net/cni.js';
import { RealClock } from '../adapters/clock-real.js';
import { Fetcher } from '../adapters/fetcher/fetcher.js';
import { HttpMasterLink } from '../adapters/master-link-http.js';
import { FsCheckpointer } from '../adapters/runtime/checkpoint-fs.js';
import { detectResources, mergeResources } from '../adapters/runtime/host-resources.js';
import { Cgroups, detectCgroups, setFavorDynmods } from '../adapters/runtime/cgroups.js';
import { RegistryImageStore } from '../adapters/runtime/image-store.js';
import { defaultRuntimeDir, prepareRuntimeDir, runtimeLayout } from '../adapters/runtime/runtime-dir.js';
import { loadDockerConfig, type RegistryCredentials } from '../adapters/runtime/registry-client.js';
import { type ContainerDns, createMesosContainerizer } from '../adapters/runtime/oci.js';
import { ContainerizerRouter, DockerRuntime } from '../adapters/runtime/docker.js';
import { CgroupStatsSource } from '../adapters/runtime/container-stats.js';
import { ExecSessions } from '../adapters/runtime/exec.js';
import { parseBytes, startImageGc } from '../adapters/runtime/image-gc.js';
import { agentRoutes } from '../api/agent.js';
import { agentOperatorRoutes } from '../api/agent-operator.js';
import type { ImageGcPolicy } from '../ports/image-admin.js';
import { Router, serveHttp } from '../api/http.js';
import { parseDurationMs } from '../base/duration.js';
import { parseFlags } from '../base/flags.js';
import { startAgentVips } from './vip.js';
import { Random } from '../base/random.js';
import { parseRanges, parseResources } from '../core/resources/index.js';
import type { Attribute, DomainInfo, Resource } from '../model/mesos.js';
import type { MasterLink } from '../ports/master-link.js';
import type { ContainerRuntime, LaunchSpec } from '../ports/runtime.js';
import { Agent, type AgentEvent, type LogFn } from '../services/agent/agent.js';
import type { RecoverMode } from '../services/agent/config.js';
import { VERSION } from './version.js';

export const DEFAULT_AGENT_WORK_DIR = '/var/lib/dcos-ts/agent';

export interface AgentOptions {
  /** `host:port` of the master. */
  master: string;
  workDir?: string;
  /**
   * State that outlives the agent process but not the machine (containers' runtime state, OCI
   * bundles, the OCI runtime's state). Default: /run/dcos-ts/<hash> where /run is a tmpfs, else
   * <work dir>/run.
   */
  runtimeDir?: string;
  ip?: string;
  /** 0 = any free port. */
  port?: number;
  hostname?: string;
  /** The --resources flag (`cpus:2;mem:1024;ports:[31000-31100]` or JSON); overrides detection per name. */
  resources?: string;
  /** The --attributes flag: `rack:r1;zone:z1` (numbers become SCALAR, `[a-b]` RANGES, `{a,b}` SET). */
  attributes?: string;
  /** The --domain flag: DomainInfo JSON. */
  domain?: DomainInfo;
  recover?: RecoverMode;
  pingIntervalMs?: number;
  /** Shown by /flags. */
  flags?: Record<string, string>;
  log?: LogFn;
  seed?: number;
  /** `cgroups` (default: per-container cpu, memory and pids limits where the machine allows) or `none`. */
  isolation?: 'cgroups' | 'none';
  /** The agent's own cgroup under each hierarchy (default `dcos-ts`). */
  cgroupsRoot?: string;
  /**
   * Set the kernel's cgroup `favordynmods` option on this machine's cgroup2 mount at start
   * (--cgroups_favor_dynmods): a container start no longer waits for an RCU grace period when it
   * moves the container into its cgroups (cgroups.ts, favorDynmodsArgv). Machine-wide; left on.
   */
  cgroupsFavorDynmods?: boolean;
  /** The OCI runtime for image tasks (default crun). */
  ociRuntime?: 'crun' | 'runc';
  /** `default` (the deny-list profile) or `unconfined` for image tasks (--seccomp). */
  seccomp?: 'default' | 'unconfined';
  /** --containerizers: `mesos`, `docker`, or both (default mesos,docker). */
  containerizers?: ('mesos' | 'docker')[];
  /** The Docker daemon's socket for container.type DOCKER (--docker_socket, default /var/run/docker.sock). */
  dockerSocket?: string;
  /** Registry credentials (--docker_config: a docker config.json path, or its JSON). */
  dockerConfig?: string;
  /** Registries spoken to over plain HTTP besides loopback ones (host:port). */
  insecureRegistries?: string[];
  /** Host paths HOST_PATH volumes may use (--allowed_host_paths); none by default. */
  allowedHostPaths?: string[];
  /** Kill tasks over their `disk` resource (--enforce_container_disk_quota). */
  enforceContainerDiskQuota?: boolean;
  /** --container_disk_watch_interval (default 15 s). */
  containerDiskWatchIntervalMs?: number;
  /** Container networks (CNI): a directory of .conflist files, the plugins, the default bridge's subnet ('none': no default bridge). */
  cni?: { configDir?: string; pluginsDir?: string; bridgeSubnet?: string };
  /** Image garbage collection: bounds and how often it runs (default: every 5 minutes, no bounds). */
  imageGc?: ImageGcPolicy & { intervalMs?: number };
  /** --container_dns: resolv.conf of image tasks (the cluster DNS on port 53). */
  containerDns?: ContainerDns;
  /** Tests: replace the HTTP link or the process runtime. */
  link?: MasterLink;
  runtime?: ContainerRuntime;
  /** Tests: agent tuning passed through to the service. */
  tuning?: { registerBackoffMinMs?: number; registerBackoffMaxMs?: number; statusUpdateRetryMinMs?: number; statusUpdateRetryMaxMs?: number };
}

export interface RunningAgent {
  agent: Agent;
  port: number;
  /** Resolves with the agent id at the first (re)registration. */
  registered: Promise<string>;
  /** Stops the agent and its HTTP server. Tasks keep running (an agent restart reattaches). */
  stop(): Promise<void>;
}

/** Parses --attributes: `rack:r1;zone:z1;cores:8;ids:[1-4];tags:{a,b}`. */
export function parseAttributes(text: string): Attribute[] | string {
  const out: Attribute[] = [];
  for (const part of text.split(';')) {
    if (part.trim() === '') continue;
    const i = part.indexOf(':');
    if (i <= 0) return `cannot parse attribute '${part}': expected name:value`;
    const name = part.slice(0, i).trim();
    const value = part.slice(i + 1).trim();
    if (value.startsWith('[')) {
      const ranges = parseRanges(value);
      if (!ranges) return `cannot parse the ranges of attribute '${name}'`;
      out.push({ name, type: 'RANGES', ranges: { range: ranges } });
    } else if (value.startsWith('{') && value.endsWith('}')) {
      out.push({
        name,
        type: 'SET',
        set: {
          item: value
            .slice(1, -1)
            .split(',')
            .map((x) => x.trim())
            .filter(Boolean),
        },
      });
    } else if (/^-?\d+(\.\d+)?$/.test(value)) {
      out.push({ name, type: 'SCALAR', scalar: { value: Number(value) } });
    } else {
      out.push({ name, type: 'TEXT', text: { value } });
    }
  }
  return out;
}

/** Starts an agent (HTTP server + service) in this process. */
export async function startAgent(opts: AgentOptions): Promise<RunningAgent> {
  const workDir = resolvePath(opts.workDir ?? DEFAULT_AGENT_WORK_DIR);
  const ip = opts.ip ?? '127.0.0.1';
  const log: LogFn = opts.log ?? (() => {});
  await fs.mkdir(workDir, { recursive: true });
  const runtimeDir = resolvePath(opts.runtimeDir ?? defaultRuntimeDir(workDir));
  prepareRuntimeDir(runtimeDir);
  const rt = runtimeLayout(runtimeDir);

  let resources: Resource[] = detectResources(workDir);
  if (opts.resources !== undefined && opts.resources.trim() !== '') {
    const given = parseResources(opts.resources);
    if (typeof given === 'string') throw new Error(`--resources: ${given}`);
    resources = mergeResources(resources, given);
  }
  let attributes: Attribute[] = [];
  if (opts.attributes) {
    const a = parseAttributes(opts.attributes);
    if (typeof a === 'string') throw new Error(`--attributes: ${a}`);
    attributes = a;
  }

  const credentials: RegistryCredentials = opts.dockerConfig ? await loadDockerConfig(opts.dockerConfig) : {};
  if (opts.dockerConfig) log('info', `registry credentials for ${Object.keys(credentials).join(', ') || 'no registry'} from --docker_config`);
  // Listen first: with port 0 the agent must know its port before it registers.
  const router = new Router();
  const http = await serveHttp(router, opts.port ?? 5051, ip, log);
  const port = http.port;

  const link = opts.link ?? new HttpMasterLink({ master: opts.master });
  const clock = new RealClock();
  const cg = cgroupsOption(opts, log);
  if (cg.cgroups && opts.cgroupsFavorDynmods) {
    try {
      log('info', `${await setFavorDynmods(true)} (container starts no longer wait for an RCU grace period to join their cgroups)`);
    } catch (e) {
      log('warn', `--cgroups_favor_dynmods: ${(e as Error).message}; container starts may wait 6-12 ms each to join their cgroups`);
    }
  }
  // Tasks on the default bridge reach the cluster DNS through a relay on its gateway (docs/dns.md).
  const gateway = opts.cni?.bridgeSubnet === 'none' ? undefined : subnetGateway(opts.cni?.bridgeSubnet ?? DEFAULT_BRIDGE_SUBNET);
  const upstream = opts.containerDns?.nameservers[0];
  const bridgeDns = gateway && upstream && opts.containerDns ? new BridgeDns({ gateway, upstream: { host: upstream, port: 53 }, log }) : undefined;
  const images = new RegistryImageStore(join(workDir, 'images'), { insecure: opts.insecureRegistries ?? [], credentials, nowMs: () => clock.nowMs() });
  const containerizers = opts.containerizers ?? ['mesos', 'docker'];
  const dockerSocket = opts.dockerSocket ?? '/var/run/docker.sock';
  const fetcher = new Fetcher({ cacheDir: join(workDir, 'fetch'), log });
  const docker = containerizers.includes('docker')
    ? new DockerRuntime({
        socketPath: dockerSocket,
        stateDir: join(workDir, 'meta', 'docker'),
        log,
        fetcher,
        allowedHostPaths: opts.allowedHostPaths ?? [],
        orphansUnder: workDir,
      })
    : undefined;
  const mesos =
    opts.runtime ??
    (containerizers.includes('mesos')
      ? createMesosContainerizer({
          stateDir: rt.containers,
          log,
          ...cg,
          bundleDir: rt.bundles,
          stateRoot: rt.oci,
          images,
          runtime: opts.ociRuntime ?? 'crun',
          seccomp: opts.seccomp ?? 'default',
          fetcher,
          allowedHostPaths: opts.allowedHostPaths ?? [],
          upperDirOf: (id) => join(workDir, 'images', 'containers', id, 'upper'),
          ...(opts.containerDns ? { containerDns: opts.containerDns } : {}),
          ...(bridgeDns && opts.containerDns ? { containerNetDns: { ...opts.containerDns, nameservers: [bridgeDns.opts.gateway] } } : {}),
        })
      : undefined);
  // Tasks with container.type DOCKER go to the Docker daemon, the rest to the Mesos containerizer.
  const containerizer = new ContainerizerRouter(mesos, docker, dockerSocket);
  const runtime: ContainerRuntime = honouringReady(containerizer, mesos?.waitsForReady === true);
  const bridgeSubnet = opts.cni?.bridgeSubnet;
  const networks = await CniNetworks.create({
    stateDir: join(workDir, 'meta', 'cni'),
    ...(opts.cni?.configDir ? { configDir: opts.cni.configDir } : {}),
    pluginsDir: opts.cni?.pluginsDir ?? DEFAULT_CNI_PLUGINS_DIR,
    defaultBridge: bridgeSubnet === 'none' ? false : bridgeSubnet ? { subnet: bridgeSubnet } : {},
    log,
  }).catch(async (e: Error) => {
    await http.close();
    throw new Error(`container networks (--network_cni_*): ${e.message}`);
  });
  if (networks.names().length > 0) log('info', `container networks: ${networks.names().join(', ')}`);
  const agent = new Agent({
    clock,
    random: new Random(opts.seed ?? randomBytes(4).readUInt32LE(0)),
    link,
    runtime,
    checkpointer: new FsCheckpointer(workDir),
    log,
    probes: new RuntimeProbes(runtime),
    networks: bridgeDns ? bridgeDns.wrap(networks) : networks,
    config: {
      workDir,
      hostname: opts.hostname ?? ip,
      ip,
      port,
      resources,
      attributes,
      ...(opts.domain ? { domain: opts.domain } : {}),
      version: VERSION.mesos,
      ...(opts.pingIntervalMs !== undefined ? { pingIntervalMs: opts.pingIntervalMs } : {}),
      recover: opts.recover ?? 'reconnect',
      ...(opts.enforceContainerDiskQuota ? { enforceContainerDiskQuota: true } : {}),
      ...(opts.containerDiskWatchIntervalMs !== undefined ? { containerDiskWatchIntervalMs: opts.containerDiskWatchIntervalMs } : {}),
      flags: {
        master: opts.master,
        work_dir: workDir,
        runtime_dir: runtimeDir,
        ip,
        port: String(port),
        hostname: opts.hostname ?? ip,
        recover: opts.recover ?? 'reconnect',
        ...(opts.resources ? { resources: opts.resources } : {}),
        ...(opts.attributes ? { attributes: opts.attributes } : {}),
        ...opts.flags,
      },
      ...opts.tuning,
    },
  });
  const stats = containerizer.statsSource(new CgroupStatsSource(cg.cgroups));
  agentRoutes(router, agent, { stats });
  const { intervalMs: gcIntervalMs, ...gcPolicy } = opts.imageGc ?? {};
  agentOperatorRoutes(router, agent, {
    exec: new ExecSessions({
      ...cg,
      runtime: opts.ociRuntime ?? 'crun',
      bundleDir: rt.bundles,
      ociStateRoot: rt.oci,
      log,
      ...(docker ? { docker } : {}),
    }),
    stats,
    images,
    imageGcPolicy: gcPolicy,
    nowMs: () => clock.nowMs(),
  });
  const gcTimer =
    gcPolicy.maxAgeMs !== undefined || gcPolicy.maxBytes !== undefined ? startImageGc(images, clock, gcPolicy, gcIntervalMs ?? 5 * 60_000, log) : undefined;

  const registered = new Promise<string>((resolve) => {
    agent.onEvent((e: AgentEvent) => {
      if (e.type === 'registered') resolve(e.agentId);
    });
  });
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    gcTimer?.cancel();
    await agent.stop();
    runtime.close?.();
    if (link instanceof HttpMasterLink) link.close();
    await bridgeDns?.stop();
    await http.close();
  };
  await bridgeDns?.ensure(); // the bridge is there already when tasks on it survived a restart
  try {
    await agent.start();
  } catch (e) {
    await stop();
    throw e;
  }
  return { agent, port, registered, stop };
}

/** The runtime's cgroups, or none with a warning where the machine does not allow them. */
function cgroupsOption(opts: AgentOptions, log: LogFn): { cgroups?: Cgroups } {
  if (opts.isolation === 'none') return {};
  const mode = detectCgroups();
  if (mode.kind === 'none') {
    log('warn', `tasks run without cgroup isolation (no cpu, memory or pids limits): ${mode.reason}`);
    return {};
  }
  log('info', `cgroup ${mode.kind} isolation under '${opts.cgroupsRoot ?? 'dcos-ts'}'`);
  return { cgroups: new Cgroups(mode, opts.cgroupsRoot ?? 'dcos-ts') };
}

const AGENT_HELP = `Usage: dcos agent --master=HOST:PORT [flags]

Runs an agent: registers this machine's resources with the master, runs the tasks it is sent,
and serves the agent API (/state, /files/*, /metrics/snapshot) on its port.

Flags:
  --master=HOST:PORT            the master (required)
  --work_dir=DIR                checkpoints and sandboxes (default ${DEFAULT_AGENT_WORK_DIR})
  --runtime_dir=DIR             containers' runtime state, OCI bundles and crun's state: lost at a
                                reboot, like the containers (default /run/dcos-ts/<hash> where /run
                                is a tmpfs, else <work_dir>/run)
  --ip=IP                       address to bind and advertise (default 127.0.0.1)
  --port=PORT                   agent port (default 5051; 0 = any free port)
  --hostname=NAME               hostname to advertise (default the ip)
  --resources=SPEC              e.g. 'cpus:4;mem:4096;disk:10240;ports:[31000-32000]' (default: detected)
  --attributes=SPEC             e.g. 'rack:r1;zone:z1'
  --domain=JSON                 fault domain, e.g. '{"fault_domain":{"region":{"name":"r"},"zone":{"name":"z"}}}'
  --recover=reconnect|cleanup   reattach to the tasks of the last run (default) or kill them and start anew
  --isolation=cgroups|none      per-task cpu, memory and pids limits in cgroups v1 or v2 (default cgroups;
                                none where the machine does not allow them, with a warning)
  --cgroups_root=NAME           the agent's own cgroup (default dcos-ts)
  --cgroups_favor_dynmods       set the kernel's cgroup2 option favordynmods (machine-wide, Linux >= 6.0):
                                a container no longer waits 6-12 ms for an RCU grace period to join its
                                cgroups when launches are more than a few ms apart; forks and exits cost
                                slightly more (docs/containers.md)
  --runtime=crun|runc           the OCI runtime for tasks with an image (default crun)
  --seccomp=default|unconfined  image tasks get a seccomp profile that denies kernel-wide system calls
                                (modules, reboot, keyrings, bpf, ptrace, mount, unshare, ...) with EPERM
                                (default), or none
  --containerizers=LIST         mesos, docker or mesos,docker (default): container.type DOCKER tasks run
                                by the Docker daemon through its Engine API
  --docker_socket=PATH          the Docker daemon's socket (default /var/run/docker.sock)
  --docker_config=PATH|JSON     registry credentials: a docker config.json ({"auths":{"host:port":{"auth":...}}})
  --insecure_registries=A,B     registries (host:port) pulled over plain HTTP (loopback ones always are)
  --agent_ping_timeout=DURATION how often to ping the master (default: what the master asks for)
  --allowed_host_paths=A,B      host directories HOST_PATH volumes may mount (default: none)
  --container_dns=IP[,IP]       image tasks get a resolv.conf with these nameservers (port 53: the cluster DNS)
  --container_dns_search=D[,D]  its search domains (default marathon.mesos,mesos)
  --enforce_container_disk_quota  kill tasks that use more disk than their disk resource
  --container_disk_watch_interval=DURATION  how often task disk usage is measured (default 15secs)
  --image_gc_max_bytes=SIZE     remove unused images (least recently used first) above this cache size, e.g. 10GB
  --image_gc_max_age=DURATION   remove images no container has used for this long, e.g. 7days
  --image_gc_interval=DURATION  how often image garbage collection runs (default 5mins)
  --network_cni_config_dir=DIR  container networks: every .conflist/.conf there is a network tasks can
                                name in ContainerInfo.network_infos (besides the default mesos-bridge)
  --network_cni_plugins_dir=DIR the CNI plugins (default ${DEFAULT_CNI_PLUGINS_DIR})
  --network_cni_bridge_subnet=CIDR  the subnet of the default mesos-bridge network (bridge mesos-cni0,
                                default 172.31.254.0/24); none: no default network
  --vip_data_path=MODE          this node's VIP data path, following the master: auto (nftables, else the
                                userspace proxy), nft, proxy, none (default none: the master's serves one machine)
  --vip_range=CIDR --vip_src=IP|none   as for dcos master (vip_src default: --ip)

Prints {"event":"registered","agent_id":...,"port":...} on stdout once registered. On SIGTERM or
SIGINT it stops; its tasks keep running and the next start reattaches to them.
`;

/** `dcos agent`: runs until SIGTERM/SIGINT, or until the master marks the agent gone. */
export async function runAgent(argv: string[]): Promise<void> {
  const { flags } = parseFlags(argv, new Set(['help', 'enforce-container-disk-quota', 'cgroups-favor-dynmods']));
  if (flags.has('help')) {
    process.stdout.write(AGENT_HELP);
    return;
  }
  const master = flags.get('master');
  if (!master) throw new Error('--master=HOST:PORT is required (see dcos agent --help)');
  const portText = flags.get('port');
  const port = portText === undefined ? 5051 : Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: expected 0-65535, got '${portText}'`);
  const recover = flags.get('recover') ?? 'reconnect';
  if (recover !== 'reconnect' && recover !== 'cleanup') throw new Error(`--recover must be reconnect or cleanup, got '${recover}'`);
  const pingText = flags.get('agent-ping-timeout');
  let pingIntervalMs: number | undefined;
  if (pingText !== undefined) {
    pingIntervalMs = parseDurationMs(pingText);
    if (pingIntervalMs === undefined || pingIntervalMs <= 0) throw new Error(`--agent_ping_timeout: cannot parse duration '${pingText}'`);
  }
  let domain: DomainInfo | undefined;
  const domainText = flags.get('domain');
  if (domainText) {
    try {
      domain = JSON.parse(domainText) as DomainInfo;
    } catch (e) {
      throw new Error(`--domain: not JSON: ${(e as Error).message}`);
    }
  }
  const workDir = flags.get('work-dir') ?? DEFAULT_AGENT_WORK_DIR;
  const runtimeDir = flags.get('runtime-dir');
  const isolation = flags.get('isolation') ?? 'cgroups';
  const ociRuntime = flags.get('runtime') ?? 'crun';
  if (ociRuntime !== 'crun' && ociRuntime !== 'runc') throw new Error(`--runtime must be crun or runc, got '${ociRuntime}'`);
  const seccomp = flags.get('seccomp') ?? 'default';
  if (seccomp !== 'default' && seccomp !== 'unconfined') throw new Error(`--seccomp must be default or unconfined, got '${seccomp}'`);
  if (isolation !== 'cgroups' && isolation !== 'none') throw new Error(`--isolation must be cgroups or none, got '${isolation}'`);
  const ip = flags.get('ip') ?? '127.0.0.1';
  const diskText = flags.get('container-disk-watch-interval');
  const diskWatchMs = diskText === undefined ? undefined : parseDurationMs(diskText);
  if (diskText !== undefined && !(diskWatchMs !== undefined && diskWatchMs > 0))
    throw new Error(`--container_disk_watch_interval: cannot parse duration '${diskText}'`);
  const enforceDisk = flags.get('enforce-container-disk-quota');
  const imageGc = imageGcFlags(flags);
  const containerizers = (flags.get('containerizers') ?? 'mesos,docker').split(',').map((c) => c.trim());
  for (const c of containerizers) if (c !== 'mesos' && c !== 'docker') throw new Error(`--containerizers: unknown containerizer '${c}' (mesos, docker)`);
  const shown: Record<string, string> = {};
  for (const [k, v] of flags) shown[k.replace(/-/g, '_')] = v;

  const log: LogFn = (level, msg) => process.stderr.write(`${new Date().toISOString()} ${level.toUpperCase()} agent: ${msg}\n`);
  const running = await startAgent({
    master,
    workDir,
    ...(runtimeDir ? { runtimeDir } : {}),
    ip,
    port,
    hostname: flags.get('hostname') ?? ip,
    ...(flags.get('resources') !== undefined ? { resources: flags.get('resources') as string } : {}),
    ...(flags.get('attributes') !== undefined ? { attributes: flags.get('attributes') as string } : {}),
    ...(domain ? { domain } : {}),
    recover,
    isolation,
    ociRuntime,
    seccomp,
    containerizers: containerizers as ('mesos' | 'docker')[],
    ...(flags.get('docker-socket') !== undefined ? { dockerSocket: flags.get('docker-socket') as string } : {}),
    ...(flags.get('docker-config') !== undefined ? { dockerConfig: flags.get('docker-config') as string } : {}),
    insecureRegistries: (flags.get('insecure-registries') ?? '').split(',').filter(Boolean),
    allowedHostPaths: (flags.get('allowed-host-paths') ?? '').split(',').filter(Boolean),
    enforceContainerDiskQuota: enforceDisk !== undefined && enforceDisk !== 'false',
    ...(diskWatchMs !== undefined ? { containerDiskWatchIntervalMs: diskWatchMs } : {}),
    ...(flags.get('cgroups-root') !== undefined ? { cgroupsRoot: flags.get('cgroups-root') as string } : {}),
    ...(flags.has('cgroups-favor-dynmods') && flags.get('cgroups-favor-dynmods') !== 'false' ? { cgroupsFavorDynmods: true } : {}),
    ...(pingIntervalMs !== undefined ? { pingIntervalMs } : {}),
    flags: shown,
    imageGc,
    ...containerDnsFlags(flags.get('container-dns'), flags.get('container-dns-search')),
    cni: {
      ...(flags.get('network-cni-config-dir') !== undefined ? { configDir: flags.get('network-cni-config-dir') as string } : {}),
      ...(flags.get('network-cni-plugins-dir') !== undefined ? { pluginsDir: flags.get('network-cni-plugins-dir') as string } : {}),
      ...(flags.get('network-cni-bridge-subnet') !== undefined ? { bridgeSubnet: flags.get('network-cni-bridge-subnet') as string } : {}),
    },
    log,
  });
  const vips = await startAgentVips(flags, { master, ip, port: running.port }, log).catch(async (e) => {
    await running.stop();
    throw e;
  });
  void running.registered.then((agentId) => {
    process.stdout.write(`${JSON.stringify({ event: 'registered', agent_id: agentId, port: running.port })}\n`);
  });
  await new Promise<void>((resolve) => {
    running.agent.onEvent((e) => {
      if (e.type === 'gone') {
        log('warn', `removed from the cluster: ${e.message}`);
        process.exitCode = 1;
        resolve();
      }
    });
    const done = () => resolve();
    process.once('SIGTERM', done);
    process.once('SIGINT', done);
  });
  await vips?.stop();
  await running.stop();
}

/**
 * The router as the agent sees it: it honours LaunchSpec.ready (the agent then lets the Mesos
 * containerizer prepare a container while the task's checkpoint is written); the docker
 * containerizer (and an injected runtime that does not say it does) does not wait for it, so
 * those launches wait for it here.
 */
function honouringReady(router: ContainerizerRouter, mesosWaits: boolean): ContainerRuntime {
  return new Proxy(router, {
    get(target, prop) {
      if (prop === 'waitsForReady') return true;
      if (prop === 'launch')
        return async (spec: LaunchSpec) => {
          if (!spec.ready || (mesosWaits && spec.container?.type !== 'DOCKER')) return target.launch(spec);
          await spec.ready;
          const { ready: _ready, ...rest } = spec;
          return target.launch(rest);
        };
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as ContainerRuntime;
}

/** --image_gc_max_bytes, --image_gc_max_age, --image_gc_interval. */
function imageGcFlags(flags: Map<string, string>): ImageGcPolicy & { intervalMs?: number } {
  const out: ImageGcPolicy & { intervalMs?: number } = {};
  const size = flags.get('image-gc-max-bytes');
  if (size !== undefined) {
    const n = parseBytes(size);
    if (n === undefined) throw new Error(`--image_gc_max_bytes: cannot parse size '${size}' (e.g. 10GB)`);
    out.maxBytes = n;
  }
  for (const [flag, key] of [
    ['image-gc-max-age', 'maxAgeMs'],
    ['image-gc-interval', 'intervalMs'],
  ] as const) {
    const text = flags.get(flag);
    if (text === undefined) continue;
    const ms = parseDurationMs(text);
    if (ms === undefined || ms <= 0) throw new Error(`--${flag.replace(/-/g, '_')}: cannot parse duration '${text}'`);
    out[key] = ms;
  }
  return out;
}

/** --container_dns=IP[,IP…] and --container_dns_search=D[,D…] (default marathon.mesos,mesos). */
function containerDnsFlags(servers: string | undefined, search: string | undefined): { containerDns?: ContainerDns } {
  if (servers === undefined) return {};
  const nameservers = servers.split(',').filter(Boolean);
  for (const n of nameservers)
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(n)) throw new Error(`--container_dns: expected IPv4 addresses (port 53; resolv.conf has no port), got '${n}'`);
  if (nameservers.length === 0) throw new Error('--container_dns: no address given');
  return { containerDns: { nameservers, search: (search ?? 'marathon.mesos,mesos').split(',').filter(Boolean) } };
}
