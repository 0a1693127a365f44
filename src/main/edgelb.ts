/**
 * `dcos edgelb`: the edge load balancer, marathon-lb compatible. Reads the apps from Marathon
 * (`/v2/apps?embed=apps.tasks`), follows `/v2/events` (SSE) to refresh within a moment of a task
 * or health change, and drives HAProxy (adapters/net/haproxy.ts) with the configuration that
 * core/vip/edgelb.ts makes from app labels.
 */
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request } from 'node:http';
import { join } from 'node:path';
import { parseFlags } from '../base/flags.js';
import { EDGELB_USAGE, edgelbInstall, edgelbUninstall } from '../cli/net.js';
import { Haproxy } from '../adapters/net/haproxy.js';
import { type EdgeBackend, haproxyConfig } from '../core/vip/index.js';

export interface EdgeLbOptions {
  /** Marathon's base URL, e.g. http://127.0.0.1:8080 or <cluster>/service/marathon. */
  marathon: string;
  group: string;
  bind: string;
  httpPort: number;
  statsPort?: number;
  workDir: string;
  haproxyBin?: string;
  /** Full resync period (events are the fast path). */
  resyncMs?: number;
  log: (level: string, msg: string) => void;
}

export interface RunningEdgeLb {
  haproxy: Haproxy;
  backends(): readonly EdgeBackend[];
  problems(): readonly string[];
  /** Refreshes now; resolves once HAProxy runs the result. */
  refresh(): Promise<void>;
  stop(): Promise<void>;
}

const REFRESH_EVENTS =
  /status_update_event|health_status_changed_event|instance_health_changed_event|instance_changed_event|api_post_event|app_terminated_event|deployment_/;

