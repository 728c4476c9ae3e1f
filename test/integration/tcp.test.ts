/**
 * Raw TCP ports (TCP_PORTS) on the real process, with a real protocol through
 * them: Debian's redis-server and its own client redis-cli, plus raw RESP
 * sockets where a test must control the connection itself (idle, half-close,
 * reset). Real signals, loopback only.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { MAIN, startDrainProxy, type DrainProxy } from '../../harness/drain-proxy.ts';
import { connectOutcome, freePort } from '../../harness/ports.ts';
import { eventually } from '../../harness/http.ts';
import { metricValue } from '../../harness/metrics.ts';
import { RedisCliSession, ensureRedis, redisCli, startRedis, type RedisServer } from '../tcp/redis.ts';
import { RespClient } from '../tcp/resp-client.ts';

const skip = ensureRedis() ?? false;
const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

let shared: RedisServer | undefined;
async function redis(): Promise<RedisServer> {
  if (shared === undefined) {
    shared = await startRedis();
    const server = shared;
    cleanups.push(() => server.stop());
  }
  return shared;
}

interface Setup {
  readonly proxy: DrainProxy;
  readonly redis: RedisServer;
  /** The proxy's TCP port in front of Redis. */
  readonly tcpPort: number;
}

/** A proxy whose UPSTREAM is Redis (health checked by TCP connect) and one TCP_PORTS mapping to it. */
async function setup(env: Record<string, string>): Promise<Setup> {
  const server = await redis();
  const tcpPort = await freePort();
  const proxy = await startDrainProxy(server.port, { env: { TCP_PORTS: `${tcpPort}:${server.port}`, ...env } });
  cleanups.push(() => proxy.stop());
  await proxy.waitForLog('tcp port listening');
  return { proxy, redis: server, tcpPort };
}

test('Redis through a TCP port: redis-cli, a 1 MiB value and pipelined commands, byte for byte', { skip }, async () => {
  const { proxy, tcpPort } = await setup({});
  assert.equal(await redisCli(tcpPort, 'PING'), 'PONG');
  const value = Buffer.alloc(1 << 20);
  for (let i = 0; i < value.length; i++) value[i] = (i * 7919) & 0xff;
  const client = await RespClient.connect(tcpPort);
  assert.equal(await client.command('SET', 'tcp:big', value), 'OK');
  const big = await client.command('GET', 'tcp:big');
  assert.equal(typeof big, 'string');
  assert.ok(Buffer.from(big as string, 'latin1').equals(value), 'the 1 MiB value came back unchanged');
  for (let i = 0; i < 50; i++) client.send('INCR', 'tcp:pipelined');
  const replies: unknown[] = [];
  for (let i = 0; i < 50; i++) replies.push(await client.reply());
  assert.equal(replies.at(-1), Number(await redisCli(tcpPort, 'GET', 'tcp:pipelined')));
  // redis-cli's connection above may take a moment to be let go; this one stays.
  assert.ok(
    await eventually(async () => metricValue(await proxy.metrics(), 'drain_proxy_connections_active{protocol="tcp"}') === 1),
    'the open connection is in connections_active',
  );
  const closed = client.closed;
  client.socket.end();
  assert.equal((await closed).error, null);
  assert.ok(
    await eventually(async () => metricValue(await proxy.metrics(), 'drain_proxy_connections_active{protocol="tcp"}') === 0),
    'the connection is gone from connections_active',
  );
  const text = await proxy.metrics();
  assert.ok((metricValue(text, 'drain_proxy_connections_closed_total{protocol="tcp",reason="client"}') ?? 0) >= 2);
});

