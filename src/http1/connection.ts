/**
 * One client connection speaking HTTP/1.1, paired with its own connection to
 * the app. Bytes go through verbatim; two framers find message boundaries so
 * the proxy knows when a connection is idle, when it may close it without
 * cutting a message, and where to rewrite a head.
 *
 * One request at a time, as nginx does: a request pipelined behind one whose
 * response has not ended is held (with the bytes after it, and the client is
 * no longer read) until that response is complete, so a client that writes
 * requests without reading responses holds one request and a few socket
 * buffers, never a queue. Reading from the client follows both sockets: it
 * resumes only when nothing is held and the app connection has drained.
 *
 * What a drain means here (the controller only says when it started):
 *   - the next response head gets `Connection: close`, and the connection is
 *     closed once that response is complete;
 *   - no request after the one in progress is forwarded: a pipelined one is
 *     held and served next, with the hint, once the current response ends;
 *   - an idle connection is closed once idle for DRAIN_IDLE_CLOSE, never
 *     mid-message.
 * An upgrade answered with 101 hands both sockets to a tunnel.
 */
import { connect, type Socket } from 'node:net';
import type { UpstreamAddress } from '../config/index.ts';
import type { TrustedProxies } from '../config/trusted-proxies.ts';
import type { ErrorCode } from '../errors.ts';
import type { Logger } from '../log/index.ts';
import type { CloseReason, ConnectionRegistry, Protocol, TrackedConnection } from '../listeners/registry.ts';
import { peerAddress } from '../listeners/address.ts';
import type { Metrics, UpstreamErrorKind } from '../metrics/index.ts';
import { Tunnel, socketBufferedBytes } from '../tcp/tunnel.ts';
import { WebSocketTunnel, type WebSocketContext } from '../websocket/tunnel.ts';
import type { CloseWindow } from '../drain/spread.ts';
import {
  CONTINUE,
  PAUSE,
  RequestFramer,
  ResponseFramer,
  STOP,
  type FramerLimits,
  type FramerSink,
  type Verdict,
} from './framer.ts';
import { BODY_CHUNKED, BODY_UNTIL_CLOSE, type MessageHead, withConnectionClose, withForwarded } from './head.ts';
import { EventBoundary } from './event-stream.ts';
import { errorResponse } from './responses.ts';
import { Fifo } from './fifo.ts';

export interface Http1Settings {
  readonly upstream: UpstreamAddress;
  readonly connectTimeoutMs: number;
  /** UPSTREAM_RESPONSE_TIMEOUT; 0 is off. */
  readonly responseTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly headerTimeoutMs: number;
  /** REQUEST_BODY_TIMEOUT; 0 is off. */
  readonly requestBodyTimeoutMs: number;
  readonly drainIdleCloseMs: number;
  readonly limits: FramerLimits;
  readonly forwardedHeaders: boolean;
  readonly trustedProxies: TrustedProxies;
  readonly accessLog: boolean;
}

export interface Http1Context {
  readonly settings: Http1Settings;
  readonly registry: ConnectionRegistry;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** A connection to the app failed: re-check its health now. */
  readonly upstreamFailed: () => void;
  /** Where event streams end in the drain. */
  readonly closeWindow: Pick<CloseWindow, 'nextWaitMs'>;
  /** For connections upgraded to WebSocket. */
  readonly webSocket: WebSocketContext;
}

/** What the client is answered when the app fails before a response began. */
const UPSTREAM_FAILURE_ANSWERS: Partial<Record<UpstreamErrorKind, ErrorCode>> = {
  connect_refused: 'DP_UPSTREAM_CONNECT',
  connect_timeout: 'DP_UPSTREAM_CONNECT_TIMEOUT',
  response_timeout: 'DP_UPSTREAM_RESPONSE_TIMEOUT',
};

/** Bytes that end a chunked body with no trailers. */
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');

/** After our FIN, keep reading (and discarding) this long before a reset, so the client reads the last response. */
const LINGER_MS = 2000;
/** Request bytes queued while the upstream connection is being opened, before the client is paused. */
const MAX_QUEUED_BYTES = 64 * 1024;

