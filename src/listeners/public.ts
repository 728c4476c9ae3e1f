/**
 * The public port: accepts client connections and hands each one to its
 * protocol handler. Closing it (at t0 + DRAIN_DELAY) stops accepting; open
 * connections are the handlers' to finish.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../log/index.ts';
import type { ConnectionLimit } from './connection-limit.ts';
import { listen } from './listen.ts';

export class PublicListener {
  readonly #server: Server;
  readonly #logger: Logger;

  /** `limit` (MAX_CONNECTIONS, shared with the other listeners) closes connections beyond it before they are handled. */
  constructor(onConnection: (socket: Socket) => void, logger: Logger, limit?: ConnectionLimit) {
    this.#logger = logger;
    // allowHalfOpen: the handlers decide when our side ends (after a response, or lingering after a FIN), not Node.
    this.#server = createServer({ allowHalfOpen: true, noDelay: true }, (socket: Socket) => {
      if (limit === undefined || limit.admit(socket)) onConnection(socket);
    });
    this.#server.on('error', (err: NodeJS.ErrnoException) => {
      // Accept failures (EMFILE, ENFILE) must not take the process down: existing connections go on.
      // (A bind failure is listen()'s to report.)
      if (!this.#server.listening) return;
      if (limit !== undefined) limit.acceptFailed(err);
      else this.#logger.error({ err: err.message, code: err.code }, 'accept failed');
    });
  }

  listen(port: number, host: string): Promise<number> {
    return listen(this.#server, port, host);
  }

  /** Stops accepting new connections (the ones open stay). */
  close(): void {
    if (this.#server.listening) this.#server.close();
  }
}
