/**
 * The bundled app of the demo, the rollout and the soak: a deliberately
 * "legacy" HTTP server of the kind drain-proxy is put in front of. It serves
 * quick and slow requests well enough, but it knows nothing about Kubernetes
 * termination (see the SIGTERM handler at the bottom). One file with `ws` as
 * its only package: the example chart runs it as it is.
 *
 *   PORT          port to listen on (default 8080)
 *   HOST          address to bind (default 127.0.0.1)
 *   POD_NAME      name put in responses and the X-Served-By header (default legacy-app)
 *   KEEPALIVE_MS  how long an idle HTTP/1.1 connection is kept (default 5000, Node's)
 *
 * Routes, over HTTP/1.1 and over cleartext HTTP/2 with prior knowledge (told
 * apart on the one port by the HTTP/2 preface):
 *   GET /                quick 200 text
 *   GET /slow?ms=2000    200 after the given delay (0..60000 ms)
 *   GET /healthz         200 "ok"
 *   GET /headers         the request as the app saw it (headers, peer address) as JSON
 *   GET /bytes?n=N       N bytes of 'x' (at most 1 MiB)
 *   ANY /echo            the request body back (at most 1 MiB)
 *   GET /events          server-sent events: `id: n` and `data: ...` every 200 ms, forever; resumes
 *                        after the Last-Event-ID header when there is one
 *   WebSocket /ws        echoes every message ("echo <message>") and sends "tick <n> from <pod>" every
 *                        200 ms; each close is logged to stdout as one JSON line
 *                        ({"msg":"websocket closed","code":...}) so the demo can tell what the app saw
 *   WebSocket /echo      every message back as it came, text or binary
 *
 * gRPC, over HTTP/2, service `drainproxy.demo.Demo` with JSON-encoded messages (gRPC's framing does not
 * require protobuf):
 *   Echo(EchoRequest) -> EchoReply                  { text } -> { text, pod }
 *   Ticks(TicksRequest) -> stream TickReply         { count, intervalMs } -> { seq, pod } every intervalMs
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

const port = Number(process.env.PORT || 8080);
const host = process.env.HOST || '127.0.0.1';
const podName = process.env.POD_NAME || 'legacy-app';

const MAX_SLOW_MS = 60_000;
const MAX_BODY_BYTES = 1 << 20;
const TICK_MS = 200;
const MAX_WS_MESSAGE_BYTES = 64 * 1024;

type Request = IncomingMessage | Http2ServerRequest;
/** The HTTP/1.1 type stands for both: they share writeHead, which TypeScript cannot call on a union of overloads. */
type Response = ServerResponse;
type RouteHandler = (req: Request, res: Response, url: URL) => void;

function sendText(res: Response, status: number, text: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'x-served-by': podName });
  res.end(text);
}

function sendJson(res: Response, status: number, value: unknown): void {
  sendText(res, status, `${JSON.stringify(value, null, 2)}\n`, 'application/json');
}

function sendBytes(res: Response, body: Buffer): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length, 'x-served-by': podName });
  res.end(body);
}

function describeRequest(req: Request): Record<string, unknown> {
  return {
    pod: podName,
    method: req.method,
    url: req.url,
    httpVersion: req.httpVersion,
    remoteAddress: req.socket.remoteAddress,
    remotePort: req.socket.remotePort,
    headers: req.headers,
  };
}

