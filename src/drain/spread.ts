/**
 * Where, inside the close window, each long-lived stream (a WebSocket, an
 * event stream) is told to go.
 *
 * Each stream's moment is uniformly distributed over the window, as if drawn at
 * random, but the moments together are evenly spaced: the k-th stream to ask
 * gets (u + k·(φ - 1)) mod 1 of the window, a golden-ratio sequence from a
 * random start u. However many streams end up asking, n of them split the
 * window into gaps of at most three lengths (the three-gap theorem), so their
 * reconnects reach the surviving pods at close to n / window per second.
 * Independent draws clump: 100 of them over 5 s put ~25 into the busiest
 * second instead of 20.
 */
const GOLDEN_FRACTION = (Math.sqrt(5) - 1) / 2;

export class CloseSpread {
  readonly #start: number;
  #asked = 0;

  constructor(random: () => number = Math.random) {
    this.#start = random();
  }

  /** The next stream's moment, as a fraction of the window in [0, 1). */
  nextFraction(): number {
    return (this.#start + this.#asked++ * GOLDEN_FRACTION) % 1;
  }
}
