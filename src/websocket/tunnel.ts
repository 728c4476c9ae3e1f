/**
 * A WebSocket connection after the 101: a socket pair whose bytes go through
 * verbatim both ways, with a FrameTracker on each direction so that, at
 * drain, the proxy can say goodbye in the protocol's own words:
 *
 *   client            drain-proxy                 app
 *     │◀── close(1012) ──┤ (at a frame boundary,    │
 *     │                  │  nothing after it)       │
 *     ├── close(1012) ──▶│───── close(1012) ───────▶│
 *     │                  │◀──── close(1012) ────────┤ (not forwarded: the
 *     │◀────── FIN ──────┤──────── FIN ────────────▶│  client is done)
 *
 * Both connections end once the app has answered, or after WS_CLOSE_TIMEOUT.
 * When either side starts a closing handshake first, it passes through
 * untouched and the proxy sends nothing of its own:
 *
 *   FORWARDING ──its moment in the close window──▶ CLOSE_PENDING ──frame boundary──▶ CLOSING ──both answered──▶ FIN
 *        │                                              │ (at a boundary already: straight to CLOSING)
 *        └──────── a peer's close frame ────────────────┴──▶ PEER_CLOSING (forwarding, the proxy stays out)
 */
import type { Socket } from 'node:net';
import type { CloseWindow } from '../drain/spread.ts';
import type { Logger } from '../log/index.ts';
import type { CloseReason, ConnectionRegistry, Protocol, TrackedConnection } from '../listeners/registry.ts';
import { SocketPair, type HeldBytes, type PairOwner, type Side } from '../net/socket-pair.ts';
import { FrameTracker, closeFrame, type CloseFrameListener } from './frame-tracker.ts';

export interface WebSocketSettings {
  readonly closeCode: number;
  readonly closeReason: string;
  readonly closeTimeoutMs: number;
}

export interface WebSocketObserver {
  closeHandshakeCompleted(seconds: number): void;
  closeHandshakeTimedOut(): void;
}

export interface WebSocketContext {
  readonly settings: WebSocketSettings;
  /** When, in the drain, each WebSocket is told to go. */
  readonly closeWindow: CloseWindow;
  readonly registry: ConnectionRegistry;
  readonly observer: WebSocketObserver;
  readonly logger: Logger;
}

/** After both closing handshakes, how long the peers get to close TCP before a reset. */
const LINGER_MS = 1000;

const FORWARDING = 0;
const PEER_CLOSING = 1; // the client or the app started a closing handshake: it passes through, the proxy stays out
const CLOSE_PENDING = 2; // our close frame waits for the frame in progress to end
const CLOSING = 3; // our close frame is out; nothing more goes to the client
const CLOSED = 4;

export class WebSocketTunnel implements TrackedConnection, PairOwner, CloseFrameListener {
  readonly protocol: Protocol = 'websocket';
  readonly #ctx: WebSocketContext;
  readonly #pair: SocketPair;
  readonly #toUpstream = new FrameTracker(this);
  readonly #toClient = new FrameTracker(this);
  #state = FORWARDING;
  /** While CLOSING: the client replied to our close frame, and the app answered that reply. */
  #clientReplied = false;
  #upstreamAnswered = false;
  #closeSentAt = 0;
  #closeTimer: NodeJS.Timeout | undefined;
  #timeoutTimer: NodeJS.Timeout | undefined;
  /** Who closed it by a close frame: our own at drain, or the peer whose close frame came before any FIN. */
  #closedBy: CloseReason | null = null;

  constructor(client: Socket, upstream: Socket, held: HeldBytes, ctx: WebSocketContext) {
    this.#ctx = ctx;
    this.#pair = new SocketPair(client, upstream, this);
    this.#pair.forwardHeld(held);
  }