const routes: Record<string, RouteHandler> = {
  '/': (_req, res) => sendText(res, 200, `hello from ${podName}\n`),

  '/healthz': (_req, res) => sendText(res, 200, 'ok\n'),

  '/slow': (req, res, url) => {
    const ms = Number(url.searchParams.get('ms') ?? 2000);
    if (!Number.isInteger(ms) || ms < 0 || ms > MAX_SLOW_MS) {
      sendText(res, 400, `ms must be an integer between 0 and ${MAX_SLOW_MS}\n`);
      return;
    }
    const timer = setTimeout(() => sendText(res, 200, `slow ${ms}ms from ${podName}\n`), ms);
    // A client that gave up must not leave a timer writing to a dead socket.
    res.on('close', () => clearTimeout(timer));
  },

  '/headers': (req, res) => sendJson(res, 200, describeRequest(req)),

  '/events': (req, res) => {
    // Resume after the client's last event, as EventSource asks on reconnect.
    const lastId = Number(req.headers['last-event-id'] ?? 0);
    let id = Number.isSafeInteger(lastId) && lastId >= 0 ? lastId : 0;
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      'x-served-by': podName,
    });
    const send = (): void => {
      id += 1;
      // Field by field, as many SSE libraries write: an event spans several
      // chunks, so whoever ends the stream must find the blank line.
      res.write(`id: ${id}\n`);
      res.write(`data: event ${id} from ${podName}\n\n`);
    };
    send();
    const timer = setInterval(send, TICK_MS);
    res.on('close', () => clearInterval(timer));
  },

  '/bytes': (_req, res, url) => {
    sendBytes(res, Buffer.alloc(Math.min(MAX_BODY_BYTES, Math.max(0, Number(url.searchParams.get('n')) || 0)), 'x'));
  },

  '/echo': (req, res) => readBody(req, res, (body) => sendBytes(res, body)),
};

/** Calls `then` with the whole request body; a body over MAX_BODY_BYTES gets 413. */
function readBody(req: Request, res: Response, then: (body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      sendText(res, 413, `body larger than ${MAX_BODY_BYTES} bytes\n`);
      req.destroy();
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (!res.headersSent) then(Buffer.concat(chunks));
  });
}

function handle(req: Request, res: Response): void {
  req.on('error', () => {});
  res.on('error', () => {});
  const url = new URL(req.url ?? '/', 'http://app');
  if (url.pathname.startsWith(GRPC_SERVICE) && req.httpVersionMajor === 2) {
    grpc(req, res, url.pathname.slice(GRPC_SERVICE.length));
    return;
  }
  const handler = routes[url.pathname];
  if (handler === undefined) {
    sendText(res, 404, `no route ${url.pathname}\n`);
    return;
  }
  if (url.pathname !== '/echo' && req.method !== 'GET' && req.method !== 'HEAD') {
    sendText(res, 405, `${req.method} not allowed on ${url.pathname}\n`);
    return;
  }
  handler(req, res, url);
}

const server = http.createServer(handle);
server.keepAliveTimeout = Number(process.env.KEEPALIVE_MS || 5000);

const webSockets = new WebSocketServer({ noServer: true, maxPayload: MAX_WS_MESSAGE_BYTES });
const echoes = new WebSocketServer({ noServer: true, maxPayload: MAX_WS_MESSAGE_BYTES, clientTracking: false });

echoes.on('connection', (socket: WebSocket) => {
  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  socket.on('error', () => socket.terminate());
});

webSockets.on('connection', (socket: WebSocket) => {
  let ticks = 0;
  const timer = setInterval(() => {
    ticks += 1;
    socket.send(`tick ${ticks} from ${podName}`);
  }, TICK_MS);
  socket.on('message', (data, isBinary) => {
    socket.send(isBinary ? data : `echo ${data.toString()}`, { binary: isBinary });
  });
  socket.on('error', () => {
    // 'close' follows with the code the connection ended with.
  });
  socket.on('close', (code, reason) => {
    clearInterval(timer);
    console.log(JSON.stringify({ msg: 'websocket closed', pod: podName, code, reason: reason.toString(), ticks }));
  });
});

server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
  const path = new URL(req.url ?? '/', 'http://app').pathname;
  const wss = path === '/ws' ? webSockets : path === '/echo' ? echoes : undefined;
  if (wss === undefined) {
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
});

const GRPC_SERVICE = '/drainproxy.demo.Demo/';
const MAX_TICKS = 1000;

const GRPC_HEADERS = { 'content-type': 'application/grpc' };

/** One gRPC length-prefixed message (uncompressed). */
function grpcMessage(value: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(value));
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(body.length, 1);
  return Buffer.concat([prefix, body]);
}

