/**
 * What the final scrape costs in pod termination time: a real Prometheus
 * scrapes PODS proxies every INTERVAL; each gets SIGTERM at a random moment of
 * its scrape cycle, drains at once (no connections, DRAIN_DELAY 0) and waits
 * for the scrape that carries its outcome (FINAL_SCRAPE_WAIT = INTERVAL + 2 s,
 * as the chart derives it). Prints, per interval, the waits from the drain's
 * end to the release of the exit, and whether Prometheus held each outcome.
 *
 *   npm run build && node bench/final-scrape.ts [1s,5s,15s] [pods]
 *
 * With a native sidecar the wait starts when the drain ends and runs while
 * the app exits, so what it adds to the pod's termination is
 * max(0, wait - the app's exit time); in classic mode all of it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ensurePrometheus, PrometheusServer } from '../test/helpers/prometheus.ts';
import { startDrainProxy, type DrainProxy } from '../harness/drain-proxy.ts';
import { startUpstream } from '../test/helpers/upstream.ts';
import { parseDuration } from '../src/config/values.ts';

const intervals = (process.argv[2] ?? '1s,5s,15s').split(',');
const podCount = Number(process.argv[3] ?? 8);

function stats(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return `mean ${Math.round(mean)} ms, median ${sorted[Math.floor(sorted.length / 2)]} ms, max ${sorted.at(-1)} ms`;
}

async function run(interval: string): Promise<void> {
  const intervalMs = parseDuration(interval);
  const app = await startUpstream();
  const proxies: DrainProxy[] = [];
  for (let i = 0; i < podCount; i++) {
    proxies.push(await startDrainProxy(app.port, { env: { DRAIN_DELAY: '0s', DRAIN_TIMEOUT: '5s', FINAL_SCRAPE_WAIT: `${intervalMs + 2000}ms`, LOG_LEVEL: 'info' } }));
  }
  const prometheus = await PrometheusServer.start({
    scrapeConfigs: [{
      job_name: 'drain-proxy', scrape_interval: interval, scrape_timeout: interval,
      static_configs: proxies.map((p, i) => ({ targets: [`127.0.0.1:${p.adminPort}`], labels: { pod: `pod-${i}` } })),
    }],
  });
  try {
    // Two scrapes of every pod, so each is a scraper the proxy knows.
    await prometheus.eventually(`count(count_over_time(up[1h]) >= 2) == ${podCount}`, intervalMs * 3 + 10_000);
    await Promise.all(proxies.map(async (proxy) => {
      await sleep(Math.random() * intervalMs);
      proxy.signal('SIGTERM');
      await proxy.exited;
    }));
    const waits = proxies.map((p) => p.log('exiting')!.finalScrapeWaitedMs as number);
    const outcomes = proxies.map((p) => p.log('exiting')!.finalScrape as string);
    const held = await prometheus.query('count(max_over_time(drain_proxy_drains_total{outcome="completed"}[1h]) == 1)');
    console.log(`interval ${interval}, ${podCount} pods: waits ${stats(waits)} (${(waits.reduce((a, b) => a + b, 0) / waits.length / intervalMs).toFixed(2)} x the interval); ` +
      `outcomes ${[...new Set(outcomes)].join(',')}; drains held by Prometheus after the exits: ${held[0]?.value[1] ?? 0}/${podCount}`);
  } finally {
    await prometheus.stop();
    for (const proxy of proxies) await proxy.stop();
    await app.close();
  }
}

const skip = await ensurePrometheus();
if (skip !== undefined) {
  console.error(skip);
  process.exit(1);
}
for (const interval of intervals) await run(interval);
