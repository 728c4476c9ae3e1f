/**
 * The protocol sniffer on real loopback sockets: the HTTP/2 preface split at
 * every offset still goes to the HTTP/2 side, byte for byte; HTTP/1.1
 * requests that start like the preface (P...) go to HTTP/1.1 with every byte;
 * a silent connection is closed at drain once silent for DRAIN_IDLE_CLOSE.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { H2, HTTP1, NEED_MORE, PREFACE, ProtocolSniffer, matchPreface } from '../../src/listeners/sniff.ts';
import { Peer } from '../../src/listeners/peer.ts';

const servers: Server[] = [];
after(() => {
  for (const server of servers) server.close();
});

test('matchPreface: every prefix needs more, the whole preface is h2, the first differing byte is HTTP/1.1', () => {
  for (let n = 1; n < PREFACE.length; n++) assert.equal(matchPreface(PREFACE.subarray(0, n), 0), NEED_MORE, `prefix of ${n}`);
  assert.equal(matchPreface(PREFACE, 0), H2);
  assert.equal(matchPreface(Buffer.concat([PREFACE, Buffer.from('\x00\x00\x00\x04')]), 0), H2);
  assert.equal(matchPreface(PREFACE.subarray(10), 10), H2);
  assert.equal(matchPreface(Buffer.from('GET / HTTP/1.1\r\n'), 0), HTTP1);
  assert.equal(matchPreface(Buffer.from('POST / HTTP/1.1\r\n'), 0), HTTP1);
  assert.equal(matchPreface(Buffer.from('PRI * HTTP/1.1\r\n'), 0), HTTP1);
  assert.equal(matchPreface(Buffer.from('X'), 5), HTTP1);
});

interface Handed {
  readonly protocol: 'http1' | 'h2';
  readonly bytes: Buffer;
}

/** A listener whose sockets go through a sniffer; each handed-over socket's bytes are collected until the client ends. */
async function sniffingServer(timings = { keepAliveTimeoutMs: 60_000, headerTimeoutMs: 60_000, drainIdleCloseMs: 0 }): Promise<{ port: number; sniffer: ProtocolSniffer; handed: Handed[]; next: () => Promise<Handed> }> {
  const handed: Handed[] = [];
  const waiters: Array<(h: Handed) => void> = [];
  const collect = (protocol: Handed['protocol']) => (socket: Socket): void => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => {
      const entry = { protocol, bytes: Buffer.concat(chunks) };
      handed.push(entry);
      waiters.shift()?.(entry);
      socket.end();
    });
    // The HTTP/2 side would take the socket over; here it is read like any other.
    if (protocol === 'h2') socket.resume();
  };
  const sniffer = new ProtocolSniffer({ http1: collect('http1'), h2: collect('h2') }, timings);
  const server = createServer({ allowHalfOpen: true }, (socket) => sniffer.accept(socket, Peer.of(socket, 'test', 'http')));
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    sniffer,
    handed,
    next: () => new Promise((resolve) => waiters.push(resolve)),
  };
}

async function send(port: number, parts: Buffer[]): Promise<void> {
  const socket = connect({ port, host: '127.0.0.1', noDelay: true });
  await once(socket, 'connect');
  for (const part of parts) {
    socket.write(part);
    await sleep(5); // separate segments, so the server reads separate chunks
  }
  socket.end();
  socket.resume();
  await once(socket, 'close');
}

test('the preface split at every offset goes to the HTTP/2 side with every byte, in order', async () => {
  const { port, next } = await sniffingServer();
  const settings = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
  const stream = Buffer.concat([PREFACE, settings]);
  for (let split = 1; split < stream.length; split++) {
    const handed = next();
    await send(port, [stream.subarray(0, split), stream.subarray(split)]);
    const got = await handed;
    assert.equal(got.protocol, 'h2', `split at ${split}`);
    assert.ok(got.bytes.equals(stream), `split at ${split}: bytes unchanged`);
  }
  // Three pieces, the preface cut twice.
  const handed = next();
  await send(port, [stream.subarray(0, 3), stream.subarray(3, 17), stream.subarray(17)]);
  assert.deepEqual(await handed, { protocol: 'h2', bytes: stream });
});

