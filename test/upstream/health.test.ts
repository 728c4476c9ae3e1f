import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { once } from 'node:events';
import { UpstreamHealth } from '../../src/upstream/health.ts';
import { freePort } from '../../harness/ports.ts';

test('tcp: healthy once something accepts, unhealthy when it stops', async () => {
  const server = createTcpServer((socket) => socket.destroy());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const health = new UpstreamHealth({ host: '127.0.0.1', port, url: '' }, { kind: 'tcp' }, 100);
  assert.equal(health.healthy, false, 'not healthy before the first check');
  health.start();
  await once(health, 'change');
  assert.equal(health.healthy, true);
  server.close();
  await once(health, 'change');
  assert.equal(health.healthy, false);
  health.stop();
});

test('http: 2xx and 3xx are healthy, 5xx is not; checkNow does not wait for the interval', async () => {
  let status = 503;
  const server = createServer((req, res) => {
    assert.equal(req.url, '/healthz');
    res.writeHead(status).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const health = new UpstreamHealth({ host: '127.0.0.1', port, url: '' }, { kind: 'http', path: '/healthz' }, 60_000);
  health.start();
  while (health.checks === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(health.healthy, false);
  status = 302;
  health.checkNow();
  await once(health, 'change');
  assert.equal(health.healthy, true);
  status = 500;
  health.checkNow();
  await once(health, 'change');
  assert.equal(health.healthy, false);
  health.stop();
  server.close();
});

test('nothing listening: unhealthy, and checks keep running', async () => {
  const health = new UpstreamHealth({ host: '127.0.0.1', port: await freePort(), url: '' }, { kind: 'tcp' }, 50);
  health.start();
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(health.healthy, false);
  assert.ok(health.checks >= 3, `${health.checks} checks`);
  health.stop();
});
