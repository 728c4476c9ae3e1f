/**
 * The client side of one HTTP/1.1 connection: its socket's events for the
 * owner (the connection), its clocks (a head's HEADER_TIMEOUT, the drain's
 * idle close, how long a body has stalled), and the way the connection is
 * closed without losing the last response: FIN after what was written, then
 * the client's bytes read and discarded until it closes too, for LINGER_MS
 * at most after the FIN (closing at once would make the kernel reset the
 * connection when more of the client's bytes arrive, and the reset discards
 * the response at the client). The owner decides what each event means.
 */
import type { Socket } from 'node:net';
import { socketBufferedBytes } from '../net/socket-pair.ts';

export interface ClientLegOwner {
  clientData(chunk: Buffer): void;
  /** The client's FIN. */
  clientEnded(): void;
  clientFailed(): void;
  clientClosed(): void;
  /** The client took what was written to it: the app may be read again. */
  clientDrained(): void;
  /** The head begun when `timeHead` was called is not complete in time. */
  headTimedOut(): void;
  /** The time given to `closeIdleIn` has passed. */
  idleTimedOut(): void;
}

/** After our FIN, keep reading (and discarding) this long before a reset, so the client reads the last response. */
const LINGER_MS = 2000;

const kLeg = Symbol('drain-proxy.http1.client-leg');
type LegSocket = Socket & { [kLeg]: ClientLeg | undefined };

export class ClientLeg {
  readonly socket: Socket;
  readonly #owner: ClientLegOwner;
  #headTimer: NodeJS.Timeout | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  #lingerTimer: NodeJS.Timeout | undefined;
  /** The bytes read at the last sweep, and when that count last moved. */
  #bytesReadAtSweep = 0;
  #readProgressAt = performance.now();

  constructor(socket: Socket, owner: ClientLegOwner) {
    this.socket = socket;
    this.#owner = owner;
    (socket as LegSocket)[kLeg] = this;
    for (const [event, listener] of ClientLeg.#listeners) socket.on(event, listener);
  }

  get bufferedBytes(): number {
    return socketBufferedBytes(this.socket);
  }

  /** A head has begun: the owner hears of it in `ms` unless `stopHeadClock` comes first (a clock already running goes on). */
  timeHead(ms: number): void {
    this.#headTimer ??= setTimeout(ClientLeg.#onHeadTimeout, ms, this);
  }

  stopHeadClock(): void {
    clearTimeout(this.#headTimer);
    this.#headTimer = undefined;
  }

  /** The owner hears of it in `ms` unless the client sends something first or it is asked again. */
  closeIdleIn(ms: number): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(ClientLeg.#onIdle, ms, this);
  }

  /** Stops the head and idle clocks (the connection is closing, or upgraded). */
  stopClocks(): void {
    this.stopHeadClock();
    clearTimeout(this.#idleTimer);
  }

  /**
   * How long, at `now` (a sweep, about once a second), the client has sent nothing of a body it is sending: 0 while
   * bytes come, or while it is paused by backpressure (waiting on the app is not stalling). Progress is the socket's
   * own byte count, compared once a sweep: nothing is measured per chunk.
   */
  bodyStalledMs(now: number, inBody: boolean): number {
    const read = this.socket.bytesRead;
    if (read !== this.#bytesReadAtSweep || this.socket.isPaused() || !inBody) {
      this.#bytesReadAtSweep = read;
      this.#readProgressAt = now;
    }
    return now - this.#readProgressAt;
  }

  /** FIN after what was written; then read and discard until the client closes, LINGER_MS at most. */
  close(): void {
    const socket = this.socket;
    socket.resume();
    socket.end(() => {
      if (!socket.destroyed) this.#lingerTimer = setTimeout(ClientLeg.#onLingerEnd, LINGER_MS, socket);
    });
  }

  /** The socket for a tunnel, without this leg's listeners (others on it, the MAX_CONNECTIONS count's, stay). */
  release(): Socket {
    const socket = this.socket as LegSocket;
    for (const [event, listener] of ClientLeg.#listeners) socket.off(event, listener);
    socket[kLeg] = undefined;
    return socket;
  }

  // ---- the socket's listeners: one function each for the process (no closures per connection) ----

  static #onData(this: LegSocket, chunk: Buffer): void {
    const leg = this[kLeg]!;
    clearTimeout(leg.#idleTimer);
    leg.#owner.clientData(chunk);
  }

  static #onEnd(this: LegSocket): void {
    this[kLeg]!.#owner.clientEnded();
  }

  static #onError(this: LegSocket): void {
    this[kLeg]!.#owner.clientFailed();
  }

  static #onClose(this: LegSocket): void {
    const leg = this[kLeg]!;
    leg.stopClocks();
    clearTimeout(leg.#lingerTimer);
    leg.#owner.clientClosed();
  }

  static #onDrain(this: LegSocket): void {
    this[kLeg]!.#owner.clientDrained();
  }

  static #onHeadTimeout(leg: ClientLeg): void {
    leg.#headTimer = undefined;
    leg.#owner.headTimedOut();
  }

  static #onIdle(leg: ClientLeg): void {
    leg.#owner.idleTimedOut();
  }

  static #onLingerEnd(socket: Socket): void {
    socket.destroy();
  }

  static readonly #listeners: ReadonlyArray<readonly [string, (...args: any[]) => void]> = [
    ['data', ClientLeg.#onData],
    ['end', ClientLeg.#onEnd],
    ['error', ClientLeg.#onError],
    ['close', ClientLeg.#onClose],
    ['drain', ClientLeg.#onDrain],
  ];
}