class PendingRequest {
  readonly startedAt: number;
  readonly keepAlive: boolean;
  readonly method: string;

  constructor(startedAt: number, keepAlive: boolean, method: string) {
    this.startedAt = startedAt;
    this.keepAlive = keepAlive;
    this.method = method;
  }
}

export class Http1Connection implements TrackedConnection {
  protocol: Protocol = 'http1';
  readonly #ctx: Http1Context;
  readonly #client: Socket;
  readonly #clientAddress: string;
  /** Null once the connection is a tunnel: the HTTP/1.1 state goes with it (see #releaseHttpState). */
  #requestFramer: RequestFramer | null;
  #responseFramer: ResponseFramer | null = null;
  #upstream: Socket | null = null;
  #upstreamConnected = false;
  #connectTimer: NodeJS.Timeout | undefined;
  #queued: Buffer[] = [];
  #queuedBytes = 0;
  /** Requests forwarded and not yet answered with a complete final response. */
  readonly #requests = new Fifo<PendingRequest>();
  /** A final response head went to the client and its body has not ended. */
  #responseOpen = false;
  /** Set when the response in progress is the connection's last, with the reason it closes. */
  #closeAfterResponse: CloseReason | null = null;
  /** A refused pipelined request, answered once the responses before it are done. */
  #deferredError: ErrorCode | null = null;
  /** Cached from the registry's drain notice: read on every response head. */
  #draining = false;
  #closing = false;
  #closed = false;
  #closeReason: CloseReason = 'client';
  #idleSince = performance.now();
  #headerTimer: NodeJS.Timeout | undefined;
  #drainIdleTimer: NodeJS.Timeout | undefined;
  #lingerTimer: NodeJS.Timeout | undefined;
  #tunnel: Tunnel | WebSocketTunnel | null = null;
  /** The client's bytes read at the last sweep, and when that count last moved: the request body timeout's clock. */
  #bytesReadAtSweep = 0;
  #readProgressAt = performance.now();
  /** Whether the peer may state the scheme (TRUSTED_PROXIES): decided once, on the first X-Forwarded-Proto it sends. */
  #trustedPeer: boolean | undefined;
  /** The response in progress is a server-sent event stream, ended by the proxy at drain. */
  #eventStream: EventBoundary | null = null;
  #streamEndTimer: NodeJS.Timeout | undefined;
  /** The moment to end the event stream has come; it ends at the next event boundary. */
  #streamEndDue = false;
  /** The framer stopped at a chunk end that is also an event boundary: end the stream there. */
  #streamEndReady = false;

