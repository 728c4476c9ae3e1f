/**
 * HTTP/2 (h2c with prior knowledge) on the public port of the real process,
 * with node:http2 and nghttp as clients, for both UPSTREAM_PROTOCOL values:
 * forwarding (headers, bodies under flow control, trailers, resets both ways),
 * the same port still serving HTTP/1.1, and the drain (two-phase GOAWAY,
 * in-flight streams finishing, the deadline cutting the rest). Real sockets,
 * real signals, loopback only.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:http2';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDrainProxy, type DrainProxy } from '../../harness/drain-proxy.ts';
import { eventually } from '../../harness/http.ts';
import { metricValue } from '../../harness/metrics.ts';
import { startUpstream } from '../helpers/upstream.ts';
import { startH2cApp } from '../h2/h2c-app.ts';
import { ensureNghttp, h2request, h2session, nghttp, type H2Result } from '../h2/client.ts';
import { busiestWindow } from '../../rollout/rates.ts';
import { DATA, END_HEADERS, END_STREAM, GOAWAY, HEADERS, RST_STREAM, RawH2Client, frame, getHeaderBlock, type Frame } from '../h2/raw-client.ts';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

// ---- UPSTREAM_PROTOCOL=http1 ----------------------------------------------

test('http1 upstream: HTTP/2 requests become HTTP/1.1 requests; hop-by-hop fields stripped both ways; trailers carried; HTTP/1.1 on the same port unaffected', async () => {
  const upstream = await startUpstream(0, (req, res) => {
    if (req.url === '/hop') {
      res.writeHead(200, {
        'content-type': 'text/plain',
        connection: 'keep-alive, x-private',
        'keep-alive': 'timeout=5',
        'x-private': 'hop-by-hop',
        'x-public': 'end-to-end',
        trailer: 'x-checksum',
      });
      res.write('chunk one ');
      res.addTrailers({ 'x-checksum': 'abc123' });
      res.end('chunk two');
      return true;
    }
    return false;
  });
  cleanups.push(() => upstream.close());
  const proxy = await startDrainProxy(upstream.port);
  cleanups.push(() => proxy.stop());
  const session = h2session(proxy.listenPort);
  cleanups.push(() => session.destroy());

  const hop = await h2request(session, { ':path': '/hop' });
  assert.equal(hop.status, 200);
  assert.equal(hop.body.toString(), 'chunk one chunk two');
  assert.equal(hop.headers['x-public'], 'end-to-end');
  for (const name of ['connection', 'keep-alive', 'x-private', 'transfer-encoding']) assert.equal(hop.headers[name], undefined, `${name} stripped`);
  assert.equal(hop.trailers?.['x-checksum'], 'abc123', 'HTTP/1.1 trailers arrive as HTTP/2 trailers');

  const seen = await h2request(session, { ':path': '/headers', te: 'trailers', 'x-custom': 'v' });
  const headers = JSON.parse(seen.body.toString());
  assert.equal(headers['x-custom'], 'v');
  assert.equal(headers.host, `127.0.0.1:${proxy.listenPort}`, ':authority becomes Host');
  assert.equal(headers['x-forwarded-for'], '127.0.0.1');
  assert.equal(headers.te, undefined, 'TE is hop-by-hop for HTTP/1.1');

  const body = randomBytes(300 * 1024);
  const posted = await h2request(session, { ':path': '/upload' }, body);
  assert.equal(posted.body.toString(), `POST /upload ${body.toString().length}\n`);

  const many = await Promise.all(Array.from({ length: 20 }, (_, i) => h2request(session, { ':path': `/n/${i}` })));
  assert.deepEqual(many.map((r) => r.body.toString()), many.map((_, i) => `GET /n/${i} 0\n`), 'concurrent streams on one session each get their own answer');

  const viaHttp1 = await fetch(proxy.url('/plain'));
  assert.equal(await viaHttp1.text(), 'GET /plain 0\n', 'HTTP/1.1 on the same port');

  const text = await proxy.metrics();
  assert.equal(metricValue(text, 'drain_proxy_requests_total{protocol="h2",code_class="2xx"}'), 23);
  assert.equal(metricValue(text, 'drain_proxy_connections_active{protocol="h2"}'), 1);
  assert.equal(metricValue(text, 'drain_proxy_requests_total{protocol="http1",code_class="2xx"}'), 1);
});

test('http1 upstream down: 502 for the stream, not a reset session', async () => {
  const upstream = await startUpstream();
  const port = upstream.port;
  await upstream.close();
  const proxy = await startDrainProxy(port, { wait: 'live' });
  cleanups.push(() => proxy.stop());
  const session = h2session(proxy.listenPort);
  cleanups.push(() => session.destroy());
  const result = await h2request(session, { ':path': '/' });
  assert.equal(result.status, 502);
  assert.match(await proxy.metrics(), /drain_proxy_upstream_errors_total\{kind="connect_refused"\} [1-9]/);
});

test('http1 upstream drain: the request in flight at t0 completes; an idle session gets its GOAWAY at its moment after DRAIN_DELAY, not after DRAIN_IDLE_CLOSE; exit 0', async () => {
  const upstream = await startUpstream();
  cleanups.push(() => upstream.close());
  const proxy = await startDrainProxy(upstream.port, { env: { DRAIN_DELAY: '1s', CLOSE_SPREAD: '0', DRAIN_TIMEOUT: '10s', DRAIN_IDLE_CLOSE: '300ms' } });
  cleanups.push(() => proxy.stop());
  const busy = h2session(proxy.listenPort);
  const idle = h2session(proxy.listenPort);
  cleanups.push(() => busy.destroy(), () => idle.destroy());
  assert.equal((await h2request(idle, { ':path': '/once' })).status, 200);
  const idleGoaway = new Promise<number>((resolve) => idle.once('goaway', (_code, lastStreamID) => resolve(lastStreamID)));
  const idleClosed = new Promise((resolve) => idle.once('close', resolve));
  const slow = h2request(busy, { ':path': '/slow?ms=2500' });
  await sleep(200);
  const t0 = performance.now();
  proxy.signal('SIGTERM');
  assert.equal(await idleGoaway, 2 ** 31 - 1, 'the idle session gets the first GOAWAY');
  const goawayAt = performance.now() - t0;
  assert.ok(goawayAt >= 950, `the idle session was kept until the window (GOAWAY at ${Math.round(goawayAt)} ms, DRAIN_DELAY 1s, DRAIN_IDLE_CLOSE 300ms)`);
  await idleClosed;
  const result = await slow;
  assert.equal(result.status, 200);
  assert.equal(result.body.toString(), 'slow 2500\n');
  assert.equal((await proxy.exited).code, 0);
  const summary = proxy.log('drain finished')!;
  assert.equal(summary.closedByHint, 1, 'the busy session: its stream was open at its GOAWAY');
  assert.equal(summary.closedByIdle, 1, 'the idle session');
});

test('an h2 session with no stream for KEEPALIVE_TIMEOUT is closed with a GOAWAY and counted as idle_timeout', async () => {
  const upstream = await startUpstream();
  cleanups.push(() => upstream.close());
  const proxy = await startDrainProxy(upstream.port, { env: { KEEPALIVE_TIMEOUT: '1s' } });
  cleanups.push(() => proxy.stop());
  const session = h2session(proxy.listenPort);
  cleanups.push(() => session.destroy());
  assert.equal((await h2request(session, { ':path': '/' })).status, 200);
  const goaway = new Promise<number>((resolve) => session.once('goaway', (code) => resolve(code)));
  const started = performance.now();
  assert.equal(await goaway, constants.NGHTTP2_NO_ERROR);
  const waited = performance.now() - started;
  assert.ok(waited >= 500 && waited < 6000, `closed after ${Math.round(waited)} ms`);
  assert.ok(await eventually(async () => metricValue(await proxy.metrics(), 'drain_proxy_connections_closed_total{protocol="h2",reason="idle_timeout"}') === 1));
});

// ---- UPSTREAM_PROTOCOL=h2c ------------------------------------------------

test('h2c upstream: bodies under flow control both ways, trailers intact, resets carried both ways', async () => {
  const app = await startH2cApp();
  cleanups.push(() => app.close());
  const proxy = await startDrainProxy(app.port, { env: { UPSTREAM_PROTOCOL: 'h2c' } });
  cleanups.push(() => proxy.stop());
  const session = h2session(proxy.listenPort);
  cleanups.push(() => session.destroy());

  const plain = await h2request(session, { ':path': '/hello' });
  assert.equal(plain.status, 200);
  assert.equal(plain.body.toString(), 'h2c /hello');
  assert.equal(plain.headers['x-seen-xff'], '127.0.0.1', 'X-Forwarded-For reaches the app');

  // 4 MiB each way: well beyond the 64 KiB default windows, so flow control has to work on both legs.
  const body = randomBytes(4 << 20);
  const echoed = await h2request(session, { ':path': '/echo', te: 'trailers' }, body);
  assert.equal(echoed.status, 200);
  assert.ok(echoed.body.equals(body), 'the body came back unchanged');
  assert.equal(echoed.trailers?.['x-bytes'], String(body.length), 'trailers, for a client that takes them (te: trailers)');
  assert.equal(echoed.trailers?.['x-sha256'], createHash('sha256').update(body).digest('hex'));
  const small = randomBytes(1000);
  const untrailed = await h2request(session, { ':path': '/echo' }, small);
  assert.ok(untrailed.body.equals(small));
  assert.equal(untrailed.rstCode, constants.NGHTTP2_NO_ERROR, 'complete');
  assert.equal(untrailed.trailers, undefined, 'a client that did not ask for trailers gets none (they were not announced)');

  const trailers = await h2request(session, { ':path': '/trailers' });
  assert.equal(trailers.body.toString(), 'body');
  assert.equal(trailers.trailers?.['grpc-status'], '7', 'a gRPC response keeps its trailers whatever the client sent');
  assert.equal(trailers.trailers?.['grpc-message'], 'denied%20here');
  assert.equal(trailers.trailers?.['x-extra'], 'kept');

  const reset = await h2request(session, { ':path': '/reset', te: 'trailers' });
  assert.equal(reset.rstCode, constants.NGHTTP2_ENHANCE_YOUR_CALM, "the app's RST_STREAM code reaches the client");
  const cut = await h2request(session, { ':path': '/reset' });
  assert.equal(cut.body.toString(), 'x');
  assert.equal(cut.rstCode, constants.NGHTTP2_INTERNAL_ERROR, 'without trailers to hold END_STREAM back, the reset is sent alone, as a cut');

  // The client cancels a stream mid-response: the app's stream is reset with the client's code.
  const held = session.request({ ':path': '/hold' });
  held.on('error', () => {});
  await new Promise((resolve) => held.once('data', resolve));
  held.close(constants.NGHTTP2_CANCEL);
  assert.ok(await eventually(() => app.closes.some((c) => c.path === '/hold')), 'the app saw the stream end');
  assert.equal(app.closes.find((c) => c.path === '/hold')!.rstCode, constants.NGHTTP2_CANCEL);

  const text = await proxy.metrics();
  assert.equal(metricValue(text, 'drain_proxy_requests_total{protocol="h2",code_class="2xx"}'), 4, 'completed streams counted; reset ones not');
  assert.ok(await eventually(async () => metricValue(await proxy.metrics(), 'drain_proxy_requests_in_flight{protocol="h2"}') === 0));
});

test('http1 upstream: a client that resets its stream aborts the app\'s request, and is not counted as an app failure (regression)', async () => {
  const aborted: string[] = [];
  const upstream = await startUpstream(0, (req) => {
    if (req.url !== '/never') return false;
    req.socket.once('close', () => aborted.push(req.url!));
    return true;
  });
  cleanups.push(() => upstream.close());
  const proxy = await startDrainProxy(upstream.port);
  cleanups.push(() => proxy.stop());
  const session = h2session(proxy.listenPort);
  cleanups.push(() => session.destroy());
  const stream = session.request({ ':path': '/never' });
  stream.on('error', () => {});
  assert.ok(await eventually(() => upstream.received.includes('GET /never')), 'the request reached the app');
  stream.close(constants.NGHTTP2_CANCEL);
  assert.ok(await eventually(() => aborted.length === 1), "the app's request was aborted");
  await sleep(100);
  const text = await proxy.metrics();
  for (const kind of ['reset', 'connect_refused', 'truncated']) assert.equal(metricValue(text, `drain_proxy_upstream_errors_total{kind="${kind}"}`), 0, kind);
  assert.equal(proxy.logs.filter((line) => line.msg === 'upstream request failed').length, 0, 'no failure logged');
});

// ---- UPSTREAM_RESPONSE_TIMEOUT, both upstream protocols -----------------

/** Opens a stream and resolves with its status (undefined if reset first), the close code and when it closed. */
function timedStream(session: ReturnType<typeof h2session>, headers: Record<string, string>, body?: string): Promise<{ status: number | undefined; rstCode: number; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    // A body begun and never ended: the client is still sending when the answer comes.
    const stream = session.request({ ':method': body === undefined ? 'GET' : 'POST', ...headers }, { endStream: body === undefined });
    if (body !== undefined) stream.write(body);
    let status: number | undefined;
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.on('error', () => {});
    stream.resume();
    stream.once('close', () => resolve({ status, rstCode: stream.rstCode ?? 0, ms: performance.now() - started }));
  });
}

