import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { loadConfig, ConfigError, schema, closeTimings, formerNamesUsed } from '../../src/config/index.ts';
import { parseDuration } from '../../src/config/values.ts';
import { withConfigurationTable } from '../../src/config/table.ts';
import { MAIN } from '../../harness/drain-proxy.ts';

test('defaults match the public contract', () => {
  const config = loadConfig({});
  assert.equal(config.listenPort, 8000);
  assert.deepEqual(config.upstream, { host: '127.0.0.1', port: 8080, url: 'http://127.0.0.1:8080' });
  assert.equal(config.adminPort, 9901);
  assert.deepEqual(config.upstreamHealth, { kind: 'tcp' });
  assert.equal(config.drainDelay, 5000);
  assert.equal(config.drainTimeout, 25_000);
  assert.equal(config.drainIdleClose, 1000);
  assert.equal(config.drainToken, '');
  assert.equal(config.logLevel, 'info');
  assert.equal(config.upstreamResponseTimeout, 0, 'off');
  assert.equal(config.requestBodyTimeout, 60_000, 'as nginx client_body_timeout');
  assert.equal(config.trustedProxies.text, 'private');
});

test('durations: 750ms, 5s, 2m, bare seconds', () => {
  assert.equal(parseDuration('750ms'), 750);
  assert.equal(parseDuration('5s'), 5000);
  assert.equal(parseDuration('2m'), 120_000);
  assert.equal(parseDuration('3'), 3000);
  assert.equal(parseDuration('0.5'), 500);
  assert.equal(parseDuration('0'), 0);
  for (const bad of ['', 'abc', '-1s', '5 s', '1d', '1e3']) assert.throws(() => parseDuration(bad), `rejects ${JSON.stringify(bad)}`);
});

test('other value types', () => {
  assert.deepEqual(loadConfig({ UPSTREAM_HEALTH: '/healthz' }).upstreamHealth, { kind: 'http', path: '/healthz' });
  assert.deepEqual(loadConfig({ UPSTREAM: 'http://[::1]:9000' }).upstream, { host: '::1', port: 9000, url: 'http://[::1]:9000' });
  assert.equal(loadConfig({ MAX_HEADER_SIZE: '32k' }).maxHeaderSize, 32768);
  assert.equal(loadConfig({ FORWARDED_HEADERS: 'off' }).forwardedHeaders, false);
  assert.equal(loadConfig({ HOST_IP: '10.0.0.7' }).hostIp, '10.0.0.7');
  assert.equal(loadConfig({ REQUEST_BODY_TIMEOUT: 'off' }).requestBodyTimeout, 0);
  assert.equal(loadConfig({ REQUEST_BODY_TIMEOUT: '15s' }).requestBodyTimeout, 15_000);
});

const invalid: Array<[Record<string, string>, RegExp]> = [
  [{ LISTEN_PORT: '70000' }, /^invalid LISTEN_PORT="70000": expected a TCP port between 1 and 65535$/],
  [{ DRAIN_DELAY: 'soon' }, /^invalid DRAIN_DELAY="soon": expected a duration/],
  [{ UPSTREAM: 'https://app:8443' }, /^invalid UPSTREAM="https:\/\/app:8443": expected an http:\/\/ URL/],
  [{ UPSTREAM: 'http://app:8080/prefix' }, /^invalid UPSTREAM=.*no path/],
  [{ UPSTREAM_HEALTH: 'healthz' }, /^invalid UPSTREAM_HEALTH="healthz": expected tcp or an HTTP path/],
  [{ LOG_LEVEL: 'verbose' }, /^invalid LOG_LEVEL="verbose": expected one of trace, debug, info/],
  [{ HOST_IP: 'node-1' }, /^invalid HOST_IP="node-1"/],
  [{ ACCESS_LOG: 'maybe' }, /^invalid ACCESS_LOG="maybe": expected on or off/],
  [{ REQUEST_BODY_TIMEOUT: 'never' }, /^invalid REQUEST_BODY_TIMEOUT="never": expected off, or a duration/],
  [{ TRUSTED_PROXIES: '10.0.0.0/99' }, /^invalid TRUSTED_PROXIES="10.0.0.0\/99": expected private, none/],
  [{ DRAIN_DELAY: '30s', DRAIN_TIMEOUT: '25s' }, /^invalid DRAIN_DELAY=30s: must be shorter than DRAIN_TIMEOUT=25s/],
  [{ WS_CLOSE_CODE: '1000' }, /^invalid WS_CLOSE_CODE="1000": expected 1012 \(Service Restart\) or 1001 \(Going Away\)$/],
  [{ WS_CLOSE_REASON: 'x'.repeat(124) }, /^invalid WS_CLOSE_REASON=.*at most 123 bytes/],
  [{ DRAIN_DELAY: '5s', DRAIN_TIMEOUT: '6s', WS_CLOSE_TIMEOUT: '2s' }, /^invalid WS_CLOSE_TIMEOUT=2s: closing handshakes start at DRAIN_DELAY=5s and must end before DRAIN_TIMEOUT=6s$/],
  [{ DRAIN_DELAY: '5s', DRAIN_TIMEOUT: '10s', CLOSE_SPREAD: '4s' }, /^invalid CLOSE_SPREAD=4s: DRAIN_DELAY \+ CLOSE_SPREAD \+ WS_CLOSE_TIMEOUT \(11s\) must not exceed DRAIN_TIMEOUT=10s/],
  [{ DRAIN_DELAY: '5s', DRAIN_TIMEOUT: '10s', WS_CLOSE_SPREAD: '4s' }, /^invalid WS_CLOSE_SPREAD=4s: DRAIN_DELAY \+ WS_CLOSE_SPREAD \+ WS_CLOSE_TIMEOUT \(11s\) must not exceed DRAIN_TIMEOUT=10s/],
  [{ WS_CLOSE_SPREAD: 'soon' }, /^invalid WS_CLOSE_SPREAD="soon": expected a duration/],
  [{ CLOSE_SPREAD: '3s', WS_CLOSE_SPREAD: '2s' }, /^invalid CLOSE_SPREAD="3s" and WS_CLOSE_SPREAD="2s": WS_CLOSE_SPREAD is the older name of CLOSE_SPREAD; set only CLOSE_SPREAD$/],
];

