/**
 * Server-sent events at drain: the proxy ends each stream itself, after a
 * complete event, inside the close window, so EventSource clients reconnect
 * elsewhere instead of being cut at the deadline.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDrainProxy, type DrainProxy } from '../../harness/drain-proxy.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { tickEvents } from '../helpers/upstream.ts';

const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const step of cleanup.reverse()) await step();
});

/** An app that streams one event every 30 ms: chunked, or close-delimited to an HTTP/1.0 client. */
async function startEventApp(): Promise<number> {
  const server = createServer((req, res: ServerResponse) => {
    const closeDelimited = req.url === '/events-close';
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...(closeDelimited ? { connection: 'close' } : {}) });
    tickEvents(res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanup.push(() => {
    server.closeAllConnections();
    server.close();
  });
  return (server.address() as { port: number }).port;
}

function dechunk(body: string): { payload: string; terminated: boolean } {
  let payload = '';
  let pos = 0;
  for (;;) {
    const lineEnd = body.indexOf('\r\n', pos);
    if (lineEnd < 0) return { payload, terminated: false };
    const size = parseInt(body.slice(pos, lineEnd), 16);
    if (size === 0) return { payload, terminated: body.slice(lineEnd + 2) === '\r\n' };
    payload += body.slice(lineEnd + 2, lineEnd + 2 + size);
    pos = lineEnd + 2 + size + 2;
  }
}

async function proxyFor(port: number): Promise<DrainProxy> {
  const proxy = await startDrainProxy(port, { env: { DRAIN_DELAY: '300ms', CLOSE_SPREAD: '1s', DRAIN_TIMEOUT: '10s' } });
  cleanup.push(() => proxy.stop());
  return proxy;
}

test('a chunked event stream is ended with the last chunk after a complete event, within the window', async () => {
  const proxy = await proxyFor(await startEventApp());
  const clients = await Promise.all(Array.from({ length: 6 }, () => RawClient.connect(proxy.listenPort)));
  for (const client of clients) client.write('GET /events HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n');
  await sleep(300);
  const t0 = performance.now();
  proxy.signal('SIGTERM');
  const ends = await Promise.all(clients.map(async (client) => ({ closed: await client.closed, raw: client.unread })));
  const exit = await proxy.exited;
  assert.equal(exit.code, 0, 'nothing left for the deadline');
  for (const { closed, raw } of ends) {
    assert.equal(closed.error, null, 'ended with a FIN, not a reset');
    const at = closed.at - t0;
    assert.ok(at >= 250 && at < 300 + 1000 + 1500, `ended at ${Math.round(at)} ms, inside DRAIN_DELAY + CLOSE_SPREAD`);
    const headEnd = raw.indexOf('\r\n\r\n');
    assert.match(raw.slice(0, headEnd), /transfer-encoding: chunked/i);
    const { payload, terminated } = dechunk(raw.slice(headEnd + 4));
    assert.ok(terminated, 'the body ends with a proper last chunk');
    assert.ok(payload.endsWith('\n\n'), 'after a complete event');
    const events = payload.trim().split('\n\n');
    events.forEach((event, i) => assert.equal(event, `id: ${i + 1}\ndata: tick ${i + 1}`));
  }
  const summary = proxy.log('drain finished')!;
  assert.equal((summary.closed as Record<string, number>).drain_stream_end, 6);
});

test('a close-delimited event stream is ended by closing after a complete event', async () => {
  const proxy = await proxyFor(await startEventApp());
  const client = await RawClient.connect(proxy.listenPort);
  client.write('GET /events-close HTTP/1.0\r\nHost: t\r\n\r\n');
  await sleep(200);
  proxy.signal('SIGTERM');
  const closed = await client.closed;
  assert.equal(closed.error, null);
  const raw = client.unread;
  const body = raw.slice(raw.indexOf('\r\n\r\n') + 4);
  assert.doesNotMatch(raw.slice(0, raw.indexOf('\r\n\r\n')), /chunked/i);
  assert.ok(body.endsWith('\n\n') && body.length > 0, `ends after a complete event: ${JSON.stringify(body.slice(-20))}`);
  assert.equal((await proxy.exited).code, 0);
});
