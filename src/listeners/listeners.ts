/**
 * Every port the proxy takes client connections on: the public HTTP ports
 * (LISTEN_PORT first, then HTTP_PORTS, each a `FrontDoor`) and the raw
 * `TCP_PORTS`. This is the one place listeners meet the drain:
 *
 *   draining (t0)       connections not yet past their first bytes get DRAIN_IDLE_CLOSE
 *   closing (+ DELAY)   every port stops accepting
 *   drained (deadline)  whatever is still on its way in is closed
 *
 * Binding is in that order too, and stops as soon as a drain reaches
 * `closing`: a signal during startup must not leave a port open.
 */
import type { DrainController } from '../drain/controller.ts';
import type { Logger } from '../log/index.ts';
import type { TcpListeners } from '../tcp/listener.ts';
import type { FrontDoor } from './front-door.ts';
import type { TlsTermination } from './tls-termination.ts';

export class Listeners {
  readonly doors: readonly FrontDoor[];
  readonly #tcp: TcpListeners;
  readonly #logger: Logger;
  #closed = false;

  constructor(doors: readonly FrontDoor[], tcp: TcpListeners, controller: DrainController, logger: Logger) {
    this.doors = doors;
    this.#tcp = tcp;
    this.#logger = logger;
    controller.on('phase', (phase) => {
      if (phase === 'draining') for (const door of doors) door.startDrain();
      else if (phase === 'closing') this.close();
      else if (phase === 'drained') for (const door of doors) door.cut();
    });
  }

  /** The labels of the public HTTP ports, as the request metrics name them. */
  get labels(): string[] {
    return this.doors.map((door) => door.label);
  }

  /**
   * Binds every port in turn on `address`; the HTTP ports serve TLS when `tls`
   * is given. Resolves with the port the first (LISTEN_PORT) got.
   */
  async listen(address: string, tls: TlsTermination | null): Promise<number> {
    const bound: number[] = [];
    for (const door of this.doors) {
      if (this.#closed) break;
      if (tls !== null) door.useTls(tls);
      bound.push(await door.listen(address));
      if (this.#closed) door.close();
      else if (bound.length > 1) this.#logger.info({ listenPort: bound.at(-1), tls: tls !== null }, 'http port listening');
    }
    if (!this.#closed) await this.#tcp.listen(address);
    return bound[0] ?? this.doors[0].port;
  }

  close(): void {
    this.#closed = true;
    for (const door of this.doors) door.close();
    this.#tcp.close();
  }
}
