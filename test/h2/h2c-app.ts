/**
 * A real h2c app (node:http2, cleartext, prior knowledge) for the proxy to
 * front with UPSTREAM_PROTOCOL=h2c. Routes:
 *   /echo     the request body back, with trailers x-bytes and x-sha256
 *   /request-trailers  once the request has ended: its body's length and its trailers, as JSON
 *   /trailers a body, then trailers grpc-status 7 and grpc-message
 *   /hold     headers, one chunk, then nothing until the client goes
 *   /slow?ms  answers after ms
 *   /reset    RST_STREAM ENHANCE_YOUR_CALM right after the headers
 *   anything else: 200 "h2c <path>" with the request's x-forwarded-for and -proto echoed in headers
 * Every stream's close code is recorded by path.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { constants, createServer, type Http2Server, type ServerHttp2Stream } from 'node:http2';

export interface H2cApp {
  readonly server: Http2Server;
  readonly port: number;
  /** path -> rstCode of each closed stream, in order. */
  readonly closes: Array<{ path: string; rstCode: number }>;
  readonly held: Set<ServerHttp2Stream>;
  close(): Promise<void>;
}

export async function startH2cApp(): Promise<H2cApp> {
  const server = createServer();
  const closes: H2cApp['closes'] = [];
  const held = new Set<ServerHttp2Stream>();
  const sessions = new Set<import('node:http2').ServerHttp2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
  });
  server.on('stream', (stream, headers) => {
    const url = new URL(String(headers[':path']), 'http://app');
    stream.on('error', () => {});
    stream.once('close', () => closes.push({ path: url.pathname, rstCode: stream.rstCode ?? 0 }));
    switch (url.pathname) {
      case '/echo': {
        const hash = createHash('sha256');
        let bytes = 0;
        stream.respond({ ':status': 200, 'content-type': 'application/octet-stream' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'x-bytes': String(bytes), 'x-sha256': hash.digest('hex') }));
        stream.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          hash.update(chunk);
          if (!stream.write(chunk)) stream.pause();
        });
        stream.on('drain', () => stream.resume());
        stream.on('end', () => stream.end());
        return;
      }
      case '/request-trailers': {
        let bytes = 0;
        let trailers = {};
        stream.on('data', (chunk: Buffer) => (bytes += chunk.length));
        stream.on('trailers', (received) => (trailers = received));
        stream.on('end', () => {
          stream.respond({ ':status': 200, 'content-type': 'application/json' });
          stream.end(JSON.stringify({ bytes, trailers }));
        });
        return;
      }
      case '/trailers':
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '7', 'grpc-message': 'denied%20here', 'x-extra': 'kept' }));
        stream.end('body');
        return;
      case '/hold':
        held.add(stream);
        stream.once('close', () => held.delete(stream));
        stream.respond({ ':status': 200 });
        stream.write('first');
        return;
      case '/slow': {
        const timer = setTimeout(() => {
          if (stream.closed) return;
          stream.respond({ ':status': 200 });
          stream.end(`slow ${url.searchParams.get('ms')}`);
        }, Number(url.searchParams.get('ms') ?? 1000));
        stream.once('close', () => clearTimeout(timer));
        stream.resume();
        return;
      }
      case '/reset':
        // waitForTrailers keeps END_STREAM back, so close() resets an open stream instead of ending it first.
        stream.respond({ ':status': 200 }, { waitForTrailers: true });
        stream.write('x', () => stream.close(constants.NGHTTP2_ENHANCE_YOUR_CALM));
        return;
      default:
        stream.resume();
        stream.respond({
          ':status': 200,
          'content-type': 'text/plain',
          'x-seen-xff': String(headers['x-forwarded-for'] ?? ''),
          'x-seen-xfp': String(headers['x-forwarded-proto'] ?? ''),
        });
        stream.end(`h2c ${url.pathname}`);
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  return {
    server,
    port: typeof address === 'object' && address !== null ? address.port : 0,
    closes,
    held,
    close: () =>
      new Promise((resolve) => {
        for (const session of sessions) session.destroy();
        server.close(() => resolve());
      }),
  };
}