for (const protocol of ['http1', 'h2c'] as const) {
  test(`${protocol} upstream: UPSTREAM_RESPONSE_TIMEOUT answers a stream the app never answers with 504, cancels the app's side, counts it; answered streams unaffected`, async () => {
    const appClosed: string[] = [];
    let h2cCloses: Array<{ path: string; rstCode: number }> = [];
    let port: number;
    if (protocol === 'h2c') {
      const app = await startH2cApp();
      cleanups.push(() => app.close());
      h2cCloses = app.closes;
      port = app.port;
    } else {
      const app = await startUpstream(0, (req) => {
        if (!req.url?.startsWith('/slow')) return false;
        req.resume();
        req.socket.once('close', () => appClosed.push(req.url!));
        return true; // never answered
      });
      cleanups.push(() => app.close());
      port = app.port;
    }
    const proxy = await startDrainProxy(port, { env: { UPSTREAM_PROTOCOL: protocol, UPSTREAM_RESPONSE_TIMEOUT: '1s' } });
    cleanups.push(() => proxy.stop());
    const session = h2session(proxy.listenPort);
    cleanups.push(() => session.destroy());

    const [stalled, uploading] = await Promise.all([
      timedStream(session, { ':path': '/slow?ms=30000' }),
      timedStream(session, { ':path': '/slow?ms=30001' }, 'part of a body'),
    ]);
    for (const stream of [stalled, uploading]) {
      assert.equal(stream.status, 504);
      assert.equal(stream.rstCode, constants.NGHTTP2_NO_ERROR, 'a complete answer, not a reset');
      assert.ok(stream.ms >= 950 && stream.ms < 3500, `answered after ${Math.round(stream.ms)} ms (1 s timeout, checked once a second)`);
    }
    if (protocol === 'h2c') {
      assert.ok(await eventually(() => h2cCloses.filter((c) => c.path === '/slow').length === 2), "the app's streams ended");
      assert.deepEqual(h2cCloses.map((c) => c.rstCode), [constants.NGHTTP2_CANCEL, constants.NGHTTP2_CANCEL], "the app's streams were cancelled");
    } else {
      assert.ok(await eventually(() => appClosed.length === 2), "the app's requests were aborted (their connections closed)");
    }
    const answered = await h2request(session, { ':path': '/fine' });
    assert.equal(answered.status, 200, 'the session goes on; a response that starts in time is not affected');
    const text = await proxy.metrics();
    assert.equal(metricValue(text, 'drain_proxy_upstream_errors_total{kind="response_timeout"}'), 2);
    assert.equal(metricValue(text, 'drain_proxy_upstream_errors_total{kind="reset"}'), 0, 'the cancel is not counted again as a failure');
    assert.equal(metricValue(text, 'drain_proxy_requests_total{protocol="h2",code_class="5xx"}'), 2);
    assert.ok(await eventually(async () => metricValue(await proxy.metrics(), 'drain_proxy_requests_in_flight{protocol="h2"}') === 0));
  });
}

