import type { Clock, TimerHandle } from '../../base/clock.js';
import type { ImageAdmin, ImageGcPolicy } from '../../ports/image-admin.js';

/**
 * Image garbage collection on a timer from the injected Clock: every interval, unused images
 * older than maxAge go, then the least recently used unused ones until the cache fits maxBytes.
 * A run never overlaps the previous one; images a container uses are never removed (the store
 * checks that itself).
 */
export function startImageGc(
  images: ImageAdmin,
  clock: Clock,
  policy: ImageGcPolicy,
  intervalMs: number,
  log: (level: 'info' | 'warn' | 'error', msg: string) => void,
): TimerHandle {
  let busy = false;
  return clock.setInterval(intervalMs, () => {
    if (busy) return;
    busy = true;
    images
      .gc(policy, clock.nowMs())
      .then((r) => {
        if (r.removed.length > 0) log('info', `image gc removed ${r.removed.join(', ')} (${r.freedBytes} bytes freed, ${r.keptBytes} kept)`);
      })
      .catch((e: Error) => log('warn', `image gc failed: ${e.message}`))
      .finally(() => {
        busy = false;
      });
  });
}

/** Mesos byte sizes: `512MB`, `10GB`, `1024B`, or a bare number of bytes. */
export function parseBytes(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB)?\s*$/i.exec(text);
  if (!m) return undefined;
  const f: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };
  return Math.round(Number(m[1]) * (f[(m[2] ?? 'B').toUpperCase()] ?? 1));
}
