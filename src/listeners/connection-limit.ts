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

/** Why a connection was closed on its way in, before a handler had it: a bounded set, the metric's `reason` label. */
export const REFUSED_REASONS = [
  'max_connections',
  'memory_pressure',
  'accept_failed',
  'proxy_header_invalid',
  'proxy_header_timeout',
  'tls_handshake_failed',
  'tls_handshake_timeout',
] as const;
export type RefusedReason = (typeof REFUSED_REASONS)[number];

/** At most one log line per reason per this interval, with the count refused since the last one. */
const LOG_INTERVAL_MS = 10_000;

const MESSAGES: Record<RefusedReason, string> = {
  max_connections: 'connection limit reached: new connections refused',
  memory_pressure: 'memory above the guard\'s high mark: new connections refused',
  accept_failed: 'accept failed: new connections refused',
  proxy_header_invalid: 'connection without a valid PROXY header refused (PROXY_PROTOCOL is on)',
  proxy_header_timeout: 'connection without a PROXY header within HEADER_TIMEOUT refused (PROXY_PROTOCOL is on)',
  tls_handshake_failed: 'TLS handshake failed: connection closed',
  tls_handshake_timeout: 'TLS handshake not done within HEADER_TIMEOUT: connection closed',
};

export class ConnectionLimit {
  readonly #max: number;
  readonly #refused: (reason: RefusedReason) => void;
  readonly #logger: Logger;
  #open = 0;
  /** Set by the memory guard while memory is above its high mark (and not yet below the low one). */
  memoryPressure = false;
  readonly #unlogged = Object.fromEntries(REFUSED_REASONS.map((reason) => [reason, 0])) as Record<RefusedReason, number>;
  readonly #loggedAt = Object.fromEntries(REFUSED_REASONS.map((reason) => [reason, -Infinity])) as Record<RefusedReason, number>;

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
      this.refused('max_connections', { maxConnections: this.#max });
      return false;
    }
    if (this.memoryPressure) {
      socket.destroy();
      this.refused('memory_pressure', { open: this.#open });
      return false;
    }
    this.#open++;
    socket.once('close', this.#onClose);
    return true;
  }

  /** A listener failed to accept (EMFILE, ENFILE, ...): the process goes on; counted and logged, sparingly. */
  acceptFailed(err: NodeJS.ErrnoException): void {
    this.refused('accept_failed', { code: err.code, err: err.message, open: this.#open });
  }

  /** A connection refused on its way in (by the front door, or here): counted, and logged at most once per LOG_INTERVAL_MS per reason. */
  refused(reason: RefusedReason, details: object): void {
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
