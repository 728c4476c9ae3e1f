/**
 * HTTP/1.1 connections to the app for requests that did not arrive over
 * HTTP/1.1 (HTTP/2 streams with UPSTREAM_PROTOCOL=http1): a pool of keep-alive
 * connections, one exchange at a time on each, responses delimited by the
 * same `ResponseFramer` the HTTP/1.1 path uses. No pipelining: an app that
 * closes a connection after a response would take the next request with it,
 * and a slow response would hold up the ones queued behind it.
 *
 * One connection's life:
 *
 *   CONNECTING ──connect──▶ BUSY ──response complete, request sent, keep-alive──▶ IDLE
 *                            ▲                                                     │
 *                            └───────────────────── acquire ◀──────────────────────┘
 *   any state ── error, connect timeout, the app's FIN or reset, a response that
 *                cannot be framed, a response that ends the connection ──▶ CLOSED
 *
 * The exchange (the request's owner) writes the request through the
 * connection and hears back through `Http1Exchange`: the response head, its
 * payload (de-chunked views of what the app sent), its trailers, its end, or
 * a failure. Idle connections are taken last-in first-out, so the ones
 * rarely used age out when the app closes idle connections.
 */
import { connect, type Socket } from 'node:net';
import type { UpstreamAddress } from '../config/index.ts';
import type { ErrorCode } from '../errors.ts';
import type { UpstreamErrorKind } from '../metrics/index.ts';
import { CONTINUE, ResponseFramer, STOP, type FramerLimits, type FramerSink, type Verdict } from '../http1/framer.ts';
import type { MessageHead } from '../http1/head.ts';

export interface Http1Exchange {
  /** The final response head (interim 1xx responses are not passed on). */
  responseHead(head: MessageHead): void;
  /** Payload bytes, de-chunked: a view of what the app sent. Returns false to stop reading until `resume()`. */
  responseBody(bytes: Buffer): boolean;
  /** A chunked response's trailer lines, as received. */
  responseTrailers(section: Buffer): void;
  responseEnd(): void;
  /**
   * The exchange failed (the connection is gone). `stale`: a kept-alive connection that the app
   * closed before a byte of the response came, the race every keep-alive client has: a request
   * that can be sent again may be, on a new connection.
   */
  failed(kind: UpstreamErrorKind, err: NodeJS.ErrnoException | undefined, stale: boolean): void;
  /** What was written has gone to the socket: a request body paused for backpressure may go on. */
  writable(): void;
}

export interface Http1PoolSettings {
  readonly upstream: UpstreamAddress;
  readonly connectTimeoutMs: number;
  readonly limits: FramerLimits;
}

/** Idle connections kept at most (node:http's Agent keeps 256 free sockets by default). */
const MAX_IDLE = 256;

const CONNECTING = 0;
const BUSY = 1;
const IDLE = 2;
const CLOSED = 3;
type ConnectionState = typeof CONNECTING | typeof BUSY | typeof IDLE | typeof CLOSED;

const LAST_CHUNK = '0\r\n\r\n';
const CRLF = '\r\n';

function timeoutError(): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error('connect timeout');
  err.code = 'ETIMEDOUT';
  return err;
}

const kConnection = Symbol('drain-proxy.http1-pool.connection');
type PooledSocket = Socket & { [kConnection]: UpstreamConnection };

/** One connection to the app; its socket's listeners are module-level functions finding it through `kConnection`. */
export class UpstreamConnection implements FramerSink {
  readonly #pool: Http1Pool;
  readonly socket: Socket;
  readonly #framer: ResponseFramer;
  #state: ConnectionState = CONNECTING;
  #exchange: Http1Exchange | null = null;
  #connectTimer: NodeJS.Timeout | undefined;
  /** Exchanges this connection has carried, the current one included. */
  #exchanges = 0;
  /** The current exchange: its request was written whole; a byte of its response came. */
  #requestSent = false;
  #responseStarted = false;
  #responseComplete = false;
  /** The current response ends the connection (Connection: close, HTTP/1.0, close-delimited). */
  #closeAfter = false;

