/**
 * The PROXY protocol against real peers on loopback. The parser against real
 * senders: HAProxy from Debian (`send-proxy-v2`, with and without TLVs, its
 * LOCAL health checks, and `send-proxy` for version 1) and curl's
 * `--haproxy-protocol` (version 1), also in front of TLS. A small app feeds
 * what it receives to the parser and answers with the header it parsed and
 * the payload bytes after it; every check asserts the addresses the sender
 * saw (the client's own address and port), which differ from the app's
 * socket peer wherever HAProxy relays. The writer against a real receiver:
 * HAProxy's `accept-proxy` answers with the addresses it took from the header.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { eventually } from '../../harness/http.ts';
import { ensureHaproxy, startHaproxy } from '../../harness/haproxy.ts';
import { freePorts } from '../../harness/ports.ts';
import { run, stopAll, type Child } from '../../harness/processes.ts';
import { createServer as createHttp2Server } from 'node:http2';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import pino from 'pino';
import { type ProxyHeader, ProxyHeaderParser } from '../../src/listeners/proxy-protocol.ts';
import { writeProxyV2 } from '../helpers/proxy-v2.ts';
import { ALPN_PROTOCOLS, TlsCredentials } from '../../src/listeners/tls-credentials.ts';
import { ensureOpenssl, makeCa, makeLeaf } from '../helpers/certificates.ts';

const skip = ensureHaproxy() ?? ensureOpenssl();

interface Seen {
  readonly header: ProxyHeader | null;
  readonly refused: string | null;
  readonly socketPeer: string;
  readonly payload: string;
}

/** Every connection the app saw, in order (HAProxy's health checks included). */
const seen: Seen[] = [];
let app: Server;
let appPort = 0;
/** The same app on ::1, for curl over IPv6. */
let appSix: Server;
let appSixPort = 0;
let haproxy: Child | undefined;
let dir = '';
/** Frontend ports: v2 over IPv4, v2 over IPv6, v2 with TLVs, v1 over IPv4, v1 over IPv6; then the app's port for health checks. */
let ports: number[] = [];

