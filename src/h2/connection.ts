/**
 * HTTP/2 client sessions on the public port (h2c, handed over by the
 * sniffer) and what a drain means for them.
 *
 * Drain (the controller only says when it started), per session:
 *
 *   t0 ── nothing changes: new streams are served as before
 *   its moment in the close window (t0 + DRAIN_DELAY + a share of CLOSE_SPREAD,
 *   the window the WebSockets and event streams leave in) ──
 *          GOAWAY(last-stream-id 2^31-1, NO_ERROR) + PING ──▶ client
 *          "stop opening streams"; streams already on the wire still count
 *   PING ACK (or 1 s) ── GOAWAY(last-stream-id = last stream seen) ──▶ client
 *          streams above it are never processed: the client's stack fails
 *          them as refused (REFUSED_STREAM), which clients retry safely
 *   last stream ends (at once when idle) ── the session closes
 *          (drain_hint, or drain_idle when it had no stream open at its moment)
 *   deadline ── open streams RST_STREAM(CANCEL), GOAWAY(NO_ERROR), closed (drain_deadline)
 *
 * Idle sessions wait for their moment too (a gRPC channel between calls is
 * idle), and so do sessions opened during DRAIN_DELAY: a client reconnects
 * when its session ends, at once (grpc-js and grpc-go round_robin) or with
 * its next call (their pick_first, the default), and before the window,
 * while endpoint removal propagates and the listener is open, that
 * reconnect can land back here. From the window on the listener is closed,
 * and the moments space the reconnects at the window's steady rate.
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
 *
 * Limits (what an abusive client meets; each counted once per session in
 * drain_proxy_limits_enforced_total and logged once, at warn):
 *   - MAX_CONCURRENT_STREAMS, advertised in SETTINGS and enforced by nghttp2:
 *     REFUSED_STREAM for streams of the client's first flight beyond it,
 *     GOAWAY(PROTOCOL_ERROR) for a client that exceeds it once acknowledged;
 *   - stream resets (rapid reset): nghttp2's token bucket, configured from
 *     STREAM_RESET_BURST and STREAM_RESET_RATE, sends GOAWAY(INTERNAL_ERROR)
 *     when it runs out and ends the session; the same bucket kept here over
 *     the client's resets tells when, for the count. Streams are forwarded
 *     once the read that brought them has been processed (setImmediate), so a
 *     stream reset in the same read never reaches the app;
 *   - floods nghttp2 and node:http2 end the session for by themselves, told
 *     apart by the session's error: unread SETTINGS/PING ACKs (nghttp2's
 *     limit of 1000 queued ACKs), CONTINUATION floods (nghttp2: 8 frames per
 *     header block), invalid frames including empty DATA frames
 *     (maxSessionInvalidFrames, 1000), streams refused for the session's
 *     memory (maxSessionRejectedStreams, 100; maxSessionMemory, 10 MB).
 */
