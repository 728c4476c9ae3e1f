/**
 * UPSTREAM_PROTOCOL=h2c: each client stream becomes a stream on a shared
 * HTTP/2 session to the app, paired both ways:
 *
 *   client stream                      upstream stream
 *   HEADERS ─────────────────────────▶ HEADERS (hop-by-hop dropped, X-Forwarded-For)
 *   DATA ···· pump (flow control) ···▶ DATA
 *   trailers / END_STREAM ───────────▶ trailers / END_STREAM
 *   HEADERS ◀───────────────────────── HEADERS (END_STREAM kept: gRPC trailers-only)
 *   DATA ◀··· pump (flow control) ···· DATA
 *   trailers ◀──────────────────────── trailers (grpc-status, grpc-message), when the client
 *                                      takes them (te: trailers), announced or gRPC
 *   RST_STREAM ◀──────────────────────▶ RST_STREAM (the code carried over; to the client, mid-response,
 *                                      only where it waits for trailers, else CANCEL or INTERNAL_ERROR)
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
import { forwardsTrailers, fromH2Response, h2RequestHeaderList, h2ResponseHeaderList, type Forwarding } from './headers.ts';
import { failStream, resetStream, type ForwarderContext, type StreamForwarder } from './forwarder.ts';
import { pump } from './pump.ts';

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

  forward(client: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: readonly string[], forwarding: Forwarding | null): void {
    const ctx = this.#ctx;
    const upstream = this.#session();
    const endStream = client.endAfterHeaders;
    let up: ClientHttp2Stream;
    try {
      up = upstream.session.request(h2RequestHeaderList(rawHeaders, forwarding), { endStream, waitForTrailers: !endStream });
    } catch (err) {
      failStream(client, 'reset', ctx, err as NodeJS.ErrnoException);
      return;
    }
    pair(client, up, upstream, ctx, endStream, headers.te);
  }

  close(): void {
    this.#current?.session.close();
    this.#current = null;
  }
}

const kPair = Symbol('drain-proxy.h2c.pair');

/**
 * A client stream and its upstream stream: the state their listeners share.
 * The listeners are module-level functions that find it on the stream they
 * are called on (`this[kPair]`): no closures per stream.
 */
class StreamPair {
  readonly client: ServerHttp2Stream;
  readonly up: ClientHttp2Stream;
  readonly upstream: UpstreamSession;
  readonly ctx: ForwarderContext;
  /** The client's TE field: `trailers` says it takes the response's trailers. */
  readonly requestTe: string | string[] | undefined;
  requestTrailers: OutgoingHttpHeaders | undefined = undefined;
  responseTrailers: OutgoingHttpHeaders | undefined = undefined;
  responded = false;
  /** The client stream waits for the response's trailers (see `forwardsTrailers`). */
  forwardsTrailers = false;
  upError: NodeJS.ErrnoException | undefined = undefined;

  constructor(client: ServerHttp2Stream, up: ClientHttp2Stream, upstream: UpstreamSession, ctx: ForwarderContext, requestTe: string | string[] | undefined) {
    this.client = client;
    this.requestTe = requestTe;
    this.up = up;
    this.upstream = upstream;
    this.ctx = ctx;
  }
}

type Paired<Stream> = Stream & { [kPair]: StreamPair };

function pair(
  client: ServerHttp2Stream, up: ClientHttp2Stream, upstream: UpstreamSession, ctx: ForwarderContext, endStream: boolean, requestTe: string | string[] | undefined,
): void {
  const streams = new StreamPair(client, up, upstream, ctx, requestTe);
  (client as Paired<ServerHttp2Stream>)[kPair] = streams;
  (up as Paired<ClientHttp2Stream>)[kPair] = streams;
  up.on('error', upOnError);
  // ---- client to app ----
  if (!endStream) {
    client.on('trailers', clientOnTrailers);
    pump(client, up);
  }
  // ---- app to client ----
  up.on('response', upOnResponse);
  up.on('trailers', upOnTrailers);
  // ---- ends and resets, both ways ----
  up.on('close', upOnClose);
  client.on('close', clientOnClose);
}

