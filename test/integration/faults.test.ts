/**
 * Faults and limits through the real process: too many connections, file
 * descriptors running out, an app that stalls or resets mid-body, clients that
 * give up during the request body or the response body, a signal during
 * startup, `/drain` hammered, a drain with thousands of idle connections, the
 * deadline reached mid-transfer. In each, the process stays up until it should
 * exit and the metrics (or the drain summary, once it has exited) count what
 * happened. (test/integration/http1.test.ts and drain.test.ts cover the app
 * refusing or dying mid-response, a client aborting before the response,
 * repeated signals and the deadline cutting a request not yet answered.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { MAIN, type DrainProxy, startDrainProxy } from '../../harness/drain-proxy.ts';
import { freePort } from '../../harness/ports.ts';
import { metricValue } from '../../harness/metrics.ts';
import { startUpstream } from '../helpers/upstream.ts';
import { RawClient } from '../helpers/raw-client.ts';

/** Drains that end as soon as nothing is open, so tests that finish with a signal do not wait out DRAIN_DELAY. */
const FAST_DRAIN = { DRAIN_DELAY: '100ms', DRAIN_TIMEOUT: '10s' };

async function metric(proxy: DrainProxy, series: string): Promise<number> {
  const value = metricValue(await proxy.metrics(), series);
  assert.ok(value !== undefined, `no series ${series}`);
  return value;
}

/** Polls `probe` every 20 ms until it returns true, at most `timeoutMs`. */
async function until(what: string, probe: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await probe()) return;
    await sleep(20);
  }
  assert.fail(`timed out waiting for: ${what}`);
}

/** SIGTERM; the process must exit 0. */
async function exitsCleanly(proxy: DrainProxy): Promise<void> {
  proxy.signal('SIGTERM');
  assert.deepEqual(await proxy.exited, { code: 0, signal: null });
}

/** The process goes on: a new connection is served; then it exits cleanly on SIGTERM. */
async function servesNextThenExits(proxy: DrainProxy): Promise<void> {
  const next = await RawClient.connect(proxy.listenPort);
  assert.equal((await next.request('/after')).status, 200);
  next.destroy();
  await exitsCleanly(proxy);
}

/** Destroys the client mid-exchange; resolves with how many ms later the app's side of its connection closed. */
async function abort(client: RawClient, appSide: Socket): Promise<number> {
  const closed = new Promise<number>((resolve) => appSide.once('close', () => resolve(performance.now())));
  const abortedAt = performance.now();
  client.destroy();
  return (await closed) - abortedAt;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

/** Connects and reports what the peer did: bytes received and how the connection ended. */
function probeConnection(port: number, send?: string): Promise<{ bytes: number; ended: 'end' | 'reset' | 'refused' }> {
  return new Promise((resolve) => {
    let bytes = 0;
    const socket = connect({ port, host: '127.0.0.1' }, () => {
      if (send !== undefined) socket.write(send);
    });
    socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
    socket.on('end', () => {
      socket.destroy();
      resolve({ bytes, ended: 'end' });
    });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve({ bytes, ended: err.code === 'ECONNREFUSED' ? 'refused' : 'reset' }));
  });
}

