/**
 * A WebSocket connection after the 101: bytes go through verbatim both ways,
 * with a FrameTracker on each direction so that, at drain, the proxy can say
 * goodbye in the protocol's own words:
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
 * untouched and the proxy sends nothing of its own.
 */
import type { Socket } from 'node:net';
import type { Logger } from '../log/index.ts';
import type { CloseReason } from '../listeners/registry.ts';
import { FrameTracker, closeFrame } from './frame-tracker.ts';
import { socketBufferedBytes } from '../tcp/tunnel.ts';

export interface WebSocketSettings {
  readonly closeCode: number;
  readonly closeReason: string;
  readonly closeTimeoutMs: number;
  /** From t0: when the close window opens (DRAIN_DELAY) and how long it is. */
  readonly delayMs: number;
  readonly spreadMs: number;
}

export interface WebSocketObserver {
  closeHandshakeCompleted(seconds: number): void;
  closeHandshakeTimedOut(): void;
}

export interface WebSocketContext {
  readonly settings: WebSocketSettings;
  /** Milliseconds since the drain started, or undefined while serving. */
  readonly drainElapsedMs: () => number | undefined;
  /** The next long-lived stream's moment to be told to go, in milliseconds from t0 (inside the close window). */
  readonly nextCloseMomentMs: () => number;
  readonly observer: WebSocketObserver;
  readonly logger: Logger;
}

type Side = 'client' | 'upstream';

const kTunnel = Symbol('drain-proxy.websocket.tunnel');
type TunnelSocket = Socket & { [kTunnel]: WebSocketTunnel };

// The sockets' listeners: module-level functions finding their tunnel through `kTunnel`, no closures per connection.
function clientOnData(this: TunnelSocket, chunk: Buffer): void {
  this[kTunnel].fromClient(chunk);
}

function upstreamOnData(this: TunnelSocket, chunk: Buffer): void {
  this[kTunnel].fromUpstream(chunk);
}

function clientOnDrain(this: TunnelSocket): void {
  this[kTunnel].drained('client');
}

function upstreamOnDrain(this: TunnelSocket): void {
  this[kTunnel].drained('upstream');
}

function clientOnEnd(this: TunnelSocket): void {
  this[kTunnel].ended('client');
}

function upstreamOnEnd(this: TunnelSocket): void {
  this[kTunnel].ended('upstream');
}

function clientOnFailure(this: TunnelSocket): void {
  this[kTunnel].failed('client');
}

function upstreamOnFailure(this: TunnelSocket): void {
  this[kTunnel].failed('upstream');
}

/** After both closing handshakes, how long the peers get to close TCP before a reset. */
const LINGER_MS = 1000;

const FORWARDING = 0;
const CLOSE_PENDING = 1; // our close frame waits for the frame in progress to end
const CLOSING = 2; // our close frame is out; nothing more goes to the client

export class WebSocketTunnel {
  readonly #client: Socket;
  readonly #upstream: Socket;
  readonly #ctx: WebSocketContext;
  readonly #onClose: (reason: CloseReason) => void;
  readonly #toUpstream = new FrameTracker();
  readonly #toClient = new FrameTracker();
  #state = FORWARDING;
  /** A closing handshake was started by the client or the app: the proxy stays out of it. */
  #peerClosing = false;
  #clientReplied = false;
  #upstreamAnswered = false;
  #closeSentAt = 0;
  #closeTimer: NodeJS.Timeout | undefined;
  #timeoutTimer: NodeJS.Timeout | undefined;
  #ended = 0;
  #firstToEnd: CloseReason = 'client';
  #finished = false;

  constructor(
    client: Socket,
    upstream: Socket,
    fromClient: readonly Buffer[],
    fromUpstream: readonly Buffer[],
    ctx: WebSocketContext,
    onClose: (reason: CloseReason) => void,
  ) {
    this.#client = client;
    this.#upstream = upstream;
    this.#ctx = ctx;
    this.#onClose = onClose;
    this.#toUpstream.onClose = () => {
      if (this.#state === CLOSING) this.#clientReplied = true;
      else this.#peerStartedClose('client');
      this.#maybeDone();
    };
    this.#toClient.onClose = () => {
      if (this.#state === CLOSING) this.#upstreamAnswered = true;
      else this.#peerStartedClose('upstream');
      this.#maybeDone();
    };
    for (const chunk of fromUpstream) this.fromUpstream(chunk);
    for (const chunk of fromClient) this.fromClient(chunk);

    (client as TunnelSocket)[kTunnel] = this;
    (upstream as TunnelSocket)[kTunnel] = this;
    client.on('data', clientOnData);
    upstream.on('data', upstreamOnData);
    client.on('drain', clientOnDrain);
    upstream.on('drain', upstreamOnDrain);
    client.on('end', clientOnEnd);
    upstream.on('end', upstreamOnEnd);
    client.on('error', clientOnFailure);
    client.on('close', clientOnFailure);
    upstream.on('error', upstreamOnFailure);
    upstream.on('close', upstreamOnFailure);
    client.resume();
    upstream.resume();
  }