function upOnError(this: Paired<ClientHttp2Stream>, err: NodeJS.ErrnoException): void {
  this[kPair].upError = err;
}

// A request's trailers are waited for on the app's leg whenever it has a body; a response's on the client's leg
// when `forwardsTrailers` says so. The `wantTrailers` listener that sends them is added only when some have come:
// without one, node:http2 ends the stream itself with an empty frame.

function clientOnTrailers(this: Paired<ServerHttp2Stream>, trailers: IncomingHttpHeaders): void {
  const streams = this[kPair];
  streams.requestTrailers = fromH2Response(trailers);
  streams.up.on('wantTrailers', upOnWantTrailers);
}

function upOnWantTrailers(this: Paired<ClientHttp2Stream>): void {
  try {
    this.sendTrailers(this[kPair].requestTrailers ?? {});
  } catch {
    // the stream went away meanwhile; its close handler deals with it
  }
}

function upOnResponse(this: Paired<ClientHttp2Stream>, headers: IncomingHttpHeaders, flags: number, rawHeaders: string[]): void {
  const streams = this[kPair];
  const { client } = streams;
  streams.responded = true;
  if (client.destroyed || client.closed) return;
  const end = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
  const waitForTrailers = !end && forwardsTrailers(streams.requestTe, headers.trailer, headers['content-type']);
  streams.forwardsTrailers = waitForTrailers;
  try {
    client.respond(h2ResponseHeaderList(rawHeaders), { endStream: end, waitForTrailers });
  } catch (err) {
    streams.ctx.logger.warn({ err: (err as Error).message }, 'upstream h2 response could not be forwarded');
    resetStream(client, constants.NGHTTP2_INTERNAL_ERROR);
    this.close(NGHTTP2_CANCEL);
    return;
  }
  if (end || client.writableEnded) {
    this.resume();
    return;
  }
  pump(this, client);
}

function upOnTrailers(this: Paired<ClientHttp2Stream>, trailers: IncomingHttpHeaders): void {
  const streams = this[kPair];
  if (!streams.forwardsTrailers) return; // not asked for: the client's stream ends with the last DATA frame
  streams.responseTrailers = fromH2Response(trailers);
  streams.client.on('wantTrailers', clientOnWantTrailers);
}

function clientOnWantTrailers(this: Paired<ServerHttp2Stream>): void {
  try {
    this.sendTrailers(this[kPair].responseTrailers ?? {});
  } catch {
    // reset meanwhile
  }
}

function upOnClose(this: Paired<ClientHttp2Stream>): void {
  const streams = this[kPair];
  const { client, upstream, ctx, responded, upError } = streams;
  const code = this.rstCode ?? NGHTTP2_NO_ERROR;
  if (client.destroyed || client.closed) return;
  if (!responded) {
    if (code === NGHTTP2_REFUSED_STREAM) {
      resetStream(client, NGHTTP2_REFUSED_STREAM);
      return;
    }
    const kind = upstream.connected ? 'reset' : upError?.code === 'ETIMEDOUT' ? 'connect_timeout' : 'connect_refused';
    failStream(client, kind, ctx, upError);
    return;
  }
  // A reset by the app, or a response cut short, reaches the client as a reset: with the app's code where the
  // stream waits for trailers (gRPC), CANCEL or INTERNAL_ERROR otherwise (see `resetStream`).
  if (code !== NGHTTP2_NO_ERROR || !this.readableEnded) {
    resetStream(client, code !== NGHTTP2_NO_ERROR ? code : constants.NGHTTP2_INTERNAL_ERROR, streams.forwardsTrailers);
  }
}

function clientOnClose(this: Paired<ServerHttp2Stream>): void {
  const { up } = this[kPair];
  if (up.destroyed || up.closed) return;
  const code = this.rstCode ?? NGHTTP2_NO_ERROR;
  up.close(code !== NGHTTP2_NO_ERROR ? code : NGHTTP2_CANCEL);
}