test('MAX_CONNECTIONS: beyond it new connections on the public and TCP ports are closed at once, counted; open ones go on; room frees up', async () => {
  const upstream = await startUpstream();
  const echo = createServer((socket) => socket.pipe(socket));
  const echoPort = await listen(echo);
  const tcpPort = await freePort();
  const proxy = await startDrainProxy(upstream.port, { env: { ...FAST_DRAIN, MAX_CONNECTIONS: '3', TCP_PORTS: `${tcpPort}:${echoPort}` } });
  try {
    const a = await RawClient.connect(proxy.listenPort);
    const b = await RawClient.connect(proxy.listenPort);
    assert.equal((await a.request('/a')).status, 200);
    assert.equal((await b.request('/b')).status, 200);
    const tcp = connect({ port: tcpPort, host: '127.0.0.1' });
    const echoed = new Promise<string>((resolve) => tcp.once('data', (d: Buffer) => resolve(d.toString())));
    tcp.write('ping');
    assert.equal(await echoed, 'ping');

    // Three open: the fourth and fifth, on either port, get nothing and are closed.
    const receivedBefore = upstream.received.length;
    const overHttp = await probeConnection(proxy.listenPort, 'GET /over HTTP/1.1\r\nHost: t\r\n\r\n');
    const overTcp = await probeConnection(tcpPort);
    assert.equal(overHttp.bytes, 0, 'no answer on a refused connection');
    assert.notEqual(overHttp.ended, 'refused', 'accepted by the kernel, then closed by the proxy');
    assert.equal(overTcp.bytes, 0);
    assert.equal(upstream.received.length, receivedBefore, 'nothing of a refused connection reached the app');
    assert.equal(await metric(proxy, 'drain_proxy_connections_refused_total{reason="max_connections"}'), 2);
    assert.ok(proxy.logs.some((l) => l.msg === 'connection limit reached: new connections refused'));

    // The open ones are unaffected.
    assert.equal((await a.request('/a2')).status, 200);
    const echoedAgain = new Promise<string>((resolve) => tcp.once('data', (d: Buffer) => resolve(d.toString())));
    tcp.write('pong');
    assert.equal(await echoedAgain, 'pong');

    // One closes: a new connection is admitted and served.
    b.destroy();
    await until('the closed connection leaves the count', async () => (await proxy.status()).connections.http1 === 1);
    const c = await RawClient.connect(proxy.listenPort);
    assert.equal((await c.request('/c')).status, 200);
    assert.equal(await metric(proxy, 'drain_proxy_connections_refused_total{reason="max_connections"}'), 2);
    a.destroy();
    c.destroy();
    tcp.destroy();
    await exitsCleanly(proxy);
  } finally {
    await proxy.stop();
    await upstream.close();
    echo.close();
  }
});

test('MAX_CONNECTIONS: an invalid value stops the proxy before it binds, naming the variable', () => {
  const result = spawnSync(process.execPath, [MAIN], { env: { PATH: process.env.PATH, MAX_CONNECTIONS: '0' }, encoding: 'utf8', timeout: 10_000 });
  assert.equal(result.status, 1);
  assert.match(result.stderr, /MAX_CONNECTIONS/);
});

