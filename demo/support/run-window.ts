/** How long a load generator starts new work: until its plan's duration, or earlier once stopped. */
export class RunWindow {
  readonly #clock: () => number;
  #endMs: number;

  constructor(durationMs: number, clock: () => number) {
    this.#clock = clock;
    this.#endMs = durationMs;
  }

  /** New work may start. */
  get open(): boolean {
    return this.#clock() < this.#endMs;
  }

  /** Milliseconds until no new work may start; 0 once it is over. */
  get remainingMs(): number {
    return Math.max(0, this.#endMs - this.#clock());
  }

  /** No new work from now on; what is in flight finishes. */
  stop(): void {
    this.#endMs = Math.min(this.#endMs, this.#clock());
  }
}
