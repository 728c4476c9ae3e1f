/**
 * Assembles the proxy from its parts for one configuration. `serve.ts` adds the
 * process around it (signals, exit); tests can run it in-process.
 */
import type { Socket } from 'node:net';
import { closeTimings, upstreamAt, type Config, type UpstreamAddress } from './config/index.ts';
import { DrainController } from './drain/controller.ts';
import { CloseWindow } from './drain/spread.ts';
import { ConnectionRegistry } from './listeners/registry.ts';
import { RequestLog } from './listeners/request-log.ts';
import { ConnectionLimit } from './listeners/connection-limit.ts';
import { FrontDoor } from './listeners/front-door.ts';
import { Listeners } from './listeners/listeners.ts';
import { MemoryGuard, resolveMemoryLimit } from './listeners/memory-guard.ts';
import type { Peer } from './listeners/peer.ts';
import type { TlsTermination } from './listeners/tls-termination.ts';
import { Http1Connection, type Http1Context } from './http1/connection.ts';
import { LazyH2 } from './h2/index.ts';
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
  readonly listeners: Listeners;
  /** Binds the admin port, then the public ports (loading the TLS pair first when set); resolves with the bound ports. */
  start(): Promise<{ listenPort: number; adminPort: number }>;
}

/** The public HTTP ports: LISTEN_PORT to UPSTREAM, then each HTTP_PORTS entry to UPSTREAM's host at its port. */
function httpPorts(config: Config): Array<{ port: number; upstream: UpstreamAddress }> {
  return [
    { port: config.listenPort, upstream: config.upstream },
    ...config.httpPorts.map((mapping) => ({ port: mapping.listen, upstream: upstreamAt(config.upstream, mapping.upstream) })),
  ];
}

/** TLS_CERT_FILE and TLS_KEY_FILE read and followed; node:tls is loaded only then. */
async function loadTls(config: Config, logger: Logger): Promise<TlsTermination | null> {
  if (config.tlsCertFile === '') return null;
  const [{ TlsCredentials }, { TlsTermination }] = await Promise.all([import('./listeners/tls-credentials.ts'), import('./listeners/tls-termination.ts')]);
  const credentials = TlsCredentials.load({ certFile: config.tlsCertFile, keyFile: config.tlsKeyFile, logger });
  credentials.watch();
  return new TlsTermination(credentials, config.headerTimeout);
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
    listeners: httpPorts(config).map(({ port }) => String(port)),
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
  const h2Context = { registry, requests, metrics, logger, closeWindow, upstreamFailed: () => health.checkNow() };
  const timings = { keepAliveTimeoutMs: config.keepAliveTimeout, headerTimeoutMs: config.headerTimeout, drainIdleCloseMs: config.drainIdleClose };
  const doors = httpPorts(config).map(({ port, upstream }) => {
    const context: Http1Context = upstream === config.upstream ? http1 : { ...http1, settings: { ...http1.settings, upstream } };
    const h2 = new LazyH2(config, upstream, h2Context);
    const handlers = { http1: (socket: Socket, peer: Peer) => new Http1Connection(socket, context, peer), h2: h2.accept, cut: () => h2.cut() };
    return new FrontDoor(handlers, { port, proxyProtocol: config.proxyProtocol, timings, limit, logger });
  });
  const tcp = new TcpListeners(config.tcpPorts, {
    settings: { upstreamHost: config.upstream.host, connectTimeoutMs: config.upstreamConnectTimeout, idleCloseMs: config.tcpIdleClose },
    registry,
    metrics,
    logger,
  }, limit);
  const listeners = new Listeners(doors, tcp, controller, logger);

  health.on('change', (healthy) => {
    logger.info({ upstream: config.upstream.url, healthy }, healthy ? 'upstream healthy' : 'upstream not healthy');
  });
  controller.on('phase', (phase) => {
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
    listeners,
    async start() {
      const tls = await loadTls(config, logger);
      const adminPort = await admin.listen(config.adminPort, config.adminAddress);
      health.start();
      memoryGuard.start();
      // A drain that started while binding (a signal during startup) must not reopen the public ports.
      const listenPort = controller.draining ? config.listenPort : await listeners.listen(config.listenAddress, tls);
      return { listenPort, adminPort };
    },
  };
}
