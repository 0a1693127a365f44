import type { Clock, TimerHandle } from '../base/clock.js';

/** The wall clock and Node's timers. */
export class RealClock implements Clock {
  nowMs(): number {
    return Date.now();
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const t = setTimeout(fn, Math.max(0, delayMs));
    return { cancel: () => clearTimeout(t) };
  }

  setInterval(periodMs: number, fn: () => void): TimerHandle {
    const t = setInterval(fn, Math.max(1, periodMs));
    return { cancel: () => clearInterval(t) };
  }
}
