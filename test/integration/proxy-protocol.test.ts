/**
 * PROXY_PROTOCOL=on on the real process: the header's source is the client
 * address everywhere (X-Forwarded-For, TRUSTED_PROXIES, the access log), a v2
 * LOCAL keeps the socket's, and a connection without a valid header within
 * HEADER_TIMEOUT is closed and counted with nothing of it reaching the app.
 * Real senders: HAProxy (`send-proxy-v2`) and curl (`--haproxy-protocol`) in
 * front of the proxy; the byte-exact cases are written by hand.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDrainProxy, type DrainProxy } from '../../harness/drain-proxy.ts';
import { commandExists, ensurePackage } from '../../harness/debian.ts';
import { ensureHaproxy, startHaproxy } from '../../harness/haproxy.ts';
import { eventually } from '../../harness/http.ts';
import { metricValue } from '../../harness/metrics.ts';
import { freePort } from '../../harness/ports.ts';
import { run } from '../../harness/processes.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { writeProxyV2 } from '../helpers/proxy-v2.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const skipPeers = ensureHaproxy() ?? ensurePackage('curl', () => commandExists('curl'));
let upstream: TestUpstream;
let proxy: DrainProxy;
const cleanup: Array<() => unknown> = [];

before(async () => {
  upstream = await startUpstream();
  cleanup.push(() => upstream.close());
  // TRUSTED_PROXIES: the documentation range stands for an ingress in front; loopback (the socket peer) is not trusted.
  proxy = await startDrainProxy(upstream.port, { env: { PROXY_PROTOCOL: 'on', HEADER_TIMEOUT: '1s', TRUSTED_PROXIES: '198.51.100.0/24', ACCESS_LOG: 'on' } });
  cleanup.push(() => proxy.stop());
});

after(async () => {
  for (const step of cleanup.reverse()) await step();
});

const GET_HEADERS = 'GET /headers HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 192.0.2.99\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n';

/** Sends `header` and then `request` on one connection; the app's view of the request headers. */
async function appHeaders(header: Buffer | string, request = GET_HEADERS): Promise<Record<string, string>> {
  const client = await RawClient.connect(proxy.listenPort);
  client.write(header);
  client.write(request);
  const response = await client.response();
  assert.equal(response.status, 200, response.head);
  return JSON.parse(response.body) as Record<string, string>;
}

async function refusals(): Promise<{ invalid: number; timeout: number }> {
  const text = await proxy.metrics();
  const of = (reason: string): number => metricValue(text, `drain_proxy_connections_refused_total{reason="${reason}"}`) ?? 0;
  return { invalid: of('proxy_header_invalid'), timeout: of('proxy_header_timeout') };
}

