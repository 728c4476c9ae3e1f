/**
 * The public port's front door: each accepted socket is sniffed (`sniff.ts`)
 * and handed to HTTP/1.1 or to the HTTP/2 side, whose streams go to the app
 * over UPSTREAM_PROTOCOL. The drain reaches HTTP/2 sessions through the
 * registry like any connection (each gets its GOAWAY at its moment in the
 * close window); sockets still silent follow the controller's phases here.
 */
import type { Socket } from 'node:net';
import type { Config } from '../config/index.ts';
import type { DrainController } from '../drain/controller.ts';
import type { CloseWindow } from '../drain/spread.ts';
import type { ConnectionRegistry } from '../listeners/registry.ts';
import type { Logger } from '../log/index.ts';
import type { Metrics } from '../metrics/index.ts';
import { H2Front } from './connection.ts';
import type { ForwarderContext, StreamForwarder } from './forwarder.ts';
import { ProtocolSniffer } from './sniff.ts';
import { H2cForwarder } from './upstream-h2c.ts';
import { Http1Forwarder } from './upstream-http1.ts';

export interface PublicDispatchContext {
  readonly registry: ConnectionRegistry;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly controller: DrainController;
  /** Where each session's GOAWAY goes in the drain. */
  readonly closeWindow: CloseWindow;
  readonly upstreamFailed: () => void;
}

/** Returns the public listener's connection handler: sniff, then HTTP/1.1 (`http1`) or HTTP/2. */
export function publicDispatch(config: Config, ctx: PublicDispatchContext, http1: (socket: Socket) => void): (socket: Socket) => void {
  const forwarderContext: ForwarderContext = {
    upstream: config.upstream,
    connectTimeoutMs: config.upstreamConnectTimeout,
    metrics: ctx.metrics,
    logger: ctx.logger,
    upstreamFailed: ctx.upstreamFailed,
  };
  const forwarder: StreamForwarder = config.upstreamProtocol === 'h2c' ? new H2cForwarder(forwarderContext) : new Http1Forwarder(forwarderContext, { maxHeaderSize: config.maxHeaderSize, maxHeaderCount: config.maxHeaderCount });
  const front = new H2Front({
    settings: {
      keepAliveTimeoutMs: config.keepAliveTimeout,
      responseTimeoutMs: config.upstreamResponseTimeout,
      forwardedHeaders: config.forwardedHeaders,
      trustedProxies: config.trustedProxies,
      accessLog: config.accessLog,
      maxHeaderSize: config.maxHeaderSize,
      maxHeaderCount: config.maxHeaderCount,
      maxConcurrentStreams: config.maxConcurrentStreams,
      streamResetBurst: config.streamResetBurst,
      streamResetRate: config.streamResetRate,
    },
    registry: ctx.registry,
    metrics: ctx.metrics,
    logger: ctx.logger,
    closeWindow: ctx.closeWindow,
    forwarder,
  });
  const sniffer = new ProtocolSniffer({ http1, h2: front.accept }, { keepAliveTimeoutMs: config.keepAliveTimeout, headerTimeoutMs: config.headerTimeout, drainIdleCloseMs: config.drainIdleClose });
  ctx.controller.on('phase', (phase) => {
    if (phase === 'draining') sniffer.startDrain();
    else if (phase === 'drained') {
      sniffer.cut();
      forwarder.close();
    }
  });
  return sniffer.accept;
}