test('CLOSE_SPREAD, or WS_CLOSE_SPREAD, its older name: either sets the close window', () => {
  assert.equal(loadConfig({}).closeSpread, 5000);
  assert.equal(loadConfig({ CLOSE_SPREAD: '3s' }).closeSpread, 3000);
  assert.equal(loadConfig({ WS_CLOSE_SPREAD: '3s' }).closeSpread, 3000);
  assert.equal(loadConfig({ CLOSE_SPREAD: '3s', WS_CLOSE_SPREAD: '' }).closeSpread, 3000, 'an empty one is unset');
  assert.deepEqual(formerNamesUsed({ WS_CLOSE_SPREAD: '3s' }), [['WS_CLOSE_SPREAD', 'CLOSE_SPREAD']]);
  assert.deepEqual(formerNamesUsed({ CLOSE_SPREAD: '3s' }), []);
});

test('the close window and WebSocket handshake timeout left at their defaults are shortened to fit the deadline instead of refused', () => {
  assert.deepEqual(closeTimings(loadConfig({})), { spreadMs: 5000, closeTimeoutMs: 2000 });
  assert.deepEqual(closeTimings(loadConfig({ DRAIN_DELAY: '5s', DRAIN_TIMEOUT: '8s' })), { spreadMs: 1000, closeTimeoutMs: 2000 });
  assert.deepEqual(closeTimings(loadConfig({ DRAIN_DELAY: '200ms', DRAIN_TIMEOUT: '1s' })), { spreadMs: 0, closeTimeoutMs: 800 });
});

for (const [env, message] of invalid) {
  test(`refuses ${JSON.stringify(env)} with a message naming the variable`, () => {
    assert.throws(() => loadConfig(env), (err: unknown) => err instanceof ConfigError && message.test(err.message) && !err.message.includes('\n'));
  });
}

test('a bad variable: exit 1 before binding any port, one line on stderr', () => {
  const result = spawnSync(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH, DRAIN_TIMEOUT: 'forever', LISTEN_PORT: '1', ADMIN_PORT: '2' },
    encoding: 'utf8',
    timeout: 10_000,
  });
  assert.equal(result.status, 1);
  assert.equal(result.stdout, '');
  assert.match(result.stderr, /^drain-proxy: invalid DRAIN_TIMEOUT="forever": expected a duration[^\n]*\n$/);
});

test('every variable has a default that parses, and a doc line', () => {
  for (const variable of Object.values(schema)) {
    assert.doesNotThrow(() => variable.parse(variable.default), variable.env);
    assert.ok(variable.doc.length > 10, variable.env);
    assert.match(variable.env, /^[A-Z][A-Z0-9_]*$/);
  }
});

test('the README configuration table is the one generated from the schema (npm run docs:config)', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  assert.equal(readme, withConfigurationTable(readme), 'README.md table is stale: run npm run docs:config');
});