  /** The drain has started: pick this connection's moment in the close window. */
  startDrain(): void {
    if (this.#closeTimer !== undefined || this.#state !== FORWARDING) return;
    this.#closeTimer = setTimeout(WebSocketTunnel.#onCloseMoment, this.#ctx.closeWindow.nextWaitMs('websocket'), this);
  }

  cut(): void {
    this.#finish('drain_deadline');
    this.#pair.destroy();
  }

  shed(): void {
    this.#finish('memory_shed');
    this.#pair.destroy();
  }

  /** Bytes held in the proxy either way (socket buffers; the frame trackers hold no payload). */
  bufferedBytes(): number {
    return this.#pair.bufferedBytes;
  }

  inspect(from: Side, chunk: Buffer): Buffer | null {
    if (from === 'upstream') return this.#fromUpstream(chunk);
    // Everything the client says reaches the app, its reply to our close frame included.
    this.#toUpstream.push(chunk);
    return chunk;
  }

  /** A close frame went by: the client's reply or the app's answer to ours, or a peer starting its own handshake. */
  closeFrameRead(tracker: FrameTracker): void {
    const fromClient = tracker === this.#toUpstream;
    if (this.#state === CLOSING) {
      if (fromClient) this.#clientReplied = true;
      else this.#upstreamAnswered = true;
    } else {
      this.#peerStartedClose(fromClient ? 'client' : 'upstream');
    }
    this.#maybeDone();
  }

  pairClosed(first: Side): void {
    this.#finish(this.#closedBy ?? first);
  }

  #fromUpstream(chunk: Buffer): Buffer | null {
    const tracker = this.#toClient;
    if (this.#state === CLOSE_PENDING) {
      // Forward up to the end of the frame in progress, close there, drop the rest.
      const boundary = tracker.atBoundary ? 0 : tracker.advance(chunk, 0);
      if (boundary > 0) this.#pair.client.write(boundary === chunk.length ? chunk : chunk.subarray(0, boundary));
      chunk = chunk.subarray(boundary);
      if (this.#state === CLOSE_PENDING) {
        if (!tracker.atBoundary) return null;
        this.#sendClose();
      }
    }
    tracker.push(chunk);
    return (this.#state === FORWARDING || this.#state === PEER_CLOSING) && chunk.length > 0 ? chunk : null;
  }

  /** The side whose close frame came first (before any FIN) is the one that closed the connection. */
  #peerStartedClose(side: Side): void {
    // Our own close frame had not gone out yet: it never will, the peers close between them.
    if (this.#state !== FORWARDING && this.#state !== CLOSE_PENDING) return;
    this.#state = PEER_CLOSING;
    if (this.#pair.first === null) this.#closedBy = side;
  }

  #startClose(): void {
    this.#closeTimer = undefined;
    if (this.#state !== FORWARDING) return;
    if (this.#toClient.lost) return; // no frame boundary to close at: the deadline will cut it
    if (this.#toClient.atBoundary) this.#sendClose();
    else this.#state = CLOSE_PENDING;
  }

  #sendClose(): void {
    const { closeCode, closeReason, closeTimeoutMs } = this.#ctx.settings;
    this.#state = CLOSING;
    this.#closeSentAt = performance.now();
    this.#closedBy = 'drain_close_frame';
    this.#pair.client.write(closeFrame(closeCode, closeReason));
    this.#timeoutTimer = setTimeout(WebSocketTunnel.#onCloseTimeout, closeTimeoutMs, this);
  }

  /** After our close frame: done once the client replied and the app answered that reply. */
  #maybeDone(): void {
    if (this.#state !== CLOSING || !this.#clientReplied || !this.#upstreamAnswered) return;
    clearTimeout(this.#timeoutTimer);
    this.#ctx.observer.closeHandshakeCompleted((performance.now() - this.#closeSentAt) / 1000);
    // The handshake is complete on both sides: the server side ends TCP first (RFC 6455 §7.1.1).
    this.#pair.end();
    this.#timeoutTimer = setTimeout(WebSocketTunnel.#onLingerEnd, LINGER_MS, this);
  }

  #finish(reason: CloseReason): void {
    if (this.#state === CLOSED) return;
    this.#state = CLOSED;
    clearTimeout(this.#closeTimer);
    clearTimeout(this.#timeoutTimer);
    this.#ctx.registry.remove(this, reason);
  }

  static #onCloseMoment(tunnel: WebSocketTunnel): void {
    tunnel.#startClose();
  }

  static #onCloseTimeout(tunnel: WebSocketTunnel): void {
    tunnel.#ctx.observer.closeHandshakeTimedOut();
    tunnel.#ctx.logger.debug('WebSocket closing handshake not completed in time');
    tunnel.#pair.destroy();
  }

  static #onLingerEnd(tunnel: WebSocketTunnel): void {
    tunnel.#pair.destroy();
  }
}
