/**
 * Where, inside the close window, each long-lived connection (a WebSocket, an
 * event stream, an HTTP/2 session) is told to go.
 *
 * The window opens at t0 + DRAIN_DELAY, when endpoint removal has propagated
 * and the listeners close, so a reconnect lands on another pod, and lasts
 * CLOSE_SPREAD. One window serves every long-lived connection of the process,
 * so that the other pods see one steady reconnect rate.
 *
 * Each connection's moment is uniformly distributed over the window, as if
 * drawn at random, but the moments together are evenly spaced: the k-th
 * connection to ask gets (u + k·(φ - 1)) mod 1 of the window, a golden-ratio
 * sequence from a random start u. However many connections end up asking, n of
 * them split the window into gaps of at most three lengths (the three-gap
 * theorem), so their reconnects reach the surviving pods at close to
 * n / window per second. Independent draws clump: 100 of them over 5 s put
 * ~25 into the busiest second instead of 20.
 *
 * Each kind of connection has a sequence of its own in the window. One shared
 * sequence would space all of them together slightly better, but the
 * WebSockets among them would be a random subset of it, and a random subset
 * clumps like independent draws: with 50 WebSockets and 45 HTTP/2 sessions
 * asking in random order, the WebSockets' busiest second holds 1.4x their
 * share, the sessions' 1.45x (the union 1.05x). A sequence per kind keeps
 * each kind at 1.1x, and their union at 1.1x too (test/drain/spread.test.ts):
 * the other pods see a steady rate of each kind of reconnect, and in all.
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

/** The kinds of long-lived connection: each is spaced evenly on its own in the window. */
export const LONG_LIVED = ['websocket', 'event_stream', 'h2'] as const;
export type LongLived = (typeof LONG_LIVED)[number];

/** The drain's close window: hands out moments, one per long-lived connection that asks. */
export class CloseWindow {
  readonly timings: CloseWindowTimings;
  readonly #elapsedMs: () => number | undefined;
  readonly #spreads: Record<LongLived, CloseSpread>;

  /** `elapsedMs`: milliseconds since t0, undefined while serving. */
  constructor(timings: CloseWindowTimings, elapsedMs: () => number | undefined, random: () => number = Math.random) {
    this.timings = timings;
    this.#elapsedMs = elapsedMs;
    this.#spreads = { websocket: new CloseSpread(random), event_stream: new CloseSpread(random), h2: new CloseSpread(random) };
  }

  /** The next moment for a connection of this kind, in milliseconds from t0. */
  nextMomentMs(kind: LongLived): number {
    return this.timings.delayMs + this.#spreads[kind].nextFraction() * this.timings.spreadMs;
  }

  /** Milliseconds from now to the next moment for a connection of this kind; 0 when that moment has passed. */
  nextWaitMs(kind: LongLived): number {
    return Math.max(0, this.nextMomentMs(kind) - (this.#elapsedMs() ?? 0));
  }
}
