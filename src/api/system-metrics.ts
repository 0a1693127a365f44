import { cpus, freemem, loadavg, totalmem } from 'node:os';

/** The system/* entries of /metrics/snapshot, shared by master and agent. */
export function systemMetrics(): Record<string, number> {
  const [l1, l5, l15] = loadavg();
  return {
    'system/cpus_total': cpus().length,
    'system/load_1min': l1 ?? 0,
    'system/load_5min': l5 ?? 0,
    'system/load_15min': l15 ?? 0,
    'system/mem_total_bytes': totalmem(),
    'system/mem_free_bytes': freemem(),
  };
}
