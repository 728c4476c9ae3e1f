/**
 * HTTP/1.1 half-close (a FIN with the other direction still open) through the
 * real process, from both sides:
 *   - the client's FIN with a request outstanding is an abort, as in nginx:
 *     the app's connection is dropped at once and the client gets nothing;
 *   - the client's FIN between requests is a quiet goodbye;
 *   - the app's FIN ends a close-delimited response: the client gets all of it,
 *     then FIN;
 *   - the app's FIN inside a Content-Length body is a truncation: the client
 *     sees the same cut (never a completed response), counted.
 * The app is a raw TCP server that half-closes (allowHalfOpen) exactly where
 * each case needs it.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { startDrainProxy, type DrainProxy } from '../../harness/drain-proxy.ts';
import { eventually } from '../../harness/http.ts';
import { metricValue } from '../../harness/metrics.ts';
import { RawClient } from '../helpers/raw-client.ts';

const CLOSE_DELIMITED_BODY = Buffer.alloc(1 << 20, 'c');

interface AppConnection {
  readonly socket: Socket;
  /** Request bytes received, as text. */
  received: string;
  closedAt: number;
}

let app: Server;
const appConnections: AppConnection[] = [];
let proxy: DrainProxy;

/** The app: answers by the request's path once a request head is in. */
function onRequest(connection: AppConnection, path: string): void {
  const { socket } = connection;
  switch (path) {
    case '/hold':
      return; // never answers
    case '/close-delimited':
      // No Content-Length, no chunking: the body ends with the app's FIN (its read side stays open).
      socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n');
      socket.write(CLOSE_DELIMITED_BODY.subarray(0, 1000));
      setTimeout(() => socket.end(CLOSE_DELIMITED_BODY.subarray(1000)), 50);
      return;
    case '/cut-length':
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial');
      setTimeout(() => socket.end(), 50);
      return;
    default:
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n');
  }
}

before(async () => {
  app = createServer({ allowHalfOpen: true }, (socket) => {
    const connection: AppConnection = { socket, received: '', closedAt: 0 };
    appConnections.push(connection);
    let answered = 0;
    socket.on('data', (chunk: Buffer) => {
      connection.received += chunk.toString('latin1');
      // Bodiless requests only: each head ends at a blank line.
      const heads = connection.received.split('\r\n\r\n').slice(0, -1);
      for (; answered < heads.length; answered++) onRequest(connection, heads[answered].split(' ')[1]);
    });
    socket.on('end', () => socket.end());
    socket.on('error', () => {});
    socket.on('close', () => (connection.closedAt = performance.now()));
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  proxy = await startDrainProxy((app.address() as { port: number }).port);
});

after(async () => {
  await proxy.stop();
  for (const { socket } of appConnections) socket.destroy();
  app.close();
});

/** The app connection that received a request for `path`. */
async function appConnection(path: string): Promise<AppConnection> {
  let found: AppConnection | undefined;
  assert.ok(await eventually(() => (found = appConnections.find((c) => c.received.includes(` ${path} `))) !== undefined), `${path} reached the app`);
  return found!;
}

async function counters(): Promise<Record<string, number | undefined>> {
  const text = await proxy.metrics();
  const series = (name: string): number | undefined => metricValue(text, name);
  return {
    closedByClient: series('drain_proxy_connections_closed_total{protocol="http1",reason="client"}'),
    closedByUpstream: series('drain_proxy_connections_closed_total{protocol="http1",reason="upstream"}'),
    reset: series('drain_proxy_upstream_errors_total{kind="reset"}'),
    truncated: series('drain_proxy_upstream_errors_total{kind="truncated"}'),
  };
}

async function servesNext(): Promise<void> {
  const next = await RawClient.connect(proxy.listenPort);
  assert.equal((await next.request('/next')).status, 200, 'the process goes on serving');
  next.destroy();
  assert.ok(await eventually(async () => (await proxy.status()).inFlight.http1 === 0), 'nothing left in flight');
}

test('client FIN with a request outstanding: an abort, as in nginx — the app connection dropped at once, the client gets no bytes and a clean FIN (no reset); counted as client, not as an app failure', async () => {
  const before = await counters();
  const client = await RawClient.connect(proxy.listenPort);
  client.write('GET /hold HTTP/1.1\r\nHost: t\r\n\r\n');
  const upstream = await appConnection('/hold');
  const finAt = performance.now();
  client.socket.end(); // half-close: the client could still read a response
  const { error } = await client.closed;
  assert.equal(error, null, 'the proxy closed with a FIN, not a reset');
  assert.equal(client.unread, '', 'no response, not even an error status');
  assert.ok(await eventually(() => upstream.closedAt > 0, 1000), 'the app connection closed');
  assert.ok(upstream.closedAt - finAt < 500, `the app connection closed ${Math.round(upstream.closedAt - finAt)} ms after the FIN`);
  assert.equal(upstream.received, 'GET /hold HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\n\r\n', 'the app got the request, once');
  const after = await counters();
  assert.equal(after.closedByClient! - before.closedByClient!, 1);
  assert.equal(after.reset, before.reset, 'not an upstream error');
  await servesNext();
});

test('client FIN between requests: a quiet close — the app connection closed too, nothing counted as an error', async () => {
  const before = await counters();
  const client = await RawClient.connect(proxy.listenPort);
  assert.equal((await client.request('/first')).body, 'ok\n');
  const upstream = await appConnection('/first');
  client.socket.end();
  const { error } = await client.closed;
  assert.equal(error, null);
  assert.equal(client.unread, '', 'nothing after the response');
  assert.ok(await eventually(() => upstream.closedAt > 0, 1000), 'the app connection closed');
  const after = await counters();
  assert.equal(after.closedByClient! - before.closedByClient!, 1);
  assert.deepEqual([after.reset, after.truncated], [before.reset, before.truncated], 'no upstream error');
  await servesNext();
});

test('app FIN ending a close-delimited response: the client gets the whole body, then FIN; not an error', async () => {
  const before = await counters();
  const client = await RawClient.connect(proxy.listenPort);
  client.write('GET /close-delimited HTTP/1.1\r\nHost: t\r\n\r\n');
  const { error } = await client.closed;
  assert.equal(error, null, 'ended with a FIN');
  const head = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n';
  assert.ok(client.unread.startsWith(head), client.unread.slice(0, 100));
  assert.equal(client.unread.length - head.length, CLOSE_DELIMITED_BODY.length, 'every body byte before the FIN');
  assert.equal(client.unread.slice(head.length), CLOSE_DELIMITED_BODY.toString('latin1'));
  const after = await counters();
  assert.equal(after.closedByUpstream! - before.closedByUpstream!, 1);
  assert.deepEqual([after.reset, after.truncated], [before.reset, before.truncated], 'a complete response, no upstream error');
  await servesNext();
});

test('app FIN inside a Content-Length body: the client sees the same cut (fewer bytes than announced, then the close), never a completed response; counted as truncated', async () => {
  const before = await counters();
  const client = await RawClient.connect(proxy.listenPort);
  client.write('GET /cut-length HTTP/1.1\r\nHost: t\r\n\r\n');
  await client.closed;
  assert.equal(client.unread, 'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial', 'what the app sent, nothing added');
  const after = await counters();
  assert.equal(after.truncated! - before.truncated!, 1);
  assert.equal(after.closedByUpstream! - before.closedByUpstream!, 1);
  await servesNext();
});
