/**
 * What every group of emulated clients shares: its plan, the clock its records are on, and the window in which it
 * starts new work: until the plan's duration, or earlier once stopped (what is in flight finishes).
 */
export class ClientGroup<Plan extends { readonly durationMs: number }> {
  protected readonly plan: Plan;
  readonly clock: () => number;
  #endMs: number;

  constructor(plan: Plan, clock: () => number) {
    this.plan = plan;
    this.clock = clock;
    this.#endMs = plan.durationMs;
  }

  /** New work may start. */
  protected get open(): boolean {
    return this.clock() < this.#endMs;
  }

  /** Milliseconds until no new work may start; 0 once it is over. */
  protected get remainingMs(): number {
    return Math.max(0, this.#endMs - this.clock());
  }

  /** No new work from now on; what is in flight finishes. */
  stop(): void {
    this.#endMs = Math.min(this.#endMs, this.clock());
  }
}