function onAppConnection(socket: Socket): void {
  const parser = new ProxyHeaderParser();
  let header: ProxyHeader | null = null;
  let payload = Buffer.alloc(0);
  const record = (refused: string | null): void => {
    seen.push({ header, refused, socketPeer: socket.remoteAddress ?? '', payload: payload.toString('latin1') });
  };
  socket.on('data', (chunk: Buffer) => {
    if (header === null) {
      const result = parser.feed(chunk);
      if (result.kind === 'need-more') return;
      if (result.kind === 'refused') {
        record(result.reason);
        socket.destroy();
        return;
      }
      header = result.header;
      chunk = chunk.subarray(result.offset);
    }
    payload = Buffer.concat([payload, chunk]);
    if (!payload.includes('\r\n\r\n')) return;
    record(null);
    const body = JSON.stringify({ header, socketPeer: socket.remoteAddress, socketPeerPort: socket.remotePort, payload: payload.toString('latin1') });
    socket.end(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });
  socket.on('end', () => socket.end());
  socket.on('error', () => socket.destroy());
  // A health check: a header, then the sender closes (HAProxy's checks reset rather than end).
  socket.on('close', () => {
    if (header !== null && payload.length === 0) record(null);
  });
}

/**
 * PROXY header first, then TLS on the same socket, as the front door will
 * run them: the parser reads the first chunks, the bytes after the header
 * (the start of the ClientHello) are put back with `unshift`, and the socket
 * goes to a tls.Server that does not listen (`emit('connection')`), which
 * takes buffered bytes first. (A bare `new TLSSocket(socket, { isServer })`
 * handed to node:http2 after its handshake hangs on Node 24.21: no stream.)
 */
function onTlsAppConnection(socket: Socket): void {
  const parser = new ProxyHeaderParser();
  const onData = (chunk: Buffer): void => {
    const result = parser.feed(chunk);
    if (result.kind === 'need-more') return;
    socket.off('data', onData);
    socket.pause();
    if (result.kind === 'refused') {
      socket.destroy();
      return;
    }
    if (result.offset < chunk.length) socket.unshift(chunk.subarray(result.offset));
    headers.set(`${socket.remoteAddress} ${socket.remotePort}`, result.header);
    tlsFront.emit('connection', socket);
  };
  socket.on('data', onData);
  socket.on('error', () => socket.destroy());
}

/** The PROXY header of each TCP socket handed to the TLS server, by its peer address and port (which its TLSSocket shows too). */
const headers = new Map<string, ProxyHeader>();

function onSecureConnection(secure: TLSSocket): void {
  const peer = `${secure.remoteAddress} ${secure.remotePort}`;
  const header = headers.get(peer);
  headers.delete(peer);
  secure.on('error', () => secure.destroy());
  const answer = (payload: string): string =>
    JSON.stringify({ header, socketPeer: secure.remoteAddress, socketPeerPort: secure.remotePort, payload, alpn: secure.alpnProtocol });
  if (secure.alpnProtocol === 'h2') {
    h2App.once('stream', (stream, head) => {
      stream.respond({ ':status': 200 });
      stream.end(answer(`${head[':method']} ${head[':path']} h2`));
    });
    h2App.emit('connection', secure);
    return;
  }
  let request = '';
  secure.on('data', (bytes: Buffer) => {
    request += bytes.toString('latin1');
    if (!request.includes('\r\n\r\n')) return;
    const body = answer(request);
    secure.end(`HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });
}

/** HTTP/2 sessions over the TLS sockets that chose h2. */
const h2App = createHttp2Server();
let credentials: TlsCredentials;
let tlsFront: TlsServer;
let tlsApp: Server;
let tlsAppPort = 0;

before(async () => {
  if (skip) return;
  app = createServer({ allowHalfOpen: true }, onAppConnection);
  app.listen(0, '127.0.0.1');
  await once(app, 'listening');
  appPort = (app.address() as { port: number }).port;
  appSix = createServer({ allowHalfOpen: true }, onAppConnection);
  appSix.listen(0, '::1');
  await once(appSix, 'listening');
  appSixPort = (appSix.address() as { port: number }).port;
  ports = await freePorts(7);
  dir = mkdtempSync(join(tmpdir(), 'haproxy-pp-'));
  makeCa(dir);
  const leaf = makeLeaf(dir, 'leaf');
  writeFileSync(join(dir, 'tls.crt'), leaf.cert);
  writeFileSync(join(dir, 'tls.key'), leaf.key);
  credentials = TlsCredentials.load({ certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), logger: pino({ level: 'silent' }) });
  tlsFront = createTlsServer({ ...credentials.current.options, SNICallback: credentials.SNICallback, ALPNProtocols: [...ALPN_PROTOCOLS] }, onSecureConnection);
  tlsApp = createServer(onTlsAppConnection);
  tlsApp.listen(0, '127.0.0.1');
  await once(tlsApp, 'listening');
  tlsAppPort = (tlsApp.address() as { port: number }).port;
  const frontend = (name: string, bind: string, server: string, more = ''): string => `
frontend ${name}
  bind ${bind}${more}
  default_backend ${name}
backend ${name}
  server app 127.0.0.1:${appPort} ${server}
`;
  const config = `global
  maxconn 200
defaults
  mode tcp
  timeout connect 2s
  timeout client 10s
  timeout server 10s
${frontend('v2', `127.0.0.1:${ports[0]}`, 'send-proxy-v2 check inter 300ms')}
${frontend('v2six', `[::1]:${ports[1]}`, 'send-proxy-v2')}
${frontend('v2tlv', `127.0.0.1:${ports[2]}`, 'send-proxy-v2 proxy-v2-options crc32c,unique-id', '\n  unique-id-format %{+X}o%ci:%cp_%fi:%fp')}
${frontend('v1', `127.0.0.1:${ports[3]}`, 'send-proxy')}
${frontend('v1six', `[::1]:${ports[4]}`, 'send-proxy')}
frontend tls
  bind 127.0.0.1:${ports[5]}
  default_backend tls
backend tls
  server app 127.0.0.1:${tlsAppPort} send-proxy-v2
frontend receiver
  mode http
  bind 127.0.0.1:${ports[6]} accept-proxy
  http-request return status 200 content-type text/plain lf-string "%[src] %[src_port] %[dst] %[dst_port]"
`;
  haproxy = await startHaproxy('haproxy', dir, config);
  // Ready once its health check reached the app (a LOCAL header).
  assert.ok(await eventually(() => seen.some((s) => s.header?.command === 'local'), 10_000), `HAProxy's health check never arrived: ${haproxy.stderr}`);
});

after(async () => {
  await stopAll();
  app?.close();
  appSix?.close();
  tlsApp?.close();
  h2App.close();
  credentials?.close();
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

interface Answer {
  readonly header: ProxyHeader;
  readonly socketPeer: string;
  readonly socketPeerPort: number;
  readonly payload: string;
  readonly localAddress: string;
  readonly localPort: number;
}

/** A raw HTTP request to `host:port` from `localAddress`; resolves with the app's answer and the client's own address. */
async function request(host: string, port: number, localAddress: string): Promise<Answer> {
  const socket = connect({ host, port, localAddress });
  await once(socket, 'connect');
  const local = { localAddress: socket.localAddress ?? '', localPort: socket.localPort ?? 0 };
  socket.end('GET /through HTTP/1.1\r\nHost: app\r\n\r\n');
  const chunks: Buffer[] = [];
  for await (const chunk of socket) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('latin1');
  const body = text.slice(text.indexOf('\r\n\r\n') + 4);
  assert.match(text, /^HTTP\/1\.1 200 OK/, text);
  return { ...(JSON.parse(body) as Omit<Answer, 'localAddress' | 'localPort'>), ...local };
}

test('HAProxy send-proxy-v2, IPv4: PROXY over TCP4 with the client\'s address and port, the request bytes after it', { skip }, async () => {
  const answer = await request('127.0.0.1', ports[0], '127.0.0.2');
  assert.deepEqual(answer.header, {
    version: 2,
    command: 'proxy',
    family: 'inet',
    transport: 'stream',
    source: { address: '127.0.0.2', port: answer.localPort },
    destination: { address: '127.0.0.1', port: ports[0] },
    length: 28,
  });
  assert.equal(answer.socketPeer, '127.0.0.1', 'the app\'s own socket sees HAProxy');
  assert.equal(answer.payload, 'GET /through HTTP/1.1\r\nHost: app\r\n\r\n');
});

test('HAProxy send-proxy-v2, IPv6: PROXY over TCP6', { skip }, async () => {
  const answer = await request('::1', ports[1], '::1');
  assert.deepEqual(answer.header, {
    version: 2,
    command: 'proxy',
    family: 'inet6',
    transport: 'stream',
    source: { address: '::1', port: answer.localPort },
    destination: { address: '::1', port: ports[1] },
    length: 52,
  });
  assert.equal(answer.payload, 'GET /through HTTP/1.1\r\nHost: app\r\n\r\n');
});

test('HAProxy send-proxy-v2 with CRC32C and unique-ID TLVs: the TLVs are skipped, the addresses and payload intact', { skip }, async () => {
  const answer = await request('127.0.0.1', ports[2], '127.0.0.3');
  assert.deepEqual(answer.header.source, { address: '127.0.0.3', port: answer.localPort });
  assert.deepEqual(answer.header.destination, { address: '127.0.0.1', port: ports[2] });
  // 28 bytes of addresses, a CRC32C TLV (3 + 4) and a unique ID TLV (3 + the ID, in hex: 7F000003:ABCD_7F000001:ABCD).
  assert.equal(answer.header.length, 28 + 7 + 3 + 27);
  assert.equal(answer.payload, 'GET /through HTTP/1.1\r\nHost: app\r\n\r\n');
});

test('HAProxy health checks with send-proxy-v2: LOCAL, no addresses, nothing after it', { skip }, () => {
  const checks = seen.filter((s) => s.header?.command === 'local');
  assert.ok(checks.length >= 1);
  for (const check of checks) {
    assert.equal(check.header?.version, 2);
    assert.equal(check.header?.source, null);
    assert.equal(check.refused, null);
    assert.equal(check.payload, '');
  }
});

test('HAProxy send-proxy (version 1), IPv4 and IPv6: TCP4 and TCP6 lines with the client\'s address and port', { skip }, async () => {
  const four = await request('127.0.0.1', ports[3], '127.0.0.4');
  assert.equal(four.header.version, 1);
  assert.equal(four.header.family, 'inet');
  assert.deepEqual(four.header.source, { address: '127.0.0.4', port: four.localPort });
  assert.deepEqual(four.header.destination, { address: '127.0.0.1', port: ports[3] });
  assert.equal(four.header.length, `PROXY TCP4 127.0.0.4 127.0.0.1 ${four.localPort} ${ports[3]}\r\n`.length);
  assert.equal(four.payload, 'GET /through HTTP/1.1\r\nHost: app\r\n\r\n');
  const six = await request('::1', ports[4], '::1');
  assert.equal(six.header.family, 'inet6');
  assert.deepEqual(six.header.source, { address: '::1', port: six.localPort });
  assert.deepEqual(six.header.destination, { address: '::1', port: ports[4] });
});

test('curl --haproxy-protocol (version 1) straight to the app, IPv4 and IPv6: its own address and port, as the socket shows them', { skip }, async () => {
  const four = JSON.parse((await run('curl', ['-sS', '--max-time', '5', '--haproxy-protocol', '--interface', '127.0.0.5', `http://127.0.0.1:${appPort}/curl`])).stdout) as Answer;
  assert.equal(four.header.version, 1);
  assert.equal(four.header.family, 'inet');
  assert.deepEqual(four.header.source, { address: '127.0.0.5', port: four.socketPeerPort });
  assert.deepEqual(four.header.destination, { address: '127.0.0.1', port: appPort });
  assert.equal(four.socketPeer, '127.0.0.5', 'curl is the direct peer: the header and the socket agree');
  assert.match(four.payload, /^GET \/curl HTTP\/1\.1\r\n/);
  const six = JSON.parse((await run('curl', ['-sS', '--max-time', '5', '--haproxy-protocol', '-g', `http://[::1]:${appSixPort}/curl`])).stdout) as Answer;
  assert.equal(six.header.family, 'inet6');
  assert.deepEqual(six.header.source, { address: '::1', port: six.socketPeerPort });
  assert.deepEqual(six.header.destination, { address: '::1', port: appSixPort });
});

test('PROXY then TLS on one socket: curl --haproxy-protocol over https (ALPN h2 and http/1.1), and HAProxy send-proxy-v2 in front of TLS', { skip }, async () => {
  const ca = join(dir, 'ca.crt');
  for (const [flag, alpn] of [['--http1.1', 'http/1.1'], ['--http2', 'h2']] as const) {
    const answer = JSON.parse(
      (await run('curl', ['-sS', '--max-time', '5', flag, '--cacert', ca, '--haproxy-protocol', '--interface', '127.0.0.6', `https://localhost:${tlsAppPort}/tls`])).stdout,
    ) as Answer & { alpn: string };
    assert.equal(answer.alpn, alpn);
    assert.deepEqual(answer.header.source, { address: '127.0.0.6', port: answer.socketPeerPort });
    assert.deepEqual(answer.header.destination, { address: '127.0.0.1', port: tlsAppPort });
    assert.match(answer.payload, alpn === 'h2' ? /^GET \/tls h2$/ : /^GET \/tls HTTP\/1\.1\r\n/);
  }
  const relayed = JSON.parse(
    (await run('curl', ['-sS', '--max-time', '5', '--http1.1', '--cacert', ca, '--interface', '127.0.0.7', '--resolve', `localhost:${ports[5]}:127.0.0.1`, `https://localhost:${ports[5]}/relayed`])).stdout,
  ) as Answer & { alpn: string };
  assert.equal(relayed.header.version, 2);
  assert.equal(relayed.header.source?.address, '127.0.0.7');
  assert.equal(relayed.socketPeer, '127.0.0.1');
  assert.match(relayed.payload, /^GET \/relayed HTTP\/1\.1\r\n/);
});

/** Sends `header` and a request to HAProxy's accept-proxy frontend; resolves with what HAProxy says the connection's addresses are, and the client's port. */
async function receiverSaw(header: Buffer): Promise<{ saw: string; localPort: number }> {
  const socket = connect({ host: '127.0.0.1', port: ports[6] });
  await once(socket, 'connect');
  const localPort = socket.localPort ?? 0;
  socket.end(Buffer.concat([header, Buffer.from('GET / HTTP/1.1\r\nHost: haproxy\r\nConnection: close\r\n\r\n')]));
  const chunks: Buffer[] = [];
  for await (const chunk of socket) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('latin1');
  assert.match(text, /^HTTP\/1\.1 200/, text);
  return { saw: text.slice(text.indexOf('\r\n\r\n') + 4), localPort };
}

test('writeProxyV2 to HAProxy accept-proxy: TCP4, TCP6, IPv4 beside IPv6 (IPv4-mapped), and LOCAL (the socket\'s own addresses)', { skip }, async () => {
  const endpoint = (address: string, port: number) => ({ address, port });
  const four = await receiverSaw(writeProxyV2({ command: 'proxy', source: endpoint('203.0.113.9', 4242), destination: endpoint('198.51.100.1', 443) }));
  assert.equal(four.saw, '203.0.113.9 4242 198.51.100.1 443');
  const six = await receiverSaw(writeProxyV2({ command: 'proxy', source: endpoint('2001:db8::9', 65535), destination: endpoint('2001:db8::1', 8443) }));
  assert.equal(six.saw, '2001:db8::9 65535 2001:db8::1 8443');
  const mixed = await receiverSaw(writeProxyV2({ command: 'proxy', source: endpoint('192.0.2.7', 1), destination: endpoint('::1', 80) }));
  assert.equal(mixed.saw, '::ffff:192.0.2.7 1 ::1 80');
  const local = await receiverSaw(writeProxyV2({ command: 'local' }));
  assert.equal(local.saw, `127.0.0.1 ${local.localPort} 127.0.0.1 ${ports[6]}`);
});

test('no header from a real sender was refused', { skip }, () => {
  assert.ok(seen.length >= 7, `${seen.length} connections`);
  assert.deepEqual(seen.filter((s) => s.refused !== null), []);
});
