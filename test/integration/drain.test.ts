/**
 * The drain timeline, step by step, on the real process: real upstream, real
 * client sockets, real signals.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDrainProxy, type DrainProxy } from '../../harness/drain-proxy.ts';
import { connectOutcome } from '../../harness/ports.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { RawClient } from '../helpers/raw-client.ts';

const started: Array<DrainProxy | TestUpstream> = [];
after(async () => {
  for (const thing of started) await ('stop' in thing ? thing.stop() : thing.close());
});

async function setup(env: Record<string, string>): Promise<{ proxy: DrainProxy; upstream: TestUpstream }> {
  const upstream = await startUpstream();
  started.push(upstream);
  const proxy = await startDrainProxy(upstream.port, { env });
  started.push(proxy);
  return { proxy, upstream };
}

test('a 2 s request in flight at SIGTERM completes with 200 and Connection: close, then the process exits 0', async () => {
  const { proxy } = await setup({ DRAIN_DELAY: '300ms', DRAIN_TIMEOUT: '10s' });
  const client = await RawClient.connect(proxy.listenPort);
  client.write('GET /slow?ms=2000 HTTP/1.1\r\nHost: test\r\n\r\n');
  await sleep(200);
  const t0 = performance.now();
  proxy.signal('SIGTERM');
  const response = await client.response();
  const answeredAt = performance.now();
  assert.equal(response.status, 200);
  assert.equal(response.body, 'slow 2000\n');
  assert.equal(response.headers.connection, 'close');
  assert.ok(!response.head.toLowerCase().includes('keep-alive'), 'keep-alive hints are removed');
  const closed = await client.closed;
  assert.equal(closed.error, null, 'the connection ends with a FIN, not a reset');
  const exit = await proxy.exited;
  assert.equal(exit.code, 0);
  assert.ok(answeredAt - t0 > 1500, 'the request was not cut short');
  // Event-driven exit: well within a second of the last response, not at the deadline.
  assert.ok(proxy.exitedAt - answeredAt < 1000, `exited ${Math.round(proxy.exitedAt - answeredAt)} ms after the last response`);
  const summary = proxy.log('drain finished');
  assert.ok(summary, 'one summary line at exit');
  assert.equal(summary.exitCode, 0);
  assert.equal(summary.requestsCompleted, 1);
  assert.equal(summary.closedByHint, 1);
  assert.equal(summary.cut, 0);
  assert.equal(typeof summary.durationMs, 'number');
});

test('idle keep-alive connections: idle longer than DRAIN_IDLE_CLOSE closes at t0, a recent one gets Connection: close', async () => {
  const { proxy } = await setup({ DRAIN_DELAY: '2s', DRAIN_TIMEOUT: '10s', DRAIN_IDLE_CLOSE: '1s' });
  const longIdle = await RawClient.connect(proxy.listenPort);
  assert.equal((await longIdle.request('/first')).headers.connection, 'keep-alive');
  await sleep(1300);
  const recent = await RawClient.connect(proxy.listenPort);
  assert.equal((await recent.request('/first')).headers.connection, 'keep-alive');
  await sleep(100);
  const t0 = performance.now();
  proxy.signal('SIGTERM');
  const longClosed = await longIdle.closed;
  assert.ok(longClosed.at - t0 < 500, `idle-since-before-t0 closed ${Math.round(longClosed.at - t0)} ms after t0`);
  assert.equal(longClosed.error, null);
  await sleep(200);
  assert.equal(recent.isClosed, false, 'a connection idle for less than DRAIN_IDLE_CLOSE stays open');
  const next = await recent.request('/second');
  assert.equal(next.status, 200);
  assert.equal(next.headers.connection, 'close');
  await recent.closed;
  assert.equal((await proxy.exited).code, 0);
  const summary = proxy.log('drain finished')!;
  assert.equal(summary.closedByIdle, 1);
  assert.equal(summary.closedByHint, 1);
});

test('new connections are served during DRAIN_DELAY and refused after it', async () => {
  const { proxy } = await setup({ DRAIN_DELAY: '1s', DRAIN_TIMEOUT: '10s' });
  const holder = await RawClient.connect(proxy.listenPort);
  holder.write('GET /slow?ms=2500 HTTP/1.1\r\nHost: test\r\n\r\n');
  await sleep(100);
  proxy.signal('SIGTERM');
  await sleep(300);
  assert.equal((await proxy.admin('/readyz')).status, 503);
  const late = await RawClient.connect(proxy.listenPort);
  const response = await late.request('/during-delay');
  assert.equal(response.status, 200);
  assert.equal(response.headers.connection, 'close');
  await sleep(1000);
  assert.equal(await connectOutcome(proxy.listenPort), 'ECONNREFUSED');
  assert.equal((await holder.response()).status, 200);
  assert.equal((await proxy.exited).code, 0);
});

test('the deadline cuts a request that outlives it: counted, logged, exit code 3', async () => {
  const { proxy } = await setup({ DRAIN_DELAY: '200ms', DRAIN_TIMEOUT: '1s' });
  const client = await RawClient.connect(proxy.listenPort);
  client.write('GET /slow?ms=8000 HTTP/1.1\r\nHost: test\r\n\r\n');
  await sleep(100);
  // Drain by /drain so the process stays up after the deadline and its metrics can be read.
  const drained = await proxy.admin('/drain?wait=1', { method: 'POST' });
  assert.equal(drained.status, 200);
  const summary = (await drained.json()) as { cut: number; closed: Record<string, number> };
  assert.equal(summary.cut, 1);
  assert.equal(summary.closed.drain_deadline, 1);
  await client.closed;
  assert.equal(client.unread, '', 'nothing of a response was written for the cut request');
  const metrics = await (await proxy.admin('/metrics')).text();
  assert.match(metrics, /drain_proxy_connections_closed_total\{protocol="http1",reason="drain_deadline"\} 1/);
  assert.match(metrics, /drain_proxy_draining 1/);
  assert.match(metrics, /drain_proxy_drain_duration_seconds \d/);
  assert.ok(proxy.logs.some((line) => line.msg.includes('drain finished') && line.cut === 1));
  proxy.signal('SIGTERM');
  assert.equal((await proxy.exited).code, 3);
});

test('/readyz: not ready before the upstream answers, ready with it, draining after /drain', async () => {
  const upstream = await startUpstream();
  const port = upstream.port;
  await upstream.close();
  const proxy = await startDrainProxy(port, { wait: 'live', env: { DRAIN_DELAY: '200ms', DRAIN_TIMEOUT: '2s' } });
  started.push(proxy);
  let res = await proxy.admin('/readyz');
  assert.equal(res.status, 503);
  assert.equal(await res.text(), 'upstream not ready\n');
  assert.equal((await proxy.admin('/livez')).status, 200);
  const revived = await startUpstream(port);
  started.push(revived);
  await proxy.waitForReady(200);
  assert.match(await (await proxy.admin('/metrics')).text(), /drain_proxy_ready 1/);
  res = await proxy.admin('/drain', { method: 'POST' });
  assert.equal(res.status, 202);
  res = await proxy.admin('/readyz');
  assert.equal(res.status, 503);
  assert.equal(await res.text(), 'draining\n');
  assert.equal((await proxy.admin('/livez')).status, 200, 'alive while draining');
  const status = (await (await proxy.admin('/status')).json()) as { phase: string; ready: boolean };
  assert.equal(status.ready, false);
  assert.ok(['draining', 'closing', 'drained'].includes(status.phase));
  proxy.signal('SIGTERM');
  assert.equal((await proxy.exited).code, 0);
});

test('/drain?wait=1 answers only after the in-flight work is done; the process then waits for a signal', async () => {
  const { proxy } = await setup({ DRAIN_DELAY: '200ms', DRAIN_TIMEOUT: '10s' });
  const client = await RawClient.connect(proxy.listenPort);
  client.write('GET /slow?ms=1500 HTTP/1.1\r\nHost: test\r\n\r\n');
  await sleep(100);
  const asked = performance.now();
  const res = await proxy.admin('/drain?wait=1');
  const answered = performance.now();
  assert.equal(res.status, 200);
  const summary = (await res.json()) as { trigger: string; requestsCompleted: number; cut: number };
  assert.equal(summary.trigger, 'admin');
  assert.equal(summary.requestsCompleted, 1);
  assert.equal(summary.cut, 0);
  assert.ok(answered - asked > 1200, `answered after ${Math.round(answered - asked)} ms, before the slow request finished`);
  assert.equal((await client.response()).status, 200);
  await sleep(300);
  assert.equal(proxy.process.exitCode, null, 'a drain started by /drain alone leaves the process up');
  const status = (await (await proxy.admin('/status')).json()) as { phase: string };
  assert.equal(status.phase, 'drained');
  const signalled = performance.now();
  proxy.signal('SIGTERM');
  assert.equal((await proxy.exited).code, 0);
  assert.ok(proxy.exitedAt - signalled < 1000, 'a signal after the drain exits at once');
});

test('a repeated SIGTERM changes nothing; a second SIGINT cuts at once', async () => {
  const { proxy } = await setup({ DRAIN_DELAY: '200ms', DRAIN_TIMEOUT: '20s' });
  const client = await RawClient.connect(proxy.listenPort);
  client.write('GET /slow?ms=1200 HTTP/1.1\r\nHost: test\r\n\r\n');
  await sleep(100);
  proxy.signal('SIGTERM');
  await sleep(100);
  proxy.signal('SIGTERM');
  assert.equal((await client.response()).status, 200, 'the second SIGTERM did not cut the request');
  assert.equal((await proxy.exited).code, 0);

  const second = await setup({ DRAIN_DELAY: '200ms', DRAIN_TIMEOUT: '20s' });
  const stuck = await RawClient.connect(second.proxy.listenPort);
  stuck.write('GET /slow?ms=15000 HTTP/1.1\r\nHost: test\r\n\r\n');
  await sleep(100);
  second.proxy.signal('SIGINT');
  await sleep(300);
  assert.equal(second.proxy.process.exitCode, null, 'one Ctrl-C drains');
  const pressed = performance.now();
  second.proxy.signal('SIGINT');
  assert.equal((await second.proxy.exited).code, 3);
  assert.ok(second.proxy.exitedAt - pressed < 2000, 'Ctrl-C twice exits at once');
  await stuck.closed;
});