/** A POST's header block: getHeaderBlock's, with :method POST (static table index 3). */
function postHeaderBlock(path: string): Buffer {
  return Buffer.concat([Buffer.from([0x83]), getHeaderBlock(path).subarray(1)]);
}

/** One field in HPACK as a literal without indexing, new name. */
function literalField(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x00, name.length]), Buffer.from(name, 'latin1'), Buffer.from([value.length]), Buffer.from(value, 'latin1')]);
}

/** The DATA payloads of `stream`, once one of its frames carried END_STREAM. */
async function responseBody(client: RawH2Client, stream: number): Promise<string> {
  assert.ok(await client.waitFor((f) => f.stream === stream && (f.type === DATA || f.type === HEADERS) && (f.flags & END_STREAM) !== 0), `stream ${stream} answered`);
  return Buffer.concat(client.frames.filter((f) => f.stream === stream && f.type === DATA).map((f) => f.payload)).toString();
}

for (const protocol of ['http1', 'h2c'] as const) {
  test(`${protocol} upstream: a request whose end (an empty DATA frame with END_STREAM, or trailers) comes in the read that brought its HEADERS reaches the app whole`, async () => {
    let port: number;
    if (protocol === 'h2c') {
      const app = await startH2cApp();
      cleanups.push(() => app.close());
      port = app.port;
    } else {
      const app = await startUpstream(0, (req, res) => {
        if (req.url !== '/request-trailers') return false;
        let bytes = 0;
        req.on('data', (chunk: Buffer) => (bytes += chunk.length));
        req.on('end', () => res.end(JSON.stringify({ bytes, trailers: req.trailers })));
        return true;
      });
      cleanups.push(() => app.close());
      port = app.port;
    }
    const proxy = await startDrainProxy(port, { env: { UPSTREAM_PROTOCOL: protocol } });
    cleanups.push(() => proxy.stop());
    const client = await RawH2Client.connect(proxy.listenPort);
    cleanups.push(() => client.socket.destroy());
    client.send(Buffer.concat([
      frame(HEADERS, END_HEADERS, 1, postHeaderBlock('/request-trailers')),
      frame(DATA, END_STREAM, 1),
      frame(HEADERS, END_HEADERS, 3, postHeaderBlock('/request-trailers')),
      frame(DATA, 0, 3, Buffer.from('abc')),
      frame(HEADERS, END_STREAM | END_HEADERS, 3, literalField('x-sum', '7')),
    ]));
    assert.deepEqual(JSON.parse(await responseBody(client, 1)), { bytes: 0, trailers: {} }, 'the empty body ended');
    assert.deepEqual(JSON.parse(await responseBody(client, 3)), { bytes: 3, trailers: { 'x-sum': '7' } }, 'the body and its trailers');
  });
}

