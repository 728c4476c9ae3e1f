/**
 * HTTP_PORTS on the real process: a second public HTTP port in front of a
 * second app port serves HTTP/1.1, WebSocket and h2c as LISTEN_PORT does,
 * its requests are counted under their own `listener` label, and at SIGTERM
 * it is drained the same way (Connection: close on the request in flight,
 * GOAWAY, the port closed at t0 + DRAIN_DELAY), exit 0.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as h2connect } from 'node:http2';
import { after, test } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { canBind, freePort } from '../../harness/ports.ts';
import { startDrainProxy } from '../../harness/drain-proxy.ts';
import { eventually } from '../../harness/http.ts';
import { metricValue } from '../../harness/metrics.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { startUpstream } from '../helpers/upstream.ts';

const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const step of cleanup.reverse()) await step();
});

test('an HTTP_PORTS port: its own app, HTTP/1.1, WebSocket and h2c, its own listener label, drained at SIGTERM', async () => {
  const main = await startUpstream();
  cleanup.push(() => main.close());
  const internal = await startUpstream();
  cleanup.push(() => internal.close());
  const wss = new WebSocketServer({ server: internal.server });
  wss.on('connection', (ws) => ws.on('message', (data) => ws.send(`internal ${String(data)}`)));
  cleanup.push(() => wss.close());
  const port = await freePort();
  const proxy = await startDrainProxy(main.port, { env: { HTTP_PORTS: `${port}:${internal.port}`, DRAIN_DELAY: '500ms', CLOSE_SPREAD: '300ms', DRAIN_TIMEOUT: '10s' } });
  cleanup.push(() => proxy.stop());

  const viaMain = await (await RawClient.connect(proxy.listenPort)).request('/main');
  const client = await RawClient.connect(port);
  const viaPort = await client.request('/internal');
  assert.equal(viaMain.body, 'GET /main 0\n');
  assert.equal(viaPort.body, 'GET /internal 0\n');
  assert.deepEqual([main.received.at(-1), internal.received.at(-1)], ['GET /main', 'GET /internal'], 'each port reaches its own app');
  const headers = JSON.parse((await client.request('/headers')).body) as Record<string, string>;
  assert.equal(headers['x-forwarded-proto'], 'http');

  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  await once(ws, 'open');
  const echoed = once(ws, 'message');
  ws.send('hello');
  assert.equal(String((await echoed)[0]), 'internal hello');

  const session = h2connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  const h2Body = await new Promise<string>((resolve, reject) => {
    let body = '';
    session.request({ ':path': '/over-h2c' }).setEncoding('utf8').on('data', (text: string) => (body += text)).on('end', () => resolve(body)).on('error', reject);
  });
  assert.equal(h2Body, 'GET /over-h2c 0\n');

  const metrics = await proxy.metrics();
  assert.equal(metricValue(metrics, `drain_proxy_requests_total{listener="${port}",protocol="http1",code_class="2xx"}`), 2);
  assert.equal(metricValue(metrics, `drain_proxy_requests_total{listener="${port}",protocol="h2",code_class="2xx"}`), 1);
  assert.equal(metricValue(metrics, `drain_proxy_requests_total{listener="${proxy.listenPort}",protocol="http1",code_class="2xx"}`), 1);

  // Drain: a slow request in flight on the extra port, an idle h2c session and a WebSocket on it.
  client.write('GET /slow?ms=800 HTTP/1.1\r\nHost: t\r\n\r\n');
  const slow = client.response();
  const goaway = new Promise<number>((resolve) => session.once('goaway', (code: number) => resolve(code)));
  const wsClose = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
  await new Promise((resolve) => setTimeout(resolve, 100));
  const t0 = performance.now();
  proxy.signal('SIGTERM');
  const answer = await slow;
  assert.equal(answer.status, 200);
  assert.equal(answer.headers.connection, 'close');
  assert.equal(await goaway, 0);
  assert.equal(await wsClose, 1012);
  await eventually(() => canBind('127.0.0.1', port), 3000);
  assert.ok(performance.now() - t0 >= 450, 'the port stays open for DRAIN_DELAY');
  assert.equal((await proxy.exited).code, 0);
  session.destroy();
});
