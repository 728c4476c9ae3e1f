/**
 * The drain over TLS on the real process: an HTTP/1.1 request in flight at
 * SIGTERM is answered with `Connection: close`, an HTTP/2 session (ALPN h2)
 * gets GOAWAY and its open stream completes, a `wss://` client gets its 1012
 * close frame and an event stream its last chunk after a complete event,
 * inside the close window; the process exits 0.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { connect as h2connect } from 'node:http2';
import { request } from 'node:https';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket, WebSocketServer } from 'ws';
import { startDrainProxy } from '../../harness/drain-proxy.ts';
import { ensureOpenssl, TlsFixture } from '../helpers/certificates.ts';
import { startUpstream, tickEvents } from '../helpers/upstream.ts';

const skip = ensureOpenssl();
const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const step of cleanup.reverse()) await step();
});

/** drain-proxy serving TLS from a fresh fixture in front of `appPort`. */
async function tlsProxy(appPort: number, env: Record<string, string>) {
  const fixture = new TlsFixture();
  cleanup.push(() => fixture.remove());
  const proxy = await startDrainProxy(appPort, { env: { ...fixture.env, ...env } });
  cleanup.push(() => proxy.stop());
  return { ca: fixture.ca, proxy };
}

test('SIGTERM over TLS: HTTP/1.1 gets Connection: close, HTTP/2 gets GOAWAY and its open stream completes, exit 0', { skip }, async () => {
  const upstream = await startUpstream();
  cleanup.push(() => upstream.close());
  const { ca, proxy } = await tlsProxy(upstream.port, { DRAIN_DELAY: '300ms', CLOSE_SPREAD: '500ms', DRAIN_TIMEOUT: '10s' });

  const http1 = new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
    request({ host: '127.0.0.1', port: proxy.listenPort, path: '/slow?ms=1000', ca: ca.cert, servername: 'localhost', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (text: string) => (body += text));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }));
    }).on('error', reject).end();
  });
  const session = h2connect(`https://127.0.0.1:${proxy.listenPort}`, { ca: ca.cert, servername: 'localhost' });
  session.on('error', () => {});
  const goaway = new Promise<number>((resolve) => session.once('goaway', (code: number) => resolve(code)));
  const h2 = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const stream = session.request({ ':path': '/slow?ms=1500' });
    let status = 0;
    let body = '';
    stream.on('response', (headers) => (status = Number(headers[':status'])));
    stream.setEncoding('utf8').on('data', (text: string) => (body += text));
    stream.on('end', () => resolve({ status, body }));
    stream.on('error', reject);
  });
  await sleep(200);
  proxy.signal('SIGTERM');
  const [one, two, code] = await Promise.all([http1, h2, goaway]);
  assert.deepEqual(one, { status: 200, connection: 'close', body: 'slow 1000\n' });
  assert.deepEqual(two, { status: 200, body: 'slow 1500\n' });
  assert.equal(code, 0, 'GOAWAY with NO_ERROR');
  assert.equal(session.alpnProtocol, 'h2');
  assert.equal((await proxy.exited).code, 0);
  session.destroy();
});

/** An app with a WebSocket echo on any upgrade and an event stream everywhere else. */
async function startStreamingApp(): Promise<number> {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    tickEvents(res);
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanup.push(() => {
    for (const client of wss.clients) client.terminate();
    server.closeAllConnections();
    server.close();
  });
  return (server.address() as { port: number }).port;
}

test('SIGTERM over TLS: wss:// clients get 1012 and an event stream ends after a complete event, inside the window, exit 0', { skip }, async () => {
  const { ca, proxy } = await tlsProxy(await startStreamingApp(), { DRAIN_DELAY: '300ms', CLOSE_SPREAD: '600ms', DRAIN_TIMEOUT: '10s' });
  const sockets = await Promise.all(
    Array.from({ length: 3 }, async () => {
      const socket = new WebSocket(`wss://127.0.0.1:${proxy.listenPort}/ws`, { ca: ca.cert, servername: 'localhost' } as WebSocket.ClientOptions /* passed on to https.request */);
      await once(socket, 'open');
      return socket;
    }),
  );
  const echoed = once(sockets[0], 'message');
  sockets[0].send('over tls');
  assert.equal(String((await echoed)[0]), 'over tls');
  const closes = sockets.map((socket) => new Promise<{ code: number; reason: string; at: number }>((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: String(reason), at: performance.now() }))));
  const events = new Promise<{ body: string; at: number }>((resolve, reject) => {
    request({ host: '127.0.0.1', port: proxy.listenPort, path: '/events', ca: ca.cert, servername: 'localhost', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (text: string) => (body += text));
      res.on('end', () => resolve({ body, at: performance.now() }));
    }).on('error', reject).end();
  });
  await sleep(300);
  const t0 = performance.now();
  proxy.signal('SIGTERM');
  const [ws, sse] = await Promise.all([Promise.all(closes), events]);
  for (const close of ws) {
    assert.deepEqual([close.code, close.reason], [1012, 'draining']);
    assert.ok(close.at - t0 >= 250 && close.at - t0 < 300 + 600 + 500, `closed ${Math.round(close.at - t0)} ms after SIGTERM`);
  }
  assert.ok(sse.at - t0 >= 250 && sse.at - t0 < 300 + 600 + 500, `the event stream ended ${Math.round(sse.at - t0)} ms after SIGTERM`);
  assert.ok(sse.body.endsWith('\n\n') && sse.body.includes('data: tick 1\n\n'), 'a complete event last');
  assert.equal((await proxy.exited).code, 0);
});
