/**
 * Abusive clients against the real process, over real sockets, writing exact
 * bytes (test/helpers/abuse.ts): pipelining floods, slow readers on every
 * protocol, HTTP/2 stream limits, rapid reset and the frame floods. Each test
 * asserts counts and bytes the proxy reports (requests in flight, bytes it
 * holds, limits counted), that the process stays up and serves a
 * well-behaved client meanwhile, and that the abuser's state is gone once it
 * leaves. Memory itself (RSS, heap) is measured by `npm run abuse`, not here.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDrainProxy, type DrainProxy } from '../../harness/drain-proxy.ts';
import { eventually, httpGet } from '../../harness/http.ts';
import { metricValue } from '../../harness/metrics.ts';
import { freePort } from '../../harness/ports.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { NGHTTP2_CANCEL, openSlowReader, rstStreamFrame, runAbuse, type AbuseShape, type SlowReaderKind } from '../helpers/abuse.ts';
import { startPushingApp } from '../helpers/pushing-app.ts';
import { END_HEADERS, END_STREAM, HEADERS, RST_STREAM, GOAWAY, RawH2Client, frame, getHeaderBlock } from '../h2/raw-client.ts';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

const BIG = Buffer.alloc(64 * 1024, 'b');

/** The test upstream, with `/big` (64 KiB) and `/hold` (never answered until the client goes). */
async function upstream(): Promise<TestUpstream> {
  const app = await startUpstream(0, (req, res) => {
    if (req.url === '/big') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(BIG.length) });
      res.end(BIG);
      return true;
    }
    if (req.url === '/hold') {
      req.resume();
      return true;
    }
    return false;
  });
  cleanups.push(() => app.close());
  return app;
}

async function proxyFor(port: number, env: Record<string, string> = {}): Promise<DrainProxy> {
  const proxy = await startDrainProxy(port, { env: { LOG_LEVEL: 'warn', ...env } });
  cleanups.push(() => proxy.stop());
  return proxy;
}

/** A well-behaved client: one GET on a connection of its own, closed after the answer. */
async function served(proxy: DrainProxy): Promise<void> {
  const answer = await httpGet(proxy.url('/'), 3000);
  assert.equal(answer.status, 200, 'a well-behaved client is answered');
}

function limitCount(text: string, reason: string): number {
  return metricValue(text, `drain_proxy_limits_enforced_total{reason="${reason}"}`) ?? Number.NaN;
}

function buffered(text: string, protocol: string): number {
  return metricValue(text, `drain_proxy_buffered_bytes{protocol="${protocol}"}`) ?? Number.NaN;
}

/** Nothing left of the abusers: no connection, nothing in flight, nothing buffered. */
async function released(proxy: DrainProxy): Promise<void> {
  const empty = await eventually(async () => {
    const status = await proxy.status();
    const text = await proxy.metrics();
    return Object.values(status.connections).every((n) => n === 0) && Object.values(status.inFlight).every((n) => n === 0)
      && ['http1', 'h2', 'websocket', 'tcp'].every((protocol) => buffered(text, protocol) === 0);
  }, 10_000);
  assert.ok(empty, `the abusers' connections, requests and buffers are all released: ${JSON.stringify(await proxy.status())}`);
}

test('HTTP/1.1 requests pipelined without reading a response are read one at a time: one in flight per connection, the rest left unread', async () => {
  const app = await upstream();
  const proxy = await proxyFor(app.port);
  const until = performance.now() + 2000;
  const flood = runAbuse('h1-pipeline', { port: proxy.listenPort, connections: 3, until });
  let mostInFlight = 0;
  let mostBuffered = 0;
  while (performance.now() < until - 200) {
    const status = await proxy.status();
    mostInFlight = Math.max(mostInFlight, status.inFlight.http1);
    mostBuffered = Math.max(mostBuffered, buffered(await proxy.metrics(), 'http1'));
    await sleep(50);
  }
  await served(proxy);
  const stats = await flood;
  assert.ok(stats.bytesSent > 1024 * 1024, `the clients wrote ${stats.bytesSent} bytes of requests`);
  assert.ok(mostInFlight <= 3, `at most one request in flight per connection (saw ${mostInFlight})`);
  assert.ok(mostBuffered <= 3 * 512 * 1024, `what the proxy holds is a few socket buffers per connection (saw ${mostBuffered} bytes)`);
  await released(proxy);
});

