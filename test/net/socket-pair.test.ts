/**
 * The socket pair on real loopback sockets: a client, an in-process "proxy"
 * that joins each accepted socket to its own upstream connection, and an
 * upstream server, with large transfers, slow readers, half-closes, resets
 * and an owner that inspects what goes through.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { SocketPair, type PairOwner, type Side } from '../../src/net/socket-pair.ts';

const servers: Server[] = [];
after(() => {
  for (const server of servers) server.close();
});

async function listen(onSocket: (socket: Socket) => void): Promise<number> {
  const server = createServer({ allowHalfOpen: true }, onSocket);
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : 0;
}

interface Rig {
  readonly port: number;
  /** Resolves with the side the pair reported as first to close. */
  readonly tunnelClosed: Promise<Side>;
  tunnel(): SocketPair;
}

/** A proxy port whose first connection is joined to `upstreamPort`; `inspect`, when given, sees the bytes. */
async function rig(upstreamPort: number, inspect?: PairOwner['inspect']): Promise<Rig> {
  let tunnel: SocketPair | undefined;
  let resolveClosed: (end: Side) => void = () => {};
  const tunnelClosed = new Promise<Side>((resolve) => (resolveClosed = resolve));
  const port = await listen((client) => {
    const upstream = connect({ port: upstreamPort, host: '127.0.0.1', allowHalfOpen: true });
    upstream.once('connect', () => {
      tunnel = new SocketPair(client, upstream, inspect === undefined ? { pairClosed: resolveClosed } : { inspect, pairClosed: resolveClosed });
    });
  });
  return { port, tunnelClosed, tunnel: () => tunnel! };
}

function clientTo(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

function sha256(chunks: Buffer[]): string {
  const hash = createHash('sha256');
  for (const chunk of chunks) hash.update(chunk);
  return hash.digest('hex');
}

test('client half-close: 4 MiB up, FIN forwarded after it, the answer sent after the FIN still arrives', async () => {
  const payload = randomBytes(4 << 20);
  const upstreamPort = await listen((socket) => {
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    // Answers only once the client's write side has ended: the FIN must have come through.
    socket.on('end', () => socket.end(`${sha256(received)} ${Buffer.concat(received).length}\n`));
  });
  const { port, tunnelClosed } = await rig(upstreamPort);
  const client = await clientTo(port);
  client.end(payload);
  let answer = '';
  client.setEncoding('utf8').on('data', (text: string) => (answer += text));
  await once(client, 'end');
  assert.equal(answer, `${sha256([payload])} ${payload.length}\n`);
  assert.equal(await tunnelClosed, 'client');
  client.destroy();
});

test('upstream FIN after 8 MiB to a client that reads late and slowly: every byte arrives before the FIN', async () => {
  const payload = randomBytes(8 << 20);
  const upstreamPort = await listen((socket) => {
    socket.once('data', () => socket.end(payload));
    socket.resume();
  });
  const { port, tunnelClosed } = await rig(upstreamPort);
  const client = await clientTo(port);
  client.end('go');
  client.pause();
  // Let the kernel buffers fill and bytes queue in the tunnel while the client does not read.
  await sleep(400);
  const received: Buffer[] = [];
  // Then read slowly, so the proxy still has bytes queued for the client when the upstream's FIN arrives.
  client.on('data', (chunk: Buffer) => {
    received.push(chunk);
    client.pause();
    setTimeout(() => client.resume(), 1);
  });
  client.resume();
  await once(client, 'end');
  assert.equal(Buffer.concat(received).length, payload.length);
  assert.equal(sha256(received), sha256([payload]));
  assert.equal(await tunnelClosed, 'client', 'the client ended first (its FIN came before the upstream\'s)');
  client.destroy();
});

test('upstream half-close: the client keeps sending after the upstream\'s FIN and the upstream gets it all', async () => {
  let upstreamGot: Promise<string> = Promise.resolve('');
  const upstreamPort = await listen((socket) => {
    socket.end('bye\n');
    upstreamGot = new Promise((resolve) => {
      let text = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      socket.on('end', () => resolve(text));
    });
  });
  const { port, tunnelClosed } = await rig(upstreamPort);
  const client = await clientTo(port);
  const clientClosed = once(client, 'close');
  let answer = '';
  client.setEncoding('utf8').on('data', (text: string) => (answer += text));
  await once(client, 'end');
  assert.equal(answer, 'bye\n');
  client.write('after-');
  await sleep(50);
  client.end('your-fin');
  assert.equal(await upstreamGot, 'after-your-fin');
  assert.equal(await tunnelClosed, 'upstream');
  await clientClosed;
});

test('a client reset resets the upstream connection too', async () => {
  let upstreamClosed: Promise<string> = Promise.resolve('');
  const upstreamPort = await listen((socket) => {
    let error = 'none';
    socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
    upstreamClosed = new Promise((resolve) => socket.once('close', () => resolve(error)));
    socket.write('hello');
  });
  const { port, tunnelClosed } = await rig(upstreamPort);
  const client = await clientTo(port);
  await once(client, 'data');
  client.resetAndDestroy();
  assert.equal(await tunnelClosed, 'client');
  const closedWithin = await Promise.race([upstreamClosed, sleep(2000).then(() => 'still open')]);
  assert.equal(closedWithin, 'ECONNRESET', 'the upstream sees a reset, not a FIN it could take for a half-close');
});

test('an upstream reset resets the client connection too', async () => {
  const upstreamPort = await listen((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => socket.resetAndDestroy());
  });
  const { port, tunnelClosed } = await rig(upstreamPort);
  const client = await clientTo(port);
  let error = 'none';
  client.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
  client.write('x');
  const closed = await Promise.race([new Promise((resolve) => client.once('close', () => resolve(error))), sleep(2000).then(() => 'still open')]);
  assert.equal(closed, 'ECONNRESET');
  assert.equal(await tunnelClosed, 'upstream');
});

