/**
 * How a drain's outcome leaves the process: the wait for a last scrape of
 * /metrics (FINAL_SCRAPE_WAIT), the termination message and the log lines, on
 * the real process with real signals and a scraper polling over real sockets.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDrainProxy, type DrainProxy } from '../../harness/drain-proxy.ts';
import { metricValue } from '../../harness/metrics.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { RawClient } from '../helpers/raw-client.ts';

const started: Array<DrainProxy | TestUpstream> = [];
const dir = mkdtempSync(join(tmpdir(), 'final-scrape-'));
after(async () => {
  for (const thing of started) await ('stop' in thing ? thing.stop() : thing.close());
  rmSync(dir, { recursive: true, force: true });
});

async function setup(env: Record<string, string>): Promise<DrainProxy> {
  const upstream = await startUpstream();
  started.push(upstream);
  const proxy = await startDrainProxy(upstream.port, { env: { DRAIN_DELAY: '200ms', DRAIN_TIMEOUT: '3s', ...env } });
  started.push(proxy);
  return proxy;
}

/** GET /metrics every `intervalMs` (at most `limit` times) until the proxy stops answering; keeps what it read and when. */
class Scraper {
  readonly answers: Array<{ at: number; body: string }> = [];
  #running = true;
  readonly done: Promise<void>;

  constructor(proxy: DrainProxy, intervalMs: number, limit = 200) {
    this.done = (async () => {
      for (let i = 0; i < limit && this.#running; i++) {
        if (i > 0) await sleep(intervalMs);
        try {
          const body = await (await proxy.admin('/metrics')).text();
          this.answers.push({ at: performance.now(), body });
        } catch {
          return;
        }
      }
    })();
  }

  stop(): Promise<void> {
    this.#running = false;
    return this.done;
  }

  get last(): string {
    return this.answers.at(-1)?.body ?? '';
  }
}

test('after its drain the process exits once a scrape carrying the outcome has been answered', async () => {
  const proxy = await setup({ FINAL_SCRAPE_WAIT: '10s' });
  const scraper = new Scraper(proxy, 400);
  await sleep(500);
  proxy.signal('SIGTERM');
  const drainFinished = await proxy.waitForLog('drain finished');
  const drainedAt = performance.now();
  const exit = await proxy.exited;
  await scraper.stop();
  assert.equal(exit.code, 0);
  const exiting = proxy.log('exiting')!;
  assert.equal(exiting.finalScrape, 'scraped');
  assert.equal(exiting.scrapers, 1);
  assert.ok((exiting.finalScrapeWaitedMs as number) < 2000, `waited ${exiting.finalScrapeWaitedMs} ms for a scraper polling every 400 ms`);
  assert.ok(proxy.exitedAt - drainedAt < 2000);
  // The scrape answered last carries the drain's outcome.
  assert.equal(metricValue(scraper.last, 'drain_proxy_drains_total{outcome="completed"}'), 1);
  assert.equal(metricValue(scraper.last, 'drain_proxy_drains_total{outcome="deadline"}'), 0);
  assert.equal(metricValue(scraper.last, 'drain_proxy_drain_duration_seconds'), (drainFinished.durationMs as number) / 1000);
  assert.equal(metricValue(scraper.last, 'drain_proxy_drain_phase{phase="drained"}'), 1);
});

test('nothing scraping: no wait; a scraper that went away: the wait ends at FINAL_SCRAPE_WAIT', async () => {
  const alone = await setup({ FINAL_SCRAPE_WAIT: '10s' });
  alone.signal('SIGTERM');
  assert.equal((await alone.exited).code, 0);
  assert.equal(alone.log('exiting')!.finalScrape, 'unscraped');
  assert.ok((alone.log('exiting')!.finalScrapeWaitedMs as number) < 100);

  const deserted = await setup({ FINAL_SCRAPE_WAIT: '1500ms' });
  const scraper = new Scraper(deserted, 100, 3);
  await scraper.done;
  deserted.signal('SIGTERM');
  assert.equal((await deserted.exited).code, 0);
  const exiting = deserted.log('exiting')!;
  assert.equal(exiting.finalScrape, 'timeout');
  assert.ok((exiting.finalScrapeWaitedMs as number) >= 1400, `waited ${exiting.finalScrapeWaitedMs} ms`);
});

test('native sidecar: the wait starts when the drain ends, so the SIGTERM that comes later exits at once', async () => {
  const proxy = await setup({ FINAL_SCRAPE_WAIT: '10s' });
  const scraper = new Scraper(proxy, 300);
  await sleep(400);
  // The app's preStop hook.
  const answer = await proxy.admin('/drain?wait=1');
  assert.equal(answer.status, 200);
  // The app exits meanwhile; the kubelet signals the proxy only then.
  await sleep(1000);
  proxy.signal('SIGTERM');
  const signalledAt = performance.now();
  assert.equal((await proxy.exited).code, 0);
  await scraper.stop();
  assert.equal(proxy.log('exiting')!.finalScrape, 'scraped');
  assert.ok(proxy.exitedAt - signalledAt < 500, `exited ${Math.round(proxy.exitedAt - signalledAt)} ms after its SIGTERM`);
});

test('the termination message: one JSON line written when the drain ends, exit code 3 for a cut', async () => {
  const path = join(dir, 'termination-log');
  const proxy = await setup({ DRAIN_TIMEOUT: '800ms', TERMINATION_MESSAGE_PATH: path });
  const client = await RawClient.connect(proxy.listenPort);
  client.write('GET /slow?ms=8000 HTTP/1.1\r\nHost: test\r\n\r\n');
  await sleep(100);
  proxy.signal('SIGTERM');
  assert.equal((await proxy.exited).code, 3);
  const text = readFileSync(path, 'utf8');
  assert.equal(text.split('\n').length, 2, 'one line');
  const message = JSON.parse(text);
  assert.equal(message.msg, 'drain finished');
  assert.equal(message.trigger, 'SIGTERM');
  assert.equal(message.cut, 1);
  assert.equal(message.closed.drain_deadline, 1);
  assert.equal(message.exitCode, 3);
  assert.ok(message.durationMs >= 800);
});

test('the termination message goes to /dev/termination-log only when the kubelet made it; a path that cannot be written is logged', async () => {
  const before = existsSync('/dev/termination-log');
  const proxy = await setup({});
  proxy.signal('SIGTERM');
  assert.equal((await proxy.exited).code, 0);
  assert.equal(existsSync('/dev/termination-log'), before, 'nothing created in /dev');

  const unwritable = await setup({ TERMINATION_MESSAGE_PATH: join(dir, 'no-such-dir', 'termination-log') });
  unwritable.signal('SIGTERM');
  assert.equal((await unwritable.exited).code, 0, 'the drain is over either way');
  assert.match(String(unwritable.log('termination message not written')?.err), /ENOENT/);
});

test('a second Ctrl-C does not wait for the scrape', async () => {
  const proxy = await setup({ FINAL_SCRAPE_WAIT: '30s', DRAIN_DELAY: '5s', DRAIN_TIMEOUT: '20s' });
  const scraper = new Scraper(proxy, 5000, 1);
  await scraper.done;
  proxy.signal('SIGINT');
  await proxy.waitForLog('drain phase draining');
  proxy.signal('SIGINT');
  assert.equal((await proxy.exited).code, 0);
  assert.equal(proxy.log('exiting')!.finalScrape, 'skipped');
});
