/**
 * One client connection speaking HTTP/1.1 (`client-leg.ts`), paired with its
 * own connection to the app (`app-leg.ts`). Bytes go through verbatim; two
 * framers find message boundaries so the proxy knows when a connection is
 * idle, when it may close it without cutting a message, and where to rewrite
 * a head.
 *
 *             request head         final response head
 *   ┌─▶ IDLE ─────────────▶ WAITING ─────────────────▶ RESPONDING ──101──▶ UPGRADED
 *   │                                                       │          (a tunnel has both sockets and
 *   └──────────────── response complete, keep-alive ────────┘           this connection's place)
 *
 *   IDLE, WAITING, RESPONDING ──last response done, refusal, idle──▶ CLOSING ──client closes──▶ CLOSED
 *     (FIN sent; the client is read and discarded until it closes, LINGER_MS at most after the FIN)
 *   any but UPGRADED ──client gone, failure, cut, shed──▶ CLOSED
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
 *     mid-message;
 *   - an event stream is ended after a complete event at its moment in the
 *     close window (`event-stream.ts`).
 */
import type { Socket } from 'node:net';
import type { TrustedProxies } from '../config/trusted-proxies.ts';
import type { CloseWindow } from '../drain/spread.ts';
import { UPSTREAM_FAILURE_ANSWERS, type ErrorCode } from '../errors.ts';
import type { CloseReason, ConnectionRegistry, Protocol, TrackedConnection } from '../listeners/registry.ts';
import type { Peer } from '../listeners/peer.ts';
import type { RequestLog } from '../listeners/request-log.ts';
import type { UpstreamErrorKind } from '../metrics/index.ts';
import type { WebSocketContext } from '../websocket/tunnel.ts';
import { AppLeg, type AppLegContext, type AppLegOwner, type AppLegSettings } from './app-leg.ts';
import { ClientLeg, type ClientLegOwner } from './client-leg.ts';
import { EventStreamEnd, type EventStreamOwner } from './event-stream.ts';
import { CONTINUE, PAUSE, RequestFramer, STOP, type FramerSink, type Verdict } from './framer.ts';
import { BODY_CHUNKED, BODY_UNTIL_CLOSE, type MessageHead } from './head.ts';
import { withConnectionClose, withForwarded } from './head-rewrite.ts';
import { errorResponse } from './responses.ts';
import { upgrade } from './upgrade.ts';

export interface Http1Settings extends AppLegSettings {
  /** UPSTREAM_RESPONSE_TIMEOUT; 0 is off. */
  readonly responseTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly headerTimeoutMs: number;
  /** REQUEST_BODY_TIMEOUT; 0 is off. */
  readonly requestBodyTimeoutMs: number;
  readonly drainIdleCloseMs: number;
  readonly forwardedHeaders: boolean;
  readonly trustedProxies: TrustedProxies;
}

export interface Http1Context extends AppLegContext {
  readonly settings: Http1Settings;
  readonly registry: ConnectionRegistry;
  readonly requests: RequestLog;
  /** When, in the drain, each event stream is ended. */
  readonly closeWindow: CloseWindow;
  /** For connections upgraded to WebSocket. */
  readonly webSocket: WebSocketContext;
}

/** Bytes that end a chunked body with no trailers. */
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');

const IDLE = 0; // no request outstanding (the client may be sending a head, or the rest of a body answered early)
const WAITING = 1; // a request went to the app; its final response head has not come
const RESPONDING = 2; // a final response head went to the client; its body has not ended
const CLOSING = 3;
const CLOSED = 4;
const UPGRADED = 5;

export class Http1Connection implements TrackedConnection, FramerSink, ClientLegOwner, AppLegOwner, EventStreamOwner {
  readonly protocol: Protocol = 'http1';
  readonly #ctx: Http1Context;
  readonly #peer: Peer;
  readonly #client: ClientLeg;
  readonly #requestFramer: RequestFramer;
  #leg: AppLeg | null = null;
  #state = IDLE;
  /** The request outstanding (WAITING, RESPONDING): when it began, whether the client keeps the connection, its method. */
  #requestStartedAt = 0;
  #requestKeepAlive = true;
  #requestMethod = '';
  /** Set when the response in progress is the connection's last, with the reason it closes. */
  #closeAfterResponse: CloseReason | null = null;
  /** A refused request, answered once the response in progress is done. */
  #deferredError: ErrorCode | null = null;
  /** Cached from the registry's drain notice: read on every response head. */
  #draining = false;
  #closeReason: CloseReason = 'client';
  #idleSince = performance.now();
  /** Whether the peer may state the scheme (TRUSTED_PROXIES): decided once, on the first X-Forwarded-Proto it sends. */
  #trustedPeer: boolean | undefined;

