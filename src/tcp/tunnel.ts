/**
 * Two sockets joined both ways, bytes forwarded verbatim with backpressure and
 * half-close: an end from one side ends the other side's writing, and the
 * tunnel is over once both sockets have closed, or at once when either fails
 * (`pipe()` alone would leave the other socket open on error: nodejs #19288).
 *
 *   client ──data──▶ upstream        client FIN ──▶ upstream.end()
 *   client ◀──data── upstream        client.end() ◀── upstream FIN
 *
 * After both FINs each socket closes by itself (net sockets auto-destroy once
 * read and write sides have ended), so bytes still queued for a slow reader are
 * delivered rather than dropped. A socket that fails (an error, or closed
 * before its read side ended) takes the other one down with it by a reset, so
 * neither peer mistakes the failure for a clean end of stream. Both sockets
 * must be created with `allowHalfOpen` and come without listeners of their
 * previous owner.
 */
import type { Socket } from 'node:net';

export type TunnelEnd = 'client' | 'upstream';

export class Tunnel {
  readonly #client: Socket;
  readonly #upstream: Socket;
  readonly #onClose: (firstToClose: TunnelEnd) => void;
  /** Sockets not yet closed. */
  #open = 2;
  #closed = false;
  #firstToClose: TunnelEnd | null = null;
  /** `performance.now()` when bytes last went through, either way. */
  lastActivity = performance.now();

  constructor(client: Socket, upstream: Socket, onClose: (firstToClose: TunnelEnd) => void) {
    this.#client = client;
    this.#upstream = upstream;
    this.#onClose = onClose;
    this.#join(client, upstream, 'client');
    this.#join(upstream, client, 'upstream');
  }

  /** Bytes queued in the proxy, not yet handed to either socket's kernel buffer. */
  get pendingBytes(): number {
    return this.#client.writableLength + this.#upstream.writableLength;
  }

  /** Bytes held in the proxy either way: queued for writing, and read but not yet forwarded. */
  get bufferedBytes(): number {
    return socketBufferedBytes(this.#client) + socketBufferedBytes(this.#upstream);
  }

  destroy(): void {
    this.#client.destroy();
    this.#upstream.destroy();
    this.#finish();
  }

  #join(from: Socket, to: Socket, side: TunnelEnd): void {
    from.on('data', (chunk: Buffer) => {
      this.lastActivity = performance.now();
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => from.resume());
    from.on('end', () => {
      this.#firstToClose ??= side;
      to.end();
    });
    from.on('error', () => this.#fail(side));
    from.on('close', (hadError: boolean) => {
      if (hadError || !from.readableEnded) this.#fail(side);
      else if (--this.#open === 0) this.#finish();
    });
    from.resume();
  }

  #fail(side: TunnelEnd): void {
    this.#firstToClose ??= side;
    reset(this.#client);
    reset(this.#upstream);
    this.#finish();
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClose(this.#firstToClose ?? 'client');
  }
}

/**
 * Bytes a socket holds in the process: queued for writing, and read but not consumed (a paused reader's).
 * Each direction is bounded by its high-water mark plus one chunk: a full write buffer pauses the reading side.
 */
export function socketBufferedBytes(socket: Socket): number {
  return socket.writableLength + socket.readableLength;
}

/** Destroys with a TCP reset (RST), or plainly when there is no established connection to reset. */
export function reset(socket: Socket): void {
  if (socket.destroyed || socket.connecting) socket.destroy();
  else socket.resetAndDestroy();
}