test('h2c drain: GOAWAY(2^31-1) and PING, then GOAWAY with the last stream id; the stream in flight at t0 completes; a new connection during DRAIN_DELAY is served until its moment; exit 0', async () => {
  const app = await startH2cApp();
  cleanups.push(() => app.close());
  const proxy = await startDrainProxy(app.port, { env: { UPSTREAM_PROTOCOL: 'h2c', DRAIN_DELAY: '1500ms', CLOSE_SPREAD: '0', DRAIN_TIMEOUT: '15s' } });
  cleanups.push(() => proxy.stop());
  const session = h2session(proxy.listenPort);
  const goaways: Array<{ code: number; lastStreamID: number }> = [];
  session.on('goaway', (code, lastStreamID) => goaways.push({ code, lastStreamID }));
  await h2request(session, { ':path': '/warm' });
  const slow = h2request(session, { ':path': '/slow?ms=2500' });
  await sleep(300);
  const t0 = performance.now();
  proxy.signal('SIGTERM');
  await proxy.waitForReady(503);
  const during = h2session(proxy.listenPort);
  cleanups.push(() => during.destroy());
  const duringGoaway = new Promise<number>((resolve) => during.once('goaway', () => resolve(performance.now() - t0)));
  const served = await h2request(during, { ':path': '/during' });
  assert.equal(served.status, 200, 'a new connection during DRAIN_DELAY is served');
  assert.equal((await h2request(during, { ':path': '/during-again' })).status, 200, 'and keeps serving new streams');
  const result = await slow;
  assert.equal(result.status, 200);
  assert.equal(result.body.toString(), 'slow 2500', 'the stream in flight at t0 completed');
  assert.equal(result.rstCode, constants.NGHTTP2_NO_ERROR);
  assert.ok(goaways.length >= 2, `two GOAWAYs: ${JSON.stringify(goaways)}`);
  assert.deepEqual(goaways[0], { code: constants.NGHTTP2_NO_ERROR, lastStreamID: 2 ** 31 - 1 });
  assert.deepEqual(goaways[1], { code: constants.NGHTTP2_NO_ERROR, lastStreamID: result.streamId }, 'the final GOAWAY names the last stream');
  assert.ok((await duringGoaway) >= 1450, 'the session opened during DRAIN_DELAY gets its GOAWAY at its moment too, not with its first stream');
  const exit = await proxy.exited;
  assert.equal(exit.code, 0);
  const summary = proxy.log('drain finished')!;
  assert.equal(summary.cut, 0);
  assert.equal(summary.closedByHint, 1, 'the session with a stream open at its GOAWAY');
  assert.equal(summary.closedByIdle, 1, 'the one idle at its moment');
});