test('HTTP/1.1 requests, including ones that start like the preface and arrive split, go to HTTP/1.1 with every byte', async () => {
  const { port, next } = await sniffingServer();
  const requests = [
    'GET / HTTP/1.1\r\nHost: a\r\n\r\n',
    'POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi',
    'PRI * HTTP/1.1\r\nHost: a\r\n\r\n',
    'PUT / HTTP/1.1\r\nHost: a\r\n\r\n',
  ];
  for (const text of requests) {
    const bytes = Buffer.from(text, 'latin1');
    for (const split of [0, 1, 2, 3, 9, 12]) {
      const handed = next();
      await send(port, split === 0 ? [bytes] : [bytes.subarray(0, split), bytes.subarray(split)]);
      const got = await handed;
      assert.equal(got.protocol, 'http1', `${JSON.stringify(text.slice(0, 8))} split at ${split}`);
      assert.ok(got.bytes.equals(bytes), `${JSON.stringify(text.slice(0, 8))} split at ${split}: bytes unchanged`);
    }
  }
});

test('a connection silent since before the drain is closed at drain start (DRAIN_IDLE_CLOSE 0); one that spoke is not the sniffer\'s', async () => {
  const { port, sniffer, next } = await sniffingServer({ keepAliveTimeoutMs: 60_000, headerTimeoutMs: 60_000, drainIdleCloseMs: 0 });
  const silent = connect({ port, host: '127.0.0.1' });
  silent.on('error', () => {}); // closed or reset: either way it is gone
  await once(silent, 'connect');
  const deadline = performance.now() + 2000;
  while (sniffer.pending === 0 && performance.now() < deadline) await sleep(5);
  assert.equal(sniffer.pending, 1);
  const closed = once(silent, 'close');
  sniffer.startDrain();
  await closed;
  assert.equal(sniffer.pending, 0);
  const handed = next();
  await send(port, [Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n')]);
  assert.equal((await handed).protocol, 'http1');
});

test('a connection accepted during the drain gets time to send its first bytes, even with DRAIN_IDLE_CLOSE 0', async () => {
  const { port, sniffer, next } = await sniffingServer({ keepAliveTimeoutMs: 60_000, headerTimeoutMs: 60_000, drainIdleCloseMs: 0 });
  sniffer.startDrain();
  const late = connect({ port, host: '127.0.0.1' });
  late.on('error', () => {});
  await once(late, 'connect');
  let closedByServer = false;
  late.once('end', () => (closedByServer = true));
  late.resume();
  await sleep(300);
  assert.equal(closedByServer, false, 'not closed before it could speak');
  const handed = next();
  late.end('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  assert.equal((await handed).protocol, 'http1', 'still open 300 ms after it was accepted, and served');
});

test('a silent connection is closed after the keep-alive timeout', async () => {
  const { port, sniffer } = await sniffingServer({ keepAliveTimeoutMs: 200, headerTimeoutMs: 60_000, drainIdleCloseMs: 0 });
  const silent = connect({ port, host: '127.0.0.1' });
  silent.on('error', () => {}); // closed or reset: either way it is gone
  await once(silent, 'connect');
  const started = performance.now();
  silent.resume();
  await once(silent, 'close');
  const waited = performance.now() - started;
  assert.ok(waited >= 150 && waited < 5000, `closed after ${Math.round(waited)} ms`);
  assert.equal(sniffer.pending, 0);
});

test('a preface begun but not finished within HEADER_TIMEOUT is closed', async () => {
  const { port, sniffer } = await sniffingServer({ keepAliveTimeoutMs: 60_000, headerTimeoutMs: 200, drainIdleCloseMs: 0 });
  const partial = connect({ port, host: '127.0.0.1' });
  partial.on('error', () => {}); // closed or reset: either way it is gone
  await once(partial, 'connect');
  partial.write(PREFACE.subarray(0, 5));
  const started = performance.now();
  partial.resume();
  await once(partial, 'close');
  const waited = performance.now() - started;
  assert.ok(waited >= 150 && waited < 5000, `closed after ${Math.round(waited)} ms`);
  assert.equal(sniffer.pending, 0);
});
