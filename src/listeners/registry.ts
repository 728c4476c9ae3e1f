/**
 * Every open client connection, whatever its protocol, with the counts the
 * drain controller and the metrics need. The registry knows no protocol: a
 * connection tells it what it is and reacts to `startDrain()` and `cut()` in
 * its protocol's own way.
 */
import { EventEmitter } from 'node:events';

export const PROTOCOLS = ['http1', 'websocket', 'h2', 'tcp'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export const CLOSE_REASONS = [
  'client', // the client closed or aborted
  'upstream', // the app closed, asked for close, or failed
  'idle_timeout', // keep-alive idle longer than KEEPALIVE_TIMEOUT outside a drain
  'drain_idle', // idle during a drain
  'drain_hint', // the protocol's "please go" (Connection: close) was honoured
  'drain_close_frame', // a WebSocket closed by the proxy's close frame at drain
  'drain_stream_end', // a server-sent event stream ended by the proxy at an event boundary at drain
  'drain_deadline', // still open at the drain deadline: cut
  'bad_request', // refused with a 4xx
  'limit', // closed for a protocol limit it broke (drain_proxy_limits_enforced_total says which)
  'memory_shed', // closed by the memory guard: among those holding the most buffered bytes when memory ran high
] as const;
export type CloseReason = (typeof CLOSE_REASONS)[number];

export interface TrackedConnection {
  readonly protocol: Protocol;
  /** A drain has started: tell the peer to go, in the protocol's own way, without cutting anything. */
  startDrain(): void;
  /** The deadline has passed: end the connection now. */
  cut(): void;
  /** Called about once a second with `performance.now()`, for timeouts too coarse to deserve a timer each. */
  tick?(now: number): void;
  /** Bytes the proxy holds for this connection now (socket buffers both ways, held requests, streams). Not for the hot path. */
  bufferedBytes(): number;
  /** Memory is running out and this connection is among the most expensive: end it now (counted as `memory_shed`). */
  shed(): void;
}

export interface RegistryObserver {
  connectionClosed(protocol: Protocol, reason: CloseReason): void;
}

export class ConnectionRegistry extends EventEmitter<{ empty: [] }> {
  readonly #connections = new Set<TrackedConnection>();
  readonly active: Record<Protocol, number> = { http1: 0, websocket: 0, h2: 0, tcp: 0 };
  readonly inFlight: Record<Protocol, number> = { http1: 0, websocket: 0, h2: 0, tcp: 0 };
  /** Requests (or streams) completed since the process started; the drain summary takes a difference. */
  completed = 0;
  readonly closedDuringDrain: Record<CloseReason, number> = {
    client: 0, upstream: 0, idle_timeout: 0, drain_idle: 0, drain_hint: 0, drain_close_frame: 0, drain_stream_end: 0, drain_deadline: 0, bad_request: 0,
    limit: 0, memory_shed: 0,
  };
  #draining = false;
  readonly #observer: RegistryObserver | undefined;

  constructor(observer?: RegistryObserver) {
    super();
    this.#observer = observer;
  }

  get size(): number {
    return this.#connections.size;
  }

  get draining(): boolean {
    return this.#draining;
  }

  add(connection: TrackedConnection): void {
    this.#connections.add(connection);
    this.active[connection.protocol]++;
    if (this.#draining) connection.startDrain();
  }

  /**
   * `next` takes the place of `connection`, which goes without being counted as closed: an HTTP/1.1 upgrade
   * handing its sockets to a tunnel. A `connection` already gone takes nothing with it.
   */
  replace(connection: TrackedConnection, next: TrackedConnection): void {
    if (!this.#connections.delete(connection)) return;
    this.active[connection.protocol]--;
    this.add(next);
  }

  remove(connection: TrackedConnection, reason: CloseReason): void {
    if (!this.#connections.delete(connection)) return;
    const protocol = connection.protocol;
    this.active[protocol]--;
    if (this.#draining) this.closedDuringDrain[reason]++;
    this.#observer?.connectionClosed(protocol, reason);
    if (this.#connections.size === 0) this.emit('empty');
  }

  requestStarted(protocol: Protocol): void {
    this.inFlight[protocol]++;
  }

  requestFinished(protocol: Protocol): void {
    this.inFlight[protocol]--;
    this.completed++;
  }

  /** A request that ended without a complete response (aborted, failed, cut). */
  requestAbandoned(protocol: Protocol): void {
    this.inFlight[protocol]--;
  }

  startDrain(): void {
    if (this.#draining) return;
    this.#draining = true;
    for (const connection of [...this.#connections]) connection.startDrain();
  }

  tick(now: number): void {
    for (const connection of this.#connections) connection.tick?.(now);
  }

  /** The open connections, for a walk that is not on the hot path (the memory guard's). */
  connections(): IterableIterator<TrackedConnection> {
    return this.#connections.values();
  }

  /** Bytes held for the open connections, by protocol (read at scrape time). */
  bufferedBytes(): Record<Protocol, number> {
    const bytes: Record<Protocol, number> = { http1: 0, websocket: 0, h2: 0, tcp: 0 };
    for (const connection of this.#connections) bytes[connection.protocol] += connection.bufferedBytes();
    return bytes;
  }

  /** Cuts every remaining connection; returns how many there were. */
  cutAll(): number {
    const remaining = [...this.#connections];
    for (const connection of remaining) connection.cut();
    return remaining.length;
  }
}
