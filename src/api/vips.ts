import { vipDnsNames } from '../core/vip/index.js';
import type { VipService } from '../services/vip/index.js';
import { type Router, sendJson } from './http.js';

/**
 * The VIP API in the shape of dcos-net's `/v1/vips` (one entry per VIP with its backends), plus
 * `/v1/vips/status` (data path, range, labels that were ignored and why). Served through the
 * gateway at /net/v1/....
 */
export function vipRoutes(router: Router, service: VipService, dcosDomain: string): void {
  router.on('GET', '/v1/vips', (_req, res) =>
    sendJson(
      res,
      200,
      service.table.map((v) => ({
        vip: `${v.ip}:${v.port}`,
        protocol: v.protocol,
        name: v.label,
        dns: vipDnsNames(v, dcosDomain),
        backend: v.backends.map((b) => ({ ip: b.ip, port: b.port, task_id: b.taskId, agent_id: b.agentId })),
      })),
    ),
  );
  router.on('GET', '/v1/vips/status', (_req, res) => {
    const p = [...service.propagationMs].sort((a, b) => a - b);
    const pct = (q: number) => (p.length ? p[Math.min(p.length - 1, Math.floor(q * p.length))] : null);
    sendJson(res, 200, {
      ...service.status,
      vips: service.table.length,
      problems: service.labelProblems.map((x) => ({ task_id: x.taskId, key: x.key, value: x.value, message: x.message })),
      propagation_ms: { samples: p.length, p50: pct(0.5), p99: pct(0.99) },
    });
  });
}