  /** The side whose close frame came first is the one that closed the connection. */
  #peerStartedClose(side: Side): void {
    // Our own close frame had not gone out yet: it never will, the peers close between them.
    if (this.#state === CLOSE_PENDING) this.#state = FORWARDING;
    if (this.#peerClosing) return;
    this.#peerClosing = true;
    if (this.#ended === 0) this.#firstToEnd = side;
  }

  /** The drain has started: pick this connection's moment in the close window. */
  scheduleDrainClose(): void {
    if (this.#closeTimer !== undefined || this.#state !== FORWARDING || this.#finished) return;
    const wait = Math.max(0, this.#ctx.nextCloseMomentMs() - (this.#ctx.drainElapsedMs() ?? 0));
    this.#closeTimer = setTimeout(() => this.#startClose(), wait);
  }

  destroy(): void {
    this.#client.destroy();
    this.#upstream.destroy();
    this.#finish(this.#firstToEnd);
  }

  /** Bytes held in the proxy either way (socket buffers; the frame trackers hold no payload). */
  get bufferedBytes(): number {
    return socketBufferedBytes(this.#client) + socketBufferedBytes(this.#upstream);
  }

  /** One side's socket took what was written: the other side may be read again. */
  drained(side: Side): void {
    (side === 'client' ? this.#upstream : this.#client).resume();
  }

  ended(side: Side): void {
    this.#sideEnded(side, side === 'client' ? this.#upstream : this.#client);
  }

  failed(side: Side): void {
    this.#fail(side);
  }

  /** What the client sent (its socket's 'data'). */
  fromClient(chunk: Buffer): void {
    this.#toUpstream.push(chunk);
    // Everything the client says reaches the app, its reply to our close frame included.
    if (!this.#upstream.write(chunk)) this.#client.pause();
  }

  /** What the app sent (its socket's 'data'). */
  fromUpstream(chunk: Buffer): void {
    const tracker = this.#toClient;
    if (this.#state === CLOSE_PENDING) {
      // Forward up to the end of the frame in progress, close there, drop the rest.
      const boundary = tracker.atBoundary ? 0 : tracker.advance(chunk, 0);
      if (boundary > 0) this.#client.write(boundary === chunk.length ? chunk : chunk.subarray(0, boundary));
      chunk = chunk.subarray(boundary);
      if (this.#state === CLOSE_PENDING) {
        if (!tracker.atBoundary) return;
        this.#sendClose();
      }
    }
    tracker.push(chunk);
    if (this.#state === FORWARDING && chunk.length > 0 && !this.#client.write(chunk)) this.#upstream.pause();
  }

  #startClose(): void {
    this.#closeTimer = undefined;
    if (this.#state !== FORWARDING || this.#peerClosing || this.#finished) return;
    if (this.#toClient.lost) return; // no frame boundary to close at: the deadline will cut it
    if (this.#toClient.atBoundary) this.#sendClose();
    else this.#state = CLOSE_PENDING;
  }

  #sendClose(): void {
    const { closeCode, closeReason, closeTimeoutMs } = this.#ctx.settings;
    this.#state = CLOSING;
    this.#closeSentAt = performance.now();
    this.#firstToEnd = 'drain_close_frame';
    this.#client.write(closeFrame(closeCode, closeReason));
    this.#timeoutTimer = setTimeout(() => {
      this.#ctx.observer.closeHandshakeTimedOut();
      this.#ctx.logger.debug('WebSocket closing handshake not completed in time');
      this.destroy();
    }, closeTimeoutMs);
  }

  /** After our close frame: done once the client replied and the app answered that reply. */
  #maybeDone(): void {
    if (this.#state !== CLOSING || !this.#clientReplied || !this.#upstreamAnswered) return;
    clearTimeout(this.#timeoutTimer);
    this.#ctx.observer.closeHandshakeCompleted((performance.now() - this.#closeSentAt) / 1000);
    // The handshake is complete on both sides: the server side ends TCP first (RFC 6455 §7.1.1).
    this.#client.end();
    this.#upstream.end();
    this.#timeoutTimer = setTimeout(() => this.destroy(), LINGER_MS);
  }

  #sideEnded(side: Side, other: Socket): void {
    if (this.#ended++ === 0 && this.#state === FORWARDING && !this.#peerClosing) this.#firstToEnd = side;
    other.end();
    if (this.#ended === 2) this.destroy();
  }

  #fail(side: Side): void {
    if (this.#finished) return;
    if (this.#ended === 0 && this.#state === FORWARDING && !this.#peerClosing) this.#firstToEnd = side;
    this.destroy();
  }

  #finish(reason: CloseReason): void {
    if (this.#finished) return;
    this.#finished = true;
    clearTimeout(this.#closeTimer);
    clearTimeout(this.#timeoutTimer);
    this.#onClose(reason);
  }
}
