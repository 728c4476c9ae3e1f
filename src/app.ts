/**
 * Assembles the proxy from its parts for one configuration. `serve.ts` adds the
 * process around it (signals, exit); tests can run it in-process.
 */
import type { Socket } from 'node:net';
import { closeTimings, type Config } from './config/index.ts';
import { DrainController } from './drain/controller.ts';
import { CloseWindow } from './drain/spread.ts';
import { ConnectionRegistry } from './listeners/registry.ts';
import { RequestLog } from './listeners/request-log.ts';
import { PublicListener } from './listeners/public.ts';
import { ConnectionLimit } from './listeners/connection-limit.ts';
import { MemoryGuard, resolveMemoryLimit } from './listeners/memory-guard.ts';
import { Http1Connection, type Http1Context } from './http1/connection.ts';
import { publicDispatch } from './h2/index.ts';
import { TcpListeners } from './tcp/listener.ts';
import { Metrics } from './metrics/index.ts';
import { FinalScrape } from './metrics/final-scrape.ts';
import { UpstreamHealth } from './upstream/health.ts';
import { AdminServer } from './admin/server.ts';
import { DrainGuard } from './admin/drain-guard.ts';
import { Readiness } from './admin/readiness.ts';
import type { Logger } from './log/index.ts';

/** Granularity of the keep-alive timeout. */
const TICK_MS = 1000;

export interface DrainProxy {
  readonly controller: DrainController;
  readonly registry: ConnectionRegistry;
  readonly health: UpstreamHealth;
  readonly admin: AdminServer;
  readonly metrics: Metrics;
  /** Settles once the drain's outcome has been scraped (or FINAL_SCRAPE_WAIT has passed since the drain ended). */
  readonly finalScrape: FinalScrape;
  readonly memoryGuard: MemoryGuard;
  /** Binds the admin port, then the public port; resolves with the bound ports. */
  start(): Promise<{ listenPort: number; adminPort: number }>;
}

export function createDrainProxy(config: Config, logger: Logger): DrainProxy {
  const health = new UpstreamHealth(config.upstream, config.upstreamHealth, config.healthInterval);
  let metrics: Metrics | undefined;
  const registry = new ConnectionRegistry({
    connectionClosed: (protocol, reason) => metrics?.connectionClosed(protocol, reason),
  });
  const controller = new DrainController(registry, { delayMs: config.drainDelay, timeoutMs: config.drainTimeout });
  const readiness = new Readiness({ controller, health });
  metrics = new Metrics({
    ready: () => readiness.ready,
    phase: () => controller.phase,
    connections: registry,
    memoryPressure: () => memoryGuard.underPressure,
  });
  const limit = new ConnectionLimit(config.maxConnections, (reason) => metrics.connectionRefused(reason), logger);
  const memoryGuard = new MemoryGuard(resolveMemoryLimit(config.memoryLimit), {
    registry,
    limit,
    shed: () => metrics.limitEnforced('memory_shed'),
    logger,
  });
  const finalScrape = new FinalScrape(config.finalScrapeWait);
  const admin = new AdminServer({
    controller,
    registry,
    health,
    readiness,
    metrics,
    finalScrape,
    guard: new DrainGuard(config.hostIp, config.drainToken),
    logger,
  });

  const { spreadMs, closeTimeoutMs } = closeTimings(config);
  // One window for every long-lived connection (WebSockets, event streams, HTTP/2 sessions): one steady reconnect rate.
  const closeWindow = new CloseWindow({ delayMs: config.drainDelay, spreadMs }, () => controller.elapsedMs());
  const requests = new RequestLog(registry, metrics, logger, config.accessLog);
  const http1: Http1Context = {
    settings: {
      upstream: config.upstream,
      connectTimeoutMs: config.upstreamConnectTimeout,
      responseTimeoutMs: config.upstreamResponseTimeout,
      keepAliveTimeoutMs: config.keepAliveTimeout,
      headerTimeoutMs: config.headerTimeout,
      requestBodyTimeoutMs: config.requestBodyTimeout,
      drainIdleCloseMs: config.drainIdleClose,
      limits: { maxHeaderSize: config.maxHeaderSize, maxHeaderCount: config.maxHeaderCount },
      forwardedHeaders: config.forwardedHeaders,
      trustedProxies: config.trustedProxies,
    },
    registry,
    requests,
    metrics,
    logger,
    upstreamFailed: () => health.checkNow(),
    closeWindow,
    webSocket: {
      settings: { closeCode: config.wsCloseCode, closeReason: config.wsCloseReason, closeTimeoutMs },
      closeWindow,
      registry,
      observer: metrics,
      logger,
    },
  };
  const dispatch = publicDispatch(config, { registry, requests, metrics, logger, controller, closeWindow, upstreamFailed: () => health.checkNow() }, (socket: Socket) => new Http1Connection(socket, http1));
  const listener = new PublicListener(dispatch, logger, limit);
  const tcp = new TcpListeners(config.tcpPorts, {
    settings: { upstreamHost: config.upstream.host, connectTimeoutMs: config.upstreamConnectTimeout, idleCloseMs: config.tcpIdleClose },
    registry,
    metrics,
    logger,
  }, limit);

  health.on('change', (healthy) => {
    logger.info({ upstream: config.upstream.url, healthy }, healthy ? 'upstream healthy' : 'upstream not healthy');
  });
  controller.on('phase', (phase) => {
    if (phase === 'closing') {
      listener.close();
      tcp.close();
    }
    logger.info({ phase, elapsedMs: Math.round(controller.elapsedMs() ?? 0) }, `drain phase ${phase}`);
  });
  controller.on('drained', (summary) => {
    metrics.drainEnded(summary);
    finalScrape.drainEnded();
  });
  setInterval(() => registry.tick(performance.now()), TICK_MS).unref();

  return {
    controller,
    registry,
    health,
    admin,
    metrics,
    finalScrape,
    memoryGuard,
    async start() {
      const adminPort = await admin.listen(config.adminPort, config.adminAddress);
      health.start();
      memoryGuard.start();
      // A drain that started while binding (a signal during startup) must not reopen the public port.
      const listenPort = controller.draining ? config.listenPort : await listener.listen(config.listenPort, config.listenAddress);
      if (!controller.draining) await tcp.listen(config.listenAddress);
      return { listenPort, adminPort };
    },
  };
}