test('a MULTI/EXEC transaction spanning t0 completes; new connections are served during DRAIN_DELAY and refused after; exit 0 once the client leaves', { skip }, async () => {
  const { proxy, redis: server, tcpPort } = await setup({ DRAIN_DELAY: '2s', DRAIN_TIMEOUT: '15s' });
  await redisCli(server.port, 'DEL', 'tx:counter', 'tx:flag');
  const cli = new RedisCliSession(tcpPort);
  cleanups.push(() => cli.kill());
  assert.deepEqual(await cli.send('MULTI'), ['OK']);
  assert.deepEqual(await cli.send('INCR tx:counter'), ['QUEUED']);
  assert.deepEqual(await cli.send('SET tx:flag before-t0'), ['QUEUED']);
  const t0 = performance.now();
  proxy.signal('SIGTERM');
  await proxy.waitForReady(503);
  assert.equal(await redisCli(tcpPort, 'PING'), 'PONG', 'a new connection during DRAIN_DELAY is served');
  assert.deepEqual(await cli.send('INCR tx:counter'), ['QUEUED']);
  assert.deepEqual(await cli.send('EXEC', 3), ['1', 'OK', '2']);
  const waitMs = 2600 - (performance.now() - t0);
  if (waitMs > 0) await sleep(waitMs);
  assert.equal(await connectOutcome(tcpPort), 'ECONNREFUSED', 'the TCP port stops listening at t0 + DRAIN_DELAY');
  assert.equal(await connectOutcome(proxy.listenPort), 'ECONNREFUSED');
  assert.deepEqual(await cli.send('GET tx:counter'), ['2'], 'the open connection still works after the port closed');
  assert.equal(proxy.process.exitCode, null, 'the drain waits for the open connection');
  const left = performance.now();
  assert.equal(await cli.quit(), 0);
  const exit = await proxy.exited;
  assert.equal(exit.code, 0);
  assert.ok(proxy.exitedAt - left < 1500, `exited ${Math.round(proxy.exitedAt - left)} ms after the client left, not at the deadline`);
  const summary = proxy.log('drain finished')!;
  assert.equal(summary.cut, 0);
  assert.equal(await redisCli(server.port, 'GET', 'tx:counter'), '2', 'the transaction was applied');
  assert.equal(await redisCli(server.port, 'GET', 'tx:flag'), 'before-t0');
});

test('TCP_IDLE_CLOSE closes idle pooled connections during the drain (both sides), not busy ones; the deadline resets the busy one: counted, exit code 3', { skip }, async () => {
  const { proxy, redis: server, tcpPort } = await setup({ DRAIN_DELAY: '500ms', DRAIN_TIMEOUT: '3s', TCP_IDLE_CLOSE: '1s' });
  const pool: RespClient[] = [];
  for (let i = 0; i < 4; i++) {
    const client = await RespClient.connect(tcpPort);
    assert.equal(await client.command('CLIENT', 'SETNAME', `pool-${i}`), 'OK');
    pool.push(client);
  }
  await sleep(1300);
  // pool-0 has been idle since before t0 (longer than TCP_IDLE_CLOSE); the others are used just before t0.
  for (const client of pool.slice(1)) assert.equal(await client.command('PING'), 'PONG');
  const busy = await RespClient.connect(tcpPort);
  assert.equal(await busy.command('PING'), 'PONG');
  const t0 = performance.now();
  proxy.signal('SIGTERM');
  let pongs = 0;
  let busyError = '';
  while (performance.now() - t0 < 8000) {
    try {
      if ((await busy.command('PING', `n${pongs}`)) === `n${pongs}`) pongs++;
    } catch (err) {
      busyError = (err as Error).message;
      break;
    }
    await sleep(150);
  }
  const busyClosed = await busy.closed;
  const closedAfter = busyClosed.at - t0;
  assert.equal(busyClosed.error, 'ECONNRESET', `the deadline resets the busy connection (${busyError})`);
  assert.ok(closedAfter > 2500 && closedAfter < 5000, `busy connection cut ${Math.round(closedAfter)} ms after t0 (deadline 3 s)`);
  assert.ok(pongs >= 8, `the busy connection was served until the deadline (${pongs} replies)`);

  const [first, ...others] = await Promise.all(pool.map((client) => client.closed));
  assert.equal(first.error, null, 'an idle connection is closed with a FIN');
  assert.ok(first.at - t0 < 700, `idle since before t0: closed ${Math.round(first.at - t0)} ms after t0`);
  for (const closed of others) {
    assert.equal(closed.error, null);
    assert.ok(closed.at - t0 > 600 && closed.at - t0 < 2500, `used just before t0: closed ${Math.round(closed.at - t0)} ms after t0`);
  }
  const exit = await proxy.exited;
  assert.equal(exit.code, 3);
  const summary = proxy.log('drain finished')!;
  assert.equal(summary.closedByIdle, 4);
  assert.equal(summary.closedByDeadline, 1);
  assert.equal(summary.cut, 1);
  // The proxy closed its upstream connections too: Redis no longer has the pool's clients.
  assert.ok(
    await eventually(async () => !(await redisCli(server.port, 'CLIENT', 'LIST')).includes('name=pool-')),
    'Redis still lists pooled connections',
  );
});