  constructor(pool: Http1Pool, settings: Http1PoolSettings) {
    this.#pool = pool;
    const { host, port } = settings.upstream;
    const socket = connect({ host, port, noDelay: true });
    (socket as PooledSocket)[kConnection] = this;
    this.socket = socket;
    this.#framer = new ResponseFramer(this, settings.limits);
    this.#framer.bodyObserver = (chunk, start, end) => {
      if (this.#exchange?.responseBody(start === 0 && end === chunk.length ? chunk : chunk.subarray(start, end)) === false) socket.pause();
    };
    this.#connectTimer = setTimeout(socketOnConnectTimeout, settings.connectTimeoutMs, socket as PooledSocket);
    socket.once('connect', socketOnConnect);
    socket.on('data', socketOnData);
    socket.on('drain', socketOnDrain);
    socket.on('end', socketOnEnd);
    socket.on('error', socketOnError);
    socket.on('close', socketOnClose);
  }

  /** Carried an exchange before this one: closed before a byte of the response, it may have raced keep-alive. */
  get reused(): boolean {
    return this.#exchanges > 1;
  }

  /** Takes `exchange`'s request; `method` decides how the response is framed (HEAD has no body). */
  begin(exchange: Http1Exchange, method: string): void {
    if (this.#state === IDLE) this.#state = BUSY;
    this.#exchange = exchange;
    this.#exchanges++;
    this.#requestSent = false;
    this.#responseStarted = false;
    this.#responseComplete = false;
    this.#closeAfter = false;
    this.#framer.expect(method === 'HEAD' ? HEAD_REQUEST : OTHER_REQUEST);
  }

  /** Request bytes (a head as a latin1 string, or body bytes); false when the socket wants a `writable()` first. */
  write(data: string | Buffer): boolean {
    return typeof data === 'string' ? this.socket.write(data, 'latin1') : this.socket.write(data);
  }

  /** A piece of a chunked request body, framed as one chunk, in one write. */
  writeChunk(data: Buffer): boolean {
    const socket = this.socket;
    // An empty piece would be the last chunk: the rest of the body would be read as another request.
    if (data.length === 0) return !socket.writableNeedDrain;
    socket.cork();
    socket.write(`${data.length.toString(16)}\r\n`, 'latin1');
    socket.write(data);
    const flowing = socket.write(CRLF, 'latin1');
    socket.uncork();
    return flowing;
  }

  /** The request is whole: `last` is what ends it (the last chunk, with trailers), if anything. */
  endRequest(last?: string): void {
    if (last !== undefined) this.socket.write(last, 'latin1');
    this.#requestSent = true;
    if (this.#responseComplete) this.#release();
  }

  /** Ends a chunked request body with its last chunk, and trailer lines (each with its CRLF) if there are any. */
  endChunked(trailerLines = ''): void {
    this.endRequest(trailerLines === '' ? LAST_CHUNK : `0\r\n${trailerLines}\r\n`);
  }

  /** Reads the response again after `responseBody` returned false. */
  resume(): void {
    if (this.#state !== CLOSED) this.socket.resume();
  }

  /** The exchange is given up (its client went away): the connection cannot be reused mid-exchange. */
  abort(): void {
    this.#exchange = null;
    this.#close();
  }

  // ---- FramerSink: the response ----

  onHead(head: MessageHead): undefined {
    if (head.status < 200) return undefined; // interim (the framer refuses a 101 nobody asked for)
    this.#closeAfter = !head.keepAlive;
    this.#exchange?.responseHead(head);
    return undefined;
  }

  onData(): void {
    // The payload comes through the body observer, de-chunked; the framing bytes are not needed.
  }

  onTrailers(section: Buffer): void {
    this.#exchange?.responseTrailers(section);
  }

  onMessageComplete(head: MessageHead): Verdict {
    if (head.status < 200) return CONTINUE;
    this.#responseComplete = true;
    const exchange = this.#exchange;
    if (this.#closeAfter) {
      this.#exchange = null;
      exchange?.responseEnd();
      this.#close();
      return STOP;
    }
    // The app answered before it had the whole request (an early 413, say): what is left of the request would
    // be read as the next one, so the connection goes once the response is through.
    if (!this.#requestSent) {
      this.#exchange = null;
      exchange?.responseEnd();
      this.#close();
      return STOP;
    }
    this.#exchange = null;
    exchange?.responseEnd();
    this.#release();
    return CONTINUE;
  }

  onError(_code: ErrorCode): void {
    this.#fail('bad_response');
  }

  // ---- the socket ----

  connected(): void {
    clearTimeout(this.#connectTimer);
    if (this.#state === CONNECTING) this.#state = BUSY;
  }

  data(chunk: Buffer): void {
    if (this.#state !== BUSY) {
      // Bytes nobody asked for (from an idle connection, or after a response that ended it): not HTTP we can frame.
      this.#close();
      return;
    }
    this.#responseStarted = true;
    this.#framer.push(chunk);
  }

  drained(): void {
    this.#exchange?.writable();
  }

  /** The app closed its side: the end of a close-delimited response, an idle connection it closed, or a failure. */
  ended(): void {
    if (this.#state === IDLE) {
      this.#close();
      return;
    }
    if (this.#framer.end() && this.#responseComplete) return; // a close-delimited response just ended
    this.#fail(this.#responseStarted ? 'truncated' : 'reset');
  }

  errored(err: NodeJS.ErrnoException): void {
    const kind: UpstreamErrorKind = err.code === 'ETIMEDOUT' && this.#state === CONNECTING
      ? 'connect_timeout'
      : this.#state === CONNECTING ? 'connect_refused' : this.#responseStarted ? 'truncated' : 'reset';
    this.#fail(kind, err);
  }

  closed(): void {
    this.#fail(this.#responseStarted ? 'truncated' : 'reset');
  }

  connectTimedOut(): void {
    if (this.#state === CONNECTING) this.socket.destroy(timeoutError());
  }

  #fail(kind: UpstreamErrorKind, err?: NodeJS.ErrnoException): void {
    const exchange = this.#exchange;
    const stale = this.reused && !this.#responseStarted && kind === 'reset';
    this.#exchange = null;
    this.#close();
    exchange?.failed(kind, err, stale);
  }

  #release(): void {
    if (this.#state !== BUSY) return;
    this.#state = IDLE;
    // Paused for the last exchange's client, which the next exchange is not.
    if (this.socket.isPaused()) this.socket.resume();
    this.#pool.release(this);
  }

  #close(): void {
    if (this.#state === CLOSED) return;
    const wasIdle = this.#state === IDLE;
    this.#state = CLOSED;
    clearTimeout(this.#connectTimer);
    this.#framer.stop();
    this.socket.destroy();
    if (wasIdle) this.#pool.forget(this);
  }

  /** Closes an idle connection (the pool is full or closing). */
  closeIdle(): void {
    if (this.#state === IDLE) this.#close();
  }
}

/** What the response framer needs to know of the request it answers. */
const HEAD_REQUEST = { method: 'HEAD', upgrade: false };
const OTHER_REQUEST = { method: 'GET', upgrade: false };

function socketOnConnect(this: PooledSocket): void {
  this[kConnection].connected();
}

function socketOnData(this: PooledSocket, chunk: Buffer): void {
  this[kConnection].data(chunk);
}

function socketOnDrain(this: PooledSocket): void {
  this[kConnection].drained();
}

function socketOnEnd(this: PooledSocket): void {
  this[kConnection].ended();
}

function socketOnError(this: PooledSocket, err: NodeJS.ErrnoException): void {
  this[kConnection].errored(err);
}

function socketOnClose(this: PooledSocket): void {
  this[kConnection].closed();
}

function socketOnConnectTimeout(socket: PooledSocket): void {
  socket[kConnection].connectTimedOut();
}

export class Http1Pool {
  readonly #settings: Http1PoolSettings;
  /** Idle connections, the most recently used last. */
  readonly #idle: UpstreamConnection[] = [];
  #closed = false;

  constructor(settings: Http1PoolSettings) {
    this.#settings = settings;
  }

  /** Idle connections in the pool. */
  get idleCount(): number {
    return this.#idle.length;
  }

  /** A connection for `exchange`: the idle one used last, or a new one. */
  acquire(exchange: Http1Exchange, method: string, fresh = false): UpstreamConnection {
    const connection = (fresh ? undefined : this.#idle.pop()) ?? new UpstreamConnection(this, this.#settings);
    connection.begin(exchange, method);
    return connection;
  }

  release(connection: UpstreamConnection): void {
    if (this.#closed || this.#idle.length >= MAX_IDLE) {
      connection.closeIdle();
      return;
    }
    this.#idle.push(connection);
  }

  forget(connection: UpstreamConnection): void {
    const at = this.#idle.lastIndexOf(connection);
    if (at >= 0) this.#idle.splice(at, 1);
  }

  /** Closes the idle connections, and every one that becomes idle from now on (the process is ending). */
  close(): void {
    this.#closed = true;
    for (const connection of this.#idle.splice(0)) connection.closeIdle();
  }
}
