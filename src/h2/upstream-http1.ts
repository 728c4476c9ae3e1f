/**
 * UPSTREAM_PROTOCOL=http1: each client HTTP/2 stream becomes one HTTP/1.1
 * exchange on a pooled keep-alive connection to the app (`Http1Pool`), the
 * response delimited by the HTTP/1.1 path's own `ResponseFramer`:
 *
 *   client stream                         HTTP/1.1 to the app
 *   HEADERS ────────────────────────────▶ request line and fields (hop-by-hop dropped, Host, X-Forwarded-*)
 *   DATA ······ backpressure ···········▶ body: as sent (Content-Length) or chunked
 *   trailers, END_STREAM ───────────────▶ last chunk with the trailers (chunked), or the body's end
 *   HEADERS ◀──────────────────────────── status line and fields (hop-by-hop and Connection-named dropped)
 *   DATA ◀····· backpressure ············ body, de-chunked
 *   trailers ◀─────────────────────────── a chunked body's trailers, when the client takes them
 *                                         (te: trailers), they are announced or gRPC
 *   RST_STREAM ─────────────────────────▶ the connection closed: the app sees its request aborted
 *   RST_STREAM(INTERNAL_ERROR) ◀───────── a response cut short (the app closed or reset mid-body)
 *
 * A failure before the response head answers the stream with the status
 * src/errors.ts gives it (502, or 504 for a connect timeout). A request sent
 * on a kept-alive connection that the app closed before answering (the
 * keep-alive race) is sent again once on a new connection when it had no body.
 * Listeners on the client stream are module-level functions that find the
 * exchange through `kExchange`: no closures per stream.
 */
