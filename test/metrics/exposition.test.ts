/**
 * What /metrics exposes, read from the real process: `promtool check metrics`
 * finds nothing to say, prom-client's gauges named like counters are gone,
 * every drain_proxy family is documented in the README's Metrics table, and
 * the series alerts need from the start exist at 0.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startDrainProxy, type DrainProxy } from '../../harness/drain-proxy.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { metricValue } from '../../harness/metrics.ts';
import { ensurePrometheus, promtool } from '../helpers/prometheus.ts';

let skip: string | undefined;
let upstream: TestUpstream;
let proxy: DrainProxy;
let text: string;

before(async () => {
  skip = await ensurePrometheus();
  upstream = await startUpstream();
  proxy = await startDrainProxy(upstream.port);
  await fetch(proxy.url('/'));
  text = await (await proxy.admin('/metrics')).text();
});
after(async () => {
  await proxy.stop();
  await upstream.close();
});

function families(): Map<string, string> {
  return new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
}

test('promtool check metrics has nothing to say', (t) => {
  if (skip) return t.skip(skip);
  const result = promtool(['check', 'metrics'], text);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.equal(result.stdout + result.stderr, '');
});

test("prom-client's nodejs_active_*_total gauges are dropped; their by-type families stay", () => {
  const types = families();
  for (const name of ['nodejs_active_handles', 'nodejs_active_requests', 'nodejs_active_resources']) {
    assert.equal(types.get(name), 'gauge', name);
    assert.equal(types.has(`${name}_total`), false, `${name}_total`);
  }
  for (const [name, type] of types) {
    if (name.endsWith('_total')) assert.equal(type, 'counter', `${name} is named like a counter`);
  }
  assert.equal(types.get('process_start_time_seconds'), 'gauge', 'kept: DrainProxyRestarted reads it');
});

test("every drain_proxy family is in the README's Metrics table, and the table names no other", () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Metrics'), readme.indexOf('\n## ', readme.indexOf('## Metrics') + 1));
  const documented = new Set([...section.matchAll(/^\| `(drain_proxy_[a-z_]+)` \|/gm)].map((m) => m[1]));
  const exported = new Set([...families().keys()].filter((name) => name.startsWith('drain_proxy_')));
  assert.deepEqual([...documented].sort(), [...exported].sort());
});

test('the series alerts read exist from the start, at 0', () => {
  for (const series of [
    'drain_proxy_drains_total{outcome="completed"}',
    'drain_proxy_drains_total{outcome="deadline"}',
    'drain_proxy_connections_closed_total{protocol="http1",reason="drain_deadline"}',
    'drain_proxy_rejected_requests_total{code="DP_HEADER_TIMEOUT"}',
    'drain_proxy_connections_refused_total{reason="max_connections"}',
    'drain_proxy_drain_denied_total',
    'drain_proxy_websocket_close_timeouts_total',
    'drain_proxy_drain_duration_seconds',
  ]) {
    assert.equal(metricValue(text, series), 0, series);
  }
  assert.equal(metricValue(text, 'drain_proxy_rejected_requests_total{code="DP_UPSTREAM_RESET"}'), undefined, 'app failures are upstream errors, not rejected requests');
});