  constructor(client: Socket, ctx: Http1Context) {
    this.#ctx = ctx;
    this.#client = client;
    this.#clientAddress = peerAddress(client.remoteAddress);
    this.#requestFramer = new RequestFramer(this.#requestSink!, ctx.settings.limits);
    client.on('data', this.#onClientData);
    client.on('end', this.#onClientEnd);
    client.on('error', this.#onClientError);
    client.on('close', this.#onClientClose);
    client.on('drain', this.#onClientDrain);
    ctx.registry.add(this);
  }

  get #idle(): boolean {
    return this.#requests.length === 0 && !this.#responseOpen && this.#requestFramer!.idle;
  }

  startDrain(): void {
    this.#draining = true;
    if (this.#tunnel instanceof WebSocketTunnel) this.#tunnel.scheduleDrainClose();
    if (this.#eventStream !== null) this.#scheduleStreamEnd();
    if (this.#tunnel !== null || this.#closing) return;
    if (this.#idle && !this.#requestFramer!.paused) this.#armDrainIdleClose();
  }

  cut(): void {
    this.#abort('drain_deadline');
  }

  shed(): void {
    this.#abort('memory_shed');
  }

  bufferedBytes(): number {
    const tunnel = this.#tunnel;
    if (tunnel !== null) return tunnel.bufferedBytes;
    const upstream = this.#upstream;
    return socketBufferedBytes(this.#client) + (upstream === null ? 0 : socketBufferedBytes(upstream)) + this.#queuedBytes
      + (this.#requestFramer?.heldBytes ?? 0);
  }

  /**
   * The keep-alive, response and request body timeouts, checked about once a
   * second rather than by per-socket timers that every read and write would
   * have to re-arm.
   */
  tick(now: number): void {
    const { keepAliveTimeoutMs: timeout, responseTimeoutMs, requestBodyTimeoutMs } = this.#ctx.settings;
    if (responseTimeoutMs > 0 && !this.#closing && !this.#responseOpen && this.#upstream !== null) {
      const waiting = this.#requests.peek();
      if (waiting !== undefined && now - waiting.startedAt >= responseTimeoutMs) {
        this.#upstreamFailed(this.#upstream, 'response_timeout');
        return;
      }
    }
    if (requestBodyTimeoutMs > 0 && !this.#closing && this.#tunnel === null) {
      // Progress is the socket's own byte count, compared once a sweep: nothing is measured per chunk. A client
      // paused by backpressure (the app not reading) is waiting on the app, not stalling.
      const read = this.#client.bytesRead;
      if (read !== this.#bytesReadAtSweep || this.#client.isPaused() || !this.#requestFramer!.inBody) {
        this.#bytesReadAtSweep = read;
        this.#readProgressAt = now;
      } else if (now - this.#readProgressAt >= requestBodyTimeoutMs) {
        this.#onRequestBodyTimeout();
        return;
      }
    }
    if (this.#closing) {
      // A client that never reads the last response (its FIN never leaves) is let go too.
      if (!this.#closed && now - this.#idleSince > timeout) this.#client.destroy();
    } else if (this.#tunnel === null && this.#idle && now - this.#idleSince >= timeout) {
      this.#closeGracefully('idle_timeout');
    }
  }

  // ---- client side -------------------------------------------------------

  readonly #onClientData = (chunk: Buffer): void => {
    if (this.#closing) return; // lingering: discard
    clearTimeout(this.#drainIdleTimer);
    const framer = this.#requestFramer!;
    framer.push(chunk);
    if (framer.holding) this.#client.pause();
    else this.#timeHead(framer);
  };

  /** A head has begun and is not complete: it must be within HEADER_TIMEOUT. */
  #timeHead(framer: RequestFramer): void {
    if (framer.pendingHeadBytes > 0 && this.#headerTimer === undefined && !this.#closing) {
      this.#headerTimer = setTimeout(this.#onHeaderTimeout, this.#ctx.settings.headerTimeoutMs);
    }
  }

  /**
   * The client stopped sending a body it announced. The app holds a request it
   * will never get whole: its connection goes, and the client gets 408 if
   * nothing has been answered on its behalf yet; otherwise both are closed.
   */
  #onRequestBodyTimeout(): void {
    this.#requestFramer!.stop();
    this.#countRefusal('DP_BODY_TIMEOUT');
    this.#dropUpstream();
    if (this.#requests.length === 1 && !this.#responseOpen) this.#respondAndClose('DP_BODY_TIMEOUT', 'bad_request');
    else this.#abort('client');
  }

  readonly #onHeaderTimeout = (): void => {
    this.#headerTimer = undefined;
    if (this.#closing) return;
    this.#requestFramer!.stop();
    this.#refuse('DP_HEADER_TIMEOUT');
  };

  readonly #onClientEnd = (): void => {
    if (this.#closing || this.#idle) {
      this.#finish(this.#closing ? this.#closeReason : 'client');
      this.#client.destroy();
      return;
    }
    // A client that goes away with a request outstanding has given up on it.
    this.#abort('client');
  };

  readonly #onClientError = (): void => {
    this.#abort(this.#closing ? this.#closeReason : 'client');
  };

  readonly #onClientClose = (): void => {
    this.#finish(this.#closing ? this.#closeReason : 'client');
  };

  readonly #onClientDrain = (): void => {
    this.#upstream?.resume();
  };

  /** Held only by the framers (and here until the hand-over to a tunnel lets them go). */
  #requestSink: FramerSink | null = {
    onHead: (head: MessageHead): Buffer | undefined => {
      clearTimeout(this.#headerTimer);
      this.#headerTimer = undefined;
      const { registry, settings } = this.#ctx;
      registry.requestStarted(this.protocol);
      this.#requests.push(new PendingRequest(performance.now(), head.keepAlive, head.method));
      if (this.#upstream === null) this.#connectUpstream();
      this.#responseFramer!.expect(head);
      if (!settings.forwardedHeaders) return undefined;
      if (head.hasForwardedProto) this.#trustedPeer ??= settings.trustedProxies.includes(this.#clientAddress);
      return withForwarded(head, this.#clientAddress, this.#trustedPeer === true);
    },
    onData: (bytes: Buffer): void => {
      if (this.#upstreamConnected) {
        if (!this.#upstream!.write(bytes)) this.#client.pause();
      } else {
        this.#queued.push(bytes);
        this.#queuedBytes += bytes.length;
        if (this.#queuedBytes > MAX_QUEUED_BYTES) this.#client.pause();
      }
    },
    onMessageComplete: (head: MessageHead): Verdict => {
      // The next request waits for this one's response (an upgrade's bytes, for the tunnel or the refusal);
      // while draining, nothing after the request in progress goes upstream: its response will be the last.
      return this.#requests.length > 0 || head.upgrade || this.#draining ? PAUSE : CONTINUE;
    },
    onError: (code: ErrorCode): void => this.#refuse(code),
  };

  /** Refuses the request being read: answered once the responses before it are done, then the connection closes. */
  #refuse(code: ErrorCode): void {
    this.#countRefusal(code);
    if (this.#requests.length === 0 && !this.#responseOpen) this.#respondAndClose(code, 'bad_request');
    else this.#deferredError = code;
  }

  #countRefusal(code: ErrorCode): void {
    this.#ctx.metrics.requestRejected(code);
    this.#ctx.logger.debug({ code, client: this.#clientAddress }, 'request refused');
  }

  #respondAndClose(code: ErrorCode, reason: CloseReason): void {
    if (this.#closing) return;
    this.#client.write(errorResponse(code));
    this.#closeGracefully(reason);
  }

  // ---- upstream side -----------------------------------------------------

  #connectUpstream(): void {
    const { upstream, connectTimeoutMs, limits } = this.#ctx.settings;
    const socket = connect({ host: upstream.host, port: upstream.port, noDelay: true, allowHalfOpen: true });
    this.#upstream = socket;
    this.#upstreamConnected = false;
    this.#responseFramer = new ResponseFramer(this.#responseSink!, limits);
    this.#connectTimer = setTimeout(() => this.#upstreamFailed(socket, 'connect_timeout'), connectTimeoutMs);
    socket.once('connect', () => {
      clearTimeout(this.#connectTimer);
      if (socket !== this.#upstream) return;
      this.#upstreamConnected = true;
      const queued = this.#queued;
      this.#queued = [];
      this.#queuedBytes = 0;
      for (const bytes of queued) socket.write(bytes);
      this.#resumeClient();
    });
    socket.on('data', (chunk: Buffer) => {
      if (socket !== this.#upstream) return;
      this.#responseFramer!.push(chunk);
      if (this.#streamEndDue) this.#endStreamAtBoundary();
    });
    socket.on('drain', () => {
      if (socket === this.#upstream) this.#resumeClient();
    });
    socket.on('end', () => this.#upstreamEnded(socket));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.#upstreamFailed(socket, this.#upstreamConnected ? 'reset' : 'connect_refused', err);
    });
    socket.on('close', () => {
      if (socket === this.#upstream && !this.#closing) this.#upstreamFailed(socket, 'reset');
    });
  }

  #dropUpstream(): void {
    const socket = this.#upstream;
    if (socket === null) return;
    clearTimeout(this.#connectTimer);
    this.#upstream = null;
    this.#upstreamConnected = false;
    this.#responseFramer?.stop();
    this.#responseFramer = null;
    this.#queued = [];
    this.#queuedBytes = 0;
    socket.destroy();
  }

  /** The app closed its side. Fine between messages or ending a close-delimited body; a failure otherwise. */
  #upstreamEnded(socket: Socket): void {
    if (socket !== this.#upstream || this.#closing) return;
    const clean = this.#responseFramer!.end();
    if (this.#closing) return; // a close-delimited response just completed and closed the connection
    if (clean && this.#requests.length === 0) {
      // The app closed an idle keep-alive connection: the client keeps its own, the next request opens a new one.
      this.#dropUpstream();
      return;
    }
    this.#upstreamFailed(socket, this.#responseOpen ? 'truncated' : 'reset');
  }

  #upstreamFailed(socket: Socket, kind: UpstreamErrorKind, err?: NodeJS.ErrnoException): void {
    if (socket !== this.#upstream || this.#closing) return;
    const idle = this.#requests.length === 0 && !this.#responseOpen;
    this.#dropUpstream();
    if (idle) return;
    if (kind === 'reset' && this.#responseOpen) kind = 'truncated';
    const { metrics, logger, upstreamFailed } = this.#ctx;
    metrics.upstreamError(kind);
    logger.warn({ kind, code: err?.code, client: this.#clientAddress }, 'upstream connection failed');
    if (kind === 'connect_refused' || kind === 'connect_timeout') upstreamFailed();
    if (this.#responseOpen) {
      // Part of the response went out: the client must see it cut, not complete.
      this.#abort('upstream');
      return;
    }
    this.#respondAndClose(UPSTREAM_FAILURE_ANSWERS[kind] ?? 'DP_UPSTREAM_RESET', 'upstream');
  }

  #responseSink: FramerSink | null = {
    onHead: (head: MessageHead): Buffer | undefined => {
      if (head.status < 200 && head.status !== 101) return undefined;
      this.#responseOpen = true;
      if (head.status === 101) return undefined;
      if (head.eventStream && (head.body === BODY_CHUNKED || head.body === BODY_UNTIL_CLOSE)) this.#watchEventStream();
      if (!head.keepAlive) {
        this.#closeAfterResponse = 'upstream';
      } else if (!this.#requests.peek()!.keepAlive) {
        this.#closeAfterResponse = 'client';
      } else if (this.#draining && this.#requests.length === 1) {
        this.#closeAfterResponse = 'drain_hint';
        return withConnectionClose(head);
      }
      return undefined;
    },
    onData: (bytes: Buffer): void => {
      if (!this.#client.write(bytes)) this.#upstream?.pause();
    },
    onMessageComplete: (head: MessageHead): Verdict => {
      if (head.status < 200 && head.status !== 101) return CONTINUE;
      this.#responseOpen = false;
      this.#unwatchEventStream();
      this.#responseCompleted(head);
      if (head.status === 101) {
        queueMicrotask(() => this.#becomeTunnel());
        return PAUSE;
      }
      if (this.#closeAfterResponse !== null) {
        this.#closeGracefully(this.#closeAfterResponse);
        return STOP;
      }
      if (this.#deferredError !== null && this.#requests.length === 0) {
        this.#respondAndClose(this.#deferredError, 'bad_request');
        return STOP;
      }
      const requests = this.#requestFramer!;
      if (requests.holding) {
        // The next request (or an upgrade the app refused) is parsed once this framer's loop is done.
        queueMicrotask(this.#resumeRequests);
        return CONTINUE;
      }
      // Nothing pipelined: the request framer only goes back to reading heads (the common case: no work).
      requests.resume();
      if (this.#idle) this.#becameIdle();
      return CONTINUE;
    },
    onChunkEnd: (): boolean => {
      if (!this.#streamEndDue || this.#eventStream === null || !this.#eventStream.atBoundary) return false;
      this.#streamEndReady = true;
      return true;
    },
    onError: (code: ErrorCode): void => {
      this.#ctx.logger.warn({ code }, 'upstream sent a response that cannot be framed');
      this.#ctx.metrics.upstreamError('bad_response');
      const open = this.#responseOpen;
      this.#dropUpstream();
      if (open) this.#abort('upstream');
      else this.#respondAndClose('DP_UPSTREAM_BAD_RESPONSE', 'upstream');
    },
  };

  // ---- server-sent events -------------------------------------------------
  //
  // An event stream never ends by itself, so waiting for it would only end in
  // a cut at the deadline. At a moment drawn in the same window as WebSocket
  // closes, the proxy ends the response itself, after a complete event: with
  // the last chunk where it is chunked, by closing where it is close-delimited.
  // EventSource clients then reconnect (to another pod) with Last-Event-ID.

  #watchEventStream(): void {
    const framer = this.#responseFramer!;
    this.#eventStream = new EventBoundary();
    framer.bodyObserver = this.#eventStream.observe;
    if (this.#draining) this.#scheduleStreamEnd();
  }

  #unwatchEventStream(): void {
    if (this.#eventStream === null) return;
    this.#eventStream = null;
    clearTimeout(this.#streamEndTimer);
    this.#streamEndTimer = undefined;
    this.#streamEndDue = false;
    const framer = this.#responseFramer;
    if (framer !== null) {
      framer.bodyObserver = null;
      framer.watchChunkEnds = false;
    }
  }

  #scheduleStreamEnd(): void {
    if (this.#streamEndTimer !== undefined || this.#streamEndDue) return;
    this.#streamEndTimer = setTimeout(() => {
      this.#streamEndTimer = undefined;
      this.#streamEndDue = true;
      this.#responseFramer!.watchChunkEnds = true;
      this.#endStreamAtBoundary();
    }, this.#ctx.closeWindow.nextWaitMs('event_stream'));
  }

  /** Ends the event stream if it is between events (and between chunks); otherwise the next chunk end decides. */
  #endStreamAtBoundary(): void {
    const framer = this.#responseFramer;
    const events = this.#eventStream;
    if (framer === null || events === null || this.#closing) return;
    const chunked = framer.head.body === BODY_CHUNKED;
    if (!this.#streamEndReady && !(events.atBoundary && (chunked ? framer.betweenChunks : framer.untilClose))) return;
    this.#streamEndReady = false;
    framer.stop();
    if (chunked) this.#client.write(LAST_CHUNK);
    const head = framer.head;
    this.#responseOpen = false;
    this.#unwatchEventStream();
    this.#responseCompleted(head);
    this.#closeGracefully('drain_stream_end');
  }

  readonly #resumeRequests = (): void => {
    const framer = this.#requestFramer;
    if (this.#closing || framer === null) return;
    framer.resume();
    if (this.#closing || framer.holding) return;
    this.#timeHead(framer);
    this.#resumeClient();
    if (this.#idle) this.#becameIdle();
  };

  /** Reads from the client again, unless the framer holds pipelined bytes or the app connection has not drained. */
  #resumeClient(): void {
    const framer = this.#requestFramer;
    if (this.#closing || framer === null || framer.holding) return;
    const upstream = this.#upstream;
    if (upstream !== null && (this.#upstreamConnected ? upstream.writableNeedDrain : this.#queuedBytes > MAX_QUEUED_BYTES)) return;
    this.#client.resume();
  }

  #responseCompleted(head: MessageHead): void {
    const request = this.#requests.shift()!;
    const { registry, metrics, settings, logger } = this.#ctx;
    registry.requestFinished(this.protocol);
    const now = performance.now();
    this.#idleSince = now;
    const ms = now - request.startedAt;
    metrics.requestCompleted(this.protocol, head.status, ms / 1000);
    if (settings.accessLog) {
      logger.info({ client: this.#clientAddress, method: request.method, status: head.status, ms: Math.round(ms * 1000) / 1000 }, 'request');
    }
  }

  #becameIdle(): void {
    if (this.#draining) this.#armDrainIdleClose();
  }

  #armDrainIdleClose(): void {
    clearTimeout(this.#drainIdleTimer);
    const wait = this.#ctx.settings.drainIdleCloseMs - (performance.now() - this.#idleSince);
    if (wait <= 0) {
      this.#closeGracefully('drain_idle');
      return;
    }
    this.#drainIdleTimer = setTimeout(() => {
      if (this.#idle && !this.#closing) this.#closeGracefully('drain_idle');
    }, wait);
  }

  #becomeTunnel(): void {
    const upstream = this.#upstream;
    const requestFramer = this.#requestFramer!;
    if (this.#closing || upstream === null) return;
    const fromClient = requestFramer.takeHeld();
    const fromUpstream = this.#responseFramer!.takeHeld();
    const upgradeProtocol = requestFramer.head.upgradeProtocol;
    const client = this.#client;
    // Only this connection's own listeners go: others on the client socket (the MAX_CONNECTIONS count) stay.
    client.off('data', this.#onClientData);
    client.off('end', this.#onClientEnd);
    client.off('error', this.#onClientError);
    client.off('close', this.#onClientClose);
    client.off('drain', this.#onClientDrain);
    for (const event of ['data', 'end', 'error', 'close', 'drain', 'connect']) upstream.removeAllListeners(event);
    this.#upstream = null;
    this.#releaseHttpState();
    if (upgradeProtocol === 'websocket') {
      const tunnel = new WebSocketTunnel(client, upstream, fromClient, fromUpstream, this.#ctx.webSocket, (reason) => this.#finish(reason));
      this.#tunnel = tunnel;
      this.protocol = 'websocket';
      if (this.#draining) tunnel.scheduleDrainClose();
    } else {
      for (const bytes of fromUpstream) client.write(bytes);
      for (const bytes of fromClient) upstream.write(bytes);
      this.#tunnel = new Tunnel(client, upstream, (first) => this.#finish(first === 'client' ? 'client' : 'upstream'));
      this.protocol = 'tcp';
    }
    this.#ctx.registry.reclassify(this);
  }

  /**
   * After the 101 nothing here parses HTTP again, but the connection object lives as long as the
   * tunnel (the registry and the drain reach the tunnel through it). What only HTTP/1.1 needed is
   * let go, so an idle WebSocket does not keep about 1.5 KB of parser state: both framers with
   * their heads and head readers, the sinks' closures, a cleared timer.
   */
  #releaseHttpState(): void {
    this.#requestFramer!.stop();
    this.#requestFramer = null;
    this.#responseFramer?.stop();
    this.#responseFramer = null;
    this.#requestSink = null;
    this.#responseSink = null;
    clearTimeout(this.#connectTimer);
    this.#connectTimer = undefined;
    this.#clearTimers();
    this.#drainIdleTimer = undefined;
    this.#queued = [];
    this.#queuedBytes = 0;
  }

  // ---- closing -------------------------------------------------------------

  /** Ends the connection after what was written: FIN, then read and discard until the client closes too. */
  #closeGracefully(reason: CloseReason): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#closeReason = reason;
    this.#idleSince = performance.now();
    this.#clearTimers();
    this.#requestFramer?.stop();
    this.#dropUpstream();
    const client = this.#client;
    client.resume();
    client.end(() => {
      if (!this.#closed) this.#lingerTimer = setTimeout(() => client.destroy(), LINGER_MS);
    });
  }

  /** Ends the connection now; whatever was in flight is cut. */
  #abort(reason: CloseReason): void {
    if (!this.#closing) this.#closeReason = reason;
    this.#finish(reason === 'drain_deadline' || reason === 'memory_shed' ? reason : this.#closeReason);
    this.#requestFramer?.stop();
    this.#tunnel?.destroy();
    this.#client.destroy();
  }

  #finish(reason: CloseReason): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing = true;
    this.#clearTimers();
    this.#unwatchEventStream();
    this.#dropUpstream();
    const { registry } = this.#ctx;
    for (let i = 0; i < this.#requests.length; i++) registry.requestAbandoned(this.protocol);
    this.#requests.clear();
    registry.remove(this, reason);
  }

  #clearTimers(): void {
    clearTimeout(this.#headerTimer);
    clearTimeout(this.#drainIdleTimer);
    clearTimeout(this.#lingerTimer);
    this.#headerTimer = undefined;
  }
}
