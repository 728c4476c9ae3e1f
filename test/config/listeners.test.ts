/** HTTP_PORTS, PROXY_PROTOCOL and TLS_CERT_FILE/TLS_KEY_FILE, and the checks across every listening port. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../src/config/index.ts';

test('HTTP_PORTS: empty by default; listenPort:upstreamPort pairs like TCP_PORTS', () => {
  assert.deepEqual(loadConfig({}).httpPorts, []);
  assert.deepEqual(loadConfig({ HTTP_PORTS: '8081:9081, 50051:50052' }).httpPorts, [
    { listen: 8081, upstream: 9081 },
    { listen: 50051, upstream: 50052 },
  ]);
  assert.equal(loadConfig({ HTTP_PORTS: '8081:8080' }).httpPorts[0].upstream, 8080, 'an extra port may lead to the app port of UPSTREAM');
});

test('PROXY_PROTOCOL: off by default; on or off', () => {
  assert.equal(loadConfig({}).proxyProtocol, false);
  assert.equal(loadConfig({ PROXY_PROTOCOL: 'on' }).proxyProtocol, true);
  assert.equal(loadConfig({ PROXY_PROTOCOL: 'off' }).proxyProtocol, false);
});

test('TLS_CERT_FILE and TLS_KEY_FILE: unset by default; both set turns TLS on', () => {
  const plain = loadConfig({});
  assert.equal(plain.tlsCertFile, '');
  assert.equal(plain.tlsKeyFile, '');
  const tls = loadConfig({ TLS_CERT_FILE: '/etc/drain-proxy/tls/tls.crt', TLS_KEY_FILE: '/etc/drain-proxy/tls/tls.key' });
  assert.equal(tls.tlsCertFile, '/etc/drain-proxy/tls/tls.crt');
  assert.equal(tls.tlsKeyFile, '/etc/drain-proxy/tls/tls.key');
});

const invalid: Array<[Record<string, string>, RegExp]> = [
  [{ HTTP_PORTS: 'api' }, /^invalid HTTP_PORTS="api": expected comma-separated listenPort:upstreamPort pairs/],
  [{ HTTP_PORTS: '8081:9081,8081:9082' }, /^invalid HTTP_PORTS="8081:9081,8081:9082": listen port 8081 appears twice$/],
  [{ HTTP_PORTS: '8000:9081' }, /^invalid HTTP_PORTS=8000:9081: listen port 8000 is already LISTEN_PORT$/],
  [{ HTTP_PORTS: '9901:9081' }, /^invalid HTTP_PORTS=9901:9081: listen port 9901 is already ADMIN_PORT$/],
  [{ HTTP_PORTS: '8081:9081', TCP_PORTS: '8081:6379' }, /^invalid TCP_PORTS=8081:6379: listen port 8081 is already HTTP_PORTS$/],
  [{ HTTP_PORTS: '8081:8000' }, /^invalid HTTP_PORTS=8081:8000: upstream port 8000 is the proxy's own LISTEN_PORT, not the app's$/],
  [{ HTTP_PORTS: '8081:9081,8082:8081' }, /^invalid HTTP_PORTS=8081:9081,8082:8081: upstream port 8081 is the proxy's own HTTP_PORTS/],
  [{ TCP_PORTS: '6379:9901' }, /^invalid TCP_PORTS=6379:9901: upstream port 9901 is the proxy's own ADMIN_PORT/],
  [{ UPSTREAM: 'http://127.0.0.1:8000' }, /^invalid UPSTREAM=http:\/\/127\.0\.0\.1:8000: port 8000 is the proxy's own LISTEN_PORT, not the app's$/],
  [{ HTTP_PORTS: '8081:9081', UPSTREAM: 'http://127.0.0.1:8081' }, /^invalid UPSTREAM=.*: port 8081 is the proxy's own HTTP_PORTS/],
  [{ ADMIN_PORT: '8000' }, /^invalid ADMIN_PORT=8000: listen port 8000 is already LISTEN_PORT$/],
  [{ PROXY_PROTOCOL: 'v2' }, /^invalid PROXY_PROTOCOL="v2": expected on or off/],
  [{ TLS_CERT_FILE: '/tls/tls.crt' }, /^invalid TLS_CERT_FILE="\/tls\/tls.crt": TLS_KEY_FILE must be set too/],
  [{ TLS_KEY_FILE: '/tls/tls.key' }, /^invalid TLS_KEY_FILE="\/tls\/tls.key": TLS_CERT_FILE must be set too/],
];

for (const [env, message] of invalid) {
  test(`refuses ${JSON.stringify(env)} with one line naming the variable`, () => {
    assert.throws(
      () => loadConfig(env),
      (err: unknown) => err instanceof ConfigError && message.test(err.message) && !err.message.includes('\n'),
    );
  });
}