/** One client session across the drain: when its first GOAWAY came, and every stream it sent. */
interface SessionRecord {
  goawayAt?: number;
  lastStreamID?: number;
  readonly streams: Array<{ sentAt: number; result: H2Result | Error }>;
}

test('h2c drain: every session, busy or idle, gets its GOAWAY at its own moment, evenly spaced over CLOSE_SPREAD from DRAIN_DELAY; no stream refused or reset before it; streams open at it complete; each end counted', async () => {
  const app = await startH2cApp();
  cleanups.push(() => app.close());
  const delay = 500;
  const spread = 2000;
  const proxy = await startDrainProxy(app.port, { env: { UPSTREAM_PROTOCOL: 'h2c', DRAIN_DELAY: `${delay}ms`, CLOSE_SPREAD: `${spread}ms`, DRAIN_TIMEOUT: '10s', DRAIN_IDLE_CLOSE: '100ms' } });
  cleanups.push(() => proxy.stop());
  const busyCount = 12;
  const idleCount = 12;
  const sessions = Array.from({ length: busyCount + idleCount }, () => h2session(proxy.listenPort));
  cleanups.push(() => sessions.forEach((session) => session.destroy()));
  let t0 = 0;
  const records: SessionRecord[] = sessions.map((session) => {
    const record: SessionRecord = { streams: [] };
    session.once('goaway', (_code, lastStreamID) => {
      record.goawayAt = performance.now() - t0;
      record.lastStreamID = lastStreamID;
    });
    return record;
  });
  const send = (index: number, path: string): Promise<void> => {
    const sentAt = t0 === 0 ? -1 : performance.now() - t0;
    const stream = { sentAt, result: new Error('pending') as H2Result | Error };
    records[index].streams.push(stream);
    return h2request(sessions[index], { ':path': path }).then(
      (result) => void (stream.result = result),
      (err: Error) => void (stream.result = err),
    );
  };
  await Promise.all(sessions.map((_, index) => send(index, '/warm')));
  // Busy sessions: one stream open through the whole window, and short ones back to back until the GOAWAY.
  const long = sessions.slice(0, busyCount).map((_, index) => send(index, `/slow?ms=${delay + spread + 1500}`));
  const loops = sessions.slice(0, busyCount).map(async (_, index) => {
    for (let i = 0; i < 100 && records[index].goawayAt === undefined; i++) await send(index, '/slow?ms=50');
  });
  await sleep(300);
  t0 = performance.now();
  assert.equal((await proxy.admin('/drain', { method: 'POST' })).status, 202);
  await Promise.all([...long, ...loops]);
  await proxy.waitForLog('drain finished; waiting for a signal to exit');

  const moments = records.map((record) => record.goawayAt);
  assert.ok(moments.every((at) => at !== undefined), 'every session got a GOAWAY');
  assert.ok(records.every((record) => record.lastStreamID === 2 ** 31 - 1), 'the first GOAWAY of each: 2^31-1');
  const offsets = (moments as number[]).sort((a, b) => a - b);
  assert.ok(offsets[0] >= delay - 50, `none before DRAIN_DELAY (first at ${Math.round(offsets[0])} ms)`);
  assert.ok(offsets.at(-1)! <= delay + spread + 300, `all inside the window (last at ${Math.round(offsets.at(-1)!)} ms)`);
  // Evenly spaced: a quarter of the window holds a quarter of them (6), give or take timer jitter; independent draws put ~10 there.
  const busiest = busiestWindow(offsets, spread / 4);
  assert.ok(busiest <= 8, `the busiest ${spread / 4} ms hold ${busiest} of 24 GOAWAYs: ${offsets.map(Math.round).join(', ')}`);
  for (let quarter = 0; quarter < 4; quarter++) {
    const from = delay + (quarter * spread) / 4;
    const inQuarter = offsets.filter((at) => at >= from - 30 && at < from + spread / 4 + 30).length;
    assert.ok(inQuarter >= 4, `quarter ${quarter + 1} of the window holds ${inQuarter} GOAWAYs: ${offsets.map(Math.round).join(', ')}`);
  }
  const busyMoments = records.slice(0, busyCount).map((record) => record.goawayAt!);
  const idleMoments = records.slice(busyCount).map((record) => record.goawayAt!);
  for (const [kind, list] of [['busy', busyMoments], ['idle', idleMoments]] as const) {
    assert.ok(Math.max(...list) - Math.min(...list) >= spread / 2, `${kind} sessions spread over the window too: ${list.map(Math.round).join(', ')}`);
  }

  // A stream the client asks for while the GOAWAY is already in its stack's hands never goes out: nghttp2 opens
  // no stream once it has read a GOAWAY, and fails it locally as REFUSED_STREAM, which clients retry (gRPC does it
  // transparently). Every stream that did go out is served to the end.
  let completed = 0;
  let refusedByClient = 0;
  let openAtGoaway = 0;
  for (const record of records) {
    for (const { sentAt, result } of record.streams) {
      assert.ok(!(result instanceof Error), `a stream the client could send failed: ${(result as Error).message}`);
      const what = `stream ${result.streamId} sent at ${Math.round(sentAt)} ms, its session's GOAWAY at ${Math.round(record.goawayAt!)} ms`;
      if (result.status === undefined && result.rstCode === constants.NGHTTP2_REFUSED_STREAM && record.goawayAt! - sentAt < 20) {
        refusedByClient++;
        continue;
      }
      assert.equal(result.status, 200, `${what}: status ${result.status}, rst ${result.rstCode}`);
      assert.equal(result.rstCode, constants.NGHTTP2_NO_ERROR, `${what}: completed, never refused or reset`);
      completed++;
      if (result.body.toString().startsWith(`slow ${delay + spread + 1500}`)) openAtGoaway++;
    }
  }
  assert.ok(refusedByClient <= busyCount, `at most one stream per session raced its GOAWAY (${refusedByClient})`);
  const atApp = app.closes.filter((close) => close.path === '/slow');
  assert.equal(atApp.length, completed - (busyCount + idleCount), 'every stream that reached the app was the client\'s completed one (none refused after it left)');
  assert.ok(atApp.every((close) => close.rstCode === constants.NGHTTP2_NO_ERROR));
  assert.equal(openAtGoaway, busyCount, 'the stream open at each busy session\'s GOAWAY completed');
  assert.ok(completed > (busyCount + idleCount) * 2, `streams were sent across t0 and up to each GOAWAY (${completed})`);
  const text = await proxy.metrics();
  assert.equal(metricValue(text, 'drain_proxy_connections_closed_total{protocol="h2",reason="drain_hint"}'), busyCount, 'busy sessions end by the hint');
  assert.equal(metricValue(text, 'drain_proxy_connections_closed_total{protocol="h2",reason="drain_idle"}'), idleCount, 'idle ones at their moment');
  assert.equal(metricValue(text, 'drain_proxy_connections_active{protocol="h2"}'), 0);
  proxy.signal('SIGTERM');
  assert.equal((await proxy.exited).code, 0, 'nothing was cut');
});

