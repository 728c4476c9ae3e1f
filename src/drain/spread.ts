/**
 * Where, inside the close window, each long-lived connection (a WebSocket, an
 * event stream, an HTTP/2 session) is told to go.
 *
 * The window opens at t0 + DRAIN_DELAY, when endpoint removal has propagated
 * and the listeners close, so a reconnect lands on another pod, and lasts
 * CLOSE_SPREAD. One window serves every long-lived connection of the process,
 * whatever its protocol, so that the other pods see one steady reconnect rate.
 *
 * Each connection's moment is uniformly distributed over the window, as if
 * drawn at random, but the moments together are evenly spaced: the k-th
 * connection to ask gets (u + k·(φ - 1)) mod 1 of the window, a golden-ratio
 * sequence from a random start u. However many connections end up asking, n of
 * them split the window into gaps of at most three lengths (the three-gap
 * theorem), so their reconnects reach the surviving pods at close to
 * n / window per second. Independent draws clump: 100 of them over 5 s put
 * ~25 into the busiest second instead of 20.
 */
const GOLDEN_FRACTION = (Math.sqrt(5) - 1) / 2;

export class CloseSpread {
  readonly #start: number;
  #asked = 0;

  constructor(random: () => number = Math.random) {
    this.#start = random();
  }

  /** The next connection's moment, as a fraction of the window in [0, 1). */
  nextFraction(): number {
    return (this.#start + this.#asked++ * GOLDEN_FRACTION) % 1;
  }
}

export interface CloseWindowTimings {
  /** When the window opens, in milliseconds from t0 (DRAIN_DELAY). */
  readonly delayMs: number;
  /** How long it lasts (CLOSE_SPREAD, shortened to fit the deadline). */
  readonly spreadMs: number;
}

/** The drain's close window: hands out moments, one per long-lived connection that asks. */
export class CloseWindow {
  readonly timings: CloseWindowTimings;
  readonly #elapsedMs: () => number | undefined;
  readonly #spread: CloseSpread;

  /** `elapsedMs`: milliseconds since t0, undefined while serving. */
  constructor(timings: CloseWindowTimings, elapsedMs: () => number | undefined, spread = new CloseSpread()) {
    this.timings = timings;
    this.#elapsedMs = elapsedMs;
    this.#spread = spread;
  }

  /** The next connection's moment, in milliseconds from t0. */
  nextMomentMs(): number {
    return this.timings.delayMs + this.#spread.nextFraction() * this.timings.spreadMs;
  }

  /** Milliseconds from now to the next connection's moment; 0 when that moment has passed. */
  nextWaitMs(): number {
    return Math.max(0, this.nextMomentMs() - (this.#elapsedMs() ?? 0));
  }
}
