/**
 * The last scrape: a drain's outcome (its duration, the closes by reason, the
 * cut) is set in the process's last moments, after the scrape before them, and
 * would leave with the process. So once the drain has ended the process waits
 * until every scraper it has recently answered has fetched `/metrics` again,
 * bounded by FINAL_SCRAPE_WAIT counted from the drain's end:
 *
 *   scrapes answered ──▶ drainEnded(): the final values are set; the scrapers
 *   (by peer address)    seen in the last `waitMs` are the ones waited for
 *                           │
 *                           ├── each has been answered a scrape collected
 *                           │   after the end ──────────────────▶ 'scraped'
 *                           ├── none seen ──────────────────────▶ 'unscraped' (at once)
 *                           └── waitMs after the end ───────────▶ 'timeout'
 *
 * A scraper is told apart by its peer address: the replicas of a Prometheus
 * pair each get their scrape. Scrapers that went away (a target dropped by
 * service discovery) are waited for only until the bound. With a native
 * sidecar the drain ends before the proxy's SIGTERM (the app exits in
 * between), so the wait overlaps the app's exit.
 */
export type FinalScrapeOutcome = 'scraped' | 'unscraped' | 'timeout' | 'off' | 'skipped';

export interface FinalScrapeResult {
  readonly outcome: FinalScrapeOutcome;
  /** From the drain's end to the outcome. */
  readonly waitedMs: number;
  /** Scrapers waited for. */
  readonly scrapers: number;
}

/** Peer addresses remembered at most; the oldest is forgotten first. */
const MAX_SCRAPERS = 32;

export class FinalScrape {
  readonly #waitMs: number;
  /** Peer address -> when its last scrape was answered (performance.now()). */
  readonly #lastAnswered = new Map<string, number>();
  #endedAt: number | undefined;
  #waitingFor: Set<string> | undefined;
  #scrapers = 0;
  #timer: NodeJS.Timeout | undefined;
  #result: FinalScrapeResult | undefined;
  #settle!: (result: FinalScrapeResult) => void;
  readonly settled: Promise<FinalScrapeResult>;

  constructor(waitMs: number) {
    this.#waitMs = waitMs;
    this.settled = new Promise((resolve) => (this.#settle = resolve));
  }

  /** True once the drain's outcome is in the metrics: a collection that starts now carries it. */
  get final(): boolean {
    return this.#endedAt !== undefined;
  }

  /** A `/metrics` answer has been written to `scraper`; `final` is what `final` was when its collection began. */
  scrapeAnswered(scraper: string, final: boolean): void {
    this.#lastAnswered.delete(scraper);
    this.#lastAnswered.set(scraper, performance.now());
    if (this.#lastAnswered.size > MAX_SCRAPERS) this.#lastAnswered.delete(this.#lastAnswered.keys().next().value!);
    if (!final || this.#waitingFor === undefined) return;
    this.#waitingFor.delete(scraper);
    if (this.#waitingFor.size === 0) this.#finish('scraped');
  }

  /** The drain has ended and its outcome is set: starts the wait. Later calls change nothing. */
  drainEnded(): void {
    if (this.#endedAt !== undefined) return;
    const now = performance.now();
    this.#endedAt = now;
    if (this.#waitMs === 0) return this.#finish('off');
    this.#waitingFor = new Set();
    for (const [scraper, at] of this.#lastAnswered) if (now - at <= this.#waitMs) this.#waitingFor.add(scraper);
    this.#scrapers = this.#waitingFor.size;
    if (this.#scrapers === 0) return this.#finish('unscraped');
    this.#timer = setTimeout(() => this.#finish('timeout'), this.#waitMs);
  }

  /** Gives up waiting (a second Ctrl-C). */
  skip(): void {
    this.#endedAt ??= performance.now();
    this.#finish('skipped');
  }

  #finish(outcome: FinalScrapeOutcome): void {
    if (this.#result !== undefined) return;
    clearTimeout(this.#timer);
    this.#result = { outcome, waitedMs: Math.round(performance.now() - this.#endedAt!), scrapers: this.#scrapers };
    this.#settle(this.#result);
  }
}