function getJson(url: string, timeoutMs = 10_000): Promise<any> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { Accept: 'application/json' }, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => {
        if ((res.statusCode ?? 0) >= 300) reject(new Error(`GET ${url}: HTTP ${res.statusCode}: ${body.slice(0, 200)}`));
        else
          try {
            resolve(JSON.parse(body));
          } catch (e) {
            reject(e);
          }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

export async function startEdgeLb(opts: EdgeLbOptions): Promise<RunningEdgeLb> {
  mkdirSync(opts.workDir, { recursive: true });
  const base = opts.marathon.replace(/\/$/, '');
  // A unix socket path has at most ~100 bytes (HAProxy: 97); a Mesos sandbox is deeper than that.
  const inDir = join(opts.workDir, 'haproxy.sock');
  const socketPath = inDir.length <= 90 ? inDir : join(tmpdir(), `dcos-edgelb-${createHash('sha256').update(inDir).digest('hex').slice(0, 16)}.sock`);
  const haproxy = new Haproxy({ dir: opts.workDir, ...(opts.haproxyBin ? { bin: opts.haproxyBin } : {}), log: opts.log });
  let backends: EdgeBackend[] = [];
  let problems: string[] = [];
  let stopped = false;
  let lastError: string | undefined;
  const reported = new Set<string>();

  // One refresh at a time; asks during one fold into one more.
  let inFlight: Promise<void> | undefined;
  let again = false;
  const refreshOnce = async () => {
    const apps = (await getJson(`${base}/v2/apps?embed=apps.tasks`)).apps ?? [];
    const cfg = haproxyConfig(apps, {
      group: opts.group,
      bind: opts.bind,
      httpPort: opts.httpPort,
      statsPort: opts.statsPort,
      socketPath,
    });
    for (const p of cfg.problems) if (!reported.has(p) && reported.size < 10_000 && reported.add(p)) opts.log('warn', p);
    const e = await haproxy.load(cfg.text);
    lastError = e;
    if (e) opts.log('error', e);
    else {
      backends = cfg.backends;
      problems = cfg.problems;
    }
  };
  const refresh = (): Promise<void> => {
    if (inFlight) {
      again = true;
      return inFlight;
    }
    inFlight = (async () => {
      do {
        again = false;
        try {
          await refreshOnce();
        } catch (e) {
          opts.log('error', `refresh failed: ${(e as Error).message}`);
        }
      } while (again && !stopped);
      inFlight = undefined;
    })();
    return inFlight;
  };

  await refreshOnce();
  if (!haproxy.pid) throw new Error(`HAProxy did not start: ${lastError ?? 'unknown'}`);

  // Events: any task, health or app change refreshes (debounced a little to fold bursts).
  let debounce: NodeJS.Timeout | undefined;
  const soon = () => {
    if (debounce || stopped) return;
    debounce = setTimeout(() => {
      debounce = undefined;
      void refresh();
    }, 50);
  };
  let stream: ReturnType<typeof request> | undefined;
  const follow = () => {
    if (stopped) return;
    let buf = '';
    stream = request(`${base}/v2/events`, { headers: { Accept: 'text/event-stream' } }, (res) => {
      res.setEncoding('utf8');
      soon(); // anything missed while disconnected
      res.on('data', (d: string) => {
        buf += d;
        let i = buf.indexOf('\n\n');
        while (i >= 0) {
          const chunk = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (REFRESH_EVENTS.test(chunk)) soon();
          i = buf.indexOf('\n\n');
        }
        if (buf.length > 4 * 1024 * 1024) buf = '';
      });
      res.on('end', () => setTimeout(follow, 1000));
    });
    stream.on('error', () => setTimeout(follow, 1000));
    stream.end();
  };
  follow();
  const resync = setInterval(() => void refresh(), opts.resyncMs ?? 30_000);

  return {
    haproxy,
    backends: () => backends,
    problems: () => problems,
    refresh,
    async stop() {
      stopped = true;
      clearInterval(resync);
      if (debounce) clearTimeout(debounce);
      stream?.destroy();
      await inFlight;
      await haproxy.stop();
    },
  };
}

const HELP = `Usage: dcos edgelb [run] [flags]

Runs the edge load balancer: HAProxy configured from Marathon app labels (marathon-lb's):
HAPROXY_GROUP, HAPROXY_n_VHOST, HAPROXY_n_MODE (http|tcp), HAPROXY_n_PATH, HAPROXY_n_BALANCE.
Virtual hosts are served on --http_port; each service port gets its own frontend.

Flags:
  --marathon=URL       Marathon (default http://127.0.0.1:8080)
  --group=NAME         serve apps whose HAPROXY_GROUP lists NAME; '*' serves all (default external)
  --bind=IP            address of every frontend (default 127.0.0.1)
  --http_port=PORT     virtual-host frontend (default 80)
  --stats_port=PORT    HAProxy stats page at /haproxy?stats (default none)
  --work_dir=DIR       config, pid and admin socket (default /var/lib/dcos-ts/edgelb)
  --haproxy=PATH       HAProxy binary (default /usr/sbin/haproxy)
`;

export async function runEdgeLb(all: string[]): Promise<void> {
  const [sub, ...rest] = all;
  if (sub === 'install' || sub === 'uninstall') {
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(EDGELB_USAGE);
      return;
    }
    const code = await (sub === 'install' ? edgelbInstall(rest) : edgelbUninstall(rest));
    process.exitCode = code;
    return;
  }
  const argv = sub === 'run' ? rest : all;
  if (argv[0] !== undefined && !argv[0].startsWith('-')) throw new Error(`Unknown command 'dcos edgelb ${argv[0]}'.\n${EDGELB_USAGE}`);
  const { flags } = parseFlags(argv, new Set(['help']));
  if (flags.has('help')) {
    process.stdout.write(`${HELP}\n${EDGELB_USAGE}`);
    return;
  }
  const port = (name: string, dflt?: number): number | undefined => {
    const v = flags.get(name);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`--${name}: expected a port 1..65535, got '${v}'`);
    return n;
  };
  const statsPort = port('stats-port');
  const lb = await startEdgeLb({
    marathon: flags.get('marathon') ?? 'http://127.0.0.1:8080',
    group: flags.get('group') ?? 'external',
    bind: flags.get('bind') ?? '127.0.0.1',
    httpPort: port('http-port', 80) as number,
    ...(statsPort !== undefined ? { statsPort } : {}),
    workDir: flags.get('work-dir') ?? '/var/lib/dcos-ts/edgelb',
    ...(flags.get('haproxy') ? { haproxyBin: flags.get('haproxy') as string } : {}),
    log: (level, msg) => process.stderr.write(`${new Date().toISOString()} ${level.toUpperCase()} edgelb: ${msg}\n`),
  });
  process.stdout.write(`${JSON.stringify({ event: 'ready', haproxy_pid: lb.haproxy.pid, backends: lb.backends().length })}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  await lb.stop();
}