test('without TCP_IDLE_CLOSE a connection blocked in BLPOP is left to the deadline: cut, counted in the metrics', { skip }, async () => {
  const { proxy, tcpPort } = await setup({ DRAIN_DELAY: '200ms', DRAIN_TIMEOUT: '1500ms' });
  const blocked = await RespClient.connect(tcpPort);
  blocked.send('BLPOP', 'tcp:never', '0');
  await sleep(100);
  // Drain by /drain so the process stays up after the deadline and its metrics can be read.
  const drained = await proxy.admin('/drain?wait=1', { method: 'POST' });
  assert.equal(drained.status, 200);
  const summary = (await drained.json()) as { cut: number; closed: Record<string, number>; durationMs: number };
  assert.equal(summary.cut, 1);
  assert.equal(summary.closed.drain_deadline, 1);
  assert.equal(summary.closed.drain_idle, 0, 'a blocked command is idle on the wire, yet not closed without TCP_IDLE_CLOSE');
  assert.ok(summary.durationMs >= 1400, `drain lasted ${summary.durationMs} ms`);
  assert.equal((await blocked.closed).error, 'ECONNRESET');
  const text = await proxy.metrics();
  assert.equal(metricValue(text, 'drain_proxy_connections_closed_total{protocol="tcp",reason="drain_deadline"}'), 1);
  assert.equal(metricValue(text, 'drain_proxy_connections_active{protocol="tcp"}'), 0);
  proxy.signal('SIGTERM');
  assert.equal((await proxy.exited).code, 3);
});

test('half-close: a Redis client that shuts its write side still gets every reply', { skip }, async () => {
  const { proxy, tcpPort } = await setup({});
  const client = await RespClient.connect(tcpPort);
  client.send('SET', 'tcp:half', 'closed');
  client.send('GET', 'tcp:half');
  client.send('PING');
  client.socket.end();
  assert.equal(await client.reply(), 'OK');
  assert.equal(await client.reply(), 'closed');
  assert.equal(await client.reply(), 'PONG');
  const closed = await client.closed;
  assert.equal(closed.error, null);
  assert.ok(await eventually(async () => metricValue(await proxy.metrics(), 'drain_proxy_connections_active{protocol="tcp"}') === 0));
});

/** A plain TCP server on loopback; returns its port. */
async function tcpServer(onSocket: (socket: Socket) => void): Promise<number> {
  const server: Server = createServer({ allowHalfOpen: true }, onSocket);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => server.close());
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : 0;
}

