/**
 * Two sockets joined both ways, bytes forwarded verbatim with backpressure and
 * half-close: an end from one side ends the other side's writing, and the pair
 * is closed once both directions have ended or either side fails (`pipe()`
 * alone would leave the other socket open on error: nodejs #19288). The
 * sockets must come without listeners of their previous owner.
 */
import type { Socket } from 'node:net';

export type TunnelEnd = 'client' | 'upstream';

export class Tunnel {
  readonly #client: Socket;
  readonly #upstream: Socket;
  readonly #onClose: (firstToClose: TunnelEnd) => void;
  #ended = 0;
  #closed = false;
  #firstToClose: TunnelEnd = 'client';

  constructor(client: Socket, upstream: Socket, onClose: (firstToClose: TunnelEnd) => void) {
    this.#client = client;
    this.#upstream = upstream;
    this.#onClose = onClose;
    join(client, upstream, () => this.#end('client'), () => this.#fail('client'));
    join(upstream, client, () => this.#end('upstream'), () => this.#fail('upstream'));
  }

  destroy(): void {
    this.#client.destroy();
    this.#upstream.destroy();
    this.#finish();
  }

  #end(side: TunnelEnd): void {
    if (this.#ended++ === 0) this.#firstToClose = side;
    if (this.#ended === 2) this.destroy();
  }

  #fail(side: TunnelEnd): void {
    if (this.#ended === 0) this.#firstToClose = side;
    this.destroy();
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClose(this.#firstToClose);
  }
}

function join(from: Socket, to: Socket, onEnd: () => void, onFail: () => void): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.on('end', () => {
    to.end();
    onEnd();
  });
  from.on('error', onFail);
  from.on('close', (hadError) => {
    if (hadError || !from.readableEnded) onFail();
  });
  from.resume();
}
