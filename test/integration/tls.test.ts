/**
 * TLS termination on the real process (TLS_CERT_FILE, TLS_KEY_FILE), with
 * outside clients on loopback: curl over HTTP/1.1 and HTTP/2 (ALPN), nghttp,
 * openssl s_client for the served certificate and the versions refused, a
 * client offering no ALPN (an HTTP/1.1 client, its HTTP/2 preface refused); the
 * app sees `X-Forwarded-Proto: https` and the client's address. Handshakes
 * that fail or stall are closed and counted, with nothing reaching the app; a
 * connect-and-close is not counted. A Secret volume swap under a request loop
 * fails nothing and new handshakes get the new certificate. A missing or mismatched pair at startup is
 * one line naming the variable, exit 1.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request as httpsRequest } from 'node:https';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { commandExists, ensurePackage } from '../../harness/debian.ts';
import { type DrainProxy, startDrainProxy } from '../../harness/drain-proxy.ts';
import { metricValue } from '../../harness/metrics.ts';
import { run } from '../../harness/processes.ts';
import { ensureOpenssl, fingerprint, makeLeaf, type Pem, type SecretVolume, TlsFixture } from '../helpers/certificates.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { ensureNghttp, nghttp } from '../h2/client.ts';

const skip = ensureOpenssl() ?? ensurePackage('curl', () => commandExists('curl')) ?? ensureNghttp();

let fixture: TlsFixture | undefined;
let dir = '';
let caFile = '';
let ca: Pem;
let leaf: Pem;
let volume: SecretVolume;
let upstream: TestUpstream;
let proxy: DrainProxy;

before(async () => {
  if (skip) return;
  fixture = new TlsFixture();
  ({ dir, ca, caFile, leaf, volume } = fixture);
  upstream = await startUpstream();
  // HEADER_TIMEOUT is the handshake's timeout too: short, for the stalled handshake below.
  proxy = await startDrainProxy(upstream.port, { env: { ...fixture.env, HEADER_TIMEOUT: '1s' } });
});

after(async () => {
  await proxy?.stop();
  await upstream?.close();
  fixture?.remove();
});

const origin = (): string => `https://127.0.0.1:${proxy.listenPort}`;

function curl(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return run('curl', ['-sS', '--max-time', '5', '--cacert', caFile, ...args], { allowFailure: true, timeoutMs: 10_000 });
}

/** curl's answer to GET /headers: the request headers as the app got them, and the HTTP version curl used. */
async function curlHeaders(args: readonly string[]): Promise<{ headers: Record<string, string>; version: string }> {
  const answer = await curl([...args, '-w', '\n%{http_version}', `${origin()}/headers`]);
  assert.equal(answer.code, 0, answer.stderr);
  const [body, version] = answer.stdout.trimEnd().split('\n');
  return { headers: JSON.parse(body) as Record<string, string>, version };
}

function s_client(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return run('openssl', ['s_client', '-connect', `127.0.0.1:${proxy.listenPort}`, '-servername', 'localhost', '-CAfile', caFile, ...args], { allowFailure: true, timeoutMs: 10_000 });
}

async function refusals(): Promise<{ failed: number; timeout: number }> {
  const text = await proxy.metrics();
  const of = (reason: string): number => metricValue(text, `drain_proxy_connections_refused_total{reason="${reason}"}`) ?? 0;
  return { failed: of('tls_handshake_failed'), timeout: of('tls_handshake_timeout') };
}

/** Sends `bytes` over a TLS connection made without ALPN and resolves with everything received until the proxy closes. */
function withoutAlpn(bytes: Buffer | string, closeAfterMs: number): Promise<{ alpn: string | false | null; received: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: proxy.listenPort, ca: ca.cert, servername: 'localhost' });
    const chunks: Buffer[] = [];
    socket.once('secureConnect', () => {
      socket.write(bytes);
      setTimeout(() => socket.end(), closeAfterMs);
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('error', reject);
    socket.once('close', () => resolve({ alpn: socket.alpnProtocol, received: Buffer.concat(chunks) }));
  });
}

