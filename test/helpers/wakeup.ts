/**
 * What a test reader waits on between events: `wait(ms)` resolves at the next
 * `notify()` (bytes arrived, the peer ended, the socket closed) or after `ms`,
 * whichever comes first. The reader then looks again at what it has.
 */
export class Wakeup {
  readonly #waiters = new Set<() => void>();

  notify(): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) wake();
  }

  wait(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, timeoutMs);
      this.#waiters.add(wake);
    });
  }
}
