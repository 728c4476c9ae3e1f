/**
 * The `TCP_PORTS` listeners: one per `listenPort:upstreamPort` mapping, bound
 * on LISTEN_ADDRESS after the public port, closed with it on the drain's
 * `closing` phase (t0 + DRAIN_DELAY). Each accepted socket becomes a
 * `TcpConnection` to the app's host at the mapping's upstream port.
 */
import type { Socket } from 'node:net';
import type { PortMapping } from '../config/schema.ts';
import { PublicListener } from '../listeners/public.ts';
import type { ConnectionLimit } from '../listeners/connection-limit.ts';
import { TcpConnection, type TcpContext } from './connection.ts';

export class TcpListeners {
  readonly #ports: ReadonlyArray<{ readonly mapping: PortMapping; readonly listener: PublicListener }>;
  readonly #ctx: TcpContext;
  #closed = false;

  /** `limit` is MAX_CONNECTIONS, shared with the public port. */
  constructor(mappings: readonly PortMapping[], ctx: TcpContext, limit?: ConnectionLimit) {
    this.#ctx = ctx;
    this.#ports = mappings.map((mapping) => ({
      mapping,
      listener: new PublicListener((socket: Socket) => new TcpConnection(socket, mapping.upstream, ctx), ctx.logger, limit),
    }));
  }

  /** Binds every port in turn; a port that cannot be bound rejects (the process then fails to start). */
  async listen(address: string): Promise<void> {
    for (const { mapping, listener } of this.#ports) {
      if (this.#closed) return;
      await listener.listen(mapping.listen, address);
      // A drain that reached `closing` while this port was binding must not leave it open.
      if (this.#closed) listener.close();
      else this.#ctx.logger.info({ listenPort: mapping.listen, upstreamPort: mapping.upstream }, 'tcp port listening');
    }
  }

  /** Stops accepting on every port; open connections stay until they end, idle out or are cut. */
  close(): void {
    this.#closed = true;
    for (const { listener } of this.#ports) listener.close();
  }
}
