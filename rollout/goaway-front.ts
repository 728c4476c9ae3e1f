/**
 * Baseline for the reconnect measurement: an HTTP/2 front (cleartext, prior
 * knowledge) that drains its sessions the way most HTTP/2 proxies do, and
 * the way drain-proxy did before its close window covered HTTP/2: on SIGTERM
 * readiness fails and every session gets the two-phase GOAWAY (2^31-1 and a
 * PING, then the real last stream id) at once, while the listener stays open
 * for DRAIN_DELAY because endpoint removal is still propagating; a session
 * opened meanwhile is served and gets its GOAWAY with its first stream. Then
 * the listener closes, and the process exits once its sessions are gone (or
 * at DRAIN_TIMEOUT). Streams go to the app over one h2c session, trailers
 * included (gRPC).
 *
 *   LISTEN_HOST, LISTEN_PORT   the front (the pod's gRPC port)
 *   ADMIN_PORT                 GET /readyz on LISTEN_HOST: 200, or 503 once draining
 *   UPSTREAM_PORT              the app on LISTEN_HOST (h2c)
 *   DRAIN_DELAY_MS, DRAIN_TIMEOUT_MS
 */
import http from 'node:http';
import http2, { constants, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';

const host = process.env.LISTEN_HOST ?? '127.0.0.1';
const port = Number(process.env.LISTEN_PORT);
const adminPort = Number(process.env.ADMIN_PORT);
const upstreamPort = Number(process.env.UPSTREAM_PORT);
const drainDelayMs = Number(process.env.DRAIN_DELAY_MS ?? 3000);
const drainTimeoutMs = Number(process.env.DRAIN_TIMEOUT_MS ?? 13_000);
const MAX_STREAM_ID = 2 ** 31 - 1;

let draining = false;
const sessions = new Set<ServerHttp2Session>();
let app = http2.connect(`http://${host}:${upstreamPort}`);
app.on('error', () => {});

function appSession(): http2.ClientHttp2Session {
  if (app.closed || app.destroyed) {
    app = http2.connect(`http://${host}:${upstreamPort}`);
    app.on('error', () => {});
  }
  return app;
}

/** The two-phase GOAWAY: 2^31-1 and a PING, then (on its ACK, or after 1 s) close(), which sends the real last stream id. */
function goaway(session: Http2Session): void {
  if (session.closed || session.destroyed) return;
  session.goaway(constants.NGHTTP2_NO_ERROR, MAX_STREAM_ID);
  const close = (): void => {
    if (!session.closed && !session.destroyed) session.close();
  };
  const timer = setTimeout(close, 1000);
  setImmediate(() => {
    if (session.closed || session.destroyed) return;
    session.ping(() => {
      clearTimeout(timer);
      close();
    });
  });
}

function forward(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  const request: http2.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) request[name] = value;
  const upstream = appSession().request(request);
  let trailers: IncomingHttpHeaders = {};
  upstream.on('response', (head) => {
    const response: http2.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(head)) if (value !== undefined) response[name] = value;
    if (!stream.destroyed) stream.respond(response, { waitForTrailers: true });
  });
  upstream.on('trailers', (received) => (trailers = received));
  stream.on('wantTrailers', () => {
    const out: http2.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(trailers)) if (value !== undefined && !name.startsWith(':')) out[name] = value;
    stream.sendTrailers(out);
  });
  upstream.on('error', () => {
    if (!stream.destroyed) stream.close(constants.NGHTTP2_INTERNAL_ERROR);
  });
  stream.on('error', () => {});
  stream.on('close', () => {
    if (!upstream.closed) upstream.close(constants.NGHTTP2_CANCEL);
  });
  stream.pipe(upstream);
  upstream.pipe(stream);
}

const server = http2.createServer();
server.on('session', (session) => {
  sessions.add(session);
  session.on('error', () => {});
  session.on('close', () => {
    sessions.delete(session);
    if (draining && sessions.size === 0 && !server.listening) process.exit(0);
  });
});
server.on('stream', (stream, headers) => {
  forward(stream, headers);
  // A session opened during the drain is served, its first stream carrying the hint.
  if (draining) goaway(stream.session!);
});
server.listen(port, host);

const admin = http.createServer((req, res) => {
  res.writeHead(draining ? 503 : 200, { 'content-type': 'text/plain' });
  res.end(draining ? 'draining\n' : 'ok\n');
});
admin.listen(adminPort, host);

process.on('SIGTERM', () => {
  if (draining) return;
  draining = true;
  for (const session of sessions) goaway(session);
  setTimeout(() => {
    server.close();
    if (sessions.size === 0) process.exit(0);
  }, drainDelayMs);
  setTimeout(() => process.exit(3), drainTimeoutMs).unref();
});
