import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Master } from '../services/master/master.js';
import { type Router, sendJson } from './http.js';
import { proxyHttp } from './proxy.js';
import { uiRoutes, wantsJson } from './ui-static.js';

export interface GatewayOptions {
  master: Master;
  /** The router of the master process itself: /mesos/ is served in-process. */
  masterRouter: Router;
  version: string;
  clusterName: string;
  /** Extra in-process services by name (/service/<name>/ → their router), e.g. marathon later. */
  services?: Map<string, Router>;
}

/**
 * The one public entry: the CLI and UI talk only to it. Prefixes follow DC/OS Admin Router.
 * Components in the master process are dispatched in-process; agents and framework web UIs are
 * proxied. Authentication will be enforced here.
 */
export function gatewayRoutes(router: Router, opts: GatewayOptions): void {
  const { master } = opts;

  const inProcess = async (target: Router, req: IncomingMessage, res: ServerResponse, rest: string, query: URLSearchParams) => {
    const qs = query.toString();
    req.url = `/${rest}${qs ? `?${qs}` : ''}`;
    if (!(await target.handle(req, res))) sendJson(res, 404, { code: 404, message: `No route for ${req.url}` });
  };

  router.on('*', '/mesos', (_req, res) => {
    res.writeHead(301, { Location: '/mesos/' });
    res.end();
  });
  router.on('*', '/mesos/*', (req, res, ctx) => inProcess(opts.masterRouter, req, res, ctx.params.rest ?? '', ctx.query));
  router.on('*', '/system/v1/leader/mesos/*', (req, res, ctx) => inProcess(opts.masterRouter, req, res, ctx.params.rest ?? '', ctx.query));

  const toAgent = (req: IncomingMessage, res: ServerResponse, id: string, rest: string, query: URLSearchParams) => {
    const agent = master.agents.get(id);
    if (!agent || agent.state !== 'REGISTERED') {
      return sendJson(res, 404, { code: 404, message: `Agent ${id} is not registered (see 'dcos node list')` });
    }
    const qs = query.toString();
    proxyHttp(req, res, { host: agent.ip, port: agent.info.port ?? 5051, path: `/${rest}${qs ? `?${qs}` : ''}` });
  };
  router.on('*', '/agent/:id/*', (req, res, ctx) => toAgent(req, res, ctx.params.id ?? '', ctx.params.rest ?? '', ctx.query));
  router.on('*', '/slave/:id/*', (req, res, ctx) => toAgent(req, res, ctx.params.id ?? '', ctx.params.rest ?? '', ctx.query));

  router.on('*', '/service/:name/*', async (req, res, ctx) => {
    const name = ctx.params.name ?? '';
    const local = opts.services?.get(name);
    if (local) return inProcess(local, req, res, ctx.params.rest ?? '', ctx.query);
    const fw = [...master.frameworks.values()].find((f) => f.info.name === name && f.state !== 'COMPLETED');
    const webui = fw?.info.webui_url;
    if (!fw || !webui) return sendJson(res, 404, { code: 404, message: `No service named '${name}' with a web UI` });
    let url: URL;
    try {
      url = new URL(webui);
    } catch {
      return sendJson(res, 502, { code: 502, message: `Service '${name}' has an invalid webui_url '${webui}'` });
    }
    const qs = ctx.query.toString();
    const base = url.pathname.replace(/\/$/, '');
    proxyHttp(req, res, { host: url.hostname, port: Number(url.port || 80), path: `${base}/${ctx.params.rest ?? ''}${qs ? `?${qs}` : ''}` });
  });

  router.on('GET', '/dcos-metadata/dcos-version.json', (_req, res) =>
    sendJson(res, 200, { version: opts.version, 'dcos-variant': 'open', 'dcos-image-commit': 'dcos-ts', 'bootstrap-id': master.id }),
  );
  router.on('GET', '/dcos-metadata/ui-config.json', (_req, res) =>
    sendJson(res, 200, { uiConfiguration: { plugins: {} }, clusterConfiguration: { firstUser: false, id: master.id, name: opts.clusterName } }),
  );
  // The web UI (ui-static.ts); API clients that ask for JSON at / still get the cluster summary.
  const ui = uiRoutes(router);
  router.on('GET', '/', (req, res) => {
    if (!wantsJson(req)) return ui.index(req, res);
    sendJson(res, 200, {
      name: opts.clusterName,
      version: opts.version,
      links: { mesos: '/mesos/master/state', operator: '/mesos/api/v1', version: '/dcos-metadata/dcos-version.json', ui: '/' },
    });
  });
}
