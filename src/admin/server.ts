/**
 * The admin port: probes, metrics, status and the drain trigger. Served by
 * `node:http`: this is not the data path, and its traffic is a few requests a
 * second.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { http } from '../builtins.ts';
import type { DrainController } from '../drain/controller.ts';
import type { ConnectionRegistry } from '../listeners/registry.ts';
import type { Logger } from '../log/index.ts';
import type { Metrics } from '../metrics/index.ts';
import type { FinalScrape } from '../metrics/final-scrape.ts';
import type { UpstreamHealth } from '../upstream/health.ts';
import type { DrainGuard } from './drain-guard.ts';
import type { Readiness } from './readiness.ts';
import { listen } from '../listeners/listen.ts';

export interface AdminContext {
  readonly controller: DrainController;
  readonly registry: ConnectionRegistry;
  readonly health: UpstreamHealth;
  readonly readiness: Readiness;
  readonly metrics: Metrics;
  /** Told of every answered scrape, so the process can wait for the one that carries the drain's outcome. */
  readonly finalScrape: FinalScrape;
  readonly guard: DrainGuard;
  readonly logger: Logger;
}

export class AdminServer {
  readonly #server: Server;
  readonly #ctx: AdminContext;
  /** `/drain?wait=1` answers still being written; the process waits for them before it exits. */
  readonly #pendingWaits = new Set<Promise<void>>();

  constructor(ctx: AdminContext) {
    this.#ctx = ctx;
    this.#server = http.createServer((req, res) => this.#route(req, res));
    this.#server.keepAliveTimeout = 5000;
    // Once listening, an accept failure (EMFILE, ENFILE) must not take the process down: without
    // a listener the server's 'error' event would throw. (A bind failure is listen()'s to report.)
    this.#server.on('error', (err: NodeJS.ErrnoException) => {
      if (this.#server.listening) ctx.logger.error({ err: err.message, code: err.code }, 'admin accept failed');
    });
  }

  listen(port: number, host: string): Promise<number> {
    return listen(this.#server, port, host);
  }

  /** Resolves once every held `/drain?wait=1` has been answered (bounded by the caller). */
  async answeredWaits(): Promise<void> {
    await Promise.all(this.#pendingWaits);
  }

  #route(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://admin');
    const method = req.method ?? 'GET';
    const readOnly = method === 'GET' || method === 'HEAD';
    switch (url.pathname) {
      case '/readyz':
        if (!readOnly) return reply(res, 405, 'method not allowed\n');
        return this.#readyz(res);
      case '/livez':
        if (!readOnly) return reply(res, 405, 'method not allowed\n');
        return reply(res, 200, 'ok\n');
      case '/metrics':
        if (!readOnly) return reply(res, 405, 'method not allowed\n');
        return void this.#metrics(req, res);
      case '/status':
        if (!readOnly) return reply(res, 405, 'method not allowed\n');
        return replyJson(res, 200, this.#status());
      case '/drain':
        if (method !== 'GET' && method !== 'POST') return reply(res, 405, 'method not allowed\n');
        return this.#drain(req, res, url);
      default:
        return reply(res, 404, 'not found\n');
    }
  }

  #readyz(res: ServerResponse): void {
    const reason = this.#ctx.readiness.notReadyBecause;
    if (reason === undefined) reply(res, 200, 'ready\n');
    else reply(res, 503, `${reason}\n`);
  }

  async #metrics(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { finalScrape } = this.#ctx;
    const final = finalScrape.final;
    try {
      const registry = this.#ctx.metrics.registry;
      const body = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType, 'content-length': Buffer.byteLength(body) });
      const scraper = req.socket.remoteAddress ?? '';
      res.end(body, () => {
        if (req.method === 'GET') finalScrape.scrapeAnswered(scraper, final);
      });
    } catch (err) {
      this.#ctx.logger.error({ err: (err as Error).message }, 'metrics collection failed');
      reply(res, 500, 'metrics collection failed\n');
    }
  }

  #status(): object {
    const { controller, registry, health, readiness } = this.#ctx;
    const elapsed = controller.elapsedMs();
    return {
      phase: controller.phase,
      ready: readiness.ready,
      upstreamHealthy: health.healthy,
      drainTrigger: controller.trigger ?? null,
      secondsSinceDrainStart: elapsed === undefined ? null : Math.round(elapsed) / 1000,
      connections: { ...registry.active },
      inFlight: { ...registry.inFlight },
      drain: controller.summary ?? null,
    };
  }

  #drain(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const { controller, guard, metrics, logger } = this.#ctx;
    if (!guard.allows(req.socket.remoteAddress, req.headers['x-drain-token'])) {
      metrics.drainDenied();
      logger.warn({ remote: req.socket.remoteAddress }, 'drain refused: caller not allowed');
      return reply(res, 403, 'forbidden: /drain is accepted from loopback, HOST_IP or with X-Drain-Token\n');
    }
    req.resume();
    controller.start('admin');
    const wait = url.searchParams.get('wait');
    if (wait === null || wait === '0' || wait === 'false') {
      return replyJson(res, 202, { phase: controller.phase, draining: true });
    }
    const answered = controller.whenDrained().then(
      (summary) =>
        new Promise<void>((resolve) => {
          res.once('close', resolve);
          replyJson(res, 200, summary);
        }),
    );
    this.#pendingWaits.add(answered);
    void answered.then(() => this.#pendingWaits.delete(answered));
  }
}

function reply(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

function replyJson(res: ServerResponse, status: number, body: object): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}