import { constants, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { errors, type ErrorCode } from '../errors.ts';
import type { FramerLimits } from '../http1/framer.ts';
import { BODY_CHUNKED as RESPONSE_CHUNKED, BODY_NONE, type MessageHead } from '../http1/head.ts';
import type { UpstreamErrorKind } from '../metrics/index.ts';
import { Http1Pool, type Http1Exchange, type UpstreamConnection } from '../upstream/http1-pool.ts';
import { BODY_CHUNKED, fieldValue, forwardsTrailers, h2ResponseHeaders, h2Trailers, http1RequestHead, requestBodyFraming, type Forwarding } from './headers.ts';
import { failStream, resetStream, type ForwarderContext, type StreamForwarder } from './forwarder.ts';

const { NGHTTP2_NO_ERROR, NGHTTP2_INTERNAL_ERROR } = constants;

export class Http1Forwarder implements StreamForwarder {
  readonly #ctx: ForwarderContext;
  readonly #pool: Http1Pool;

  constructor(ctx: ForwarderContext, limits: FramerLimits) {
    this.#ctx = ctx;
    this.#pool = new Http1Pool({ upstream: ctx.upstream, connectTimeoutMs: ctx.connectTimeoutMs, limits });
  }

  forward(client: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: readonly string[], forwarding: Forwarding | null): void {
    const ctx = this.#ctx;
    const method = headers[':method'] as string;
    if (method === 'CONNECT') {
      refuse(client, ctx, 'DP_CONNECT_REFUSED');
      return;
    }
    const hasBody = !client.endAfterHeaders;
    const framing = requestBodyFraming(method, hasBody, headers['content-length']);
    const head = http1RequestHead(rawHeaders, forwarding, framing);
    if (head === undefined) {
      refuse(client, ctx, 'DP_BAD_HEADER');
      return;
    }
    new StreamExchange(client, ctx, this.#pool, method, head, hasBody, framing === BODY_CHUNKED, headers.te);
  }

  close(): void {
    this.#pool.close();
  }
}

function refuse(client: ServerHttp2Stream, ctx: ForwarderContext, code: ErrorCode): void {
  ctx.metrics.requestRejected(code);
  client.respond({ ':status': errors[code].status, 'content-length': 0 }, { endStream: true });
}

const kExchange = Symbol('drain-proxy.h2.http1-exchange');
type Exchanging = ServerHttp2Stream & { [kExchange]: StreamExchange };

/** One client stream and the HTTP/1.1 exchange it became. */
class StreamExchange implements Http1Exchange {
  readonly #client: ServerHttp2Stream;
  readonly #ctx: ForwarderContext;
  readonly #pool: Http1Pool;
  readonly #method: string;
  /** The request head, kept to send again after a keep-alive race (requests without a body only). */
  readonly #head: string;
  readonly #hasBody: boolean;
  /** The request body goes chunked (no Content-Length came with it). */
  readonly chunked: boolean;
  /** Null once the exchange is over: answered, failed, or given up. */
  connection: UpstreamConnection | null;
  #retried = false;
  #responded = false;
  #drainWatched = false;
  /** The client stream waits for the response's trailers (see `forwardsTrailers`). */
  #forwardsTrailers = false;
  #trailers: OutgoingHttpHeaders | null = null;
  /** Trailer lines (CRLF each) for a chunked request body's last chunk. */
  requestTrailers = '';
  /** The client's TE field: `trailers` says it takes the response's trailers. */
  readonly #requestTe: string | string[] | undefined;

  constructor(
    client: ServerHttp2Stream, ctx: ForwarderContext, pool: Http1Pool, method: string, head: string, hasBody: boolean, chunked: boolean,
    requestTe: string | string[] | undefined,
  ) {
    this.#client = client;
    this.#requestTe = requestTe;
    this.#ctx = ctx;
    this.#pool = pool;
    this.#method = method;
    this.#head = head;
    this.#hasBody = hasBody;
    this.chunked = chunked;
    (client as Exchanging)[kExchange] = this;
    client.on('close', clientOnClose);
    const connection = pool.acquire(this, method);
    this.connection = connection;
    connection.write(head);
    if (!hasBody) {
      connection.endRequest();
      return;
    }
    client.on('data', clientOnData);
    client.on('end', clientOnEnd);
    if (chunked) client.on('trailers', clientOnTrailers);
  }

  // ---- Http1Exchange: what the app answers ----

  responseHead(head: MessageHead): void {
    const client = this.#client;
    if (client.closed || client.destroyed || client.headersSent) {
      // Answered meanwhile (UPSTREAM_RESPONSE_TIMEOUT): the stream's close gives the exchange up.
      return;
    }
    this.#responded = true;
    const end = head.body === BODY_NONE;
    const headers = h2ResponseHeaders(head);
    // Only a chunked body can end in trailers.
    this.#forwardsTrailers = head.body === RESPONSE_CHUNKED
      && forwardsTrailers(this.#requestTe, fieldValue(headers, 'trailer'), fieldValue(headers, 'content-type'));
    try {
      client.respond(headers, { endStream: end, waitForTrailers: this.#forwardsTrailers });
    } catch (err) {
      this.#ctx.logger.warn({ err: (err as Error).message }, 'upstream response could not be forwarded over h2');
      this.#giveUp();
      resetStream(client, NGHTTP2_INTERNAL_ERROR);
    }
  }

  responseBody(bytes: Buffer): boolean {
    const client = this.#client;
    if (client.writableEnded) return true; // HEAD, 204, 304: no body goes to the client
    if (client.write(bytes)) return true;
    // The client's window is full: the app's connection stops being read until the stream drains.
    if (!this.#drainWatched) {
      this.#drainWatched = true;
      client.on('drain', clientOnDrain);
    }
    return false;
  }

  /** The client stream took what was written: read the app's response again. */
  drained(): void {
    this.connection?.resume();
  }

  responseTrailers(section: Buffer): void {
    if (this.#forwardsTrailers) this.#trailers = h2Trailers(section);
  }

  responseEnd(): void {
    this.connection = null;
    const client = this.#client;
    if (client.closed || client.destroyed) return;
    if (this.#trailers !== null) client.on('wantTrailers', clientOnWantTrailers);
    if (!client.writableEnded) client.end();
    // Answered before the whole request came: the client may stop sending (RST_STREAM NO_ERROR once the answer is out).
    if (this.#hasBody && !client.readableEnded) client.close(NGHTTP2_NO_ERROR);
  }

  failed(kind: UpstreamErrorKind, err: NodeJS.ErrnoException | undefined, stale: boolean): void {
    this.connection = null;
    const client = this.#client;
    if (client.closed || client.destroyed) return;
    if (stale && !this.#hasBody && !this.#retried) {
      this.#retried = true;
      const connection = this.#pool.acquire(this, this.#method, true);
      this.connection = connection;
      connection.write(this.#head);
      connection.endRequest();
      return;
    }
    if (this.#responded) {
      // Part of the response went out: the client must see it cut, not complete.
      this.#ctx.metrics.upstreamError('truncated');
      this.#ctx.logger.warn({ kind: 'truncated', code: err?.code, protocol: 'h2' }, 'upstream request failed');
      resetStream(client, NGHTTP2_INTERNAL_ERROR);
      return;
    }
    failStream(client, kind, this.#ctx, err);
  }

  writable(): void {
    if (this.#client.isPaused()) this.#client.resume();
  }

  get trailers(): OutgoingHttpHeaders {
    return this.#trailers ?? {};
  }

  /** The client is gone or answered otherwise: the app's side goes (a connection cannot be reused mid-exchange). */
  #giveUp(): void {
    const connection = this.connection;
    this.connection = null;
    connection?.abort();
  }

  clientClosed(): void {
    this.#giveUp();
  }
}

function clientOnData(this: Exchanging, chunk: Buffer): void {
  const exchange = this[kExchange];
  const connection = exchange.connection;
  if (connection === null) return;
  if (!(exchange.chunked ? connection.writeChunk(chunk) : connection.write(chunk))) this.pause();
}

function clientOnTrailers(this: Exchanging, trailers: IncomingHttpHeaders): void {
  this[kExchange].requestTrailers = http1TrailerLines(trailers);
}

function clientOnEnd(this: Exchanging): void {
  const exchange = this[kExchange];
  const connection = exchange.connection;
  if (connection === null) return;
  if (exchange.chunked) connection.endChunked(exchange.requestTrailers);
  else connection.endRequest();
}

function clientOnWantTrailers(this: Exchanging): void {
  try {
    this.sendTrailers(this[kExchange].trailers);
  } catch {
    // reset meanwhile
  }
}

function clientOnDrain(this: Exchanging): void {
  this[kExchange].drained();
}

function clientOnClose(this: Exchanging): void {
  this[kExchange].clientClosed();
}

const TRAILER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** HTTP/2 request trailers as the field lines of a last chunk: pseudo-headers, hop-by-hop and unwritable ones left out. */
function http1TrailerLines(trailers: IncomingHttpHeaders): string {
  let lines = '';
  for (const name of Object.keys(trailers)) {
    if (name.charCodeAt(0) === 0x3a || name === 'content-length' || name === 'transfer-encoding' || name === 'connection') continue;
    const value = trailers[name];
    for (const item of Array.isArray(value) ? value : [String(value)]) if (TRAILER_VALUE.test(item)) lines += `${name}: ${item}\r\n`;
  }
  return lines;
}
