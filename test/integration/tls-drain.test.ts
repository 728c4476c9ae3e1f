/**
 * The drain over TLS on the real process: an HTTP/1.1 request in flight at
 * SIGTERM is answered with `Connection: close`, an HTTP/2 session (ALPN h2)
 * gets GOAWAY and its open stream completes; the process exits 0.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as h2connect } from 'node:http2';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDrainProxy } from '../../harness/drain-proxy.ts';
import { ensureOpenssl, makeCa, makeLeaf, SecretVolume } from '../helpers/certificates.ts';
import { startUpstream } from '../helpers/upstream.ts';

const skip = ensureOpenssl();
const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const step of cleanup.reverse()) await step();
});

test('SIGTERM over TLS: HTTP/1.1 gets Connection: close, HTTP/2 gets GOAWAY and its open stream completes, exit 0', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tls-drain-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const ca = makeCa(dir);
  const volume = new SecretVolume(makeLeaf(dir, 'served'));
  cleanup.push(() => volume.remove());
  const upstream = await startUpstream();
  cleanup.push(() => upstream.close());
  const proxy = await startDrainProxy(upstream.port, { env: { TLS_CERT_FILE: volume.certFile, TLS_KEY_FILE: volume.keyFile, DRAIN_DELAY: '300ms', CLOSE_SPREAD: '500ms', DRAIN_TIMEOUT: '10s' } });
  cleanup.push(() => proxy.stop());

  const http1 = new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
    request({ host: '127.0.0.1', port: proxy.listenPort, path: '/slow?ms=1000', ca: ca.cert, servername: 'localhost', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (text: string) => (body += text));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }));
    }).on('error', reject).end();
  });
  const session = h2connect(`https://127.0.0.1:${proxy.listenPort}`, { ca: ca.cert, servername: 'localhost' });
  session.on('error', () => {});
  const goaway = new Promise<number>((resolve) => session.once('goaway', (code: number) => resolve(code)));
  const h2 = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const stream = session.request({ ':path': '/slow?ms=1500' });
    let status = 0;
    let body = '';
    stream.on('response', (headers) => (status = Number(headers[':status'])));
    stream.setEncoding('utf8').on('data', (text: string) => (body += text));
    stream.on('end', () => resolve({ status, body }));
    stream.on('error', reject);
  });
  await sleep(200);
  proxy.signal('SIGTERM');
  const [one, two, code] = await Promise.all([http1, h2, goaway]);
  assert.deepEqual(one, { status: 200, connection: 'close', body: 'slow 1000\n' });
  assert.deepEqual(two, { status: 200, body: 'slow 1500\n' });
  assert.equal(code, 0, 'GOAWAY with NO_ERROR');
  assert.equal(session.alpnProtocol, 'h2');
  assert.equal((await proxy.exited).code, 0);
  session.destroy();
});