test('HTTP/1.1: a request pipelined behind a pending response waits, and is answered once that response is done', async () => {
  const app = await upstream();
  const proxy = await proxyFor(app.port);
  const client = await openSlowReader('tcp', proxy.listenPort);
  client.resume();
  let text = '';
  client.setEncoding('latin1').on('data', (chunk: string) => (text += chunk));
  client.write('GET /slow?ms=300 HTTP/1.1\r\nHost: t\r\n\r\nGET /second HTTP/1.1\r\nHost: t\r\n\r\n');
  await sleep(150);
  assert.deepEqual(app.received, ['GET /slow?ms=300'], 'the second request is not forwarded while the first is unanswered');
  assert.ok(await eventually(() => (text.match(/HTTP\/1\.1 200/g) ?? []).length === 2, 5000), `both answered in order: ${text}`);
  assert.deepEqual(app.received, ['GET /slow?ms=300', 'GET /second']);
  assert.ok(text.indexOf('slow 300') < text.indexOf('GET /second'));
  client.destroy();
});

const SLOW_READERS: ReadonlyArray<readonly [SlowReaderKind, string]> = [
  ['http1-download', 'http1'],
  ['event-stream', 'http1'],
  ['h2-download', 'h2'],
  ['websocket', 'websocket'],
  ['tcp', 'tcp'],
];

/** What the proxy may hold for one connection whose client reads nothing: socket buffers both ways, about 64 KiB each plus a chunk. */
const PER_CONNECTION_BOUND = 512 * 1024;

test('slow readers on every protocol (HTTP/1.1 download, event stream, HTTP/2 stream, WebSocket, TCP_PORTS): the proxy holds a bounded few buffers for each and the app is held back', async () => {
  const app = await startPushingApp();
  cleanups.push(() => app.close());
  const tcpPort = await freePort();
  const proxy = await proxyFor(app.port, { TCP_PORTS: `${tcpPort}:${app.tcpPort}` });
  await proxy.waitForLog('tcp port listening').catch(() => undefined);
  const readers: Socket[] = [];
  for (const [kind] of SLOW_READERS) readers.push(await openSlowReader(kind, kind === 'tcp' ? tcpPort : proxy.listenPort));
  const stalled = await eventually(() => app.pushes.length === SLOW_READERS.length && app.pushes.every((push) => push.stalledFor(500)), 20_000);
  assert.ok(stalled, `every push is held back: ${JSON.stringify(app.pushes)}`);
  const text = await proxy.metrics();
  for (const protocol of ['http1', 'h2', 'websocket', 'tcp']) {
    const connections = SLOW_READERS.filter(([, p]) => p === protocol).length;
    const bytes = buffered(text, protocol);
    assert.ok(bytes > 0 && bytes <= connections * PER_CONNECTION_BOUND, `${protocol}: ${bytes} bytes held for ${connections} slow reader(s)`);
  }
  for (const push of app.pushes) assert.ok(!push.done && push.accepted < 64 * 1024 * 1024, `${push.kind}: the app could not push everything (${push.accepted} bytes)`);
  await served(proxy);
  for (const reader of readers) reader.destroy();
  await released(proxy);
});

