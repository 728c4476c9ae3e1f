/**
 * UPSTREAM_PROTOCOL=h2c: each client stream becomes a stream on a shared
 * HTTP/2 session to the app, paired both ways:
 *
 *   client stream                      upstream stream
 *   HEADERS ─────────────────────────▶ HEADERS (hop-by-hop dropped, X-Forwarded-For)
 *   DATA ···· pipe (flow control) ···▶ DATA
 *   trailers / END_STREAM ───────────▶ trailers / END_STREAM
 *   HEADERS ◀───────────────────────── HEADERS (END_STREAM kept: gRPC trailers-only)
 *   DATA ◀··· pipe (flow control) ···· DATA
 *   trailers ◀──────────────────────── trailers (grpc-status, grpc-message)
 *   RST_STREAM ◀──────────────────────▶ RST_STREAM (the code carried over)
 *
 * Backpressure is the streams' own: a paused reader stops consuming, so its
 * HTTP/2 flow-control window closes and the sender stops. One session serves
 * every stream; a new one is opened when it goes away (the app's GOAWAY, a
 * failure), and streams the app refused with REFUSED_STREAM are refused to the
 * client with the same code, which clients retry safely.
 */
import {
  connect,
  constants,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import { fromH2Response, h2RequestHeaders, type Forwarding } from './headers.ts';
import { failStream, type ForwarderContext, type StreamForwarder } from './forwarder.ts';

const { NGHTTP2_NO_ERROR, NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM, NGHTTP2_FLAG_END_STREAM } = constants;

class UpstreamSession {
  readonly session: ClientHttp2Session;
  connected = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(ctx: ForwarderContext, onGone: (session: UpstreamSession) => void) {
    const { host, port } = ctx.upstream;
    const session = connect(ctx.upstream.url, { host, port });
    this.session = session;
    this.#timer = setTimeout(() => {
      if (this.connected) return;
      const err: NodeJS.ErrnoException = new Error('connect timeout');
      err.code = 'ETIMEDOUT';
      session.destroy(err);
    }, ctx.connectTimeoutMs);
    session.once('connect', () => {
      clearTimeout(this.#timer);
      this.connected = true;
    });
    session.on('error', (err: NodeJS.ErrnoException) => {
      ctx.logger.debug({ code: err.code, err: err.message }, 'upstream h2 session failed');
    });
    session.once('goaway', () => onGone(this));
    session.once('close', () => {
      clearTimeout(this.#timer);
      onGone(this);
    });
    // An idle upstream session never keeps the process alive.
    session.unref();
  }

  get usable(): boolean {
    const { session } = this;
    return !session.closed && !session.destroyed;
  }
}

export class H2cForwarder implements StreamForwarder {
  readonly #ctx: ForwarderContext;
  #current: UpstreamSession | null = null;

  constructor(ctx: ForwarderContext) {
    this.#ctx = ctx;
  }

  #session(): UpstreamSession {
    const current = this.#current;
    if (current !== null && current.usable) return current;
    const created = new UpstreamSession(this.#ctx, this.#onSessionGone);
    this.#current = created;
    return created;
  }

  readonly #onSessionGone = (session: UpstreamSession): void => {
    if (this.#current === session) this.#current = null;
  };

  forward(client: ServerHttp2Stream, headers: IncomingHttpHeaders, forwarding: Forwarding | null): void {
    const ctx = this.#ctx;
    const upstream = this.#session();
    const endStream = client.endAfterHeaders;
    let up: ClientHttp2Stream;
    try {
      up = upstream.session.request(h2RequestHeaders(headers, forwarding), { endStream, waitForTrailers: !endStream });
    } catch (err) {
      failStream(client, 502, ctx, 'reset', err as NodeJS.ErrnoException);
      return;
    }
    pair(client, up, upstream, ctx, endStream);
  }

  close(): void {
    this.#current?.session.close();
    this.#current = null;
  }
}

function pair(client: ServerHttp2Stream, up: ClientHttp2Stream, upstream: UpstreamSession, ctx: ForwarderContext, endStream: boolean): void {
  let requestTrailers: OutgoingHttpHeaders | undefined;
  let responseTrailers: OutgoingHttpHeaders | undefined;
  let responded = false;
  let upError: NodeJS.ErrnoException | undefined;

  up.on('error', (err: NodeJS.ErrnoException) => (upError = err));
  client.on('error', () => {});

  // ---- client to app ----
  if (!endStream) {
    client.on('trailers', (trailers: IncomingHttpHeaders) => (requestTrailers = fromH2Response(trailers)));
    up.on('wantTrailers', () => {
      try {
        up.sendTrailers(requestTrailers ?? {});
      } catch {
        // the stream went away meanwhile; its close handler deals with it
      }
    });
    client.pipe(up);
  }

  // ---- app to client ----
  up.on('response', (headers: IncomingHttpHeaders, flags: number) => {
    responded = true;
    if (client.destroyed || client.closed) return;
    const end = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
    try {
      client.respond(fromH2Response(headers), { endStream: end, waitForTrailers: !end });
    } catch (err) {
      ctx.logger.warn({ err: (err as Error).message }, 'upstream h2 response could not be forwarded');
      client.close(constants.NGHTTP2_INTERNAL_ERROR);
      up.close(NGHTTP2_CANCEL);
      return;
    }
    if (end || client.writableEnded) {
      up.resume();
      return;
    }
    client.on('wantTrailers', () => {
      try {
        client.sendTrailers(responseTrailers ?? {});
      } catch {
        // reset meanwhile
      }
    });
    up.pipe(client);
  });
  up.on('trailers', (trailers: IncomingHttpHeaders) => (responseTrailers = fromH2Response(trailers)));

  // ---- ends and resets, both ways ----
  up.once('close', () => {
    const code = up.rstCode ?? NGHTTP2_NO_ERROR;
    if (client.destroyed || client.closed) return;
    if (!responded) {
      if (code === NGHTTP2_REFUSED_STREAM) {
        client.close(NGHTTP2_REFUSED_STREAM);
        return;
      }
      const kind = upstream.connected ? 'reset' : upError?.code === 'ETIMEDOUT' ? 'connect_timeout' : 'connect_refused';
      failStream(client, kind === 'connect_timeout' ? 504 : 502, ctx, kind, upError);
      return;
    }
    // A reset by the app, or a response cut short, reaches the client as a reset with the app's code.
    if (code !== NGHTTP2_NO_ERROR || !up.readableEnded) client.close(code !== NGHTTP2_NO_ERROR ? code : constants.NGHTTP2_INTERNAL_ERROR);
  });
  client.once('close', () => {
    if (up.destroyed || up.closed) return;
    const code = client.rstCode ?? NGHTTP2_NO_ERROR;
    up.close(code !== NGHTTP2_NO_ERROR ? code : NGHTTP2_CANCEL);
  });
}
