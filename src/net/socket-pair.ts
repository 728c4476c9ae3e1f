/**
 * Two sockets joined both ways, the one primitive every tunnel is made of (a
 * TCP_PORTS connection, an HTTP/1.1 upgrade, a WebSocket): bytes forwarded
 * verbatim with backpressure, half-close kept, one rule for failures.
 *
 *   client ──data──▶ upstream        client FIN ──▶ upstream.end()
 *   client ◀──data── upstream        client.end() ◀── upstream FIN
 *
 * After both FINs each socket closes by itself (net sockets auto-destroy once
 * read and write sides have ended), so bytes still queued for a slow reader are
 * delivered rather than dropped. A socket that fails (an error, or closed
 * before its read side ended) takes the other one down with it by a reset, so
 * neither peer mistakes the failure for a clean end of stream (`pipe()` alone
 * would leave the other socket open on error: nodejs #19288). Both sockets
 * must be created with `allowHalfOpen` and come without listeners of their
 * previous owner.
 *
 * An owner that must see the bytes (the WebSocket tunnel follows frames)
 * inspects each chunk before it is forwarded and says what goes on instead.
 */
import type { Socket } from 'node:net';

export type Side = 'client' | 'upstream';

export interface PairOwner {
  /**
   * Each chunk read from `from`, before it is forwarded. Returns what goes on:
   * the chunk, a part of it, or null for nothing. It may write bytes of its
   * own meanwhile (`SocketPair.client.write`). Without it, chunks go on as read.
   */
  inspect?(from: Side, chunk: Buffer): Buffer | null;
  /** The pair is over: both sockets closed, `first` being the one that ended or failed first. Called once. */
  pairClosed(first: Side): void;
}

/** What a framer held back after an upgrade's 101: the first bytes of the tunnel, each way. */
export interface HeldBytes {
  readonly fromClient: readonly Buffer[];
  readonly fromUpstream: readonly Buffer[];
}

const kPair = Symbol('drain-proxy.socket-pair');
type PairedSocket = Socket & { [kPair]: SocketPair };

export class SocketPair {
  readonly client: Socket;
  readonly upstream: Socket;
  readonly #owner: PairOwner;
  readonly #inspects: boolean;
  /** Sockets not yet closed. */
  #open = 2;
  #over = false;
  #first: Side | null = null;
  /** `performance.now()` when bytes last went through, either way. */
  lastActivity = performance.now();

  constructor(client: Socket, upstream: Socket, owner: PairOwner) {
    this.client = client;
    this.upstream = upstream;
    this.#owner = owner;
    this.#inspects = owner.inspect !== undefined;
    (client as PairedSocket)[kPair] = this;
    (upstream as PairedSocket)[kPair] = this;
    for (const socket of [client, upstream]) {
      socket.on('data', SocketPair.#onData);
      socket.on('drain', SocketPair.#onDrain);
      socket.on('end', SocketPair.#onEnd);
      socket.on('error', SocketPair.#onError);
      socket.on('close', SocketPair.#onClose);
      socket.resume();
    }
  }

  /** The side that ended or failed first, or null while both go on. */
  get first(): Side | null {
    return this.#first;
  }

  /** Bytes queued in the proxy, not yet handed to either socket's kernel buffer. */
  get pendingBytes(): number {
    return this.client.writableLength + this.upstream.writableLength;
  }

  /** Bytes held in the proxy either way: queued for writing, and read but not yet forwarded. */
  get bufferedBytes(): number {
    return socketBufferedBytes(this.client) + socketBufferedBytes(this.upstream);
  }

  /** Forwards what was read before the pair existed (upstream's first: the 101's followers come before the client's). */
  forwardHeld(held: HeldBytes): void {
    for (const chunk of held.fromUpstream) this.#forward('upstream', chunk);
    for (const chunk of held.fromClient) this.#forward('client', chunk);
  }

  /** FIN to both peers; the pair is over once both have closed too. */
  end(): void {
    this.client.end();
    this.upstream.end();
  }

  /** Closes both sockets now, plainly. */
  destroy(): void {
    this.client.destroy();
    this.upstream.destroy();
    this.#finish();
  }

  /** Closes both sockets now with a reset: no peer may take it for a clean end of stream. */
  reset(): void {
    reset(this.client);
    reset(this.upstream);
    this.#finish();
  }

  #forward(from: Side, chunk: Buffer): void {
    this.lastActivity = performance.now();
    const bytes = this.#inspects ? this.#owner.inspect!(from, chunk) : chunk;
    if (bytes === null) return;
    if (from === 'client') {
      if (!this.upstream.write(bytes)) this.client.pause();
    } else if (!this.client.write(bytes)) {
      this.upstream.pause();
    }
  }

  #sideOf(socket: Socket): Side {
    return socket === this.client ? 'client' : 'upstream';
  }

  #failed(side: Side): void {
    this.#first ??= side;
    this.reset();
  }

  #finish(): void {
    if (this.#over) return;
    this.#over = true;
    this.#owner.pairClosed(this.#first ?? 'client');
  }

  // The sockets' listeners: one function each for the process, finding the pair on the socket (no closures per pair).

  static #onData(this: PairedSocket, chunk: Buffer): void {
    const pair = this[kPair];
    pair.#forward(pair.#sideOf(this), chunk);
  }

  /** One socket took what was queued for it: the other may be read again. */
  static #onDrain(this: PairedSocket): void {
    const pair = this[kPair];
    (this === pair.client ? pair.upstream : pair.client).resume();
  }

  static #onEnd(this: PairedSocket): void {
    const pair = this[kPair];
    const side = pair.#sideOf(this);
    pair.#first ??= side;
    (side === 'client' ? pair.upstream : pair.client).end();
  }

  static #onError(this: PairedSocket): void {
    const pair = this[kPair];
    pair.#failed(pair.#sideOf(this));
  }

  static #onClose(this: PairedSocket, hadError: boolean): void {
    const pair = this[kPair];
    if (hadError || !this.readableEnded) pair.#failed(pair.#sideOf(this));
    else if (--pair.#open === 0) pair.#finish();
  }
}

/**
 * Bytes a socket holds in the process: queued for writing, and read but not consumed (a paused reader's).
 * Each direction is bounded by its high-water mark plus one chunk: a full write buffer pauses the reading side.
 */
export function socketBufferedBytes(socket: Socket): number {
  return socket.writableLength + socket.readableLength;
}

/**
 * Destroys with a TCP reset (RST), or plainly when there is no established
 * connection to reset. A TLS socket cannot be reset through its TLS handle; it
 * is destroyed without a close_notify, which a TLS peer reads as a truncated
 * stream, not a clean end.
 */
export function reset(socket: Socket): void {
  if (socket.destroyed || socket.connecting || (socket as { encrypted?: boolean }).encrypted === true) socket.destroy();
  else socket.resetAndDestroy();
}
