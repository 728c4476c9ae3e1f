import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { FinalScrape } from '../../src/metrics/final-scrape.ts';

/** Whether `promise` has settled by the next macrotask. */
async function settledYet(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => (done = true));
  await sleep(0);
  return done;
}

test('off: settles as soon as the drain ends', async () => {
  const scrape = new FinalScrape(0);
  scrape.scrapeAnswered('10.0.0.9', false);
  assert.equal(await settledYet(scrape.settled), false, 'nothing before the drain ends');
  scrape.drainEnded();
  assert.deepEqual({ ...(await scrape.settled), waitedMs: 0 }, { outcome: 'off', waitedMs: 0, scrapers: 0 });
});

test('nobody scraped: no wait', async () => {
  const scrape = new FinalScrape(60_000);
  scrape.drainEnded();
  const result = await scrape.settled;
  assert.equal(result.outcome, 'unscraped');
  assert.ok(result.waitedMs < 50, `${result.waitedMs} ms`);
});

test('waits for a scrape collected after the end, not for one collected before it', async () => {
  const scrape = new FinalScrape(60_000);
  scrape.scrapeAnswered('10.0.0.9', false);
  assert.equal(scrape.final, false);
  scrape.drainEnded();
  assert.equal(scrape.final, true, 'a collection starting now carries the outcome');
  // Collected before the end, answered after it: its values are not the final ones.
  scrape.scrapeAnswered('10.0.0.9', false);
  assert.equal(await settledYet(scrape.settled), false);
  scrape.scrapeAnswered('10.0.0.9', true);
  assert.deepEqual({ ...(await scrape.settled), waitedMs: 0 }, { outcome: 'scraped', waitedMs: 0, scrapers: 1 });
});

test('each scraper seen recently gets its scrape (a Prometheus pair), others are not waited for', async () => {
  const scrape = new FinalScrape(60_000);
  scrape.scrapeAnswered('10.0.0.1', false);
  scrape.scrapeAnswered('10.0.0.2', false);
  scrape.drainEnded();
  scrape.scrapeAnswered('10.0.0.1', true);
  scrape.scrapeAnswered('10.0.0.3', true); // a newcomer (someone's curl) answers nothing for the others
  assert.equal(await settledYet(scrape.settled), false, 'still waiting for 10.0.0.2');
  scrape.scrapeAnswered('10.0.0.2', true);
  const result = await scrape.settled;
  assert.equal(result.outcome, 'scraped');
  assert.equal(result.scrapers, 2);
});

test('a scraper last seen longer ago than the wait is not waited for', async () => {
  const scrape = new FinalScrape(40);
  scrape.scrapeAnswered('10.0.0.9', false);
  await sleep(80);
  scrape.drainEnded();
  assert.equal((await scrape.settled).outcome, 'unscraped');
});

test('a scraper that went away: the wait ends at the bound', async () => {
  const scrape = new FinalScrape(150);
  scrape.scrapeAnswered('10.0.0.9', false);
  scrape.drainEnded();
  const result = await scrape.settled;
  assert.equal(result.outcome, 'timeout');
  assert.ok(result.waitedMs >= 140, `${result.waitedMs} ms`);
});

test('skip() ends the wait at once; the first outcome stays', async () => {
  const scrape = new FinalScrape(60_000);
  scrape.scrapeAnswered('10.0.0.9', false);
  scrape.drainEnded();
  scrape.skip();
  scrape.scrapeAnswered('10.0.0.9', true);
  assert.equal((await scrape.settled).outcome, 'skipped');
});

test('remembers a bounded number of scrapers, forgetting the oldest', async () => {
  const scrape = new FinalScrape(60_000);
  for (let i = 0; i < 40; i++) scrape.scrapeAnswered(`10.0.1.${i}`, false);
  scrape.drainEnded();
  for (let i = 8; i < 40; i++) scrape.scrapeAnswered(`10.0.1.${i}`, true);
  const result = await scrape.settled;
  assert.deepEqual([result.outcome, result.scrapers], ['scraped', 32]);
});
