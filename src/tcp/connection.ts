/**
 * One client connection on a `TCP_PORTS` port, joined to its own connection to
 * the app's port by a socket pair: bytes verbatim both ways, half-close kept,
 * both sockets reset when either fails.
 *
 * Raw TCP has no message boundaries and no in-band "please go", so a drain
 * can only wait (the controller decides when; this says what):
 *   - t0: nothing changes for open connections; the port keeps accepting
 *     until t0 + DRAIN_DELAY like the public port;
 *   - with TCP_IDLE_CLOSE, a connection that has carried no bytes either way
 *     for that long, with nothing queued, is closed (a FIN to both peers);
 *     one idle since before t0 closes at t0. Pools reconnect elsewhere;
 *   - the deadline resets both sockets (RST, so no peer mistakes the cut for
 *     a clean end of stream) and counts the connection as `drain_deadline`.
 */
import { connect, type Socket } from 'node:net';
import type { Logger } from '../log/index.ts';
import type { CloseReason, ConnectionRegistry, Protocol, TrackedConnection } from '../listeners/registry.ts';
import type { Metrics, UpstreamErrorKind } from '../metrics/index.ts';
import { SocketPair, reset, socketBufferedBytes, type PairOwner, type Side } from '../net/socket-pair.ts';

export interface TcpSettings {
  /** The app's host (from UPSTREAM); each port mapping brings its own port. */
  readonly upstreamHost: string;
  readonly connectTimeoutMs: number;
  /** TCP_IDLE_CLOSE; 0 leaves idle connections to the deadline. */
  readonly idleCloseMs: number;
}

export interface TcpContext {
  readonly settings: TcpSettings;
  readonly registry: ConnectionRegistry;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

export class TcpConnection implements TrackedConnection, PairOwner {
  readonly protocol: Protocol = 'tcp';
  readonly #ctx: TcpContext;
  readonly #client: Socket;
  readonly #upstream: Socket;
  readonly #upstreamPort: number;
  #pair: SocketPair | null = null;
  #connectTimer: NodeJS.Timeout | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  #draining = false;
  #closed = false;

  constructor(client: Socket, upstreamPort: number, ctx: TcpContext) {
    this.#ctx = ctx;
    this.#client = client;
    this.#upstreamPort = upstreamPort;
    const { upstreamHost, connectTimeoutMs } = ctx.settings;
    // Until the app answers, the client's bytes (and FIN) wait in its socket; only failures are watched.
    client.setNoDelay(true);
    client.on('error', this.#onEarlyClientClose);
    client.on('close', this.#onEarlyClientClose);
    const upstream = connect({ host: upstreamHost, port: upstreamPort, noDelay: true, allowHalfOpen: true });
    this.#upstream = upstream;
    upstream.once('connect', this.#onConnect);
    upstream.on('error', this.#onConnectError);
    this.#connectTimer = setTimeout(this.#onConnectTimeout, connectTimeoutMs);
    ctx.registry.add(this);
  }

  startDrain(): void {
    this.#draining = true;
    if (this.#pair !== null) this.#checkIdle();
  }

  cut(): void {
    this.#end('drain_deadline');
  }

  shed(): void {
    this.#end('memory_shed');
  }

  bufferedBytes(): number {
    return this.#pair?.bufferedBytes ?? socketBufferedBytes(this.#client);
  }

  pairClosed(first: Side): void {
    this.#finish(first);
  }

  /** Ends both connections now, with resets: no peer may mistake this for a clean end of stream. */
  #end(reason: CloseReason): void {
    this.#finish(reason);
    reset(this.#client);
    reset(this.#upstream);
  }

  // ---- connecting ----------------------------------------------------------

  readonly #onEarlyClientClose = (): void => {
    this.#finish('client');
    this.#upstream.destroy();
    this.#client.destroy();
  };

  readonly #onConnect = (): void => {
    clearTimeout(this.#connectTimer);
    const client = this.#client;
    const upstream = this.#upstream;
    client.off('error', this.#onEarlyClientClose);
    client.off('close', this.#onEarlyClientClose);
    upstream.off('error', this.#onConnectError);
    if (this.#closed) {
      upstream.destroy();
      return;
    }
    this.#pair = new SocketPair(client, upstream, this);
    if (this.#draining) this.#checkIdle();
  };

  readonly #onConnectError = (err: NodeJS.ErrnoException): void => {
    this.#connectFailed('connect_refused', err);
  };

  readonly #onConnectTimeout = (): void => {
    this.#connectFailed('connect_timeout');
  };

  #connectFailed(kind: UpstreamErrorKind, err?: NodeJS.ErrnoException): void {
    if (this.#closed) return;
    const { metrics, logger } = this.#ctx;
    metrics.upstreamError(kind);
    logger.warn({ kind, code: err?.code, upstreamPort: this.#upstreamPort }, 'tcp upstream connect failed');
    this.#finish('upstream');
    this.#upstream.destroy();
    this.#client.destroy();
  }

  // ---- drain ---------------------------------------------------------------

  /** Closes the connection if it has been idle for TCP_IDLE_CLOSE; otherwise looks again when it could be. */
  #checkIdle(): void {
    const idleCloseMs = this.#ctx.settings.idleCloseMs;
    const pair = this.#pair;
    if (idleCloseMs === 0 || pair === null || this.#closed) return;
    clearTimeout(this.#idleTimer);
    // Bytes still queued for a slow reader are not idleness: look again a full period later.
    const wait = pair.pendingBytes > 0 ? idleCloseMs : idleCloseMs - (performance.now() - pair.lastActivity);
    if (wait <= 0) {
      this.#finish('drain_idle');
      pair.destroy();
      return;
    }
    this.#idleTimer = setTimeout(this.#onIdleTimer, wait);
  }

  readonly #onIdleTimer = (): void => {
    this.#idleTimer = undefined;
    this.#checkIdle();
  };

  // ---- closing -------------------------------------------------------------

  #finish(reason: CloseReason): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#idleTimer);
    this.#ctx.registry.remove(this, reason);
  }
}
