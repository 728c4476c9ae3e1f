/**
 * The hand-over at a 101: the HTTP/1.1 connection gives both sockets, and the
 * bytes its framers held after the exchange, to a tunnel, which takes its
 * place in the connection registry. Nothing of HTTP/1.1 stays for the
 * tunnel's life: framers, heads and timers go with the connection object.
 *
 *   Upgrade: websocket ──▶ WebSocketTunnel: frames followed, close frames at drain
 *   any other upgrade  ──▶ UpgradedTunnel: raw bytes, counted as tcp, left to end by
 *                          themselves (or be cut at the deadline)
 */
import type { Socket } from 'node:net';
import type { CloseReason, ConnectionRegistry, Protocol, TrackedConnection } from '../listeners/registry.ts';
import { SocketPair, type HeldBytes, type PairOwner, type Side } from '../net/socket-pair.ts';
import { WebSocketTunnel, type WebSocketContext } from '../websocket/tunnel.ts';

export interface UpgradeContext {
  readonly registry: ConnectionRegistry;
  readonly webSocket: WebSocketContext;
}

export function upgrade(
  connection: TrackedConnection,
  client: Socket,
  upstream: Socket,
  held: HeldBytes,
  upgradeProtocol: string,
  ctx: UpgradeContext,
): void {
  const tunnel = upgradeProtocol === 'websocket' ? new WebSocketTunnel(client, upstream, held, ctx.webSocket) : new UpgradedTunnel(client, upstream, held, ctx.registry);
  ctx.registry.replace(connection, tunnel);
}

/** A protocol the proxy does not speak, after its 101: bytes both ways until either side ends it. */
class UpgradedTunnel implements TrackedConnection, PairOwner {
  readonly protocol: Protocol = 'tcp';
  readonly #registry: ConnectionRegistry;
  readonly #pair: SocketPair;

  constructor(client: Socket, upstream: Socket, held: HeldBytes, registry: ConnectionRegistry) {
    this.#registry = registry;
    this.#pair = new SocketPair(client, upstream, this);
    this.#pair.forwardHeld(held);
  }

  /** No in-band way to ask such a peer to go: it is left to end by itself, or to the deadline. */
  startDrain(): void {}

  cut(): void {
    this.#end('drain_deadline');
  }

  shed(): void {
    this.#end('memory_shed');
  }

  bufferedBytes(): number {
    return this.#pair.bufferedBytes;
  }

  pairClosed(first: Side): void {
    this.#registry.remove(this, first);
  }

  #end(reason: CloseReason): void {
    this.#registry.remove(this, reason);
    this.#pair.destroy();
  }
}