/** Lowers a running process's file descriptor limit (soft and hard) with `prlimit --pid`. */
function limitFds(pid: number, nofile: number): void {
  const result = spawnSync('prlimit', [`--pid=${pid}`, `--nofile=${nofile}:${nofile}`], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
}

const hasPrlimit = spawnSync('prlimit', ['--version']).status === 0;

test('EMFILE: out of file descriptors, the process stays up, serves the connections it has, and recovers; descriptors back to the baseline', { skip: !hasPrlimit && 'needs prlimit (util-linux)' }, async () => {
  const upstream = await startUpstream();
  const proxy = await startDrainProxy(upstream.port, { env: FAST_DRAIN });
  const held: Socket[] = [];
  try {
    const survivor = await RawClient.connect(proxy.listenPort);
    assert.equal((await survivor.request('/before')).status, 200);
    const baseline = readdirSync(`/proc/${proxy.pid}/fd`).length;
    // Room for a dozen more descriptors (the health check needs one now and then).
    const nofile = baseline + 12;
    limitFds(proxy.pid, nofile);

    // Open idle connections until the proxy cannot accept any more (bounded: at most 100).
    let closedByProxy = 0;
    for (let i = 0; i < 100 && closedByProxy === 0; i++) {
      const socket = connect({ port: proxy.listenPort, host: '127.0.0.1' });
      socket.on('error', () => {});
      socket.on('close', () => closedByProxy++);
      held.push(socket);
      await new Promise((resolve) => socket.once('connect', resolve));
      if (i % 8 === 7) await sleep(50);
    }
    await sleep(300);
    assert.ok(closedByProxy > 0, `no connection was refused with ${held.length} open (fds ${baseline})`);
    assert.equal(proxy.process.exitCode, null, 'the process is up');

    // A probe on the admin port while out of descriptors must not take the process down either.
    const probe = await probeConnection(proxy.adminPort, 'GET /livez HTTP/1.1\r\nHost: t\r\n\r\n');
    assert.ok(probe.ended !== 'refused');
    await sleep(200);
    assert.equal(proxy.process.exitCode, null, `the process is up after an admin accept failed; stderr: ${proxy.stderr}`);

    // The connection it already had is served (its upstream connection is already open).
    assert.equal((await survivor.request('/during')).status, 200);

    // Descriptors free up: new connections are served again.
    for (const socket of held) socket.destroy();
    await until('a new connection is served again', async () => {
      const client = await RawClient.connect(proxy.listenPort).catch(() => null);
      if (client === null) return false;
      const ok = await client.request('/after').then((r) => r.status === 200, () => false);
      client.destroy();
      return ok;
    }, 10_000);
    // libuv closes what it cannot accept itself (uv__emfile_trick) and mostly does not tell Node, so
    // drain_proxy_connections_refused_total{reason="accept_failed"} counts only what is reported; the
    // default process metrics show the cause: open descriptors against the limit.
    // (prom-client reads process_max_fds once at startup: the limit lowered here shows in /proc only.)
    assert.match(readFileSync(`/proc/${proxy.pid}/limits`, 'utf8'), new RegExp(`Max open files +${nofile} +${nofile} `));
    const openFds = await metric(proxy, 'process_open_fds');
    assert.ok(openFds <= baseline + 2, `descriptors back to the baseline: ${openFds} open, ${baseline} before`);
    assert.equal((await survivor.request('/still')).status, 200);
    survivor.destroy();
    await exitsCleanly(proxy);
  } finally {
    for (const socket of held) socket.destroy();
    await proxy.stop();
    await upstream.close();
  }
});

/** An app on a raw socket: answers `/ok`, never answers `/stall`, and for `/chunked-reset` sends part of a chunked body, then resets. */
async function rawApp(): Promise<{ close: () => void; port: number }> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    socket.on('data', (data: Buffer) => {
      const text = data.toString('latin1');
      if (text.includes('/stall')) return;
      if (text.includes('/chunked-reset')) {
        socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
        setTimeout(() => socket.resetAndDestroy(), 100);
        return;
      }
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n');
    });
  });
  const close = (): void => {
    for (const socket of sockets) socket.destroy();
    server.close();
  };
  return { close, port: await listen(server) };
}

test('upstream stalls: no response timeout fires; other connections are served; the request is held until the client leaves or the drain deadline cuts it (exit 3)', async () => {
  const app = await rawApp();
  const proxy = await startDrainProxy(app.port, { env: { DRAIN_DELAY: '100ms', DRAIN_TIMEOUT: '1500ms' } });
  try {
    const stalled = await RawClient.connect(proxy.listenPort);
    stalled.write('GET /stall HTTP/1.1\r\nHost: t\r\n\r\n');
    const other = await RawClient.connect(proxy.listenPort);
    assert.equal((await other.request('/ok')).status, 200, 'another client is served while one request stalls');
    await sleep(1000);
    assert.equal(stalled.unread, '', 'nothing answered yet');
    assert.equal(stalled.isClosed, false);
    assert.equal(await metric(proxy, 'drain_proxy_requests_in_flight{protocol="http1"}'), 1);
    // A client that gives up takes its stalled request with it.
    const leaving = await RawClient.connect(proxy.listenPort);
    leaving.write('GET /stall HTTP/1.1\r\nHost: t\r\n\r\n');
    await until('the second stalled request is in flight', async () => (await metric(proxy, 'drain_proxy_requests_in_flight{protocol="http1"}')) === 2);
    leaving.destroy();
    await until('the abandoned request leaves', async () => (await metric(proxy, 'drain_proxy_requests_in_flight{protocol="http1"}')) === 1);
    other.destroy();
    proxy.signal('SIGTERM');
    const { at } = await stalled.closed;
    assert.equal(stalled.unread, '', 'the cut request got no partial answer');
    assert.deepEqual(await proxy.exited, { code: 3, signal: null });
    assert.ok(at > 0);
    const summary = proxy.log('drain finished');
    assert.equal(summary?.closedByDeadline, 1, JSON.stringify(summary));
  } finally {
    await proxy.stop();
    app.close();
  }
});