import { constants, createServer, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { Logger } from '../log/index.ts';
import type { CloseReason, ConnectionRegistry, Protocol, TrackedConnection } from '../listeners/registry.ts';
import type { RequestLog } from '../listeners/request-log.ts';
import type { Peer } from '../listeners/peer.ts';
import { LIMIT_REASONS, type LimitReason, type Metrics } from '../metrics/index.ts';
import type { TrustedProxies } from '../config/trusted-proxies.ts';
import type { CloseWindow } from '../drain/spread.ts';
import { resetByClient, resetStream, timeOutStream, type StreamForwarder } from './forwarder.ts';
import { headerListSize, type Forwarding } from './headers.ts';
import { ArrivedStream, OpenStream, STREAM_OVERHEAD_BYTES, earlyTrailers, keepEarlyTrailers } from './streams.ts';
import { errors } from '../errors.ts';

/** Largest stream id: the first GOAWAY of a graceful shutdown (RFC 9113 §6.8). */
export const MAX_STREAM_ID = 2 ** 31 - 1;
/** Longest wait for the PING ACK before the final GOAWAY. */
export const GOAWAY_PING_TIMEOUT_MS = 1000;

export interface H2Settings {
  readonly keepAliveTimeoutMs: number;
  /** UPSTREAM_RESPONSE_TIMEOUT; 0 is off. */
  readonly responseTimeoutMs: number;
  readonly forwardedHeaders: boolean;
  readonly trustedProxies: TrustedProxies;
  /** MAX_HEADER_SIZE and MAX_HEADER_COUNT, as for HTTP/1.1. */
  readonly maxHeaderSize: number;
  readonly maxHeaderCount: number;
  readonly maxConcurrentStreams: number;
  readonly streamResetBurst: number;
  readonly streamResetRate: number;
}

/** :method, :scheme, :authority, :path: node:http2 counts pseudo-headers as entries, MAX_HEADER_COUNT does not. */
const PSEUDO_HEADERS = 4;

/** nghttp2's error codes (nghttp2.h) for floods it ends a session for; node:http2 passes them as the error's `errno`. */
const NGHTTP2_ERR_PROTO = -505;
const NGHTTP2_ERR_CALLBACK_FAILURE = -902;
const NGHTTP2_ERR_FLOODED = -904;
const NGHTTP2_ERR_TOO_MANY_CONTINUATIONS = -905;

/** Which limit ended a session, from the error it ended with; undefined for any other failure. */
function sessionLimit(err: NodeJS.ErrnoException): LimitReason | undefined {
  if (err.code === 'ERR_HTTP2_TOO_MANY_INVALID_FRAMES') return 'h2_invalid_frames';
  switch (err.errno) {
    case NGHTTP2_ERR_FLOODED:
      return 'h2_ack_flood';
    case NGHTTP2_ERR_TOO_MANY_CONTINUATIONS:
      return 'h2_continuation_flood';
    case NGHTTP2_ERR_CALLBACK_FAILURE:
      // node:http2 fails its stream callback once it has refused more than maxSessionRejectedStreams streams.
      return 'h2_rejected_streams';
    default:
      return undefined;
  }
}

function ignore(): void {}

/**
 * The clock of nghttp2's token buckets, whole seconds of the wall clock: nghttp2 as Node builds it falls back to
 * time(2) in `nghttp2_time_now_sec` (observed: its bucket refills when the wall clock's second turns, not the
 * monotonic clock's). The bucket here must refill at the same moments.
 */
function bucketSecond(): number {
  return Math.floor(Date.now() / 1000);
}

export interface H2Context {
  readonly settings: H2Settings;
  readonly registry: ConnectionRegistry;
  readonly requests: RequestLog;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Hands out each session's moment for its GOAWAY in the drain. */
  readonly closeWindow: Pick<CloseWindow, 'nextWaitMs'>;
  readonly forwarder: StreamForwarder;
}

/** The node:http2 server that the front door's HTTP/2 sockets are handed to (it never listens itself). */
export class H2Front {
  readonly #server: Http2Server;
  /** The peer of the socket being handed over: node:http2 makes its session synchronously, in `emit('connection')`. */
  #arriving: Peer | null = null;

  constructor(ctx: H2Context) {
    // Header blocks over the limits never reach a stream handler: the stream is reset with ENHANCE_YOUR_CALM
    // and the session goes on (the size limit, advertised in SETTINGS, only once the client has acknowledged it).
    // strictSingleValueFields: false lets a response carry a field the app repeated (two Content-Type lines, say)
    // as the app sent it, where node:http2 would otherwise throw on a field it deems single-valued.
    const { maxHeaderSize, maxHeaderCount, maxConcurrentStreams, streamResetBurst, streamResetRate } = ctx.settings;
    this.#server = createServer({
      settings: { maxHeaderListSize: maxHeaderSize, maxConcurrentStreams },
      maxHeaderListPairs: maxHeaderCount + PSEUDO_HEADERS,
      streamResetBurst,
      streamResetRate,
      strictSingleValueFields: false,
    });
    this.#server.on('session', (session: ServerHttp2Session) => new H2Connection(session, ctx, this.#arriving!));
  }

  readonly accept = (socket: Socket, peer: Peer): void => {
    // HTTP/2 ends with GOAWAY, never with a half-close. And with allowHalfOpen (the public listener's, for
    // HTTP/1.1) node:http2 never notices a client that went away while a write to it was pending (it stops
    // reading while writing): a session whose client vanished mid-download would stay, with its streams.
    socket.allowHalfOpen = false;
    this.#arriving = peer;
    this.#server.emit('connection', socket);
    this.#arriving = null;
  };
}