test('half-close and failures with an app that answers only after the FIN: 2 MiB up, the digest back; resets travel both ways; refused upstream', { skip }, async () => {
  const server = await redis();
  const serverSockets: Socket[] = [];
  const appPort = await tcpServer((socket) => {
    serverSockets.push(socket);
    socket.on('error', () => {});
    let bytes = 0;
    let sum = 0;
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      for (const byte of chunk) sum = (sum + byte) % 65521;
    });
    socket.on('end', () => socket.end(`${bytes} ${sum}\n`));
  });
  const halfPort = await freePort();
  const refusedPort = await freePort();
  const deadPort = await freePort(); // nothing listens there
  const proxy = await startDrainProxy(server.port, { env: { TCP_PORTS: `${halfPort}:${appPort},${refusedPort}:${deadPort}` } });
  cleanups.push(() => proxy.stop());
  await eventually(() => proxy.logs.filter((line) => line.msg === 'tcp port listening').length === 2);

  const payload = Buffer.alloc(2 << 20, 0xab);
  const expected = `${payload.length} ${(payload.length * 0xab) % 65521}\n`;
  const client = connect({ port: halfPort, host: '127.0.0.1', allowHalfOpen: true });
  await once(client, 'connect');
  client.end(payload);
  let answer = '';
  client.setEncoding('utf8').on('data', (text: string) => (answer += text));
  await once(client, 'end');
  assert.equal(answer, expected, 'the answer written after the client\'s FIN came through');
  client.destroy();

  // A client reset reaches the app as a reset.
  const resetter = connect({ port: halfPort, host: '127.0.0.1' });
  await once(resetter, 'connect');
  resetter.write('x');
  assert.ok(await eventually(() => serverSockets.length === 2));
  const appSide = serverSockets[1];
  const appClosed = new Promise<boolean>((resolve) => appSide.once('close', resolve));
  resetter.resetAndDestroy();
  assert.equal(await Promise.race([appClosed, sleep(3000).then(() => 'still open')]), true, 'the app saw the reset');

  // An app reset reaches the client as a reset.
  const victim = connect({ port: halfPort, host: '127.0.0.1' });
  let victimError = 'none';
  victim.on('error', (err: NodeJS.ErrnoException) => (victimError = err.code ?? err.message));
  await once(victim, 'connect');
  victim.write('y');
  assert.ok(await eventually(() => serverSockets.length === 3));
  const victimClosed = new Promise<string>((resolve) => victim.once('close', () => resolve(victimError)));
  serverSockets[2].resetAndDestroy();
  assert.equal(await Promise.race([victimClosed, sleep(3000).then(() => 'still open')]), 'ECONNRESET');

  // Nothing listens upstream: the client's connection is closed and the failure counted.
  const orphan = connect({ port: refusedPort, host: '127.0.0.1' });
  orphan.on('error', () => {});
  await once(orphan, 'close');
  const text = await proxy.metrics();
  assert.equal(metricValue(text, 'drain_proxy_upstream_errors_total{kind="connect_refused"}'), 1);
  assert.ok(await eventually(async () => metricValue(await proxy.metrics(), 'drain_proxy_connections_active{protocol="tcp"}') === 0));
  const final = await proxy.metrics();
  assert.equal(metricValue(final, 'drain_proxy_connections_closed_total{protocol="tcp",reason="upstream"}'), 2, 'the app reset and the refused connect');
  assert.equal(metricValue(final, 'drain_proxy_connections_closed_total{protocol="tcp",reason="client"}'), 2, 'the half-close and the client reset');
  assert.ok(proxy.logs.some((line) => line.msg === 'tcp upstream connect failed' && line.kind === 'connect_refused'));
});

test('invalid TCP_PORTS: exit 1 before binding, one line on stderr naming the variable', async () => {
  const listenPort = await freePort();
  const adminPort = await freePort();
  const cases: Array<[string, RegExp]> = [
    ['6379', /^drain-proxy: invalid TCP_PORTS="6379": expected comma-separated listenPort:upstreamPort pairs[^\n]*\n$/],
    ['6379:99999', /^drain-proxy: invalid TCP_PORTS="6379:99999": expected [^\n]*\n$/],
    ['7001:6379,7001:6380', /^drain-proxy: invalid TCP_PORTS="7001:6379,7001:6380": listen port 7001 appears twice\n$/],
    [`${listenPort}:6379`, new RegExp(`^drain-proxy: invalid TCP_PORTS=${listenPort}:6379: listen port ${listenPort} is already LISTEN_PORT\\n$`)],
    [`7002:6379,${adminPort}:6379`, new RegExp(`^drain-proxy: invalid TCP_PORTS=7002:6379,${adminPort}:6379: listen port ${adminPort} is already ADMIN_PORT\\n$`)],
  ];
  for (const [value, message] of cases) {
    const result = spawnSync(process.execPath, [MAIN], {
      env: { PATH: process.env.PATH, LISTEN_PORT: String(listenPort), ADMIN_PORT: String(adminPort), LISTEN_ADDRESS: '127.0.0.1', ADMIN_ADDRESS: '127.0.0.1', TCP_PORTS: value },
      encoding: 'utf8',
      timeout: 10_000,
    });
    assert.equal(result.status, 1, `TCP_PORTS=${value}: ${result.stderr}`);
    assert.equal(result.stdout, '', 'nothing started, nothing logged');
    assert.match(result.stderr, message);
  }
  assert.equal(await connectOutcome(listenPort), 'ECONNREFUSED', 'no port was bound');
});
