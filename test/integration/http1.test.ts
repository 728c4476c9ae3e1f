/**
 * The HTTP/1.1 data path through the real process: what reaches the app, what
 * the client gets, and what is refused.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { readdirSync } from 'node:fs';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDrainProxy, type DrainProxy } from '../../harness/drain-proxy.ts';
import { freePort } from '../../harness/ports.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { RawClient } from '../helpers/raw-client.ts';

let upstream: TestUpstream;
let proxy: DrainProxy;
/** Upstream request sockets by URL, to see when the proxy lets go of them. */
const upstreamSockets = new Map<string, Socket>();

before(async () => {
  upstream = await startUpstream(0, (req, res) => {
    upstreamSockets.set(req.url ?? '', req.socket);
    if (req.url === '/hang') return true;
    if (req.url === '/held-body') {
      // Reads nothing for 2.5 s: the proxy must hold the client back, and not take that for a stalled client.
      let bytes = 0;
      req.pause();
      setTimeout(() => req.resume(), 2500);
      req.on('data', (chunk: Buffer) => (bytes += chunk.length));
      req.on('end', () => res.end(`held ${bytes}\n`));
      return true;
    }
    if (req.url === '/early-answer') {
      // Begins its response before the request body is in.
      res.writeHead(200, { 'content-length': '20' });
      res.write('early ');
      req.resume();
      return true;
    }
    if (req.url === '/big') {
      // Written as fast as the proxy takes it: backpressure must reach here.
      let sent = 0;
      const chunk = Buffer.alloc(64 * 1024, 'x');
      res.writeHead(200, { 'content-length': String(64 * 1024 * 1024) });
      const pump = (): void => {
        while (sent < 64 * 1024 * 1024) {
          sent += chunk.length;
          (res as unknown as { sent: number }).sent = sent;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      bigResponses.push(res as unknown as { sent: number });
      pump();
      return true;
    }
    return false;
  });
  proxy = await startDrainProxy(upstream.port, { env: { HEADER_TIMEOUT: '500ms', MAX_HEADER_SIZE: '4k' } });
});
const bigResponses: Array<{ sent: number }> = [];

after(async () => {
  await proxy.stop();
  await upstream.close();
});

/** The app's socket for the request to `url`, once the request has reached it. */
async function appSocket(url: string): Promise<Socket> {
  for (let i = 0; i < 150; i++) {
    const socket = upstreamSockets.get(url);
    if (socket !== undefined) return socket;
    await sleep(20);
  }
  assert.fail(`the request to ${url} did not reach the app`);
}

async function exchange(bytes: string | Buffer): Promise<string> {
  const client = await RawClient.connect(proxy.listenPort);
  client.write(bytes);
  await client.closed;
  return client.unread;
}

test('requests reach the app with X-Forwarded-For appended and X-Forwarded-Proto added', async () => {
  const client = await RawClient.connect(proxy.listenPort);
  const plain = JSON.parse((await client.request('/headers')).body) as Record<string, string>;
  assert.equal(plain['x-forwarded-for'], '127.0.0.1');
  assert.equal(plain['x-forwarded-proto'], 'http');
  const chained = JSON.parse((await client.request('/headers', 'X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\n')).body) as Record<string, string>;
  assert.equal(chained['x-forwarded-for'], '203.0.113.7, 127.0.0.1', 'the client value is kept and appended to');
  assert.equal(chained['x-forwarded-proto'], 'https', 'an ingress in front knows the scheme better');
  client.destroy();
});

test('bodies in both framings, pipelined requests and HEAD are forwarded intact and in order', async () => {
  const client = await RawClient.connect(proxy.listenPort);
  client.write(
    'POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello' +
      'POST /b HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n' +
      'HEAD /c HTTP/1.1\r\nHost: t\r\n\r\n' +
      'GET /d HTTP/1.1\r\nHost: t\r\n\r\n',
  );
  assert.equal((await client.response()).body, 'POST /a 5\n');
  assert.equal((await client.response()).body, 'POST /b 3\n');
  const head = await client.response({ bodyless: true }); // HEAD: Content-Length announced, no body follows
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], '10');
  assert.equal((await client.response()).body, 'GET /d 0\n', 'the next response follows the HEAD response head directly');
  client.destroy();
});