test('HTTP/2 MAX_CONCURRENT_STREAMS: advertised; streams of the first flight beyond it refused with REFUSED_STREAM, a client over it once acknowledged gets GOAWAY; counted once per session', async () => {
  const app = await upstream();
  const proxy = await proxyFor(app.port, { MAX_CONCURRENT_STREAMS: '10' });
  const client = await RawH2Client.connect(proxy.listenPort);
  const burst: Buffer[] = [];
  for (let id = 1; id <= 2 * 15 - 1; id += 2) burst.push(frame(HEADERS, END_HEADERS | END_STREAM, id, getHeaderBlock('/hold')));
  client.send(Buffer.concat(burst));
  const settings = await client.waitFor((f) => f.type === 0x4 && (f.flags & 1) === 0);
  assert.ok(settings !== undefined);
  const advertised = new Map<number, number>();
  for (let i = 0; i + 6 <= settings.payload.length; i += 6) advertised.set(settings.payload.readUInt16BE(i), settings.payload.readUInt32BE(i + 2));
  assert.equal(advertised.get(0x3), 10, 'SETTINGS_MAX_CONCURRENT_STREAMS advertised');
  assert.ok(await eventually(() => client.frames.filter((f) => f.type === RST_STREAM).length >= 5, 5000));
  const refused = client.frames.filter((f) => f.type === RST_STREAM);
  assert.deepEqual(refused.map((f) => f.payload.readUInt32BE(0)), [7, 7, 7, 7, 7], 'five streams refused with REFUSED_STREAM');
  assert.ok(await eventually(() => app.received.length === 10, 5000), `ten streams reach the app (${app.received.length})`);
  // The settings are acknowledged by now: one stream more is a connection error.
  client.send(frame(HEADERS, END_HEADERS | END_STREAM, 31, getHeaderBlock('/hold')));
  const goaway = await client.waitFor((f) => f.type === GOAWAY);
  assert.ok(goaway !== undefined, 'GOAWAY for exceeding the acknowledged limit');
  assert.equal(goaway.payload.readUInt32BE(4), 1, 'PROTOCOL_ERROR');
  assert.equal(app.received.length, 10);
  assert.equal(limitCount(await proxy.metrics(), 'h2_concurrent_streams'), 1);
  client.socket.destroy();
  await served(proxy);
  await released(proxy);
});

test('HTTP/2 rapid reset (HEADERS then RST_STREAM, CVE-2023-44487): nothing reaches the app, each session is closed and counted', async () => {
  const app = await upstream();
  const proxy = await proxyFor(app.port, { STREAM_RESET_BURST: '200', STREAM_RESET_RATE: '10' });
  const stats = await runAbuse('h2-rapid-reset', { port: proxy.listenPort, connections: 1, until: performance.now() + 3000, maxConnections: 3 });
  assert.ok(stats.streams >= 600, `the client opened and reset ${stats.streams} streams`);
  assert.equal(stats.closedByServer, 3, 'the server closed every session');
  assert.ok(Object.keys(stats.goawayReceived).length > 0, `with a GOAWAY: ${JSON.stringify(stats.goawayReceived)}`);
  assert.equal(app.received.length, 0, 'no reset stream reached the app');
  // Ended by nghttp2's reset bucket or, when one read packs more opened-and-reset streams than node:http2 lets a
  // session hold while it tears them down (MAX_CONCURRENT_STREAMS), by its refusing them: counted either way.
  const text = await proxy.metrics();
  assert.ok(limitCount(text, 'h2_stream_resets') + limitCount(text, 'h2_rejected_streams') >= 3, 'every session counted');
  assert.equal(metricValue(text, 'drain_proxy_connections_closed_total{protocol="h2",reason="limit"}'), 3, 'closed for a limit');
  await served(proxy);
  await released(proxy);
});

test('HTTP/2 STREAM_RESET_BURST: that many resets at once are tolerated; beyond it the session gets GOAWAY and is closed, counted once', async () => {
  const app = await upstream();
  const proxy = await proxyFor(app.port, { STREAM_RESET_BURST: '100', STREAM_RESET_RATE: '1' });
  const client = await RawH2Client.connect(proxy.listenPort);
  const resets = (first: number, count: number): Buffer => Buffer.concat(Array.from({ length: count }, (_, i) => first + 2 * i)
    .flatMap((id) => [frame(HEADERS, END_HEADERS | END_STREAM, id, getHeaderBlock('/hold')), rstStreamFrame(id, NGHTTP2_CANCEL)]));
  client.send(resets(1, 100));
  client.send(frame(HEADERS, END_HEADERS | END_STREAM, 201, getHeaderBlock('/after')));
  const answer = await client.waitFor((f) => f.type === HEADERS && f.stream === 201);
  assert.ok(answer !== undefined, 'the session goes on after STREAM_RESET_BURST resets');
  assert.equal(client.frames.filter((f) => f.type === GOAWAY).length, 0);
  assert.equal(limitCount(await proxy.metrics(), 'h2_stream_resets'), 0);
  // The bucket is empty; a second may have passed and earned one token back (STREAM_RESET_RATE=1).
  client.send(resets(203, 3));
  const goaway = await client.waitFor((f) => f.type === GOAWAY);
  assert.ok(goaway !== undefined, 'GOAWAY once the bucket is spent');
  assert.ok(await eventually(() => client.socket.destroyed || client.socket.readableEnded, 5000), 'and the connection closed');
  assert.deepEqual(app.received, ['GET /after'], 'no reset stream reached the app');
  const text = await proxy.metrics();
  assert.equal(limitCount(text, 'h2_stream_resets'), 1);
  assert.equal(metricValue(text, 'drain_proxy_connections_closed_total{protocol="h2",reason="limit"}'), 1);
  await released(proxy);
});

