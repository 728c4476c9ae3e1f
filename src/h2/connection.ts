/**
 * HTTP/2 client sessions on the public port (h2c, handed over by the
 * sniffer) and what a drain means for them.
 *
 * Drain (the controller only says when it started), per session:
 *
 *   t0 ── GOAWAY(last-stream-id 2^31-1, NO_ERROR) + PING ──▶ client
 *          "stop opening streams"; streams already on the wire still count
 *   PING ACK (or 1 s) ── GOAWAY(last-stream-id = last stream seen) ──▶ client
 *          streams above it are never processed: the client's stack fails
 *          them as refused (REFUSED_STREAM), which clients retry safely
 *   last stream ends ── the session closes (drain_hint)
 *   deadline ── open streams RST_STREAM(CANCEL), GOAWAY(NO_ERROR), closed (drain_deadline)
 *
 * A session with no stream open at t0 gets its GOAWAY once idle for
 * DRAIN_IDLE_CLOSE (one idle longer, at once: drain_idle), or with its next
 * stream: a session opened during DRAIN_DELAY is served, its first stream
 * carrying the hint, as an HTTP/1.1 response carries `Connection: close`.
 * (A GOAWAY sent as soon as a new session opens would send clients such as
 * grpc-js reconnecting in a loop, every call refused.)
 *
 * The first GOAWAY cannot carry the real last stream id: a stream the client
 * sent before reading it would be dropped for no reason. The PING's ACK
 * proves the client has read the first GOAWAY, so nothing it opens after that
 * is in flight (what Envoy, nghttp2 and the h2 crate do). node:http2's
 * `goaway(code, lastStreamID)` sends a GOAWAY without closing, and nghttp2
 * never raises a last-stream-id once sent; `session.close()` then sends the
 * final one with the last stream id nghttp2 processed, lets the open streams
 * finish, and destroys the session after the last one. nghttp2 ignores
 * streams above that id (RFC 9113 §6.8); Node answers REFUSED_STREAM to any
 * that still reaches it.
 */