const smuggling: Array<[string, string, number]> = [
  ['CL.TE', 'POST /smuggle HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG', 400],
  ['TE.TE obfuscated', 'POST /smuggle HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n', 400],
  ['duplicate Content-Length', 'POST /smuggle HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd', 400],
  ['comma-joined Content-Length', 'POST /smuggle HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 3\r\n\r\nabc', 400],
  ['obs-fold', 'GET /smuggle HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n folded\r\n\r\n', 400],
  ['bare LF', 'GET /smuggle HTTP/1.1\nHost: t\n\n', 400],
  ['space before colon', 'GET /smuggle HTTP/1.1\r\nHost: t\r\nContent-Length : 0\r\n\r\n', 400],
  ['missing Host', 'GET /smuggle HTTP/1.1\r\n\r\n', 400],
  ['CONNECT', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 405],
  ['HTTP/0.9', 'GET /smuggle\r\n\r\n', 400],
  ['header too large', `GET /smuggle HTTP/1.1\r\nHost: t\r\nX-Big: ${'a'.repeat(5000)}\r\n\r\n`, 431],
];

for (const [name, bytes, status] of smuggling) {
  test(`${name}: refused with ${status}, connection closed, nothing reaches the app`, async () => {
    const before = upstream.received.length;
    const answer = await exchange(bytes);
    assert.match(answer, new RegExp(`^HTTP/1\\.1 ${status} `));
    assert.match(answer, /\r\nConnection: close\r\n/);
    assert.equal(upstream.received.slice(before).filter((r) => r.includes('smuggle')).length, 0);
  });
}

test('a refused request after a valid pipelined one: the first is answered, the second refused, nothing of it forwarded', async () => {
  const answer = await exchange('GET /ok HTTP/1.1\r\nHost: t\r\n\r\nPOST /smuggle HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
  assert.match(answer, /^HTTP\/1\.1 200 [^]*GET \/ok 0\n HTTP\/1\.1 400 |^HTTP\/1\.1 200 [^]*GET \/ok 0\nHTTP\/1\.1 400 /);
  assert.ok(!upstream.received.some((r) => r.includes('smuggle')));
});

test('slowloris: a head not complete within HEADER_TIMEOUT gets 408 and the connection closes', async () => {
  const client = await RawClient.connect(proxy.listenPort);
  client.write('GET /slow-head HTTP/1.1\r\nHost: t\r\n');
  const started = performance.now();
  await client.closed;
  assert.ok(performance.now() - started < 3000);
  assert.match(client.unread, /^HTTP\/1\.1 408 /);
});

test('upstream down: 502 with Connection: close, counted, readiness drops', async () => {
  const deadPort = await freePort();
  const lonely = await startDrainProxy(deadPort, { wait: 'live' });
  try {
    const client = await RawClient.connect(lonely.listenPort);
    const response = await client.request('/nobody-home');
    assert.equal(response.status, 502);
    assert.equal(response.headers.connection, 'close');
    const metrics = await (await lonely.admin('/metrics')).text();
    assert.match(metrics, /drain_proxy_upstream_errors_total\{kind="connect_refused"\} [1-9]/);
    assert.equal((await lonely.admin('/readyz')).status, 503);
  } finally {
    await lonely.stop();
  }
});

test('upstream resets before responding: 502; dies mid-body: the client sees the response cut, not complete', async () => {
  const rude = createServer((socket) => {
    socket.once('data', (data) => {
      if (data.toString().includes('/reset')) socket.resetAndDestroy();
      else socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial');
    });
  });
  await new Promise<void>((resolve) => rude.listen(0, '127.0.0.1', resolve));
  const port = (rude.address() as { port: number }).port;
  const front = await startDrainProxy(port);
  try {
    const client = await RawClient.connect(front.listenPort);
    assert.equal((await client.request('/reset')).status, 502);
    const cut = await RawClient.connect(front.listenPort);
    cut.write('GET /truncate HTTP/1.1\r\nHost: t\r\n\r\n');
    await cut.closed;
    assert.match(cut.unread, /^HTTP\/1\.1 200 OK\r\nContent-Length: 100\r\n\r\npartial$/);
    const metrics = await (await front.admin('/metrics')).text();
    assert.match(metrics, /drain_proxy_upstream_errors_total\{kind="truncated"\} 1/);
  } finally {
    await front.stop();
    rude.close();
  }
});

test('a client that aborts mid-request makes the proxy drop its upstream connection at once', async () => {
  const client = await RawClient.connect(proxy.listenPort);
  client.write('GET /hang HTTP/1.1\r\nHost: t\r\n\r\n');
  const socket = await appSocket('/hang');
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now())));
  const abortedAt = performance.now();
  client.destroy();
  assert.ok((await closed) - abortedAt < 500, 'upstream socket closed promptly');
});

