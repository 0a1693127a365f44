/**
 * Time is injected. Services never read the wall clock or start timers themselves: they ask a
 * Clock, so the simulator can run them on virtual time and replay a run exactly.
 */
export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch (virtual in the simulator). */
  nowMs(): number;
  /** Runs fn once after delayMs. */
  setTimer(delayMs: number, fn: () => void): TimerHandle;
  /** Runs fn every periodMs until cancelled. */
  setInterval(periodMs: number, fn: () => void): TimerHandle;
}

export const secondsToMs = (s: number): number => Math.round(s * 1000);