export class H2Connection implements TrackedConnection {
  readonly protocol: Protocol = 'h2';
  readonly #session: ServerHttp2Session;
  readonly #ctx: H2Context;
  readonly #peer: Peer;
  /** Open streams, when each began (for UPSTREAM_RESPONSE_TIMEOUT) and the size of its header block. */
  readonly #streams = new Map<ServerHttp2Stream, OpenStream>();
  /** Streams of the read being processed, forwarded together right after it, and the second that read came in. */
  #arrived: ArrivedStream[] = [];
  #arrivedSecond = 0;
  /** The token bucket nghttp2 keeps over the client's stream resets (STREAM_RESET_BURST, STREAM_RESET_RATE), kept here too. */
  #resetTokens: number;
  #resetSecond = bucketSecond();
  /** Limits enforced on this session, one bit per LIMIT_REASONS entry: each is counted and logged once. */
  #enforced = 0;
  readonly #forwarding: Forwarding | null;
  #draining = false;
  #goawaySent = false;
  #goawayTimer: NodeJS.Timeout | undefined;
  #pingTimer: NodeJS.Timeout | undefined;
  /** Why the proxy closed the session, once it has. */
  #closedBy: CloseReason | null = null;
  #finished = false;
  #idleSince = performance.now();

  constructor(session: ServerHttp2Session, ctx: H2Context, peer: Peer) {
    this.#session = session;
    this.#ctx = ctx;
    this.#peer = peer;
    const { forwardedHeaders, trustedProxies } = ctx.settings;
    this.#forwarding = forwardedHeaders ? { clientAddress: peer.address, scheme: peer.scheme, trustedPeer: trustedProxies.includes(peer.address) } : null;
    this.#resetTokens = ctx.settings.streamResetBurst;
    session.on('stream', this.#onStream);
    session.on('error', this.#onError);
    session.once('close', this.#onClose);
    ctx.registry.add(this);
  }

  bufferedBytes(): number {
    let bytes = 0;
    for (const [stream, open] of this.#streams) bytes += open.headerBytes + STREAM_OVERHEAD_BYTES + stream.bufferSize + stream.readableLength;
    return bytes;
  }

  /** Closes the session now with GOAWAY(ENHANCE_YOUR_CALM): its streams are cut. */
  shed(): void {
    const session = this.#session;
    if (session.destroyed) return;
    this.#closedBy = 'memory_shed';
    session.destroy(new Error('HTTP/2 session shed: memory pressure'), constants.NGHTTP2_ENHANCE_YOUR_CALM);
  }

  startDrain(): void {
    if (this.#draining) return;
    this.#draining = true;
    this.#goawayTimer = setTimeout(this.#sendGoaway, this.#ctx.closeWindow.nextWaitMs('h2'));
  }

  /** The first GOAWAY (2^31-1) and its PING; the ACK, or a second, brings the final one. */
  readonly #sendGoaway = (): void => {
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
    clearTimeout(this.#goawayTimer);
    clearTimeout(this.#pingTimer);
    if (session.destroyed) return;
    // RST_STREAM(CANCEL) goes out at once (never an END_STREAM: the client must see the cut), then GOAWAY(NO_ERROR);
    // the socket is destroyed once those frames are written, whatever the client does.
    for (const stream of this.#streams.keys()) resetStream(stream, constants.NGHTTP2_CANCEL);
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
      for (const [stream, { startedAt }] of this.#streams) {
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
    const headerBytes = headerListSize(rawHeaders);
    if (headerBytes > this.#ctx.settings.maxHeaderSize) {
      this.#ctx.metrics.requestRejected('DP_HEAD_TOO_LARGE');
      stream.on('error', ignore);
      stream.respond({ ':status': errors.DP_HEAD_TOO_LARGE.status }, { endStream: true });
      return;
    }
    // From here on the stream's close says how it ended; a session failure also errors its streams.
    stream.on('error', ignore);
    if (this.#arrived.length === 0) {
      this.#arrivedSecond = bucketSecond();
      setImmediate(this.#forwardArrived);
    }
    if (!stream.endAfterHeaders) stream.once('trailers', keepEarlyTrailers);
    this.#arrived.push(new ArrivedStream(stream, headers, rawHeaders, headerBytes));
  };

  /**
   * After the read: streams the client has already reset count against its resets (even when the session
   * has failed meanwhile: how it ended is told by the count), the others go to the app.
   */
  readonly #forwardArrived = (): void => {
    const arrived = this.#arrived;
    const second = this.#arrivedSecond;
    this.#arrived = [];
    for (const { stream, headers, rawHeaders, headerBytes } of arrived) {
      if (this.#session.destroyed) {
        // The session's failure ends its streams with INTERNAL_ERROR; any other code is the client's reset.
        if (resetByClient(stream) && stream.rstCode !== constants.NGHTTP2_INTERNAL_ERROR) this.#clientReset(second);
      } else if (stream.destroyed || stream.closed) {
        // Reset in the read that brought it: nghttp2 counted it then.
        this.#clientReset(second);
      } else {
        this.#forward(stream, headers, rawHeaders, headerBytes);
      }
    }
  };

  #forward(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: string[], headerBytes: number): void {
    const { requests, settings, forwarder } = this.#ctx;
    const startedAt = performance.now();
    this.#streams.set(stream, new OpenStream(startedAt, headerBytes));
    if (this.#streams.size >= settings.maxConcurrentStreams) this.#enforce('h2_concurrent_streams');
    requests.started('h2');
    // 'close' comes once: `on` spares the wrapper `once` allocates.
    stream.on('close', () => {
      this.#streams.delete(stream);
      const now = performance.now();
      this.#idleSince = now;
      const status = stream.sentHeaders?.[':status'];
      if (stream.rstCode === constants.NGHTTP2_NO_ERROR && status !== undefined) {
        requests.completed('h2', this.#peer, headers[':method'], Number(status), now - startedAt);
      } else {
        requests.abandoned('h2');
        if (!this.#session.destroyed && resetByClient(stream)) this.#clientReset(bucketSecond());
      }
    });
    // What node:http2 emitted without buffering while the stream waited, in the read that brought it, is
    // passed on once the forwarder listens: the request's trailers, and the end of an empty body (END_STREAM
    // in an empty DATA frame or the trailers: with nothing to read, 'end' comes at once).
    stream.off('trailers', keepEarlyTrailers);
    const endedEarly = stream.readableEnded;
    forwarder.forward(stream, headers, rawHeaders, this.#forwarding);
    const early = earlyTrailers(stream);
    if (early !== undefined) stream.emit('trailers', early.headers, early.flags, early.rawHeaders);
    if (endedEarly) stream.emit('end');
  }

  /**
   * The client reset a stream: one token of the bucket nghttp2 keeps too. When it runs out, nghttp2 has sent
   * its GOAWAY (INTERNAL_ERROR) and ends the session at the client's next frame for a stream it ignores
   * (in practice at once): counted here, the one thing nghttp2 cannot do.
   */
  #clientReset(second: number): void {
    const { streamResetBurst, streamResetRate } = this.#ctx.settings;
    if (second > this.#resetSecond) {
      this.#resetTokens = Math.min(streamResetBurst, this.#resetTokens + streamResetRate * (second - this.#resetSecond));
      this.#resetSecond = second;
    }
    if (this.#resetTokens >= 1) {
      this.#resetTokens--;
      return;
    }
    this.#closedBy ??= 'limit';
    this.#enforce('h2_stream_resets');
  }

  readonly #onError = (err: NodeJS.ErrnoException): void => {
    const reason = sessionLimit(err);
    if (reason === undefined) {
      // nghttp2 ends a session that goes on past a limit already enforced (streams beyond an acknowledged
      // MAX_CONCURRENT_STREAMS, resets after its GOAWAY) with a protocol error: the limit closed it.
      if (err.errno === NGHTTP2_ERR_PROTO && this.#enforced !== 0) this.#closedBy ??= 'limit';
      this.#ctx.logger.debug({ code: err.code, err: err.message }, 'h2 session failed');
      return;
    }
    this.#closedBy ??= 'limit';
    this.#enforce(reason);
  };

  /** Counts and logs a limit enforced on this session, once per limit. */
  #enforce(reason: LimitReason): void {
    const bit = 1 << LIMIT_REASONS.indexOf(reason);
    if ((this.#enforced & bit) !== 0) return;
    this.#enforced |= bit;
    this.#ctx.metrics.limitEnforced(reason);
    this.#ctx.logger.warn({ reason, client: this.#peer.address, streams: this.#streams.size }, 'HTTP/2 session limit enforced');
  }

  readonly #onClose = (): void => {
    clearTimeout(this.#pingTimer);
    clearTimeout(this.#goawayTimer);
    this.#finish(this.#closedBy ?? 'client');
  };

  #finish(reason: CloseReason): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#ctx.registry.remove(this, reason);
  }
}