test('backpressure: a client that does not read stops the app from writing (no unbounded buffering)', async () => {
  const socket = connect({ port: proxy.listenPort, host: '127.0.0.1' });
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write('GET /big HTTP/1.1\r\nHost: t\r\n\r\n');
  socket.pause();
  await sleep(1500);
  const sent = bigResponses.at(-1)?.sent ?? 0;
  assert.ok(sent > 0, 'the response started');
  assert.ok(sent < 24 * 1024 * 1024, `the app wrote ${sent} bytes to a client reading nothing`);
  // Then it all arrives, byte-exact in length.
  let received = 0;
  socket.on('data', (chunk: Buffer) => (received += chunk.length));
  socket.resume();
  await new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (received >= 64 * 1024 * 1024) {
        clearInterval(check);
        resolve();
      }
    }, 20);
  });
  socket.destroy();
});

test('an upgrade answered with 101 becomes a tunnel, both ways, bytes verbatim', async () => {
  const echo = createServer((socket) => {
    socket.once('data', () => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nhello-from-app');
      socket.on('data', (chunk) => socket.write(chunk));
    });
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  const front = await startDrainProxy((echo.address() as { port: number }).port);
  try {
    const client = await RawClient.connect(front.listenPort);
    client.write('GET /up HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
    await sleep(200);
    client.write(Buffer.from([0, 1, 2, 255, 13, 10, 13, 10]));
    await sleep(200);
    assert.ok(client.unread.endsWith('hello-from-app\x00\x01\x02\xff\r\n\r\n'), JSON.stringify(client.unread));
    const metrics = await (await front.admin('/metrics')).text();
    assert.match(metrics, /drain_proxy_connections_active\{protocol="tcp"\} 1/);
    client.destroy();
  } finally {
    await front.stop();
    echo.close();
  }
});

test('10,000 connections opened and closed leave no file descriptors behind', async () => {
  const fds = (): number => readdirSync(`/proc/${proxy.pid}/fd`).length;
  // Warm up so lazily opened descriptors (epoll, timers, the upstream pool of one) are counted in the baseline.
  const agentless = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: proxy.listenPort, path: '/fd', agent: false }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end();
    });
  await agentless();
  await sleep(200);
  const baseline = fds();
  let done = 0;
  const worker = async (): Promise<void> => {
    while (done < 10_000) {
      done++;
      if (done % 2 === 0) {
        await agentless();
      } else {
        // Half connect and leave without a word.
        await new Promise<void>((resolve) => {
          const socket = connect({ port: proxy.listenPort, host: '127.0.0.1' }, () => socket.end());
          socket.on('close', () => resolve());
          socket.on('error', () => resolve());
        });
      }
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  let after = fds();
  for (let i = 0; i < 50 && after > baseline; i++) {
    await sleep(100);
    after = fds();
  }
  assert.ok(after <= baseline, `fds: ${baseline} before, ${after} after`);
  const status = (await (await proxy.admin('/status')).json()) as { connections: { http1: number }; inFlight: { http1: number } };
  assert.deepEqual([status.connections.http1, status.inFlight.http1], [0, 0], JSON.stringify(status));
});

test('UPSTREAM_RESPONSE_TIMEOUT: an app that never starts its response gets the client a 504, counted, and its connection dropped', async () => {
  const impatient = await startDrainProxy(upstream.port, { env: { UPSTREAM_RESPONSE_TIMEOUT: '1s' } });
  try {
    upstreamSockets.delete('/hang');
    const client = await RawClient.connect(impatient.listenPort);
    const asked = performance.now();
    client.write('GET /hang HTTP/1.1\r\nHost: t\r\n\r\n');
    const socket = await appSocket('/hang');
    const appSide = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const response = await client.response();
    const waited = performance.now() - asked;
    assert.equal(response.status, 504);
    assert.equal(response.headers.connection, 'close');
    assert.ok(waited >= 950 && waited < 3500, `answered after ${Math.round(waited)} ms (1 s timeout, checked once a second)`);
    await appSide;
    const metrics = await (await impatient.admin('/metrics')).text();
    assert.match(metrics, /drain_proxy_upstream_errors_total\{kind="response_timeout"\} 1/);
    const quick = await RawClient.connect(impatient.listenPort);
    assert.equal((await quick.request('/fine')).status, 200, 'a response that starts in time is not affected');
    quick.destroy();
  } finally {
    await impatient.stop();
  }
});

test('REQUEST_BODY_TIMEOUT: a body that stops coming (Content-Length or chunked) gets 408 and Connection: close, the app connection dropped, counted; a slow body that keeps coming, and one the app holds back, go through', async () => {
  const patient = await startDrainProxy(upstream.port, { env: { REQUEST_BODY_TIMEOUT: '1s' } });
  try {
    const stalled = async (url: string, head: string, part: string): Promise<void> => {
      const client = await RawClient.connect(patient.listenPort);
      client.write(`POST ${url} HTTP/1.1\r\nHost: t\r\n${head}\r\n${part}`);
      const lastByte = performance.now();
      const appSide = await appSocket(url);
      const appClosed = new Promise<void>((resolve) => appSide.once('close', () => resolve()));
      const response = await client.response();
      const waited = performance.now() - lastByte;
      assert.equal(response.status, 408, url);
      assert.equal(response.headers.connection, 'close');
      assert.equal(response.headers['x-drain-proxy-error'], 'DP_BODY_TIMEOUT');
      assert.ok(waited >= 950 && waited < 3500, `${url}: answered ${Math.round(waited)} ms after the last byte (1 s, checked once a second)`);
      await appClosed;
      await client.closed;
    };
    const trickle = async (): Promise<string> => {
      // Ten bytes, one every 300 ms: 3 s in all, but never 1 s without progress.
      const client = await RawClient.connect(patient.listenPort);
      client.write('POST /trickle HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n');
      for (let i = 0; i < 10; i++) {
        await sleep(300);
        client.write('x');
      }
      const response = await client.response();
      client.destroy();
      return `${response.status} ${response.body}`;
    };
    const held = async (): Promise<string> => {
      const body = Buffer.alloc(32 << 20, 'y');
      const client = await RawClient.connect(patient.listenPort);
      client.write(`POST /held-body HTTP/1.1\r\nHost: t\r\nContent-Length: ${body.length}\r\n\r\n`);
      client.write(body);
      const response = await client.response();
      client.destroy();
      return `${response.status} ${response.body}`;
    };
    const [, , trickled, waited] = await Promise.all([
      stalled('/stalled-length', 'Content-Length: 100\r\n', 'ten bytes.'),
      stalled('/stalled-chunked', 'Transfer-Encoding: chunked\r\n', '5\r\nhello\r\n'),
      trickle(),
      held(),
    ]);
    assert.equal(trickled, '200 POST /trickle 10\n', 'a body that keeps coming is not cut');
    assert.equal(waited, `200 held ${32 << 20}\n`, 'a client held back by backpressure is not taken for a stalled one');
    const metrics = await (await patient.admin('/metrics')).text();
    assert.match(metrics, /drain_proxy_rejected_requests_total\{code="DP_BODY_TIMEOUT"\} 2\n/);
    assert.match(metrics, /drain_proxy_connections_closed_total\{protocol="http1",reason="bad_request"\} 2\n/);
    assert.match(metrics, /drain_proxy_upstream_errors_total\{kind="reset"\} 0\n/, 'the dropped app connection is not an app failure');
    assert.match(metrics, /drain_proxy_requests_in_flight\{protocol="http1"\} 0\n/);
  } finally {
    await patient.stop();
  }
});

test('REQUEST_BODY_TIMEOUT after the app has begun its response: both connections closed, the response cut and no 408 made up; counted', async () => {
  const patient = await startDrainProxy(upstream.port, { env: { REQUEST_BODY_TIMEOUT: '1s' } });
  try {
    const client = await RawClient.connect(patient.listenPort);
    client.write('POST /early-answer HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nsome');
    const appSide = await appSocket('/early-answer');
    const appClosed = new Promise<void>((resolve) => appSide.once('close', () => resolve()));
    await client.closed;
    await appClosed;
    assert.equal(client.unread.replace(/\r\nDate: [^\r]*/, ''), 'HTTP/1.1 200 OK\r\ncontent-length: 20\r\nConnection: keep-alive\r\nKeep-Alive: timeout=30\r\n\r\nearly ');
    const metrics = await (await patient.admin('/metrics')).text();
    assert.match(metrics, /drain_proxy_rejected_requests_total\{code="DP_BODY_TIMEOUT"\} 1\n/);
    assert.match(metrics, /drain_proxy_connections_closed_total\{protocol="http1",reason="client"\} 1\n/);
  } finally {
    await patient.stop();
  }
});
