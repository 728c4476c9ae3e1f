/**
 * What a request's end means, whatever its protocol: the in-flight count (the
 * registry's), the request metrics and, with ACCESS_LOG, one log line. The
 * protocol handlers say when a request starts and how it ended; this says
 * what is counted and logged for it.
 */
import type { Logger } from '../log/index.ts';
import type { Metrics } from '../metrics/index.ts';
import type { Peer } from './peer.ts';
import type { ConnectionRegistry, Protocol } from './registry.ts';

export class RequestLog {
  readonly #registry: ConnectionRegistry;
  readonly #metrics: Metrics;
  readonly #logger: Logger;
  readonly #accessLog: boolean;

  constructor(registry: ConnectionRegistry, metrics: Metrics, logger: Logger, accessLog: boolean) {
    this.#registry = registry;
    this.#metrics = metrics;
    this.#logger = logger;
    this.#accessLog = accessLog;
  }

  started(protocol: Protocol): void {
    this.#registry.requestStarted(protocol);
  }

  /** The response went out complete, `ms` after the request began. */
  completed(protocol: Protocol, peer: Peer, method: string | undefined, status: number, ms: number): void {
    this.#registry.requestFinished(protocol);
    this.#metrics.requestCompleted(peer.listener, protocol, status, ms / 1000);
    if (this.#accessLog) {
      this.#logger.info({ client: peer.address, listener: peer.listener, scheme: peer.scheme, protocol, method, status, ms: Math.round(ms * 1000) / 1000 }, 'request');
    }
  }

  /** The request ended without a complete response (aborted, failed, cut). */
  abandoned(protocol: Protocol): void {
    this.#registry.requestAbandoned(protocol);
  }
}
