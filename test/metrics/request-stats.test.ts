import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { DURATION_BUCKETS, RequestStats } from '../../src/metrics/request-stats.ts';
import { metricValue } from '../../harness/metrics.ts';

async function exposed(record: (stats: RequestStats) => void): Promise<string> {
  const stats = new RequestStats(['8000', '8081']);
  const registry = new Registry();
  stats.register(registry);
  record(stats);
  return registry.metrics();
}

test('status classes: 1xx to 5xx by the hundreds; anything outside 100-599 counts as 5xx', async () => {
  const text = await exposed((stats) => {
    for (const status of [101, 200, 204, 301, 404, 499, 500, 599, 600, 42]) stats.record('8000', 'http1', status, 0.001);
  });
  const count = (codeClass: string): number | undefined => metricValue(text, `drain_proxy_requests_total{protocol="http1",code_class="${codeClass}"}`);
  assert.deepEqual(['1xx', '2xx', '3xx', '4xx', '5xx'].map(count), [1, 2, 1, 2, 4]);
  assert.equal(metricValue(text, 'drain_proxy_requests_total{protocol="h2",code_class="2xx"}'), 0, 'every protocol\'s series, from the start');
});

test('durations: a bucket holds what is at most its bound, cumulatively; +Inf, sum and count', async () => {
  const text = await exposed((stats) => {
    stats.record('8000', 'h2', 200, 0.001);
    stats.record('8000', 'h2', 200, 0.0011);
    stats.record('8000', 'h2', 200, 120);
  });
  const bucket = (le: number | string): number | undefined => metricValue(text, `drain_proxy_request_duration_seconds_bucket{le="${le}",protocol="h2"}`);
  assert.equal(bucket(DURATION_BUCKETS[0]), 1);
  assert.equal(bucket(0.005), 2);
  assert.equal(bucket(DURATION_BUCKETS.at(-1)!), 2);
  assert.equal(bucket('+Inf'), 3);
  assert.equal(metricValue(text, 'drain_proxy_request_duration_seconds_count{protocol="h2"}'), 3);
  assert.ok(Math.abs(metricValue(text, 'drain_proxy_request_duration_seconds_sum{protocol="h2"}')! - 120.0021) < 1e-9);
});

test('listeners: each public port has its own series from the start; a label not given at startup is not recorded', async () => {
  const text = await exposed((stats) => {
    stats.record('8081', 'http1', 200, 0.001);
    stats.record('9999', 'http1', 200, 0.001);
  });
  assert.equal(metricValue(text, 'drain_proxy_requests_total{listener="8081",protocol="http1",code_class="2xx"}'), 1);
  assert.equal(metricValue(text, 'drain_proxy_requests_total{listener="8000",protocol="http1",code_class="2xx"}'), 0);
  assert.equal(metricValue(text, 'drain_proxy_requests_total{listener="9999"}'), undefined, 'labels are a bounded set');
  assert.equal(metricValue(text, 'drain_proxy_request_duration_seconds_count{listener="8081",protocol="http1"}'), 1);
  assert.equal(metricValue(text, 'drain_proxy_requests_total'), 1, 'one request in all');
});