test('h2c drain deadline: a stream still open is reset, its session closed and counted as drain_deadline; exit 3', async () => {
  const app = await startH2cApp();
  cleanups.push(() => app.close());
  const proxy = await startDrainProxy(app.port, { env: { UPSTREAM_PROTOCOL: 'h2c', DRAIN_DELAY: '300ms', DRAIN_TIMEOUT: '2s' } });
  cleanups.push(() => proxy.stop());
  const session = h2session(proxy.listenPort);
  cleanups.push(() => session.destroy());
  const held = h2request(session, { ':path': '/hold' });
  assert.ok(await eventually(() => app.held.size === 1), 'the app holds the stream');
  proxy.signal('SIGTERM');
  await proxy.waitForReady(503);
  const text = await proxy.metrics();
  assert.equal(metricValue(text, 'drain_proxy_connections_active{protocol="h2"}'), 1);
  assert.equal(metricValue(text, 'drain_proxy_requests_in_flight{protocol="h2"}'), 1);
  const result = await held;
  assert.equal(result.body.toString(), 'first', 'what was sent before the deadline arrived');
  assert.notEqual(result.rstCode, constants.NGHTTP2_NO_ERROR, 'the client sees its stream cut, not complete');
  const exit = await proxy.exited;
  assert.equal(exit.code, 3);
  const summary = proxy.log('drain finished')!;
  assert.equal(summary.closedByDeadline, 1);
  assert.equal(summary.cut, 1);
  assert.ok(await eventually(() => app.closes.some((c) => c.path === '/hold')), 'the app sees its stream end too');
});

