/**
 * The HTTP/2 side of one public HTTP port, as the front door reaches it: the
 * sessions (`connection.ts`) and the forwarder that takes their streams to the
 * app over UPSTREAM_PROTOCOL. The drain reaches HTTP/2 sessions through the
 * registry like any connection (each gets its GOAWAY at its moment in the
 * close window).
 *
 * It is loaded on the port's first HTTP/2 connection (`LazyH2`): node:http2
 * costs about 4.5 MB of private memory, which a proxy that only ever sees
 * HTTP/1.1 does not pay.
 */
import type { Socket } from 'node:net';
import type { Config, UpstreamAddress } from '../config/index.ts';
import type { CloseWindow } from '../drain/spread.ts';
import type { Peer } from '../listeners/peer.ts';
import type { ConnectionRegistry } from '../listeners/registry.ts';
import type { RequestLog } from '../listeners/request-log.ts';
import type { Logger } from '../log/index.ts';
import type { Metrics } from '../metrics/index.ts';
import type { H2Front } from './connection.ts';
import type { ForwarderContext, StreamForwarder } from './forwarder.ts';

export interface LazyH2Context {
  readonly registry: ConnectionRegistry;
  readonly requests: RequestLog;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Where each session's GOAWAY goes in the drain. */
  readonly closeWindow: CloseWindow;
  readonly upstreamFailed: () => void;
}

/** Errors of a socket waiting for the HTTP/2 side to load: it is dropped if destroyed meanwhile. */
function ignore(): void {}

/**
 * The HTTP/2 front and its forwarder to `upstream`, made when the first
 * HTTP/2 connection arrives. Sockets that arrive while the modules load wait,
 * paused (their preface already put back), and are handed over once they are in.
 */
export class LazyH2 {
  readonly #config: Config;
  readonly #upstream: UpstreamAddress;
  readonly #ctx: LazyH2Context;
  #loading: Promise<void> | undefined;
  #front: H2Front | undefined;
  #forwarder: StreamForwarder | undefined;
  readonly #waiting = new Map<Socket, Peer>();
  #cut = false;

  constructor(config: Config, upstream: UpstreamAddress, ctx: LazyH2Context) {
    this.#config = config;
    this.#upstream = upstream;
    this.#ctx = ctx;
  }

  readonly accept = (socket: Socket, peer: Peer): void => {
    if (this.#front !== undefined) return this.#front.accept(socket, peer);
    socket.on('error', ignore);
    this.#waiting.set(socket, peer);
    this.#loading ??= this.#load().then(this.#handOver, (err: Error) => {
      this.#ctx.logger.error({ err: err.message }, 'cannot load the HTTP/2 side');
      for (const waiting of this.#waiting.keys()) waiting.destroy();
      this.#waiting.clear();
      this.#loading = undefined;
    });
  };

  async #load(): Promise<void> {
    const config = this.#config;
    const ctx = this.#ctx;
    const forwarderContext: ForwarderContext = {
      upstream: this.#upstream,
      connectTimeoutMs: config.upstreamConnectTimeout,
      metrics: ctx.metrics,
      logger: ctx.logger,
      upstreamFailed: ctx.upstreamFailed,
    };
    const [{ H2Front }, forwarder] = await Promise.all([
      import('./connection.ts'),
      config.upstreamProtocol === 'h2c'
        ? import('./upstream-h2c.ts').then(({ H2cForwarder }) => new H2cForwarder(forwarderContext))
        : import('./upstream-http1.ts').then(({ Http1Forwarder }) => new Http1Forwarder(forwarderContext, { maxHeaderSize: config.maxHeaderSize, maxHeaderCount: config.maxHeaderCount })),
    ]);
    this.#forwarder = forwarder;
    this.#front = new H2Front({
      settings: {
        keepAliveTimeoutMs: config.keepAliveTimeout,
        responseTimeoutMs: config.upstreamResponseTimeout,
        forwardedHeaders: config.forwardedHeaders,
        trustedProxies: config.trustedProxies,
        maxHeaderSize: config.maxHeaderSize,
        maxHeaderCount: config.maxHeaderCount,
        maxConcurrentStreams: config.maxConcurrentStreams,
        streamResetBurst: config.streamResetBurst,
        streamResetRate: config.streamResetRate,
      },
      registry: ctx.registry,
      requests: ctx.requests,
      metrics: ctx.metrics,
      logger: ctx.logger,
      closeWindow: ctx.closeWindow,
      forwarder,
    });
    if (this.#cut) forwarder.close();
  }

  readonly #handOver = (): void => {
    for (const [socket, peer] of this.#waiting) {
      socket.off('error', ignore);
      if (!socket.destroyed) this.#front!.accept(socket, peer);
    }
    this.#waiting.clear();
  };

  /** The deadline: sockets still waiting are closed, idle upstream connections too. */
  cut(): void {
    this.#cut = true;
    for (const socket of this.#waiting.keys()) socket.destroy();
    this.#forwarder?.close();
  }
}
