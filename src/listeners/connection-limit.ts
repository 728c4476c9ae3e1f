/**
 * MAX_CONNECTIONS: one limit on the client sockets open at once, shared by the
 * public port and every `TCP_PORTS` port. It counts sockets, not protocol
 * handlers, so a connection counts from the moment it is accepted, whatever
 * its protocol turns out to be, until its socket closes.
 *
 * Beyond the limit a new connection is closed at once, before a byte of it is
 * read: no HTTP 503. An answer would need the request read first (writing
 * before reading and then closing makes the kernel reset the connection when
 * the request arrives, which discards the answer at the client), a `TCP_PORTS`
 * peer (Redis, PostgreSQL) does not speak HTTP, and a refusal that costs
 * nothing is what protects a process that is already at its limit. Clients
 * and load balancers see a connection failure and retry elsewhere.
 *
 * While the memory guard (MEMORY_LIMIT) says memory is short, every new
 * connection is refused the same way, counted as `memory_pressure`.
 *
 * Out of file descriptors (EMFILE, ENFILE), libuv closes the connections it
 * cannot accept itself (its reserve-descriptor trick) and usually does not
 * tell Node; the failures it does report are counted here as `accept_failed`.
 * Either way the process goes on serving the connections it has; the default
 * process metrics (`process_open_fds` against `process_max_fds`) show the cause.
 */
import type { Socket } from 'node:net';
import type { Logger } from '../log/index.ts';
import type { RefusedReason } from '../metrics/index.ts';

/** At most one log line per reason per this interval, with the count refused since the last one. */
const LOG_INTERVAL_MS = 10_000;

const MESSAGES: Record<RefusedReason, string> = {
  max_connections: 'connection limit reached: new connections refused',
  memory_pressure: 'memory above the guard\'s high mark: new connections refused',
  accept_failed: 'accept failed: new connections refused',
};

export class ConnectionLimit {
  readonly #max: number;
  readonly #refused: (reason: RefusedReason) => void;
  readonly #logger: Logger;
  #open = 0;
  /** Set by the memory guard while memory is above its high mark (and not yet below the low one). */
  memoryPressure = false;
  readonly #unlogged: Record<RefusedReason, number> = { max_connections: 0, memory_pressure: 0, accept_failed: 0 };
  readonly #loggedAt: Record<RefusedReason, number> = { max_connections: -Infinity, memory_pressure: -Infinity, accept_failed: -Infinity };

  /** `refused` is called once per connection refused, with the reason (the metric). */
  constructor(max: number, refused: (reason: RefusedReason) => void, logger: Logger) {
    this.#max = max;
    this.#refused = refused;
    this.#logger = logger;
  }

  get open(): number {
    return this.#open;
  }

  /** Admits the socket (counted until it closes), or closes it at once and returns false. */
  admit(socket: Socket): boolean {
    if (this.#open >= this.#max) {
      socket.destroy();
      this.#count('max_connections', { maxConnections: this.#max });
      return false;
    }
    if (this.memoryPressure) {
      socket.destroy();
      this.#count('memory_pressure', { open: this.#open });
      return false;
    }
    this.#open++;
    socket.once('close', this.#onClose);
    return true;
  }

  /** A listener failed to accept (EMFILE, ENFILE, ...): the process goes on; counted and logged, sparingly. */
  acceptFailed(err: NodeJS.ErrnoException): void {
    this.#count('accept_failed', { code: err.code, err: err.message, open: this.#open });
  }

  #count(reason: RefusedReason, details: object): void {
    this.#refused(reason);
    this.#unlogged[reason]++;
    const now = performance.now();
    if (now - this.#loggedAt[reason] < LOG_INTERVAL_MS) return;
    const message = MESSAGES[reason];
    this.#logger.warn({ ...details, refused: this.#unlogged[reason] }, message);
    this.#loggedAt[reason] = now;
    this.#unlogged[reason] = 0;
  }

  readonly #onClose = (): void => {
    this.#open--;
  };
}