describe('TLS termination', { skip }, () => {
  test('curl over HTTP/1.1 and HTTP/2 (ALPN): the app sees X-Forwarded-Proto https and the client address', async () => {
    const http1 = await curlHeaders(['--http1.1']);
    assert.equal(http1.version, '1.1');
    assert.equal(http1.headers['x-forwarded-proto'], 'https');
    assert.equal(http1.headers['x-forwarded-for'], '127.0.0.1');
    const h2 = await curlHeaders(['--http2']);
    assert.equal(h2.version, '2');
    assert.equal(h2.headers['x-forwarded-proto'], 'https');
    assert.equal(h2.headers['x-forwarded-for'], '127.0.0.1');
    // From another loopback address, that address.
    const other = await curlHeaders(['--http2', '--interface', '127.0.0.7']);
    assert.equal(other.headers['x-forwarded-for'], '127.0.0.7');
  });

  test('nghttp over TLS: h2 by ALPN, the response and X-Forwarded-Proto https', async () => {
    const answer = await nghttp(['-v', `${origin()}/headers`]);
    assert.equal(answer.code, 0, answer.stderr + answer.stdout);
    assert.match(answer.stdout, /The negotiated protocol: h2/);
    assert.match(answer.stdout, /:status: 200/);
    assert.match(answer.stdout, /"x-forwarded-proto":"https"/);
  });

  test('openssl s_client: the served certificate and its chain; TLS 1.3 and 1.2 accepted, 1.1 refused', async () => {
    const modern = await s_client(['-alpn', 'h2,http/1.1']);
    assert.match(modern.stdout, /Verify return code: 0 \(ok\)/, modern.stdout);
    assert.match(modern.stdout, /Certificate chain\n 0 s:CN = localhost, O = served\n/);
    assert.match(modern.stdout, / 1 s:CN = drain-proxy test ca/);
    assert.match(modern.stdout, /ALPN protocol: h2/);
    assert.match(modern.stdout, /New, TLSv1\.3/);
    const served = await run('sh', ['-c', `openssl s_client -connect 127.0.0.1:${proxy.listenPort} -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256`]);
    assert.equal(served.stdout.trim().replace(/^sha256 Fingerprint=/i, ''), fingerprint(leaf));
    const tls12 = await s_client(['-tls1_2']);
    assert.match(tls12.stdout, /New, TLSv1\.2, Cipher is ECDHE-ECDSA-/, tls12.stdout);
    const before = (await refusals()).failed;
    const tls11 = await s_client(['-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0']);
    assert.notEqual(tls11.code, 0, tls11.stdout);
    assert.match(tls11.stdout + tls11.stderr, /alert protocol version/);
    assert.equal((await refusals()).failed, before + 1, 'the refused handshake is counted');
  });

  test('a client offering no ALPN: HTTP/1.1 told by its first bytes', async () => {
    const http1 = await withoutAlpn('GET /headers HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n', 3000);
    assert.equal(http1.alpn, false);
    const text = http1.received.toString('latin1');
    assert.match(text, /^HTTP\/1\.1 200 /);
    assert.match(text, /"x-forwarded-proto":"https"/);
  });

  test('a client offering no ALPN is an HTTP/1.1 client: an HTTP/2 preface gets HTTP/1.1 505, nothing reaches the app', async () => {
    const received = upstream.received.length;
    const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
    const h2 = await withoutAlpn(preface, 3000);
    assert.equal(h2.alpn, false);
    assert.match(h2.received.toString('latin1'), /^HTTP\/1\.1 505 [^]*X-Drain-Proxy-Error: DP_BAD_VERSION/);
    assert.equal(upstream.received.length, received);
  });

  test('plaintext HTTP to the TLS port: closed, counted as tls_handshake_failed, nothing reaches the app', async () => {
    const before = await refusals();
    const received = upstream.received.length;
    const client = await RawClient.connect(proxy.listenPort);
    client.write('GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n');
    await client.closed;
    assert.doesNotMatch(client.unread, /HTTP\/1\.1/, 'no HTTP answer');
    await sleep(100);
    assert.deepEqual(await refusals(), { failed: before.failed + 1, timeout: before.timeout });
    assert.equal(upstream.received.length, received);
    assert.ok(!upstream.received.includes('GET /plaintext'));
  });

  test('a handshake stalled after the start of a ClientHello: closed after HEADER_TIMEOUT, counted as tls_handshake_timeout', async () => {
    const before = await refusals();
    const client = await RawClient.connect(proxy.listenPort);
    const startedAt = performance.now();
    // A TLS record header and the first bytes of a ClientHello, then silence.
    client.write(Buffer.from([0x16, 0x03, 0x01, 0x01, 0x00, 0x01, 0x00, 0x00]));
    const closed = await client.closed;
    const ms = closed.at - startedAt;
    assert.ok(ms >= 900 && ms < 3000, `closed ${Math.round(ms)} ms after the stall (HEADER_TIMEOUT 1s)`);
    await sleep(100);
    assert.deepEqual(await refusals(), { failed: before.failed, timeout: before.timeout + 1 });
  });

  test('a connect-and-close (a load balancer\'s TCP check) is not counted', async () => {
    const before = await refusals();
    const client = await RawClient.connect(proxy.listenPort);
    const endedAt = performance.now();
    client.socket.end();
    const closed = await client.closed;
    assert.ok(closed.at - endedAt < 500, `closed ${Math.round(closed.at - endedAt)} ms after the client's FIN, not at HEADER_TIMEOUT (1 s)`);
    await sleep(100);
    assert.deepEqual(await refusals(), before);
  });
});