test('lastActivity moves with bytes either way and pendingBytes is 0 once they are through', async () => {
  const upstreamPort = await listen((socket) => socket.on('data', (chunk: Buffer) => socket.write(chunk)));
  const rigged = await rig(upstreamPort);
  const client = await clientTo(port(rigged));
  client.write('ping');
  await once(client, 'data');
  const tunnel = rigged.tunnel();
  const before = tunnel.lastActivity;
  await sleep(100);
  assert.ok(performance.now() - before >= 90, 'no bytes: lastActivity stays');
  client.write('again');
  await once(client, 'data');
  assert.ok(tunnel.lastActivity > before + 90, 'bytes moved it');
  assert.equal(tunnel.pendingBytes, 0);
  const ended = once(client, 'end');
  tunnel.destroy();
  await ended;
});

test('an owner that inspects: sees every chunk from its side, forwards what it returns, nothing for null', async () => {
  const upstreamPort = await listen((socket) => socket.on('data', (chunk: Buffer) => socket.write(chunk)));
  const seen: string[] = [];
  const rigged = await rig(upstreamPort, (from, chunk) => {
    seen.push(`${from}:${chunk.toString('latin1')}`);
    if (from === 'upstream') return null;
    return chunk.toString('latin1') === 'drop' ? null : chunk.subarray(0, 3);
  });
  const client = await clientTo(port(rigged));
  let echoed = '';
  client.setEncoding('latin1').on('data', (text: string) => (echoed += text));
  client.write('drop');
  await sleep(50);
  client.write('hello');
  await sleep(100);
  assert.deepEqual(seen, ['client:drop', 'client:hello', 'upstream:hel']);
  assert.equal(echoed, '', 'the upstream\'s echo was inspected and dropped');
  const ended = once(client, 'end');
  rigged.tunnel().destroy();
  await ended;
});

function port(rigged: Rig): number {
  return rigged.port;
}