test('h2c drain deadline after /drain (process stays up): the cut stream is RST_STREAM(CANCEL) on the wire and counted under protocol="h2"', async () => {
  const app = await startH2cApp();
  cleanups.push(() => app.close());
  const proxy = await startDrainProxy(app.port, { env: { UPSTREAM_PROTOCOL: 'h2c', DRAIN_DELAY: '300ms', DRAIN_TIMEOUT: '1500ms' } });
  cleanups.push(() => proxy.stop());
  const client = await RawH2Client.connect(proxy.listenPort);
  cleanups.push(() => client.socket.destroy());
  client.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, getHeaderBlock('/hold')));
  assert.ok(await eventually(() => app.held.size === 1), 'the app holds the stream');
  assert.equal((await proxy.admin('/drain', { method: 'POST' })).status, 202);
  await proxy.waitForLog('drain finished; waiting for a signal to exit');
  const reset = await client.waitFor((f) => f.type === RST_STREAM && f.stream === 1);
  assert.ok(reset, 'RST_STREAM for the open stream');
  assert.equal(reset.payload.readUInt32BE(0), constants.NGHTTP2_CANCEL);
  const goaway = client.frames.findIndex((f) => f.type === GOAWAY && f.payload.readUInt32BE(0) === 2 ** 31 - 1);
  assert.ok(goaway >= 0 && goaway < client.frames.indexOf(reset), 'its GOAWAY came at its moment, before the deadline cut what was left');
  assert.ok(!client.frames.some((f) => f.stream === 1 && (f.type === DATA || f.type === HEADERS) && (f.flags & END_STREAM) !== 0), 'the response was never ended cleanly');
  assert.ok(client.frames.some((f) => f.stream === 1 && f.type === DATA && f.payload.toString() === 'first'), 'what the app sent before the deadline arrived');
  const text = await proxy.metrics();
  assert.equal(metricValue(text, 'drain_proxy_connections_closed_total{protocol="h2",reason="drain_deadline"}'), 1);
  assert.equal(metricValue(text, 'drain_proxy_connections_active{protocol="h2"}'), 0);
  assert.ok(await eventually(async () => metricValue(await proxy.metrics(), 'drain_proxy_requests_in_flight{protocol="h2"}') === 0), 'the cut stream left in-flight');
  proxy.signal('SIGTERM');
  assert.equal((await proxy.exited).code, 3);
});

test('h2c drain: a stream opened after the final GOAWAY is never processed (the client stack refuses it, retryable); the one before it completes', async () => {
  const app = await startH2cApp();
  cleanups.push(() => app.close());
  const proxy = await startDrainProxy(app.port, { env: { UPSTREAM_PROTOCOL: 'h2c', DRAIN_DELAY: '1s', CLOSE_SPREAD: '0', DRAIN_TIMEOUT: '10s' } });
  cleanups.push(() => proxy.stop());
  const client = await RawH2Client.connect(proxy.listenPort);
  cleanups.push(() => client.socket.destroy());
  client.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, getHeaderBlock('/slow?ms=2500')));
  assert.ok(await eventually(async () => metricValue(await proxy.metrics(), 'drain_proxy_requests_in_flight{protocol="h2"}') === 1));
  proxy.signal('SIGTERM');
  const goawayTo = (last: number) => (f: Frame) => f.type === GOAWAY && f.payload.readUInt32BE(0) === last;
  assert.ok(await client.waitFor(goawayTo(2 ** 31 - 1)), 'first GOAWAY: 2^31-1');
  const final = await client.waitFor(goawayTo(1));
  assert.ok(final, 'final GOAWAY: last stream 1');
  assert.equal(final.payload.readUInt32BE(4), constants.NGHTTP2_NO_ERROR);
  client.send(frame(HEADERS, END_STREAM | END_HEADERS, 3, getHeaderBlock('/late')));
  const done = await client.waitFor((f) => f.stream === 1 && (f.flags & END_STREAM) !== 0, 8000);
  assert.ok(done, 'stream 1 completed');
  assert.equal(client.frames.filter((f) => f.stream === 3 && f.type === HEADERS).length, 0, 'stream 3 got no response');
  assert.ok(!app.closes.some((c) => c.path === '/late'), 'stream 3 never reached the app');
  assert.equal((await proxy.exited).code, 0);
});

// ---- nghttp as an outside client --------------------------------------------

const nghttpSkip = ensureNghttp() ?? false;

