// The app of the soak (npm run soak), run as its own process: `node bench/soak-app.ts PORT`.
// One port speaks HTTP/1.1 (plain requests and WebSocket echo) and h2c with prior knowledge, told
// apart by the first bytes, so both UPSTREAM_PROTOCOL values can front the same app. Routes, on both:
//   /bytes?n=N   N bytes of 'x' (N at most 1 MiB)
//   /echo        the request body back
//   /slow?ms=M   answers after M ms (M at most 10 s)
//   anything else: 200 "ok"
// A WebSocket upgrade on any path gets an echo of every message.
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createH2Server, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { createServer as createNetServer, type Socket } from 'node:net';
import { WebSocketServer } from 'ws';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error('usage: node bench/soak-app.ts PORT');
  process.exit(2);
}

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const MAX_BYTES = 1024 * 1024;
const MAX_SLOW_MS = 10_000;

function handle(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://app');
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('error', () => {});
  res.on('error', () => {});
  req.on('end', () => {
    const reply = (body: Buffer | string): void => {
      // Both response types have this writeHead; TypeScript cannot call a union of overloads.
      (res as ServerResponse).writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(Buffer.byteLength(body)) });
      res.end(body);
    };
    switch (url.pathname) {
      case '/bytes':
        return reply(Buffer.alloc(Math.min(MAX_BYTES, Math.max(0, Number(url.searchParams.get('n') ?? 0) || 0)), 'x'));
      case '/echo':
        return reply(Buffer.concat(chunks));
      case '/slow': {
        const ms = Math.min(MAX_SLOW_MS, Math.max(0, Number(url.searchParams.get('ms') ?? 0) || 0));
        const timer = setTimeout(() => reply(`slow ${ms}\n`), ms);
        res.on('close', () => clearTimeout(timer));
        return;
      }
      default:
        return reply('ok\n');
    }
  });
}

const http1 = createHttpServer(handle);
http1.keepAliveTimeout = 60_000;
const h2 = createH2Server(handle);
h2.on('sessionError', () => {});
const wss = new WebSocketServer({ server: http1, perMessageDeflate: false, clientTracking: false });
wss.on('connection', (socket) => {
  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  socket.on('error', () => socket.terminate());
});

// Reads until the first bytes tell HTTP/2's preface from anything else, then hands the socket over
// with those bytes put back.
const sniffer = createNetServer({ pauseOnConnect: false }, (socket: Socket) => {
  let seen = Buffer.alloc(0);
  socket.on('error', () => socket.destroy());
  const onData = (chunk: Buffer): void => {
    seen = Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, PREFACE.length);
    const isH2 = seen.subarray(0, n).equals(PREFACE.subarray(0, n));
    if (isH2 && seen.length < PREFACE.length) return;
    socket.off('data', onData);
    socket.pause();
    socket.unshift(seen);
    // node:http2 takes the put-back bytes from the paused socket itself; node:http needs it flowing.
    if (isH2) {
      h2.emit('connection', socket);
    } else {
      http1.emit('connection', socket);
      socket.resume();
    }
  };
  socket.on('data', onData);
});
sniffer.listen({ host: '127.0.0.1', port, backlog: 1024 });
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => process.exit(0));
