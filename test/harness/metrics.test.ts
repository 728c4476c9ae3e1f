/** harness/metrics.ts and harness/cli.ts's settings: reading an exposition, and number settings named as the user wrote them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { numberSetting } from '../../harness/cli.ts';
import { metricValue } from '../../harness/metrics.ts';

const TEXT = `# HELP drain_proxy_connections_active Open connections
# TYPE drain_proxy_connections_active gauge
drain_proxy_connections_active{protocol="http1"} 3
drain_proxy_connections_active{protocol="websocket"} 9872
drain_proxy_connections_active_peak 12
drain_proxy_ready 1
nodejs_heap_size_used_bytes 15937536
`;

test('an exact series, with or without labels; a bare name sums its label sets; a longer name with the same start is another metric', () => {
  assert.equal(metricValue(TEXT, 'drain_proxy_connections_active{protocol="websocket"}'), 9872);
  assert.equal(metricValue(TEXT, 'drain_proxy_ready'), 1);
  assert.equal(metricValue(TEXT, 'drain_proxy_connections_active'), 9875);
  assert.equal(metricValue(TEXT, 'drain_proxy_connections_active_peak'), 12);
  assert.equal(metricValue(TEXT, 'nodejs_heap_size_used_bytes'), 15937536);
});

test('absent series are undefined, not 0', () => {
  assert.equal(metricValue(TEXT, 'drain_proxy_connections_active{protocol="h2"}'), undefined);
  assert.equal(metricValue(TEXT, 'drain_proxy_draining'), undefined);
  assert.equal(metricValue('', 'drain_proxy_ready'), undefined);
});

test('number settings: unset is the fallback; out of range, not a number or not an integer is refused naming the setting', () => {
  assert.equal(numberSetting('--rollouts', undefined, 3, 1, 10), 3);
  assert.equal(numberSetting('--rollouts', '', 3, 1, 10), 3);
  assert.equal(numberSetting('--rollouts', '7', 3, 1, 10), 7);
  assert.equal(numberSetting('SOAK_TOLERANCE', '0.25', 0.1, 0, 10, false), 0.25);
  assert.throws(() => numberSetting('--rollouts', '11', 3, 1, 10), /^Error: --rollouts must be an integer in 1\.\.10, got '11'$/);
  assert.throws(() => numberSetting('BENCH_ROUNDS', '2.5', 3, 1, Infinity), /^Error: BENCH_ROUNDS must be an integer >= 1, got '2\.5'$/);
  assert.throws(() => numberSetting('SOAK_TOLERANCE', 'lots', 0.1, 0, 10, false), /SOAK_TOLERANCE must be a number in 0\.\.10, got 'lots'/);
});
