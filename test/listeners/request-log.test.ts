import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestLog } from '../../src/listeners/request-log.ts';
import { metricValue } from '../../harness/metrics.ts';
import { recordingLogger, testMetrics, testPeer } from '../helpers/in-process.ts';

test('a completed request: out of flight, counted by listener, status class and duration, one access log line naming its listener, scheme and protocol', async () => {
  const { metrics, registry } = testMetrics();
  const { logger, lines } = recordingLogger('info');
  const requests = new RequestLog(registry, metrics, logger, true);
  requests.started('http1');
  requests.started('h2');
  assert.deepEqual([registry.inFlight.http1, registry.inFlight.h2], [1, 1]);
  requests.completed('http1', testPeer('10.0.0.7'), 'GET', 204, 12.3456789);
  requests.completed('h2', testPeer('::1', 'https'), 'POST', 503, 2);
  assert.deepEqual([registry.inFlight.http1, registry.inFlight.h2], [0, 0]);
  assert.equal(registry.completed, 2);
  const text = await metrics.registry.metrics();
  assert.equal(metricValue(text, 'drain_proxy_requests_total{listener="8000",protocol="http1",code_class="2xx"}'), 1);
  assert.equal(metricValue(text, 'drain_proxy_requests_total{protocol="h2",code_class="5xx"}'), 1);
  assert.equal(metricValue(text, 'drain_proxy_request_duration_seconds_bucket{le="0.01",protocol="http1"}'), 0);
  assert.equal(metricValue(text, 'drain_proxy_request_duration_seconds_bucket{le="0.025",protocol="http1"}'), 1);
  const logged = lines.filter((line) => line.msg === 'request').map(({ client, listener, scheme, protocol, method, status, ms }) => ({ client, listener, scheme, protocol, method, status, ms }));
  assert.deepEqual(logged, [
    { client: '10.0.0.7', listener: '8000', scheme: 'http', protocol: 'http1', method: 'GET', status: 204, ms: 12.346 },
    { client: '::1', listener: '8000', scheme: 'https', protocol: 'h2', method: 'POST', status: 503, ms: 2 },
  ]);
});

test('ACCESS_LOG off: counted, not logged; an abandoned request leaves flight without counting as completed', async () => {
  const { metrics, registry } = testMetrics();
  const { logger, lines } = recordingLogger('info');
  const requests = new RequestLog(registry, metrics, logger, false);
  requests.started('http1');
  requests.started('http1');
  requests.completed('http1', testPeer('10.0.0.7'), 'GET', 200, 1);
  requests.abandoned('http1');
  assert.equal(registry.inFlight.http1, 0);
  assert.equal(registry.completed, 1);
  assert.equal(metricValue(await metrics.registry.metrics(), 'drain_proxy_requests_total{protocol="http1",code_class="2xx"}'), 1);
  assert.deepEqual(lines, []);
});