test('nghttp through both UPSTREAM_PROTOCOL values: status, body and trailers', { skip: nghttpSkip }, async () => {
  const app = await startH2cApp();
  cleanups.push(() => app.close());
  const h2c = await startDrainProxy(app.port, { env: { UPSTREAM_PROTOCOL: 'h2c' } });
  cleanups.push(() => h2c.stop());
  const run = await nghttp(['-v', `http://127.0.0.1:${h2c.listenPort}/trailers`]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /recv \(stream_id=\d+\) :status: 200/);
  assert.match(run.stdout, /recv \(stream_id=\d+\) grpc-status: 7/);
  assert.match(run.stdout, /recv \(stream_id=\d+\) grpc-message: denied%20here/);
  assert.match(run.stdout, /body/);

  const upstream = await startUpstream();
  cleanups.push(() => upstream.close());
  const http1 = await startDrainProxy(upstream.port);
  cleanups.push(() => http1.stop());
  const plain = await nghttp([`http://127.0.0.1:${http1.listenPort}/from-nghttp`]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(plain.stdout, 'GET /from-nghttp 0\n');
  const file = join(mkdtempSync(join(tmpdir(), 'drain-proxy-h2-')), 'body');
  writeFileSync(file, randomBytes(100_000));
  const posted = await nghttp(['-d', file, `http://127.0.0.1:${http1.listenPort}/post`]);
  assert.equal(posted.code, 0, posted.stderr);
  assert.equal(posted.stdout, 'POST /post 100000\n'.replace('100000', String(readFileSync(file).toString().length)));
});

test('nghttp sees the two-phase GOAWAY on the wire: 2^31-1 and a PING, the ACK, then the real last stream id; its stream completes', { skip: nghttpSkip }, async () => {
  const app = await startH2cApp();
  cleanups.push(() => app.close());
  const proxy = await startDrainProxy(app.port, { env: { UPSTREAM_PROTOCOL: 'h2c', DRAIN_DELAY: '500ms', CLOSE_SPREAD: '0', DRAIN_TIMEOUT: '10s' } });
  cleanups.push(() => proxy.stop());
  const run = nghttp(['-v', `http://127.0.0.1:${proxy.listenPort}/slow?ms=1500`]);
  assert.ok(await eventually(async () => metricValue(await proxy.metrics(), 'drain_proxy_requests_in_flight{protocol="h2"}') === 1));
  proxy.signal('SIGTERM');
  const { code, stdout } = await run;
  assert.equal(code, 0);
  const frames = stdout.split('\n').filter((line) => /recv GOAWAY|recv PING|send PING|last_stream_id/.test(line)).map((line) => line.replace(/^\[[ 0-9.]+\]\s*/, '').trim());
  const first = frames.findIndex((line) => line.startsWith('(last_stream_id=2147483647'));
  const ping = frames.findIndex((line) => line.startsWith('recv PING') && line.includes('flags=0x00'));
  const ack = frames.findIndex((line) => line.startsWith('send PING') && line.includes('flags=0x01'));
  const streamId = /send HEADERS frame <[^>]*stream_id=(\d+)>/.exec(stdout)?.[1];
  assert.ok(streamId !== undefined, 'nghttp opened a stream');
  const final = frames.findIndex((line) => line.startsWith(`(last_stream_id=${streamId},`));
  assert.ok(first >= 0 && ping > first && ack > ping && final > ack, `frame order: ${frames.join(' | ')}`);
  assert.match(stdout, /slow 1500/);
  assert.equal((await proxy.exited).code, 0);
});

/** An HPACK literal header field without indexing, new name (RFC 7541 §6.2.2), lengths as 7-bit-prefix integers. */
function hpackLiteral(name: string, value: string): Buffer {
  const integer = (n: number): number[] => {
    if (n < 127) return [n];
    const bytes = [127];
    for (n -= 127; n >= 128; n >>= 7) bytes.push((n & 0x7f) | 0x80);
    return [...bytes, n];
  };
  return Buffer.concat([Buffer.from([0x00, ...integer(name.length)]), Buffer.from(name), Buffer.from(integer(value.length)), Buffer.from(value)]);
}

test('MAX_HEADER_SIZE and MAX_HEADER_COUNT bound HTTP/2 header blocks: too large gets 431 before the client has our SETTINGS and a reset (ENHANCE_YOUR_CALM) after, too many a reset; nothing reaches the app; the session goes on', async () => {
  const seen: string[] = [];
  const upstream = await startUpstream(0, (req, res) => {
    seen.push(req.url ?? '');
    res.end('ok');
    return true;
  });
  cleanups.push(() => upstream.close());
  const proxy = await startDrainProxy(upstream.port, { env: { MAX_HEADER_SIZE: '2k', MAX_HEADER_COUNT: '10' } });
  cleanups.push(() => proxy.stop());
  const tooMany = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`x-field-${i}`, 'v']));

  // A stream in the client's first flight arrives before it has acknowledged our SETTINGS: drain-proxy checks its size itself.
  const early = await RawH2Client.connect(proxy.listenPort);
  cleanups.push(() => early.socket.destroy());
  early.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, Buffer.concat([getHeaderBlock('/early'), hpackLiteral('x-big', 'a'.repeat(3000))])));
  const answer = await early.waitFor((f) => f.type === HEADERS && f.stream === 1);
  assert.ok(answer?.payload.includes(Buffer.from('431')), 'the first-flight stream over MAX_HEADER_SIZE is answered 431');
  early.send(frame(HEADERS, END_STREAM | END_HEADERS, 3, Buffer.concat([getHeaderBlock('/early'), ...Object.keys(tooMany).map((name) => hpackLiteral(name, 'v'))])));
  const reset = await early.waitFor((f) => f.type === RST_STREAM && f.stream === 3);
  assert.equal(reset?.payload.readUInt32BE(0), constants.NGHTTP2_ENHANCE_YOUR_CALM, 'more fields than MAX_HEADER_COUNT: reset');
  const session = h2session(proxy.listenPort);
  cleanups.push(() => session.destroy());
  assert.equal((await h2request(session, { ':path': '/first' })).status, 200);
  // Once SETTINGS are acknowledged, nghttp2 resets a larger header block before drain-proxy sees it.
  const big = await h2request(session, { ':path': '/big', 'x-big': 'a'.repeat(3000) });
  assert.equal(big.status, undefined, 'no response to a header block over MAX_HEADER_SIZE');
  assert.equal(big.rstCode, constants.NGHTTP2_ENHANCE_YOUR_CALM);
  const many = await h2request(session, { ':path': '/many', ...tooMany });
  assert.equal(many.rstCode, constants.NGHTTP2_ENHANCE_YOUR_CALM, 'more header fields than MAX_HEADER_COUNT');
  const within = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`x-field-${i}`, 'v']));
  const fine = await h2request(session, { ':path': '/fine', ...within, 'x-medium': 'a'.repeat(1000) });
  assert.equal(fine.status, 200, 'within both limits, on the same session');
  assert.deepEqual(seen, ['/first', '/fine'], 'nothing of the refused streams reached the app');
  assert.equal(metricValue(await proxy.metrics(), 'drain_proxy_rejected_requests_total{code="DP_HEAD_TOO_LARGE"}'), 1, 'the 431 is counted');
});
