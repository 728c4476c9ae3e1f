/**
 * One close window for every long-lived connection of the process: WebSockets
 * (close frames), event streams (ended after an event) and HTTP/2 sessions
 * (GOAWAY) each take evenly spaced moments in it, so each kind and all of them
 * together are spread over CLOSE_SPREAD from t0 + DRAIN_DELAY. The demo's
 * legacy app behind the real process; moments taken from the clients' own
 * timestamps.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { get } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import { startDrainProxy } from '../../harness/drain-proxy.ts';
import { freePort } from '../../harness/ports.ts';
import { startApp } from '../../demo/support/pods.ts';
import { busiestWindow } from '../../rollout/rates.ts';
import { h2request, h2session } from '../h2/client.ts';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

type Kind = 'websocket' | 'event stream' | 'h2';

test('WebSockets, event streams and HTTP/2 sessions leave in one window over CLOSE_SPREAD from DRAIN_DELAY, each kind and all together evenly spaced', async () => {
  const appPort = await freePort();
  const app = await startApp({ name: 'spread-app', ip: '127.0.0.1', appPort, proxyPort: 0, adminPort: 0 });
  cleanups.push(() => app.stop());
  const delay = 500;
  const spread = 2000;
  const proxy = await startDrainProxy(appPort, { env: { UPSTREAM_PROTOCOL: 'h2c', DRAIN_DELAY: `${delay}ms`, CLOSE_SPREAD: `${spread}ms`, DRAIN_TIMEOUT: '10s' } });
  cleanups.push(() => proxy.stop());
  const perKind = 8;
  const moments: Array<{ kind: Kind; at: number }> = [];
  let t0 = 0;
  const seen = (kind: Kind): void => void moments.push({ kind, at: performance.now() - t0 });

  const sockets = await Promise.all(Array.from({ length: perKind }, async () => {
    const socket = new WebSocket(`ws://127.0.0.1:${proxy.listenPort}/ws`);
    await once(socket, 'open');
    socket.on('close', () => seen('websocket'));
    return socket;
  }));
  cleanups.push(() => sockets.forEach((socket) => socket.terminate()));
  const streamsEnded = Array.from({ length: perKind }, () => new Promise<void>((resolve, reject) => {
    get({ host: '127.0.0.1', port: proxy.listenPort, path: '/events', agent: false }, (res) => {
      res.resume();
      res.on('end', () => {
        seen('event stream');
        resolve();
      });
      res.on('error', reject);
    }).on('error', reject);
  }));
  const sessions = Array.from({ length: perKind }, () => h2session(proxy.listenPort));
  cleanups.push(() => sessions.forEach((session) => session.destroy()));
  for (const session of sessions) {
    assert.equal((await h2request(session, { ':path': '/' })).status, 200);
    session.once('goaway', () => seen('h2'));
  }
  await sleep(300);
  t0 = performance.now();
  proxy.signal('SIGTERM');
  assert.equal((await proxy.exited).code, 0, 'nothing left for the deadline');
  await Promise.all(streamsEnded);
  while (moments.length < 3 * perKind) await sleep(20);

  const offsets = moments.map((m) => m.at).sort((a, b) => a - b);
  const list = moments.sort((a, b) => a.at - b.at).map((m) => `${m.kind} ${Math.round(m.at)}`).join(', ');
  assert.ok(offsets[0] >= delay - 50, `none before DRAIN_DELAY: ${list}`);
  assert.ok(offsets.at(-1)! <= delay + spread + 300, `all inside the window: ${list}`);
  // A quarter of the window: 6 of the 24 when evenly spaced, at most 9 with three sequences and timer jitter (independent draws: ~10.5).
  assert.ok(busiestWindow(offsets, spread / 4) <= 9, `the busiest quarter of the window holds ${busiestWindow(offsets, spread / 4)}: ${list}`);
  for (const kind of ['websocket', 'event stream', 'h2'] as const) {
    const own = moments.filter((m) => m.kind === kind).map((m) => m.at);
    assert.equal(own.length, perKind, kind);
    assert.ok(Math.max(...own) - Math.min(...own) >= spread / 2, `${kind}s spread over the window, between the others: ${list}`);
    assert.ok(busiestWindow(own, spread / 4) <= 4, `${kind}s evenly spaced among themselves (2 of 8 per quarter): ${list}`);
  }
  const summary = proxy.log('drain finished')!;
  const closed = summary.closed as Record<string, number>;
  assert.deepEqual([closed.drain_close_frame, closed.drain_stream_end, closed.drain_idle], [perKind, perKind, perKind], JSON.stringify(closed));
});