function grpcEnd(res: Response, status: number, message = ''): void {
  const { stream } = res as unknown as Http2ServerResponse;
  if (res.writableEnded || stream.destroyed || stream.closed) return;
  if (!res.headersSent) res.writeHead(200, GRPC_HEADERS);
  res.addTrailers({ 'grpc-status': String(status), 'grpc-message': encodeURIComponent(message) });
  res.end();
}

const grpcMethods: Record<string, (res: Response, request: Record<string, unknown>) => void> = {
  Echo: (res, request) => {
    res.writeHead(200, GRPC_HEADERS);
    res.write(grpcMessage({ text: String(request.text ?? ''), pod: podName }));
    grpcEnd(res, 0);
  },
  Ticks: (res, request) => {
    const count = Number(request.count ?? 5);
    const intervalMs = Number(request.intervalMs ?? TICK_MS);
    if (!Number.isInteger(count) || count < 1 || count > MAX_TICKS || !Number.isInteger(intervalMs) || intervalMs < 1 || intervalMs > MAX_SLOW_MS) {
      grpcEnd(res, 3, `count must be 1..${MAX_TICKS} and intervalMs 1..${MAX_SLOW_MS}`); // INVALID_ARGUMENT
      return;
    }
    res.writeHead(200, GRPC_HEADERS);
    let seq = 0;
    const timer = setInterval(() => {
      res.write(grpcMessage({ seq: ++seq, pod: podName }));
      if (seq === count) {
        clearInterval(timer);
        grpcEnd(res, 0);
      }
    }, intervalMs);
    res.on('close', () => clearInterval(timer));
  },
};

function grpc(req: Request, res: Response, name: string): void {
  const method = grpcMethods[name];
  if (method === undefined) {
    grpcEnd(res, 12, `unknown method ${GRPC_SERVICE}${name}`); // UNIMPLEMENTED
    return;
  }
  readBody(req, res, (body) => {
    let request: Record<string, unknown>;
    try {
      if (body.length < 5 || body[0] !== 0 || body.readUInt32BE(1) !== body.length - 5) throw new Error('one uncompressed message expected');
      request = JSON.parse(body.subarray(5).toString('utf8')) as Record<string, unknown>;
    } catch (err) {
      grpcEnd(res, 3, (err as Error).message);
      return;
    }
    method(res, request);
  });
}

const h2Server = http2.createServer(handle as unknown as (req: Http2ServerRequest, res: Http2ServerResponse) => void);
h2Server.on('sessionError', () => {});

const PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';

/** HTTP/1.1 and cleartext HTTP/2 on one port: read until the first bytes tell them apart, then hand the socket over with them put back. */
const front = net.createServer((socket) => {
  let seen = '';
  const onData = (chunk: Buffer): void => {
    seen += chunk.toString('latin1');
    const h2 = seen.startsWith(PREFACE) || PREFACE.startsWith(seen);
    // A preface may arrive split.
    if (h2 && seen.length < PREFACE.length) return;
    socket.off('data', onData);
    socket.pause();
    socket.unshift(Buffer.from(seen, 'latin1'));
    (h2 ? h2Server : server).emit('connection', socket);
    process.nextTick(() => socket.resume());
  };
  socket.on('data', onData);
  socket.on('error', () => {
    // The server the connection went to reports on it; before that there is nothing to do.
  });
});

front.on('error', (err) => {
  console.error(`${podName}: ${err.message}`);
  process.exit(1);
});

front.listen(port, host, () => {
  console.log(`${podName} listening on http://${host}:${port}`);
});

// Legacy behaviour, on purpose: this models the apps drain-proxy exists for.
// On SIGTERM it exits at once, without closing its listener gracefully or
// finishing in-flight requests, so a client mid-request sees a reset, a
// client still routed here (endpoint removal lags behind the SIGTERM) sees
// "connection refused", and WebSocket and event-stream clients are cut with no
// close frame (1006) or mid-stream. Do not "fix" this: the demo compares
// exactly this app with and without drain-proxy in front.
process.on('SIGTERM', () => process.exit(0));
