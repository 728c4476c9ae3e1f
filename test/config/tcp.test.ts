/** TCP_PORTS and TCP_IDLE_CLOSE as the configuration reads them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../src/config/index.ts';

test('TCP_PORTS: empty by default; listenPort:upstreamPort pairs, spaces allowed', () => {
  assert.deepEqual(loadConfig({}).tcpPorts, []);
  assert.deepEqual(loadConfig({ TCP_PORTS: '6379:16379' }).tcpPorts, [{ listen: 6379, upstream: 16379 }]);
  assert.deepEqual(loadConfig({ TCP_PORTS: ' 5432:15432 , 6379:16379 ' }).tcpPorts, [
    { listen: 5432, upstream: 15432 },
    { listen: 6379, upstream: 16379 },
  ]);
  assert.deepEqual(loadConfig({ TCP_PORTS: '7000:6379,7001:6379' }).tcpPorts.length, 2, 'two ports may lead to one upstream port');
});

test('TCP_IDLE_CLOSE: off by default, off or 0 disable it, otherwise a duration', () => {
  assert.equal(loadConfig({}).tcpIdleClose, 0);
  assert.equal(loadConfig({ TCP_IDLE_CLOSE: 'off' }).tcpIdleClose, 0);
  assert.equal(loadConfig({ TCP_IDLE_CLOSE: '0' }).tcpIdleClose, 0);
  assert.equal(loadConfig({ TCP_IDLE_CLOSE: '30s' }).tcpIdleClose, 30_000);
  assert.equal(loadConfig({ TCP_IDLE_CLOSE: '1500ms' }).tcpIdleClose, 1500);
});

const invalid: Array<[Record<string, string>, RegExp]> = [
  [{ TCP_PORTS: 'redis' }, /^invalid TCP_PORTS="redis": expected comma-separated listenPort:upstreamPort pairs/],
  [{ TCP_PORTS: '6379' }, /^invalid TCP_PORTS="6379": expected comma-separated listenPort:upstreamPort/],
  [{ TCP_PORTS: '6379:' }, /^invalid TCP_PORTS="6379:": expected/],
  [{ TCP_PORTS: '70000:6379' }, /^invalid TCP_PORTS="70000:6379": expected .*ports 1-65535/],
  [{ TCP_PORTS: '6379:0' }, /^invalid TCP_PORTS="6379:0": expected/],
  [{ TCP_PORTS: '6379:6380,' }, /^invalid TCP_PORTS="6379:6380,": expected .*\(got ""\)/],
  [{ TCP_PORTS: '-1:6379' }, /^invalid TCP_PORTS="-1:6379": expected/],
  [{ TCP_PORTS: '6379:6380,6379:6381' }, /^invalid TCP_PORTS="6379:6380,6379:6381": listen port 6379 appears twice$/],
  [{ TCP_PORTS: '8000:6379' }, /^invalid TCP_PORTS=8000:6379: listen port 8000 is already LISTEN_PORT$/],
  [{ TCP_PORTS: '7000:6379,9901:6379' }, /^invalid TCP_PORTS=7000:6379,9901:6379: listen port 9901 is already ADMIN_PORT$/],
  [{ TCP_PORTS: '7000:6379', LISTEN_PORT: '7000' }, /^invalid TCP_PORTS=7000:6379: listen port 7000 is already LISTEN_PORT$/],
  [{ TCP_PORTS: 'a:b\nc' }, /^invalid TCP_PORTS="a:b\\nc": expected/],
  [{ TCP_IDLE_CLOSE: 'soon' }, /^invalid TCP_IDLE_CLOSE="soon": expected off, or a duration/],
  [{ TCP_IDLE_CLOSE: '-1s' }, /^invalid TCP_IDLE_CLOSE="-1s": expected off, or a duration/],
];

for (const [env, message] of invalid) {
  test(`refuses ${JSON.stringify(env)} with one line naming the variable`, () => {
    assert.throws(
      () => loadConfig(env),
      (err: unknown) => err instanceof ConfigError && message.test(err.message) && !err.message.includes('\n'),
    );
  });
}
