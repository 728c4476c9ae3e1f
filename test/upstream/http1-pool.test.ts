/**
 * The HTTP/1.1 connection pool against raw TCP apps on loopback that write
 * exact bytes: connections reused one exchange at a time (never pipelined),
 * idle connections the app closes forgotten, the keep-alive race told apart
 * from other resets, responses cut mid-body, responses that end their
 * connection, early responses, trailers, HEAD, refused and timed-out connects.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MessageHead } from '../../src/http1/head.ts';
import type { UpstreamErrorKind } from '../../src/metrics/index.ts';
import { Http1Pool, type Http1Exchange, type UpstreamConnection } from '../../src/upstream/http1-pool.ts';
import { LIMITS } from '../helpers/framing.ts';
import { eventually } from '../../harness/http.ts';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

interface AppConnection {
  readonly socket: Socket;
  /** Requests (heads) received on this connection, in order. */
  readonly requests: string[];
  /** Bytes that came while a request was waiting for its answer: a pipelined request. */
  pipelined: number;
}

/** A raw TCP app: each complete request head (no bodies here) is answered by `answer`, which writes what it likes. */
async function rawApp(answer: (connection: AppConnection, request: string) => void): Promise<{ server: Server; port: number; connections: AppConnection[] }> {
  const connections: AppConnection[] = [];
  const server = createServer((socket) => {
    const connection: AppConnection = { socket, requests: [], pipelined: 0 };
    connections.push(connection);
    let pending = '';
    let waiting = false;
    socket.on('error', () => {});
    socket.setEncoding('latin1').on('data', (text: string) => {
      if (waiting) connection.pipelined += text.length;
      pending += text;
      let end: number;
      while ((end = pending.indexOf('\r\n\r\n')) >= 0) {
        const request = pending.slice(0, end + 4);
        pending = pending.slice(end + 4);
        connection.requests.push(request);
        waiting = true;
        const write = socket.write.bind(socket);
        // Answered when `answer` writes: the request is no longer waiting.
        socket.write = ((...args: Parameters<Socket['write']>) => {
          waiting = false;
          socket.write = write;
          return write(...args);
        }) as Socket['write'];
        answer(connection, request);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  cleanups.push(() => new Promise((resolve) => {
    for (const { socket } of connections) socket.destroy();
    server.close(resolve);
  }));
  return { server, port: typeof address === 'object' && address !== null ? address.port : 0, connections };
}

/** An exchange that records what it hears; `done` settles at its end or failure. */
class Recorder implements Http1Exchange {
  status = 0;
  body = '';
  trailers = '';
  ended = false;
  failure: { kind: UpstreamErrorKind; stale: boolean } | null = null;
  readonly done: Promise<void>;
  #settle!: () => void;

  constructor() {
    this.done = new Promise((resolve) => (this.#settle = resolve));
  }

  responseHead(head: MessageHead): void {
    this.status = head.status;
  }

  responseBody(bytes: Buffer): boolean {
    this.body += bytes.toString('latin1');
    return true;
  }

  responseTrailers(section: Buffer): void {
    this.trailers = section.toString('latin1');
  }

  responseEnd(): void {
    this.ended = true;
    this.#settle();
  }

  failed(kind: UpstreamErrorKind, _err: NodeJS.ErrnoException | undefined, stale: boolean): void {
    this.failure = { kind, stale };
    this.#settle();
  }

  writable(): void {}
}

function poolFor(port: number, connectTimeoutMs = 2000): Http1Pool {
  const pool = new Http1Pool({ upstream: { host: '127.0.0.1', port, url: `http://127.0.0.1:${port}` }, connectTimeoutMs, limits: LIMITS });
  cleanups.push(() => pool.close());
  return pool;
}

/** Sends a bodiless GET (or `method`) through the pool; resolves with the recorder once it has settled. */
async function exchange(pool: Http1Pool, path = '/', method = 'GET'): Promise<Recorder> {
  const recorder = new Recorder();
  const connection = pool.acquire(recorder, method);
  connection.write(`${method} ${path} HTTP/1.1\r\nhost: app\r\n\r\n`);
  connection.endRequest();
  await recorder.done;
  return recorder;
}

const ok = (body: string, extra = ''): string => `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n${extra}\r\n${body}`;

test('one exchange at a time per connection, never pipelined; a connection is reused once its response is complete; concurrent exchanges get their own', async () => {
  const app = await rawApp((connection, request) => {
    // Answered a little later, so that a pipelined request would have the time to arrive.
    setTimeout(() => connection.socket.write(ok(request.split(' ')[1])), 20);
  });
  const pool = poolFor(app.port);
  for (const path of ['/a', '/b', '/c']) assert.equal((await exchange(pool, path)).body, path);
  assert.equal(app.connections.length, 1, 'sequential exchanges share one connection');
  assert.deepEqual(app.connections[0].requests.map((r) => r.split(' ')[1]), ['/a', '/b', '/c']);
  assert.equal(pool.idleCount, 1);

  const concurrent = await Promise.all(['/1', '/2', '/3', '/4'].map((path) => exchange(pool, path)));
  assert.deepEqual(concurrent.map((r) => r.body), ['/1', '/2', '/3', '/4'], 'each exchange gets its own answer');
  assert.equal(app.connections.length, 4, 'the idle connection was reused, three more were opened');
  assert.ok(app.connections.every((c) => c.pipelined === 0), 'no request was written behind an unanswered one');
  assert.equal(pool.idleCount, 4);

  const last = app.connections.at(-1)!;
  const before = last.requests.length;
  await exchange(pool, '/lifo');
  assert.equal(last.requests.length, before + 1, 'the connection used last is taken first');
});

test('an app that closes idle keep-alive connections: the pool forgets them, the next exchange opens a new one', async () => {
  const app = await rawApp((connection) => {
    connection.socket.write(ok('hi'));
    setTimeout(() => connection.socket.end(), 30); // an idle timeout, as node:http's keepAliveTimeout
  });
  const pool = poolFor(app.port);
  assert.equal((await exchange(pool)).body, 'hi');
  assert.equal(pool.idleCount, 1);
  assert.ok(await eventually(() => pool.idleCount === 0), 'the closed connection left the pool');
  const again = await exchange(pool);
  assert.equal(again.body, 'hi');
  assert.equal(again.failure, null);
  assert.equal(app.connections.length, 2);
});

test('a kept-alive connection the app closes before answering is stale (the keep-alive race); on a new connection the same close is a plain reset', async () => {
  const app = await rawApp((connection) => {
    if (connection.requests.length === 1 && app.connections.length > 1) connection.socket.destroy(); // the second connection dies at once
    else if (connection.requests.length === 2) connection.socket.destroy();
    else connection.socket.write(ok('first'));
  });
  const pool = poolFor(app.port);
  assert.equal((await exchange(pool)).body, 'first');
  const raced = await exchange(pool);
  assert.deepEqual(raced.failure, { kind: 'reset', stale: true }, 'reused connection, closed without a byte of response');
  const fresh = await exchange(pool);
  assert.deepEqual(fresh.failure, { kind: 'reset', stale: false }, 'a new connection: nothing to blame on keep-alive');
  assert.equal(pool.idleCount, 0);
});

test('a response cut mid-body is truncated, whether length-delimited or chunked; the connection is not reused', async () => {
  const app = await rawApp((connection, request) => {
    const { socket } = connection;
    if (request.startsWith('GET /length')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf');
    else socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nhalf\r\n');
    setTimeout(() => socket.destroy(), 20);
  });
  const pool = poolFor(app.port);
  for (const path of ['/length', '/chunked']) {
    const cut = await exchange(pool, path);
    assert.equal(cut.status, 200, path);
    assert.equal(cut.body, 'half', path);
    assert.equal(cut.ended, false, path);
    assert.deepEqual(cut.failure, { kind: 'truncated', stale: false }, path);
  }
  assert.equal(pool.idleCount, 0);
});

test('responses that end their connection (Connection: close, HTTP/1.0, close-delimited) complete, and the connection goes', async () => {
  const app = await rawApp((connection, request) => {
    const { socket } = connection;
    if (request.startsWith('GET /close')) socket.write(ok('bye', 'Connection: close\r\n'));
    else if (request.startsWith('GET /http10')) socket.write('HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold');
    else socket.end('HTTP/1.1 200 OK\r\n\r\nuntil the end');
  });
  const pool = poolFor(app.port);
  for (const [path, body] of [['/close', 'bye'], ['/http10', 'old'], ['/eof', 'until the end']]) {
    const answer = await exchange(pool, path);
    assert.equal(answer.failure, null, path);
    assert.equal(answer.ended, true, path);
    assert.equal(answer.body, body, path);
    assert.equal(pool.idleCount, 0, path);
  }
  assert.equal(app.connections.length, 3);
});

test('chunked responses come de-chunked with their trailers; HEAD responses have no body; interim responses are skipped', async () => {
  const app = await rawApp((connection, request) => {
    const { socket } = connection;
    if (request.startsWith('HEAD')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n');
    else socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 5\r\nX-More: a\r\n\r\n');
  });
  const pool = poolFor(app.port);
  const chunked = await exchange(pool, '/');
  assert.equal(chunked.status, 200);
  assert.equal(chunked.body, 'abcde');
  assert.equal(chunked.trailers, 'X-Sum: 5\r\nX-More: a\r\n');
  const head = await exchange(pool, '/', 'HEAD');
  assert.equal(head.ended, true);
  assert.equal(head.body, '');
  assert.equal(app.connections.length, 1, 'both on one connection: the HEAD response was framed without a body');
});

test('an early response (before the request body is whole) completes, and its connection is closed rather than reused', async () => {
  const app = await rawApp((connection) => connection.socket.write(ok('too large', 'Connection: keep-alive\r\n').replace('200 OK', '413 Content Too Large')));
  const pool = poolFor(app.port);
  const recorder = new Recorder();
  const connection: UpstreamConnection = pool.acquire(recorder, 'POST');
  connection.write('POST / HTTP/1.1\r\nhost: app\r\ncontent-length: 5\r\n\r\n');
  await recorder.done;
  assert.equal(recorder.status, 413);
  assert.equal(recorder.ended, true);
  assert.equal(pool.idleCount, 0);
  assert.ok(await eventually(() => app.connections[0].socket.destroyed || app.connections[0].socket.readableEnded), 'the app sees the connection go');
});

test('a response that cannot be framed is a bad response; bytes from the app on an idle connection close it', async () => {
  const app = await rawApp((connection, request) => {
    if (request.startsWith('GET /bad')) connection.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx');
    else {
      connection.socket.write(ok('fine'));
      setTimeout(() => connection.socket.write('HTTP/1.1 200 OK\r\n\r\n'), 30);
    }
  });
  const pool = poolFor(app.port);
  assert.deepEqual((await exchange(pool, '/bad')).failure, { kind: 'bad_response', stale: false });
  assert.equal((await exchange(pool, '/fine')).body, 'fine');
  assert.ok(await eventually(() => pool.idleCount === 0), 'an unasked-for response closed the idle connection');
});

test('nothing listening: connect_refused; a connect that never completes: connect_timeout after UPSTREAM_CONNECT_TIMEOUT', async () => {
  const closed = await rawApp(() => {});
  const port = closed.port;
  await new Promise((resolve) => closed.server.close(resolve));
  assert.deepEqual((await exchange(poolFor(port))).failure, { kind: 'connect_refused', stale: false });

  // A listener that never accepts, its backlog full: further SYNs go unanswered, as behind a dead host.
  const blackhole = spawn('python3', ['-c', [
    'import socket, sys, time',
    's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)',
    'fill = [socket.socket() for _ in range(2)]',
    'for c in fill: c.setblocking(False); c.connect_ex(s.getsockname())',
    'print(s.getsockname()[1], flush=True)',
    'time.sleep(60)',
  ].join('\n')], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(() => blackhole.kill('SIGKILL'));
  const [line] = await once(blackhole.stdout!.setEncoding('utf8'), 'data') as [string];
  const started = performance.now();
  const timedOut = await exchange(poolFor(Number(line.trim()), 300));
  assert.deepEqual(timedOut.failure, { kind: 'connect_timeout', stale: false });
  const waited = performance.now() - started;
  assert.ok(waited >= 280 && waited < 2000, `gave up after ${Math.round(waited)} ms (UPSTREAM_CONNECT_TIMEOUT 300 ms)`);
});

test('close(): idle connections are closed, and a connection that becomes idle afterwards too', async () => {
  const app = await rawApp((connection) => setTimeout(() => connection.socket.write(ok('x')), 50));
  const pool = poolFor(app.port);
  await exchange(pool);
  const inFlight = exchange(pool, '/late');
  await sleep(10);
  pool.close();
  assert.equal(pool.idleCount, 0);
  assert.equal((await inFlight).body, 'x', 'the exchange in flight completes');
  assert.equal(pool.idleCount, 0, 'and its connection is not kept');
  assert.ok(await eventually(() => app.connections.every((c) => c.socket.readableEnded || c.socket.destroyed)));
});

test('a chunked request body: each piece one chunk, an empty piece nothing (it would be the last chunk), trailers in the last chunk', async () => {
  const received: string[] = [];
  const server = createServer((socket) => {
    let bytes = '';
    socket.setEncoding('latin1').on('data', (text: string) => {
      bytes += text;
      if (!bytes.endsWith('\r\n\r\n') || !bytes.includes('\r\n0\r\n')) return;
      received.push(bytes);
      socket.write(ok('done'));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  const port = (server.address() as { port: number }).port;
  const pool = poolFor(port);
  const recorder = new Recorder();
  const connection = pool.acquire(recorder, 'POST');
  connection.write('POST / HTTP/1.1\r\nhost: app\r\ntransfer-encoding: chunked\r\n\r\n');
  connection.writeChunk(Buffer.from('hello'));
  connection.writeChunk(Buffer.alloc(0));
  connection.writeChunk(Buffer.from(' world, and more'));
  connection.endChunked('x-sum: 21\r\n');
  await recorder.done;
  assert.equal(recorder.body, 'done');
  assert.deepEqual(received, ['POST / HTTP/1.1\r\nhost: app\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n10\r\n world, and more\r\n0\r\nx-sum: 21\r\n\r\n']);
  assert.equal(pool.idleCount, 1, 'the whole request went: the connection is kept');
});
