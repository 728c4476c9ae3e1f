/**
 * The Metrics families in-process (the real process's exposition is
 * exposition.test.ts): gauges read live state at scrape time, counters count
 * what they are told, the series alerts need exist at 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metricValue } from '../../harness/metrics.ts';
import { FakeConnection } from '../helpers/connections.ts';
import { testMetrics } from '../helpers/in-process.ts';

test('gauges read the live state when scraped', async () => {
  const state = { ready: true, memoryPressure: false };
  const { metrics, registry } = testMetrics(undefined, state);
  new FakeConnection(registry, { protocol: 'h2', bytes: 4096 });
  registry.requestStarted('h2');
  let text = await metrics.registry.metrics();
  assert.equal(metricValue(text, 'drain_proxy_ready'), 1);
  assert.equal(metricValue(text, 'drain_proxy_draining'), 0);
  assert.equal(metricValue(text, 'drain_proxy_drain_phase{phase="serving"}'), 1);
  assert.equal(metricValue(text, 'drain_proxy_connections_active{protocol="h2"}'), 1);
  assert.equal(metricValue(text, 'drain_proxy_buffered_bytes{protocol="h2"}'), 4096);
  assert.equal(metricValue(text, 'drain_proxy_requests_in_flight{protocol="h2"}'), 1);
  assert.equal(metricValue(text, 'drain_proxy_memory_pressure'), 0);
  state.ready = false;
  state.memoryPressure = true;
  registry.requestFinished('h2');
  text = await metrics.registry.metrics();
  assert.equal(metricValue(text, 'drain_proxy_ready'), 0);
  assert.equal(metricValue(text, 'drain_proxy_memory_pressure'), 1);
  assert.equal(metricValue(text, 'drain_proxy_requests_in_flight{protocol="h2"}'), 0);
});

test('counters start at 0 for every label value, and count what they are told', async () => {
  const { metrics } = testMetrics();
  let text = await metrics.registry.metrics();
  assert.equal(metricValue(text, 'drain_proxy_connections_closed_total{protocol="websocket",reason="drain_close_frame"}'), 0);
  assert.equal(metricValue(text, 'drain_proxy_upstream_errors_total{kind="truncated"}'), 0);
  assert.equal(metricValue(text, 'drain_proxy_rejected_requests_total{code="DP_BAD_CHUNK"}'), 0);
  assert.equal(metricValue(text, 'drain_proxy_rejected_requests_total{code="DP_UPSTREAM_RESET"}'), undefined, 'the app\'s failures are upstream errors, not refusals');
  assert.equal(metricValue(text, 'drain_proxy_drains_total{outcome="deadline"}'), 0);
  metrics.connectionClosed('websocket', 'drain_close_frame');
  metrics.upstreamError('truncated');
  metrics.upstreamError('truncated');
  metrics.requestRejected('DP_BAD_CHUNK');
  metrics.connectionRefused('max_connections');
  metrics.limitEnforced('h2_stream_resets');
  metrics.drainDenied();
  metrics.closeHandshakeCompleted(0.02);
  metrics.closeHandshakeTimedOut();
  metrics.drainEnded({ trigger: 'SIGTERM', durationMs: 1500, requestsCompleted: 3, closed: {} as never, cut: 2 });
  text = await metrics.registry.metrics();
  assert.equal(metricValue(text, 'drain_proxy_connections_closed_total{protocol="websocket",reason="drain_close_frame"}'), 1);
  assert.equal(metricValue(text, 'drain_proxy_upstream_errors_total{kind="truncated"}'), 2);
  assert.equal(metricValue(text, 'drain_proxy_rejected_requests_total{code="DP_BAD_CHUNK"}'), 1);
  assert.equal(metricValue(text, 'drain_proxy_connections_refused_total{reason="max_connections"}'), 1);
  assert.equal(metricValue(text, 'drain_proxy_limits_enforced_total{reason="h2_stream_resets"}'), 1);
  assert.equal(metricValue(text, 'drain_proxy_drain_denied_total'), 1);
  assert.equal(metricValue(text, 'drain_proxy_websocket_close_handshake_seconds_bucket{le="0.025"}'), 1);
  assert.equal(metricValue(text, 'drain_proxy_websocket_close_timeouts_total'), 1);
  assert.equal(metricValue(text, 'drain_proxy_drain_duration_seconds'), 1.5);
  assert.equal(metricValue(text, 'drain_proxy_drains_total{outcome="deadline"}'), 1, 'connections were cut: exit code 3');
});
