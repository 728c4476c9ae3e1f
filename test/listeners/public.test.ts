import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { PublicListener } from '../../src/listeners/public.ts';
import { ConnectionLimit } from '../../src/listeners/connection-limit.ts';
import { listen } from '../../src/listeners/listen.ts';
import type { RefusedReason } from '../../src/metrics/index.ts';

const silent = pino({ level: 'silent' });

function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Resolves once the server side closed the socket (its FIN or a reset), or with 'open' after `ms`. */
function closedWithin(socket: Socket, ms: number): Promise<'closed' | 'open'> {
  socket.on('error', () => {});
  socket.resume();
  return Promise.race([once(socket, 'close').then(() => 'closed' as const), sleep(ms).then(() => 'open' as const)]);
}

test('listen resolves with the port bound (0: any free one) and rejects when the port is taken', async () => {
  const sockets: Socket[] = [];
  const listener = new PublicListener((socket) => sockets.push(socket), silent);
  const port = await listener.listen(0, '127.0.0.1');
  assert.ok(port > 0);
  const client = await dial(port);
  while (sockets.length === 0) await sleep(5);
  assert.equal(sockets[0].allowHalfOpen, true, 'the handlers decide when our side ends');
  await assert.rejects(new PublicListener(() => {}, silent).listen(port, '127.0.0.1'), { code: 'EADDRINUSE' });
  const other = createServer();
  await assert.rejects(listen(other, port, '127.0.0.1'), { code: 'EADDRINUSE' });
  client.destroy();
  for (const socket of sockets) socket.destroy();
  listener.close();
});

test('close stops accepting; the connections open stay; closing twice changes nothing', async () => {
  const sockets: Socket[] = [];
  const listener = new PublicListener((socket) => sockets.push(socket), silent);
  const port = await listener.listen(0, '127.0.0.1');
  const client = await dial(port);
  while (sockets.length === 0) await sleep(5);
  listener.close();
  listener.close();
  await assert.rejects(dial(port), { code: 'ECONNREFUSED' });
  sockets[0].write('still here');
  const [data] = (await once(client, 'data')) as [Buffer];
  assert.equal(data.toString(), 'still here');
  client.destroy();
  sockets[0].destroy();
});

test('MAX_CONNECTIONS: beyond it a connection is closed before it is handled, counted; a closed one frees its slot', async () => {
  const refused: RefusedReason[] = [];
  const limit = new ConnectionLimit(2, (reason) => refused.push(reason), silent);
  const handled: Socket[] = [];
  const listener = new PublicListener((socket) => handled.push(socket), silent, limit);
  const port = await listener.listen(0, '127.0.0.1');
  const first = await dial(port);
  await dial(port);
  while (handled.length < 2) await sleep(5);
  assert.equal(limit.open, 2);
  const third = await dial(port);
  assert.equal(await closedWithin(third, 2000), 'closed');
  assert.deepEqual(refused, ['max_connections']);
  assert.equal(handled.length, 2);
  handled[0].destroy();
  first.destroy();
  while (limit.open > 1) await sleep(5);
  const fourth = await dial(port);
  while (handled.length < 3) await sleep(5);
  assert.equal(limit.open, 2, 'the freed slot went to the next connection');
  fourth.destroy();
  handled[2].destroy();
  while (limit.open > 1) await sleep(5);
  limit.memoryPressure = true;
  const fifth = await dial(port);
  assert.equal(await closedWithin(fifth, 2000), 'closed', 'memory short: refused with room to spare');
  assert.deepEqual(refused, ['max_connections', 'memory_pressure']);
  for (const socket of handled) socket.destroy();
  listener.close();
});