describe('PROXY_PROTOCOL=on', () => {
  test('a v1 header: its source is the client address for X-Forwarded-For, and the access log', async () => {
    const headers = await appHeaders('PROXY TCP4 203.0.113.7 10.0.0.1 51234 8000\r\n');
    assert.equal(headers['x-forwarded-for'], '192.0.2.99, 203.0.113.7', 'appended: the header source, not the socket peer (127.0.0.1)');
    assert.equal(headers['x-forwarded-proto'], 'http', 'an untrusted client\'s X-Forwarded-Proto is replaced');
    const logged = () => proxy.logs.find((line) => line.msg === 'request' && line.client === '203.0.113.7');
    await eventually(() => logged() !== undefined, 2000);
    assert.equal(logged()?.listener, String(proxy.listenPort));
  });

  test('a v2 header over IPv6: the client address; TRUSTED_PROXIES decides by the header source', async () => {
    const six = await appHeaders(writeProxyV2({ command: 'proxy', source: { address: '2001:db8::7', port: 40000 }, destination: { address: '2001:db8::1', port: 8000 } }));
    assert.equal(six['x-forwarded-for'], '192.0.2.99, 2001:db8::7');
    assert.equal(six['x-forwarded-proto'], 'http');
    const trusted = await appHeaders(writeProxyV2({ command: 'proxy', source: { address: '198.51.100.20', port: 40001 }, destination: { address: '10.0.0.1', port: 8000 } }));
    assert.equal(trusted['x-forwarded-for'], '192.0.2.99, 198.51.100.20');
    assert.equal(trusted['x-forwarded-proto'], 'https', 'a trusted source\'s scheme is passed on');
  });

  test('a v2 LOCAL header (a load balancer\'s health check): the socket\'s address', async () => {
    const headers = await appHeaders(writeProxyV2({ command: 'local' }));
    assert.equal(headers['x-forwarded-for'], '192.0.2.99, 127.0.0.1');
  });

  test('h2c after a PROXY header: the preface is sniffed past the header', async () => {
    const client = await RawClient.connect(proxy.listenPort);
    client.write('PROXY TCP4 203.0.113.8 10.0.0.1 51235 8000\r\n');
    // The client preface and an empty SETTINGS frame: the server's SETTINGS comes back.
    client.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]));
    await eventually(() => client.unread.length >= 9, 2000);
    assert.equal(client.unread.charCodeAt(3), 4, 'a SETTINGS frame from the HTTP/2 side');
    client.socket.destroy();
  });

  for (const [name, bytes] of [
    ['no header at all (a plain request)', 'GET /not-forwarded HTTP/1.1\r\nHost: t\r\n\r\n'],
    ['a malformed v1 line', 'PROXY TCP4 203.0.113.300 10.0.0.1 1 2\r\nGET /not-forwarded HTTP/1.1\r\nHost: t\r\n\r\n'],
    ['a v2 signature with a bad version', Buffer.concat([writeProxyV2({ command: 'local' }).subarray(0, 12), Buffer.from([0x31, 0, 0, 0]), Buffer.from('GET /not-forwarded HTTP/1.1\r\n\r\n')])],
  ] as const) {
    test(`${name}: closed with no answer, counted as proxy_header_invalid, nothing reaches the app`, async () => {
      const before = await refusals();
      const received = upstream.received.length;
      const client = await RawClient.connect(proxy.listenPort);
      client.write(bytes);
      await client.closed;
      assert.equal(client.unread, '', 'no byte back');
      await sleep(50);
      assert.deepEqual(await refusals(), { invalid: before.invalid + 1, timeout: before.timeout });
      assert.equal(upstream.received.length, received);
    });
  }

  test('a header cut short by the client\'s FIN: proxy_header_invalid; a silent connection: proxy_header_timeout after HEADER_TIMEOUT', async () => {
    const before = await refusals();
    const truncated = await RawClient.connect(proxy.listenPort);
    truncated.write('PROXY TCP4 203.0.113.7 ');
    truncated.socket.end();
    await truncated.closed;
    const silent = await RawClient.connect(proxy.listenPort);
    const startedAt = performance.now();
    silent.write('PROX');
    const closed = await silent.closed;
    assert.ok(closed.at - startedAt >= 900 && closed.at - startedAt < 3000, `closed ${Math.round(closed.at - startedAt)} ms after its first bytes (HEADER_TIMEOUT 1s)`);
    await sleep(50);
    assert.deepEqual(await refusals(), { invalid: before.invalid + 1, timeout: before.timeout + 1 });
  });

  test('a connect-and-close before any byte is not a refusal', async () => {
    const before = await refusals();
    const client = await RawClient.connect(proxy.listenPort);
    client.socket.end();
    await client.closed;
    await sleep(50);
    assert.deepEqual(await refusals(), before);
  });
});

describe('PROXY_PROTOCOL=on behind real senders', { skip: skipPeers }, () => {
  test('curl --haproxy-protocol: its own address and port arrive in the header', async () => {
    const answer = await run('curl', ['-sS', '--max-time', '5', '--interface', '127.0.0.5', '--haproxy-protocol', '-H', 'X-Forwarded-For: 192.0.2.99', `http://127.0.0.1:${proxy.listenPort}/headers`], { timeoutMs: 10_000 });
    const headers = JSON.parse(answer.stdout) as Record<string, string>;
    assert.equal(headers['x-forwarded-for'], '192.0.2.99, 127.0.0.5');
  });

  test('HAProxy send-proxy-v2 in front: the app sees the address HAProxy\'s client came from, not HAProxy\'s', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'proxy-protocol-haproxy-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const front = await freePort('127.0.0.3');
    const haproxy = await startHaproxy('haproxy', dir, [
      'global', '  log stderr format raw local0 err',
      'defaults', '  mode tcp', '  timeout connect 2s', '  timeout client 10s', '  timeout server 10s',
      'frontend front', `  bind 127.0.0.3:${front}`, '  default_backend proxy',
      // HAProxy connects from 127.0.0.1; the client comes from 127.0.0.4.
      'backend proxy', `  server drain 127.0.0.1:${proxy.listenPort} send-proxy-v2 source 127.0.0.1`,
      '',
    ].join('\n'));
    cleanup.push(() => haproxy.stop());
    let headers: Record<string, string> = {};
    await eventually(async () => {
      const answer = await run('curl', ['-sS', '--max-time', '2', '--interface', '127.0.0.4', `http://127.0.0.3:${front}/headers`], { allowFailure: true, timeoutMs: 5000 });
      if (answer.code === 0) headers = JSON.parse(answer.stdout) as Record<string, string>;
      return answer.code === 0;
    }, 5000);
    assert.equal(headers['x-forwarded-for'], '127.0.0.4');
  });
});