  constructor(client: Socket, ctx: Http1Context, peer: Peer) {
    this.#ctx = ctx;
    this.#peer = peer;
    this.#requestFramer = new RequestFramer(this, ctx.settings.limits);
    this.#client = new ClientLeg(client, this);
    ctx.registry.add(this);
  }

  get #idle(): boolean {
    return this.#state === IDLE && this.#requestFramer.idle;
  }

  startDrain(): void {
    this.#draining = true;
    if (this.#state >= CLOSING) return;
    this.#leg?.eventStream?.scheduleEnd(this.#ctx.closeWindow.nextWaitMs('event_stream'));
    if (this.#idle && !this.#requestFramer.paused) this.#armDrainIdleClose();
  }

  cut(): void {
    this.#abort('drain_deadline');
  }

  shed(): void {
    this.#abort('memory_shed');
  }

  bufferedBytes(): number {
    return this.#client.bufferedBytes + (this.#leg?.bufferedBytes ?? 0) + this.#requestFramer.heldBytes;
  }

  /**
   * The keep-alive, response and request body timeouts, checked about once a
   * second rather than by per-socket timers that every read and write would
   * have to re-arm.
   */
  tick(now: number): void {
    const { keepAliveTimeoutMs: timeout, responseTimeoutMs, requestBodyTimeoutMs } = this.#ctx.settings;
    if (this.#state === CLOSING) {
      // A client that never reads the last response (its FIN never leaves) is let go too.
      if (now - this.#idleSince > timeout) this.#client.socket.destroy();
      return;
    }
    if (this.#state > CLOSING) return;
    if (responseTimeoutMs > 0 && this.#state === WAITING && now - this.#requestStartedAt >= responseTimeoutMs) {
      this.appFailed('response_timeout');
      return;
    }
    if (requestBodyTimeoutMs > 0 && this.#client.bodyStalledMs(now, this.#requestFramer.inBody) >= requestBodyTimeoutMs) {
      this.#onRequestBodyTimeout();
      return;
    }
    if (this.#idle && now - this.#idleSince >= timeout) this.#closeGracefully('idle_timeout');
  }

  // ---- the client leg's owner --------------------------------------------

  clientData(chunk: Buffer): void {
    if (this.#state >= CLOSING) return; // lingering: discard
    const framer = this.#requestFramer;
    framer.push(chunk);
    if (framer.holding) this.#client.socket.pause();
    else this.#timeHead(framer);
  }

  /** A head has begun and is not complete: it must be within HEADER_TIMEOUT. */
  #timeHead(framer: RequestFramer): void {
    if (framer.pendingHeadBytes > 0 && this.#state < CLOSING) this.#client.timeHead(this.#ctx.settings.headerTimeoutMs);
  }

  headTimedOut(): void {
    if (this.#state >= CLOSING) return;
    this.#requestFramer.stop();
    this.#refuse('DP_HEADER_TIMEOUT');
  }

  idleTimedOut(): void {
    if (this.#idle) this.#closeGracefully('drain_idle');
  }

  /**
   * The client stopped sending a body it announced. The app holds a request it
   * will never get whole: its connection goes, and the client gets 408 if
   * nothing has been answered on its behalf yet; otherwise both are closed.
   */
  #onRequestBodyTimeout(): void {
    this.#requestFramer.stop();
    this.#countRefusal('DP_BODY_TIMEOUT');
    this.#dropUpstream();
    if (this.#state === WAITING) this.#respondAndClose('DP_BODY_TIMEOUT', 'bad_request');
    else this.#abort('client');
  }

  clientEnded(): void {
    if (this.#state === CLOSING || this.#idle) {
      this.#finish(this.#state === CLOSING ? this.#closeReason : 'client');
      this.#client.socket.destroy();
      return;
    }
    // A client that goes away with a request outstanding has given up on it.
    this.#abort('client');
  }

  clientFailed(): void {
    this.#abort(this.#state === CLOSING ? this.#closeReason : 'client');
  }

  clientClosed(): void {
    this.#finish(this.#state === CLOSING ? this.#closeReason : 'client');
  }

  clientDrained(): void {
    this.#leg?.resume();
  }

  // ---- the request framer's sink -----------------------------------------

  onHead(head: MessageHead): Buffer | undefined {
    this.#client.stopHeadClock();
    const { requests, settings } = this.#ctx;
    requests.started('http1');
    this.#state = WAITING;
    this.#requestStartedAt = performance.now();
    this.#requestKeepAlive = head.keepAlive;
    this.#requestMethod = head.method;
    this.#leg ??= new AppLeg(this, this.#client.socket, this.#ctx);
    this.#leg.framer.expect(head);
    if (!settings.forwardedHeaders) return undefined;
    const { address, scheme } = this.#peer;
    if (head.hasForwardedProto) this.#trustedPeer ??= settings.trustedProxies.includes(address);
    return withForwarded(head, address, scheme, this.#trustedPeer === true);
  }

  onData(bytes: Buffer): void {
    // No app connection: the app closed it after answering early; the rest of that body has nowhere to go.
    const leg = this.#leg;
    if (leg !== null && !leg.write(bytes)) this.#client.socket.pause();
  }

  onMessageComplete(head: MessageHead): Verdict {
    // The next request waits for this one's response (an upgrade's bytes, for the tunnel or the refusal);
    // while draining, nothing after the request in progress goes upstream: its response will be the last.
    return this.#state !== IDLE || head.upgrade || this.#draining ? PAUSE : CONTINUE;
  }

  onError(code: ErrorCode): void {
    this.#refuse(code);
  }

  /** Refuses the request being read: answered once the response in progress is done, then the connection closes. */
  #refuse(code: ErrorCode): void {
    this.#countRefusal(code);
    if (this.#state === IDLE) this.#respondAndClose(code, 'bad_request');
    else this.#deferredError = code;
  }

  #countRefusal(code: ErrorCode): void {
    this.#ctx.metrics.requestRejected(code);
    this.#ctx.logger.debug({ code, client: this.#peer.address }, 'request refused');
  }

  #respondAndClose(code: ErrorCode, reason: CloseReason): void {
    if (this.#state >= CLOSING) return;
    this.#client.socket.write(errorResponse(code));
    this.#closeGracefully(reason);
  }

  // ---- the app leg's owner -----------------------------------------------

  responseHead(head: MessageHead): Buffer | undefined {
    this.#state = RESPONDING;
    if (head.status === 101) return undefined;
    if (head.eventStream && (head.body === BODY_CHUNKED || head.body === BODY_UNTIL_CLOSE)) this.#watchEventStream(this.#leg!);
    if (!head.keepAlive) {
      this.#closeAfterResponse = 'upstream';
    } else if (!this.#requestKeepAlive) {
      this.#closeAfterResponse = 'client';
    } else if (this.#draining) {
      this.#closeAfterResponse = 'drain_hint';
      return withConnectionClose(head);
    }
    return undefined;
  }

  responseComplete(head: MessageHead): Verdict {
    this.#requestCompleted(head.status);
    if (head.status === 101) {
      queueMicrotask(() => this.#handOver());
      return PAUSE;
    }
    if (this.#closeAfterResponse !== null) {
      this.#closeGracefully(this.#closeAfterResponse);
      return STOP;
    }
    if (this.#deferredError !== null) {
      this.#respondAndClose(this.#deferredError, 'bad_request');
      return STOP;
    }
    const requests = this.#requestFramer;
    if (requests.holding) {
      // The next request (or an upgrade the app refused) is parsed once this framer's loop is done.
      queueMicrotask(() => this.#resumeRequests());
      return CONTINUE;
    }
    // Nothing pipelined: the request framer only goes back to reading heads (the common case: no work).
    requests.resume();
    if (this.#draining && this.#idle) this.#armDrainIdleClose();
    return CONTINUE;
  }

  responseUnframeable(): void {
    const open = this.#state === RESPONDING;
    this.#dropUpstream();
    if (open) this.#abort('upstream');
    else this.#respondAndClose('DP_UPSTREAM_BAD_RESPONSE', 'upstream');
  }

  appWritable(): void {
    this.#resumeClient();
  }

  /** The app closed its side. Fine between messages or ending a close-delimited body; a failure otherwise. */
  appEnded(): void {
    if (this.#state >= CLOSING) return;
    const clean = this.#leg!.framer.end();
    if (this.#state >= CLOSING) return; // a close-delimited response just completed and closed the connection
    if (clean && this.#state === IDLE) {
      // The app closed an idle keep-alive connection: the client keeps its own, the next request opens a new one.
      this.#dropUpstream();
      return;
    }
    this.appFailed(this.#state === RESPONDING ? 'truncated' : 'reset');
  }

  appFailed(kind: UpstreamErrorKind, err?: NodeJS.ErrnoException): void {
    const state = this.#state;
    const leg = this.#leg;
    if (state >= CLOSING || leg === null) return;
    this.#dropUpstream();
    if (state === IDLE) return;
    if (state === RESPONDING) {
      // Part of the response went out: the client must see it cut, not complete.
      leg.countFailure(kind === 'reset' ? 'truncated' : kind, this.#peer.address, err);
      this.#abort('upstream');
    } else {
      leg.countFailure(kind, this.#peer.address, err);
      this.#respondAndClose(UPSTREAM_FAILURE_ANSWERS[kind], 'upstream');
    }
  }

  #dropUpstream(): void {
    this.#leg?.drop();
    this.#leg = null;
  }

  // ---- server-sent events ------------------------------------------------

  #watchEventStream(leg: AppLeg): void {
    const stream = new EventStreamEnd(leg.framer, this);
    leg.eventStream = stream;
    if (this.#draining) stream.scheduleEnd(this.#ctx.closeWindow.nextWaitMs('event_stream'));
  }

  endEventStream(head: MessageHead, chunked: boolean): void {
    if (this.#state >= CLOSING) return;
    if (chunked) this.#client.socket.write(LAST_CHUNK);
    this.#requestCompleted(head.status);
    this.#closeGracefully('drain_stream_end');
  }

  // ---- between requests --------------------------------------------------

  #resumeRequests(): void {
    if (this.#state >= CLOSING) return;
    const framer = this.#requestFramer;
    framer.resume();
    if (this.#state >= CLOSING || framer.holding) return;
    this.#timeHead(framer);
    this.#resumeClient();
    if (this.#draining && this.#idle) this.#armDrainIdleClose();
  }

  /** Reads from the client again, unless the framer holds pipelined bytes or the app connection has not drained. */
  #resumeClient(): void {
    if (this.#state >= CLOSING || this.#requestFramer.holding || this.#leg?.mustWait === true) return;
    this.#client.socket.resume();
  }

  #requestCompleted(status: number): void {
    this.#state = IDLE;
    const now = performance.now();
    this.#idleSince = now;
    this.#ctx.requests.completed('http1', this.#peer, this.#requestMethod, status, now - this.#requestStartedAt);
  }

  #armDrainIdleClose(): void {
    const wait = this.#ctx.settings.drainIdleCloseMs - (performance.now() - this.#idleSince);
    if (wait <= 0) this.#closeGracefully('drain_idle');
    else this.#client.closeIdleIn(wait);
  }

  /** A 101 came complete: both sockets go to a tunnel, which takes this connection's place (`upgrade.ts`). */
  #handOver(): void {
    const leg = this.#leg;
    if (this.#state >= CLOSING || leg === null) return;
    const requestFramer = this.#requestFramer;
    const held = { fromClient: requestFramer.takeHeld(), fromUpstream: leg.framer.takeHeld() };
    this.#leg = null;
    this.#state = UPGRADED;
    this.#client.stopClocks();
    upgrade(this, this.#client.release(), leg.release(), held, requestFramer.head.upgradeProtocol, this.#ctx);
  }

  // ---- closing -----------------------------------------------------------

  /** Ends the connection after what was written: FIN, then read and discard until the client closes too. */
  #closeGracefully(reason: CloseReason): void {
    if (this.#state >= CLOSING) return;
    this.#leave(CLOSING);
    this.#closeReason = reason;
    this.#idleSince = performance.now();
    this.#client.stopClocks();
    this.#requestFramer.stop();
    this.#dropUpstream();
    this.#client.close();
  }

  /** Ends the connection now; whatever was in flight is cut. */
  #abort(reason: CloseReason): void {
    if (this.#state > CLOSING) return;
    if (this.#state !== CLOSING) this.#closeReason = reason;
    this.#finish(reason === 'drain_deadline' || reason === 'memory_shed' ? reason : this.#closeReason);
    this.#requestFramer.stop();
    this.#client.socket.destroy();
  }

  #finish(reason: CloseReason): void {
    if (this.#state > CLOSING) return;
    this.#leave(CLOSED);
    this.#client.stopClocks();
    this.#dropUpstream();
    this.#ctx.registry.remove(this, reason);
  }

  /** Leaves serving for `state`: a request still outstanding is abandoned. */
  #leave(state: typeof CLOSING | typeof CLOSED): void {
    if (this.#state === WAITING || this.#state === RESPONDING) this.#ctx.requests.abandoned('http1');
    this.#state = state;
  }
}