test('upstream resets during a chunked body: the client sees the body cut (no last chunk), counted; the process and other clients go on', async () => {
  const app = await rawApp();
  const proxy = await startDrainProxy(app.port, { env: FAST_DRAIN });
  try {
    const idle = await RawClient.connect(proxy.listenPort);
    assert.equal((await idle.request('/ok')).status, 200);
    const cut = await RawClient.connect(proxy.listenPort);
    cut.write('GET /chunked-reset HTTP/1.1\r\nHost: t\r\n\r\n');
    await cut.closed;
    assert.equal(cut.unread, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n', 'what the app sent, and no terminating chunk');
    assert.equal(await metric(proxy, 'drain_proxy_upstream_errors_total{kind="truncated"}'), 1);
    assert.equal(await metric(proxy, 'drain_proxy_connections_closed_total{protocol="http1",reason="upstream"}'), 1);
    assert.equal((await idle.request('/ok')).status, 200, 'the idle keep-alive connection is unaffected');
    assert.equal((await proxy.status()).inFlight.http1, 0);
    idle.destroy();
    await exitsCleanly(proxy);
  } finally {
    await proxy.stop();
    app.close();
  }
});

test('a client that aborts during its request body: the app\'s connection is dropped at once, nothing stays in flight, counted', async () => {
  let uploadSocket: Socket | undefined;
  const upstream = await startUpstream(0, (req) => {
    if (req.url !== '/upload') return false;
    uploadSocket = req.socket;
    req.resume();
    return true;
  });
  const proxy = await startDrainProxy(upstream.port, { env: FAST_DRAIN });
  try {
    const client = await RawClient.connect(proxy.listenPort);
    client.write('POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n');
    client.write(Buffer.alloc(64 * 1024, 'x'));
    await until('the request reached the app', () => uploadSocket !== undefined);
    assert.ok((await abort(client, uploadSocket!)) < 1000, 'the app\'s connection closed promptly');
    await until('nothing in flight', async () => {
      const s = await proxy.status();
      return s.inFlight.http1 === 0 && s.connections.http1 === 0;
    });
    assert.equal(await metric(proxy, 'drain_proxy_connections_closed_total{protocol="http1",reason="client"}'), 1);
    await servesNextThenExits(proxy);
  } finally {
    await proxy.stop();
    await upstream.close();
  }
});

test('SIGTERM during startup, before the upstream is ready: the process drains and exits 0', async () => {
  const nobody = await freePort();
  const proxy = await startDrainProxy(nobody, { wait: 'live', env: { DRAIN_DELAY: '300ms' } });
  try {
    const ready = await proxy.admin('/readyz');
    assert.deepEqual([ready.status, await ready.text()], [503, 'upstream not ready\n']);
    const sentAt = performance.now();
    await exitsCleanly(proxy);
    assert.ok(proxy.exitedAt - sentAt < 3000, `exited ${Math.round(proxy.exitedAt - sentAt)} ms after SIGTERM`);
    assert.ok(proxy.log('drain finished'), 'the drain summary is logged');
  } finally {
    await proxy.stop();
  }
});

test('/drain hammered by 200 concurrent callers: every one answered, one drain; ?wait=1 callers all get the same summary', async () => {
  const upstream = await startUpstream();
  const proxy = await startDrainProxy(upstream.port, { env: { DRAIN_DELAY: '300ms', DRAIN_TIMEOUT: '10s' } });
  try {
    // Some work in flight, so the drain has something to wait for.
    const busy = await RawClient.connect(proxy.listenPort);
    busy.write('GET /slow?ms=800 HTTP/1.1\r\nHost: t\r\n\r\n');
    await until('the slow request is in flight', async () => (await proxy.status()).inFlight.http1 === 1);
    const calls = Array.from({ length: 200 }, (_, i) => {
      const path = i % 4 === 0 ? '/drain?wait=1' : '/drain';
      return proxy.admin(path, { method: i % 2 === 0 ? 'POST' : 'GET' }).then(async (res) => ({ path, status: res.status, body: await res.text() }));
    });
    const answers = await Promise.all(calls);
    for (const a of answers) assert.equal(a.status, a.path === '/drain' ? 202 : 200, JSON.stringify(a));
    const summaries = new Set(answers.filter((a) => a.path !== '/drain').map((a) => a.body));
    assert.equal(summaries.size, 1, 'one drain, one summary');
    assert.equal((await busy.response()).status, 200, 'the request in flight completed');
    assert.equal(proxy.logs.filter((l) => l.msg === 'drain phase draining').length, 1, 'the drain started once');
    assert.equal(await metric(proxy, 'drain_proxy_drain_denied_total'), 0);
    assert.equal(await metric(proxy, 'drain_proxy_draining'), 1);
    assert.equal(proxy.process.exitCode, null, 'a drain from /drain alone leaves the process up');
    await exitsCleanly(proxy);
  } finally {
    await proxy.stop();
    await upstream.close();
  }
});

test('drain with 5,000 idle keep-alive connections: all closed cleanly, counted, descriptors back; exit 0', { timeout: 60_000 }, async () => {
  const upstream = await startUpstream();
  const proxy = await startDrainProxy(upstream.port, { env: { DRAIN_DELAY: '200ms', DRAIN_IDLE_CLOSE: '0', DRAIN_TIMEOUT: '20s' } });
  const count = 5000;
  const sockets: Socket[] = [];
  try {
    const baseline = readdirSync(`/proc/${proxy.pid}/fd`).length;
    let ended = 0;
    let errors = 0;
    let extraBytes = 0;
    /** Opens a connection, sends one request, resolves once its response is complete; then watches how it ends. */
    const open = (): Promise<void> =>
      new Promise((resolve, reject) => {
        const socket = connect({ port: proxy.listenPort, host: '127.0.0.1' });
        sockets.push(socket);
        let text = '';
        let complete = false;
        socket.setEncoding('latin1');
        socket.on('data', (chunk: string) => {
          if (complete) {
            extraBytes += chunk.length;
            return;
          }
          text += chunk;
          const end = text.indexOf('\r\n\r\n');
          const length = /content-length: (\d+)/i.exec(text);
          if (end >= 0 && length !== null && text.length >= end + 4 + Number(length[1])) {
            complete = true;
            resolve();
          }
        });
        socket.on('end', () => ended++);
        socket.on('error', (err) => {
          errors++;
          if (!complete) reject(err);
        });
        socket.write('GET /k HTTP/1.1\r\nHost: t\r\n\r\n');
      });
    for (let i = 0; i < count; i += 250) await Promise.all(Array.from({ length: Math.min(250, count - i) }, open));
    assert.equal((await proxy.status()).connections.http1, count);

    const drainedAt = performance.now();
    assert.equal((await proxy.admin('/drain', { method: 'POST' })).status, 202);
    await until('every connection is closed by the proxy', () => ended === count, 20_000);
    const tookMs = performance.now() - drainedAt;
    assert.equal(errors, 0, 'no connection was reset');
    assert.equal(extraBytes, 0, 'nothing was sent after the responses');
    await until('the proxy has let go of them all', async () => (await proxy.status()).connections.http1 === 0, 10_000);
    assert.equal(await metric(proxy, 'drain_proxy_connections_closed_total{protocol="http1",reason="drain_idle"}'), count);
    let fds = readdirSync(`/proc/${proxy.pid}/fd`).length;
    for (let i = 0; i < 50 && fds > baseline; i++) {
      await sleep(100);
      fds = readdirSync(`/proc/${proxy.pid}/fd`).length;
    }
    assert.ok(fds <= baseline, `descriptors: ${baseline} before, ${fds} after (closing ${count} took ${Math.round(tookMs)} ms)`);
    await exitsCleanly(proxy);
  } finally {
    for (const socket of sockets) socket.destroy();
    await proxy.stop();
    await upstream.close();
  }
});

/** An app whose `/stream` sends a chunk every 50 ms and never ends; `streams` are the app's side of each. */
async function streamingApp(): Promise<{ close: () => Promise<void>; port: number; streams: Socket[] }> {
  const streams: Socket[] = [];
  const upstream = await startUpstream(0, (req, res) => {
    if (req.url !== '/stream') return false;
    streams.push(req.socket);
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const timer = setInterval(() => res.write('0123456789'), 50);
    res.on('close', () => clearInterval(timer));
    return true;
  });
  return { close: () => upstream.close(), port: upstream.port, streams };
}

test('a client that aborts during the response body: the app\'s connection is dropped at once, counted, the process goes on', async () => {
  const app = await streamingApp();
  const proxy = await startDrainProxy(app.port, { env: FAST_DRAIN });
  try {
    const client = await RawClient.connect(proxy.listenPort);
    client.write('GET /stream HTTP/1.1\r\nHost: t\r\n\r\n');
    await until('part of the body arrived', () => client.unread.includes('0123456789'));
    assert.ok((await abort(client, app.streams[0])) < 1000, 'the app\'s connection closed promptly');
    await until('nothing in flight', async () => (await proxy.status()).inFlight.http1 === 0);
    assert.equal(await metric(proxy, 'drain_proxy_connections_closed_total{protocol="http1",reason="client"}'), 1);
    await servesNextThenExits(proxy);
  } finally {
    await proxy.stop();
    await app.close();
  }
});

test('the deadline reached with responses mid-transfer: each is cut (no clean end), counted as drain_deadline, exit 3', async () => {
  const app = await streamingApp();
  const proxy = await startDrainProxy(app.port, { env: { DRAIN_DELAY: '100ms', DRAIN_TIMEOUT: '1s' } });
  try {
    const clients = await Promise.all([0, 1, 2].map(() => RawClient.connect(proxy.listenPort)));
    for (const client of clients) client.write('GET /stream HTTP/1.1\r\nHost: t\r\n\r\n');
    await until('every stream is flowing', () => clients.every((c) => c.unread.includes('0123456789')));
    proxy.signal('SIGTERM');
    const ends = await Promise.all(clients.map((c) => c.closed));
    for (const [i, client] of clients.entries()) {
      assert.ok(client.unread.endsWith('0123456789') || client.unread.endsWith('\r\n'), 'the body was flowing until the cut');
      assert.ok(!client.unread.endsWith('0\r\n\r\n'), `stream ${i} was not ended as if complete`);
      assert.ok(ends[i].at > 0);
    }
    assert.deepEqual(await proxy.exited, { code: 3, signal: null });
    const summary = proxy.log('drain finished');
    assert.equal(summary?.closedByDeadline, 3, JSON.stringify(summary));
    assert.equal(summary?.exitCode, 3);
  } finally {
    await proxy.stop();
    await app.close();
  }
});