describe('certificate rotation under load', { skip }, () => {
  test('a Secret volume swap during a request loop: no failed request, new handshakes get the new certificate, an open connection keeps working', async () => {
    const next = makeLeaf(dir, 'rotated');
    const served = new Set<string>();
    let failures = 0;
    let requests = 0;
    // An open keep-alive connection from before the swap, used again after it.
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 1, ca: ca.cert, servername: 'localhost' });
    const get = (agent: Agent | false): Promise<{ status: number; fingerprint: string; socket: TLSSocket }> =>
      new Promise((resolve, reject) => {
        const req = httpsRequest({ host: '127.0.0.1', port: proxy.listenPort, path: '/rotation', ca: ca.cert, servername: 'localhost', agent }, (res) => {
          const socket = res.socket as TLSSocket;
          const peer = socket.getPeerX509Certificate();
          res.resume().on('end', () => resolve({ status: res.statusCode ?? 0, fingerprint: peer?.fingerprint256 ?? '', socket }));
        });
        req.on('error', reject).end();
      });
    const before = await get(keepAlive);
    assert.equal(before.fingerprint, fingerprint(leaf));
    // Four loops of fresh connections (a handshake each) for at most 3 s, bounded in count too.
    const endAt = performance.now() + 3000;
    let swappedAt = 0;
    let firstNewAt = 0;
    const loop = async (): Promise<void> => {
      for (let i = 0; i < 400 && performance.now() < endAt; i++) {
        try {
          const answer = await get(false);
          requests++;
          if (answer.status !== 200) failures++;
          served.add(answer.fingerprint);
          if (swappedAt > 0 && firstNewAt === 0 && answer.fingerprint === fingerprint(next)) firstNewAt = performance.now();
        } catch {
          failures++;
        }
      }
    };
    const loops = Promise.all([loop(), loop(), loop(), loop()]);
    await sleep(700);
    swappedAt = performance.now();
    volume.swap(next.cert, next.key);
    await loops;
    const afterSwap = await get(keepAlive);
    keepAlive.destroy();
    assert.equal(failures, 0, `${failures} of ${requests} requests failed`);
    assert.ok(requests >= 50, `${requests} requests made`);
    assert.deepEqual([...served].sort(), [fingerprint(leaf), fingerprint(next)].sort(), 'both certificates served, nothing else');
    assert.ok(firstNewAt > 0 && firstNewAt - swappedAt < 2000, `the new certificate served ${Math.round(firstNewAt - swappedAt)} ms after the swap`);
    assert.equal(afterSwap.status, 200);
    assert.equal(afterSwap.socket, before.socket, 'the connection from before the swap still open and used again');
  });
});

describe('TLS pair at startup', { skip }, () => {
  async function startWith(certFile: string, keyFile: string): Promise<DrainProxy> {
    const child = await startDrainProxy(upstream.port, { env: { TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile }, wait: 'none', name: 'drain-proxy bad pair' });
    await child.waitForExit(10_000);
    return child;
  }

  test('a missing certificate file: exit 1, one stderr line naming TLS_CERT_FILE', async () => {
    const child = await startWith(join(dir, 'missing.crt'), join(dir, 'served.key'));
    assert.equal(child.exitStatus?.code, 1);
    assert.equal(child.stderr, `drain-proxy: TLS_CERT_FILE=${join(dir, 'missing.crt')}: cannot read: ENOENT\n`);
  });

  test('a key that does not match the certificate: exit 1, one stderr line naming TLS_KEY_FILE', async () => {
    const child = await startWith(join(dir, 'served.crt'), join(dir, 'ca.key'));
    assert.equal(child.exitStatus?.code, 1);
    assert.match(child.stderr, /^drain-proxy: TLS_KEY_FILE=.*ca\.key: the key does not match the certificate in TLS_CERT_FILE=.*served\.crt\n$/);
  });
});