/** Floods nghttp2 or node:http2 end a session for by themselves: each is told apart, counted and the session closed. */
const FLOODS: ReadonlyArray<readonly [AbuseShape, string]> = [
  ['h2-settings-flood', 'h2_ack_flood'],
  ['h2-ping-flood', 'h2_ack_flood'],
  ['h2-empty-data', 'h2_invalid_frames'],
  ['h2-continuation', 'h2_continuation_flood'],
];

for (const [shape, reason] of FLOODS) {
  test(`HTTP/2 ${shape}: the session is closed and counted as ${reason}; the process goes on serving`, async () => {
    const app = await upstream();
    const proxy = await proxyFor(app.port);
    const stats = await runAbuse(shape, { port: proxy.listenPort, connections: 1, until: performance.now() + 3000, maxConnections: 2 });
    assert.equal(stats.closedByServer, 2, `both sessions closed by the server (${JSON.stringify(stats)})`);
    const text = await proxy.metrics();
    assert.equal(limitCount(text, reason), 2, `${reason} counted once per session`);
    assert.equal(app.received.length, 0);
    await served(proxy);
    await released(proxy);
  });
}

test('HTTP/2 streams left open with a zero window or unfinished with large header blocks: at most MAX_CONCURRENT_STREAMS each per session reach the app', async () => {
  const app = await upstream();
  const proxy = await proxyFor(app.port, { MAX_CONCURRENT_STREAMS: '20' });
  for (const shape of ['h2-unread', 'h2-large-headers'] as const) {
    const until = performance.now() + 1500;
    const before = app.received.length;
    const flood = runAbuse(shape, { port: proxy.listenPort, connections: 2, until, maxConnections: 2 });
    let mostInFlight = 0;
    let mostBuffered = 0;
    while (performance.now() < until - 100) {
      mostInFlight = Math.max(mostInFlight, (await proxy.status()).inFlight.h2);
      mostBuffered = Math.max(mostBuffered, buffered(await proxy.metrics(), 'h2'));
      await sleep(50);
    }
    const stats = await flood;
    assert.ok(stats.streams > 40, `${shape}: ${stats.streams} streams opened`);
    assert.ok(mostInFlight <= 40, `${shape}: at most 20 streams per session in flight (saw ${mostInFlight})`);
    assert.ok(app.received.length - before <= 40, `${shape}: ${app.received.length - before} requests reached the app`);
    assert.ok(mostBuffered <= 40 * (16 * 1024 + 8192), `${shape}: ${mostBuffered} bytes held`);
    await released(proxy);
  }
  assert.ok(limitCount(await proxy.metrics(), 'h2_concurrent_streams') >= 2);
  await served(proxy);
});

test('MEMORY_LIMIT below what the idle process already uses: new connections are refused at once and counted, readiness stays', async () => {
  const app = await upstream();
  // 64 MiB: an idle Node process is past 80% of it.
  const proxy = await proxyFor(app.port, { MEMORY_LIMIT: '64Mi' });
  assert.ok(await eventually(async () => metricValue(await proxy.metrics(), 'drain_proxy_memory_pressure') === 1, 5000), 'under pressure');
  await assert.rejects(fetch(proxy.url('/'), { signal: AbortSignal.timeout(3000) }), 'the connection is closed before anything is read');
  const text = await proxy.metrics();
  assert.ok((metricValue(text, 'drain_proxy_connections_refused_total{reason="memory_pressure"}') ?? 0) >= 1);
  assert.equal((await proxy.admin('/readyz')).status, 200, 'readiness is not failed for memory pressure');
  assert.ok(proxy.logs.some((line) => line.level === 40 && String(line.msg).startsWith('memory above 90%')), 'logged at warn');
});