import { constants, createServer, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { Logger } from '../log/index.ts';
import type { CloseReason, ConnectionRegistry, Protocol, TrackedConnection } from '../listeners/registry.ts';
import { peerAddress } from '../listeners/address.ts';
import type { Metrics } from '../metrics/index.ts';
import type { TrustedProxies } from '../config/trusted-proxies.ts';
import { timeOutStream, type StreamForwarder } from './forwarder.ts';
import { headerListTooLarge, type Forwarding } from './headers.ts';
import { errors } from '../errors.ts';

/** Largest stream id: the first GOAWAY of a graceful shutdown (RFC 9113 §6.8). */
export const MAX_STREAM_ID = 2 ** 31 - 1;
/** Longest wait for the PING ACK before the final GOAWAY. */
export const GOAWAY_PING_TIMEOUT_MS = 1000;

export interface H2Settings {
  readonly keepAliveTimeoutMs: number;
  /** UPSTREAM_RESPONSE_TIMEOUT; 0 is off. */
  readonly responseTimeoutMs: number;
  readonly drainIdleCloseMs: number;
  readonly forwardedHeaders: boolean;
  readonly trustedProxies: TrustedProxies;
  readonly accessLog: boolean;
  /** MAX_HEADER_SIZE and MAX_HEADER_COUNT, as for HTTP/1.1. */
  readonly maxHeaderSize: number;
  readonly maxHeaderCount: number;
}

/** :method, :scheme, :authority, :path: node:http2 counts pseudo-headers as entries, MAX_HEADER_COUNT does not. */
const PSEUDO_HEADERS = 4;

export interface H2Context {
  readonly settings: H2Settings;
  readonly registry: ConnectionRegistry;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly forwarder: StreamForwarder;
}

/** The node:http2 server that sniffed h2c sockets are handed to (it never listens itself). */
export class H2Front {
  readonly #server: Http2Server;

  constructor(ctx: H2Context) {
    // Header blocks over the limits never reach a stream handler: the stream is reset with ENHANCE_YOUR_CALM
    // and the session goes on (the size limit, advertised in SETTINGS, only once the client has acknowledged it).
    const { maxHeaderSize, maxHeaderCount } = ctx.settings;
    this.#server = createServer({ settings: { maxHeaderListSize: maxHeaderSize }, maxHeaderListPairs: maxHeaderCount + PSEUDO_HEADERS });
    this.#server.on('session', (session: ServerHttp2Session) => new H2Connection(session, ctx));
  }

  readonly accept = (socket: Socket): void => {
    this.#server.emit('connection', socket);
  };
}

export class H2Connection implements TrackedConnection {
  readonly protocol: Protocol = 'h2';
  readonly #session: ServerHttp2Session;
  readonly #ctx: H2Context;
  readonly #clientAddress: string;
  /** Open streams and when each began (for UPSTREAM_RESPONSE_TIMEOUT). */
  readonly #streams = new Map<ServerHttp2Stream, number>();
  readonly #forwarding: Forwarding | null;
  #draining = false;
  #goawaySent = false;
  #drainIdleTimer: NodeJS.Timeout | undefined;
  #pingTimer: NodeJS.Timeout | undefined;
  /** Why the proxy closed the session, once it has. */
  #closedBy: CloseReason | null = null;
  #finished = false;
  #idleSince = performance.now();

  constructor(session: ServerHttp2Session, ctx: H2Context) {
    this.#session = session;
    this.#ctx = ctx;
    this.#clientAddress = peerAddress(session.socket?.remoteAddress);
    const { forwardedHeaders, trustedProxies } = ctx.settings;
    this.#forwarding = forwardedHeaders ? { clientAddress: this.#clientAddress, trustedPeer: trustedProxies.includes(this.#clientAddress) } : null;
    session.on('stream', this.#onStream);
    session.on('error', (err: NodeJS.ErrnoException) => ctx.logger.debug({ code: err.code, err: err.message }, 'h2 session failed'));
    session.once('close', this.#onClose);
    ctx.registry.add(this);
  }

  startDrain(): void {
    if (this.#draining) return;
    this.#draining = true;
    if (this.#streams.size > 0) {
      this.#sendGoaway();
      return;
    }
    // Idle: like an idle HTTP/1.1 connection, told to go once idle for DRAIN_IDLE_CLOSE, or with its next stream.
    const wait = this.#ctx.settings.drainIdleCloseMs - (performance.now() - this.#idleSince);
    if (wait <= 0) this.#sendGoaway();
    else this.#drainIdleTimer = setTimeout(this.#sendGoaway, wait);
  }

  /** The first GOAWAY (2^31-1) and its PING; the ACK, or a second, brings the final one. */
  readonly #sendGoaway = (): void => {
    clearTimeout(this.#drainIdleTimer);
    if (this.#goawaySent) return;
    this.#goawaySent = true;
    const session = this.#session;
    if (session.closed || session.destroyed) return;
    // From here on the session ends because of the hint, whichever side closes it first.
    this.#closedBy ??= this.#streams.size > 0 ? 'drain_hint' : 'drain_idle';
    try {
      session.goaway(constants.NGHTTP2_NO_ERROR, MAX_STREAM_ID);
    } catch {
      this.#finalGoaway();
      return;
    }
    this.#pingTimer = setTimeout(this.#finalGoaway, GOAWAY_PING_TIMEOUT_MS);
    // nghttp2 sends PING ahead of queued frames: the PING goes once the GOAWAY is written, so its ACK proves the GOAWAY was read.
    setImmediate(this.#sendPing);
  };

  readonly #sendPing = (): void => {
    const session = this.#session;
    if (session.closed || session.destroyed) return;
    try {
      session.ping(this.#finalGoaway);
    } catch {
      this.#finalGoaway();
    }
  };

  cut(): void {
    const session = this.#session;
    this.#finish('drain_deadline');
    clearTimeout(this.#drainIdleTimer);
    clearTimeout(this.#pingTimer);
    if (session.destroyed) return;
    // RST_STREAM(CANCEL) goes out at once (never an END_STREAM: the client must see the cut), then GOAWAY(NO_ERROR);
    // the socket is destroyed once those frames are written, whatever the client does.
    for (const stream of this.#streams.keys()) if (!stream.closed && !stream.destroyed) stream.close(constants.NGHTTP2_CANCEL);
    if (!session.closed) session.close();
    setImmediate(() => {
      if (!session.destroyed) session.destroy();
    });
  }

  /**
   * Once a second: streams whose response has not begun within
   * UPSTREAM_RESPONSE_TIMEOUT get 504; outside a drain, a session with no
   * stream for KEEPALIVE_TIMEOUT is closed.
   */
  tick(now: number): void {
    const { responseTimeoutMs } = this.#ctx.settings;
    if (responseTimeoutMs > 0) {
      for (const [stream, startedAt] of this.#streams) {
        if (!stream.headersSent && !stream.closed && now - startedAt >= responseTimeoutMs) timeOutStream(stream, this.#ctx);
      }
    }
    if (this.#draining || this.#closedBy !== null || this.#streams.size > 0) return;
    if (now - this.#idleSince < this.#ctx.settings.keepAliveTimeoutMs) return;
    this.#closedBy = 'idle_timeout';
    if (!this.#session.closed) this.#session.close();
  }

  readonly #finalGoaway = (): void => {
    clearTimeout(this.#pingTimer);
    const session = this.#session;
    if (session.closed || session.destroyed) return;
    this.#closedBy ??= 'drain_hint';
    session.close();
  };

  readonly #onStream = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, rawHeaders: string[]): void => {
    const { registry, metrics, settings, logger, forwarder } = this.#ctx;
    if (headerListTooLarge(rawHeaders, settings.maxHeaderSize)) {
      metrics.requestRejected('DP_HEAD_TOO_LARGE');
      stream.on('error', () => {});
      stream.respond({ ':status': errors.DP_HEAD_TOO_LARGE.status }, { endStream: true });
      return;
    }
    const startedAt = performance.now();
    this.#streams.set(stream, startedAt);
    registry.requestStarted('h2');
    // A session idle at t0, or opened during the drain, is served: its first stream carries the hint.
    if (this.#draining && !this.#goawaySent) this.#sendGoaway();
    // 'close' comes once: `on` spares the wrapper `once` allocates.
    stream.on('close', () => {
      this.#streams.delete(stream);
      const now = performance.now();
      this.#idleSince = now;
      const status = stream.sentHeaders?.[':status'];
      if (stream.rstCode === constants.NGHTTP2_NO_ERROR && status !== undefined) {
        registry.requestFinished('h2');
        metrics.requestCompleted('h2', Number(status), (now - startedAt) / 1000);
        if (settings.accessLog) {
          logger.info({ client: this.#clientAddress, protocol: 'h2', method: headers[':method'], status: Number(status), ms: Math.round((now - startedAt) * 1000) / 1000 }, 'request');
        }
      } else {
        registry.requestAbandoned('h2');
      }
    });
    forwarder.forward(stream, headers, rawHeaders, this.#forwarding);
  };

  readonly #onClose = (): void => {
    clearTimeout(this.#pingTimer);
    clearTimeout(this.#drainIdleTimer);
    this.#finish(this.#closedBy ?? 'client');
  };

  #finish(reason: CloseReason): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#ctx.registry.remove(this, reason);
  }
}
