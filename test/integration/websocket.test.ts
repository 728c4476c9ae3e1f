/**
 * WebSockets through the real process at drain: every client gets one close
 * frame with the configured code and reason, at a frame boundary, at a moment
 * spread over CLOSE_SPREAD; the app sees a clean close; nobody sees 1006.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { createServer, type Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket, WebSocketServer } from 'ws';
import { startDrainProxy, type DrainProxy } from '../../harness/drain-proxy.ts';
import { eventually } from '../../harness/http.ts';
import { metricValue } from '../../harness/metrics.ts';

const cleanup: Array<() => Promise<unknown> | void> = [];
after(async () => {
  for (const step of cleanup.reverse()) await step();
});

interface App {
  readonly port: number;
  readonly wss: WebSocketServer;
  /** Close codes the app saw, with whether the close was clean (a close frame arrived). */
  readonly closes: Array<{ code: number; clean: boolean }>;
}

async function startApp(onConnection?: (socket: WebSocket) => void): Promise<App> {
  const server: Server = createServer((req, res) => res.end('ok'));
  const wss = new WebSocketServer({ server, perMessageDeflate: true });
  const closes: App['closes'] = [];
  wss.on('connection', (socket) => {
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
    socket.on('close', (code) => closes.push({ code, clean: code !== 1006 }));
    onConnection?.(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanup.push(() => {
    wss.close();
    server.closeAllConnections();
    server.close();
  });
  return { port: (server.address() as { port: number }).port, wss, closes };
}

async function proxyFor(app: App, env: Record<string, string>): Promise<DrainProxy> {
  const proxy = await startDrainProxy(app.port, { env });
  cleanup.push(() => proxy.stop());
  return proxy;
}

async function open(proxy: DrainProxy, options: ConstructorParameters<typeof WebSocket>[2] = {}): Promise<WebSocket> {
  const socket = new WebSocket(`ws://127.0.0.1:${proxy.listenPort}/ws`, options);
  await once(socket, 'open');
  return socket;
}

test('messages pass through byte-identical: text, binary, fragmented, compressed, large with backpressure', async () => {
  const app = await startApp();
  const proxy = await proxyFor(app, {});
  for (const perMessageDeflate of [false, true]) {
    const socket = await open(proxy, { perMessageDeflate });
    const replies: Buffer[] = [];
    socket.on('message', (data: Buffer) => replies.push(data));
    const big = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE(i * 2654435761 >>> 0, i);
    socket.send('héllo');
    socket.send(Buffer.from([0, 1, 2, 255]));
    socket.send('frag-', { fin: false });
    socket.send('ment', { fin: true });
    socket.send(big);
    while (replies.length < 4) await sleep(20);
    assert.equal(replies[0].toString(), 'héllo');
    assert.deepEqual([...replies[1]], [0, 1, 2, 255]);
    assert.equal(replies[2].toString(), 'frag-ment');
    assert.ok(replies[3].equals(big), `8 MiB message intact (deflate ${perMessageDeflate})`);
    assert.equal(socket.extensions, perMessageDeflate ? 'permessage-deflate' : '');
    socket.close(1000, 'bye');
    const [code] = (await once(socket, 'close')) as [number];
    assert.equal(code, 1000, 'a client-initiated close passes through');
  }
  // The client's own close can come before the proxy has seen both of its sockets close.
  const closedByClient = async (): Promise<number | undefined> =>
    metricValue(await (await proxy.admin('/metrics')).text(), 'drain_proxy_connections_closed_total{protocol="websocket",reason="client"}');
  await eventually(async () => (await closedByClient()) === 2, 2000);
  assert.equal(await closedByClient(), 2);
});

test('drain: each client gets one 1012 "draining" close, spread over the window (WS_CLOSE_SPREAD, the older name of CLOSE_SPREAD); the app sees clean closes; no 1006', async () => {
  const app = await startApp((socket) => {
    // The app keeps talking while the drain happens.
    const timer = setInterval(() => socket.send(`tick ${Date.now()}`), 20);
    socket.on('close', () => clearInterval(timer));
  });
  const proxy = await proxyFor(app, { DRAIN_DELAY: '500ms', WS_CLOSE_SPREAD: '2s', WS_CLOSE_TIMEOUT: '2s', DRAIN_TIMEOUT: '10s' });
  const clients = await Promise.all(Array.from({ length: 24 }, () => open(proxy)));
  const closes: Array<{ code: number; reason: string; at: number }> = [];
  for (const socket of clients) {
    socket.on('close', (code: number, reason: Buffer) => closes.push({ code, reason: reason.toString(), at: performance.now() }));
  }
  await sleep(200);
  const t0 = performance.now();
  proxy.signal('SIGTERM');
  const exit = await proxy.exited;
  assert.equal(exit.code, 0, 'nothing was cut at the deadline');
  while (closes.length < clients.length) await sleep(20);
  assert.deepEqual([...new Set(closes.map((c) => `${c.code} ${c.reason}`))], ['1012 draining']);
  const offsets = closes.map((c) => c.at - t0).sort((a, b) => a - b);
  assert.ok(offsets[0] >= 450, `no close before DRAIN_DELAY (first at ${Math.round(offsets[0])} ms)`);
  assert.ok(offsets.at(-1)! <= 500 + 2000 + 1000, `all within the window (last at ${Math.round(offsets.at(-1)!)} ms)`);
  assert.ok(offsets.at(-1)! - offsets[0] >= 800, `spread over the window, not at once (${Math.round(offsets[0])}..${Math.round(offsets.at(-1)!)} ms)`);
  const early = offsets.filter((o) => o < 1500).length;
  assert.ok(early >= 3 && early <= 21, `about half in each half of the window (${early} of 24 in the first half)`);
  while (app.closes.length < clients.length) await sleep(20);
  assert.ok(app.closes.every((c) => c.code === 1012 && c.clean), `app saw ${JSON.stringify(app.closes.slice(0, 3))}`);
  const summary = proxy.log('drain finished')!;
  assert.equal((summary.closed as Record<string, number>).drain_close_frame, 24);
  const older = proxy.log('older variable name: rename it');
  assert.deepEqual([older?.level, older?.variable, older?.use], [40, 'WS_CLOSE_SPREAD', 'CLOSE_SPREAD'], 'the older name works, with a warning at startup');
});

/** A WebSocket opened by hand on a raw socket, to see every byte the proxy sends. */
async function rawUpgrade(proxy: DrainProxy): Promise<Socket> {
  const raw = connect({ port: proxy.listenPort, host: '127.0.0.1' });
  await once(raw, 'connect');
  raw.write(
    'GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  return raw;
}

/** Parses a server-to-client byte stream into frames; throws if it does not parse exactly. */
function frames(stream: Buffer): Array<{ opcode: number; fin: boolean; payload: Buffer }> {
  const out = [];
  let pos = 0;
  while (pos < stream.length) {
    assert.ok(stream.length - pos >= 2, 'truncated header');
    const fin = (stream[pos] & 0x80) !== 0;
    const opcode = stream[pos] & 0x0f;
    assert.equal(stream[pos + 1] & 0x80, 0, 'server frames are unmasked');
    let length = stream[pos + 1] & 0x7f;
    pos += 2;
    if (length === 126) {
      length = stream.readUInt16BE(pos);
      pos += 2;
    } else if (length === 127) {
      length = Number(stream.readBigUInt64BE(pos));
      pos += 8;
    }
    assert.ok(pos + length <= stream.length, `frame of ${length} bytes cut at ${stream.length - pos}`);
    out.push({ opcode, fin, payload: stream.subarray(pos, pos + length) });
    pos += length;
  }
  return out;
}

test('the close frame goes in at a frame boundary, never inside a frame, and nothing follows it', async () => {
  // The app streams large fragmented messages continuously, so a frame is almost always in progress.
  const app = await startApp((socket) => {
    const chunk = Buffer.alloc(200_000, 7);
    let stop = false;
    socket.on('close', () => (stop = true));
    const pump = (): void => {
      if (stop) return;
      socket.send(chunk, { fin: false, binary: true });
      socket.send(chunk, { fin: true, binary: true }, () => setImmediate(pump));
    };
    pump();
  });
  const proxy = await proxyFor(app, { DRAIN_DELAY: '300ms', CLOSE_SPREAD: '0', DRAIN_TIMEOUT: '10s', WS_CLOSE_TIMEOUT: '2s' });
  const raw = await rawUpgrade(proxy);
  const received: Buffer[] = [];
  raw.on('data', (chunk: Buffer) => received.push(chunk));
  await sleep(300);
  proxy.signal('SIGTERM');
  // Wait for the close frame, then answer it as a client must: masked, echoing the code.
  let stream = Buffer.alloc(0);
  for (let i = 0; i < 200; i++) {
    await sleep(20);
    stream = Buffer.concat(received);
    const headEnd = stream.indexOf('\r\n\r\n');
    if (headEnd < 0) continue;
    try {
      if (frames(stream.subarray(headEnd + 4)).some((f) => f.opcode === 8)) break;
    } catch {
      // still mid-frame: keep reading
    }
  }
  const headEnd = stream.indexOf('\r\n\r\n');
  assert.match(stream.subarray(0, headEnd).toString(), /^HTTP\/1\.1 101 /);
  const parsed = frames(stream.subarray(headEnd + 4));
  const closeIndex = parsed.findIndex((f) => f.opcode === 8);
  assert.ok(closeIndex > 0, 'data frames, then the close frame');
  assert.equal(closeIndex, parsed.length - 1, 'nothing after the close frame');
  assert.equal(parsed[closeIndex].payload.readUInt16BE(0), 1012);
  assert.equal(parsed[closeIndex].payload.subarray(2).toString(), 'draining');
  const mask = Buffer.from([1, 2, 3, 4]);
  const payload = Buffer.from([0x03, 0xf4].map((b, i) => b ^ mask[i]));
  raw.write(Buffer.concat([Buffer.from([0x88, 0x82]), mask, payload]));
  await once(raw, 'close');
  const after = frames(Buffer.concat(received).subarray(headEnd + 4));
  assert.equal(after.length, parsed.length, 'still nothing after the close frame');
  while (app.closes.length < 1) await sleep(20);
  assert.equal(app.closes[0].code, 1012, 'the app got the client reply: a clean close');
  assert.equal((await proxy.exited).code, 0);
});

test('a client that never answers the close is let go after WS_CLOSE_TIMEOUT, counted', async () => {
  const app = await startApp();
  const proxy = await proxyFor(app, { DRAIN_DELAY: '200ms', CLOSE_SPREAD: '0', WS_CLOSE_TIMEOUT: '500ms', DRAIN_TIMEOUT: '10s' });
  const raw = await rawUpgrade(proxy);
  raw.resume();
  await sleep(200);
  const t0 = performance.now();
  const drained = await proxy.admin('/drain?wait=1');
  const elapsed = performance.now() - t0;
  assert.equal(drained.status, 200);
  assert.ok(elapsed >= 600 && elapsed < 3000, `ended by the close timeout (${Math.round(elapsed)} ms), not the deadline`);
  const metrics = await (await proxy.admin('/metrics')).text();
  assert.match(metrics, /drain_proxy_websocket_close_timeouts_total 1/);
  assert.match(metrics, /drain_proxy_connections_closed_total\{protocol="websocket",reason="drain_close_frame"\} 1/);
  raw.destroy();
});

test('an upgrade the app refuses is answered and the connection goes on as HTTP; nothing leaks', async () => {
  const server = createServer((req, res) => res.end(`plain ${req.url}`));
  server.on('upgrade', (req, socket) => {
    socket.end('HTTP/1.1 426 Upgrade Required\r\nContent-Length: 4\r\nConnection: keep-alive\r\n\r\nnope');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanup.push(() => {
    server.closeAllConnections();
    server.close();
  });
  const proxy = await startDrainProxy((server.address() as { port: number }).port);
  cleanup.push(() => proxy.stop());
  const socket = new WebSocket(`ws://127.0.0.1:${proxy.listenPort}/ws`);
  socket.on('error', () => {});
  const [, response] = (await once(socket, 'unexpected-response')) as [unknown, { statusCode: number; destroy(): void }];
  assert.equal(response.statusCode, 426);
  response.destroy();
  await sleep(300);
  const status = (await (await proxy.admin('/status')).json()) as { connections: Record<string, number>; inFlight: Record<string, number> };
  assert.deepEqual(status.connections, { http1: 0, websocket: 0, h2: 0, tcp: 0 });
  assert.deepEqual(status.inFlight, { http1: 0, websocket: 0, h2: 0, tcp: 0 });
});

test('a close the app starts passes through untouched, and the proxy adds nothing at drain', async () => {
  const app = await startApp((socket) => setTimeout(() => socket.close(1001, 'app going away'), 100));
  const proxy = await proxyFor(app, { DRAIN_DELAY: '100ms', CLOSE_SPREAD: '0', DRAIN_TIMEOUT: '5s' });
  const socket = await open(proxy);
  const [code, reason] = (await once(socket, 'close')) as [number, Buffer];
  assert.equal(code, 1001);
  assert.equal(reason.toString(), 'app going away');
  const metrics = await (await proxy.admin('/metrics')).text();
  assert.match(metrics, /drain_proxy_connections_closed_total\{protocol="websocket",reason="upstream"\} 1/);
});

test('closed WebSockets give their MAX_CONNECTIONS slot back', async () => {
  const app = await startApp();
  const proxy = await proxyFor(app, { MAX_CONNECTIONS: '2' });
  for (let i = 0; i < 5; i++) {
    const socket = await open(proxy);
    socket.close(1000);
    await once(socket, 'close');
  }
  await sleep(100);
  const last = await open(proxy);
  last.send('still here');
  const [reply] = (await once(last, 'message')) as [Buffer];
  assert.equal(reply.toString(), 'still here');
  last.close(1000);
  const metrics = await (await proxy.admin('/metrics')).text();
  assert.match(metrics, /drain_proxy_connections_refused_total\{reason="max_connections"\} 0/);
});
