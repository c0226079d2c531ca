import type { Clock } from '../../src/core/clock';

/**
 * A clock that only moves when the test says so. `runUntil` fires the due timers in time order,
 * letting the promises they start settle before looking for the next timer.
 */
export class TestClock implements Clock {
  private timers: { at: number; seq: number; callback: () => void }[] = [];
  private seq = 0;

  constructor(private nowMs: number) {}

  now(): number {
    return this.nowMs;
  }

  setTimeout(callback: () => void, delayMs: number): unknown {
    const timer = { at: this.nowMs + Math.max(0, delayMs), seq: this.seq++, callback };
    this.timers.push(timer);
    return timer;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t !== handle);
  }

  /** Moves time forward to `untilMs`, firing every timer due on the way. */
  async runUntil(untilMs: number): Promise<void> {
    for (;;) {
      await settle();
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers[0];
      if (next === undefined || next.at > untilMs) break;
      this.timers.shift();
      this.nowMs = Math.max(this.nowMs, next.at);
      next.callback();
    }
    this.nowMs = Math.max(this.nowMs, untilMs);
    await settle();
  }

  get pendingTimers(): number {
    return this.timers.length;
  }
}

/** Lets every promise chain that needs no I/O run to its end. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
